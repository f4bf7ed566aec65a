"""The two-layer family, its H^inf, gradient flow, the catapult and the lazy limit (ntk_proofs.regimes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.models.two_layer import Params
from ntk_proofs.models.two_layer_family import TwoLayerFamily, init_family
from ntk_proofs.regimes.flow import flow_monitor, gd_flow_distance, gd_outputs, gradient_flow
from ntk_proofs.regimes.kernels import (
    erf_output_kernel,
    gram_infinity_family,
    gram_infinity_family_mc,
    relu_output_kernel,
)
from ntk_proofs.regimes.lazy import laziness
from ntk_proofs.regimes.phases import (
    CATAPULT,
    DIVERGENT,
    LAZY,
    classify_runs,
    initializations,
    phase_boundaries,
    phase_grid,
    tangent_sharpness,
)
from ntk_proofs.regimes.training import train_family, train_family_batched
from tests.tolerances import F64, RTOL_F64, SLOPE

VARIANTS = [
    TwoLayerFamily(),
    TwoLayerFamily(train_a=True),
    TwoLayerFamily(activation="erf"),
    TwoLayerFamily(activation="erf", train_a=True),
    TwoLayerFamily(alpha=3.0, gamma=1.0, activation="erf", train_a=True),
]


def _data(seed, n, d):
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return nt.unit_sphere(kx, n, d), nt.gaussian_labels(ky, n)


def test_the_default_member_is_the_du_et_al_net_bit_for_bit():
    X, y = _data(0, 8, 5)
    p = nt.init_params(jax.random.PRNGKey(2), 64, 5)
    assert TwoLayerFamily().is_du and not TwoLayerFamily(train_a=True).is_du
    np.testing.assert_array_equal(TwoLayerFamily().predict(p, X), nt.predict(p, X))
    np.testing.assert_allclose(
        TwoLayerFamily().value_and_grad(p, X, y)[1].W, nt.loss_gradient(p, X, y), rtol=RTOL_F64, atol=F64
    )  # eager against jitted: equal up to the order of float sums
    du = nt.train_gd(p, X, y, eta=0.5, steps=20, step_form="weights")
    fam = train_family(p, X, y, eta=0.5, steps=20)
    np.testing.assert_array_equal(fam.loss, du.loss)
    np.testing.assert_array_equal(fam.params.W, du.params.W)
    np.testing.assert_array_equal(fam.params.a, p.a)  # a stays fixed
    # the kernel recorder's lambda_min and drift are the Du et al. diagnostics'
    np.testing.assert_allclose(fam.records.lambda_min, du.history.lambda_min, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(fam.records.max_drift, du.history.max_drift, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(fam.records.flip_fraction, du.history.flip_fraction, rtol=RTOL_F64, atol=F64)
    # train_gd's own recorder tracks the kernel too (track_kernel): the same sharpness and change
    tracked = nt.train_gd(p, X, y, eta=0.5, steps=20, step_form="weights", track_kernel=True)
    assert du.history.lambda_max is None and du.history.kernel_change is None
    np.testing.assert_allclose(tracked.history.lambda_max, fam.records.lambda_max, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(tracked.history.kernel_change, fam.records.kernel_change, rtol=RTOL_F64, atol=F64)
    H = nt.gram_matrix(tracked.params.W, X)
    H0 = nt.gram_matrix(p.W, X)
    np.testing.assert_allclose(tracked.history.lambda_max[-1], jnp.linalg.eigvalsh(H)[-1], rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(
        tracked.history.kernel_change[-1], jnp.linalg.norm(H - H0) / jnp.linalg.norm(H0), rtol=RTOL_F64, atol=F64
    )
    assert float(tracked.history.kernel_change[-1]) > 0
    # and the same initialization for the same key
    np.testing.assert_array_equal(init_family(jax.random.PRNGKey(2), 64, 5).W, p.W)


@pytest.mark.parametrize("family", VARIANTS, ids=str)
def test_closed_form_gradient_equals_autodiff_and_gram_equals_the_tangent_kernel(family):
    X, y = _data(1, 6, 4)
    p = nt.init_params(jax.random.PRNGKey(3), 32, 4)
    value, grad = family.value_and_grad(p, X, y)
    auto_value, auto = jax.value_and_grad(family.loss)(p, X, y)
    np.testing.assert_allclose(value, auto_value, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(grad.W, auto.W, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(grad.a, auto.a if family.train_a else 0 * auto.a, rtol=RTOL_F64, atol=F64)
    # H(k) times kernel_scale(m) is J J^T / alpha^2, J the Jacobian of u in the trained parameters
    J = jax.jacobian(family.predict)(p, X)
    JJ = jnp.einsum("imd,jmd->ij", J.W, J.W) + (J.a @ J.a.T if family.train_a else 0)
    np.testing.assert_allclose(
        family.gram(p, X) * family.kernel_scale(32), JJ / family.alpha**2, rtol=RTOL_F64, atol=F64
    )


@pytest.mark.parametrize("family", VARIANTS[:4], ids=str)
def test_each_variants_h_infinity_matches_monte_carlo_within_its_standard_error(family):
    X, _ = _data(2, 6, 3)
    mc = gram_infinity_family_mc(jax.random.PRNGKey(4), X, family, samples=40_000)
    H = gram_infinity_family(X, family)
    # six standard errors per entry: a false failure has probability < 1e-6 per entry (tests/tolerances.py)
    assert np.all(np.abs(np.asarray(H - mc.mean)) <= 6 * np.asarray(mc.stderr) + F64)
    assert float(jnp.max(mc.stderr)) < 0.02  # the check has teeth: errors of 2% of an O(1) entry are caught
    np.testing.assert_allclose(H, H.T, rtol=RTOL_F64, atol=F64)
    assert float(jnp.linalg.eigvalsh(H)[0]) > 0


def test_output_kernels_closed_forms_on_known_angles():
    X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    K = relu_output_kernel(X)
    # theta = 0: 1/2; theta = pi/2: 1/(2 pi); theta = pi: 0
    np.testing.assert_allclose(
        K,
        [[0.5, 1 / (2 * np.pi), 0], [1 / (2 * np.pi), 0.5, 1 / (2 * np.pi)], [0, 1 / (2 * np.pi), 0.5]],
        rtol=RTOL_F64,
        atol=F64,
    )
    E = erf_output_kernel(X)
    np.testing.assert_allclose(E[0, 0], 2 / np.pi * np.arcsin(2 / 3), rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(E[0, 1], 0.0, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(E[0, 2], -E[0, 0], rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(gram_infinity_family(X), nt.gram_infinity(X), rtol=RTOL_F64, atol=F64)


def test_family_arguments_are_checked():
    with pytest.raises(ValueError, match="activation"):
        TwoLayerFamily(activation="tanh")
    with pytest.raises(ValueError, match="gamma"):
        TwoLayerFamily(gamma=0.7)
    with pytest.raises(ValueError, match="alpha"):
        TwoLayerFamily(alpha=0.0)
    with pytest.raises(ValueError, match="even"):
        init_family(jax.random.PRNGKey(0), 5, 3, symmetric=True)
    X, y = _data(0, 4, 3)
    p = nt.init_params(jax.random.PRNGKey(0), 8, 3)
    with pytest.raises(ValueError, match="step size"):
        train_family_batched(Params(p.W[None], p.a[None]), X, y, etas=[-1.0], steps=3)
    with pytest.raises(ValueError, match="columns"):
        train_family(nt.init_params(jax.random.PRNGKey(0), 8, 5), X, y, eta=0.1, steps=3)


@given(seed=st.integers(0, 10**6))
def test_symmetric_initialization_starts_at_zero_output(seed):
    X, _ = _data(seed, 5, 4)
    p = init_family(jax.random.PRNGKey(seed), 16, 4, symmetric=True)
    for family in VARIANTS:
        np.testing.assert_allclose(family.predict(p, X), 0.0, rtol=RTOL_F64, atol=F64)


def test_kernel_tracking_starts_at_h0_and_measures_the_motion():
    X, y = _data(3, 6, 4)
    family = TwoLayerFamily(activation="erf", train_a=True)
    p = nt.init_params(jax.random.PRNGKey(5), 48, 4)
    run = train_family(p, X, y, family=family, eta=0.3, steps=12, record_every=4)
    H0 = family.gram(p, X)
    eig = np.linalg.eigvalsh(np.asarray(H0))
    np.testing.assert_allclose(run.records.lambda_max[0], eig[-1], rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(run.records.lambda_min[0], eig[0], rtol=RTOL_F64, atol=F64)
    assert float(run.records.kernel_change[0]) == 0 and float(run.records.max_drift[0]) == 0
    H = family.gram(run.params, X)
    np.testing.assert_allclose(
        run.records.kernel_change[-1], jnp.linalg.norm(H - H0) / jnp.linalg.norm(H0), rtol=RTOL_F64, atol=F64
    )
    np.testing.assert_allclose(
        run.records.max_drift[-1], jnp.max(jnp.linalg.norm(run.params.W - p.W, axis=1)), rtol=RTOL_F64, atol=F64
    )
    np.testing.assert_allclose(
        run.records.output_drift[-1], jnp.max(jnp.abs(run.params.a - p.a)), rtol=RTOL_F64, atol=F64
    )
    assert float(run.records.output_drift[-1]) > 0  # a is trained
    np.testing.assert_array_equal(run.record_steps, [0, 4, 8, 12])


def test_gradient_flow_obeys_theorem_3_2_and_gd_approaches_it_at_order_one():
    X, y = _data(4, 6, 6)
    m = 256
    p = nt.init_params(jax.random.PRNGKey(6), m, 6)
    lambda0 = nt.lambda_zero(X)
    flow = gradient_flow(p, X, y, t_max=8.0, saves=41, rtol=1e-6, atol=1e-8)
    assert flow.accepted_steps > 0 and flow.rtol == 1e-6
    monitor = flow_monitor(flow, lambda0=lambda0, n=6, m=m)
    assert monitor.held, monitor
    assert float(flow.loss[-1]) < 0.1 * float(flow.loss[0])
    # GD with a small step tracks the flow; the distance falls like eta (Euler's method is first order)
    conv = gd_flow_distance([p], X, y, etas=[0.025, 0.05, 0.1, 0.2], t_max=1.0, rtol=1e-6, atol=1e-8)
    assert conv.fitted.all()
    assert abs(conv.fit.slope - 1.0) < SLOPE, conv.fit
    # at eta = 0.025 GD is within its O(eta) distance of the flow: u_GD(k) - u_flow(k eta) << ||u||
    u_gd = gd_outputs(p, X, y, eta=0.025, steps=40)
    assert float(
        jnp.max(
            jnp.linalg.norm(
                u_gd - gradient_flow(p, X, y, t_max=1.0, ts=0.025 * np.arange(41), rtol=1e-6, atol=1e-8).u, axis=1
            )
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


def test_catapult_just_above_two_over_lambda_max_at_large_width():
    X, y = _data(5, 12, 12)
    family = TwoLayerFamily(train_a=True)
    params = initializations(jax.random.PRNGKey(7), 2048, 12, 1)
    lam = float(tangent_sharpness(family, params, X)[0])
    ratios = np.array([0.8, 1.3, 10.0])  # lazy, catapult, far beyond divergence
    etas = 2 * ratios / lam
    batch = jax.tree.map(lambda v: jnp.repeat(v, 3, axis=0), params)
    run = train_family_batched(batch, X, y, family=family, etas=etas, steps=200, record_every=1)
    codes = classify_runs(run, etas, family)
    np.testing.assert_array_equal(codes, [LAZY, CATAPULT, DIVERGENT])
    loss = np.asarray(run.loss)
    assert loss[1].max() > 2 * loss[1, 0]  # the loss rises ...
    assert loss[1, -1] < 1e-3 * loss[1, 0]  # ... and converges
    assert float(run.records.lambda_max[1, -1]) * etas[1] < 2  # with lambda_max(Theta) below 2 / eta
    assert float(run.records.lambda_max[1, 0]) * etas[1] > 2  # from above it
    assert np.all(np.diff(loss[0]) <= 1e-6 * loss[0, 0])  # below 2/lambda_max the loss falls monotonically
    assert int(run.diverged_step[2]) >= 0 and int(run.diverged_step[:2].max()) == -1  # a flag, not an exception


def test_phase_boundaries_bracket_the_predictions():
    X, y = _data(6, 8, 8)
    b = phase_boundaries(X, y, m=1024, seeds=3, steps=200, key=jax.random.PRNGKey(8), iterations=6)
    assert b.rise.bracketed.all() and b.divergence.bracketed.all()
    assert 0.95 <= b.rise.mean <= 1.25  # the loss starts to rise at eta ~ 2 / lambda_max(Theta(0))
    assert b.divergence.mean > b.rise.mean * 1.3  # and GD still converges well beyond it
    assert b.rise.ci_low <= b.rise.mean <= b.rise.ci_high
    grid = phase_grid(X, y, widths=[256], ratios=[0.7, 1.5, 12.0], seeds=2, steps=200, key=jax.random.PRNGKey(8))
    assert grid.regime.shape == (1, 3, 2)
    np.testing.assert_array_equal(grid.regime[0, 0], [LAZY, LAZY])
    np.testing.assert_array_equal(grid.regime[0, 2], [DIVERGENT, DIVERGENT])


def test_lazy_limit_the_net_approaches_its_linearization_as_alpha_grows():
    """Chizat et al. (2019), Thms 2.3-2.4: drift and distance to the linearized model are O(1 / alpha)."""
    Xtr, ytr, Xte, yte = nt.digits_split(jax.random.PRNGKey(0), 40, 60)
    key = jax.random.PRNGKey(9)
    runs = [
        laziness(
            Xtr, ytr, Xte, yte, family=TwoLayerFamily(alpha=a, activation="erf"), m=128, seeds=2, steps=100, key=key
        )
        for a in (2.0, 8.0)
    ]
    small, large = runs
    ratio = large.drift / small.drift
    np.testing.assert_allclose(ratio, 0.25, rtol=0.2, atol=0)  # drift ~ 1 / alpha
    assert np.all(large.kernel_gap <= small.kernel_gap / 4)  # at least as fast as O(1 / alpha)
    assert np.all(large.kernel_change < small.kernel_change / 4)
    assert np.all((small.test_accuracy > 0.5) & (small.test_accuracy <= 1))
    # u(0) = 0: the symmetric start; train loss fell
    assert np.all(large.train_loss < 0.5)
    with pytest.raises(ValueError, match="ratio"):
        laziness(Xtr, ytr, family=TwoLayerFamily(), m=8, seeds=1, steps=1, key=key, ratio=1.5)
