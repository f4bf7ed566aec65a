"""The critical width as a scaling law (ntk_proofs.du2019.width_law), Lemma 3.1's concentration criterion, the
search's censoring and the published-widths table: each against a known answer or an independent computation."""

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019.critical_width import CONCENTRATION_FRACTION, concentration_gaps, critical_width
from ntk_proofs.du2019.gram import gram_infinity_float64
from ntk_proofs.du2019.published_widths import PUBLISHED_WIDTHS, published_widths
from ntk_proofs.du2019.width_law import counting_ratio, fit_hold_curve, fit_log_linear
from ntk_proofs.models.two_layer import init_params
from tests.tolerances import approx, tol


def _logistic_holds(widths, seeds, alpha, beta, rng):
    p = 1 / (1 + np.exp(-(alpha + beta * np.log(widths))))
    return rng.random((len(widths), seeds)) < p[:, None]


@pytest.mark.parametrize("alpha,beta", [(-8.0, 3.0), (-20.0, 4.0), (-5.0, 1.5)])
def test_the_hold_curve_fit_recovers_a_known_logistic_curve(alpha, beta):
    rng = np.random.default_rng(0)
    widths = np.unique(np.round(2 ** np.arange(0, 14, 0.25)).astype(int))
    holds = _logistic_holds(widths, 2000, alpha, beta, rng)
    fit = fit_hold_curve(widths, holds, delta=0.1)
    truth = math.exp((math.log(9.0) - alpha) / beta)
    # 2000 seeds x ~50 widths: the slope's standard error is about 1%, so m* is within ~5% (3 standard errors)
    assert fit.beta == pytest.approx(beta, rel=0.05)
    assert fit.m_star == pytest.approx(truth, rel=0.05)


def test_perfectly_separated_outcomes_put_the_fitted_m_star_inside_the_separating_bracket():
    widths = np.array([4, 5, 6, 7, 8, 10, 11, 13, 16])
    holds = np.repeat((widths >= 10)[:, None], 20, axis=1)
    fit = fit_hold_curve(widths, holds, delta=0.1, grid_m_star=10, per_doubling=4)
    assert 8 < fit.m_star <= 10 * 2**0.25 and fit.agrees
    assert fit.grid_steps_apart == approx(abs(math.log2(fit.m_star / 10)) * 4)


def test_a_curve_that_never_or_always_holds_has_no_fitted_m_star():
    widths = np.array([2, 4, 8])
    for value in (True, False):
        fit = fit_hold_curve(widths, np.full((3, 5), value), delta=0.1, grid_m_star=2)
        assert fit.m_star is None and fit.agrees is None
    falling = np.array([[True] * 5, [True] * 3 + [False] * 2, [False] * 5])  # holds less as m grows
    assert fit_hold_curve(widths, falling, delta=0.1).m_star is None
    with pytest.raises(ValueError, match="holds"):
        fit_hold_curve(widths, np.ones((2, 5), bool), delta=0.1)


def _units(a, b, c, groups=6, per_group=5, spread=0.0, rng=None):
    """Synthetic (n, d, lambda_0, m*) units following log m* = 1 + a log n + b log d + c log lambda_0, with a
    per-data-set factor exp(spread N(0, 1)) and bootstrap draws within a data set spread by 2%."""
    rng = rng or np.random.default_rng(1)
    Z, m, g, draws = [], [], [], []
    for k in range(groups):
        n = 8 * 2**k
        for family, d in (("sphere", n), ("fixed", 8)):
            for _ in range(per_group):
                lam = rng.uniform(0.05, 0.5)
                value = math.exp(1 + a * math.log(n) + b * math.log(d) + c * math.log(lam) + spread * rng.normal())
                Z.append([math.log(n), math.log(d), math.log(lam)])
                m.append(value)
                g.append((family, n))
                draws.append(value * np.exp(0.02 * rng.normal(size=200)))
    return np.array(Z), m, g, np.array(draws)


def test_the_log_linear_law_recovers_known_exponents_and_its_interval_covers_them():
    Z, m, g, draws = _units(1.5, -0.5, -1.0, spread=0.05)
    fit = fit_log_linear(Z, m, names=("log n", "log d", "log lambda_0"), groups=g, draws=draws, boot=400)
    for got, want, lo, hi in zip(fit.coef, (1.5, -0.5, -1.0), fit.ci_low, fit.ci_high):
        # a margin for a coefficient fitted to noisy units (spread 0.05), not round-off; the interval check is exact
        assert got == pytest.approx(want, abs=0.1) and lo <= want <= hi
    assert fit.points == len(m) and fit.censored_units == 0 and fit.rank == 4 and fit.datasets_per_group == 5


def test_the_two_level_bootstrap_carries_the_variation_between_data_sets():
    """Same within-data-set draws; data sets that scatter must widen the interval (resampling the initializations
    alone would not see the scatter)."""
    tight = _call(*_two(0.0), names=("log n",), boot=400)
    loose = _call(*_two(0.4), names=("log n",), boot=400)
    assert loose.half_width[0] > 3 * tight.half_width[0]


def _two(spread):
    Z, m, g, draws = _units(2.0, 0.0, 0.0, spread=spread, rng=np.random.default_rng(3))
    keep = np.array([fam == "sphere" for fam, _ in g])
    return Z[keep, 0], [v for v, k in zip(m, keep) if k], [x for x, k in zip(g, keep) if k], draws[keep]


def _call(Z, m, g, draws, **kw):
    return fit_log_linear(Z, m, groups=g, draws=draws, **kw)


def test_censored_units_are_left_out_and_counted_not_fitted():
    Z, m, g, draws = _two(0.0)
    base = _call(Z, m, g, draws, names=("log n",), boot=100)
    Z2 = np.append(Z, Z[0])
    m2 = [*m, 1e9]  # a censored unit's number is an upper bound, here an absurd one: it must not move the fit
    g2 = [*g, g[0]]
    d2 = np.vstack([draws, np.full((1, draws.shape[1]), 1e9)])
    cut = [False] * len(m) + [True]
    again = _call(Z2, m2, g2, d2, names=("log n",), censored=cut, boot=100)
    assert again.coef == approx(base.coef) and again.censored_units == 1
    unbounded = _call(Z2, [*m, None], g2, d2, names=("log n",), boot=100)  # none up to m_max: left out too
    assert unbounded.coef == approx(base.coef) and unbounded.censored_units == 1


def test_a_rank_deficient_design_gives_no_law_instead_of_a_number():
    Z, m, g, draws = _units(1.0, 0.0, 0.0, groups=3)
    keep = np.array([fam == "sphere" for fam, _ in g])  # d = n only: log d is log n
    Zs = Z[keep][:, :2]
    fit = fit_log_linear(
        Zs, [v for v, k in zip(m, keep) if k], names=("log n", "log d"), groups=list(range(keep.sum()))
    )
    assert fit.coef is None and fit.rank == 2


def test_counting_ratio_is_m_d_over_n():
    np.testing.assert_allclose(
        counting_ratio([4, None, 10], [2, 3, 8], [8, 9, 16]), [1.0, np.nan, 5.0], **tol(np.float64)
    )


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 12), d=st.integers(2, 8), m=st.integers(1, 300), seed=st.integers(0, 10**6))
def test_concentration_gap_equals_an_independent_float64_computation(n, d, m, seed):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, d)
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), 2)
    W = jax.vmap(lambda k: init_params(k, m, d).W)(keys)
    gaps = concentration_gaps(X, W, 0.1)
    X64 = np.asarray(X, np.float64)
    Hinf = gram_infinity_float64(X)
    for b in range(2):
        P = (np.asarray(X) @ np.asarray(W[b]).T >= 0).astype(np.float64)  # the working dtype's patterns
        H0 = (X64 @ X64.T) * (P @ P.T) / m
        want = np.linalg.norm(H0 - Hinf, 2) / 0.1
        np.testing.assert_allclose(gaps[b], want, **tol(np.float64))


def test_concentration_holds_for_wide_nets_and_fails_for_a_single_neuron():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 6, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 6)
    res = critical_width(X, y, criterion="concentration", key=jax.random.PRNGKey(2), seeds=10, m_min=1, m_max=2**16)
    assert res.m_star is not None and res.censored == "" and res.steps == 0
    assert res.hold_fraction[0] == 0.0  # m = 1: H(0) is rank one, ||H(0) - H^inf|| >= lambda_0 > lambda_0 / 4
    lam0 = float(np.linalg.eigvalsh(gram_infinity_float64(X))[0])
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(2), res.m_star), 10)
    W = jax.vmap(lambda k: init_params(k, res.m_star, 6).W)(keys)
    held = concentration_gaps(X, W, lam0) <= CONCENTRATION_FRACTION  # the search's own draws at m*
    np.testing.assert_array_equal(held, res.holds[list(res.widths).index(res.m_star)])


@pytest.mark.parametrize(
    "hold,censored",
    [(lambda m: np.ones(20, bool), "below"), (lambda m: np.zeros(20, bool), "above"), (lambda m: m >= 40, "")],
)
def test_the_search_flags_censored_critical_widths(hold, censored):
    def outcomes(m):
        return np.broadcast_to(np.asarray(hold(m)), (20,))

    res = critical_width(
        None, None, criterion="linear", key=jax.random.PRNGKey(0), seeds=20, m_min=2, m_max=512, hold=outcomes
    )
    assert res.censored == censored
    assert (res.m_star is None) == (censored == "above")


def test_the_search_probes_below_its_bracket_where_the_curve_rises():
    res = critical_width(
        None,
        None,
        criterion="linear",
        key=jax.random.PRNGKey(0),
        seeds=20,
        m_min=1,
        m_max=2**12,
        hold=lambda m: np.arange(20) < min(20, int(20 * math.log2(m) / 8)),
    )
    assert res.hold_fraction.min() <= 0.25  # the foot of the curve was seen, for the logistic fit


@pytest.mark.parametrize("entry", [p for p in PUBLISHED_WIDTHS if p.exponent_n is not None], ids=lambda p: p.key)
def test_each_published_width_has_the_exponent_in_n_its_table_states(entry):
    low, high = entry.width(100.0, 8.0, 0.2), entry.width(1000.0, 8.0, 0.2)
    assert math.log10(high / low) == approx(entry.exponent_n)
    assert entry.source in ("paper", "abstract", "secondary", "derived")


def test_published_widths_evaluates_every_entry():
    values = published_widths(np.array([8.0, 16.0]), np.array([8.0, 16.0]), np.array([0.2, 0.1]))
    assert set(values) == {p.key for p in PUBLISHED_WIDTHS}
    np.testing.assert_allclose(values["counting"], [1.0, 1.0], **tol(np.float64))
    np.testing.assert_allclose(values["du2019"], [8.0**6 / 0.2**4, 16.0**6 / 0.1**4], **tol(np.float64))
