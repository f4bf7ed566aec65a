"""NTKs: methods agree, match the Du et al. Gram matrix and the infinite-width recursion; linearization is exact."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ntk_proofs as nt
from tests.tolerances import F64


def _du(seed, n=6, d=5, m=40):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, d)
    p = nt.init_params(jax.random.PRNGKey(seed + 1), m, d)
    return X, p, (lambda W, x: nt.predict(nt.Params(W, p.a), x))


@given(seed=st.integers(0, 10**6), batch=st.sampled_from([None, 1, 4]))
def test_both_methods_equal_du_gram_matrix(seed, batch):
    """For the Du et al. net with only W trained, Theta = J J^T = H(W) (Du et al. eq. (5))."""
    X, p, f = _du(seed)
    H = np.asarray(nt.gram_matrix(p.W, X))
    for method in ("jacobian", "ntvp"):
        np.testing.assert_allclose(nt.empirical_ntk(f, p.W, X, method=method, batch_size=batch), H, atol=F64)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_methods_agree_on_mlp_with_vector_outputs_and_cross_kernels(parameterization):
    net = nt.MLP((5, 32, 16, 3), parameterization=parameterization, bias_var=0.2)
    params = net.init(jax.random.PRNGKey(0))
    x1 = nt.unit_sphere(jax.random.PRNGKey(1), 7, 5)
    x2 = nt.unit_sphere(jax.random.PRNGKey(2), 4, 5)
    a = nt.empirical_ntk(net.apply, params, x1, x2)
    b = nt.empirical_ntk(net.apply, params, x1, x2, method="ntvp", batch_size=3)
    assert a.shape == (7, 4)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=F64)
    # independent: flatten the parameters and build J explicitly with jax.jacobian, trace over outputs
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    J1 = jax.jacobian(lambda v: net.apply(unravel(v), x1))(flat)  # (7, 3, P)
    J2 = jax.jacobian(lambda v: net.apply(unravel(v), x2))(flat)
    np.testing.assert_allclose(a, np.einsum("ikp,jkp->ij", J1, J2), rtol=1e-10, atol=F64)


def test_first_layer_term_of_infinite_ntk_is_h_infinity():
    """Depth 1, no bias, w ~ N(0, I) (weight_var d for layer 1, 1 for the output): layer-1 term = H^inf.

    Tolerance 1e-7: arccos near cos = 1 amplifies a 1e-16 round-off to sqrt(1e-16) / pi on the diagonal.
    """
    X = nt.unit_sphere(jax.random.PRNGKey(0), 9, 5)
    k = nt.infinite_width_kernels(X, depth=1, weight_var=(5.0, 1.0), bias_var=0.0)
    np.testing.assert_allclose(k.terms[0], nt.gram_infinity(X), atol=1e-7)
    np.testing.assert_allclose(sum(k.terms), k.ntk, atol=F64)


@pytest.mark.parametrize("depth", [1, 3])
def test_infinite_width_ntk_and_nngp_match_wide_networks_in_monte_carlo(depth):
    """Average the empirical NTK (and the output covariance) over random inits at a large width.

    Tolerance: 6 standard errors of the mean over inits plus the O(1/width) finite-width bias (4 / width relative).
    """
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 4)
    width, inits = (1024 if depth == 1 else 512), 12
    net = nt.MLP((4,) + (width,) * depth + (1,), weight_var=2.0, bias_var=0.1)
    ks = np.stack([np.asarray(nt.empirical_ntk(net.apply, net.init(jax.random.PRNGKey(s)), X)) for s in range(inits)])
    inf = np.asarray(nt.infinite_width_ntk(X, depth=depth, weight_var=2.0, bias_var=0.1))
    tol = 6 * ks.std(0, ddof=1) / np.sqrt(inits) + 4 / width * np.abs(inf)
    assert np.all(np.abs(ks.mean(0) - inf) <= tol), (np.abs(ks.mean(0) - inf) / tol).max()
    # NNGP: covariance of the outputs over many narrow-but-wide-enough inits
    outs = np.stack([np.asarray(net.apply(net.init(jax.random.PRNGKey(100 + s)), X)) for s in range(400)])
    nngp = np.asarray(nt.infinite_width_nngp(X, depth=depth, weight_var=2.0, bias_var=0.1))
    cov = outs.T @ outs / outs.shape[0]
    se = np.sqrt((nngp**2 + np.outer(np.diag(nngp), np.diag(nngp))) / outs.shape[0])  # Wishart entry sd
    assert np.all(np.abs(cov - nngp) <= 6 * se + 4 / width * np.abs(nngp))


@given(seed=st.integers(0, 10**6))
def test_infinite_kernels_are_symmetric_psd(seed):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), 8, 3)
    k = nt.infinite_width_kernels(X, depth=2, weight_var=1.7, bias_var=0.3)
    for K in (k.nngp, k.ntk):
        K = np.asarray(K)
        np.testing.assert_allclose(K, K.T, atol=F64)
        assert np.linalg.eigvalsh(K)[0] >= -1e-10


def test_linearize_is_exact_at_first_order_and_for_linear_models():
    net = nt.MLP((4, 16, 16, 1), bias_var=0.1)
    p0 = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 5, 4)
    f_lin = nt.linearize(net.apply, p0)
    np.testing.assert_allclose(f_lin(p0, x), net.apply(p0, x), atol=F64)
    v = jax.tree.map(lambda a: jax.random.normal(jax.random.PRNGKey(2), a.shape), p0)
    step = lambda t: jax.tree.map(lambda a, b: a + t * b, p0, v)  # noqa: E731
    for t in (1e-3, 1e-4):  # the Taylor remainder is O(t^2)
        assert float(jnp.max(jnp.abs(f_lin(step(t), x) - net.apply(step(t), x)))) < 50 * t**2
    # a model linear in its parameters is its own linearization
    lin_model = nt.MLP((4, 1), activation="identity")
    q0 = lin_model.init(jax.random.PRNGKey(3))
    q1 = jax.tree.map(lambda a: a + 1.0, q0)
    np.testing.assert_allclose(nt.linearize(lin_model.apply, q0)(q1, x), lin_model.apply(q1, x), atol=F64)


def test_gd_on_linearized_model_equals_closed_form_dynamics():
    net = nt.MLP((5, 64, 1), bias_var=0.1)
    p0 = net.init(jax.random.PRNGKey(0))
    X = nt.unit_sphere(jax.random.PRNGKey(1), 10, 5)
    Xt = nt.unit_sphere(jax.random.PRNGKey(2), 6, 5)
    y = nt.gaussian_labels(jax.random.PRNGKey(3), 10)
    K = nt.empirical_ntk(net.apply, p0, X)
    Kt = nt.empirical_ntk(net.apply, p0, Xt, X)
    eta = 0.5 / float(nt.lambda_max(K))
    traj = nt.gd_trajectory(nt.linearize(net.apply, p0), p0, X, y, eta=eta, steps=30, X_eval=Xt)
    closed = nt.linear_dynamics(K, y, net.apply(p0, X), eta, 30, ntk_test_train=Kt, u0_test=net.apply(p0, Xt))
    np.testing.assert_allclose(traj.records, closed.test, atol=1e-9)
    np.testing.assert_allclose(traj.loss, 0.5 * np.sum((np.asarray(closed.train) - np.asarray(y)) ** 2, 1), rtol=1e-9)
    flow = nt.linear_dynamics(K, y, net.apply(p0, X), eta, 30, flow=True)
    lam, V = np.linalg.eigh(np.asarray(K))  # independent: expm of -eta K t through scipy
    from scipy.linalg import expm
    u0 = np.asarray(net.apply(p0, X))
    np.testing.assert_allclose(flow.train[7], np.asarray(y) + expm(-eta * np.asarray(K) * 7) @ (u0 - np.asarray(y)), atol=1e-9)


def test_wider_networks_stay_closer_to_their_linearization():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 12, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 12)
    gaps = []
    for m in (16, 128, 1024):
        net = nt.MLP((6, m, m, 1), bias_var=0.1)
        p0 = net.init(jax.random.PRNGKey(m))
        eta = 0.5 / float(nt.lambda_max(nt.empirical_ntk(net.apply, p0, X)))
        a = nt.gd_trajectory(net.apply, p0, X, y, eta=eta, steps=40)
        b = nt.gd_trajectory(nt.linearize(net.apply, p0), p0, X, y, eta=eta, steps=40)
        gaps.append(float(jnp.max(jnp.abs(a.records - b.records))))
    assert gaps[0] > gaps[1] > gaps[2]
    assert nt.loglog_slope([16, 128, 1024], gaps).slope < -0.3


def test_bad_arguments():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 3, 2)
    with pytest.raises(ValueError, match="method"):
        nt.empirical_ntk(lambda p, x: x[:, 0] * p, 1.0, X, method="magic")
    with pytest.raises(ValueError, match="depth"):
        nt.infinite_width_ntk(X, depth=0)
    with pytest.raises(ValueError, match="weight_var"):
        nt.infinite_width_ntk(X, depth=2, weight_var=(1.0, 2.0))
    with pytest.raises(ValueError, match="parameterization"):
        nt.MLP((2, 3, 1), parameterization="mean-field")
