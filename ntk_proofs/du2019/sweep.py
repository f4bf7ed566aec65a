"""Many GD runs of the Du et al. net at once: vmapped over a batch (seeds, or same-shape problems), and spread
over this process's devices with JAX's own sharding (a 1-D mesh over ``jax.local_devices()``). The same code runs
on one CPU, on several CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``) and on several GPUs.

Across processes and hosts (``jax.distributed``), the experiments split their units of work among the processes
(``experiments.cluster.run_units``), and each process batches its own runs over its local devices; pass
``devices`` to span another set.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ntk_proofs.data import check_inputs
from ntk_proofs.du2019.training import (
    TrainResult,
    check_certify_every,
    resolve_lambda_min_method,
    resolve_step_form,
    trajectory,
    with_proof_steps,
    with_steps,
)
from ntk_proofs.gd import (
    DIVERGENCE_FACTOR,
    OnDivergence,
    check_run_options,
    check_step_size,
    handle_divergence,
    recorded_steps,
)
from ntk_proofs.linalg import single_threaded_lapack
from ntk_proofs.models.two_layer import Params

Array = jax.Array


def train_gd_batched(
    params: Params,
    X: Array,
    y: Array,
    *,
    eta: float,
    steps: int,
    record_every: int = 1,
    lambda_min_method: str = "auto",
    step_form: str = "auto",
    devices=None,
    certify_lambda0=None,
    divergence_factor: float = DIVERGENCE_FACTOR,
    on_divergence: OnDivergence = "report",
    certify_every: int | None = None,
    live_width: int | None = None,
) -> TrainResult:
    """``train_gd`` for a batch of B independent runs, in one compiled program.

    Each run gives the same numbers as ``train_gd`` on its own, up to the reassociation of float sums. Under vmap
    the flip-budget choice of ``update_coactivation_counts`` cannot branch per run, so a recorded step computes both
    the update from the flipped entries and the dense P P^T product: with large batches, record every few steps.
    With ``certify_lambda0`` a Cholesky factorization runs at a step where any run of the batch needs one (Weyl's
    inequality covers the others), not at every step of every run.

    Args:
      params: Params(W (B, m, d), a (B, m)).
      X: (B, n, d) inputs, each (n, d) on the unit sphere with no two rows parallel.
      y: (B, n) labels.
      eta: the constant step size, positive.
      steps: the number of GD steps (>= 0).
      record_every: steps between recorded diagnostics, as in ``train_gd``.
      lambda_min_method: as in ``train_gd``.
      step_form: as in ``train_gd``.
      devices (Sequence[jax.Device] | None): the devices the batch is split across (default
        ``jax.local_devices()``); the batch is padded to a multiple of their number.
      certify_lambda0 (float | ArrayLike | None): lambda_0, a number or one per run: (C2) is proved every
        ``certify_every`` steps as in ``train_gd``.
      divergence_factor: a loss above ``divergence_factor * L(0)``, or a non-finite one, is divergence.
      on_divergence: "report" (default): divergence is only reported in ``diverged_step``; "raise": raise
        ``GradientDescentDiverged`` for the first diverged run.
      certify_every: steps between proofs of (C2) (default ``record_every``), as in ``train_gd``.
      live_width: run width-``live_width`` nets inside W's m >= live_width neurons: the first ``live_width`` rows
        of W and entries of a are the net, the others padding, which must have a_r = 0 (their w_r never move). The net's
        output scales by live_width^{-1/2} and H(k), the flips and the certificate count the live neurons only,
        so the numbers are those of the width-``live_width`` net up to the reassociation of float sums, and
        every width up to m runs on one compiled program (the width is traced, not static). The padding stays
        at zero (its gradient is a_r times something) and the final W keeps it. Default: all m neurons live.

    Returns:
      A ``TrainResult`` whose every field gains a leading B axis (``diverged_step`` is a (B,) array).

    Raises:
      ValueError: arrays of the wrong rank or batch size, inputs that ``check_inputs`` refuses, a bad step size,
        count, divergence option, method or ``certify_every``.
      AssumptionError: two inputs of a run are parallel.
      GradientDescentDiverged: a run diverged, with ``on_divergence="raise"``.
    """
    W, a = params
    if W.ndim != 3 or a.ndim != 2 or X.ndim != 3 or y.ndim != 2:
        raise ValueError(
            f"Expected W (B, m, d), a (B, m), X (B, n, d), y (B, n); got {W.shape}, {a.shape}, {X.shape}, {y.shape}."
        )
    batch = W.shape[0]
    if not (a.shape[0] == X.shape[0] == y.shape[0] == batch):
        raise ValueError("W, a, X and y must share the leading batch size.")
    for b in range(batch):
        check_inputs(X[b], y[b])
    if live_width is not None:
        m = W.shape[1]
        if isinstance(live_width, bool) or not isinstance(live_width, (int, np.integer)) or not 1 <= live_width <= m:
            raise ValueError(f"live_width must be an integer in [1, m = {m}]; got {live_width!r}.")
        if np.any(np.asarray(a)[:, live_width:] != 0):
            raise ValueError("the padding neurons (index >= live_width) must have a_r = 0.")
    check_step_size(eta)
    policy = check_run_options(steps, record_every, divergence_factor, on_divergence, "report")
    method = resolve_lambda_min_method(lambda_min_method, X.shape[1])
    form = resolve_step_form(step_form, X.shape[1], X.shape[2], None)
    devices = list(jax.local_devices() if devices is None else devices)
    pad = (-batch) % len(devices)
    stack = lambda v: jnp.concatenate([v, jnp.repeat(v[:1], pad, axis=0)]) if pad else v  # noqa: E731
    certify = certify_lambda0 is not None
    certify_every = check_certify_every(certify_every, record_every, certify)
    floor = jnp.broadcast_to(
        jnp.asarray(0.0 if not certify else np.asarray(certify_lambda0) / 2, params.W.dtype), (batch,)
    )
    W, a, X, y, floor = (stack(v.astype(params.W.dtype)) for v in (W, a, X, y, floor))
    if len(devices) > 1:
        sharding = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))
        W, a, X, y, floor = (jax.device_put(v, sharding) for v in (W, a, X, y, floor))
    with single_threaded_lapack():  # the scan calls LAPACK (Cholesky, eigh): see ntk_proofs.linalg
        loss, W_final, diag, proof, diverged = jax.block_until_ready(
            _batched(
                W,
                a,
                X,
                y,
                floor,
                jnp.asarray(eta, W.dtype),
                jnp.asarray(divergence_factor, W.dtype),
                steps=int(steps),
                record_every=int(record_every),
                lambda_method=method,
                step_form=form,
                certify=certify,
                certify_every=certify_every,
                live_width=None if live_width is None else jnp.asarray(live_width, jnp.int32),
            )
        )
    loss, W_final, diverged = loss[:batch], W_final[:batch], np.asarray(diverged[:batch])
    diag, proof = jax.tree.map(lambda v: v[:batch], (diag, proof))
    handle_divergence(loss, diverged, policy)
    history = with_steps(diag, recorded_steps(steps, record_every))
    certificate = with_proof_steps(proof, steps, record_every, certify_every, X.shape)
    return TrainResult(loss, Params(W_final, a[:batch]), history, diverged, certificate)


BATCH_AXIS = "runs"  # the vmap axis of a batch: a factorization of the certificate runs where any run needs one


@functools.partial(
    jax.jit, static_argnames=("steps", "record_every", "lambda_method", "step_form", "certify", "certify_every")
)
def _batched(
    W,
    a,
    X,
    y,
    floor,
    eta,
    factor,
    *,
    steps,
    record_every,
    lambda_method,
    step_form,
    certify,
    certify_every=None,
    live_width=None,
):
    run = functools.partial(
        trajectory,
        steps=steps,
        record_every=record_every,
        optimizer=None,
        lambda_method=lambda_method,
        step_form=step_form,
        certify=certify,
        certify_every=certify_every,
        batch_axis=BATCH_AXIS if certify else None,
        live_width=live_width,
    )
    return jax.vmap(lambda W, a, X, y, f: run(W, a, X, y, eta, factor, f), axis_name=BATCH_AXIS)(W, a, X, y, floor)
