"""The critical width m*: the smallest width at which a conclusion of Du et al. (2019) holds on a fraction
1 - delta of random initializations, measured by a geometric bracket and bisection in log m.

Du et al. (2019), Theorem 4.1, proves the conclusions once m = Omega(n^6 / (lambda_0^4 delta^3)); later work
lowered the requirement to about n^4 (Du, Lee et al. 2019) and n^2 (Song & Yang 2019; Oymak &
Soltanolkotabi 2020). This module measures the width the conclusions actually need on given data.

A *criterion* is a yes/no property of one GD run from one initialization of width m (``CRITERIA``):

- "init": lambda_min(H(0)) >= lambda_0 / 2, certified by Cholesky. This is what Lemma 3.1 is used for, and weaker
  than its conclusion;
- "concentration": Lemma 3.1's own conclusion ||H(0) - H^inf||_2 <= lambda_0 / 4 (which gives lambda_min(H(0)) >=
  3 lambda_0 / 4), with H(0) built in float64 from the integer co-activation counts and the norm from float64
  ``eigvalsh``; it needs no GD run;
- "trajectory": lambda_min(H(k)) >= lambda_0 / 2 at every step until convergence, certified by Cholesky;
- "linear": L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step until convergence (conclusion (C1));
- "kernel": |L(k) - L_kernel(k)| <= 0.1 L_kernel(k) at every step of the run (until it converges) above the
  round-off floor, with L_kernel the H^inf kernel prediction from the run's own start (the lazy regime; Arora et
  al. 2019, Theorem 4.1).

- "trajectory_flow", "linear_flow": "trajectory" and "linear" at the small step ``FLOW_STEP_FRACTION`` x eta
  (0.1 / lambda_max(H^inf) by default), where GD follows gradient flow closely (Theorem 3.2 is the flow's version of
  Theorem 4.1); their step cap is ``max_steps / FLOW_STEP_FRACTION``, the same time eta k.

A run converges at the first step with L(k) <= ``tol`` L(0) and is cut at ``max_steps``; a run that hits the
cap does not hold "linear" or "trajectory".

The search reports censoring (``CriticalWidth.censored``): "below" when the smallest width of the grid already
holds (m* <= m_min: an upper bound, not a measurement), "above" when no width up to m_max holds.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.data import check_inputs, check_positive_int
from ntk_proofs.du2019.bounds import check_upper_bound, infinite_width_spectrum, linear_rate_envelope, loss_floor
from ntk_proofs.du2019.gram import gram_infinity_float64
from ntk_proofs.du2019.sweep import train_gd_batched
from ntk_proofs.du2019.width_law import fit_hold_curve
from ntk_proofs.gd import DIVERGENCE_FACTOR, check_step_size
from ntk_proofs.models.two_layer import DU_NET, Params, init_params, predict

Array = jax.Array
CRITERIA = ("init", "concentration", "trajectory", "linear", "kernel", "trajectory_flow", "linear_flow")
FLOW_CRITERIA = ("trajectory_flow", "linear_flow")
# the small step of the flow criteria, as a fraction of the practical step: at eta = 0.1 / lambda_max(H^inf) one
# GD step moves each eigen-component of the residual by a factor (1 - eta lambda_i) within 0.5% of exp(-eta lambda_i)
FLOW_STEP_FRACTION = 0.1
KERNEL_TOLERANCE = 0.1
CONCENTRATION_FRACTION = 0.25  # Lemma 3.1: ||H(0) - H^inf||_2 <= lambda_0 / 4
# the order of the searches: each starts from the largest m* found so far among the run-based criteria before it
# (a guess; any start gives a valid bracket). "kernel", the strictest in practice, goes last among the runs.
SEARCH_ORDER = ("init", "trajectory", "linear", "trajectory_flow", "linear_flow", "kernel", "concentration")
PROBES_BELOW = 3  # at most this many halvings below the bracket, so the hold curve's fit sees where it rises


class CriticalWidth(NamedTuple):
    """The outcome of ``critical_width``.

    Attributes:
      m_star: the smallest width tried whose hold fraction is at least 1 - delta (None if none up to m_max).
      widths: (widths,) every width tried, ascending.
      hold_fraction: (widths,) the fraction of initializations that held, per width.
      holds: (widths, seeds) bool, the yes/no outcome of every run.
      monotone: whether the hold fraction never falls as m grows over the widths tried.
      violations: the (smaller, larger) width pairs where it fell.
      bracket: (last failing width, first holding width) of the search (their ratio is the resolution met); either
        is None where the search found none.
      criterion: the criterion searched (one of ``CRITERIA``).
      delta: the allowed failure fraction.
      seeds: the number of initializations per width.
      censored: "" (m* measured: a width below it failed), "below" (the smallest width tried held, so m* <= m_min
        is only an upper bound) or "above" (no width up to m_max held).
      eta: the step size of the runs.
      lambda0: lambda_0 = lambda_min(H^inf).
      steps: the step cap of the runs.
      converged: (widths, seeds) bool, whether each run reached L(k) <= tol L(0).
      end_step: (widths, seeds) the step its criteria stop at (the first converged step, or the cap).

    The last five are None when a user's ``hold`` replaced the runs.
    """

    m_star: int | None
    widths: np.ndarray
    hold_fraction: np.ndarray
    holds: np.ndarray
    monotone: bool
    violations: list
    bracket: tuple
    criterion: str
    delta: float
    seeds: int
    censored: str = ""
    eta: float | None = None
    lambda0: float | None = None
    steps: int | None = None
    converged: np.ndarray | None = None
    end_step: np.ndarray | None = None


def kernel_losses(X: Array, residual0, *, eta: float, steps: int) -> np.ndarray:
    """``kernel_prediction`` with H = H^inf (in float64) for a batch of initial residuals y - u(0) (B, n), from one
    eigendecomposition: L_b(k) = 0.5 sum_i (1 - eta lambda_i)^(2k) (v_i . r_b)^2. Returns (B, steps + 1) float64."""
    lam, V = np.linalg.eigh(gram_infinity_float64(X))
    decay = (1.0 - eta * lam)[None, :] ** (2.0 * np.arange(steps + 1)[:, None])  # (steps + 1, n)
    return 0.5 * ((np.asarray(residual0, np.float64) @ V) ** 2) @ decay.T


CHUNK = 64  # steps per compiled piece of a criterion run
# the padded runs' buckets: a width m runs in the next power of two, up to this n (there the GD steps cost
# milliseconds and XLA's compile of one program per width, seconds, is what a search spends; above it the steps
# dominate and padding up to 2x would cost more than the compiles it saves)
PAD_MAX_N = 128


def padded_width(m: int, n: int) -> int:
    """The array width a width-m search run on n points runs in: the next power of two >= m for n <= ``PAD_MAX_N``
    or m <= n (one compiled program per octave of widths), else m itself. Where m <= n a step's cost is set by n
    (the (n, n) Gram matrix, its Cholesky certificate and Lanczos), so padding m up to 2m costs little and saves a
    compile per width: at n = 256 it halved a search's time (70 s to 36 s, the same outcomes)."""
    return m if n > PAD_MAX_N and m > n else 1 << max(0, math.ceil(math.log2(m)))


# up to this n the runs estimate lambda_min(H(k)) by dense eigh, whose program compiles faster than the Lanczos one
# (a small-n search compiles a new program per width); Lanczos above
EIGH_MAX_N = 64


def _runs_until_converged(
    batch: Params,
    Xs: Array,
    ys: Array,
    *,
    eta: float,
    lambda0: float,
    max_steps: int,
    tol: float,
    divergence_factor: float = DIVERGENCE_FACTOR,
    live_width: int | None = None,
):
    """The batched runs of ``criterion_outcomes``, in pieces of ``CHUNK`` steps (one compiled program), until every
    run has converged (L(k) <= tol L(0)) or diverged (non-finite, or above divergence_factor L(0)), or max_steps.

    Every criterion reads a run only up to its first converged step, so stopping there changes no outcome; and it
    matters: a converged run left going drives its residual into float subnormals, on which a CPU's arithmetic is
    far slower. A finished run restarts from its initialization (finite numbers, ignored) while others go on.
    ``live_width``: the batch is padded (``train_gd_batched(live_width=...)``).
    Returns loss (seeds, max_steps + 1) float64, certified (seeds, max_steps + 1) bool, diverged (seeds,) bool.
    """
    seeds = batch.W.shape[0]
    W0, W = batch.W, batch.W
    loss = np.full((seeds, max_steps + 1), np.nan)
    certified = np.zeros((seeds, max_steps + 1), bool)
    finished = np.zeros(seeds, bool)
    diverged = np.zeros(seeds, bool)
    done = 0
    while True:
        n = Xs.shape[1]
        run = train_gd_batched(
            Params(W, batch.a),
            Xs,
            ys,
            eta=eta,
            steps=min(CHUNK, max_steps),
            record_every=1,
            certify_lambda0=lambda0,
            lambda_min_method="eigh" if n <= EIGH_MAX_N else "lanczos",
            divergence_factor=divergence_factor,
            live_width=live_width,
        )
        piece, cert = np.asarray(run.loss, np.float64), np.asarray(run.history.certified, bool)
        take = min(piece.shape[1], max_steps + 1 - done)
        live = ~finished
        loss[live, done : done + take] = piece[live, :take]
        certified[live, done : done + take] = cert[live, :take]
        if done == 0:
            limit = divergence_factor * loss[:, 0]
        window = loss[:, done : done + take]
        bad = ~np.isfinite(window) | (window > limit[:, None])
        diverged |= live & bad.any(axis=1)
        converged = live & (window <= tol * loss[:, :1]).any(axis=1)
        finished |= diverged | converged
        done += take - 1
        if done >= max_steps or finished.all():
            return loss, certified, diverged
        W = jnp.where(jnp.asarray(finished)[:, None, None], W0, run.params.W)


def search_initializations(key: Array, m: int, d: int, seeds: int, dtype=None, first: int = 0) -> Params:
    """The initializations ``first``, ..., ``first + seeds - 1`` of width m that ``critical_widths`` runs under its
    ``key``: Params with a leading seeds axis, the draws ``criterion_outcomes`` makes from the key
    ``fold_in(key, m)`` (see ``_draws``), so that a later check (``ntk_proofs.regimes.flow.flow_criterion_outcomes``)
    can start from the very same nets."""
    return _draws(jax.random.fold_in(key, m), m, d, seeds, dtype, first)


def _draws(key: Array, m: int, d: int, seeds: int, dtype, first: int = 0) -> Params:
    """Initializations ``first`` to ``first + seeds - 1`` under ``key``: the first block (first = 0) from
    ``split(key, seeds)``, a later one from ``fold_in(key, s)`` for each index s. With JAX's partitionable threefry
    (its default) ``split(key, k)[s]`` is ``fold_in(key, s)``, so initialization s is the same net whichever block
    drew it, and the blocks of a refined search (``critical_widths(max_seeds=...)``) never repeat a net."""
    if first == 0:
        keys = jax.random.split(key, seeds)
    else:
        keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(first, first + seeds, dtype=jnp.uint32))
    return jax.vmap(lambda k: init_params(k, m, d, dtype=dtype))(keys)  # the same draws as one call per key


def criterion_outcomes(
    X: Array,
    y: Array,
    m: int,
    *,
    key: Array,
    seeds: int,
    eta: float,
    lambda0: float,
    max_steps: int = 2000,
    tol: float = 1e-4,
    concentration: bool = False,
    runs: bool = True,
    padded_width: int | None = None,
    first: int = 0,
) -> dict[str, np.ndarray]:
    """The run-based criteria ("init", "trajectory", "linear", "kernel") and, if ``concentration``, the
    "concentration" criterion, on ``seeds`` initializations of width m, run as one batched program
    (``train_gd_batched``: vmapped, sharded over the local devices) for ``max_steps`` steps. Returns
    criterion -> (seeds,) bool, plus "converged" (L(k) <= tol L(0) within the run, without divergence),
    "end_step" (the first such step, else ``max_steps``: which of convergence and the cap ended each run),
    "kernel_gap" (max |L(k) - L_kernel(k)| / L_kernel(k) over the steps the "kernel" criterion checks) and, with
    ``concentration``, "concentration_gap" (||H(0) - H^inf||_2 / lambda_0, Lemma 3.1 asks for <= 1/4). With
    ``runs=False`` only "concentration" is computed (no GD program is compiled or run). With ``padded_width``
    M > m the width-m nets run inside M neurons (``train_gd_batched(live_width=m)``: the same initializations and
    numbers up to float reassociation, on the program every width up to M shares). ``first``: the index of the
    first initialization (the batch is initializations ``first`` to ``first + seeds - 1``, see ``_draws``)."""
    n, d = X.shape
    # a padded batch even where M = m, so that a bucket's every width (its top included) runs one program
    padded = (
        padded_width is not None
        and padded_width >= m
        and bool(getattr(jax.config, "jax_threefry_partitionable", False))
    )
    if padded:  # drawn at width M: with partitionable threefry the first m neurons are the width-m draw itself
        assert padded_width is not None
        full = _draws(key, padded_width, d, seeds, X.dtype, first)
        live = jnp.asarray(np.arange(padded_width) < m)[None, :]
        batch = Params(full.W, jnp.where(live, full.a, 0))  # the padding's a_r = 0 (its w_r never move)
    else:
        batch = _draws(key, m, d, seeds, X.dtype, first)
    gaps = concentration_gaps(X, batch.W, lambda0, width=m if padded else None) if concentration else None
    if not runs:  # the initialization alone: no GD program to compile
        if gaps is None:
            raise ValueError("runs=False computes only the concentration criterion; pass concentration=True.")
        return {
            "concentration": gaps <= CONCENTRATION_FRACTION,
            "concentration_gap": gaps,
            "converged": np.zeros(seeds, bool),
            "end_step": np.zeros(seeds, int),
        }
    Xs, ys = jnp.broadcast_to(X, (seeds, n, d)), jnp.broadcast_to(y, (seeds, n))
    live_width = m if padded else None
    loss, certified, diverged = _runs_until_converged(
        batch, Xs, ys, eta=eta, lambda0=lambda0, max_steps=max_steps, tol=tol, live_width=live_width
    )
    dtype = np.dtype(X.dtype)
    steps = np.arange(max_steps + 1)
    u0 = (
        _initial_outputs(batch.W, batch.a, X, jnp.asarray(m, X.dtype))
        if padded
        else jax.vmap(predict, (0, None))(batch, X)
    )
    predicted = kernel_losses(X, np.asarray(y)[None, :] - np.asarray(u0), eta=eta, steps=max_steps)
    rtol = 10 * float(np.finfo(dtype).eps)  # the round-off margin of ``theorem_monitor``
    out = {name: np.zeros(seeds, bool) for name in CRITERIA if name not in FLOW_CRITERIA}
    if gaps is None:
        del out["concentration"]
    else:
        out["concentration_gap"] = gaps
        out["concentration"] = gaps <= CONCENTRATION_FRACTION
    out["converged"], out["end_step"] = np.zeros(seeds, bool), np.zeros(seeds, int)
    out["kernel_gap"] = np.zeros(seeds)
    for s in range(seeds):
        below = np.flatnonzero(loss[s] <= tol * loss[s, 0])
        converged = below.size > 0 and not diverged[s]
        end = int(below[0]) if below.size else max_steps
        out["converged"][s], out["end_step"][s] = converged, end
        out["init"][s] = certified[s, 0]
        out["trajectory"][s] = converged and bool(np.all(certified[s, : end + 1]))
        envelope = linear_rate_envelope(loss[s, 0], eta, lambda0, end)  # (C1)
        out["linear"][s] = converged and check_upper_bound(steps[: end + 1], loss[s, : end + 1], envelope, rtol).held
        floor = loss_floor(loss[s, 0], dtype)
        clean = np.flatnonzero(~(loss[s] > floor))
        last = min(end + 1, int(clean[0]) if clean.size else max_steps + 1)  # the run's own steps, above the floor
        gap = np.abs(loss[s, :last] - predicted[s, :last]) / predicted[s, :last]
        out["kernel_gap"][s] = float(np.max(gap, initial=0.0))
        out["kernel"][s] = bool(np.all(gap <= KERNEL_TOLERANCE))
    return out


@jax.jit
def _initial_outputs(W: Array, a: Array, X: Array, width: Array) -> Array:
    """u(0) of a padded batch (W (B, M, d), a (B, M) with a_r = 0 on the padding), scaled by width^{-1/2}: one
    program for every width of a bucket."""
    return jax.vmap(lambda W, a: DU_NET.outputs(X @ W.T, a, width))(W, a)


@jax.jit
def _live_coactivation_counts(X: Array, W: Array, width: Array) -> Array:
    """P P^T of each seed's live neurons (the first ``width`` of W's M; the rest padding): (B, n, n) integer counts
    in W's dtype, one program for every width of a bucket (width = M: every neuron)."""
    live = jnp.arange(W.shape[1]) < width
    return jax.lax.map(lambda w: (lambda p: p @ p.T)(((X @ w.T >= 0) & live[None, :]).astype(w.dtype)), W)


def concentration_gaps(X: Array, W: Array, lambda0: float, width: int | None = None) -> np.ndarray:
    """||H(0) - H^inf||_2 / lambda_0 for each of a batch of initial weights W (B, m, d): the quantity Lemma 3.1 of
    Du et al. (2019) bounds by 1/4 (with probability 1 - delta once m = Omega(n^2 log(n / delta) / lambda_0^2)).

    The activation patterns 1{w_r . x_i >= 0} are those of the working dtype (the ones GD sees). Their
    co-activation counts P P^T are integers <= m, exact in float32 up to m = 2^24 and in float64; H(0) is then
    (X X^T) * counts / m in float64 and the norm a float64 ``eigvalsh`` of the difference (one seed at a time, so
    the (n, m) pattern of one seed is the largest array). ``width``: the net is the first ``width`` neurons of W,
    the rest padding (one compiled program per padded width). Returns (B,) float64."""
    if W.shape[1] >= 2**24 and np.dtype(W.dtype).itemsize < 8:
        raise ValueError(f"co-activation counts of m = {W.shape[1]} >= 2^24 are not exact in {W.dtype}.")
    m = W.shape[1] if width is None else width
    counts = _live_coactivation_counts(X, W, jnp.asarray(m, jnp.int32))
    X64 = np.asarray(X, np.float64)
    difference = (X64 @ X64.T)[None] * np.asarray(counts, np.float64) / m - gram_infinity_float64(X)[None]
    return np.max(np.abs(np.linalg.eigvalsh(difference)), axis=1) / lambda0


def envelope_steps(eta: float, lambda0: float, tol: float) -> int:
    """The first step K at which the (C1) envelope (1 - eta lambda_0 / 2)^K falls to ``tol``: a run that has not
    reached L(K) <= tol L(0) by then has broken (C1), so a longer run cannot change the "linear" outcome."""
    rate = 1.0 - eta * lambda0 / 2.0
    if not 0.0 < rate < 1.0:
        raise ValueError(f"Need 0 < eta lambda_0 / 2 < 1; got eta = {eta!r}, lambda_0 = {lambda0!r}.")
    return int(math.ceil(math.log(tol) / math.log(rate)))


def critical_width(
    X: Array,
    y: Array,
    *,
    criterion: str,
    delta: float = 0.1,
    seeds: int = 20,
    eta="auto",
    key: Array,
    m_min: int = 8,
    m_max: int = 2**20,
    resolution: float = 2**0.25,
    max_steps: int = 2000,
    tol: float = 1e-4,
    hold: Callable[[int], np.ndarray] | None = None,
) -> CriticalWidth:
    """m*(criterion; X, y, delta): the smallest width m at which ``criterion`` holds on at least a fraction
    1 - delta of ``seeds`` initializations (see the module doc for the criteria).

    The search doubles m from ``m_min`` until the criterion holds (a geometric bracket), then bisects in log m
    between the last failing and the first holding width until their ratio is at most ``resolution``, on the grid
    m_min 2^(j/q) (see ``_search``). Every width's initializations run as one batched program
    (``criterion_outcomes``). The hold fraction is checked for monotonicity over all the widths tried; violations
    are returned, not hidden. ``critical_widths`` measures several criteria on shared runs.

    Args:
      X: (n, d) inputs on the unit sphere, no two parallel (``check_inputs``).
      y: (n,) labels.
      criterion: one of ``CRITERIA``.
      delta: the allowed failure fraction, in (0, 1).
      seeds: initializations per width.
      eta (float | str): the step size, or "auto": 1 / lambda_max(H^inf).
      key: the PRNG key; the initializations of width m come from ``fold_in(key, m)``.
      m_min: the smallest width of the grid.
      m_max: the largest width tried.
      resolution: the ratio of the final bracket, > 1 (default 2^(1/4)).
      max_steps: the step cap of a run (a run is cut at min(``max_steps``, ``envelope_steps``)).
      tol: a run converges at the first step with L(k) <= tol L(0); in (0, 1).
      hold: ``hold(m) -> (seeds,) bool`` replaces the GD runs (for tests, or a user's own criterion).

    Returns:
      A ``CriticalWidth``.

    Raises:
      ValueError: an unknown criterion, delta outside (0, 1), m_max < m_min, resolution <= 1, a bad count, tol
        or step size, or inputs that ``check_inputs`` refuses.
      AssumptionError: two inputs are parallel.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    if hold is not None:
        _check_search(delta, seeds, m_min, m_max, resolution)
        return _search(
            lambda m: {criterion: hold(m)}, criterion, delta=delta, m_min=m_min, m_max=m_max, resolution=resolution
        )
    return critical_widths(
        X,
        y,
        criteria=(criterion,),
        delta=delta,
        seeds=seeds,
        eta=eta,
        key=key,
        m_min=m_min,
        m_max=m_max,
        resolution=resolution,
        max_steps=max_steps,
        tol=tol,
    )[criterion]


def critical_widths(
    X: Array,
    y: Array,
    *,
    criteria=CRITERIA,
    delta: float = 0.1,
    seeds: int = 20,
    eta="auto",
    key: Array,
    m_min: int = 8,
    m_max: int = 2**20,
    resolution: float = 2**0.25,
    max_steps: int = 2000,
    tol: float = 1e-4,
    start: dict[str, int] | None = None,
    on_width: Callable[[int], None] | None = None,
    pad: Callable[[int], int] | None = None,
    max_seeds: int | None = None,
) -> dict[str, CriticalWidth]:
    """``critical_width`` for each of ``criteria`` on the same data, sharing the GD runs: a width that one
    criterion's search has run is reused by the others (the initializations of width m are the same for all,
    ``fold_in(key, m)``). Every run is cut at min(``max_steps``, ``envelope_steps(eta, lambda_0, tol)``): a run
    that has not converged by the step where the (C1) envelope reaches ``tol`` has broken (C1), and a run that
    follows the kernel converges about four times sooner. A criterion without a ``start`` starts from the largest
    m* found so far, the searches running in ``SEARCH_ORDER`` ("kernel": from ``_kernel_width_guess``).

    With ``max_seeds``, a criterion whose two estimates of m* disagree (the logistic fit of its hold curve,
    ``width_law.fit_hold_curve``, lies more than one grid step from the grid's m*) is searched again from its m*
    with ``seeds`` more initializations at every width the new search tries (initializations seeds, ..., 2 seeds - 1
    of each width: ``_draws``), pooled with the earlier ones, and so on until the two agree or another block would
    pass ``max_seeds``. A disagreement means the hold fraction's binomial noise (about 0.07 at 20 runs and
    1 - delta = 0.9) moves the grid's answer by more than a grid step where the hold curve is shallow; more runs
    shrink that noise. The returned ``seeds`` of each criterion says how many it used. Where the two estimates agree
    at ``seeds`` (or the fit cannot place m*, as where every width held) nothing more runs, so the result is the
    one without ``max_seeds``.

    Args:
      X: (n, d) inputs on the unit sphere, no two parallel (``check_inputs``).
      y: (n,) labels.
      criteria (Sequence[str]): a non-empty subset of ``CRITERIA``.
      delta: as in ``critical_width``.
      seeds: as in ``critical_width``.
      eta (float | str): as in ``critical_width``.
      key: as in ``critical_width``.
      m_min: as in ``critical_width``.
      m_max: as in ``critical_width``.
      resolution: as in ``critical_width``.
      max_steps: as in ``critical_width``.
      tol: as in ``critical_width``.
      start: criterion -> the width its search starts from (a guess: any start gives a valid bracket).
      on_width: called as ``on_width(m)`` before each new width (a progress hook).
      pad: ``pad(m) -> M >= m``, the array width the GD runs of width m run in (``criterion_outcomes``'s
        ``padded_width``), so that the widths of one bucket share a compiled program (``padded_width`` is such a
        policy); default: no padding, one program per width.
      max_seeds: the most initializations per width a disagreeing criterion's search may pool (a multiple of
        ``seeds`` is reached exactly); None or ``seeds``: no second block.

    Returns:
      criterion -> ``CriticalWidth``, each with the step size, lambda_0, step cap and convergence of its runs, in
        the order of ``criteria``.

    Raises:
      ValueError: an unknown criterion, a bad search setting, max_steps, tol or step size, or inputs that
        ``check_inputs`` refuses.
      AssumptionError: two inputs are parallel.
    """
    criteria = tuple(criteria)
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown or not criteria:
        raise ValueError(f"criteria must be a non-empty subset of {CRITERIA}; got {criteria!r}.")
    _check_search(delta, seeds, m_min, m_max, resolution)
    check_positive_int(max_steps, "max_steps")
    if max_seeds is not None and (isinstance(max_seeds, bool) or not isinstance(max_seeds, int) or max_seeds < seeds):
        raise ValueError(f"max_seeds must be an integer >= seeds ({seeds}); got {max_seeds!r}.")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1); got {tol!r}.")
    X, y = check_inputs(X, y)
    spectrum = infinite_width_spectrum(X)
    lambda0 = float(spectrum[0])
    step = 1.0 / float(spectrum[-1]) if eta == "auto" else float(eta)
    check_step_size(step)

    def cap(eta_run, limit):
        run_based = [c for c in criteria if c not in ("init", "concentration")]
        return 0 if not run_based else min(limit, envelope_steps(eta_run, lambda0, tol))

    # three kinds of runs, each with its own outcomes per width: the practical step (init, trajectory, linear,
    # kernel), the small step (the flow criteria) and no steps at all (concentration needs only the initialization)
    regimes = {
        "runs": (step, cap(step, max_steps)),
        "flow": (FLOW_STEP_FRACTION * step, cap(FLOW_STEP_FRACTION * step, math.ceil(max_steps / FLOW_STEP_FRACTION))),
        "static": (step, 0),
    }
    # per kind, the outcomes of each (width, block of ``seeds`` initializations)
    caches: dict[str, dict[tuple[int, int], dict[str, np.ndarray]]] = {kind: {} for kind in regimes}

    def kind_of(criterion):
        return "flow" if criterion in FLOW_CRITERIA else ("static" if criterion == "concentration" else "runs")

    def outcomes(m, kind, block):
        cache = caches[kind]
        if (m, block) not in cache:
            if on_width is not None and block == 0:
                on_width(m)
            eta_run, steps_run = regimes[kind]
            cache[m, block] = criterion_outcomes(
                X,
                y,
                m,
                key=jax.random.fold_in(key, m),
                seeds=seeds,
                eta=eta_run,
                lambda0=lambda0,
                max_steps=steps_run,
                tol=tol,
                concentration=kind == "static",
                runs=kind != "static",
                padded_width=None if pad is None else pad(m),
                first=block * seeds,
            )
        return cache[m, block]

    def pooled(m, kind, blocks, field):
        return np.concatenate([outcomes(m, kind, b)[field] for b in range(blocks)])

    def outcomes_of(criterion, blocks):
        name, kind = criterion.removesuffix("_flow"), kind_of(criterion)
        return lambda m: {criterion: pooled(m, kind, blocks, name)}

    q = _per_doubling(resolution)
    most_blocks = 1 if max_seeds is None else max_seeds // seeds
    search = dict(delta=delta, m_min=m_min, m_max=m_max, resolution=resolution)
    start = start or {}
    found, blocks_of = {}, {}
    for c in sorted(criteria, key=SEARCH_ORDER.index):
        known = [r.m_star for k, r in found.items() if r.m_star is not None and k != "concentration"]
        guess = start.get(c, max(known, default=None))
        if c == "kernel" and c not in start and caches["runs"]:
            guess = _kernel_width_guess(caches["runs"], delta) or guess
        r, blocks = _search(outcomes_of(c, 1), c, start=guess, **search), 1
        while blocks < most_blocks and _estimates_disagree(r, q):
            blocks += 1
            r = _search(outcomes_of(c, blocks), c, start=r.m_star, **search)
        found[c], blocks_of[c] = r, blocks
    found = {c: found[c] for c in criteria}
    results = {}
    for c, r in found.items():
        kind = kind_of(c)
        results[c] = r._replace(
            eta=regimes[kind][0],
            lambda0=lambda0,
            steps=regimes[kind][1],
            converged=np.stack([pooled(w, kind, blocks_of[c], "converged") for w in r.widths]),
            end_step=np.stack([pooled(w, kind, blocks_of[c], "end_step") for w in r.widths]),
        )
    return results


def _per_doubling(resolution: float) -> int:
    """q, the search grid's widths per doubling: the smallest with 2^(1/q) <= resolution."""
    return max(1, math.ceil(math.log(2) / math.log(resolution) - 1e-9))


def _estimates_disagree(result: CriticalWidth, per_doubling: int) -> bool:
    """Whether the logistic hold-curve estimate of m* lies more than one grid step from the grid's m* (False where
    either is missing: a censored search, or a fit that cannot place m*)."""
    if result.m_star is None or result.censored:
        return False
    fit = fit_hold_curve(
        result.widths, result.holds, delta=result.delta, grid_m_star=result.m_star, per_doubling=per_doubling
    )
    return fit.agrees is False


def _kernel_width_guess(cache: dict, delta: float) -> int | None:
    """Where the "kernel" search starts when other criteria ran first: the widest run so far, scaled by the square
    of its (1 - delta)-quantile kernel gap over the 10% tolerance, since a width-m net's deviation from the H^inf
    dynamics falls like m^(-1/2) (Arora et al. 2019, Thm 3.1 and 4.1; Lee et al. 2019, Thm 2.1). Only a start:
    the search brackets m* from there whatever the guess."""
    m = max(width for width, _ in cache)
    gap = float(np.quantile(np.concatenate([v["kernel_gap"] for (w, _), v in cache.items() if w == m]), 1 - delta))
    if not (np.isfinite(gap) and gap > 0):
        return None
    return int(m * (gap / KERNEL_TOLERANCE) ** 2)


def _check_search(delta, seeds, m_min, m_max, resolution):
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}.")
    check_positive_int(seeds, "seeds")
    check_positive_int(m_min, "m_min")
    if not (m_max >= m_min and resolution > 1):
        raise ValueError(f"Need m_max >= m_min and resolution > 1; got {m_max}, {m_min} and {resolution}.")


def _search(outcomes, criterion, *, delta, m_min, m_max, resolution, start=None) -> CriticalWidth:
    """The search of ``critical_width`` over ``outcomes(m)[criterion]``, on the log grid
    m_j = round(m_min 2^(j/q)), q = ceil(log 2 / log resolution), so that searches for different criteria share
    widths. From ``start`` (default m_min) it doubles m (j += q) until the criterion holds, or halves it until it
    fails: a geometric bracket; then it bisects in j until the bracket is one grid step (ratio 2^(1/q) <=
    ``resolution``), and runs one confirmation width, 2 m* (if <= m_max), which does not move m* but shows a
    non-monotone hold curve above it and gives ``bootstrap_m_star`` a width to fall back on. Any start gives a
    valid bracket; a good guess (e.g. m* at a smaller n) saves widths."""
    q = _per_doubling(resolution)
    j_max = int(math.floor(q * math.log2(m_max / m_min) + 1e-9))
    tried: dict[int, np.ndarray] = {}

    def width(j):
        return int(round(m_min * 2 ** (j / q)))

    def holds_at(j):
        m = width(j)
        if m not in tried:
            tried[m] = np.asarray(outcomes(m)[criterion], bool).reshape(-1)
        return tried[m].mean() >= 1 - delta

    j = 0 if start is None else min(max(int(round(q * math.log2(max(start, 1) / m_min))), 0), j_max)
    low = high = None
    if holds_at(j):
        high = j
        while high > 0:  # halve until it fails (or m_min holds)
            j = max(high - q, 0)
            if holds_at(j):
                high = j
            else:
                low = j
                break
    else:
        low = j
        while low < j_max:  # double until it holds (the last try is m_max's grid point)
            j = min(low + q, j_max)
            if holds_at(j):
                high = j
                break
            low = j
    if high is not None and low is not None:
        while high - low > 1:
            mid = (low + high) // 2
            if holds_at(mid):
                high = mid
            else:
                low = mid
    if high is not None and high + q <= j_max:
        holds_at(high + q)  # a confirmation at 2 m*: checks monotonicity above m*, anchors the bootstrap
    lowest = min(j for j in range(j_max + 1) if width(j) in tried)
    for _ in range(PROBES_BELOW):  # the foot of the hold curve, for ``fit_hold_curve`` (cheap: narrow widths)
        if lowest == 0 or tried[width(lowest)].mean() <= 0.25:
            break
        lowest = max(lowest - q, 0)
        holds_at(lowest)
    widths = np.array(sorted(tried))
    fraction = np.array([tried[w].mean() for w in widths])
    violations = [(int(widths[i]), int(widths[i + 1])) for i in range(len(widths) - 1) if fraction[i + 1] < fraction[i]]
    bracket = (None if low is None else width(low), None if high is None else width(high))
    censored = "above" if high is None else ("below" if width(high) == width(0) else "")
    return CriticalWidth(
        m_star=bracket[1],
        widths=widths,
        hold_fraction=fraction,
        holds=np.stack([tried[w] for w in widths]),
        monotone=not violations,
        violations=violations,
        bracket=bracket,
        criterion=criterion,
        delta=delta,
        seeds=len(next(iter(tried.values()))),
        censored=censored,
    )


def bootstrap_m_star(result: CriticalWidth, *, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """The sampling distribution of m* over initializations: ``draws`` resamples (with replacement) of the seeds
    of ``result.holds``, applied to every width tried. A resample's m* is the smallest tried width from which on
    every tried width holds on a fraction >= 1 - delta of the resampled seeds (robust to a non-monotone dip);
    it is ``inf`` where the largest width tried fails (the search's bracket cannot say). Returns (draws,)."""
    check_positive_int(draws, "draws")
    holds = np.asarray(result.holds, bool)  # (widths, seeds)
    picks = np.random.default_rng(seed).integers(0, holds.shape[1], size=(draws, holds.shape[1]))
    fraction = holds[:, picks].mean(axis=2)  # (widths, draws)
    ok = fraction >= 1 - result.delta
    from_here = np.flip(np.logical_and.accumulate(np.flip(ok, 0), axis=0), 0)  # every wider width holds too
    first = np.argmax(from_here, axis=0)
    widths = np.asarray(result.widths, np.float64)
    return np.where(from_here.any(axis=0), widths[first], np.inf)


class ExponentFit(NamedTuple):
    """log m* = slope log x + intercept by least squares over the x with a measured m*; ci_low, ci_high: the
    2.5% and 97.5% quantiles of the slope over bootstrap draws (None when fewer than 2 points, or when over 5%
    of the draws are censored at some x); points: how many x entered; censored_draws: the fraction of draws
    left out because some x had no m* in them."""

    slope: float | None
    intercept: float | None
    ci_low: float | None
    ci_high: float | None
    points: int
    censored_draws: float


def fit_exponent(x, m_star, draws=None) -> ExponentFit:
    """The exponent p of m* ~ x^p (x = n, or a published bound's expression of n and lambda_0): ``m_star`` (k,)
    with None/inf for an x where no width up to m_max held (left out of the fit), ``draws`` (k, B) the
    ``bootstrap_m_star`` draws at each x, which give the confidence interval."""
    x = np.asarray(x, np.float64)
    m = np.array([np.inf if v is None else v for v in m_star], np.float64)
    keep = np.isfinite(m)
    if keep.sum() < 2 or np.unique(x[keep]).size < 2:
        return ExponentFit(None, None, None, None, int(keep.sum()), 1.0)
    lx = np.log(x[keep])
    slope, intercept = np.polyfit(lx, np.log(m[keep]), 1)
    lo = hi = None
    censored = 0.0
    if draws is not None:
        boot = np.asarray(draws, np.float64)[keep]  # (k, B)
        usable = np.all(np.isfinite(boot), axis=0)
        censored = float(1.0 - usable.mean())
        if usable.sum() >= 20 and censored <= 0.05:
            centered = lx - lx.mean()
            slopes = centered @ np.log(boot[:, usable]) / (centered @ centered)
            lo, hi = (float(v) for v in np.quantile(slopes, [0.025, 0.975]))
    return ExponentFit(float(slope), float(intercept), lo, hi, int(keep.sum()), censored)
