"""``ntk_proofs.claims``: every claim is a stated test that can come out held, not held or inconclusive.

The counterfeit tests start from a real estimate (a log-log fit of a power law measured with noise, the worst ratio
of a bound, the difference of two samples), move it past the claim's margin, centre it inside, or widen it across
the boundary, and ask the claim's own ``judge`` for the verdict.
"""

import numpy as np
import pytest

from ntk_proofs.claims import (
    EXPONENT_HALF_WIDTH,
    Estimate,
    bound_claim,
    claim,
    claims_table,
    counterfeit,
    difference,
    exponent_claim,
    judge,
    verdict_counts,
)
from ntk_proofs.fit import loglog_slope
from tests.tolerances import tol


def _real_fit(slope=-0.5, seeds=4, noise=0.02, seed=0):
    """A fitted exponent from a power law y = m^slope measured with log-normal noise over 6 widths."""
    rng = np.random.default_rng(seed)
    m = np.repeat(2.0 ** np.arange(6, 12), seeds)
    return loglog_slope(m, m**slope * np.exp(noise * rng.standard_normal(m.size)))


@pytest.mark.parametrize("test", ["equals", "at_most", "at_least"])
def test_a_counterfeit_past_the_margin_is_not_held_a_centred_one_held_a_wide_one_inconclusive(test):
    row = exponent_claim("P", "y ~ m^-1/2", _real_fit(), -0.5, "cmd", test=test, margin=0.05)
    assert row.verdict == "held", row
    assert counterfeit(row, "violate").verdict == "not held"
    assert counterfeit(row, "satisfy").verdict == "held"
    assert counterfeit(row, "noisy").verdict == "inconclusive"


def test_a_real_fit_of_the_wrong_exponent_is_not_held():
    row = exponent_claim("P", "y ~ m^-1/2", _real_fit(slope=-0.7), -0.5, "cmd", margin=0.05)
    assert row.verdict == "not held"
    bound = exponent_claim("P", "O(m^-1/2)", _real_fit(slope=-0.3), -0.5, "cmd", test="at_most", margin=0.05)
    assert bound.verdict == "not held"


def test_an_at_most_bound_is_not_held_by_an_interval_that_merely_reaches_below_it():
    # the old rule (ci_low <= p) passed an exponent of 5 against "no faster than n^2" when its interval reached 2
    fit = dict(slope=3.5, ci_low=1.9, ci_high=5.1)
    row = exponent_claim("P", "m* <= n^2", fit, 2.0, "cmd", test="at_most", margin=0.0, max_half_width=None)
    assert row.verdict == "inconclusive"
    assert (
        exponent_claim(
            "P",
            "m* <= n^2",
            dict(slope=4, ci_low=3, ci_high=5),
            2.0,
            "c",
            test="at_most",
            margin=0,
            max_half_width=None,
        ).verdict
        == "not held"
    )


def test_the_power_rule_makes_a_wide_interval_inconclusive_even_when_it_contains_the_prediction():
    fit = _real_fit(seeds=1, noise=0.3, seed=3)
    assert (fit.ci_high - fit.ci_low) / 2 > EXPONENT_HALF_WIDTH
    row = exponent_claim("P", "y ~ m^-1/2", fit, fit.slope, "cmd", margin=1.0)
    assert row.verdict == "inconclusive"


def test_a_fit_without_an_interval_is_inconclusive_never_held():
    for fit in (dict(slope=-0.5, ci_low=None, ci_high=None), dict(slope=-0.5, ci_low=float("nan"), ci_high=-0.4)):
        assert exponent_claim("P", "y", fit, -0.5, "cmd", margin=0.05).verdict == "inconclusive"


@pytest.mark.parametrize(
    "worst, verdict", [(0.41, "held"), (1.0, "held"), (1.0 + 1e-9, "not held"), (np.inf, "inconclusive")]
)
def test_a_bound_holds_only_when_the_worst_ratio_is_at_most_one(worst, verdict):
    row = bound_claim("P", "L(k) <= envelope", worst, "cmd")
    assert row.verdict == verdict
    if np.isfinite(worst):
        assert counterfeit(row, "violate").verdict == "not held"
        assert counterfeit(row, "noisy").verdict == "inconclusive"
        assert counterfeit(row, "satisfy").verdict == "held"


def test_an_ordering_uses_the_interval_of_the_difference():
    rng = np.random.default_rng(1)
    a, b = 0.5 + 0.01 * rng.standard_normal(8), 0.6 + 0.01 * rng.standard_normal(8)
    est = difference(a, b)
    assert est.ci_low > 0 and abs(est.value - (b.mean() - a.mean())) < tol(np.float64)["atol"]  # a difference of means
    row = claim("P", "A < B", est, "at_least", 0.0, "cmd")
    assert row.verdict == "held"
    assert claim("P", "B < A", difference(b, a), "at_least", 0.0, "cmd").verdict == "not held"
    assert claim("P", "A < A'", difference(a, a + 1e-4), "at_least", 0.0, "cmd").verdict == "inconclusive"
    assert counterfeit(row, "violate").verdict == "not held" and counterfeit(row, "noisy").verdict == "inconclusive"
    one = difference([1.0], [2.0])
    assert claim("P", "1 seed", one, "at_least", 0.0, "cmd").verdict == "inconclusive"


def test_the_welch_interval_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(6), 1 + 2 * rng.standard_normal(9)
    est = difference(a, b)
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(0.95)
    np.testing.assert_allclose([est.ci_low, est.ci_high], [ci.low, ci.high], **tol(np.float64))


def test_bad_tests_margins_and_hypotheses_are_refused():
    with pytest.raises(ValueError, match="test must be"):
        judge(Estimate(1.0), "below", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="margin"):
        judge(Estimate(1.0), "equals", 1.0, -0.1)
    with pytest.raises(ValueError, match="hypotheses"):
        claim("P", "s", 1.0, "equals", 1.0, "cmd", hypotheses="mostly")


def test_the_table_has_the_test_margin_and_hypotheses_columns_and_escapes_pipes():
    rows = [
        bound_claim("P", "a | b", 0.5, "python -m x"),
        bound_claim("Q", "c", 3.0, "y", hypotheses="outside: width"),
        exponent_claim("R", "d", dict(slope=-0.5, ci_low=-0.9, ci_high=-0.1), -0.5, "z", margin=0.05),
    ]
    table = claims_table(rows).splitlines()
    assert table[0] == "| paper | claim | measured | test (target t) | margin e | hypotheses | verdict | command |"
    assert "a \\| b" in table[2] and table[2].endswith("| inside | held | `python -m x` |")
    assert "| outside: width | **not held** |" in table[3] and "*inconclusive*" in table[4]
    assert verdict_counts(rows) == {"held": 1, "not held": 1, "inconclusive": 1}
