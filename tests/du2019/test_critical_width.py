"""The critical width m*: the search against hold curves with known answers, and the statistical claim."""

import math

import jax
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du2019.bounds import infinite_width_spectrum
from ntk_proofs.du2019.critical_width import criterion_outcomes, critical_width
from tests.tolerances import approx, tol

SEEDS = 20


def _curve(threshold):
    """A monotone synthetic hold curve: the fraction of the 20 seeds that hold grows with log m, reaching
    0.9 exactly at m >= threshold."""

    def hold(m):
        count = SEEDS if m >= threshold else min(17, int(17 * math.log(m) / math.log(threshold)))
        return np.arange(SEEDS) < count

    return hold


def test_a_criterion_that_always_holds_gives_the_smallest_width():
    res = critical_width(
        None,
        None,
        criterion="linear",
        key=jax.random.PRNGKey(0),
        seeds=SEEDS,
        m_min=16,
        hold=lambda m: np.ones(SEEDS, bool),
    )
    assert res.m_star == 16 and list(res.widths) == [16, 32] and res.monotone  # m*, and its confirmation 2 m*


@pytest.mark.parametrize("threshold", [9, 100, 777, 5000])
def test_a_monotone_hold_curve_is_bracketed_to_the_resolution(threshold):
    res = critical_width(
        None, None, criterion="kernel", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8, hold=_curve(threshold)
    )
    low, high = res.bracket
    assert res.m_star == high and high >= threshold and res.monotone
    assert low is None or (low < threshold and high / low <= 2**0.25 * (1 + 1 / low))  # integer widths
    np.testing.assert_array_equal(np.diff(res.widths) > 0, True)
    assert np.all(res.hold_fraction[res.widths >= threshold] >= 0.9)


def test_a_non_monotone_hold_curve_is_reported():
    def hold(m):
        return np.arange(SEEDS) < (SEEDS if m in (16, 64) or m >= 1000 else 0)

    res = critical_width(
        None, None, criterion="init", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8, hold=hold, delta=0.1
    )
    assert res.m_star == 16
    res = critical_width(
        None,
        None,
        criterion="init",
        key=jax.random.PRNGKey(0),
        seeds=SEEDS,
        m_min=8,
        hold=lambda m: np.arange(SEEDS) < (SEEDS if m in (8, 32) else 0),
    )
    assert res.m_star == 8 and not res.monotone and res.violations == [(8, 16)]  # the confirmation at 16 fails
    curve = {8: 0, 16: 20, 32: 3, 64: 20}
    res = critical_width(
        None,
        None,
        criterion="init",
        key=jax.random.PRNGKey(0),
        seeds=SEEDS,
        m_min=8,
        resolution=1.01,
        hold=lambda m: np.arange(SEEDS) < curve.get(m, 20 if m > 16 else 0),
    )
    assert res.monotone in (True, False)
    ok = all(res.hold_fraction[i] <= res.hold_fraction[i + 1] for i in range(len(res.widths) - 1))
    assert res.monotone == ok and (res.violations == []) == ok


def test_bad_arguments():
    with pytest.raises(ValueError, match="criterion"):
        critical_width(None, None, criterion="fast", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="delta"):
        critical_width(None, None, criterion="init", key=jax.random.PRNGKey(0), delta=1.5)


def test_at_the_measured_critical_width_fresh_seeds_agree_within_the_binomial_error():
    """The "init" criterion (lambda_min(H(0)) >= lambda_0 / 2) on 8 points: m* from 20 seeds, then 60 fresh seeds
    at m*."""
    X = nt.unit_sphere(jax.random.PRNGKey(1), 8, 8)
    y = nt.gaussian_labels(jax.random.PRNGKey(2), 8)
    res = critical_width(X, y, criterion="init", key=jax.random.PRNGKey(3), seeds=SEEDS, m_min=4)
    assert res.m_star is not None, res  # (the hold fraction of 20 seeds may dip: reported in res.violations)
    spectrum = infinite_width_spectrum(X)
    fresh = criterion_outcomes(
        X, y, res.m_star, key=jax.random.PRNGKey(99), seeds=60, eta=1 / spectrum[-1], lambda0=spectrum[0], max_steps=0
    )["init"].mean()
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


def test_any_start_gives_the_same_bracket_on_a_monotone_curve():
    """The search may start anywhere (a guess from a smaller n): halving or doubling, it brackets the same m*."""
    for threshold in (9, 100, 777):
        base = critical_width(
            None, None, criterion="linear", key=jax.random.PRNGKey(0), seeds=SEEDS, m_min=8, hold=_curve(threshold)
        )
        for start in (8, 50, 300, 5000, 10**6):
            found = critical_widths_from(start, threshold)
            assert (found.m_star, found.bracket) == (base.m_star, base.bracket), (threshold, start)


def critical_widths_from(start, threshold):
    from ntk_proofs.du2019.critical_width import _search

    return _search(
        lambda m: {"linear": _curve(threshold)(m)},
        "linear",
        delta=0.1,
        m_min=8,
        m_max=2**20,
        resolution=2**0.25,
        start=start,
    )


def test_a_criterion_failing_up_to_m_max_has_no_critical_width():
    res = critical_width(
        None,
        None,
        criterion="kernel",
        key=jax.random.PRNGKey(0),
        seeds=SEEDS,
        m_min=8,
        m_max=100,
        hold=lambda m: np.zeros(SEEDS, bool),
    )
    assert res.m_star is None and res.bracket[1] is None and max(res.widths) <= 100
    assert max(res.widths) > 100 / 2  # it tried the last grid point below m_max


def test_bootstrap_of_m_star_resamples_the_initializations():
    from ntk_proofs.du2019.critical_width import CriticalWidth, bootstrap_m_star

    widths = np.array([8, 16, 32])
    holds = np.array([[False] * 20, [True] * 17 + [False] * 3, [True] * 20])
    res = CriticalWidth(16, widths, holds.mean(1), holds, True, [], (8, 16), "linear", 0.1, 20)
    draws = bootstrap_m_star(res, draws=4000, seed=1)
    assert set(np.unique(draws)) <= {16.0, 32.0}
    # a resample holds at 16 iff it draws at most 2 of the 3 failing seeds: P = Binomial(20, 3/20) <= 2
    p = sum(math.comb(20, k) * 0.15**k * 0.85 ** (20 - k) for k in range(3))
    # four binomial standard errors of a frequency over 4000 draws: a statistical margin (false failure < 1e-4)
    assert np.mean(draws == 16) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 4000))
    censored = res._replace(holds=holds[:2], widths=widths[:2], hold_fraction=holds[:2].mean(1))
    assert np.isinf(bootstrap_m_star(censored, draws=500, seed=1)).mean() > 0.3


def test_fit_exponent_recovers_a_power_law_and_its_bootstrap_interval():
    from ntk_proofs.du2019.critical_width import fit_exponent

    rng = np.random.default_rng(0)
    n = np.array([8.0, 16, 32, 64])
    draws = 3.0 * n[:, None] ** 1.5 * np.exp(0.1 * rng.standard_normal((4, 500)))
    fit = fit_exponent(n, list(3.0 * n**1.5), draws)
    # a least-squares slope of exact power-law points: ulps, tighter than the table, kept from before it
    assert fit.slope == pytest.approx(1.5, rel=1e-12, abs=1e-12) and fit.points == 4
    assert fit.ci_low < 1.5 < fit.ci_high and fit.ci_high - fit.ci_low < 0.3
    left_out = fit_exponent(n, [24, None, 100, 400], draws)
    assert left_out.points == 3 and left_out.slope == approx(
        np.polyfit(np.log(n[[0, 2, 3]]), np.log([24, 100, 400]), 1)[0]
    )
    assert fit_exponent(n, [None, None, None, 5]).slope is None


def test_batched_kernel_losses_equal_the_kernel_prediction_of_each_run():
    from ntk_proofs.du2019.critical_width import kernel_losses

    X = nt.unit_sphere(jax.random.PRNGKey(1), 7, 5)
    R = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (3, 7)))
    H = nt.gram_infinity(X)
    got = kernel_losses(X, R, eta=0.4, steps=9)
    for b in range(3):
        # the table's rtol; atol 1e-14, tighter than the table's 1e-12, kept from before it
        np.testing.assert_allclose(got[b], nt.kernel_prediction(H, R[b], eta=0.4, steps=9), **dict(tol(H), atol=1e-14))


def test_envelope_steps_is_where_the_linear_envelope_reaches_tol():
    from ntk_proofs.du2019.critical_width import envelope_steps

    K = envelope_steps(0.5, 0.2, 1e-4)
    assert 0.95**K <= 1e-4 < 0.95 ** (K - 1)
    with pytest.raises(ValueError):
        envelope_steps(20.0, 0.2, 1e-4)


def test_shared_runs_give_every_criterion_and_record_how_runs_ended():
    from ntk_proofs.du2019.critical_width import critical_widths

    X = nt.unit_sphere(jax.random.PRNGKey(1), 6, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(2), 6)
    seen = []
    res = critical_widths(
        X, y, criteria=("init", "linear"), key=jax.random.PRNGKey(3), seeds=6, m_min=4, m_max=256, on_width=seen.append
    )
    assert set(res) == {"init", "linear"} and len(seen) == len(set(seen))  # each width ran once, for both
    assert set(res["init"].widths) | set(res["linear"].widths) == set(seen)
    for r in res.values():
        assert r.converged.shape == r.end_step.shape == r.holds.shape and np.all(r.end_step <= r.steps)
        assert np.all(r.end_step[r.converged] < r.steps + 1)
    alone = critical_width(X, y, criterion="linear", key=jax.random.PRNGKey(3), seeds=6, m_min=4, m_max=256)
    shared = res["linear"]
    common = set(alone.widths) & set(shared.widths)
    assert common  # the same initializations, so the same outcomes, at every width both searches tried
    for w in common:
        np.testing.assert_array_equal(
            alone.holds[list(alone.widths).index(w)], shared.holds[list(shared.widths).index(w)]
        )


def test_a_later_block_of_initializations_continues_the_first():
    """Initialization s of width m is one net whichever block draws it (partitionable threefry: split(k, n)[s] is
    fold_in(k, s)), so a refined search's extra blocks never repeat a net of the first block."""
    from ntk_proofs.du2019.critical_width import search_initializations

    assert jax.config.jax_threefry_partitionable
    key = jax.random.PRNGKey(7)
    whole = search_initializations(key, 13, 5, 16)
    later = search_initializations(key, 13, 5, 8, first=8)
    np.testing.assert_array_equal(later.W, whole.W[8:])
    np.testing.assert_array_equal(later.a, whole.a[8:])
    assert not np.any(np.all(whole.W[:8, None] == whole.W[None, 8:], axis=(2, 3)))


def test_a_search_whose_two_estimates_disagree_pools_more_initializations():
    """``critical_widths(max_seeds=...)``: Lemma 3.1's criterion on 6 points with 8 initializations per width puts
    the logistic estimate of m* more than a grid step from the grid's m*, so its search runs again with 8 more
    initializations per width, pooled; "init", whose two estimates agree, is left as it was. The pooled outcomes
    are the criterion on initializations 0, ..., seeds - 1 of one draw (checked against concentration_gaps on
    those nets), and the search stops at agreement or at max_seeds."""
    from ntk_proofs.du2019.critical_width import (
        CONCENTRATION_FRACTION,
        concentration_gaps,
        critical_widths,
        search_initializations,
    )
    from ntk_proofs.du2019.width_law import fit_hold_curve

    X = nt.unit_sphere(jax.random.PRNGKey(102), 6, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(2), 6)
    key = jax.random.PRNGKey(5)
    kw = dict(criteria=("init", "concentration"), key=key, seeds=8, m_min=1, m_max=4096)
    plain = critical_widths(X, y, **kw)
    refined = critical_widths(X, y, max_seeds=32, **kw)

    def agrees(r):
        return fit_hold_curve(r.widths, r.holds, delta=r.delta, grid_m_star=r.m_star, per_doubling=4).agrees

    assert agrees(plain["init"]) and not agrees(plain["concentration"])
    np.testing.assert_array_equal(refined["init"].holds, plain["init"].holds)
    assert refined["init"].seeds == 8 and refined["init"].m_star == plain["init"].m_star
    r = refined["concentration"]
    assert r.seeds in (16, 24, 32) and r.holds.shape == (len(r.widths), r.seeds)
    assert agrees(r) or r.seeds == 32
    lambda0 = float(infinite_width_spectrum(X)[0])
    for m, held in zip(r.widths, r.holds):
        nets = search_initializations(key, int(m), 6, r.seeds, X.dtype)
        np.testing.assert_array_equal(held, concentration_gaps(X, nets.W, lambda0) <= CONCENTRATION_FRACTION)
    with pytest.raises(ValueError, match="max_seeds"):
        critical_widths(X, y, max_seeds=4, **kw)
