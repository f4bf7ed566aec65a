import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019.gram import coactivation_counts, gram_infinity_float64, update_coactivation_counts
from tests import reference
from tests.tolerances import F64, QUADRATURE, SLOPE, ULPS_F64, mc_tolerance, rel, tol


@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 2, 17, 30]), d=st.sampled_from([2, 3, 30]))
def test_h_infinity_is_symmetric_psd_with_diagonal_one_half(seed, n, d):
    """E[1{w.x >= 0}] = 1/2 on the sphere gives diag 1/2; H^inf is a Gram matrix in feature space."""
    H = np.asarray(nt.gram_infinity(nt.unit_sphere(jax.random.PRNGKey(seed), n, d)))
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(np.diag(H), 0.5, **tol(H))
    assert np.linalg.eigvalsh(H)[0] >= -F64  # an absolute round-off floor: the eigenvalue may be exactly 0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), n=st.sampled_from([2, 15]))
def test_h_infinity_is_permutation_equivariant(dtype, seed, n):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, 4, dtype=dtype)
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed + 1), n))
    H = np.asarray(nt.gram_infinity(X))
    assert H.dtype == dtype
    np.testing.assert_allclose(np.asarray(nt.gram_infinity(X[perm])), H[np.ix_(perm, perm)], **tol(dtype))
    lam_perm, lam = float(nt.lambda_min(nt.gram_infinity(X[perm]))), float(nt.lambda_min(H))
    np.testing.assert_allclose(lam_perm, lam, **tol(dtype))
    if dtype == jnp.float64:
        assert abs(lam_perm - lam) < F64  # the tighter absolute bound this test had before the table


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_h_infinity_against_angular_quadrature_in_two_dimensions(dtype):
    """Independent check: in d = 2, w/||w|| is uniform on the circle, so integrate the indicator on a grid (float64
    NumPy). The quadrature's error (2 cells of 2^-16, 3e-5) leaves room under QUADRATURE for float32's 1e-6."""
    theta = np.array([0.0, 0.3, 1.2, 2.0, 3.1, 4.4, 5.9])
    X = np.stack([np.cos(theta), np.sin(theta)], 1)
    phi = (np.arange(2**16) + 0.5) * 2 * np.pi / 2**16
    on = (np.cos(phi[None, :] - theta[:, None]) >= 0).astype(float)
    X = np.asarray(X.astype(dtype), np.float64)  # the reference on the very rows the library sees
    quad = (X @ X.T) * (on @ on.T) / phi.size
    H = np.asarray(nt.gram_infinity(jnp.asarray(X, dtype)))
    assert H.dtype == dtype
    np.testing.assert_allclose(H, quad, rtol=0, atol=QUADRATURE)  # an absolute quadrature error, not round-off


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


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 10]), m=st.sampled_from([1, 30]))
def test_gram_matrix_is_jacobian_outer_product_and_matches_reference(dtype, seed, n, m):
    """H(W) = J J^T with J = du/dW (Du et al. 2019, Section 3), and equals the float64 NumPy loop of eq. (5)."""
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, 4, dtype=dtype)
    p = nt.init_params(jax.random.PRNGKey(seed + 1), m, 4, dtype=dtype)
    J = jax.jacobian(lambda W: nt.predict(nt.Params(W, p.a), X))(p.W).reshape(n, -1)
    H = np.asarray(nt.gram_matrix(p.W, X))
    assert H.dtype == dtype
    np.testing.assert_allclose(H, np.asarray(J @ J.T), **tol(dtype))
    np.testing.assert_allclose(H, reference.gram(p.W, X), **tol(dtype))
    assert np.linalg.eigvalsh(np.asarray(H, np.float64))[0] >= -tol(dtype)["atol"]  # PSD up to round-off


def test_finite_width_gram_concentrates_on_h_infinity():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 10, 6)
    W = nt.init_params(jax.random.PRNGKey(1), 200_000, 6).W
    # Monte Carlo over the m = 200,000 neurons: an absolute error bar (tests/tolerances.py), no relative part
    np.testing.assert_allclose(nt.gram_matrix(W, X), nt.gram_infinity(X), rtol=0, atol=mc_tolerance(200_000))


@given(
    seed=st.integers(0, 10**6),
    n=st.sampled_from([1, 5, 33]),
    m=st.sampled_from([1, 31, 32, 70]),
    rate=st.sampled_from([0.0, 0.01, 0.2, 1.0]),
    chunk=st.sampled_from([1, 7, 2048]),
)
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


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_coactivation_update_is_exact_in_either_dtype_and_refuses_bad_shapes(dtype):
    """Counts up to m = 300 are integers that both dtypes hold exactly: equality with the float64 product."""
    old = jax.random.bernoulli(jax.random.PRNGKey(0), 0.5, (40, 300))
    new = old ^ jax.random.bernoulli(jax.random.PRNGKey(1), 0.05, (40, 300))
    counts = coactivation_counts(old, dtype)
    np.testing.assert_array_equal(np.asarray(counts), np.asarray(old, np.float64) @ np.asarray(old, np.float64).T)
    got = update_coactivation_counts(counts, old, new, chunk=64)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), np.asarray(new, np.float64) @ np.asarray(new, np.float64).T)
    with pytest.raises(ValueError, match="one shape"):
        update_coactivation_counts(counts, old, new[:, :10])


@given(seed=st.integers(0, 10**6), scale=st.floats(0.01, 100.0))
def test_h_infinity_is_exact_for_any_nonzero_rows(seed, scale):
    """The angle form: H^inf(c X) = c^2 H^inf(X), diagonal exactly ||x_i||^2 / 2, rows of any norm.

    Inherently float64: the diagonal is asserted to 1e-15 (its float32 twin is the quadrature and reference tests)."""
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.normal(size=(9, 4)) * rng.uniform(0.2, 5.0, size=(9, 1)))
    H = np.asarray(nt.gram_infinity(X))
    np.testing.assert_allclose(np.asarray(nt.gram_infinity(scale * X)), scale**2 * H, **rel(H))
    # a few ulps: the diagonal is ||x||^2 / 2 by the snap to the parallel limit, no arccos in it
    np.testing.assert_allclose(np.diag(H), np.sum(np.asarray(X) ** 2, axis=1) / 2, **ULPS_F64)
    # the definition, on the normalized rows: x_i.x_j (pi - angle) / (2 pi)
    U = np.asarray(X) / np.linalg.norm(np.asarray(X), axis=1, keepdims=True)
    angle = np.arccos(np.clip(U @ U.T, -1, 1))
    np.fill_diagonal(angle, 0.0)
    np.testing.assert_allclose(H, np.asarray(X) @ np.asarray(X).T * (np.pi - angle) / (2 * np.pi), **tol(H))


def test_h_infinity_in_float32_agrees_with_float64_and_zero_rows_are_refused():
    X64 = np.asarray(nt.unit_sphere(jax.random.PRNGKey(3), 200, 200), np.float64)
    H64 = gram_infinity_float64(X64)
    H32 = np.asarray(nt.gram_infinity(jnp.asarray(X64, jnp.float32)))
    assert H32.dtype == np.float32
    # the float32 target, 1e-6 entry by entry: the table's float32 atol, absolute (no rtol on top)
    np.testing.assert_allclose(H32, H64, rtol=0, atol=tol(H32)["atol"])
    np.testing.assert_allclose(np.diag(H32), 0.5, **rel(H32))  # arccos(1 - eps) no longer bites
    with pytest.raises(ValueError, match=r"^X\[3\] is the zero vector"):
        nt.gram_infinity(jnp.asarray(X64).at[3].set(0.0))


def test_one_problem_in_two_precisions_shares_lambda_0():
    """Data and init are drawn in float32 and cast: the float64 run of a seed solves the float32 run's problem."""
    key = jax.random.PRNGKey(11)
    X32, X64 = (nt.unit_sphere(key, 120, 120, dtype=dt) for dt in (jnp.float32, jnp.float64))
    # one rounding of each float64 entry (|x| <= 1) to float32: half an ulp, 6e-8 (tighter than the table)
    np.testing.assert_allclose(X32, X64, rtol=0, atol=1e-7)
    lam32, lam64 = nt.lambda_zero(X32), nt.lambda_zero(X64)
    # lambda_0 in float64 of the rounded rows: tighter than the float32 table (rtol 1e-4), kept from before it
    assert lam32 == pytest.approx(lam64, rel=1e-6)
    p32, p64 = (nt.init_params(key, 64, 120, dtype=dt) for dt in (jnp.float32, jnp.float64))
    np.testing.assert_array_equal(np.asarray(p32.W, np.float64), p64.W)
    np.testing.assert_array_equal(
        np.asarray(nt.gaussian_labels(key, 5, jnp.float32), np.float64), nt.gaussian_labels(key, 5, jnp.float64)
    )


@given(seed=st.integers(0, 10**6))
def test_h_infinity_float64_is_the_same_formula_for_any_rows_in_any_input_precision(seed):
    """gram_infinity_float64 (host NumPy) against the traced gram_infinity, on rows of any norm with parallel and
    antiparallel pairs (the cosine's clip and the snap to +-1), from float32 and float64 input."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(8, 5)) * rng.uniform(0.2, 5.0, size=(8, 1))
    X[6] = 3.0 * X[0]  # parallel: angle 0, H = x.x' / 2
    X[7] = -0.5 * X[1]  # antiparallel: angle pi, H = 0
    H = gram_infinity_float64(X)
    assert H.dtype == np.float64
    np.testing.assert_allclose(H, np.asarray(nt.gram_infinity(jnp.asarray(X))), **tol(H))
    # the parallel and antiparallel limits and the diagonal involve no arccos: a few ulps, tighter than the table
    np.testing.assert_allclose(H[0, 6], X[0] @ X[6] / 2, **ULPS_F64)
    np.testing.assert_allclose(H[1, 7], 0.0, **tol(H))
    np.testing.assert_allclose(np.diag(H), np.sum(X**2, axis=1) / 2, **ULPS_F64)
    X32 = X.astype(np.float32)
    H32in = gram_infinity_float64(X32)  # float32 data, float64 arithmetic
    assert H32in.dtype == np.float64
    np.testing.assert_array_equal(H32in, gram_infinity_float64(X32.astype(np.float64)))
    with pytest.raises(ValueError, match=r"X\[2\] is the zero vector"):
        gram_infinity_float64(np.where(np.arange(8)[:, None] == 2, 0.0, X))


def test_near_parallel_rows_snap_to_the_parallel_limit():
    """Rows parallel up to round-off are treated as parallel (cos within PARALLEL_ULPS of 1 counts as 1)."""
    from ntk_proofs.du2019.gram import PARALLEL_ULPS

    x = np.array([0.6, 0.8, 1e-3])
    bent = x + np.array([0.0, 0.0, 4 * np.finfo(np.float64).eps])  # cos = 1 - O(eps)
    X = np.stack([x, bent, -bent])
    cos = (x @ bent) / np.linalg.norm(x) / np.linalg.norm(bent)
    assert 1 - cos <= PARALLEL_ULPS * np.finfo(np.float64).eps
    H = gram_infinity_float64(X)
    assert H[0, 1] == (x @ bent) / 2 and H[0, 2] == 0.0


def test_flip_count_counts_differing_entries_and_gram_keeps_the_dtype():
    from ntk_proofs.du2019.gram import flip_count, gram_from_pattern, pack_pattern

    rng = np.random.default_rng(0)
    P, Q = rng.random((40, 30)) < 0.5, rng.random((40, 30)) < 0.5
    got = flip_count(pack_pattern(jnp.asarray(P)), pack_pattern(jnp.asarray(Q)))
    assert int(got) == int(np.sum(P != Q))
    G = jnp.asarray(rng.normal(size=(40, 40)), jnp.float32)
    H = gram_from_pattern(jnp.asarray(P), G)
    assert H.dtype == jnp.float32
    np.testing.assert_allclose(H, np.asarray(G) * (P.astype(float) @ P.T.astype(float)) / 30, **rel(H))


def test_monte_carlo_h_infinity_refuses_a_bad_sample_count():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match=r"^samples must"):
            nt.gram_infinity_mc(jax.random.PRNGKey(1), X, bad)


def test_monte_carlo_h_infinity_keeps_float32_inputs_in_float32():
    """Under x64, float32 inputs give a float32 estimate: the patterns and the counts are accumulated in X's dtype."""
    X = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3).astype(jnp.float32)
    H = nt.gram_infinity_mc(jax.random.PRNGKey(1), X, 600, chunk=256)
    assert H.dtype == jnp.float32
    np.testing.assert_allclose(H, nt.gram_infinity(X), rtol=0, atol=mc_tolerance(600))  # Monte Carlo: absolute


def test_float32_near_parallel_rows_snap_to_equal_rows_under_x64():
    """The snap of near-parallel rows uses the input's own epsilon: two float32 rows a few float32 ulps apart in
    direction get the angle 0 even when float64 is on."""
    x = jnp.array([0.6, 0.8, 0.0], jnp.float32)
    X = jnp.stack([x, x + jnp.array([0.0, 0.0, 1.4e-3], jnp.float32), jnp.array([0.0, 0.6, 0.8], jnp.float32)])
    H = nt.gram_infinity(X)
    assert H.dtype == jnp.float32
    G01 = float(np.dot(np.asarray(X[0], np.float64), np.asarray(X[1], np.float64)))
    # 1 - cos ~ 1e-6, 8 float32 ulps: angle 0 exactly, H_01 = x_0 . x_1 / 2; unsnapped, the angle 1.4e-3 costs 4.5e-4
    # 4e-6: well under the 4.5e-4 an unsnapped angle costs, tighter than the float32 table's 1e-4
    np.testing.assert_allclose(H[0, 1], G01 / 2, rtol=4e-6, atol=0)
