"""Gradient flow (ntk_proofs.regimes.flow): Theorem 3.2 of Du et al. (2019) and GD's first-order distance to it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.regimes.flow import flow_monitor, gd_flow_distance, gd_outputs, gradient_flow
from tests.regimes.helpers import data as _data
from tests.tolerances import FLOW_SOLVER, SLOPE


def test_gradient_flow_obeys_theorem_3_2_and_gd_approaches_it_at_order_one():
    X, y = _data(4, 6, 6)
    m = 256
    p = nt.init_params(jax.random.PRNGKey(6), m, 6)
    lambda0 = nt.lambda_zero(X)
    flow = gradient_flow(p, X, y, t_max=8.0, saves=41, **FLOW_SOLVER)
    assert flow.accepted_steps > 0 and flow.rtol == FLOW_SOLVER["rtol"]
    monitor = flow_monitor(flow, lambda0=lambda0, n=6, m=m)
    assert monitor.held, monitor
    assert float(flow.loss[-1]) < 0.1 * float(flow.loss[0])
    # GD with a small step tracks the flow; the distance falls like eta (Euler's method is first order)
    conv = gd_flow_distance([p], X, y, etas=[0.025, 0.05, 0.1, 0.2], t_max=1.0, **FLOW_SOLVER)
    assert conv.fitted.all()
    assert abs(conv.fit.slope - 1.0) < SLOPE, conv.fit
    # at eta = 0.025 GD is within its O(eta) distance of the flow: u_GD(k) - u_flow(k eta) << ||u||
    u_gd = gd_outputs(p, X, y, eta=0.025, steps=40)
    assert float(
        jnp.max(
            jnp.linalg.norm(u_gd - gradient_flow(p, X, y, t_max=1.0, ts=0.025 * np.arange(41), **FLOW_SOLVER).u, axis=1)
        )
    ) == pytest.approx(
        conv.errors[0, 0], rel=1e-3
    )  # up to the flow's own error (gd_flow_distance compares with rtol / 10)


def test_flow_rejects_bad_arguments():
    X, y = _data(0, 4, 3)
    p = nt.init_params(jax.random.PRNGKey(0), 8, 3)
    with pytest.raises(ValueError, match="t_max"):
        gradient_flow(p, X, y, t_max=-1.0)
    with pytest.raises(ValueError, match="ascending"):
        gradient_flow(p, X, y, t_max=1.0, ts=[0.5, 0.1])
    with pytest.raises(ValueError, match="whole multiple"):
        gd_flow_distance([p], X, y, etas=[0.1, 0.15], t_max=0.3)
    with pytest.raises(RuntimeError, match="max_steps"):
        gradient_flow(p, X, y, t_max=50.0, max_steps=3)


def test_flow_criterion_outcomes_judge_the_flow_as_the_small_step_search_judges_gd():
    """The critical width's small-step criteria on the flow itself (flow_criterion_outcomes): against the flow's
    own record, each outcome is the criterion's definition; a wide net holds both, a floor or a rate asked above
    what the flow delivers fails them, a span too short to converge fails both; and the outcomes match small-step GD
    (criterion_outcomes at eta = 0.02) from the same initializations."""
    from ntk_proofs.du2019.critical_width import criterion_outcomes
    from ntk_proofs.regimes.flow import flow_criterion_outcomes

    X, y = _data(4, 6, 6)
    lambda0 = nt.lambda_zero(X)
    eta, steps = 0.02, 1500
    key = jax.random.PRNGKey(3)
    keys = jax.random.split(jax.random.fold_in(key, 512), 3)
    params = [nt.init_params(k, 512, 6) for k in keys]
    wide = flow_criterion_outcomes(params, X, y, eta=eta, lambda0=lambda0, steps=steps, **FLOW_SOLVER)
    assert wide.converged.all() and wide.trajectory.all() and wide.linear.all()
    assert np.all(wide.end_step < steps) and wide.rtol > FLOW_SOLVER["rtol"]
    # the same record, asked for a floor lambda_0 / 2 above lambda_min(H(0)) and a rate the flow cannot follow
    flow = gradient_flow(params[0], X, y, t_max=eta * steps, ts=eta * np.arange(steps + 1), **FLOW_SOLVER)
    lam0 = float(flow.lambda_min[0])
    strict = flow_criterion_outcomes(params[:1], X, y, eta=eta, lambda0=2.5 * lam0, steps=steps, **FLOW_SOLVER)
    assert not strict.trajectory[0]
    # dL/dt = -r^T H r >= -2 lambda_max(H) L and lambda_max(H) <= trace H <= n / 2: an envelope at rate
    # lambda_0 / 2 = 2 n falls faster than the flow's loss can
    fast = flow_criterion_outcomes(params[:1], X, y, eta=eta, lambda0=4.0 * 6, steps=steps, **FLOW_SOLVER)
    assert not fast.linear[0] and fast.converged[0]
    assert strict.linear[0] == wide.linear[0]  # the floor alone does not decide "linear"
    # the envelope exactly: the largest lambda with L(t_k) <= (1 - eta lambda / 2)^k L(0) at every k up to the first
    # converged k is lambda* = min_k 2 (1 - (L_k / L_0)^(1/k)) / eta; just below it "linear" holds, just above it fails
    loss = np.asarray(flow.loss, np.float64)
    end = int(np.flatnonzero(loss <= 1e-4 * loss[0])[0])
    k = np.arange(1, end + 1)
    rate = float(np.min(2 * (1 - (loss[1 : end + 1] / loss[0]) ** (1.0 / k)) / eta))
    below = flow_criterion_outcomes(params[:1], X, y, eta=eta, lambda0=0.98 * rate, steps=steps, **FLOW_SOLVER)
    above = flow_criterion_outcomes(params[:1], X, y, eta=eta, lambda0=1.02 * rate, steps=steps, **FLOW_SOLVER)
    assert below.linear[0] and not above.linear[0], rate
    # a span that ends before convergence fails both, whatever the record
    short = flow_criterion_outcomes(params[:1], X, y, eta=eta, lambda0=lambda0, steps=3, **FLOW_SOLVER)
    assert not short.converged[0] and not short.trajectory[0] and not short.linear[0] and short.end_step[0] == 3
    # small-step GD from the same initializations decides the same (it tracks the flow to O(eta))
    gd = criterion_outcomes(
        X, y, 512, key=jax.random.fold_in(key, 512), seeds=3, eta=eta, lambda0=lambda0, max_steps=steps
    )
    np.testing.assert_array_equal(gd["trajectory"], wide.trajectory)
    np.testing.assert_array_equal(gd["linear"], wide.linear)
    # the first converged step agrees to 1% (about 700 steps; GD's per-step factor 1 - eta lambda_i is below the
    # flow's exp(-eta lambda_i), so GD arrives a step or two early)
    assert np.all(np.abs(gd["end_step"] - wide.end_step) <= 0.01 * wide.end_step + 1)
    with pytest.raises(ValueError, match="eta and lambda0"):
        flow_criterion_outcomes(params, X, y, eta=-1.0, lambda0=lambda0, steps=10)
    with pytest.raises(ValueError, match="tol"):
        flow_criterion_outcomes(params, X, y, eta=eta, lambda0=lambda0, steps=10, tol=1.0)
