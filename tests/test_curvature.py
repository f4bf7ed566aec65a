"""Matrix-free curvature checked against dense jax.hessian + eigh; saddles, critical points and escape."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests.tolerances import F64, RITZ, RTOL_F64, approx, tol


def _model(seed=0, widths=(12, 12), activation="tanh"):
    net = nt.MLP((6,) + widths + (1,), activation=activation, bias_var=0.1)
    X = nt.unit_sphere(jax.random.PRNGKey(seed + 1), 25, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(seed + 2), 25)
    params = net.init(jax.random.PRNGKey(seed))

    def loss(p):
        return 0.5 * jnp.mean((net.apply(p, X) - y) ** 2)

    return loss, params


def test_hvp_equals_dense_hessian_times_vector():
    loss, params = _model()
    H = np.asarray(nt.dense_hessian(loss, params))
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    v = jax.random.normal(jax.random.PRNGKey(5), flat.shape)
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(nt.hvp(loss, params, unravel(v)))[0], H @ np.asarray(v), **tol(np.float64)
    )
    np.testing.assert_allclose(H, H.T, **tol(H))


@pytest.mark.parametrize("seed", [0, 1])
def test_extreme_eigenvalues_match_dense_eigh_with_ritz_error_bars(seed):
    loss, params = _model(seed)
    ev = np.linalg.eigvalsh(np.asarray(nt.dense_hessian(loss, params)))
    top = nt.top_eigenvalues(loss, params, 3, key=jax.random.PRNGKey(seed), return_vectors=True)
    bottom = nt.bottom_eigenvalues(loss, params, 3, key=jax.random.PRNGKey(seed + 9))
    # Lanczos' convergence, not round-off: the top Ritz values to RITZ, the bottom ones (a denser end of this
    # Hessian's spectrum) to 1e-6
    np.testing.assert_allclose(top.eigenvalues, ev[::-1][:3], rtol=RTOL_F64, atol=RITZ)
    np.testing.assert_allclose(bottom.eigenvalues, ev[:3], rtol=RTOL_F64, atol=1e-6)
    # the residuals are ||H v - theta v|| of the returned vectors, recomputed with the dense Hessian
    flat_vectors = np.stack([np.asarray(jax.flatten_util.ravel_pytree(v)[0]) for v in top.eigenvectors])
    H = np.asarray(nt.dense_hessian(loss, params))
    dense_residuals = np.linalg.norm(flat_vectors @ H - np.asarray(top.eigenvalues)[:, None] * flat_vectors, axis=1)
    # residuals are small differences (Hv - theta v) that lose digits to cancellation: 1e-6 relative
    np.testing.assert_allclose(top.residuals, dense_residuals, rtol=1e-6, atol=tol(np.float64)["atol"])
    # each Ritz value lies within its residual of a true eigenvalue (Parlett, Thm 4.5.1)
    for theta, r in zip(
        np.concatenate([top.eigenvalues, bottom.eigenvalues]), np.concatenate([top.residuals, bottom.residuals])
    ):
        assert np.min(np.abs(ev - theta)) <= r + tol(np.float64)["atol"]  # the theorem, up to round-off
    assert len(top.eigenvectors) == 3
    v0 = top.eigenvectors[0]
    Hv = nt.hvp(loss, params, v0)
    ratio = jax.tree.map(lambda a, b: a - top.eigenvalues[0] * b, Hv, v0)
    # a converged Ritz vector: its residual, 1e-6 (Lanczos' convergence, not round-off)
    assert float(jax.flatten_util.ravel_pytree(ratio)[0] @ jax.flatten_util.ravel_pytree(ratio)[0]) ** 0.5 < 1e-6


@given(seed=st.integers(0, 10**6))
def test_lanczos_on_an_explicit_matrix_operator(seed):
    """Any symmetric operator given as a matvec: a random matrix with a known spectrum."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    lam = np.sort(rng.normal(size=30))
    A = jnp.asarray(Q @ np.diag(lam) @ Q.T)
    res = nt.lanczos(lambda v: A @ v, jnp.asarray(rng.normal(size=30)), 30)
    theta, _ = nt.tridiagonal_eigh(res.alphas[: res.steps], res.betas[: res.steps - 1])
    # all 30 Ritz values after 30 steps: the eigenvalues up to the round-off that the recurrence accumulates, 1e-9
    np.testing.assert_allclose(np.sort(theta), lam, rtol=RTOL_F64, atol=1e-9)
    V = np.asarray(res.basis[: res.steps])
    np.testing.assert_allclose(V @ V.T, np.eye(res.steps), rtol=RTOL_F64, atol=F64)  # full reorthogonalization
    top = nt.extreme_eigenvalues(lambda v: A @ v, jnp.zeros(30), 2, key=jax.random.PRNGKey(seed))
    np.testing.assert_allclose(top.eigenvalues, lam[::-1][:2], rtol=RTOL_F64, atol=1e-9)  # as above


def test_lanczos_stops_on_an_invariant_subspace():
    A = jnp.diag(jnp.array([1.0, 2.0, 3.0, 4.0]))
    res = nt.lanczos(lambda v: A @ v, jnp.array([1.0, 1.0, 0.0, 0.0]), 4)
    assert res.steps == 2
    theta, _ = nt.tridiagonal_eigh(res.alphas[:2], res.betas[:1])
    np.testing.assert_allclose(theta, [1.0, 2.0], **tol(np.float64))


def test_hutchinson_trace_within_its_error_bar_and_slq_moments():
    loss, params = _model(3)
    ev = np.linalg.eigvalsh(np.asarray(nt.dense_hessian(loss, params)))
    tr = nt.hutchinson_trace(loss, params, key=jax.random.PRNGKey(0), samples=400)
    assert abs(float(tr.estimate) - ev.sum()) < 5 * float(tr.stderr)  # five standard errors: a statistical margin
    sd = nt.spectral_density(loss, params, key=jax.random.PRNGKey(1), num_probes=30, num_steps=60)
    w, nodes = np.asarray(sd.weights), np.asarray(sd.nodes)
    # Gauss quadrature from Lanczos is exact for polynomials of low degree: for each probe v,
    # sum_j tau_j theta_j^p = v^T H^p v / ||v||^2 (p = 0, 1, 2), against the dense Hessian
    flat = jax.flatten_util.ravel_pytree(params)[0]
    H = np.asarray(nt.dense_hessian(loss, params))
    for probe, probe_key in enumerate(jax.random.split(jax.random.PRNGKey(1), 30)):
        v = np.asarray(jax.random.normal(probe_key, flat.shape, dtype=flat.dtype))
        exact = [1.0, v @ H @ v / (v @ v), v @ H @ H @ v / (v @ v)]
        np.testing.assert_allclose(
            # Lanczos of 60 steps in float64 loses digits to its recurrence: 1e-8 relative, not the table's 1e-10
            [np.sum(w[probe] * nodes[probe] ** p) for p in range(3)],
            exact,
            rtol=1e-8,
            atol=tol(np.float64)["atol"],
        )
    # the smoothed density integrated by the trapezoid rule on its grid: a quadrature error, 1e-3
    assert abs(np.trapezoid(np.asarray(sd.density), np.asarray(sd.grid)) - 1.0) < 1e-3
    # SLQ moments estimate tr(H^p) / P: unbiased, with the spread of v^T H^p v / ||v||^2 over probes
    for p in (1, 2):
        per_probe = (w * nodes**p).sum(1)
        # five standard errors (a statistical margin), plus the table's atol for round-off
        stderr = per_probe.std(ddof=1) / np.sqrt(per_probe.size)
        assert abs(per_probe.mean() - np.mean(ev**p)) < 5 * stderr + tol(np.float64)["atol"]
    assert nodes.min() >= ev[0] - RITZ and nodes.max() <= ev[-1] + RITZ  # Ritz values interlace


def test_deep_linear_origin_is_a_certified_saddle_and_the_loss_is_nonconvex():
    X = jax.random.normal(jax.random.PRNGKey(0), (20, 2))
    Y = X @ jnp.array([[1.5], [-0.7]])
    loss = lambda p: nt.deep_linear_loss(p, X, Y)  # noqa: E731
    zero = nt.DeepLinear(jnp.zeros((3, 2)), jnp.zeros((1, 3)))
    spectrum = nt.hessian_spectrum(loss, zero)
    assert spectrum[0] < -1e-3 and spectrum[-1] > 1e-3
    g = jax.flatten_util.ravel_pytree(jax.grad(loss)(zero))[0]
    assert float(jnp.linalg.norm(g)) == 0.0  # a critical point
    # the Hessian's eigenvalues at 0 are +-||X^T Y|| (the off-diagonal blocks are W-independent there)
    assert spectrum[-1] == approx(2 * float(jnp.linalg.norm(X.T @ Y)))


def test_critical_points_of_deep_linear_autoencoder_match_closed_form_and_index_grows_with_loss():
    """Baldi & Hornik (1989): critical losses are sums of excluded covariance eigenvalues; only the top-k
    projection is a minimum. Every found point must be critical and have one of those losses."""
    from itertools import combinations

    from scipy.stats import spearmanr

    Z = nt.unit_sphere(jax.random.PRNGKey(0), 60, 4) * jnp.array([[2.0, 1.5, 1.0, 0.5]])
    loss = lambda p: nt.deep_linear_loss(p, Z, Z) / Z.shape[0]  # noqa: E731
    cov = np.linalg.eigvalsh(np.asarray(Z.T @ Z / Z.shape[0]))
    allowed = np.array([cov.sum() - cov[list(s)].sum() for r in range(3) for s in combinations(range(4), r)])
    found = []
    for i in range(10):
        k1, k2 = jax.random.split(jax.random.PRNGKey(i))
        scale = [1e-2, 0.5][i % 2]
        cp = nt.find_critical_point(
            loss, nt.DeepLinear(scale * jax.random.normal(k1, (2, 4)), scale * jax.random.normal(k2, (4, 2))), steps=200
        )
        # the critical-point solver's convergence (its stopping tolerance), not round-off
        assert cp.grad_norm < 1e-8
        assert np.min(np.abs(allowed - cp.loss)) < 1e-8
        found.append((cp.loss, cp.index))
    found = np.array(found)
    assert spearmanr(found[:, 0], found[:, 1]).statistic > 0.8
    # the global minimum: project on the top-2 principal directions; critical, index 0, loss = two smallest eigenvalues
    _, U = np.linalg.eigh(np.asarray(Z.T @ Z))
    top = jnp.asarray(U[:, -2:].T)
    best = nt.DeepLinear(top, top.T)
    assert float(jnp.linalg.norm(jax.flatten_util.ravel_pytree(jax.grad(loss)(best))[0])) < F64
    assert nt.hessian_index(loss, best) == 0.0
    assert float(loss(best)) == approx(cov[:2].sum())
    assert np.all(found[:, 0] >= cov[:2].sum() - F64)  # no critical point below the minimum, to round-off


def test_saddle_free_newton_escapes_before_perturbed_gd_before_gd():
    X = jax.random.normal(jax.random.PRNGKey(0), (30, 2))
    Y = X @ jnp.array([[1.5], [-0.7]])
    loss = lambda p: nt.deep_linear_loss(p, X, Y) / 30  # noqa: E731
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    start = nt.DeepLinear(1e-4 * jax.random.normal(k1, (3, 2)), 1e-4 * jax.random.normal(k2, (1, 3)))
    first = {}
    for method, kw in (
        ("gd", dict(eta=0.05)),
        ("perturbed_gd", dict(eta=0.05, noise_radius=1e-2, grad_threshold=1e-2)),
        ("saddle_free_newton", dict(eta=0.5)),
    ):
        run = nt.escape_saddle(loss, start, method=method, steps=120, key=jax.random.PRNGKey(2), record_every=20, **kw)
        assert run.records[0] < -1.0  # started at the saddle's negative curvature
        first[method] = int(np.flatnonzero(run.loss < 0.5 * run.loss[0])[0])
        assert run.loss[-1] < 1e-3 * run.loss[0]  # escaped and converged: a factor, not a tolerance
    assert first["saddle_free_newton"] < first["perturbed_gd"] < first["gd"], first


def test_bad_arguments():
    loss, params = _model()
    with pytest.raises(ValueError, match="k must be"):
        nt.top_eigenvalues(loss, params, 0, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="num_steps"):
        nt.lanczos(lambda v: v, jnp.ones(3), 0)
    with pytest.raises(ValueError, match="samples"):
        nt.hutchinson_trace(loss, params, key=jax.random.PRNGKey(0), samples=1)
    with pytest.raises(ValueError, match="method"):
        nt.escape_saddle(loss, params, method="adam", eta=0.1, steps=1, key=jax.random.PRNGKey(0))


def test_power_iteration_with_deflation_finds_the_largest_magnitude_eigenvalues_and_counts_its_products():
    """PyHessian's method on an operator with a known spectrum (a rotated diagonal with well separated top values)."""
    from ntk_proofs.curvature import power_iteration_eigenvalues

    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((40, 40)))
    lam = np.concatenate([[10.0, -7.0, 5.0], np.linspace(-1.0, 1.0, 37)])
    A = jnp.asarray(Q @ np.diag(lam) @ Q.T)

    def matvec(v):
        return A @ v

    res = power_iteration_eigenvalues(
        None, jnp.zeros(40), 3, key=jax.random.PRNGKey(1), tol=1e-10, max_iterations=500, matvec=matvec
    )
    # power iteration stopped at its tol = 1e-10 on the Rayleigh quotient change: 1e-6, its convergence, kept
    np.testing.assert_allclose(res.eigenvalues, [10.0, -7.0, 5.0], rtol=1e-6, atol=1e-9)
    assert res.matvecs == int(res.iterations.sum()) and np.all(res.iterations >= 2)
    with pytest.raises(ValueError):
        power_iteration_eigenvalues(None, jnp.zeros(40), 0, key=jax.random.PRNGKey(1), matvec=matvec)
