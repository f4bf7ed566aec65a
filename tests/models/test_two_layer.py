import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.models.two_layer import activation_pattern, forward_from_preactivations, gradient_coefficients
from tests import reference
from tests.tolerances import F32, F64, MC_SIGMAS, tol

# A few shapes (n, d, m), edge cases included; every shape costs one compilation, seeds are free.
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 3, 1), (9, 4, 33), (12, 8, 64)]


def _setup(seed, n, d, m, kappa=1.0, dtype=None):
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(seed), 3)
    return (
        nt.unit_sphere(kx, n, d, dtype=dtype),
        nt.gaussian_labels(ky, n, dtype),
        nt.init_params(kw, m, d, kappa, dtype=dtype),
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES))
def test_predict_matches_independent_reference(dtype, seed, shape):
    """u = m^-1/2 sum_r a_r relu(w_r . x) (Du et al. eq. (1)) in either dtype, against the float64 NumPy loop."""
    n, d, m = shape
    X, _, p = _setup(seed, n, d, m, dtype=dtype)
    u = nt.predict(p, X)
    assert u.dtype == dtype
    np.testing.assert_allclose(u, reference.predict(p.W, p.a, X), **tol(dtype))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES))
def test_autodiff_gradient_equals_the_papers_formula(dtype, seed, shape):
    """jax.grad of L(W) = 0.5||u - y||^2 equals Du et al. eq. (3), and both equal the float64 NumPy loop."""
    n, d, m = shape
    X, y, p = _setup(seed, n, d, m, dtype=dtype)
    auto = jax.grad(lambda W: nt.loss(nt.Params(W, p.a), X, y))(p.W)
    closed = nt.loss_gradient(p, X, y)
    assert closed.dtype == dtype
    np.testing.assert_allclose(auto, closed, **tol(dtype))
    np.testing.assert_allclose(closed, reference.gradient(p.W, p.a, X, y), **tol(dtype))


@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES))
def test_per_neuron_gradient_obeys_the_proofs_bound(seed, shape):
    """Du et al. (2019), proof of Lemma 3.3: ||dL/dw_r|| <= sqrt(n / m) ||y - u||."""
    n, d, m = shape
    X, y, p = _setup(seed, n, d, m)
    G = np.asarray(nt.loss_gradient(p, X, y))
    res = float(jnp.linalg.norm(nt.predict(p, X) - y))
    assert np.all(np.linalg.norm(G, axis=1) <= np.sqrt(n / m) * res * (1 + F64))  # the bound, up to round-off


def test_init_params_distribution_and_shapes():
    p = nt.init_params(jax.random.PRNGKey(3), 4000, 50, kappa=0.3)
    assert p.W.shape == (4000, 50) and p.a.shape == (4000,)
    assert set(np.unique(np.asarray(p.a))) == {-1.0, 1.0}
    N = p.W.size  # sample std of N Gaussians has standard error kappa / sqrt(2N)
    assert abs(float(jnp.std(p.W)) - 0.3) < MC_SIGMAS * 0.3 / np.sqrt(2 * N)
    assert abs(float(jnp.mean(p.a))) < MC_SIGMAS / np.sqrt(4000)  # the mean of 4000 signs: standard error 1/sqrt(4000)


def test_bad_widths_and_scales_are_refused():
    with pytest.raises(ValueError, match="width"):
        nt.init_params(jax.random.PRNGKey(0), 0, 3)
    with pytest.raises(ValueError, match="kappa"):
        nt.init_params(jax.random.PRNGKey(0), 3, 3, kappa=0.0)


def test_dtype_follows_jax_x64_setting():
    X, y, p = _setup(0, 5, 3, 7)
    assert nt.predict(p, X).dtype == jnp.float64 and nt.loss_gradient(p, X, y).dtype == jnp.float64
    with jax.enable_x64(False):
        X32, y32, p32 = _setup(0, 5, 3, 7)
        assert p32.W.dtype == jnp.float32 and nt.predict(p32, X32).dtype == jnp.float32
        # float32 against float64, kept from before the table (whose float32 atol, 1e-6, it has not been run at)
        np.testing.assert_allclose(nt.predict(p32, X32), reference.predict(p32.W, p32.a, X32), rtol=F32, atol=F32)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_activation_pattern_matches_definition(dtype):
    """1{w_r . x_i >= 0} in either dtype, against the float64 product of the same (rounded) arrays."""
    X, _, p = _setup(5, 7, 4, 9, dtype=dtype)
    np.testing.assert_array_equal(
        activation_pattern(p.W, X), np.asarray(X, np.float64) @ np.asarray(p.W, np.float64).T >= 0
    )


@given(seed=st.integers(0, 10**6))
def test_forward_pass_and_gradient_coefficients_match_numpy_with_exact_zeros(seed):
    """Every field of the forward pass (eqs. (1)-(2) of Du et al. 2019) and D of eq. (3), against NumPy, on
    pre-activations with exact zeros: the paper's pattern is 1{w_r . x_i >= 0}, so a zero counts as active."""
    rng = np.random.default_rng(seed)
    n, m = 7, 12
    Z = rng.normal(size=(n, m))
    Z[rng.random(size=(n, m)) < 0.2] = 0.0
    a = rng.choice([-1.0, 1.0], size=m)
    y = rng.normal(size=n)
    fwd = forward_from_preactivations(jnp.asarray(Z), jnp.asarray(a), jnp.asarray(y))
    u = np.maximum(Z, 0.0) @ a / np.sqrt(m)
    np.testing.assert_array_equal(fwd.pattern, Z >= 0)
    # the table's rtol; atol 1e-14, tighter than the table's 1e-12, kept from before it (sums of 12 O(1) terms)
    tight = dict(tol(np.float64), atol=1e-14)
    np.testing.assert_allclose(fwd.u, u, **tight)
    np.testing.assert_allclose(fwd.residual, u - y, **tight)
    np.testing.assert_allclose(fwd.loss, 0.5 * np.sum((u - y) ** 2), **tight)
    D = gradient_coefficients(jnp.asarray(a), fwd)
    np.testing.assert_allclose(D, (u - y)[:, None] * a[None, :] * (Z >= 0) / np.sqrt(m), **tight)


def test_float32_parameters_keep_float32_under_x64_and_the_defaults_are_the_papers():
    """init_params(dtype=float32) under x64 gives float32 W and a; the forward pass and the gradient coefficients
    of float32 arrays stay float32 (the width's square root is taken in the arrays' dtype); kappa = 1 by default."""
    key = jax.random.PRNGKey(3)
    p = nt.init_params(key, 6, 4, dtype=jnp.float32)
    assert p.W.dtype == jnp.float32 and p.a.dtype == jnp.float32
    assert set(np.unique(np.asarray(p.a))) <= {-1.0, 1.0}
    np.testing.assert_array_equal(nt.init_params(key, 6, 4).W, nt.init_params(key, 6, 4, kappa=1.0).W)
    X = nt.unit_sphere(jax.random.PRNGKey(4), 5, 4).astype(jnp.float32)
    fwd = forward_from_preactivations(X @ p.W.T, p.a, jnp.zeros(5, jnp.float32))
    assert fwd.u.dtype == jnp.float32 and fwd.loss.dtype == jnp.float32
    assert gradient_coefficients(p.a, fwd).dtype == jnp.float32
    with pytest.raises(ValueError, match=r"^m \(the width\) must be a positive integer"):
        nt.init_params(key, 0, 3)
    with pytest.raises(ValueError, match=r"^d must be a positive integer; got 0"):
        nt.init_params(key, 3, 0)


def test_a_neuron_with_zero_preactivation_counts_as_active_as_in_the_paper():
    """Du et al. (2019) use 1{w_r . x_i >= 0}: a zero pre-activation is active, in the pattern and in H(W)."""
    X = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    W = jnp.concatenate([jnp.zeros((1, 3)), nt.init_params(jax.random.PRNGKey(1), 2, 3).W])
    pattern = np.asarray(activation_pattern(W, X)).astype(np.float64)
    assert pattern[:, 0].all() and 0 < pattern[:, 1:].sum() < pattern[:, 1:].size
    np.testing.assert_allclose(
        nt.gram_matrix(W, X), (np.asarray(X) @ np.asarray(X).T) * (pattern @ pattern.T) / 3, **tol(X)
    )
