"""GD on the two-layer family with the kernel tracked as it moves, on the one driver ``gd.scan``.

The objective is ``FamilyObjective`` (L / alpha^2 with its closed-form gradient); what is tracked is the
recorder ``KernelTracking``, which at each recorded step measures from the step's own forward pass:

- lambda_max(H(k)) and lambda_min(H(k)) of the width-normalized Gram matrix (``TwoLayerFamily.gram``); the
  tangent kernel GD sees is ``kernel_scale(m) H(k)``, whose top eigenvalue against 2 / eta decides stability
  (Lewkowycz et al. 2020; Cohen et al. 2021);
- the relative kernel change ||H(k) - H(0)||_F / ||H(0)||_F (Chizat, Oyallon & Bach 2019: small in the lazy regime);
- max_r ||w_r(k) - w_r(0)|| (Du et al. 2019, Lemma 3.3's R') and max_r |a_r(k) - a_r(0)|;
- the fraction of activation signs 1{w_r . x_i >= 0} that differ from initialization (Du et al. 2019, Figure 1b).

The loss itself is kept at every step by the driver. ``train_family`` runs one net; ``train_family_batched`` runs
a batch of (initialization, step size) pairs as one vmapped program.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntk_proofs import gd
from ntk_proofs.data import check_inputs
from ntk_proofs.gd import check_step_size, recorded_steps
from ntk_proofs.linalg import kernel_motion, single_threaded_lapack
from ntk_proofs.models.two_layer import Params, TwoLayerFamily

Array = jax.Array


class FamilyData(NamedTuple):
    """What the family's objective and recorder read: data, the initialization and its Gram matrix H(0)."""

    X: Array  # (n, d)
    y: Array  # (n,)
    W0: Array  # (m, d)
    a0: Array  # (m,)
    XXt: Array  # (n, n)
    H0: Array  # (n, n) H(0), width-normalized


@dataclass(frozen=True)
class FamilyObjective:
    """L / alpha^2 = 0.5 ||u - y||^2 / alpha^2 of a ``TwoLayerFamily`` member; aux is the step's ``Forward``."""

    family: TwoLayerFamily

    def value(self, params, data: FamilyData):
        fwd = self.family.forward(data.X @ params.W.T, params.a, data.y)
        return fwd.loss, fwd

    def value_and_grad(self, params, data: FamilyData):
        fwd = self.family.forward(data.X @ params.W.T, params.a, data.y)
        return (fwd.loss, fwd), self.family.gradient(fwd, data.X, params.a)


class KernelRecord(NamedTuple):
    """What ``KernelTracking`` measures at one recorded step (leading axes: the recorded steps, batch first).

    Attributes:
      lambda_max: lambda_max(H(k)) of the width-normalized Gram matrix.
      lambda_min: lambda_min(H(k)).
      kernel_change: ||H(k) - H(0)||_F / ||H(0)||_F.
      max_drift: max_r ||w_r(k) - w_r(0)||.
      output_drift: max_r |a_r(k) - a_r(0)| (0 when a is fixed).
      flip_fraction: the fraction of (i, r) with 1{w_r . x_i >= 0} != its value at k = 0.
    """

    lambda_max: Array
    lambda_min: Array
    kernel_change: Array
    max_drift: Array
    output_drift: Array
    flip_fraction: Array


@dataclass(frozen=True)
class KernelTracking:
    """Recorder: the kernel's sharpness, its relative change (``kernel_motion``), the weight drift and the sign
    flips (module doc), from the step's own ``Forward``."""

    family: TwoLayerFamily

    def init(self, params, fwd, data: FamilyData, key=None):
        return None

    def record(self, state, params, fwd, data: FamilyData):
        H = self.family.gram_from_preactivations(fwd.Z, params.a, data.XXt)
        top, bottom, change = kernel_motion(H, data.H0)
        drift = jnp.max(jnp.linalg.norm(params.W - data.W0, axis=1))
        out = jnp.max(jnp.abs(params.a - data.a0))
        flips = jnp.mean(fwd.pattern != (data.X @ data.W0.T >= 0)).astype(fwd.Z.dtype)
        return state, KernelRecord(top, bottom, change, drift, out, flips)


FamilyRun = gd.GDRun
"""A run of ``train_family`` is a driver run (``gd.GDRun``) whose ``records`` are ``KernelRecord``s and whose
``loss`` is the objective L / alpha^2 (a batch: every field gains a leading batch axis)."""


def train_family(
    params: Params,
    X: Array,
    y: Array,
    *,
    family: TwoLayerFamily = TwoLayerFamily(),
    eta: float,
    steps: int,
    record_every: int = 1,
    divergence_factor: float = gd.DIVERGENCE_FACTOR,
    on_divergence: gd.OnDivergence = "raise",
) -> FamilyRun:
    """Full-batch GD with step ``eta`` on L / alpha^2 of a ``TwoLayerFamily`` member, kernel tracked (module doc).

    Args:
      params: Params(W (m, d), a (m,)), W finite.
      X: (n, d) inputs of unit norm (parallel rows are allowed).
      y: (n,) labels.
      family: the member of the family.
      eta: the constant step size, positive and finite.
      steps: the number of steps.
      record_every: steps between ``KernelRecord``s (``gd.recorded_steps``).
      divergence_factor: a loss above ``divergence_factor * L(0)``, or a non-finite one, is divergence; the default
        leaves room for the catapult's growth.
      on_divergence: "raise" (default) or "report" (returned as ``diverged_step >= 0``).

    Returns:
      A ``FamilyRun``: ``records`` are ``KernelRecord``s, ``loss`` is L / alpha^2.

    Raises:
      ValueError: inputs that ``check_inputs`` refuses, params of the wrong shape or not finite, a bad step size,
        count or divergence option.
      GradientDescentDiverged: on divergence, with ``on_divergence="raise"``.
    """
    X, y = check_run_inputs(params, X, y)
    check_step_size(eta)
    policy = gd.check_run_options(steps, record_every, divergence_factor, on_divergence, "raise")
    dtype = params.W.dtype
    X, y = X.astype(dtype), y.astype(dtype)
    with single_threaded_lapack():  # the recorder calls LAPACK's eigh inside the scan: see ntk_proofs.linalg
        loss, W, a, records, diverged = jax.block_until_ready(
            _single(
                params.W,
                params.a,
                X,
                y,
                jnp.asarray(eta, dtype),
                jnp.asarray(divergence_factor, dtype),
                family=family,
                steps=int(steps),
                record_every=int(record_every),
            )
        )
    gd.handle_divergence(loss, int(diverged), policy)
    return FamilyRun(loss, Params(W, a), recorded_steps(steps, record_every), records, None, int(diverged))


def train_family_batched(
    params: Params,
    X: Array,
    y: Array,
    *,
    family: TwoLayerFamily = TwoLayerFamily(),
    etas,
    steps: int,
    record_every: int = 1,
    divergence_factor: float = gd.DIVERGENCE_FACTOR,
    on_divergence: gd.OnDivergence = "report",
) -> FamilyRun:
    """``train_family`` for a batch of (initialization, step size) pairs on the same data, as one vmapped, jitted
    program.

    Args:
      params: Params(W (B, m, d), a (B, m)).
      X: (n, d) inputs of unit norm, shared by the batch.
      y: (n,) labels.
      family: the member of the family.
      etas (ArrayLike): one step size per member (B,), positive and finite; a scalar is broadcast.
      steps: the number of steps.
      record_every: steps between ``KernelRecord``s.
      divergence_factor: as in ``train_family``.
      on_divergence: "report" (default: per member in ``diverged_step``) or "raise" (for the first diverged).

    Returns:
      A ``FamilyRun`` whose every field has a leading batch axis (``diverged_step`` (B,)).

    Raises:
      ValueError: params not (B, m, d) and (B, m) or of another d than X, inputs that ``check_inputs`` refuses, a
        step size that is not positive and finite, a bad count or divergence option.
      GradientDescentDiverged: a member diverged, with ``on_divergence="raise"``.
    """
    if params.W.ndim != 3 or params.a.shape != params.W.shape[:2]:
        raise ValueError(f"batched params need W (B, m, d) and a (B, m); got {params.W.shape} and {params.a.shape}.")
    X, y = check_inputs(X, y, distinct=False)
    if params.W.shape[2] != X.shape[1]:
        raise ValueError(f"W has d = {params.W.shape[2]} columns but X has d = {X.shape[1]}.")
    policy = gd.check_run_options(steps, record_every, divergence_factor, on_divergence, "report")
    etas = np.broadcast_to(np.asarray(etas, np.float64), (params.W.shape[0],))
    if not np.all(np.isfinite(etas) & (etas > 0)):
        raise ValueError(f"every step size must be positive and finite; got {etas}.")
    dtype = params.W.dtype
    X, y = X.astype(dtype), y.astype(dtype)
    with single_threaded_lapack():
        loss, W, a, records, diverged = jax.block_until_ready(
            _batched(
                params.W,
                params.a,
                X,
                y,
                jnp.asarray(etas, dtype),
                jnp.asarray(divergence_factor, dtype),
                family=family,
                steps=int(steps),
                record_every=int(record_every),
            )
        )
    gd.handle_divergence(loss, np.asarray(diverged), policy)
    return FamilyRun(loss, Params(W, a), recorded_steps(steps, record_every), records, None, np.asarray(diverged))


def trajectory(W, a, X, y, eta, divergence_factor, *, family, steps, record_every):
    """The traceable run (no checks): ``gd.scan`` of ``FamilyObjective`` with the ``KernelTracking`` recorder.
    Returns (loss, final W, final a, ``KernelRecord``, diverged step)."""
    XXt = X @ X.T
    H0 = family.gram_from_preactivations(X @ W.T, a, XXt)
    data = FamilyData(X, y, W, a, XXt, H0)
    out = gd.scan(
        FamilyObjective(family),
        optax.sgd(eta),
        Params(W, a),
        data,
        steps=steps,
        record_every=record_every,
        recorder=KernelTracking(family),
        divergence_factor=divergence_factor,
    )
    return out.loss, out.params.W, out.params.a, out.records, out.diverged_step


_STATIC = ("family", "steps", "record_every")
_single = jax.jit(trajectory, static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _batched(W, a, X, y, etas, divergence_factor, *, family, steps, record_every):
    one = functools.partial(trajectory, family=family, steps=steps, record_every=record_every)
    return jax.vmap(one, in_axes=(0, 0, None, None, 0, None))(W, a, X, y, etas, divergence_factor)


def check_run_inputs(params: Params, X, y) -> tuple[Array, Array]:
    """Check one net's params (W (m, d), a (m,), finite) against unit-norm inputs X (n, d) and labels y (n,)."""
    X, y = check_inputs(X, y, distinct=False)
    if params.W.ndim != 2 or params.a.shape != (params.W.shape[0],):
        raise ValueError(f"params must hold W (m, d) and a (m,); got {params.W.shape} and {params.a.shape}.")
    if params.W.shape[1] != X.shape[1]:
        raise ValueError(f"W has d = {params.W.shape[1]} columns but X has d = {X.shape[1]}.")
    if not bool(jnp.all(jnp.isfinite(params.W))):
        raise ValueError("params.W contains NaN or infinite entries.")
    return X, y
