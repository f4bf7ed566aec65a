"""Lazy, catapult and divergent training of the two-layer family, and the step sizes that separate them.

Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari (2020), "The large learning rate phase of deep learning: the
catapult mechanism": for a wide net with tangent kernel Theta(0) (here ``kernel_scale(m) H(0)``),

- eta < 2 / lambda_max(Theta(0)): the *lazy* phase; the linearized dynamics contract every mode, the loss falls
  monotonically and the kernel barely moves (Jacot et al. 2018; Du et al. 2019);
- 2 / lambda_max < eta < eta_max: the *catapult* phase; the top mode grows, the loss rises, the kernel's top
  eigenvalue falls until lambda_max(Theta(k)) < 2 / eta, and then training converges; eta_max = 4 / lambda_max
  in their solvable two-layer linear model, larger (they report up to about 12 / lambda_max) for ReLU nets;
- eta > eta_max: divergence.

Step sizes are expressed as the ratio x = eta lambda_max(Theta(0)) / 2, so the predicted lazy/catapult boundary is
x = 1 and the linear model's divergence boundary x = 2. ``classify_runs`` names the phase of each run of
``train_family_batched``; ``phase_grid`` runs a grid of widths and ratios; ``phase_boundaries`` measures, per
initialization, the smallest ratio at which the loss rises and the smallest at which GD diverges (bisection in
log x), with a confidence interval over initializations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ntk_proofs.linalg import lambda_max
from ntk_proofs.models.two_layer import Params, TwoLayerFamily, init_family
from ntk_proofs.regimes.training import FamilyRun, train_family_batched

Array = jax.Array

REGIMES = ("lazy", "catapult", "divergent", "unresolved")
LAZY, CATAPULT, DIVERGENT, UNRESOLVED = range(4)


class Thresholds(NamedTuple):
    """What the classification calls a rise, convergence and a lazy kernel.

    Attributes:
      rise: the loss "rises" when max_k L(k) > (1 + rise) L(0).
      converged: a run converged when L(end) <= converged L(0).
      kernel_change: a lazy run's ||H(k) - H(0)||_F / ||H(0)||_F stays below this.
      monotone: a lazy run's loss never grows by more than monotone L(0) in one step (round-off at the floor).
    """

    rise: float = 1e-3
    converged: float = 1e-3
    kernel_change: float = 0.1
    monotone: float = 1e-6


def tangent_sharpness(family: TwoLayerFamily, params: Params, X: Array) -> Array:
    """lambda_max of the tangent kernel ``kernel_scale(m) H(0)`` that GD on L / alpha^2 sees; batched params
    (W (B, m, d), a (B, m)) give (B,)."""
    XXt = X @ X.T

    def one(W, a):
        return lambda_max(family.gram_from_preactivations(X @ W.T, a, XXt))

    lam = jax.vmap(one)(params.W, params.a) if params.W.ndim == 3 else one(params.W, params.a)
    return lam * family.kernel_scale(params.W.shape[-2])


def peak_ratio(loss) -> np.ndarray:
    """max_k L(k) / L(0) of each run, loss (B, T + 1); inf for a run with a non-finite loss. The loss *rose* where
    this exceeds 1 + ``Thresholds.rise`` (the catapult's signature, Lewkowycz et al. 2020)."""
    loss = np.asarray(loss, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return np.where(np.all(np.isfinite(loss), axis=1), np.max(loss, axis=1) / loss[:, 0], np.inf)


def classify_runs(run: FamilyRun, etas, family: TwoLayerFamily, thresholds: Thresholds = Thresholds()) -> np.ndarray:
    """The phase of each run of a batched ``FamilyRun`` as codes into ``REGIMES`` (module doc).

    divergent: the driver flagged divergence (a non-finite loss or one above its factor times L(0)) or the run ended
    above L(0). lazy: converged, the loss fell monotonically and the kernel moved less than ``kernel_change``.
    catapult: converged after the loss rose above (1 + rise) L(0), with the tangent kernel's final top eigenvalue
    below 2 / eta. unresolved: anything else (e.g. not converged within the steps, or a monotone run whose
    kernel moved more than ``kernel_change``), reported as such, never forced into a phase.

    Args:
      run: a batched ``FamilyRun`` (``train_family_batched``) of B runs.
      etas (ArrayLike): the step size of each run (B,), or one for all.
      family: the member of the family the runs trained.
      thresholds: the ``Thresholds`` of the classification.

    Returns:
      (B,) int codes: ``LAZY``, ``CATAPULT``, ``DIVERGENT`` or ``UNRESOLVED``, indices into ``REGIMES``.
    """
    loss = np.asarray(run.loss, dtype=np.float64)
    L0, end = loss[:, 0], loss[:, -1]
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.all(np.isfinite(loss), axis=1)
        monotone = finite & np.all(np.diff(loss, axis=1) <= thresholds.monotone * L0[:, None], axis=1)
    m = run.params.W.shape[-2]
    sharp_end = np.asarray(run.records.lambda_max[:, -1], dtype=np.float64) * family.kernel_scale(m)
    change = np.asarray(jnp.max(run.records.kernel_change, axis=1), dtype=np.float64)
    etas = np.broadcast_to(np.asarray(etas, np.float64), L0.shape)
    diverged = (np.asarray(run.diverged_step) >= 0) | ~finite | ~(end <= L0)
    converged = end <= thresholds.converged * L0
    rose = peak_ratio(loss) > 1 + thresholds.rise
    codes = np.full(L0.shape, UNRESOLVED)
    codes[converged & monotone & (change < thresholds.kernel_change)] = LAZY
    codes[converged & rose & (sharp_end * etas < 2)] = CATAPULT
    codes[diverged] = DIVERGENT
    return codes


def initializations(key: Array, m: int, d: int, seeds: int, *, symmetric: bool = False, dtype=None) -> Params:
    """``seeds`` initializations of width m (``init_family`` with keys split from ``key``), batched: W (S, m, d)."""
    keys = jax.random.split(key, seeds)
    return jax.vmap(lambda k: init_family(k, m, d, symmetric=symmetric, dtype=dtype))(keys)


class PhaseGrid(NamedTuple):
    """The phase of every (width, ratio, initialization) of ``phase_grid``.

    Attributes:
      widths: (W,) the widths.
      ratios: (R,) the step-size ratios x = eta lambda_max(Theta(0)) / 2.
      regime: (W, R, S) codes into ``REGIMES``.
      sharpness0: (W, S) lambda_max(Theta(0)).
      peak: (W, R, S) max_k L(k) / L(0) (inf when a loss was non-finite).
      sharpness_end: (W, R, S) eta lambda_max(Theta(end)) / 2 (< 1: stable; NaN for a divergent run).
      kernel_change: (W, R, S) max_k ||H(k) - H(0)||_F / ||H(0)||_F.
    """

    widths: np.ndarray
    ratios: np.ndarray
    regime: np.ndarray
    sharpness0: np.ndarray
    peak: np.ndarray
    sharpness_end: np.ndarray
    kernel_change: np.ndarray


def phase_grid(
    X: Array,
    y: Array,
    *,
    widths,
    ratios,
    seeds: int,
    steps: int,
    key: Array,
    family: TwoLayerFamily = TwoLayerFamily(train_a=True),
    thresholds: Thresholds = Thresholds(),
    on_width=None,
) -> PhaseGrid:
    """Train every width from several initializations at every step-size ratio x (eta = 2 x / lambda_max(Theta(0))
    of each initialization), and classify the runs (``classify_runs``). The runs of one width are one batched
    program.

    Args:
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      widths (Sequence[int]): the widths m.
      ratios (ArrayLike): the step-size ratios x.
      seeds: initializations per width (from ``fold_in(key, m)``).
      steps: steps per run.
      key: the PRNG key.
      family: the member of the family (default: ReLU with a trained).
      thresholds: the ``Thresholds`` of the classification.
      on_width (Callable[[int], None] | None): called as ``on_width(m)`` after each width (progress).

    Returns:
      A ``PhaseGrid``.
    """
    ratios = np.asarray(ratios, np.float64)
    X = jnp.asarray(X)
    shape = (len(widths), ratios.size, seeds)
    regime, peak, sharp_end, change = (np.zeros(shape, int), np.zeros(shape), np.zeros(shape), np.zeros(shape))
    sharp0 = np.zeros((len(widths), seeds))
    for i, m in enumerate(widths):
        params = initializations(jax.random.fold_in(key, int(m)), int(m), X.shape[1], seeds, dtype=X.dtype)
        lam = np.asarray(tangent_sharpness(family, params, X), np.float64)
        etas = (2.0 * ratios[:, None] / lam[None, :]).ravel()  # (R * S,), ratio-major
        batch = jax.tree.map(lambda v: jnp.tile(v, (ratios.size,) + (1,) * (v.ndim - 1)), params)
        run = train_family_batched(batch, X, y, family=family, etas=etas, steps=steps, record_every=max(steps // 50, 1))
        codes = classify_runs(run, etas, family, thresholds)
        pk = peak_ratio(run.loss)
        se = np.asarray(run.records.lambda_max[:, -1], np.float64) * family.kernel_scale(int(m)) * etas / 2
        regime[i], peak[i] = codes.reshape(ratios.size, seeds), pk.reshape(ratios.size, seeds)
        sharp_end[i] = np.where(codes == DIVERGENT, np.nan, se).reshape(ratios.size, seeds)
        change[i] = np.asarray(jnp.max(run.records.kernel_change, axis=1)).reshape(ratios.size, seeds)
        sharp0[i] = lam
        if on_width is not None:
            on_width(int(m))
    return PhaseGrid(np.asarray(widths), ratios, regime, sharp0, peak, sharp_end, change)


class Boundary(NamedTuple):
    """A phase boundary in the ratio x = eta lambda_max(Theta(0)) / 2, one value per initialization.

    Attributes:
      per_seed: (S,) the boundary of each initialization (NaN where not bracketed).
      mean: the geometric mean over the bracketed initializations (exp of the mean of log x).
      ci_low: the lower end of its interval (Student t over initializations, on log x; NaN with one value).
      ci_high: its upper end.
      bracketed: (S,) bool, the initializations whose boundary lay inside [lo, hi] (the others are left out of
        the mean).
      confidence: the interval's level.
    """

    per_seed: np.ndarray
    mean: float
    ci_low: float
    ci_high: float
    bracketed: np.ndarray
    confidence: float


class Boundaries(NamedTuple):
    """The two boundaries of ``phase_boundaries`` at one width.

    Attributes:
      width: the width m.
      rise: where the loss starts to rise (lazy/catapult; predicted x = 1).
      divergence: where GD starts to diverge (predicted x = 2 for the linear model of Lewkowycz et al. 2020,
        larger for ReLU).
      sharpness0: (S,) lambda_max(Theta(0)) of each initialization.
    """

    width: int
    rise: Boundary
    divergence: Boundary
    sharpness0: np.ndarray


def phase_boundaries(
    X: Array,
    y: Array,
    *,
    m: int,
    seeds: int,
    steps: int,
    key: Array,
    family: TwoLayerFamily = TwoLayerFamily(train_a=True),
    lo: float = 0.5,
    hi: float = 16.0,
    iterations: int = 10,
    thresholds: Thresholds = Thresholds(),
    confidence: float = 0.95,
) -> Boundaries:
    """Per initialization, bisect in log x for the smallest ratio at which the loss rises above (1 + rise) L(0) and
    the smallest at which the run diverges (``classify_runs``), both from the bracket [lo, hi], to a relative
    resolution (hi / lo)^(2^-iterations). All initializations and both boundaries run as one batched program per
    iteration. Uses the same initializations as ``phase_grid`` for the same key and width.

    Args:
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      m: the width.
      seeds: the number of initializations.
      steps: steps per run.
      key: the PRNG key.
      family: the member of the family (default: ReLU with a trained).
      lo: the lower end of the bracket in x, > 0.
      hi: its upper end, > lo.
      iterations: bisection steps.
      thresholds: the ``Thresholds`` of the classification.
      confidence: the level of the boundaries' intervals.

    Returns:
      ``Boundaries``.

    Raises:
      ValueError: unless 0 < lo < hi.
    """
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi; got lo={lo}, hi={hi}.")
    X = jnp.asarray(X)
    params = initializations(jax.random.fold_in(key, int(m)), int(m), X.shape[1], seeds, dtype=X.dtype)
    lam = np.asarray(tangent_sharpness(family, params, X), np.float64)
    batch = jax.tree.map(lambda v: jnp.concatenate([v, v]), params)

    def probe(x):  # x: (2 S,) ratios; first half tests the rise, second half divergence
        etas = 2.0 * x / np.concatenate([lam, lam])
        run = train_family_batched(batch, X, y, family=family, etas=etas, steps=steps, record_every=max(steps // 10, 1))
        codes = classify_runs(run, etas, family, thresholds)
        rose = peak_ratio(run.loss) > 1 + thresholds.rise
        return np.concatenate([rose[:seeds], codes[seeds:] == DIVERGENT])

    low = np.full(2 * seeds, np.log(lo))
    high = np.full(2 * seeds, np.log(hi))
    at_low, at_high = probe(np.exp(low)), probe(np.exp(high))
    bracketed = ~at_low & at_high
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        yes = probe(np.exp(mid))
        high, low = np.where(yes, mid, high), np.where(yes, low, mid)
    x = np.exp(0.5 * (low + high))
    x = np.where(bracketed, x, np.nan)
    return Boundaries(int(m), _boundary(x[:seeds], confidence), _boundary(x[seeds:], confidence), lam)


def _boundary(values: np.ndarray, confidence: float) -> Boundary:
    ok = np.isfinite(values)
    logs = np.log(values[ok])
    if logs.size == 0:
        nan = float("nan")
        return Boundary(values, nan, nan, nan, ok, confidence)
    mean = float(np.mean(logs))
    if logs.size > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, logs.size - 1) * np.std(logs, ddof=1) / np.sqrt(logs.size))
    else:
        half = float("nan")
    return Boundary(values, float(np.exp(mean)), float(np.exp(mean - half)), float(np.exp(mean + half)), ok, confidence)
