"""The critical width m*: the search against hold curves with known answers, and the statistical claim."""

import math

import jax
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du2019.critical_width import critical_width, criterion_outcomes
from ntk_proofs.du2019.bounds import infinite_width_spectrum

SEEDS = 20


def _curve(threshold):
    """A monotone synthetic hold curve: the fraction of the 20 seeds that hold grows with log m, reaching
    0.9 exactly at m >= threshold."""
    def hold(m):
        count = SEEDS if m >= threshold else min(17, int(17 * math.log(m) / math.log(threshold)))
        return np.arange(SEEDS) < count
    return hold


def test_a_criterion_that_always_holds_gives_the_smallest_width():
    res = critical_width(None, None, criterion="linear", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=16,
                         hold=lambda m: np.ones(SEEDS, bool))
    assert res.m_star == 16 and list(res.widths) == [16] and res.monotone


@pytest.mark.parametrize("threshold", [9, 100, 777, 5000])
def test_a_monotone_hold_curve_is_bracketed_to_the_resolution(threshold):
    res = critical_width(None, None, criterion="kernel", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8,
                         hold=_curve(threshold))
    low, high = res.bracket
    assert res.m_star == high and high >= threshold and res.monotone
    assert low is None or (low < threshold and high / low <= 2**0.25 * (1 + 1 / low))  # integer widths
    np.testing.assert_array_equal(np.diff(res.widths) > 0, True)
    assert np.all(res.hold_fraction[res.widths >= threshold] >= 0.9)


def test_a_non_monotone_hold_curve_is_reported():
    def hold(m):
        return np.arange(SEEDS) < (SEEDS if m in (16, 64) or m >= 1000 else 0)
    res = critical_width(None, None, criterion="init", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8,
                         hold=hold, delta=0.1)
    assert res.m_star == 16
    res = critical_width(None, None, criterion="init", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8,
                         hold=lambda m: np.arange(SEEDS) < (SEEDS if m in (8, 32) else 0))
    assert res.m_star == 8 and res.monotone  # one width tried
    curve = {8: 0, 16: 20, 32: 3, 64: 20}
    res = critical_width(None, None, criterion="init", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8,
                         resolution=1.01, hold=lambda m: np.arange(SEEDS) < curve.get(m, 20 if m > 16 else 0))
    assert res.monotone in (True, False)
    ok = all(res.hold_fraction[i] <= res.hold_fraction[i + 1] for i in range(len(res.widths) - 1))
    assert res.monotone == ok and (res.violations == []) == ok


def test_bad_arguments():
    with pytest.raises(ValueError, match="criterion"):
        critical_width(None, None, criterion="fast", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="delta"):
        critical_width(None, None, criterion="init", key=jax.random.PRNGKey(0), delta=1.5)


def test_at_the_measured_critical_width_fresh_seeds_agree_within_the_binomial_error():
    """The concentration step (Lemma 3.1) on 8 points: m* from 20 seeds, then 60 fresh seeds at m*."""
    X = nt.unit_sphere(jax.random.PRNGKey(1), 8, 8)
    y = nt.gaussian_labels(jax.random.PRNGKey(2), 8)
    res = critical_width(X, y, criterion="init", key=jax.random.PRNGKey(3), seeds=SEEDS, m_min=4)
    assert res.m_star is not None, res  # (the hold fraction of 20 seeds may dip: reported in res.violations)
    spectrum = infinite_width_spectrum(X)
    fresh = criterion_outcomes(X, y, res.m_star, key=jax.random.PRNGKey(99), seeds=60, eta=1 / spectrum[-1],
                               lambda0=spectrum[0], max_steps=0)["init"].mean()
    p = 0.9
    assert fresh >= p - 3 * math.sqrt(p * (1 - p) / 60), (res, fresh)


def test_wide_nets_hold_every_criterion_and_narrow_ones_fail_the_trajectory():
    X = nt.unit_sphere(jax.random.PRNGKey(1), 6, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(2), 6)
    spectrum = infinite_width_spectrum(X)
    kw = dict(seeds=2, eta=1 / spectrum[-1], lambda0=spectrum[0], max_steps=60)
    wide = criterion_outcomes(X, y, 2**17, key=jax.random.PRNGKey(4), **kw)  # "kernel" needs the widest
    assert all(np.all(v) for v in wide.values()), wide
    narrow = criterion_outcomes(X, y, 2, key=jax.random.PRNGKey(5), **kw)
    assert not np.any(narrow["trajectory"]) and not np.any(narrow["init"])
