import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019.gram import coactivation_counts, update_coactivation_counts
from tests import reference
from tests.tolerances import F64, QUADRATURE, SLOPE, mc_tolerance


@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 2, 17, 30]), d=st.sampled_from([2, 3, 30]))
def test_h_infinity_is_symmetric_psd_with_diagonal_one_half(seed, n, d):
    """E[1{w.x >= 0}] = 1/2 on the sphere gives diag 1/2; H^inf is a Gram matrix in feature space."""
    H = np.asarray(nt.gram_infinity(nt.unit_sphere(jax.random.PRNGKey(seed), n, d)))
    np.testing.assert_allclose(H, H.T, atol=0)
    np.testing.assert_allclose(np.diag(H), 0.5, atol=F64)
    assert np.linalg.eigvalsh(H)[0] >= -F64


@given(seed=st.integers(0, 10**6), n=st.sampled_from([2, 15]))
def test_h_infinity_is_permutation_equivariant(seed, n):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, 4)
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed + 1), n))
    H = np.asarray(nt.gram_infinity(X))
    np.testing.assert_allclose(np.asarray(nt.gram_infinity(X[perm])), H[np.ix_(perm, perm)], atol=F64)
    assert abs(float(nt.lambda_min(nt.gram_infinity(X[perm]))) - float(nt.lambda_min(H))) < F64


def test_h_infinity_against_angular_quadrature_in_two_dimensions():
    """Independent check: in d = 2, w/||w|| is uniform on the circle, so integrate the indicator on a grid."""
    theta = np.array([0.0, 0.3, 1.2, 2.0, 3.1, 4.4, 5.9])
    X = np.stack([np.cos(theta), np.sin(theta)], 1)
    phi = (np.arange(2**16) + 0.5) * 2 * np.pi / 2**16
    on = (np.cos(phi[None, :] - theta[:, None]) >= 0).astype(float)
    quad = (X @ X.T) * (on @ on.T) / phi.size
    np.testing.assert_allclose(np.asarray(nt.gram_infinity(jnp.asarray(X))), quad, atol=QUADRATURE)


def test_monte_carlo_estimate_within_error_bar_and_converges_at_rate_one_half():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 12, 5)
    H = np.asarray(nt.gram_infinity(X))
    sizes = np.array([256, 1024, 4096, 16384, 65536])
    rms = []
    for S in sizes:
        errs = []
        for rep in range(8):
            Hmc = np.asarray(nt.gram_infinity_mc(jax.random.PRNGKey(100 * rep + int(S)), X, int(S), chunk=1000))
            assert np.abs(Hmc - H).max() < mc_tolerance(int(S))
            errs.append(np.sqrt(np.mean((Hmc - H) ** 2)))
        rms.append(np.mean(errs))
    slope = nt.loglog_slope(sizes, rms).slope
    assert abs(slope + 0.5) < SLOPE, slope


@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 10]), m=st.sampled_from([1, 30]))
def test_gram_matrix_is_jacobian_outer_product_and_matches_reference(seed, n, m):
    """H(W) = J J^T with J = du/dW (Du et al. 2019, Section 3), and equals the NumPy loop of eq. (5)."""
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, 4)
    p = nt.init_params(jax.random.PRNGKey(seed + 1), m, 4)
    J = jax.jacobian(lambda W: nt.predict(nt.Params(W, p.a), X))(p.W).reshape(n, -1)
    H = np.asarray(nt.gram_matrix(p.W, X))
    np.testing.assert_allclose(H, np.asarray(J @ J.T), atol=F64)
    np.testing.assert_allclose(H, reference.gram(p.W, X), atol=F64)
    assert np.linalg.eigvalsh(H)[0] >= -F64


def test_finite_width_gram_concentrates_on_h_infinity():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 10, 6)
    W = nt.init_params(jax.random.PRNGKey(1), 200_000, 6).W
    np.testing.assert_allclose(nt.gram_matrix(W, X), nt.gram_infinity(X), atol=mc_tolerance(200_000))


def test_lambda_min_and_max_match_numpy():
    A = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (9, 9)))
    S = A + A.T
    ev = np.linalg.eigvalsh(S)
    assert abs(float(nt.lambda_min(jnp.asarray(S))) - ev[0]) < F64
    assert abs(float(nt.lambda_max(jnp.asarray(S))) - ev[-1]) < F64


@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 5, 33]), m=st.sampled_from([1, 31, 32, 70]),
       rate=st.sampled_from([0.0, 0.01, 0.2, 1.0]), chunk=st.sampled_from([1, 7, 2048]))
def test_coactivation_update_equals_the_dense_product(seed, n, m, rate, chunk):
    """P'P'^T from P P^T and the flipped entries, exactly, over shapes not multiples of the 32-bit packing,
    flip rates from none to all, chunks smaller and larger than the flip list, and both paths (budget)."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    old = jax.random.bernoulli(k1, 0.5, (n, m))
    new = old ^ jax.random.bernoulli(k2, rate, (n, m))
    counts = coactivation_counts(old)
    expected = np.asarray(new, np.float64) @ np.asarray(new, np.float64).T
    for budget in (n * m, 0):  # every flip through the sparse update; always the dense product
        got = update_coactivation_counts(counts, old, new, budget=budget, chunk=chunk)
        np.testing.assert_array_equal(np.asarray(got), expected)


def test_coactivation_update_is_exact_in_float32_and_refuses_bad_shapes():
    old = jax.random.bernoulli(jax.random.PRNGKey(0), 0.5, (40, 300))
    new = old ^ jax.random.bernoulli(jax.random.PRNGKey(1), 0.05, (40, 300))
    counts = coactivation_counts(old, jnp.float32)
    got = update_coactivation_counts(counts, old, new, chunk=64)
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got), np.asarray(new, np.float64) @ np.asarray(new, np.float64).T)
    with pytest.raises(ValueError, match="one shape"):
        update_coactivation_counts(counts, old, new[:, :10])
