"""Many GD runs of a deep net of Du, Lee, Li, Wang & Zhai (ICML 2019) at once, and the yes/no criteria of the critical
width on them.

``train_deep_batched`` is ``training.train_deep`` for a batch of initializations of one width, vmapped in one
compiled program on the one driver (``gd.scan`` with ``DeepObjective`` and ``DeepDiagnostics``). ``deep_outcomes``
runs ``seeds`` initializations of width m until each converges (L(k) <= tol L(0)), diverges or reaches a step cap,
and says per run whether each criterion held:

- "trajectory": lambda_min(G^(H)(k)) >= lambda_0 / 2 proved (the Cholesky certificate of ``DeepDiagnostics``) at
  every step up to convergence, and the run converged within the cap (the invariant of the proofs of Theorems 5.1 /
  6.1, Appendix A, Condition A.1);
- "linear": L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step up to convergence or the cap, without divergence
  (the theorems' conclusion, checked as far as the run goes).

These are the criteria of ``ntk_proofs.du2019.critical_width`` for the deep nets; ``critical_width(..., hold=...)``
searches m* on them.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntk_proofs import gd
from ntk_proofs.data import check_inputs, check_positive_int
from ntk_proofs.du2019.bounds import check_upper_bound, linear_rate_envelope
from ntk_proofs.du_lee2019.kernels import check_net
from ntk_proofs.du_lee2019.models import DeepNet, DeepParams, init_deep, predict
from ntk_proofs.du_lee2019.training import DeepData, DeepDiagnostics, DeepHistory, DeepObjective
from ntk_proofs.gd import DIVERGENCE_FACTOR
from ntk_proofs.linalg import single_threaded_lapack

Array = jax.Array
DEEP_CRITERIA = ("trajectory", "linear")
CHUNK = 64  # steps per compiled piece of ``deep_outcomes``' runs


class DeepBatchRun(NamedTuple):
    """B runs of ``train_deep_batched``.

    Attributes:
      loss: (B, steps + 1) the loss before each step and after the last.
      params: the final ``DeepParams``, each leaf with a leading B axis.
      history: the ``DeepHistory`` at every step 0..steps (record_every 1), each field (B, steps + 1, ...).
      diverged_step: (B,) the first step whose loss was non-finite or above ``divergence_factor`` L(0), or -1.
    """

    loss: Array
    params: DeepParams
    history: DeepHistory
    diverged_step: Array


def init_deep_batched(key: Array, net: DeepNet, m: int, d: int, seeds: int, dtype=None) -> DeepParams:
    """``seeds`` initializations of width m (``models.init_deep`` with the keys ``jax.random.split(key, seeds)``),
    stacked along a leading axis."""
    check_positive_int(seeds, "seeds")
    return jax.vmap(lambda k: init_deep(k, net, m, d, dtype))(jax.random.split(key, seeds))


def padded_params(params: DeepParams, M: int) -> tuple[DeepParams, Array]:
    """Width-m ``DeepParams`` (leading batch axis allowed) zero-padded to width M, and the mask (M,) of the m
    neurons."""
    m = params.a.shape[-1]
    if M < m:
        raise ValueError(f"the padded width M = {M} must be at least the width m = {m}.")
    grow = M - m
    W = []
    for h, w in enumerate(params.W):
        widths = [(0, 0)] * (w.ndim - 2) + [(0, grow), (0, 0 if h == 0 else grow)]
        W.append(jnp.pad(w, widths))
    a = jnp.pad(params.a, [(0, 0)] * (params.a.ndim - 1) + [(0, grow)])
    mask = (jnp.arange(M) < m).astype(params.a.dtype)
    return DeepParams(tuple(W), a), mask


def train_deep_batched(
    params: DeepParams,
    X: Array,
    y: Array,
    net: DeepNet,
    *,
    eta: float,
    steps: int,
    lambda0: float,
    initial: DeepParams | None = None,
    width: int | None = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> DeepBatchRun:
    """``training.train_deep`` (record_every 1) for a batch of B initializations on the same data, in one compiled
    program: full-batch GD on L = 0.5 ||u - y||^2 (Eq. (1)), every layer trained, with the diagnostics of
    ``DeepDiagnostics`` at every step.

    Args:
      params: ``DeepParams`` whose leaves carry a leading batch axis B (``init_deep_batched``), of width M.
      X: (n, d) unit-norm inputs, no two parallel; y: (n,) labels.
      net: the ``DeepNet``.
      eta: the constant step size.
      steps: the number of GD steps.
      lambda0: lambda_0 = lambda_min(K^(H)) of the certificate's floor lambda_0 / 2.
      initial: the parameters the drift is measured from (default ``params``: a run continued from a previous piece
        passes its initialization here).
      width: the width m <= M of the net held in the first m neurons (``padded_params``; default M): one compiled
        program serves every m.
      divergence_factor: ``gd``'s divergence threshold, as a multiple of the piece's own L(0).

    Returns:
      A ``DeepBatchRun`` (width-M parameters); each run gives the numbers ``train_deep`` gives on its own width-m
      net, up to the reassociation of float sums.
    """
    net = check_net(net)
    X, y = check_inputs(X, y)
    gd.check_step_size(eta)
    gd.check_count(steps, "steps")
    if not (math.isfinite(float(lambda0)) and float(lambda0) > 0):
        raise ValueError(f"lambda0 must be a positive finite number; got {lambda0!r}.")
    dt = params.a.dtype
    M = params.a.shape[-1]
    m = M if width is None else width
    check_positive_int(m, "width")
    if m > M:
        raise ValueError(f"width = {m} exceeds the arrays' width M = {M}.")
    initial = params if initial is None else initial
    mask = (jnp.arange(M) < m).astype(dt)
    with single_threaded_lapack():  # the scan calls LAPACK (eigh, Cholesky): see ntk_proofs.linalg
        out = jax.block_until_ready(
            _batched(
                params,
                initial,
                DeepData(
                    X.astype(dt), y.astype(dt), initial, jnp.asarray(float(lambda0) / 2, dt), mask, jnp.asarray(m)
                ),
                jnp.asarray(eta, dt),
                jnp.asarray(divergence_factor, dt),
                net=net,
                steps=int(steps),
            )
        )
    history = out.records._replace(step=jnp.arange(int(steps) + 1))
    return DeepBatchRun(out.loss, out.params, history, out.diverged_step)


@functools.partial(jax.jit, static_argnames=("net", "steps"))
def _batched(params, initial, data, eta, factor, *, net, steps):
    def one(p, p0):
        return gd.scan(
            DeepObjective(net),
            optax.sgd(eta),
            p,
            data._replace(initial=p0),
            steps=steps,
            record_every=1,
            recorder=DeepDiagnostics(net),
            divergence_factor=factor,
        )

    return jax.vmap(one)(params, initial)


def full_gram(params: DeepParams, X: Array, net: DeepNet) -> Array:
    """G(0) = sum_{h=1}^{H+1} G^(h) (n, n): the Gram matrix of every trained parameter, <du_i/dtheta, du_j/dtheta>
    (Section 4 of the paper), by an explicit Jacobian (``jax.jacrev``)."""
    J = jax.jacrev(lambda p: predict(p, X, net))(params)
    flat = jnp.concatenate([leaf.reshape(X.shape[0], -1) for leaf in jax.tree.leaves(J)], axis=1)
    return flat @ flat.T


def practical_step(X: Array, net: DeepNet, m: int, *, key: Array, seeds: int = 4) -> tuple[float, float]:
    """A practical step for the deep nets: eta = 1 / median over ``seeds`` initializations of width m of
    lambda_max(G(0)), G the Gram matrix of every trained layer (``full_gram``); half GD's stability limit
    2 / lambda_max. Theorems 5.1 / 6.1 take a far smaller step (``bounds.step_size_deep``). Returns (eta, the
    median lambda_max)."""
    X, _ = check_inputs(X)
    params = init_deep_batched(key, net, m, X.shape[1], seeds, X.dtype)
    grams = jax.vmap(lambda p: full_gram(p, X, net))(params)
    top = float(np.median(np.linalg.eigvalsh(np.asarray(grams, np.float64))[:, -1]))
    return 1.0 / top, top


class DeepOutcomes(NamedTuple):
    """The criteria on ``seeds`` runs of one width (``deep_outcomes``).

    Attributes:
      trajectory: (seeds,) lambda_min(G^(H)(k)) >= lambda_0 / 2 proved at every step up to convergence, and the
        run converged.
      linear: (seeds,) L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step up to convergence or the cap, no
        divergence.
      converged: (seeds,) L(k) <= tol L(0) within the cap, without divergence.
      end_step: (seeds,) the first converged step, else the cap.
      min_ratio: (seeds,) min over the checked steps of lambda_min(G^(H)(k)) / (lambda_0 / 2) (>= 1: the floor held
        in the computed eigenvalue).
      layer_drift: (seeds, H) max over the checked steps of ||W^(h)(k) - W^(h)(0)||_F / sqrt(m), per layer.
    """

    trajectory: np.ndarray
    linear: np.ndarray
    converged: np.ndarray
    end_step: np.ndarray
    min_ratio: np.ndarray
    layer_drift: np.ndarray


def deep_outcomes(
    X: Array,
    y: Array,
    net: DeepNet,
    m: int,
    *,
    key: Array,
    seeds: int,
    eta: float,
    lambda0: float,
    max_steps: int,
    tol: float = 1e-3,
    chunk: int = CHUNK,
    padded_width: int | None = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> DeepOutcomes:
    """The criteria "trajectory" and "linear" (module doc) on ``seeds`` initializations of width m
    (``init_deep_batched(key, ...)``), run in pieces of ``chunk`` steps until every run has converged
    (L(k) <= tol L(0)) or diverged, or ``max_steps``. A finished run restarts from its initialization while the
    others go on (its numbers are ignored; a converged run left going would drive its residual into float
    subnormals, slow on CPUs). With ``padded_width`` M >= m the nets are held in width-M arrays
    (``padded_params``): one compiled program per M serves every m <= M, which on CPUs costs far less than a
    compilation per width.

    Raises:
      ValueError: for a bad width, count, step, lambda0 or tol, or inputs ``check_inputs`` refuses.
    """
    X, y = check_inputs(X, y)
    check_positive_int(m, "m")
    check_positive_int(max_steps, "max_steps")
    check_positive_int(chunk, "chunk")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1); got {tol!r}.")
    n, d = X.shape
    M = m if padded_width is None else padded_width
    params0, _ = padded_params(init_deep_batched(key, net, m, d, seeds, X.dtype), M)
    loss = np.full((seeds, max_steps + 1), np.nan)
    certified = np.zeros((seeds, max_steps + 1), bool)
    lam = np.full((seeds, max_steps + 1), np.nan)
    drift = np.zeros((seeds, max_steps + 1, net.depth))
    finished = np.zeros(seeds, bool)
    diverged = np.zeros(seeds, bool)
    params, done = params0, 0
    while True:
        # always ``chunk`` steps (one compiled program), the last piece cut to the cap
        run = train_deep_batched(params, X, y, net, eta=eta, steps=chunk, lambda0=lambda0, initial=params0, width=m)
        take = min(chunk + 1, max_steps + 1 - done)
        live = ~finished
        h = run.history
        window = slice(done, done + take)
        loss[live, window] = np.asarray(run.loss, np.float64)[live, :take]
        certified[live, window] = np.asarray(h.certified, bool)[live, :take]
        lam[live, window] = np.asarray(h.lambda_min, np.float64)[live, :take]
        drift[live, window] = np.asarray(h.layer_drift, np.float64)[live, :take] / math.sqrt(m)
        if done == 0:
            limit = divergence_factor * loss[:, 0]
        part = loss[:, window]
        bad = ~np.isfinite(part) | (part > limit[:, None])
        diverged |= live & bad.any(axis=1)
        finished |= diverged | (live & (part <= tol * loss[:, :1]).any(axis=1))
        done += take - 1
        if done >= max_steps or finished.all():
            break
        keep = jnp.asarray(finished)
        params = jax.tree.map(
            lambda start, now: jnp.where(keep.reshape((-1,) + (1,) * (now.ndim - 1)), start, now),
            params0,
            run.params,
        )
    rtol = 10 * float(np.finfo(np.dtype(X.dtype)).eps)
    steps = np.arange(max_steps + 1)
    out = {f: np.zeros(seeds, bool) for f in ("trajectory", "linear", "converged")}
    end_step = np.full(seeds, max_steps)
    min_ratio = np.zeros(seeds)
    max_drift = np.zeros((seeds, net.depth))
    for s in range(seeds):
        below = np.flatnonzero(loss[s] <= tol * loss[s, 0])
        converged = below.size > 0 and not diverged[s]
        end = int(below[0]) if below.size else max_steps
        checked = slice(0, end + 1)
        envelope = linear_rate_envelope(loss[s, 0], eta, lambda0, end)
        out["converged"][s] = converged
        out["trajectory"][s] = converged and bool(np.all(certified[s, checked]))
        out["linear"][s] = not diverged[s] and check_upper_bound(steps[checked], loss[s, checked], envelope, rtol).held
        end_step[s] = end
        with np.errstate(invalid="ignore"):
            min_ratio[s] = float(np.nanmin(lam[s, checked])) / (float(lambda0) / 2)
        max_drift[s] = np.nanmax(drift[s, checked], axis=0)
    return DeepOutcomes(out["trajectory"], out["linear"], out["converged"], end_step, min_ratio, max_drift)
