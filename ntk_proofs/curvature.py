"""Matrix-free curvature: Hessian-vector products, Lanczos, extreme eigenvalues, trace and spectral density.

Every routine works on a symmetric linear operator given as a matvec over a pytree (or over flat vectors),
so memory is O(num_steps x parameters), never parameters^2. For a loss, the operator is the Hessian via
forward-over-reverse differentiation (Pearlmutter 1994). References: Lanczos with full
reorthogonalization (Golub & Van Loan, Matrix Computations, Sec. 10.1); Hutchinson (1989) trace estimator;
stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

Array = jax.Array


def hvp(loss: Callable, params, v):
    """H v for H = d^2 loss / d params^2 at ``params``: jvp of grad (forward-over-reverse). v is a params-like pytree."""
    return jax.jvp(jax.grad(loss), (params,), (v,))[1]


class LanczosResult(NamedTuple):
    """Tridiagonal T = V A V^T of the Krylov space: alphas (k,), betas (k - 1,), orthonormal basis V (k, dim).

    ``steps`` is how many of the k vectors are valid (the recursion stops early on an invariant subspace).
    """

    alphas: Array
    betas: Array
    basis: Array
    steps: int


def lanczos(matvec: Callable[[Array], Array], v0: Array, num_steps: int) -> LanczosResult:
    """Lanczos tridiagonalization of a symmetric operator on flat vectors, with full reorthogonalization.

    ``matvec`` maps (dim,) -> (dim,); ``v0`` (dim,) is the start vector (normalized here). Every new vector is
    orthogonalized twice against all previous ones, so Ritz values do not duplicate (Golub & Van Loan, Sec. 10.3).
    If the Krylov space is invariant before ``num_steps`` (beta ~ 0), ``steps`` records where it closed.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer; got {num_steps!r}.")
    v0 = jnp.asarray(v0)
    if v0.ndim != 1:
        raise ValueError(f"v0 must be a flat vector; got shape {v0.shape}.")
    num_steps = int(min(num_steps, v0.shape[0]))
    alphas, betas, basis, steps = _lanczos(matvec, v0, num_steps)
    return LanczosResult(alphas, betas, basis, int(steps))


def lanczos_core(matvec, v0, num_steps):
    """Traceable Lanczos (for use inside jit): (alphas, betas, basis, steps) as in ``lanczos``."""
    dim = v0.shape[0]
    dtype = v0.dtype
    tiny = jnp.finfo(dtype).eps * 10
    v = v0 / jnp.linalg.norm(v0)
    V = jnp.zeros((num_steps, dim), dtype).at[0].set(v)

    def body(i, carry):
        V, alphas, betas, steps, alive = carry
        v = V[i]
        w = matvec(v)
        alpha = jnp.vdot(v, w)
        mask = (jnp.arange(num_steps) <= i)[:, None].astype(dtype)
        for _ in range(2):  # full reorthogonalization, twice ("twice is enough")
            w = w - (V * mask).T @ ((V * mask) @ w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(jnp.linalg.norm(jax.lax.stop_gradient(alpha)), 1.0)
        closes = beta <= tiny * scale * jnp.sqrt(dim)
        alive_next = alive & ~closes
        alphas = alphas.at[i].set(jnp.where(alive, alpha, 0.0))
        steps = steps + alive.astype(jnp.int32)
        nxt = jnp.where(alive_next, w / jnp.where(closes, 1.0, beta), 0.0)
        V = jax.lax.cond(i + 1 < num_steps, lambda V: V.at[i + 1].set(nxt), lambda V: V, V)
        betas = betas.at[i].set(jnp.where(alive_next, beta, 0.0))
        return V, alphas, betas, steps, alive_next

    carry = (V, jnp.zeros(num_steps, dtype), jnp.zeros(num_steps, dtype), jnp.asarray(0, jnp.int32), jnp.asarray(True))
    V, alphas, betas, steps, _ = jax.lax.fori_loop(0, num_steps, body, carry)
    return alphas, betas[: num_steps - 1], V, steps


_lanczos = jax.jit(lanczos_core, static_argnums=(0, 2))


def _flat_hessian_operator(loss, params):
    """v -> H v on flat vectors, for the Hessian of ``loss`` at ``params`` (traceable)."""
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda w: loss(unravel(w)))
    return lambda v: jax.jvp(grad, (flat,), (v,))[1]


def _operator(loss, matvec, params):
    """The flat operator: the Hessian of ``loss`` at ``params``, or a user ``matvec`` on params-like pytrees."""
    if matvec is None:
        return _flat_hessian_operator(loss, params)
    return _flat_operator(matvec, ravel_pytree(params)[1])


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _krylov(loss, matvec, params, v0, num_steps):
    # loss / matvec are static (cached by identity); params are traced, so moving along training reuses the compile.
    return lanczos_core(_operator(loss, matvec, params), v0, num_steps)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _apply_batch(loss, matvec, params, vectors):
    return jax.vmap(_operator(loss, matvec, params))(vectors)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _quadratic_forms(loss, matvec, params, probes):
    op = _operator(loss, matvec, params)
    return jax.lax.map(lambda v: jnp.vdot(v, op(v)), probes)


def tridiagonal_eigh(alphas, betas) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition (ascending) of the symmetric tridiagonal matrix with diagonal alphas, off-diagonal betas."""
    from scipy.linalg import eigh_tridiagonal

    return eigh_tridiagonal(np.asarray(alphas, np.float64), np.asarray(betas, np.float64))


class Eigenpairs(NamedTuple):
    """Ritz values, their residuals ||H v - lambda v|| (error bars: some true eigenvalue lies within), and vectors."""

    eigenvalues: Array
    residuals: Array
    eigenvectors: object | None


def extreme_eigenvalues(matvec: Callable, template, k: int, *, key: Array, which: str = "top",
                        num_steps: int | None = None, return_vectors: bool = False) -> Eigenpairs:
    """The k largest (``which="top"``, descending) or smallest (``"bottom"``, ascending) eigenvalues of a symmetric
    operator ``matvec`` acting on pytrees shaped like ``template``, by Lanczos from a random start.

    Each Ritz value comes with its residual norm ||H v - theta v||, recomputed with one matvec per vector: for a
    symmetric operator some eigenvalue lies within that distance of theta (Parlett, The Symmetric Eigenvalue
    Problem, Thm 4.5.1). ``num_steps`` defaults to max(4k, 40), capped at the dimension.
    """
    return _extreme(None, matvec, template, k, key, which, num_steps, return_vectors)


def _extreme(loss, matvec, params, k, key, which, num_steps, return_vectors):
    if which not in ("top", "bottom"):
        raise ValueError(f"which must be 'top' or 'bottom'; got {which!r}.")
    flat, unravel = ravel_pytree(params)
    dim = flat.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= dim:
        raise ValueError(f"k must be an integer in [1, {dim}]; got {k!r}.")
    num_steps = int(min(dim, num_steps or max(4 * k, 40)))
    v0 = jax.random.normal(key, flat.shape, dtype=flat.dtype)
    alphas, betas, basis, steps = _krylov(loss, matvec, params, v0, num_steps)
    s = int(steps)
    theta, Q = tridiagonal_eigh(alphas[:s], betas[: s - 1])
    order = np.argsort(theta)[::-1] if which == "top" else np.argsort(theta)
    order = order[: min(k, s)]
    vectors = jnp.asarray(Q[:, order].T, flat.dtype) @ basis[:s]  # (k, dim)
    values = jnp.asarray(theta[order], flat.dtype)
    products = _apply_batch(loss, matvec, params, vectors)
    residuals = jnp.linalg.norm(products - values[:, None] * vectors, axis=1)
    eigvecs = [unravel(v) for v in vectors] if return_vectors else None
    return Eigenpairs(values, residuals, eigvecs)


def top_eigenvalues(loss: Callable | None, params, k: int, *, key: Array, matvec: Callable | None = None,
                    num_steps: int | None = None, return_vectors: bool = False) -> Eigenpairs:
    """The k largest Hessian eigenvalues of ``loss`` at ``params`` (descending), with Ritz residuals as error bars.

    Pass ``matvec`` (a symmetric operator on params-like pytrees) to use any other operator; ``loss`` is then
    ignored. Compiled once per ``loss`` (keep the same function object when tracking a run).
    """
    return _extreme(loss if matvec is None else None, matvec, params, k, key, "top", num_steps, return_vectors)


def bottom_eigenvalues(loss: Callable | None, params, k: int, *, key: Array, matvec: Callable | None = None,
                       num_steps: int | None = None, return_vectors: bool = False) -> Eigenpairs:
    """The k smallest Hessian eigenvalues of ``loss`` at ``params`` (ascending), with Ritz residuals as error bars."""
    return _extreme(loss if matvec is None else None, matvec, params, k, key, "bottom", num_steps, return_vectors)


class TraceEstimate(NamedTuple):
    estimate: Array
    stderr: Array


def hutchinson_trace(loss: Callable | None, params, *, key: Array, samples: int = 100,
                     matvec: Callable | None = None) -> TraceEstimate:
    """Hutchinson (1989): tr(H) = E[v^T H v] for Rademacher v; returns the mean over ``samples`` and its standard error."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}.")
    flat, _ = ravel_pytree(params)
    probes = jax.random.rademacher(key, (samples, flat.shape[0]), dtype=flat.dtype)
    quad = _quadratic_forms(loss if matvec is None else None, matvec, params, probes)
    return TraceEstimate(jnp.mean(quad), jnp.std(quad, ddof=1) / jnp.sqrt(samples))


class SpectralDensity(NamedTuple):
    """SLQ estimate: density on ``grid`` (integrates to ~1), and the quadrature nodes and weights per probe
    (probes, steps), whose weighted sums estimate normalized moments tr(H^p) / dim."""

    grid: Array
    density: Array
    nodes: Array
    weights: Array


def spectral_density(loss: Callable | None, params, *, key: Array, num_probes: int = 10, num_steps: int = 60,
                     grid_size: int = 512, sigma: float | None = None, matvec: Callable | None = None) -> SpectralDensity:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019, Sec. 3; Ubaru et al. 2017).

    For each Gaussian probe v / ||v||, Lanczos gives nodes theta_j and weights tau_j = (first component of the
    j-th Ritz vector)^2; the density is (1 / probes) sum tau_j N(t; theta_j, sigma^2) on a grid spanning the nodes.
    ``sigma`` defaults to 1% of the spectral range.
    """
    flat, _ = ravel_pytree(params)
    num_steps = int(min(num_steps, flat.shape[0]))
    nodes, weights = [], []
    for probe_key in jax.random.split(key, num_probes):
        v0 = jax.random.normal(probe_key, flat.shape, dtype=flat.dtype)
        alphas, betas, _, steps = _krylov(loss if matvec is None else None, matvec, params, v0, num_steps)
        s = int(steps)
        theta, Q = tridiagonal_eigh(alphas[:s], betas[: s - 1])
        pad = num_steps - theta.size  # a closed Krylov space: pad with zero-weight nodes
        nodes.append(np.pad(theta, (0, pad), constant_values=theta[-1]))
        weights.append(np.pad(Q[0] ** 2, (0, pad)))
    nodes, weights = np.asarray(nodes), np.asarray(weights)
    lo, hi = nodes.min(), nodes.max()
    span = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    sigma = 0.01 * span if sigma is None else sigma
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, grid_size)
    gauss = np.exp(-0.5 * ((grid[None, None, :] - nodes[..., None]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    density = np.einsum("ps,psg->g", weights, gauss) / num_probes
    return SpectralDensity(jnp.asarray(grid), jnp.asarray(density), jnp.asarray(nodes), jnp.asarray(weights))


def dense_hessian(loss: Callable, params) -> Array:
    """The full Hessian as a (P, P) matrix over the flattened parameters (for small models and for checks)."""
    flat, unravel = ravel_pytree(params)
    return jax.hessian(lambda v: loss(unravel(v)))(flat)


def hessian_spectrum(loss: Callable, params) -> np.ndarray:
    """All Hessian eigenvalues, ascending (dense; small models)."""
    return np.linalg.eigvalsh(np.asarray(dense_hessian(loss, params), np.float64))


def index_of_spectrum(eigenvalues, rtol: float = 1e-6) -> float:
    """Fraction of eigenvalues below -rtol * max|eigenvalue|: the normalized index (Dauphin et al. 2014, Sec. 2)."""
    ev = np.asarray(eigenvalues, np.float64)
    return float(np.mean(ev < -rtol * np.max(np.abs(ev))))


def hessian_index(loss: Callable, params, *, rtol: float = 1e-6) -> float:
    """The index of ``loss`` at ``params`` (a critical point, typically): dense, for small models."""
    return index_of_spectrum(hessian_spectrum(loss, params), rtol)


def _flat_operator(op, unravel):
    def flat_op(v):
        return ravel_pytree(op(unravel(v)))[0]

    return flat_op


def smallest_ritz_pair(matvec: Callable[[Array], Array], v0: Array, num_steps: int) -> tuple[Array, Array]:
    """Traceable: the smallest Ritz value of ``num_steps`` Lanczos steps from v0 and its unit Ritz vector.

    The Ritz value is an upper bound on the least eigenvalue (Courant-Fischer). Warm-started from the previous
    vector it tracks lambda_min of a slowly changing matrix in a few steps. A Krylov space that closes early
    adds no spurious small Ritz value (closed diagonal entries are replaced by a huge number).
    """
    alphas, betas, V, steps = lanczos_core(matvec, v0, num_steps)
    alive = jnp.arange(num_steps) < steps
    huge = 1e30 * jnp.maximum(jnp.max(jnp.abs(alphas)), 1.0)
    T = jnp.diag(jnp.where(alive, alphas, huge)) + jnp.diag(betas, 1) + jnp.diag(betas, -1)
    theta, Q = jnp.linalg.eigh(T)
    vector = Q[:, 0] @ V
    return theta[0], vector / jnp.linalg.norm(vector)
