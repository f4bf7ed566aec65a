"""Full-batch gradient descent on the Du et al. (2019) net, with the quantities its proof tracks.

``train_gd`` runs W(k+1) = W(k) - eta dL/dW(k) (Du et al. 2019, eq. (3); Theorem 4.1) as a jitted
``lax.scan`` of optax updates. At recorded steps it measures, from the same forward pass:
lambda_min(H(k)) (Lemma 3.1 / Theorem 4.1 need >= lambda_0 / 2), the fraction of activation patterns
1{w_r . x_i >= 0} that differ from initialization (Section 6, Figure 1b), and max_r ||w_r(k) - w_r(0)||
(Lemma 3.3 / Theorem 4.1 bound it by R', Figure 1c).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntk_proofs.data import check_inputs
from ntk_proofs.curvature import smallest_ritz_pair
from ntk_proofs.gram import (coactivation_counts, flip_count, gram_matrix, lambda_max, lambda_min, pack_pattern,
                             update_coactivation_counts_packed)
from ntk_proofs.two_layer import Params, forward_from_preactivations, gradient_coefficients

Array = jax.Array


class GradientDescentDiverged(FloatingPointError):
    """GD's loss became non-finite or grew past ``divergence_factor * L(0)``; ``step`` is where."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class TrainHistory(NamedTuple):
    """Diagnostics at the recorded steps ``step`` (R,) of a run; each field has shape (R,)."""

    step: Array
    lambda_min: Array  # lambda_min(H(k))
    flip_fraction: Array  # (1 / nm) sum_{i,r} 1{pattern_ir(k) != pattern_ir(0)}
    max_drift: Array  # max_r ||w_r(k) - w_r(0)||


class TrainResult(NamedTuple):
    """Outcome of ``train_gd``.

    loss: (steps + 1,) the loss before each step and after the last. params: final Params.
    flip_fraction, max_drift, lambda_min: their values after the last step. history: the same at every
    recorded step. diverged_step: first step whose loss was non-finite or above
    ``divergence_factor * L(0)``, or -1.
    """

    loss: Array
    params: Params
    flip_fraction: Array
    max_drift: Array
    lambda_min: Array
    history: TrainHistory
    diverged_step: int


class _Carry(NamedTuple):
    params: Array  # "weights" form: W (m, d). "kernel" form: C (n, m) with W = W(0) + C^T X
    opt_state: optax.OptState
    step: Array
    diverged_step: Array
    shift: Array  # "kernel" form: X (W - W(0))^T = X X^T C, (n, m); "weights" form: unused, shape (0,)


def resolve_lambda_min_method(method: str, n: int) -> str:
    """Check ``lambda_min_method`` and resolve "auto": dense eigh for n <= 512 points, warm-started Lanczos above."""
    if method not in ("auto", "eigh", "lanczos"):
        raise ValueError(f"lambda_min_method must be 'auto', 'eigh' or 'lanczos'; got {method!r}.")
    if method == "auto":
        return "eigh" if n <= 512 else "lanczos"
    return method


def resolve_step_form(form: str, n: int, d: int, optimizer) -> str:
    """Check ``step_form`` and resolve "auto": the kernel form for plain GD when it takes fewer flops (n < 2 d)."""
    if form not in ("auto", "weights", "kernel"):
        raise ValueError(f"step_form must be 'auto', 'weights' or 'kernel'; got {form!r}.")
    if form == "kernel" and optimizer is not None:
        raise ValueError("step_form='kernel' runs plain GD only; pass optimizer=None or step_form='weights'.")
    if form == "auto":
        return "kernel" if optimizer is None and n < 2 * d else "weights"
    return form


def recorded_steps(steps: int, record_every: int) -> np.ndarray:
    """Steps at which ``train_gd`` records diagnostics: 0, r, 2r, ... below ``steps``, then ``steps``.

    ``record_every = 0`` records only the final step.
    """
    if record_every == 0:
        return np.array([steps])
    return np.unique(np.append(np.arange(0, steps, record_every), steps))


def train_gd(
    params: Params,
    X: Array,
    y: Array,
    *,
    eta: float,
    steps: int,
    record_every: int = 1,
    optimizer: optax.GradientTransformation | None = None,
    divergence_factor: float = 1e4,
    raise_on_divergence: bool = True,
    lambda_min_method: str = "auto",
    flip_budget: int | None = None,
    step_form: str = "auto",
) -> TrainResult:
    """Full-batch GD on L(W) = 0.5 ||u - y||^2 with the second layer a fixed (Du et al. 2019, Thm 4.1).

    Args:
      params: initial Params(W (m, d), a (m,)), e.g. from ``init_params``.
      X: (n, d) inputs of unit norm; y: (n,) labels.
      eta: constant step size (``optax.sgd(eta)``); must be positive.
      steps: number of GD steps (>= 0).
      record_every: steps between recorded diagnostics (lambda_min(H(k)), flip fraction, drift);
        0 records only the end (densely, with eigvalsh). The loss is recorded at every step regardless.
      optimizer: an optax transformation to use instead of ``optax.sgd(eta)``.
      divergence_factor: a loss above ``divergence_factor * L(0)``, or a non-finite one, is divergence.
      raise_on_divergence: raise ``GradientDescentDiverged`` naming the step (default), or return the
        result with ``diverged_step >= 0`` (its numbers after that step are meaningless).
      lambda_min_method: "eigh" (dense, exact), "lanczos" (32 Lanczos steps warm-started at the previous
        Ritz vector: an upper bound on lambda_min, O(n^2) per record), or "auto" = eigh for n <= 512.
      flip_budget: how many pattern entries may flip between records before H(k) is recomputed densely
        (O(n^2 m)) instead of updated from the flipped entries (O(n) each; ``update_coactivation_counts``).
        Default n m / 32.
      step_form: "weights" (W is the optimized variable; two (n, d, m) products per step), "kernel" (the same
        GD iteration in the row space of X, W(k) = W(0) + C(k)^T X, with X W^T carried and updated by one
        (n, n, m) product per step; plain GD only) or "auto" = kernel for plain GD when n < 2 d (fewer flops).
        The two agree to float round-off (tests/test_dynamics.py).
    """
    W0, a = params
    X, y = check_inputs(X, y)
    if W0.ndim != 2 or a.shape != (W0.shape[0],):
        raise ValueError(f"params must hold W of shape (m, d) and a of shape (m,); got {W0.shape} and {a.shape}.")
    if W0.shape[1] != X.shape[1]:
        raise ValueError(f"W has d = {W0.shape[1]} columns but X has d = {X.shape[1]}.")
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a positive finite step size; got {eta!r}.")
    for name, value in (("steps", steps), ("record_every", record_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    if not bool(jnp.all(jnp.isfinite(W0))):
        raise ValueError("params.W contains NaN or infinite entries.")
    lambda_min_method = resolve_lambda_min_method(lambda_min_method, X.shape[0])
    step_form = resolve_step_form(step_form, X.shape[0], X.shape[1], optimizer)
    X, y = X.astype(W0.dtype), y.astype(W0.dtype)
    out = _trajectory(
        W0, a, X, y, jnp.asarray(eta, W0.dtype), jnp.asarray(divergence_factor, W0.dtype),
        steps=int(steps), record_every=int(record_every), optimizer=optimizer,
        lambda_method=lambda_min_method, flip_budget=None if flip_budget is None else int(flip_budget),
        step_form=step_form,
    )
    loss, W, diag, diverged = out
    diverged = int(diverged)
    if diverged >= 0 and raise_on_divergence:
        limit = 2.0 / float(lambda_max(gram_matrix(W0, X)))
        raise GradientDescentDiverged(
            f"Gradient descent diverged at step {diverged}: the loss rose from {float(loss[0]):.4g} to "
            f"{float(loss[diverged]):.4g} with eta = {eta:g}. The step must stay below about "
            f"2 / lambda_max(H(0)) = {limit:.4g} for GD to be stable; Theorem 4.1 of Du et al. (2019) "
            "assumes eta = O(lambda_0 / n^2) (see ntk_proofs.max_step_size).",
            step=diverged,
        )
    history = TrainHistory(jnp.asarray(recorded_steps(steps, record_every)), *diag)
    return TrainResult(
        loss=loss,
        params=Params(W, a),
        flip_fraction=history.flip_fraction[-1],
        max_drift=history.max_drift[-1],
        lambda_min=history.lambda_min[-1],
        history=history,
        diverged_step=diverged,
    )


class _DiagState(NamedTuple):
    counts: Array  # (n, n) P P^T of the last recorded pattern: co-activation counts, exact integers in float
    pattern: Array  # the last recorded pattern, bit-packed (``pack_pattern``): (ceil(n / 32), m) uint32
    vector: Array  # (n,) Ritz vector of lambda_min(H) at the last record (warm start)


@functools.partial(jax.jit, static_argnames=("steps", "record_every", "optimizer", "lambda_method", "lanczos_steps",
                                             "flip_budget", "step_form"))
def _trajectory(W0, a, X, y, eta, divergence_factor, *, steps, record_every, optimizer, lambda_method="eigh",
                lanczos_steps=32, flip_budget=None, step_form="weights"):
    """The jitted GD loop. Returns (loss (steps+1,), W_final, diagnostics tuple of (R,), diverged step).

    Two forms of the same iteration W(k+1) = W(k) - eta D(k)^T X (``gradient_coefficients``):
    - "weights": W is the optax parameter; each step computes Z = X W^T (n d m) and D^T X (n m d).
    - "kernel": every W(k) - W(0) lies in the row space of X, so W(k) = W(0) + C(k)^T X with optax updating the
      (n, m) coefficients C <- C - eta D, and Z(k) = Z(0) + X X^T C(k) is carried and updated by
      -eta X X^T D: one (n n m) product per step instead of two (n d m) ones, half the flops when n = d.
      The drift ||w_r - w_r(0)||^2 = c_r^T X X^T c_r is a column sum of C * (Z - Z(0)); W is formed at the end.
    Diagnostics reuse the step's own Z. H(k) = (X X^T) * (P P^T) / m is updated from the pattern entries
    flipped since the last record (``update_coactivation_counts``), and lambda_min(H(k)) comes from
    ``eigvalsh`` or from Lanczos warm-started at the previous Ritz vector.
    """
    tx = optax.sgd(eta) if optimizer is None else optimizer
    n, m = X.shape[0], W0.shape[0]
    XXt = X @ X.T
    Z0 = X @ W0.T
    pattern0 = Z0 >= 0
    packed0 = pack_pattern(pattern0)
    loss0 = forward_from_preactivations(Z0, a, y).loss
    threshold = divergence_factor * loss0
    kernel = step_form == "kernel"

    def preactivations(core: _Carry):
        return Z0 + core.shift if kernel else X @ core.params.T

    def max_drift(core: _Carry):
        if kernel:
            return jnp.sqrt(jnp.maximum(jnp.max(jnp.sum(core.params * core.shift, axis=0)), 0))
        return jnp.max(jnp.linalg.norm(core.params - W0, axis=1))

    def diagnostics(fwd, core: _Carry, state: _DiagState | None):
        drift = max_drift(core)
        packed = pack_pattern(fwd.pattern)
        flips = flip_count(packed, packed0).astype(X.dtype) / (n * m)
        if state is None:  # the single record of record_every = 0: dense and exact, no state to carry
            return (lambda_min(XXt * coactivation_counts(fwd.pattern, X.dtype) / m), flips, drift), None
        counts = update_coactivation_counts_packed(state.counts, state.pattern, packed, budget=flip_budget)
        H = XXt * counts / m
        if lambda_method == "eigh":
            lam, vector = lambda_min(H), state.vector
        else:
            lam, vector = smallest_ritz_pair(lambda v: H @ v, state.vector, min(lanczos_steps, n))
        return (lam, flips, drift), _DiagState(counts, packed, vector)

    def step(carry, with_diagnostics: bool):
        (core, dstate) = carry
        fwd = forward_from_preactivations(preactivations(core), a, y)
        D = gradient_coefficients(a, fwd)
        grad = D if kernel else D.T @ X
        updates, opt_state = tx.update(grad, core.opt_state, core.params)
        shift = core.shift + XXt @ updates if kernel else core.shift
        bad = ~jnp.isfinite(fwd.loss) | (fwd.loss > threshold)
        diverged = jnp.where((core.diverged_step < 0) & bad, core.step, core.diverged_step)
        new = _Carry(optax.apply_updates(core.params, updates), opt_state, core.step + 1, diverged, shift)
        if with_diagnostics:
            values, dstate = diagnostics(fwd, core, dstate)
            return (new, dstate), fwd.loss, values
        return (new, dstate), fwd.loss, None

    def bare_steps(carry, length):
        return jax.lax.scan(lambda c, _: step(c, False)[:2], carry, None, length=length)

    def block(carry, length):
        """One recorded step (diagnostics from its own forward pass) followed by length - 1 bare steps."""
        carry, first_loss, diag = step(carry, True)
        carry, losses = bare_steps(carry, length - 1)
        return carry, jnp.concatenate([first_loss[None], losses]), diag

    if record_every == 0:
        dstate = None  # nothing to update incrementally: the end is recorded densely
    else:
        counts0 = coactivation_counts(pattern0, X.dtype)
        if lambda_method == "eigh":
            start = jnp.zeros((n,), X.dtype)
        else:  # one exact solve at init; Lanczos then follows the slowly moving eigenvector
            start = jnp.linalg.eigh(XXt * counts0 / m)[1][:, 0]
        dstate = _DiagState(counts0, packed0, start)
    params0 = jnp.zeros_like(Z0) if kernel else W0
    shift0 = jnp.zeros_like(Z0) if kernel else jnp.zeros((0,), X.dtype)
    core0 = _Carry(params0, tx.init(params0), jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32), shift0)
    carry = (core0, dstate)
    losses, diags = [], []
    if record_every == 0:
        carry, block_losses = bare_steps(carry, steps)
        losses.append(block_losses)
    else:
        full, rest = divmod(steps, record_every)
        if full:
            carry, (block_losses, block_diag) = jax.lax.scan(
                lambda c, _: (lambda r: (r[0], r[1:]))(block(c, record_every)), carry, None, length=full
            )
            losses.append(block_losses.reshape(-1))
            diags.append(block_diag)
        if rest:
            carry, block_losses, diag = block(carry, rest)
            losses.append(block_losses)
            diags.append(jax.tree.map(lambda v: v[None], diag))
    core, dstate = carry
    final = forward_from_preactivations(preactivations(core), a, y)
    bad = ~jnp.isfinite(final.loss) | (final.loss > threshold)
    diverged = jnp.where((core.diverged_step < 0) & bad, core.step, core.diverged_step)
    final_values, _ = diagnostics(final, core, dstate)
    diags.append(jax.tree.map(lambda v: v[None], final_values))
    loss = jnp.concatenate(losses + [final.loss[None]])
    diag = tuple(jnp.concatenate(parts) for parts in zip(*diags))
    W = W0 + core.params.T @ X if kernel else core.params
    return loss, W, diag, diverged


class Trajectory(NamedTuple):
    """A GD run of a general model: loss (steps + 1,), final params, outputs on eval points (steps + 1, n_eval)."""

    loss: Array
    params: object
    eval_outputs: Array


def gd_trajectory(f, params, X: Array, y: Array, *, eta: float | None = None, steps: int,
                  X_eval: Array | None = None, optimizer: optax.GradientTransformation | None = None) -> Trajectory:
    """Full-batch GD (or any optax optimizer) on 0.5 ||f(params, X) - y||^2 for a model ``f(params, x)``.

    Records the loss before every step and after the last, and f on ``X_eval`` (default X) at the same
    steps. A jitted ``lax.scan``; the model is any pure function of a parameter pytree (an ``MLP.apply``,
    a ``linearize``d model, the Du et al. net). Raises ``GradientDescentDiverged`` on a non-finite loss.
    """
    if optimizer is None:
        if eta is None or not (np.isfinite(eta) and eta > 0):
            raise ValueError(f"eta must be a positive finite step size; got {eta!r}.")
        optimizer = optax.sgd(eta)
    X_eval = X if X_eval is None else X_eval
    loss, final, outputs = _gd_trajectory(f, optimizer, int(steps), params, X, y, X_eval)
    bad = np.flatnonzero(~np.isfinite(np.asarray(loss)))
    if bad.size:
        raise GradientDescentDiverged(f"Gradient descent diverged at step {int(bad[0])}: the loss is not finite. "
                                      "Lower the step size.", step=int(bad[0]))
    return Trajectory(loss, final, outputs)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _gd_trajectory(f, optimizer, steps, params, X, y, X_eval):
    def objective(p):
        r = f(p, X) - y
        return 0.5 * jnp.vdot(r, r)

    def step(carry, _):
        p, state = carry
        value, grad = jax.value_and_grad(objective)(p)
        updates, state = optimizer.update(grad, state, p)
        return (optax.apply_updates(p, updates), state), (value, f(p, X_eval))

    (final, _), (loss, outputs) = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    loss = jnp.concatenate([loss, objective(final)[None]])
    outputs = jnp.concatenate([outputs, f(final, X_eval)[None]])
    return loss, final, outputs
