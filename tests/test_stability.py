"""Signal propagation at init against the variance recursion; sharpness and the descent lemma on closed forms; the
largest stable step and GD's rate on quadratics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.stability import quadratic_gd_errors
from tests.tolerances import REORDERED_F64, approx, rel


@pytest.mark.parametrize("weight_var", [1.0, 2.0, 4.0])
def test_relu_forward_and_backward_growth_is_s_w_over_2(weight_var):
    """q^{l+1} = s_w q^l / 2 at infinite width (He et al. 2015); gradients shrink by s_w / 2 per layer toward the
    input, i.e. their squared norm grows by 2 / s_w per layer in layer order. Width 512, depth 12, 4 seeds:
    the geometric mean of per-layer ratios has relative sd ~ sqrt(2 / width) / sqrt(layers * seeds) ~ 1%; 5% bound."""
    X = nt.unit_sphere(jax.random.PRNGKey(0), 32, 16)
    net = nt.MLP((16,) + (512,) * 12 + (1,), weight_var=weight_var)
    fwd, bwd = [], []
    for s in range(4):
        st = nt.layer_statistics(net, net.init(jax.random.PRNGKey(s)), X, key=jax.random.PRNGKey(10 + s))
        fwd.append(nt.growth_factor(st.forward_variance[:-1]))
        bwd.append(nt.growth_factor(st.backward_norm[:-1] ** 2))
    # Monte Carlo over widths and seeds: the 5% bound of the docstring (about 5 standard deviations)
    assert np.mean(fwd) == pytest.approx(weight_var / 2, rel=0.05)
    assert np.mean(bwd) == pytest.approx(2 / weight_var, rel=0.05)
    pred = nt.predicted_variances(11, 1 / 16, weight_var=weight_var)
    # the recursion integrates relu by Gauss-Hermite quadrature (80 nodes), whose kink limits it to about 1e-7
    np.testing.assert_allclose(pred, (weight_var / 16) * (weight_var / 2) ** np.arange(12), rtol=1e-6)


def test_tanh_variance_recursion_matches_a_wide_network():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 32, 16)
    net = nt.MLP((16,) + (1024,) * 6 + (1,), activation="tanh", weight_var=1.5, bias_var=0.05)
    runs = [
        nt.layer_statistics(net, net.init(jax.random.PRNGKey(s)), X, key=jax.random.PRNGKey(s)).forward_variance[:-1]
        for s in range(4)
    ]
    pred = nt.predicted_variances(5, 1 / 16, weight_var=1.5, bias_var=0.05, activation="tanh")
    # width 1024, 32 points, 4 seeds: the sample variance's relative sd is ~sqrt(2 / 1024) / sqrt(4 * 32) ~ 0.4%,
    # plus the O(1 / width) finite-width bias over 5 layers: 5% is the margin, not round-off
    np.testing.assert_allclose(np.mean(runs, 0), pred, rtol=0.05)


def test_descent_lemma_is_an_equality_on_a_quadratic_and_flags_too_small_smoothness():
    A = jnp.diag(jnp.array([3.0, 1.0, 0.5]))
    loss = lambda x: 0.5 * x @ A @ x  # noqa: E731
    run = nt.sharpness_trajectory(
        loss, jnp.array([1.0, -2.0, 0.5]), eta=0.5, steps=20, record_every=5, key=jax.random.PRNGKey(0)
    )
    np.testing.assert_allclose(run.records, 3.0, **rel(run.records))
    assert nt.edge_of_stability_step(run, 0.5) == -1 and run.loss.shape == (21,)
    assert nt.descent_lemma_violations(run.loss, run.grad_norm_sq, 0.5, 3.0).size == 0
    assert nt.descent_lemma_violations(run.loss, run.grad_norm_sq, 0.5, 0.1).size > 0
    unstable = nt.sharpness_trajectory(
        loss, jnp.array([1.0, -2.0, 0.5]), eta=0.8, steps=10, record_every=5, key=jax.random.PRNGKey(0)
    )
    assert nt.edge_of_stability_step(unstable, 0.8) == 0  # 3 >= 2 / 0.8: GD on the top direction diverges
    assert unstable.loss[-1] > unstable.loss[0]


def test_residual_stack_keeps_gradients_from_vanishing():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 16, 8)
    plain = nt.MLP((8,) + (64,) * 30 + (1,), weight_var=1.0)
    residual = nt.MLP((8,) + (64,) * 30 + (1,), weight_var=1.0, skip=True, residual_scale=1 / np.sqrt(30))
    ratios = []
    for net in (plain, residual):
        st = nt.layer_statistics(net, net.init(jax.random.PRNGKey(1)), X, key=jax.random.PRNGKey(2))
        ratios.append(st.backward_norm[0] / st.backward_norm[-2])
    # plain LeCun stack: the norm shrinks by sqrt(s_w / 2) per layer toward the input, 0.5^(29/2) ~ 4e-5 over
    # 29 layers (one draw at width 64: within a factor 5)
    assert 0.5**14.5 / 5 < ratios[0] < 0.5**14.5 * 5
    assert 0.5 < ratios[1] < 50  # bounded


def test_largest_stable_step_on_a_quadratic_is_two_over_curvature():
    """GD on 0.5 * 4 x^2: stable (loss never above twice its start, ending lower) iff eta < 2/4 = 0.5."""

    def run(eta):
        x, losses = 1.0, []
        for _ in range(50):
            losses.append(2.0 * x * x)
            x = x - eta * 4.0 * x
        losses.append(2.0 * x * x)
        return np.asarray(losses)

    eta = nt.largest_stable_step(run, 1e-3, 10.0, iterations=30)
    # the bisection's resolution, not round-off: 30 geometric halvings of [1e-3, 10] leave a bracket of relative
    # width ln(1e4) / 2^30 ~ 9e-9 (tightened from 1e-3)
    assert eta == pytest.approx(0.5, rel=1e-7) and eta < 0.5


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_gd_rate_on_quadratic_matches_closed_form(kappa):
    A = jnp.diag(jnp.array([1.0, kappa]))
    x = jnp.array([1.0, 1.0])
    eta, norms = 2.0 / (1.0 + kappa), []
    for _ in range(30):
        norms.append(float(jnp.linalg.norm(x)))
        x = x - eta * (A @ x)
    assert nt.measured_rate(norms) == approx(nt.quadratic_gd_rate(kappa))
    # the driver's run of the same GD gives the same error history
    driven = quadratic_gd_errors(A, jnp.array([1.0, 1.0]), eta=eta, steps=29)
    np.testing.assert_allclose(driven, norms, **REORDERED_F64)
