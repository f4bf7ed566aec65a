"""The critical width as a scaling law: m*(n, d, lambda_0) fitted over data families, sizes and data sets.

Three pieces, each a pure function of the searches' outcomes (``critical_width.CriticalWidth``):

- ``fit_hold_curve``: a second estimate of m*, independent of the search grid. The hold outcomes of every width
  tried (widths x initializations) are fitted by a logistic curve P(hold | m) = 1 / (1 + exp(-(alpha + beta log m)))
  (maximum likelihood, with a small ridge that keeps the fit finite when the outcomes separate perfectly), and m* is
  read off where it reaches 1 - delta. ``grid_steps_apart`` says how far that is from the grid's m*.
- ``fit_log_linear``: least squares of log m* on chosen covariates (log n; or log n, log d, log lambda_0) over every
  (family, n, data set) unit, with a *two-level* bootstrap: resample the data sets within each group (a family and
  size), then the initializations within each data set (a draw of ``bootstrap_m_star``). The interval then carries
  the variation between data sets, which a resample of initializations alone cannot see.
- ``counting_ratio``: m* d / n. The counting bound (H(0) = J J^T with J of size n x md, so lambda_min(H(0)) > 0
  needs md >= n) says the ratio is at least 1 for every criterion that implies lambda_min(H(0)) > 0 ("init",
  "concentration", "trajectory"); a ratio flat in n means that bound is tight up to a constant factor.

Censored units (``CriticalWidth.censored`` "below" or "above") carry no measured m*: they are left out of every fit
and counted in the result (``censored_units``), never fitted as if measured.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import optimize

# the logistic slope's penalty RIDGE beta_s^2 (beta_s in standardized log m): it keeps a perfectly separated fit
# finite and is negligible beside the likelihood of a curve measured on tens of outcomes per width
RIDGE = 0.01
MIN_DRAWS = 20  # fewer usable bootstrap draws than this give no interval


class HoldCurveFit(NamedTuple):
    """The logistic fit of ``fit_hold_curve``.

    Attributes:
        alpha: intercept of logit P(hold) = alpha + beta log m.
        beta: slope in log m (> 0 when the hold fraction grows with the width).
        m_star: the width where the fitted P(hold) reaches 1 - delta; None when the fit cannot place it (all runs
            held, none held, or beta <= 0).
        grid_steps_apart: |log2(m_star / grid m*)| x widths per doubling: how many grid steps the two estimates lie
            apart (None when either is missing).
        agrees: grid_steps_apart <= 1.
    """

    alpha: float | None
    beta: float | None
    m_star: float | None
    grid_steps_apart: float | None
    agrees: bool | None


def fit_hold_curve(widths, holds, *, delta: float, grid_m_star=None, per_doubling: int = 4) -> HoldCurveFit:
    """m* from a logistic fit of the hold outcomes of every width tried against log m.

    Maximum likelihood of P(hold | m) = sigmoid(alpha + beta log m) over every (width, seed) outcome, with the
    penalty ``RIDGE`` beta_s^2 (beta_s the slope in standardized log m). The penalty matters only when the
    outcomes separate perfectly (every run below some width fails, every run above holds), where the unpenalized
    maximum is at beta = infinity; it then places the curve's 1 - delta point inside the separating bracket.

    Args:
      widths (ArrayLike): (widths,) the positive widths tried.
      holds (ArrayLike): (widths, seeds) bool, the outcome of every run (``CriticalWidth.holds``).
      delta: the allowed failure fraction, in (0, 1); m* is where the fitted P(hold) reaches 1 - delta.
      grid_m_star (float | None): the search's m*, for ``grid_steps_apart`` (optional).
      per_doubling: the search grid's widths per doubling.

    Returns:
      A ``HoldCurveFit`` (all None when every run held, none held, or fewer than two widths were tried).

    Raises:
      ValueError: delta outside (0, 1), ``holds`` not (widths, seeds), no widths, or a width <= 0.
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}.")
    widths = np.asarray(widths, np.float64).reshape(-1)
    holds = np.asarray(holds, bool)
    if holds.ndim != 2 or holds.shape[0] != widths.size or widths.size == 0:
        raise ValueError(f"holds must be (widths, seeds) with {widths.size} widths; got shape {holds.shape}.")
    if np.any(widths <= 0):
        raise ValueError("widths must be positive.")
    fraction = holds.mean(axis=1)
    if fraction.max() == 0 or fraction.min() == 1 or widths.size < 2:
        return HoldCurveFit(None, None, None, None, None)
    x = np.repeat(np.log(widths), holds.shape[1])
    t = holds.reshape(-1).astype(np.float64)
    center, scale = float(x.mean()), float(x.std()) or 1.0
    z = (x - center) / scale
    ridge = RIDGE

    def objective(theta):
        score = theta[0] + theta[1] * z
        # -log-likelihood: sum log(1 + e^s) - t s, written stably
        value = np.sum(np.logaddexp(0.0, score) - t * score) + ridge * theta[1] ** 2
        p = 0.5 * (1.0 + np.tanh(0.5 * score))
        grad = np.array([np.sum(p - t), np.sum((p - t) * z) + 2 * ridge * theta[1]])
        return value, grad

    fit = optimize.minimize(objective, np.zeros(2), jac=True, method="L-BFGS-B")
    a_s, b_s = (float(v) for v in fit.x)
    beta = b_s / scale
    alpha = a_s - beta * center
    if not beta > 0:
        return HoldCurveFit(alpha, beta, None, None, None)
    m_star = math.exp((math.log((1 - delta) / delta) - alpha) / beta)
    apart = None if grid_m_star is None else abs(math.log2(m_star / grid_m_star)) * per_doubling
    return HoldCurveFit(alpha, beta, m_star, apart, None if apart is None else apart <= 1.0 + 1e-9)


class LawFit(NamedTuple):
    """A least-squares law log m* = const + sum_j coef_j z_j over the measured units, with two-level bootstrap CIs.

    Attributes:
        names: the covariates' names, for example ("log n",) or ("log n", "log d", "log lambda_0").
        coef: the fitted coefficients (None where the design is rank-deficient).
        intercept: the constant.
        ci_low: the 2.5% quantile of each coefficient over the bootstrap draws (None when fewer than
            ``MIN_DRAWS`` draws had a full-rank design, or no draws were given).
        ci_high: the 97.5% quantile likewise.
        half_width: (ci_high - ci_low) / 2 per coefficient (None likewise).
        points: how many units entered the fit.
        censored_units: how many were left out as censored (or without a finite m*).
        groups: how many groups (family and size) the points came from.
        datasets_per_group: the fewest data sets any group had (1 means the bootstrap resampled initializations
            only).
        rank: the rank of the design [1, z].
    """

    names: tuple
    coef: list | None
    intercept: float | None
    ci_low: list | None
    ci_high: list | None
    half_width: list | None
    points: int
    censored_units: int
    groups: int
    datasets_per_group: int
    rank: int


def _least_squares(Z: np.ndarray, logm: np.ndarray):
    design = np.column_stack([np.ones(len(logm)), Z])
    rank = int(np.linalg.matrix_rank(design))
    if rank < design.shape[1]:
        return None, rank
    return np.linalg.lstsq(design, logm, rcond=None)[0], rank


def fit_log_linear(
    Z,
    m_star: Sequence,
    *,
    names: Sequence[str],
    groups: Sequence,
    draws=None,
    censored: Sequence[bool] | None = None,
    boot: int = 1000,
    seed: int = 0,
) -> LawFit:
    """Fit log m* = const + Z coef over units (rows of ``Z``), with a two-level bootstrap.

    A bootstrap replicate resamples, within every group, as many units as it has (with replacement), gives each
    picked unit one of its draws at random, and refits; a replicate in which a picked unit has no finite draw, or
    whose design is rank-deficient, is dropped.

    Args:
      Z (ArrayLike): (units, k) covariates (a (units,) vector is one covariate).
      m_star: (units,) each unit's measured m* (None or inf: none up to m_max).
      names: the k covariates' names.
      groups: (units,) a hashable label per unit (for example (family, n)); the units of one group are its data
        sets.
      draws (ArrayLike | None): (units, B) each unit's ``bootstrap_m_star`` draws over its initializations (inf
        where a draw's largest width failed); None: no intervals.
      censored: (units,) units to leave out although they carry a number (m* <= m_min).
      boot: the number of bootstrap replicates.
      seed: the seed of the bootstrap.

    Returns:
      A ``LawFit`` (coefficients None when the design of the kept units is rank-deficient).

    Raises:
      ValueError: Z, names, m_star, groups or draws disagree on the number of units or covariates.
    """
    Z = np.asarray(Z, np.float64)
    if Z.ndim == 1:
        Z = Z[:, None]
    names = tuple(names)
    units = Z.shape[0]
    if Z.shape[1] != len(names) or len(m_star) != units or len(groups) != units:
        raise ValueError(f"Z ({Z.shape}), names ({len(names)}), m_star and groups must agree on units and covariates.")
    m = np.array([np.inf if v is None else float(v) for v in m_star], np.float64)
    cut = np.zeros(units, bool) if censored is None else np.asarray(censored, bool)
    keep = np.isfinite(m) & (m > 0) & ~cut
    labels = [groups[i] for i in range(units) if keep[i]]
    distinct = list(dict.fromkeys(labels))
    members = {g: [i for i in range(units) if keep[i] and groups[i] == g] for g in distinct}
    fewest = min((len(v) for v in members.values()), default=0)
    coef, rank = _least_squares(Z[keep], np.log(m[keep])) if keep.any() else (None, 0)
    points, censored_units = int(keep.sum()), int((cut | ~np.isfinite(m)).sum())

    def result(coef_, intercept, lo_, hi_, half_) -> LawFit:
        return LawFit(names, coef_, intercept, lo_, hi_, half_, points, censored_units, len(distinct), fewest, rank)

    if coef is None:
        return result(None, None, None, None, None)
    lo = hi = half = None
    if draws is not None:
        D = np.asarray(draws, np.float64)
        if D.shape[0] != units:
            raise ValueError(f"draws must have one row per unit ({units}); got shape {D.shape}.")
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(boot):
            rows = []
            for g in distinct:
                picked = rng.choice(members[g], size=len(members[g]), replace=True)
                rows.extend(picked)
            rows = np.asarray(rows)
            values = D[rows, rng.integers(0, D.shape[1], size=rows.size)]
            if not np.all(np.isfinite(values) & (values > 0)):
                continue
            c, r = _least_squares(Z[rows], np.log(values))
            if c is not None:
                samples.append(c[1:])
        if len(samples) >= MIN_DRAWS:
            q = np.quantile(np.asarray(samples), [0.025, 0.975], axis=0)
            lo, hi = [float(v) for v in q[0]], [float(v) for v in q[1]]
            half = [(b - a) / 2 for a, b in zip(lo, hi)]
    return result([float(v) for v in coef[1:]], float(coef[0]), lo, hi, half)


def counting_ratio(m_star, d, n) -> np.ndarray:
    """m* d / n per unit (None -> NaN): the measured width over the counting bound md >= n (H(0) = J J^T with J of
    size n x md has rank at most md, so lambda_min(H(0)) > 0 needs md >= n)."""
    m = np.array([np.nan if v is None else float(v) for v in m_star], np.float64)
    return m * np.asarray(d, np.float64) / np.asarray(n, np.float64)
