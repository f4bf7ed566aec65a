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
