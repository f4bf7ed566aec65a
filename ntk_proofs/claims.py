"""The claims the suite checks, as rows of ``figures/CLAIMS.md``: each one a stated test that could have failed.

A claim compares an *estimate* (a value with a 95% confidence interval, or an exact value with none) against a
*target* under one of three tests, with a *margin* fixed in the code before the result is seen:

- ``"equals"`` (an equivalence test): held when the whole interval lies inside [target - margin, target + margin],
  not held when it lies wholly outside, inconclusive otherwise;
- ``"at_most"``: held when the interval's upper end is <= target + margin, not held when its lower end is above
  target + margin, inconclusive otherwise;
- ``"at_least"``: the mirror image (held when the lower end is >= target - margin).

A *bound* ("the measured/bound ratio <= 1 at every step and seed") is ``at_most`` of the worst ratio against 1 with
margin 0 and no interval; an *ordering* A < B is ``at_least`` of the difference B - A against 0, with the interval
of that difference. An exponent claim also needs *power*: when the interval's half-width exceeds
``max_half_width`` (``EXPONENT_HALF_WIDTH`` = 0.1 for fitted exponents), the row is inconclusive whatever the
point estimate says. A row is never held by default: a missing or non-finite interval is inconclusive.

Each row also says whether its run lies inside the cited result's hypotheses (``hypotheses``), so an extrapolation
of a theorem's conclusions is never labelled as the theorem.

``counterfeit`` rebuilds a row from a shifted or widened copy of its own estimate and judges it with the same
``judge``: the suite's tests use it to show that every claim can come out "not held" and "inconclusive".
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
from scipy import stats

Test = Literal["equals", "at_most", "at_least"]
Verdict = Literal["held", "not held", "inconclusive"]
TESTS: tuple[Test, ...] = ("equals", "at_most", "at_least")

# an exponent fitted from a handful of widths is only evidence when its 95% interval is this narrow: the power
# rule (a half-width of 0.1 tells -1/2 from 0 or -1 and from the extreme-value-corrected -0.45)
EXPONENT_HALF_WIDTH = 0.1


class Estimate(NamedTuple):
    """A measured number and its two-sided 95% confidence interval.

    Attributes:
      value: the point estimate.
      ci_low: the interval's lower end; None (with ``ci_high``) for an exact (deterministic) number, which is its
        own interval.
      ci_high: the interval's upper end.
    """

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high): the confidence interval, or (value, value) for an exact number."""
        if self.ci_low is None or self.ci_high is None:
            return float(self.value), float(self.value)
        return float(self.ci_low), float(self.ci_high)

    @property
    def half_width(self) -> float:
        lo, hi = self.interval
        return (hi - lo) / 2


class Claim(NamedTuple):
    """One row of figures/CLAIMS.md.

    Attributes:
      paper: the result cited, with its theorem, lemma or section.
      statement: what is claimed, in words.
      estimate: what was measured (``Estimate``).
      test: "equals", "at_most" or "at_least" (module doc).
      target: the prediction or bound the estimate is tested against.
      margin: the pre-registered margin (a named constant where the claim is made).
      verdict: "held", "not held" or "inconclusive", from ``judge``.
      hypotheses: "inside" the result's hypotheses, or "outside: ..." saying which ones the run breaks.
      command: the command that made the number.
      measured: the estimate as the table shows it.
      max_half_width: the power rule (None: no rule; exact numbers).
    """

    paper: str
    statement: str
    estimate: Estimate
    test: Test
    target: float
    margin: float
    verdict: Verdict
    hypotheses: str
    command: str
    measured: str
    max_half_width: float | None = None

    @property
    def held(self) -> bool:
        return self.verdict == "held"


def judge(estimate: Estimate, test: Test, target: float, margin: float = 0.0, max_half_width=None) -> Verdict:
    """The verdict of ``test`` on ``estimate`` against ``target`` with ``margin`` (module doc).

    Raises:
      ValueError: for an unknown test or a negative margin.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}; got {test!r}.")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0; got {margin}.")
    lo, hi = estimate.interval
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return "inconclusive"
    if max_half_width is not None and (hi - lo) / 2 > max_half_width:
        return "inconclusive"
    if test == "equals":
        if target - margin <= lo and hi <= target + margin:
            return "held"
        if hi < target - margin or lo > target + margin:
            return "not held"
        return "inconclusive"
    if test == "at_most":
        return "held" if hi <= target + margin else "not held" if lo > target + margin else "inconclusive"
    return "held" if lo >= target - margin else "not held" if hi < target - margin else "inconclusive"


def _num(value: float) -> str:
    value = float(value)
    return f"{value:.4g}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.3e}"


def _measured(estimate: Estimate) -> str:
    if estimate.ci_low is None or estimate.ci_high is None:
        return _num(estimate.value)
    return f"{_num(estimate.value)} [{_num(estimate.ci_low)}, {_num(estimate.ci_high)}]"


def claim(
    paper: str,
    statement: str,
    estimate: Estimate | float,
    test: Test,
    target: float,
    command: str,
    *,
    margin: float = 0.0,
    hypotheses: str = "inside",
    max_half_width: float | None = None,
    measured: str | None = None,
) -> Claim:
    """A claim judged by ``judge`` (module doc); a plain float is an exact estimate with no interval.

    Raises:
      ValueError: for an unknown test, a negative margin, or ``hypotheses`` neither "inside" nor "outside: ...".
    """
    est = estimate if isinstance(estimate, Estimate) else Estimate(float(estimate))
    if hypotheses != "inside" and not hypotheses.startswith("outside: "):
        raise ValueError(f"hypotheses must be 'inside' or 'outside: <which ones>'; got {hypotheses!r}.")
    verdict = judge(est, test, target, margin, max_half_width)
    return Claim(
        paper,
        statement,
        est,
        test,
        float(target),
        float(margin),
        verdict,
        hypotheses,
        command,
        _measured(est) if measured is None else measured,
        max_half_width,
    )


def bound_claim(paper: str, statement: str, worst_ratio: float, command: str, **kw) -> Claim:
    """A bound: the worst measured/bound ratio over every step and seed is <= 1 (exact, margin 0)."""
    return claim(paper, statement, Estimate(float(worst_ratio)), "at_most", 1.0, command, **kw)


def exponent_claim(
    paper: str,
    statement: str,
    fit,
    exponent: float,
    command: str,
    *,
    test: Test = "equals",
    margin: float,
    max_half_width: float = EXPONENT_HALF_WIDTH,
    **kw,
) -> Claim:
    """A scaling claim y ~ x^exponent from a log-log fit (a dict or NamedTuple with slope, ci_low, ci_high):
    ``test="equals"`` for a predicted exponent, ``"at_most"`` for an O(x^exponent) bound. Held only with the power
    rule met (``max_half_width``); a fit without an interval is inconclusive."""
    fields = fit if isinstance(fit, dict) else fit._asdict()
    lo, hi = fields.get("ci_low"), fields.get("ci_high")
    nan = float("nan")
    slope = fields.get("slope")
    est = Estimate(
        nan if slope is None else float(slope), nan if lo is None else float(lo), nan if hi is None else float(hi)
    )
    return claim(paper, statement, est, test, exponent, command, margin=margin, max_half_width=max_half_width, **kw)


def difference(a, b, confidence: float = 0.95) -> Estimate:
    """mean(b) - mean(a) with Welch's t interval, for an ordering claim A < B; one sample each gives no interval
    (NaN ends: inconclusive unless the caller treats the numbers as exact).

    Raises:
      ValueError: a or b holds no sample.
    """
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("difference needs at least one sample on each side.")
    diff = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        return Estimate(diff, float("nan"), float("nan"))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, diff, diff)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return Estimate(diff, diff - half, diff + half)


def counterfeit(row: Claim, kind: Literal["violate", "satisfy", "noisy"]) -> Claim:
    """The same claim on a counterfeit of its own estimate, judged by the same code: ``"violate"`` moves the
    interval past the margin on the wrong side (not held), ``"satisfy"`` centres an interval well inside (held),
    ``"noisy"`` widens it across the decision boundary (inconclusive)."""
    t, e = row.target, row.margin
    width = 0.25 * (row.max_half_width if row.max_half_width is not None else max(e, 0.1 * max(abs(t), 1.0)))
    upper, lower = t + e, t - e
    if kind == "violate":
        centre = lower - 2 * width if row.test == "at_least" else upper + 2 * width
        est = Estimate(centre, centre - width / 2, centre + width / 2)
    elif kind == "satisfy":
        centre = t if row.test == "equals" else upper - 2 * width if row.test == "at_most" else lower + 2 * width
        half = min(width / 2, e / 2) if row.test == "equals" else width / 2
        est = Estimate(centre, centre - half, centre + half)
    elif kind == "noisy":
        boundary = lower if row.test == "at_least" else upper
        est = Estimate(boundary, boundary - width, boundary + width)
    else:
        raise ValueError(f"kind must be 'violate', 'satisfy' or 'noisy'; got {kind!r}.")
    return claim(
        row.paper,
        row.statement,
        est,
        row.test,
        row.target,
        row.command,
        margin=row.margin,
        hypotheses=row.hypotheses,
        max_half_width=row.max_half_width,
    )


_TEST_TEXT = {
    "equals": "equivalence: CI in [t-e, t+e]",
    "at_most": "CI upper end <= t+e",
    "at_least": "CI lower end >= t-e",
}


def claims_table(rows: list[Claim]) -> str:
    """The claims as a Markdown table (figures/CLAIMS.md), with the test, its margin and the hypotheses column."""

    def cell(text) -> str:
        return str(text).replace("|", "\\|")

    lines = [
        "| paper | claim | measured | test (target t) | margin e | hypotheses | verdict | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{_TEST_TEXT[r.test]}, t = {_num(r.target)}"
        if r.max_half_width is not None:
            test += f"; CI half-width <= {r.max_half_width:g}"
        if r.estimate.ci_low is None:
            test += " (exact)"
        verdict = {"held": "held", "not held": "**not held**", "inconclusive": "*inconclusive*"}[r.verdict]
        lines.append(
            "| "
            + " | ".join(cell(x) for x in (r.paper, r.statement, r.measured, test, _num(r.margin), r.hypotheses))
            + f" | {verdict} | `{r.command}` |"
        )
    return "\n".join(lines) + "\n"


def verdict_counts(rows: list[Claim]) -> dict[str, int]:
    """How many rows are held, not held and inconclusive."""
    return {v: sum(r.verdict == v for r in rows) for v in ("held", "not held", "inconclusive")}
