"""Power-law fits: the slope of log y against log x, with a confidence interval over all (x, seed) points.

Used to test scaling claims such as max drift ~ m^{-1/2} (Du et al. 2019, Theorem 4.1: R' ~ m^{-1/2}).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import stats


class SlopeFit(NamedTuple):
    """Least-squares fit log y = intercept + slope log x, with a two-sided confidence interval.

    Attributes:
      slope: the fitted exponent (NaN when fewer than 2 points or a single distinct x entered the fit).
      intercept: the fitted log C of y ~ C x^slope (NaN as ``slope``).
      ci_low: the lower end of the slope's interval at ``confidence`` (Student t with points - 2 degrees of
        freedom; NaN when fewer than 3 points).
      ci_high: its upper end.
      stderr: the slope's standard error.
      points: how many (x, y) pairs entered the fit (y <= 0 and non-finite y are left out).
      confidence: the interval's confidence level.
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    stderr: float
    points: int
    confidence: float


def loglog_slope(x, y, confidence: float = 0.95) -> SlopeFit:
    """Fit y ~ C x^slope by least squares on (log x, log y).

    Repeated x (several seeds per width) are fine and narrow the interval. Points with y <= 0 or a
    non-finite y cannot enter a log-log fit and are dropped (see ``points``).

    Args:
      x (ArrayLike): positive abscissae, any shape (flattened).
      y (ArrayLike): the values, as many as x.
      confidence: the level of the slope's two-sided interval, in (0, 1).

    Returns:
      A ``SlopeFit`` (NaN fields where too few points remain).

    Raises:
      ValueError: x and y differ in size, confidence is outside (0, 1), or some x <= 0.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length; got {x.size} and {y.size}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}.")
    if np.any(x <= 0):
        raise ValueError("x must be positive for a log-log fit.")
    keep = np.isfinite(y) & (y > 0)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    points = int(keep.sum())
    if points < 2 or np.unique(lx).size < 2:
        nan = float("nan")
        return SlopeFit(nan, nan, nan, nan, nan, points, confidence)
    fit: Any = stats.linregress(lx, ly)  # a LinregressResult (its stubs type it as a tuple)
    if points > 2:
        half = float(stats.t.ppf(0.5 + confidence / 2, points - 2) * fit.stderr)
        lo, hi = fit.slope - half, fit.slope + half
    else:
        lo = hi = float("nan")
    return SlopeFit(float(fit.slope), float(fit.intercept), float(lo), float(hi), float(fit.stderr), points, confidence)
