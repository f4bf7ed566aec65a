import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019.bounds import check_upper_bound, loss_floor
from tests.tolerances import F64, approx, rel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(loss0=st.floats(1e-3, 1e3), eta=st.floats(1e-3, 1.0), lam=st.floats(1e-3, 1.0), steps=st.integers(0, 50))
def test_envelope_is_the_closed_form(dtype, loss0, eta, lam, steps):
    """L(0) (1 - eta lambda_0 / 2)^k (Theorem 4.1) from inputs in either dtype, against the float64 closed form of
    the same (rounded) inputs."""
    loss0, eta, lam = dtype(loss0), dtype(eta), dtype(lam)
    env = nt.linear_rate_envelope(loss0, eta, lam, steps)
    assert env.shape == (steps + 1,)
    k = np.arange(steps + 1)
    np.testing.assert_allclose(env, float(loss0) * (1 - float(eta) * float(lam) / 2) ** k, **rel(dtype))
    if steps > 0 and env[-1] > env[0] * 1e-20:  # a geometric envelope is its own rate, above the floor
        rate = nt.empirical_rate(env)
        # the envelope's rate is a max of k-th roots of its own ratios: 1e-12, tighter than the table, kept
        assert rate.envelope == pytest.approx(nt.theorem_rate(eta, lam), rel=1e-12)
        assert steps < 2 or rate.geometric == approx(nt.theorem_rate(eta, lam), dtype)


def test_empirical_rate_is_the_tightest_envelope():
    loss = np.array([10.0, 5.0, 4.0, 0.1])
    rho = nt.empirical_rate(loss).envelope
    assert rho == approx(max(0.5, (0.4) ** 0.5, (0.01) ** (1 / 3)))
    assert np.all(loss <= 10.0 * rho ** np.arange(4) * (1 + F64))  # the envelope bound, up to round-off
    with pytest.raises(ValueError):
        nt.empirical_rate([1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_rate_ignores_the_round_off_floor_of_its_dtype(dtype):
    """floor = L(0) (100 eps)^2: a geometric loss that hits a plateau at round-off keeps its true rate."""
    eps = np.finfo(dtype).eps
    assert loss_floor(3.0, dtype) == pytest.approx(3.0 * (100 * eps) ** 2, rel=1e-12)  # one float64 formula: ulps
    true = 0.6 ** np.arange(200) * 3.0
    plateau = np.maximum(true, 3.0 * eps**2).astype(dtype)  # what a float32 run prints once the loss is resolved
    rate = nt.empirical_rate(plateau)
    last = int(np.flatnonzero(true <= loss_floor(3.0, dtype))[0]) - 1
    assert (rate.first_step, rate.last_step) == (0, last)
    # the rate of a loss rounded to the dtype: 1e-5, tighter than the float32 table's 1e-4, kept from before it
    assert rate.envelope == pytest.approx(0.6, rel=1e-5) and rate.geometric == pytest.approx(0.6, rel=1e-5)
    # the old definition over every step is set by the plateau, not by the dynamics
    k = np.arange(1, plateau.size)
    assert np.max((plateau[1:].astype(np.float64) / plateau[0]) ** (1 / k)) > 0.65


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_drift_radius_and_perturbation_radius_formulas(dtype):
    """R', R and eta_max (Lemmas 3.2-3.3, Theorem 4.1) from inputs in either dtype, against float64 closed forms of
    the same (rounded) inputs."""
    res, lam, delta = dtype(3.0), dtype(0.2), dtype(0.1)
    assert nt.drift_radius(16, res, 64, dtype(0.5)) == approx(4 * 4 * 3.0 / (8 * 0.5), dtype)
    expected = math.sqrt(2 * math.pi) * float(delta) * float(lam) / 1600
    assert nt.perturbation_radius(10, lam, delta) == approx(expected, dtype)
    assert nt.max_step_size(10, lam) == approx(float(lam) / 400, dtype)


@given(n=st.integers(2, 2000), lam=st.floats(1e-3, 1.0), res=st.floats(0.1, 100.0), delta=st.floats(0.01, 0.5))
def test_required_width_makes_r_prime_below_r(n, lam, res, delta):
    """At the required width the proof's condition R' < R holds with Lemma 3.2's share delta/2 of the failure
    probability, and it is at least Lemma 3.1's width at its share delta/2."""
    m = nt.required_width(n, lam, res, delta)
    # a width 1e-9 above the required one (a margin for the round-off of the square): R' <= R is the theorem's
    assert nt.drift_radius(n, res, m * (1 + 1e-9), lam) <= nt.perturbation_radius(n, lam, delta / 2)
    assert m >= 8 * n**2 * math.log(2 * n**2 / (delta / 2)) / lam**2 * (1 - 1e-12)  # up to float64 round-off


def test_check_upper_bound_reports_first_failure_and_worst_ratio():
    chk = check_upper_bound([0, 2, 4, 6], [1.0, 2.0, 5.0, 9.0], [1.0, 3.0, 4.0, 10.0])
    assert chk == nt.MonitorCheck(held=False, first_failure=4, worst_ratio=1.25)
    # a zero bound: 0 <= 0 holds with ratio 0; anything above it fails with ratio infinity
    assert check_upper_bound([0, 1], [0.0, 0.0], [0.0, 0.0]) == nt.MonitorCheck(True, -1, 0.0)
    assert check_upper_bound([0, 1], [0.0, 0.5], [0.0, 0.0]) == nt.MonitorCheck(False, 1, np.inf)
    assert np.isnan(check_upper_bound([], [], []).worst_ratio) and check_upper_bound([], [], []).held
    ok = check_upper_bound([0, 1], [1.0, 1.0 + 1e-14], [1.0, 1.0], rtol=1e-12)  # the monitor's argument, not ours
    assert ok.held and ok.first_failure == -1


def test_theorem_monitor_flags_each_conclusion():
    hist = nt.TrainHistory(
        step=np.array([0, 2, 4]),
        lambda_min=np.array([0.5, 0.3, 0.1]),
        flip_fraction=np.zeros(3),
        max_drift=np.array([0.0, 0.5, 2.0]),
    )
    loss = np.array([1.0, 0.9, 0.8, 0.79, 0.5])
    res = nt.TrainResult(loss=loss, params=None, history=hist, diverged_step=-1)
    assert float(res.max_drift) == 2.0 and float(res.lambda_min) == 0.1 and list(res.record_steps) == [0, 2, 4]
    mon = nt.theorem_monitor(res, eta=0.4, lambda0=0.5, drift_bound=1.0)  # rate 0.9
    assert mon.loss_envelope.first_failure == 3  # 0.79 > 0.9^3 = 0.729; 0.8 <= 0.81 at k = 2
    assert mon.loss_envelope.worst_ratio == approx(0.79 / 0.729)
    assert mon.lambda_min_floor.first_failure == 4  # 0.1 < 0.25
    assert mon.drift_radius.first_failure == 4
    assert not mon.held
    # (C1) at k = 0 holds by definition: a run that beats the envelope reports its worst ratio over k >= 1 only
    fast = res._replace(loss=np.array([1.0, 0.5, 0.2, 0.1, 0.05]))
    assert nt.theorem_monitor(fast, eta=0.4, lambda0=0.5, drift_bound=9.0).loss_envelope.worst_ratio == approx(
        max(0.5 / 0.9, 0.2 / 0.81, 0.1 / 0.729, 0.05 / 0.9**4)
    )
    # a Cholesky certificate overrides lambda_min: a failed certificate is a failure, whatever the Ritz value
    certified = res._replace(
        history=hist._replace(lambda_min=np.array([0.5, 0.5, 0.5]), certified=np.array([True, False, True]))
    )
    floor = nt.theorem_monitor(certified, eta=0.4, lambda0=0.5, drift_bound=9.0).lambda_min_floor
    assert not floor.held and floor.first_failure == 2
    assert mon.lambda_min_floor.worst_ratio == approx(0.25 / 0.1)  # (lambda_0 / 2) / lambda_min
    # (C3) and (C2) absorb the same 10 ulps of round-off as (C1)
    at_radius = res._replace(history=hist._replace(max_drift=np.array([0.0, 0.5, 1.0 + 2 * np.finfo(float).eps])))
    assert nt.theorem_monitor(at_radius, eta=0.4, lambda0=0.5, drift_bound=1.0).drift_radius.held
    at_floor = res._replace(
        history=hist._replace(lambda_min=np.array([0.5, 0.3, 0.25 * (1 - 2 * np.finfo(float).eps)]))
    )
    assert nt.theorem_monitor(at_floor, eta=0.4, lambda0=0.5, drift_bound=9.0).lambda_min_floor.held
    every = res._replace(history=hist._replace(certified=np.array([True, True, True])))
    assert nt.theorem_monitor(every, eta=0.4, lambda0=0.5, drift_bound=9.0).lambda_min_floor == nt.MonitorCheck(
        held=True, first_failure=-1, worst_ratio=approx(0.25 / 0.1)
    )
    # the comparison absorbs round-off (10 ulps), not more: a loss 2 ulps above the envelope holds, 1e-12 fails
    envelope = nt.linear_rate_envelope(1.0, 0.4, 0.5, 4)
    for excess, held in ((2 * np.finfo(float).eps, True), (1e-12, False)):
        loss = np.concatenate([envelope[:1], envelope[1:] * (1 + excess)])
        check = nt.theorem_monitor(res._replace(loss=loss), eta=0.4, lambda0=0.5, drift_bound=9.0).loss_envelope
        assert check.held == held and check.first_failure == (-1 if held else 1)


@pytest.mark.parametrize("bounded, events", [(False, 2), (True, 3)])
def test_required_width_is_the_larger_of_its_two_terms_with_delta_split_over_the_union(bounded, events):
    """Lemma 3.1's concentration width and the width at which R' < R (Lemma 3.2), each against its formula at
    its share delta / events of the failure probability (events = 3 when the residual is itself a bound)."""
    n, lam, delta = 50, 0.2, 0.1
    d = delta / events
    # rel=1e-12 below: the library's float64 formula against the same formula here, a few ulps (tighter than the table)
    m_init = 8 * n**2 * math.log(2 * n**2 / d) / lam**2
    assert nt.required_width(n, lam, 1e-9, delta, residual_bounded=bounded) == pytest.approx(m_init, rel=1e-12)
    m_drift = (64 * n**2.5 * 3.0 / (math.sqrt(2 * math.pi) * d * lam**2)) ** 2
    assert nt.required_width(n, lam, 3.0, delta, residual_bounded=bounded) == pytest.approx(m_drift, rel=1e-12)
    with pytest.raises(ValueError, match="delta"):
        nt.required_width(n, lam, 3.0, 1.5)


def test_empirical_rate_window_floor_and_degenerate_histories():
    # fast (0.3) for 15 steps, then slow (0.6): the geometric rate fits the second half of the range, [20, 40]
    k = np.arange(41)
    loss = np.where(k <= 15, 0.3**k, 0.3**15 * 0.6 ** (k - 15))
    rate = nt.empirical_rate(loss)  # rel=1e-12 below: float64 fits of exactly geometric data, tighter than the table
    assert (rate.first_step, rate.last_step) == (0, 40)
    assert rate.geometric == pytest.approx(0.6, rel=1e-12)
    assert rate.envelope == pytest.approx(max((loss[1:] / loss[0]) ** (1 / k[1:])), rel=1e-12)
    # a loss exactly at the floor is not above it; the floor follows the dtype given
    floor = loss_floor(1.0, np.float64)
    assert nt.empirical_rate(np.array([1.0, 0.5, floor, floor / 2])).last_step == 1
    assert nt.empirical_rate(np.array([1.0, 0.5]), dtype=np.float32).floor == pytest.approx(loss_floor(1.0, np.float32))
    # fewer than two steps above the floor: no rate, and it says so
    none = nt.empirical_rate(np.array([1.0, 0.0]))
    assert np.isnan(none.envelope) and np.isnan(none.geometric) and (none.first_step, none.last_step) == (0, 0)
    assert none.floor == floor
    # two steps above the floor: the late rate is the last step's contraction
    assert nt.empirical_rate(np.array([1.0, 0.5, 0.1, 0.0])).geometric == pytest.approx(0.2, rel=1e-12)
    with pytest.raises(ValueError, match="positive initial loss"):
        nt.empirical_rate(np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="at least two values"):
        nt.empirical_rate(np.array([1.0]))
