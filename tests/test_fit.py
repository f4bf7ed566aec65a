import numpy as np
import pytest

import ntk_proofs as nt
from tests.tolerances import approx


def test_exact_power_law_slope_and_intercept():
    x = np.array([16, 64, 256, 1024.0])
    f = nt.loglog_slope(x, 3.0 * x**-0.5)
    # a least-squares fit of exact points: the slope to 1e-12 absolute (tighter than the table, kept from before it),
    # the intercept to the table, and an interval of zero width up to round-off
    assert f.slope == pytest.approx(-0.5, abs=1e-12) and f.intercept == approx(np.log(3.0))
    assert f.ci_high - f.ci_low < 1e-10 and f.points == 4


def test_confidence_interval_covers_the_true_slope_at_its_level():
    rng = np.random.default_rng(0)
    x = np.repeat([16, 64, 256, 1024, 4096.0], 3)
    trials = 400
    hits = sum(
        (lambda f: f.ci_low <= -0.5 <= f.ci_high)(
            nt.loglog_slope(x, x**-0.5 * np.exp(0.2 * rng.standard_normal(x.size)))
        )
        for _ in range(trials)
    )
    # Binomial(400, 0.95): mean 380, standard deviation 4.4; 6 sd either side.
    assert abs(hits - 0.95 * trials) < 6 * np.sqrt(trials * 0.95 * 0.05)


def test_non_positive_values_are_dropped_and_errors_are_clear():
    f = nt.loglog_slope([1, 2, 4, 8], [1.0, 0.0, 0.25, 0.125])
    assert f.points == 3 and f.slope == approx(-1.0)
    assert np.isnan(nt.loglog_slope([1, 2], [0.0, 0.0]).slope)
    with pytest.raises(ValueError, match="same length"):
        nt.loglog_slope([1, 2], [1.0])
    with pytest.raises(ValueError, match="positive"):
        nt.loglog_slope([0, 2], [1.0, 1.0])
