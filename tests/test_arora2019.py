"""Arora et al. (2019): eigen-projections, the predicted residual, the generalization bound, real-data loaders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests.tolerances import approx, rel, tol


def _sphere_task(seed, n, d=6, dtype=None):
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    X = nt.unit_sphere(kx, n, d, dtype=dtype)
    return X, nt.gaussian_labels(ky, n, dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), n=st.sampled_from([1, 7, 25]))
def test_eigendecomposition_reconstructs_h_and_projections_sum_to_norm(dtype, seed, n):
    """H = V diag(lambda) V^T, V orthonormal, and sum_i (v_i . y)^2 = ||y||^2 (Arora et al. 2019, Section 4), in
    either dtype, the eigenvalues against NumPy's float64 eigvalsh of the same matrix."""
    X, y = _sphere_task(seed, n, dtype=dtype)
    H = nt.gram_infinity(X)
    lam, V = nt.eigh_descending(H)
    assert lam.dtype == V.dtype == dtype
    np.testing.assert_allclose(np.asarray(V * lam[None, :] @ V.T), np.asarray(H), **tol(dtype))
    np.testing.assert_allclose(np.asarray(V.T @ V), np.eye(n), **tol(dtype))
    eig = nt.eigen_projections(H, y)
    assert np.all(np.diff(np.asarray(eig.eigenvalues)) <= 0)
    # against an independent eigensolver (NumPy's LAPACK call on the float64 matrix)
    np.testing.assert_allclose(eig.eigenvalues, np.linalg.eigvalsh(np.asarray(H, np.float64))[::-1], **tol(dtype))
    y64 = np.asarray(y, np.float64)
    assert float(jnp.sum(eig.projections)) == approx(float(y64 @ y64), dtype)


@given(seed=st.integers(0, 10**6))
def test_predicted_residual_is_exact_for_the_linear_dynamics(seed):
    """Independent check: iterate u <- u - eta H (u - y) from u(0) and compare ||y - u(k)||."""
    X, y = _sphere_task(seed, 12)
    H = np.asarray(nt.gram_infinity(X))
    u0 = 0.3 * np.asarray(jax.random.normal(jax.random.PRNGKey(seed + 1), (12,)))
    eta, steps = 0.9 / np.linalg.eigvalsh(H)[-1], 40
    u, norms = u0.copy(), []
    for _ in range(steps + 1):
        norms.append(np.linalg.norm(np.asarray(y) - u))
        u = u - eta * H @ (u - np.asarray(y))
    pred = np.asarray(nt.predicted_residual(H, y, eta, steps, u0=u0))
    np.testing.assert_allclose(pred, norms, **tol(pred))
    assert float(nt.predicted_residual(H, y, eta, 0)[0]) == approx(float(jnp.linalg.norm(y)))


def test_prediction_matches_gd_at_large_width_and_the_gap_shrinks():
    """Arora et al. Thm 4.1: ||y - u(k)|| tracks the prediction for every k, better as m grows (stated: 5% of ||y||)."""
    X, y = _sphere_task(3, 20, d=10)
    H = nt.gram_infinity(X)
    eta, steps = 1.0 / float(nt.lambda_max(H)), 200
    gaps = []
    for m in (256, 4096, 65536):
        p = nt.init_params(jax.random.PRNGKey(m), m, 10, kappa=1.0)
        res = nt.train_gd(p, X, y, eta=eta, steps=steps, record_every=0)
        measured = np.sqrt(2 * np.asarray(res.loss))
        pred = np.asarray(nt.predicted_residual(H, y, eta, steps, u0=nt.predict(p, X)))
        gaps.append(np.max(np.abs(measured - pred)) / float(jnp.linalg.norm(y)))
    assert gaps[-1] < 0.05, gaps  # the stated agreement of Theorem 4.1's check, not round-off
    assert gaps[0] > gaps[1] > gaps[2], gaps


def test_random_labels_have_a_larger_bound_than_true_labels_on_digits():
    X, y = nt.load_digits_binary("parity")
    X, y = X[:200], y[:200]
    H = nt.gram_infinity(X)
    true_bound = float(nt.generalization_bound(H, y))
    for seed in range(3):
        random_bound = float(nt.generalization_bound(H, nt.corrupt_labels(jax.random.PRNGKey(seed), y, 1.0)))
        assert random_bound > 1.5 * true_bound, (random_bound, true_bound)


@given(seed=st.integers(0, 10**6))
def test_bound_is_invariant_to_permuting_the_data(seed):
    X, y = _sphere_task(seed, 15)
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed + 7), 15))
    a = float(nt.generalization_bound(nt.gram_infinity(X), y))
    b = float(nt.generalization_bound(nt.gram_infinity(X[perm]), y[perm]))
    assert a == approx(b)
    # and it equals the direct formula with a linear solve
    H = np.asarray(nt.gram_infinity(X))
    assert a == pytest.approx(np.sqrt(2 * np.asarray(y) @ np.linalg.solve(H, np.asarray(y)) / 15))


def test_bound_refuses_singular_indefinite_and_malformed_kernels():
    X, y = _sphere_task(0, 6)
    with pytest.raises(nt.AssumptionError, match="singular"):
        nt.generalization_bound(nt.gram_infinity(X.at[3].set(X[0])), y)
    with pytest.raises(nt.AssumptionError, match="positive semi-definite"):
        nt.generalization_bound(jnp.diag(jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, -0.5])), y)
    with pytest.raises(ValueError, match="symmetric"):
        nt.generalization_bound(jnp.triu(jnp.ones((6, 6))), y)
    with pytest.raises(ValueError, match="shape"):
        nt.eigen_projections(jnp.eye(6), y[:5])
    with pytest.raises(ValueError, match="step"):
        nt.predicted_residual(jnp.eye(6), y, -1.0, 3)


def test_digits_loader_gives_distinct_unit_rows_and_sign_labels():
    for classes, n in (((0, 1), 360), ("parity", 1797)):
        X, y = nt.load_digits_binary(classes)
        assert X.shape == (n, 64) and set(np.unique(np.asarray(y))) == {-1.0, 1.0}
        nt.check_inputs(X, y)  # unit norm, no parallel rows
    with pytest.raises(ValueError, match="two different digits"):
        nt.load_digits_binary((3, 3))


def test_npz_loader_roundtrip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4, 4))
    labels = np.repeat([3, 7], 15)
    np.savez(tmp_path / "ok.npz", x=x, y=labels)
    X, y = nt.load_npz(tmp_path / "ok.npz")
    assert X.shape == (30, 16) and np.all(np.asarray(y) == np.where(labels == 7, 1.0, -1.0))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(X), axis=1), 1.0, **rel(X))
    np.savez(tmp_path / "three.npz", x=x, y=np.arange(30) % 3)
    with pytest.raises(ValueError, match="exactly two values"):
        nt.load_npz(tmp_path / "three.npz")
    np.savez(tmp_path / "nokey.npz", images=x, y=labels)
    with pytest.raises(ValueError, match="'x'"):
        nt.load_npz(tmp_path / "nokey.npz")


@given(seed=st.integers(0, 10**6), p=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_corrupt_labels_replaces_exactly_round_pn_labels(seed, p):
    n = 40
    y = jnp.zeros(n)  # every replaced entry becomes +-1, so the count of nonzeros is the number replaced
    out = nt.corrupt_labels(jax.random.PRNGKey(seed), y, p)
    assert int(jnp.sum(out != 0)) == round(p * n)
    y1 = jnp.ones(n)
    np.testing.assert_array_equal(nt.corrupt_labels(jax.random.PRNGKey(seed), y1, 0.0), y1)
    with pytest.raises(ValueError):
        nt.corrupt_labels(jax.random.PRNGKey(seed), y1, 1.5)


def test_train_test_split_is_a_seeded_partition():
    X, y = _sphere_task(0, 20)
    Xtr, ytr, Xte, yte = nt.train_test_split(jax.random.PRNGKey(1), X, y, 5)
    assert Xtr.shape == (15, 6) and Xte.shape == (5, 6)
    rows = {tuple(np.round(np.asarray(r), 12)) for r in np.concatenate([Xtr, Xte])}
    assert len(rows) == 20
    with pytest.raises(ValueError):
        nt.train_test_split(jax.random.PRNGKey(1), X, y, 20)


@given(seed=st.integers(0, 10**6), n=st.sampled_from([3, 15]))
def test_kernel_prediction_is_the_loss_of_gd_on_the_fixed_kernel_dynamics(seed, n):
    """u(k+1) - y = (I - eta H)(u(k) - y), iterated explicitly in float64, against the eigen-form prediction."""
    X, y = _sphere_task(seed, n)
    H = np.asarray(nt.gram_infinity(X), np.float64)
    u0 = 0.3 * np.asarray(nt.gaussian_labels(jax.random.PRNGKey(seed + 1), n), np.float64)
    eta, r, losses = 1.0 / np.linalg.eigvalsh(H)[-1], np.asarray(y, np.float64) - u0, []
    for _ in range(31):
        losses.append(0.5 * r @ r)
        r = r - eta * H @ r
    pred = np.asarray(nt.kernel_prediction(jnp.asarray(H), jnp.asarray(np.asarray(y) - u0), eta=eta, steps=30))
    # the table's rtol; atol 1e-14, tighter than the table's 1e-12, kept from before it
    tight = dict(tol(pred), atol=1e-14)
    np.testing.assert_allclose(pred, losses, **tight)
    np.testing.assert_allclose(np.sqrt(2 * pred), nt.predicted_residual(H, y, eta, 30, u0=u0), **tight)


def test_generalization_bound_refuses_singular_and_indefinite_kernels_at_the_round_off_scale():
    """The tolerance is n eps max|lambda|: a least eigenvalue 1e-12 next to 1e6 is singular (tol 6.7e-10), the
    same 1e-12 next to 1 is not; an indefinite H names its least eigenvalue."""
    y = jnp.ones(3)
    with pytest.raises(
        nt.AssumptionError,
        match=r"^H is singular \(least eigenvalue 1e-12 within round-off 6\.7e-10\)"
        r".*distinct inputs\.$",
    ):
        nt.generalization_bound(jnp.diag(jnp.array([1e6, 1.0, 1e-12])), y)
    value = nt.generalization_bound(jnp.diag(jnp.array([1.0, 1.0, 1e-12])), y)
    np.testing.assert_allclose(value, np.sqrt(2 * (2 + 1e12) / 3), **rel(value))
    with pytest.raises(
        nt.AssumptionError, match=r"^H is not positive semi-definite \(least eigenvalue -1\);.*of the data\.$"
    ):
        nt.generalization_bound(jnp.diag(jnp.array([1.0, 0.5, -1.0])), y)


def test_kernel_prediction_checks_its_arguments_and_keeps_the_kernel_dtype():
    H32 = jnp.asarray(np.diag([2.0, 1.0, 0.5]), jnp.float32)
    y64 = jnp.asarray([1.0, -1.0, 0.5], jnp.float64)
    pred = nt.kernel_prediction(H32, y64, eta=0.3, steps=4)
    assert pred.dtype == jnp.float32 and pred.shape == (5,)
    np.testing.assert_allclose(
        pred,
        0.5
        * np.sum(
            np.array([1.0, 1.0, 0.25])[None, :]
            * (1 - 0.3 * np.array([2.0, 1.0, 0.5])[None, :]) ** (2 * np.arange(5)[:, None]),
            axis=1,
        ),
        # float32 powers of exact inputs, to 1e-6: tighter than the float32 table's 1e-4, kept from before it
        rtol=1e-6,
        atol=0,
    )
    residual = nt.predicted_residual(H32, jnp.asarray(y64, jnp.float32), 0.3, 4, u0=jnp.zeros(3, jnp.float64))
    assert residual.dtype == jnp.float32
    for bad in (dict(eta=0.0), dict(eta=-1.0), dict(eta=float("nan"))):
        with pytest.raises(ValueError, match="^eta must be a positive finite step size"):
            nt.kernel_prediction(H32, y64, steps=3, **bad)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="^steps must be a non-negative integer"):
            nt.kernel_prediction(H32, y64, eta=0.3, steps=bad)
    for H in (jnp.ones((3, 4)), jnp.ones(3), jnp.ones((0, 0))):
        with pytest.raises(ValueError, match=r"^H must be a square \(n, n\) matrix"):
            nt.kernel_prediction(H, y64[: H.shape[0]] if H.ndim == 2 else y64, eta=0.3, steps=3)


def test_kernels_must_be_finite_and_symmetric_to_round_off_at_their_own_scale():
    y = jnp.ones(2)
    with pytest.raises(ValueError, match=r"^H or y contains NaN or infinite entries\.$"):
        nt.kernel_prediction(jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]]), y, eta=0.1, steps=2)
    with pytest.raises(ValueError, match=r"^H must be symmetric\.$"):
        nt.kernel_prediction(jnp.array([[1.0, 0.5], [0.4, 1.0]]), y, eta=0.1, steps=2)
    # an asymmetry of 1e-13 relative on a kernel of scale 1e6 is round-off (tolerance 1e3 eps max(scale, 1))
    big = 1e6 * jnp.array([[2.0, 1.0], [1.0 + 1e-13, 2.0]])
    np.testing.assert_allclose(nt.kernel_prediction(big, y, eta=1e-7, steps=1)[0], 1.0, **rel(np.float64))


@given(seed=st.integers(0, 10**6), n=st.sampled_from([3, 15]))
def test_a_shared_kernel_spectrum_gives_the_same_prediction_and_is_the_eigendecomposition(seed, n):
    """kernel_prediction with H's kernel_spectrum (computed once, for many residuals) equals it without, bit for bit;
    the spectrum is H = V diag(lambda) V^T with lambda descending and V orthonormal (float64 table tolerances)."""
    X, y = _sphere_task(seed, n)
    H = nt.gram_infinity(X)
    spectrum = nt.kernel_spectrum(H)
    lam, V = np.asarray(spectrum.eigenvalues), np.asarray(spectrum.eigenvectors)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(V @ np.diag(lam) @ V.T, np.asarray(H), **tol(lam))
    np.testing.assert_allclose(V.T @ V, np.eye(n), **tol(lam))
    for s in range(2):
        r = nt.gaussian_labels(jax.random.PRNGKey(seed + s), n)
        shared = nt.kernel_prediction(H, r, eta=0.5, steps=7, spectrum=spectrum)
        np.testing.assert_array_equal(np.asarray(shared), np.asarray(nt.kernel_prediction(H, r, eta=0.5, steps=7)))


def test_a_kernel_spectrum_is_checked_like_its_kernel():
    with pytest.raises(ValueError, match=r"^H must be symmetric\.$"):
        nt.kernel_spectrum(jnp.array([[1.0, 0.5], [0.4, 1.0]]))
    spectrum = nt.kernel_spectrum(jnp.eye(3))
    with pytest.raises(ValueError, match=r"^spectrum is of a \(3, 3\) kernel but H is \(2, 2\)\.$"):
        nt.kernel_prediction(jnp.eye(2), jnp.ones(2), eta=0.1, steps=2, spectrum=spectrum)
