"""The conclusions of Du et al. (2019), Theorem 4.1, checked on real GD runs (float64).

These run GD with a practical step (1 / lambda_max(H^inf), far above the theorem's lambda_0 / (4 n^2)) and
a width far below the theorem's, so they test that the conclusions hold in the regime users care about;
each would fail if the model, its gradient, H(k) or the bounds were computed wrongly.
"""

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019.bounds import infinite_width_spectrum
from ntk_proofs.du2019.gram import gram_infinity_float64
from tests.tolerances import RITZ, SLOPE


def _problem(seed, n, d):
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(seed), 3)
    X = nt.unit_sphere(kx, n, d)
    return X, nt.gaussian_labels(ky, n), kw


@settings(max_examples=6)
@given(seed=st.integers(0, 10**6))
def test_wide_net_obeys_linear_rate_lambda_floor_and_drift_radius(seed):
    n, d, m, steps = 12, 10, 4096, 150
    X, y, kw = _problem(seed, n, d)
    lam0 = nt.lambda_zero(X)
    eta = 1.0 / float(nt.lambda_max(nt.gram_infinity(X)))
    res = nt.train_gd(nt.init_params(kw, m, d), X, y, eta=eta, steps=steps, certify_lambda0=lam0)
    assert bool(np.all(res.history.certified))  # (C2) proved by Cholesky at every step
    r_prime = nt.drift_radius(n, np.sqrt(2 * float(res.loss[0])), m, lam0)
    mon = nt.theorem_monitor(res, eta=eta, lambda0=lam0, drift_bound=r_prime)
    # (C1) L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step, (C2) lambda_min(H(k)) >= lambda_0 / 2,
    # (C3) ||w_r(k) - w_r(0)|| <= R' for every r and k.
    assert mon.loss_envelope.held, mon
    assert mon.lambda_min_floor.held, mon
    assert mon.drift_radius.held, mon
    # and GD reaches the global minimum (zero loss) of this non-convex problem.
    assert float(res.loss[-1]) < 1e-6 * float(res.loss[0])


def test_flips_and_drift_shrink_as_width_grows_at_rate_one_half():
    n = d = 32
    widths = [64, 256, 1024, 4096, 16384]
    drift, flips, ms = [], [], []
    for seed in range(3):
        X, y, kw = _problem(seed, n, d)
        eta = 1.0 / float(nt.lambda_max(nt.gram_infinity(X)))
        for m in widths:
            res = nt.train_gd(nt.init_params(jax.random.fold_in(kw, m), m, d), X, y, eta=eta, steps=60, record_every=0)
            drift.append(float(res.max_drift))
            flips.append(float(res.flip_fraction))
            ms.append(m)
    drift_by_m = np.asarray(drift).reshape(3, -1).mean(0)
    flips_by_m = np.asarray(flips).reshape(3, -1).mean(0)
    assert np.all(np.diff(drift_by_m) < 0), drift_by_m
    assert np.all(np.diff(flips_by_m) < 0), flips_by_m
    drift_fit, flip_fit = nt.loglog_slope(ms, drift), nt.loglog_slope(ms, flips)
    assert abs(drift_fit.slope + 0.5) < SLOPE, drift_fit  # R' ~ m^{-1/2}
    assert abs(flip_fit.slope + 0.5) < SLOPE, flip_fit  # P(|w_r(0).x_i| < drift) ~ drift


def test_narrow_net_breaks_the_lambda_floor_and_the_monitor_says_where():
    """At m = 4 < n the Gram matrix H(0) is far from H^inf: (C2) fails at step 0, and the monitor reports it."""
    n, d, m = 20, 20, 4
    X, y, kw = _problem(0, n, d)
    lam0 = nt.lambda_zero(X)
    res = nt.train_gd(
        nt.init_params(kw, m, d), X, y, eta=0.5, steps=5, certify_lambda0=lam0, lambda_min_method="lanczos"
    )
    mon = nt.theorem_monitor(res, eta=0.5, lambda0=lam0, drift_bound=1e9)
    assert float(res.history.lambda_min[0]) < lam0 / 2
    assert not bool(np.any(res.history.certified))  # H(k) has rank <= m < n: every certificate fails
    np.testing.assert_allclose(res.history.lambda_min_residual, 0.0, rtol=0, atol=RITZ)  # converged Ritz pairs
    assert not mon.lambda_min_floor.held and mon.lambda_min_floor.first_failure == 0


RATE_TOLERANCE = 0.03  # a wide net's kernel drifts by O(m^-1/2): its late rate may exceed H^inf's slightly


@settings(max_examples=6)
@given(seed=st.integers(0, 10**6), n=st.sampled_from([8, 16, 24]), dtype=st.sampled_from(["float32", "float64"]))
def test_a_wide_nets_rate_lies_between_the_kernel_prediction_and_the_theorem(seed, n, dtype):
    """Measured above the round-off floor of its dtype, the late rate of a wide net is the H^inf kernel's
    (measured the same way on the kernel's predicted loss), within RATE_TOLERANCE, and below Theorem 4.1's."""
    X, y, kw = _problem(seed, n, n)
    spectrum = infinite_width_spectrum(X)
    lam0, eta = spectrum[0], 1.0 / spectrum[-1]
    params = nt.init_params(kw, 8192, n, dtype=dtype)
    X, y = X.astype(dtype), y.astype(dtype)
    res = nt.train_gd(params, X, y, eta=eta, steps=200, record_every=0)
    rate = nt.empirical_rate(res.loss)
    assert np.asarray(res.loss).dtype == np.dtype(dtype) and rate.last_step >= 20
    predicted = nt.kernel_prediction(
        gram_infinity_float64(X), np.asarray(y - nt.predict(params, X), np.float64), eta=eta, steps=200
    )
    rate_kernel = nt.empirical_rate(np.asarray(predicted), floor=rate.floor)
    assert rate_kernel.geometric - RATE_TOLERANCE <= rate.geometric <= nt.theorem_rate(eta, lam0), (rate, rate_kernel)
    assert rate.envelope <= nt.theorem_rate(eta, lam0)  # (C1) as a rate
