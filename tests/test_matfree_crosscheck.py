"""Our Lanczos, stochastic Lanczos quadrature (SLQ) and Hutchinson estimators against matfree's on one operator.

Both libraries get the same operator (a 60 x 60 matrix A = Q diag(l) Q^T with a known spectrum, as a matvec), the
same start vectors or probes and the same number of Lanczos steps, in float64:

1. Lanczos: the tridiagonal coefficients (alphas, betas) agree to round-off (both reorthogonalize fully), and so do
   our ``top_eigenvalues`` / ``bottom_eigenvalues`` / ``extreme_eigenvalues`` and the eigenvalues of matfree's
   tridiagonal matrix; both equal numpy's ``eigvalsh`` for well separated extremes.
2. SLQ: our ``spectral_density`` nodes and weights per probe equal the eigen-decomposition of matfree's tridiagonal
   for the same probe, and our estimates of tr(f(A)) / dim (f = x, x^2, log on an SPD matrix) equal matfree's
   ``estimator_monte_carlo(monte_carlo_funm_sym(...))`` fed the same probes rescaled to the sphere of radius
   sqrt(dim) (matfree's integrand is ||v||^2 e1^T f(T) e1, ours e1^T f(T) e1, i.e. for v / ||v||).
3. Hutchinson: ``hutchinson_trace`` and matfree's ``monte_carlo_trace`` with ``sampler_signs`` draw the same
   Rademacher probes from one key and agree to round-off; both lie within MC_SIGMAS (tests/tolerances.py) standard
   errors of tr(A).
4. Regression: SLQ weights are the squared FIRST components of the tridiagonal's eigenvectors (Q[0, :]**2), not
   the components of the first eigenvector (Q[:, 0]**2) nor unsquared (PyHessian's bug until 2024).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import ntk_proofs as nt
from ntk_proofs.curvature import slq_moment
from tests.tolerances import F64, MC_SIGMAS, RTOL_F64

matfree = pytest.importorskip("matfree")
from matfree import decomp, eig, funm, stochtrace  # noqa: E402

DIM = 60
STEPS = 40  # Lanczos steps of the eigenvalue test: the default of extreme_eigenvalues (max(4k, 40)) for k = 3


def _matrix(spectrum, seed=0):
    """A = Q diag(spectrum) Q^T with a Haar-like random orthogonal Q, exactly symmetric, as an array."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(spectrum.size, spectrum.size)))
    A = Q @ np.diag(spectrum) @ Q.T
    return jnp.asarray(0.5 * (A + A.T))


def _symmetric_spectrum(seed=0):
    """Eigenvalues in [-1, 1] plus three well separated ones at each end (gaps 0.5 and more), so that 40 Lanczos
    steps resolve the three largest and the three smallest to round-off."""
    rng = np.random.default_rng(seed + 100)
    bulk = rng.uniform(-1.0, 1.0, DIM - 6)
    return np.sort(np.concatenate([[-3.0, -2.5, -2.0], bulk, [2.0, 2.5, 3.0]]))


def _spd_spectrum(seed=0):
    """Eigenvalues in [0.5, 5] (condition number 10): log is analytic on a neighbourhood of the spectrum."""
    return np.sort(np.random.default_rng(seed + 200).uniform(0.5, 5.0, DIM))


SYM_SPECTRUM = _symmetric_spectrum()
SYM = _matrix(SYM_SPECTRUM, seed=1)
SPD_SPECTRUM = _spd_spectrum()
SPD = _matrix(SPD_SPECTRUM, seed=2)
TEMPLATE = jnp.zeros(DIM, jnp.float64)  # the "params" our estimators take: the operand's shape and dtype


# One function object per matrix: our estimators compile once per matvec (they hash it).
def sym_matvec(v):
    return SYM @ v


def spd_matvec(v):
    return SPD @ v


def _matfree_tridiagonal(matvec, v0, steps):
    """matfree's Lanczos (full reorthogonalization): (alphas (steps,), betas (steps - 1,), basis (steps, dim))."""
    result = decomp.tridiag_sym(steps, materialize=False, reortho="full")(matvec, v0)
    alphas, betas = result.J_small
    return np.asarray(alphas), np.asarray(betas), np.asarray(result.Q_tall)


# ---------------------------------------------------------------------------------------------------- 1. Lanczos


def test_lanczos_tridiagonal_coefficients_equal_matfree_for_the_same_start_vector():
    v0 = jax.random.normal(jax.random.PRNGKey(0), (DIM,), jnp.float64)
    ours = nt.lanczos(sym_matvec, v0, STEPS)
    assert ours.steps == STEPS  # a generic start vector: the Krylov space does not close in 40 < 60 steps
    alphas, betas, basis = _matfree_tridiagonal(sym_matvec, v0, STEPS)
    scale = float(np.max(np.abs(SYM_SPECTRUM)))  # ||A||: the absolute size of the round-off in each coefficient
    # Round-off: each coefficient is a 60-term inner product of O(||A||) vectors, reorthogonalized in both codes;
    # F64 (a few hundred ulps of an O(1) quantity) times ||A|| bounds the difference, including alphas near 0.
    np.testing.assert_allclose(ours.alphas, alphas, rtol=RTOL_F64, atol=F64 * scale)
    np.testing.assert_allclose(ours.betas, betas, rtol=RTOL_F64, atol=F64 * scale)
    # The Lanczos vectors are the same too (same normalization, same sign convention: beta > 0).
    np.testing.assert_allclose(ours.basis, basis, rtol=RTOL_F64, atol=F64)
    # Both bases are orthonormal to round-off (full reorthogonalization).
    for V in (np.asarray(ours.basis), basis):
        np.testing.assert_allclose(V @ V.T, np.eye(STEPS), rtol=RTOL_F64, atol=F64)


@pytest.mark.parametrize("seed", [0, 1])
def test_extreme_ritz_values_equal_matfree_tridiagonal_eigenvalues_and_numpy_eigvalsh(seed):
    key = jax.random.PRNGKey(seed)
    # Our estimators draw their start vector as jax.random.normal(key, flat.shape, flat.dtype): use the same one.
    v0 = jax.random.normal(key, (DIM,), jnp.float64)
    top = nt.top_eigenvalues(None, TEMPLATE, 3, key=key, matvec=sym_matvec, num_steps=STEPS, return_vectors=True)
    bottom = nt.bottom_eigenvalues(None, TEMPLATE, 3, key=key, matvec=sym_matvec, num_steps=STEPS)
    generic_top = nt.extreme_eigenvalues(sym_matvec, TEMPLATE, 3, key=key, which="top")  # default steps = 40
    generic_bottom = nt.extreme_eigenvalues(sym_matvec, TEMPLATE, 3, key=key, which="bottom")

    T = np.asarray(decomp.tridiag_sym(STEPS, materialize=True, reortho="full")(sym_matvec, v0).J_small)
    theta = np.linalg.eigvalsh(T)  # ascending
    exact = np.linalg.eigvalsh(np.asarray(SYM))
    scale = float(np.max(np.abs(SYM_SPECTRUM)))
    # Ours vs matfree, same Krylov space: round-off (see the coefficient test), F64 * ||A|| absolute.
    np.testing.assert_allclose(top.eigenvalues, theta[::-1][:3], rtol=RTOL_F64, atol=F64 * scale)
    np.testing.assert_allclose(bottom.eigenvalues, theta[:3], rtol=RTOL_F64, atol=F64 * scale)
    np.testing.assert_allclose(generic_top.eigenvalues, top.eigenvalues, rtol=RTOL_F64, atol=F64 * scale)
    np.testing.assert_allclose(generic_bottom.eigenvalues, bottom.eigenvalues, rtol=RTOL_F64, atol=F64 * scale)
    # Both vs the dense eigenvalues (and the known spectrum): the extremes are separated by gaps >= 0.5 from the
    # rest of a spectrum of width 6, so after 40 steps the Kaniel-Paige bound puts their Ritz errors far below
    # round-off; the Ritz residuals confirm it (some eigenvalue lies within each residual, Parlett Thm 4.5.1).
    for values in (top.eigenvalues, theta[::-1][:3]):
        np.testing.assert_allclose(values, exact[::-1][:3], rtol=RTOL_F64, atol=F64 * scale)
    for values in (bottom.eigenvalues, theta[:3]):
        np.testing.assert_allclose(values, exact[:3], rtol=RTOL_F64, atol=F64 * scale)
    np.testing.assert_allclose(exact, SYM_SPECTRUM, rtol=RTOL_F64, atol=F64 * scale)
    assert np.all(np.asarray(top.residuals) < F64 * scale) and np.all(np.asarray(bottom.residuals) < F64 * scale)
    # The Ritz vectors agree with matfree's eigh_partial up to sign: |<u_ours, u_matfree>| = 1.
    values, vectors = eig.eigh_partial(decomp.tridiag_sym(STEPS, reortho="full"))(sym_matvec, v0)
    order = np.argsort(np.asarray(values))[::-1][:3]
    ours = np.stack([np.asarray(u) for u in top.eigenvectors])
    overlaps = np.abs(np.sum(ours * np.asarray(vectors)[order], axis=1))
    np.testing.assert_allclose(overlaps, np.ones(3), rtol=RTOL_F64, atol=F64)


# ------------------------------------------------------------------------------------------------------- 2. SLQ

SLQ_PROBES = 8
SLQ_STEPS = 30  # Gauss quadrature with 30 nodes: exact for x, x^2; for log on [0.5, 5] (kappa = 10) its error
# is ~ ((sqrt(10) - 1) / (sqrt(10) + 1))^(2 * 30) ~ 1e-17, below round-off.


def _our_probes(key, num_probes):
    """The probes spectral_density draws: jax.random.normal(k, (dim,), dtype) for k in split(key, num_probes)."""
    return jnp.stack([jax.random.normal(k, (DIM,), jnp.float64) for k in jax.random.split(key, num_probes)])


FUNCTIONS = {
    "identity": (lambda x: x, lambda lam: lam),
    "square": (lambda x: x**2, lambda lam: lam**2),
    "log": (jnp.log, np.log),
}


def test_slq_nodes_and_weights_per_probe_equal_matfree_tridiagonal_eigendecomposition():
    key = jax.random.PRNGKey(7)
    sd = nt.spectral_density(None, TEMPLATE, key=key, num_probes=SLQ_PROBES, num_steps=SLQ_STEPS, matvec=spd_matvec)
    probes = _our_probes(key, SLQ_PROBES)
    scale = float(SPD_SPECTRUM.max())
    for p, v in enumerate(probes):
        T = np.asarray(decomp.tridiag_sym(SLQ_STEPS, reortho="full")(spd_matvec, v).J_small)
        theta, Q = np.linalg.eigh(T)
        # Same tridiagonal to round-off, so the same nodes (F64 * ||A|| absolute) and weights (well separated Ritz
        # values with full reorthogonalization: the eigenvectors are well conditioned, F64 absolute on [0, 1]).
        np.testing.assert_allclose(sd.nodes[p], theta, rtol=RTOL_F64, atol=F64 * scale)
        np.testing.assert_allclose(sd.weights[p], Q[0, :] ** 2, rtol=RTOL_F64, atol=F64)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_slq_trace_estimates_equal_matfree_stochastic_lanczos_quadrature_on_the_same_probes(name):
    f_jax, f_np = FUNCTIONS[name]
    key = jax.random.PRNGKey(7)
    sd = nt.spectral_density(None, TEMPLATE, key=key, num_probes=SLQ_PROBES, num_steps=SLQ_STEPS, matvec=spd_matvec)
    w, nodes = np.asarray(sd.weights), np.asarray(sd.nodes)
    per_probe_ours = np.sum(w * f_np(nodes), axis=1)  # e1^T f(T) e1 for the probe v / ||v||: estimates tr f(A) / dim
    ours = float(per_probe_ours.mean())
    if name == "identity":
        # The same 240 = 8 probes x 30 nodes positive terms, summed in another order: "a quantity computed from a few
        # hundred terms", RTOL_F64 of tests/tolerances.py (the measured difference is a few ulps).
        assert ours == pytest.approx(slq_moment(sd, 1), rel=RTOL_F64)
    if name == "square":
        assert ours == pytest.approx(slq_moment(sd, 2), rel=RTOL_F64)

    probes = _our_probes(key, SLQ_PROBES)
    # matfree's integrand is ||v||^2 e1^T f(T) e1 (an estimate of tr f(A) for E[v v^T] = I). Rescaled to norm
    # sqrt(dim), the same probe directions give dim * (our per-probe value): the estimator's mean / dim is ours.
    sphere = probes * (np.sqrt(DIM) / jnp.linalg.norm(probes, axis=1, keepdims=True))
    integrand = funm.monte_carlo_funm_sym(
        funm.dense_funm_sym_eigh(f_jax), decomp.tridiag_sym(SLQ_STEPS, reortho="full")
    )
    estimate = stochtrace.estimator_monte_carlo(integrand, sampler=lambda _key: sphere)
    theirs = float(estimate(spd_matvec, jax.random.PRNGKey(0))) / DIM
    # Per probe, matfree fed the unnormalized probe gives ||v||^2 times our value.
    per_probe_theirs = np.asarray(jax.vmap(lambda v: integrand(spd_matvec, v))(probes))
    norms2 = np.asarray(jnp.sum(probes**2, axis=1))

    # Round-off of one 30 x 30 eigen-decomposition and a 30-term sum, O(1) values: F64 absolute.
    np.testing.assert_allclose(per_probe_ours, per_probe_theirs / norms2, rtol=RTOL_F64, atol=F64)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL_F64, atol=F64)
    # Both against the dense truth, per probe: Gauss quadrature is exact for x and x^2 and converged for log
    # (see SLQ_STEPS), so e1^T f(T) e1 = v^T f(A) v / v^T v to round-off.
    lam, U = np.linalg.eigh(np.asarray(SPD))
    fA = (U * f_np(lam)) @ U.T
    P = np.asarray(probes)
    exact_per_probe = np.einsum("pi,ij,pj->p", P, fA, P) / np.sum(P**2, axis=1)
    np.testing.assert_allclose(per_probe_ours, exact_per_probe, rtol=RTOL_F64, atol=F64)
    # And the Monte Carlo mean lies within MC_SIGMAS standard errors of tr f(A) / dim (measured on these probes:
    # 0.92, 1.39 and 0.13 standard errors for x, x^2 and log).
    truth = float(np.mean(f_np(SPD_SPECTRUM)))
    stderr = float(np.std(per_probe_ours, ddof=1) / np.sqrt(SLQ_PROBES))
    assert abs(ours - truth) < MC_SIGMAS * stderr and abs(theirs - truth) < MC_SIGMAS * stderr


# ------------------------------------------------------------------------------------------------ 3. Hutchinson


@pytest.mark.parametrize("seed", [0, 3])
def test_hutchinson_trace_equals_matfree_monte_carlo_trace_with_the_same_rademacher_probes(seed):
    samples = 200
    key = jax.random.PRNGKey(seed)
    ours = nt.hutchinson_trace(None, TEMPLATE, key=key, samples=samples, matvec=sym_matvec)
    sampler = stochtrace.sampler_signs(TEMPLATE, num=samples)
    # The same probes: ours are jax.random.rademacher(key, (samples, dim), dtype), matfree's sampler_signs draws
    # exactly that (bit for bit) from the same key.
    np.testing.assert_array_equal(
        np.asarray(sampler(key)), np.asarray(jax.random.rademacher(key, (samples, DIM), jnp.float64))
    )
    mean, sem = stochtrace.estimator_monte_carlo_mean_and_sem(stochtrace.monte_carlo_trace(), sampler)(sym_matvec, key)
    truth = float(np.sum(SYM_SPECTRUM))
    scale = float(np.sum(np.abs(SYM_SPECTRUM)))  # the size of the terms v^T A v: round-off is relative to it
    # Round-off: the mean of 200 quadratic forms, each a 60 x 60 sum, computed in different orders.
    np.testing.assert_allclose(float(ours.estimate), float(mean), rtol=RTOL_F64, atol=F64 * scale)
    # matfree's sem uses the population std (ddof = 0), ours the sample std (ddof = 1).
    np.testing.assert_allclose(
        float(ours.stderr), float(sem) * np.sqrt(samples / (samples - 1)), rtol=RTOL_F64, atol=F64 * scale
    )
    # The Rademacher variance is 2 sum_{i != j} A_ij^2 > 0: the estimate is not exact, only within its error bar.
    # 0.01 is a non-degeneracy floor, not a tolerance: the exact standard error sqrt(2 sum_{i != j} A_ij^2 / 200) is
    # 0.73 here (measured 0.79 and 0.63 for the two seeds), so the floor sits 60x below it and 1e8x above round-off;
    # it fails only if the estimator became exact (e.g. probes that no longer vary), making the next checks vacuous.
    assert float(ours.stderr) > 0.01
    # Within MC_SIGMAS (tests/tolerances.py) standard errors: measured 1.8 and 2.7 for seeds 0 and 3.
    assert abs(float(ours.estimate) - truth) < MC_SIGMAS * float(ours.stderr)
    assert abs(float(mean) - truth) < MC_SIGMAS * float(sem)


# ------------------------------------------------------------------------- 4. SLQ weights: regression (PyHessian)


def test_slq_weights_are_squared_first_components_of_the_tridiagonal_eigenvectors():
    """tau_j = Q[0, j]^2 (Golub & Meurant; Ubaru, Chen & Saad 2017), checked against an independent scipy
    eigh_tridiagonal, and shown to differ from the two wrong choices (Q[:, 0]^2, unsquared Q[0, :])."""
    dim, steps, num_probes = 6, 4, 2
    rng = np.random.default_rng(11)
    spectrum = np.array([-2.0, -0.5, 0.3, 1.0, 2.2, 4.0])
    Qa, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    A = jnp.asarray(0.5 * ((Qa * spectrum) @ Qa.T + ((Qa * spectrum) @ Qa.T).T))

    def matvec(v):
        return A @ v

    key = jax.random.PRNGKey(5)
    sd = nt.spectral_density(
        None, jnp.zeros(dim, jnp.float64), key=key, num_probes=num_probes, num_steps=steps, matvec=matvec
    )
    assert sd.weights.shape == (num_probes, steps)
    for p, probe_key in enumerate(jax.random.split(key, num_probes)):
        v = jax.random.normal(probe_key, (dim,), jnp.float64)
        res = nt.lanczos(matvec, v, steps)
        assert res.steps == steps
        theta, Q = scipy.linalg.eigh_tridiagonal(np.asarray(res.alphas), np.asarray(res.betas))
        w = np.asarray(sd.weights[p])
        # Same coefficients, same LAPACK routine: round-off (F64 absolute on values of size <= ||A|| = 4 / in [0, 1]).
        np.testing.assert_allclose(sd.nodes[p], theta, rtol=RTOL_F64, atol=F64)
        np.testing.assert_allclose(w, Q[0, :] ** 2, rtol=RTOL_F64, atol=F64)
        vn = np.asarray(v)
        An = np.asarray(A)
        rayleigh = vn @ An @ vn / (vn @ vn)
        # Gauss quadrature: sum_j tau_j = 1 and sum_j tau_j theta_j^p = v^T A^p v / v^T v for p <= 2 * steps - 1.
        assert np.sum(w) == pytest.approx(1.0, abs=F64)
        assert np.sum(w * theta) == pytest.approx(rayleigh, abs=F64)
        assert np.sum(w * theta**2) == pytest.approx(vn @ An @ An @ vn / (vn @ vn), abs=F64)
        # matfree's SLQ integrand with f = x (for the unnormalized probe) gives ||v||^2 times the same moment.
        integrand = funm.monte_carlo_funm_sym(
            funm.dense_funm_sym_eigh(lambda x: x), decomp.tridiag_sym(steps, reortho="full")
        )
        assert float(integrand(matvec, v)) / (vn @ vn) == pytest.approx(rayleigh, abs=F64)
        # The wrong choices give visibly different moments (so the checks above can tell them apart): the first
        # eigenvector's components squared, and the first components unsquared. 0.1 and 0.05 are separation
        # margins, not tolerances: on these two probes the wrong choices miss by at least 0.32, 0.90 and 0.14
        # (measured), 3x above the margins and 1e9x above round-off (F64).
        wrong_column = Q[:, 0] ** 2
        wrong_unsquared = np.abs(Q[0, :])
        assert abs(np.sum(wrong_column * theta) - rayleigh) > 0.1
        assert abs(np.sum(wrong_unsquared) - 1.0) > 0.1
        assert np.max(np.abs(wrong_column - w)) > 0.05
    assert slq_moment(sd, 0) == pytest.approx(1.0, abs=F64)
