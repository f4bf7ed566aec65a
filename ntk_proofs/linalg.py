"""Symmetric eigenproblems for every study: dense extremes, Lanczos with Ritz error bars, warm-started lambda_min.

The Du et al. (2019) core needs lambda_min(H(k)) of an (n, n) Gram matrix; the curvature studies need the extreme
eigenvalues of a Hessian they can only multiply by. Both are symmetric operators, so both use the routines here:

- ``lambda_min`` / ``lambda_max`` / ``eigh_descending``: dense ``eigh`` (small n).
- ``lanczos``: Lanczos tridiagonalization with full reorthogonalization (Golub & Van Loan, Matrix Computations,
  Sec. 10.1 and 10.3), on flat vectors; ``lanczos_core`` is its traceable body (for use inside ``jit``/``scan``).
- ``extreme_eigenvalues``: the k largest or smallest eigenvalues of an operator on pytrees, each with its Ritz
  residual ||A v - theta v||, an error bar: some true eigenvalue lies within it (Parlett, The Symmetric
  Eigenvalue Problem, Thm 4.5.1).
- ``smallest_ritz_pair``: the smallest Ritz value, an upper bound on lambda_min (Courant-Fischer), warm-startable.
- ``single_threaded_lapack``: where a compiled CPU program calls LAPACK inside a loop, run it with this.
- ``eigh`` / ``eigvalsh`` / ``cholesky``: jnp's, factoring one matrix at a time under ``vmap`` on CPU (see ``eigh``).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntk_proofs.data import check_matrix, check_positive_int, traced

Array = jax.Array


_BLAS_CONTROLLER = []  # the threadpoolctl controller, built on first use (it scans the loaded libraries once)


@contextlib.contextmanager
def single_threaded_lapack():
    """Run the enclosed JAX computations with the host BLAS/LAPACK (OpenBLAS) on one thread.

    On CPU, XLA calls LAPACK (the Cholesky certificate's potrf, eigh's syevd) from its own thread pool, whose
    threads keep spinning; OpenBLAS's threads then compete with them for the cores, and a factorization inside the
    GD scan runs many times slower than alone (the README's performance section has the measurement). With one
    OpenBLAS thread it runs at its single-thread speed. Uses threadpoolctl (installed with scikit-learn); without
    it, or where no OpenBLAS is loaded, this does nothing. Block on the results inside the context (JAX dispatches
    asynchronously).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    if not _BLAS_CONTROLLER:
        _BLAS_CONTROLLER.append(ThreadpoolController())
    with _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield


def _batched_on_cpu_one_at_a_time(fn: Callable) -> Callable:
    """``fn`` of one matrix, batched by ``vmap`` as one matrix after another on CPU
    (``jax.custom_batching.sequential_vmap``) and as jnp batches it on other platforms (GPU solvers do not block
    XLA's threads; see ``eigh``). ``lax.platform_dependent`` keeps only the branch of the platform compiled for."""
    sequential = jax.custom_batching.sequential_vmap(fn)
    return lambda A: jax.lax.platform_dependent(A, cpu=sequential, default=fn)


_eigh = _batched_on_cpu_one_at_a_time(lambda A: tuple(jnp.linalg.eigh(A)))
_eigvalsh = _batched_on_cpu_one_at_a_time(lambda A: jnp.linalg.eigvalsh(A))
_cholesky = _batched_on_cpu_one_at_a_time(lambda A: jnp.linalg.cholesky(A, symmetrize_input=False))


def eigh(A: Array) -> tuple[Array, Array]:
    """``jnp.linalg.eigh(A)`` as a tuple (eigenvalues ascending, eigenvectors as columns), with one difference:
    under ``vmap`` on CPU it factors the matrices one after another instead of as one batched LAPACK call (on
    other platforms it batches as jnp does). Use it (and ``eigvalsh``, ``cholesky``) in every traced function that
    may be vmapped; the numbers are the same, matrix by matrix.

    Why: on CPU, jaxlib runs a batched LAPACK call (syevd, potrf, ...) above about 2e5 flops by scheduling all
    its chunks on XLA's intra-op thread pool and blocking the calling pool thread until they finish
    (``ParallelBatchMap`` in jaxlib/cpu/lapack_kernels.cc, jaxlib 0.10). XLA runs independent operations of a
    program at the same time, so two batched factorizations (a run's Ritz eigh and its Cholesky certificate, say)
    can block every thread of a 2-core machine's pool with their chunks queued behind them: a deadlock at 0% CPU,
    with every pool thread in ParallelBatchMap's BlockingCounter::Wait. A single matrix never goes to the pool, so
    it cannot block.
    """
    return _eigh(A)


def eigvalsh(A: Array) -> Array:
    """``jnp.linalg.eigvalsh(A)`` (ascending), one matrix at a time under ``vmap`` on CPU (see ``eigh``)."""
    return _eigvalsh(A)


def cholesky(A: Array) -> Array:
    """The lower Cholesky factor of A, without jnp's (A + A^T) / 2 (pass an exactly symmetric A; NaNs where A is not
    positive definite), one matrix at a time under ``vmap`` on CPU (see ``eigh``)."""
    return _cholesky(A)


def lambda_min(H: Array) -> Array:
    """Least eigenvalue of a symmetric matrix H (e.g. lambda_0 = lambda_min(H^inf), Du et al. 2019, Thm 3.1).

    A singular H (duplicate inputs) gives ~0. Under ``jit`` only the shape is checked.

    Args:
      H: a square, finite, symmetric (n, n) matrix with n >= 1 (booleans and integers become floats).

    Returns:
      A scalar array in H's dtype.

    Raises:
      ValueError: H is not square, finite and symmetric to round-off.
    """
    return _lambda_min(check_symmetric(H, "H"))


def lambda_max(H: Array) -> Array:
    """Largest eigenvalue of a symmetric matrix H; 2 / lambda_max(H) bounds the stable GD step. H is checked as in
    ``lambda_min``."""
    return _lambda_max(check_symmetric(H, "H"))


def kernel_motion(H: Array, H0: Array) -> tuple[Array, Array, Array]:
    """(lambda_max(H), lambda_min(H), ||H - H0||_F / ||H0||_F): how a kernel has moved from H0, from one eigvalsh.

    The one measurement of every kernel-tracking record: ``ntk_proofs.regimes.training.KernelTracking`` (the
    two-layer family) and ``train_gd(..., track_kernel=True)`` (its default member, the Du et al. net). lambda_max
    against 2 / eta decides the stability of the linearized dynamics (Lewkowycz et al. 2020); the relative change
    is small in the lazy regime (Chizat, Oyallon & Bach 2019). A non-finite H (a diverged run, whose numbers the
    driver flags by ``diverged_step``) is replaced by zeros first, so that no NaN reaches LAPACK.
    """
    H = jnp.where(jnp.isfinite(H), H, 0.0)
    eig = eigvalsh(H)
    return eig[-1], eig[0], jnp.linalg.norm(H - H0) / jnp.linalg.norm(H0)


def check_symmetric(H, name: str) -> Array:
    """``H`` as a finite square float matrix, symmetric to round-off (1000 ulps of its largest entry), or a
    ValueError naming ``name``; ``eigvalsh`` reads one triangle only, so an asymmetric H would give the eigenvalues of
    another matrix. Under ``jit`` only the shape is checked."""
    H = check_matrix(H, name, square=True)
    asymmetry, scale = jnp.max(jnp.abs(H - H.T)), jnp.max(jnp.abs(H))
    if traced(asymmetry):  # inside jit: the entries are not known
        return H
    if float(asymmetry) > 1e3 * float(jnp.finfo(H.dtype).eps) * max(float(scale), 1.0):
        raise ValueError(f"{name} must be symmetric; got max |{name} - {name}^T| = {float(asymmetry):.3g}.")
    return H


_lambda_min = jax.jit(lambda H: eigvalsh(H)[0])
_lambda_max = jax.jit(lambda H: eigvalsh(H)[-1])


@jax.jit
def eigh_descending(H: Array) -> tuple[Array, Array]:
    """H = V diag(lambda) V^T with lambda in descending order; returns (lambda (n,), V (n, n), columns v_i)."""
    lam, V = eigh(H)
    return lam[::-1], V[:, ::-1]


class LanczosResult(NamedTuple):
    """Tridiagonal T = V A V^T of the Krylov space.

    Attributes:
      alphas: (k,) the diagonal of T.
      betas: (k - 1,) its off-diagonal.
      basis: (k, dim) the orthonormal basis V, one vector per row.
      steps: how many of the k vectors are valid (the recursion stops early on an invariant subspace).
    """

    alphas: Array
    betas: Array
    basis: Array
    steps: int


def lanczos(matvec: Callable[[Array], Array], v0: Array, num_steps: int) -> LanczosResult:
    """Lanczos tridiagonalization of a symmetric operator on flat vectors, with full reorthogonalization.

    Every new vector is orthogonalized twice against all previous ones, so Ritz values do not duplicate (Golub &
    Van Loan, Sec. 10.3).

    Args:
      matvec: a symmetric operator mapping (dim,) -> (dim,).
      v0: (dim,) the start vector (normalized here).
      num_steps: the Krylov dimension k, a positive integer (capped at dim).

    Returns:
      A ``LanczosResult``; if the Krylov space is invariant before ``num_steps`` (beta ~ 0), ``steps`` records
        where it closed.

    Raises:
      ValueError: ``num_steps`` is not a positive integer, or ``v0`` is not a flat vector.
    """
    check_positive_int(num_steps, "num_steps")
    v0 = jnp.asarray(v0)
    if v0.ndim != 1:
        raise ValueError(f"v0 must be a flat vector; got shape {v0.shape}.")
    num_steps = int(min(num_steps, v0.shape[0]))
    alphas, betas, basis, steps = _lanczos(matvec, v0, num_steps)
    return LanczosResult(alphas, betas, basis, int(steps))


def lanczos_core(matvec, v0, num_steps):
    """Traceable Lanczos (for use inside jit): (alphas, betas, basis, steps) as in ``lanczos``.

    The basis V has a spare last row, so that every step writes its next vector without a branch, and the rows
    beyond the current step are still zero, so that V^T (V w) projects on the basis so far without a mask."""
    dim = v0.shape[0]
    dtype = v0.dtype
    tiny = jnp.finfo(dtype).eps * 10
    v = v0 / jnp.linalg.norm(v0)
    V = jnp.zeros((num_steps + 1, dim), dtype).at[0].set(v)

    def body(i, carry):
        V, alphas, betas, steps, alive = carry
        v = V[i]
        w = matvec(v)
        alpha = jnp.vdot(v, w)
        for _ in range(2):  # full reorthogonalization, twice ("twice is enough")
            w = w - V.T @ (V @ w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(jnp.linalg.norm(jax.lax.stop_gradient(alpha)), 1.0)
        closes = beta <= tiny * scale * jnp.sqrt(dim)
        alive_next = alive & ~closes
        alphas = alphas.at[i].set(jnp.where(alive, alpha, 0.0))
        steps = steps + alive.astype(jnp.int32)
        V = V.at[i + 1].set(jnp.where(alive_next, w / jnp.where(closes, 1.0, beta), 0.0))
        betas = betas.at[i].set(jnp.where(alive_next, beta, 0.0))
        return V, alphas, betas, steps, alive_next

    carry = (V, jnp.zeros(num_steps, dtype), jnp.zeros(num_steps, dtype), jnp.asarray(0, jnp.int32), jnp.asarray(True))
    V, alphas, betas, steps, _ = jax.lax.fori_loop(0, num_steps, body, carry)
    return alphas, betas[: num_steps - 1], V[:num_steps], steps


_lanczos = jax.jit(lanczos_core, static_argnums=(0, 2))


def tridiagonal_eigh(alphas, betas) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition (ascending) of the symmetric tridiagonal matrix with diagonal alphas, off-diagonal betas."""
    from scipy.linalg import eigh_tridiagonal

    theta, Q = eigh_tridiagonal(np.asarray(alphas, np.float64), np.asarray(betas, np.float64))
    return np.asarray(theta), np.asarray(Q)


def smallest_ritz_pair(matvec: Callable[[Array], Array], v0: Array, num_steps: int) -> tuple[Array, Array]:
    """Traceable: the smallest Ritz value of ``num_steps`` Lanczos steps from v0 and its unit Ritz vector.

    The Ritz value is an upper bound on the least eigenvalue (Courant-Fischer). Warm-started from the previous
    vector it tracks lambda_min of a slowly changing matrix in a few steps. A Krylov space that closes early
    adds no spurious small Ritz value (closed diagonal entries are replaced by a huge number).
    """
    theta, vectors = ritz_pairs(matvec, v0, num_steps)
    return theta[0], vectors[0]


def ritz_pairs(matvec: Callable[[Array], Array], v0: Array, num_steps: int) -> tuple[Array, Array]:
    """Traceable: all Ritz values (ascending, (num_steps,)) and unit Ritz vectors ((num_steps, dim)) of a Lanczos run.

    Entries beyond a Krylov space that closed early are pushed to +1e30 scale, so the smallest values are genuine;
    for the largest, pass ``-matvec`` and negate.
    """
    alphas, betas, V, steps = lanczos_core(matvec, v0, num_steps)
    alive = jnp.arange(num_steps) < steps
    huge = 1e30 * jnp.maximum(jnp.max(jnp.abs(alphas)), 1.0)
    T = jnp.diag(jnp.where(alive, alphas, huge)) + jnp.diag(betas, 1) + jnp.diag(betas, -1)
    theta, Q = eigh(T)
    vectors = Q.T @ V
    return theta, vectors / jnp.linalg.norm(vectors, axis=1, keepdims=True)


class Eigenpairs(NamedTuple):
    """Ritz values with their error bars (``extreme_eigenvalues``).

    Attributes:
      eigenvalues: (k,) the Ritz values.
      residuals: (k,) their residuals ||A v - lambda v||: some true eigenvalue lies within each.
      eigenvectors: the unit Ritz vectors, a list of k pytrees shaped like the operand, or None.
    """

    eigenvalues: Array
    residuals: Array
    eigenvectors: object | None


@dataclass(frozen=True)
class PytreeOperator:
    """A symmetric operator given as ``matvec`` on pytrees shaped like the operand; hashable for ``jit``."""

    matvec: Callable

    def flat(self, operand):
        unravel = ravel_pytree(operand)[1]
        return lambda v: ravel_pytree(self.matvec(unravel(v)))[0]


def extreme_eigenvalues(
    matvec: Callable,
    template,
    k: int,
    *,
    key: Array,
    which: str = "top",
    num_steps: int | None = None,
    return_vectors: bool = False,
) -> Eigenpairs:
    """The k largest (``which="top"``, descending) or smallest (``"bottom"``, ascending) eigenvalues of a symmetric
    operator ``matvec`` acting on pytrees shaped like ``template``, by Lanczos from a random start.

    Each Ritz value comes with its residual norm ||A v - theta v||, recomputed with one matvec per vector: for a
    symmetric operator some eigenvalue lies within that distance of theta (Parlett, The Symmetric Eigenvalue
    Problem, Thm 4.5.1).

    Args:
      matvec: a symmetric operator on pytrees shaped like ``template``.
      template (Any): a pytree giving the operand's structure, shapes and dtype.
      k: how many eigenvalues, an integer in [1, dimension].
      key: the PRNG key of the random start.
      which: "top" or "bottom".
      num_steps: Lanczos steps (default max(4 k, 40)), capped at the dimension.
      return_vectors: also return the Ritz vectors.

    Returns:
      An ``Eigenpairs`` of at most k values (fewer when the Krylov space closes first).

    Raises:
      ValueError: a bad ``which`` or k, or non-finite Lanczos coefficients (matvec's products are not finite).
    """
    return operator_extremes(
        PytreeOperator(matvec), template, k, key=key, which=which, num_steps=num_steps, return_vectors=return_vectors
    )


def operator_extremes(
    family,
    operand,
    k: int,
    *,
    key: Array,
    which: str = "top",
    num_steps: int | None = None,
    return_vectors: bool = False,
) -> Eigenpairs:
    """``extreme_eigenvalues`` of the operator ``family.flat(operand)`` (flat vectors), for a hashable ``family``.

    The operand is traced, so one compilation serves every operand of one shape (e.g. the Hessian of one loss
    along a training run: ``family`` = the loss, ``operand`` = the parameters).
    """
    if which not in ("top", "bottom"):
        raise ValueError(f"which must be 'top' or 'bottom'; got {which!r}.")
    flat, unravel = ravel_pytree(operand)
    dim = flat.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= dim:
        raise ValueError(f"k must be an integer in [1, {dim}]; got {k!r}.")
    num_steps = int(min(dim, num_steps or max(4 * k, 40)))
    v0 = jax.random.normal(key, flat.shape, dtype=flat.dtype)
    alphas, betas, basis, steps = krylov(family, operand, v0, num_steps)
    s = int(steps)
    if not (np.all(np.isfinite(np.asarray(alphas[:s]))) and np.all(np.isfinite(np.asarray(betas[: s - 1])))):
        raise ValueError(
            "matvec must give finite products (for a Hessian: the loss must have finite second derivatives at params); "
            "got NaN or infinite Lanczos coefficients."
        )
    theta, Q = tridiagonal_eigh(alphas[:s], betas[: s - 1])
    order = np.argsort(theta)[::-1] if which == "top" else np.argsort(theta)
    order = order[: min(k, s)]
    vectors = jnp.asarray(Q[:, order].T, flat.dtype) @ basis[:s]  # (k, dim)
    values = jnp.asarray(theta[order], flat.dtype)
    products = apply_batch(family, operand, vectors)
    residuals = jnp.linalg.norm(products - values[:, None] * vectors, axis=1)
    eigvecs = [unravel(v) for v in vectors] if return_vectors else None
    return Eigenpairs(values, residuals, eigvecs)


@functools.partial(jax.jit, static_argnums=(0, 3))
def krylov(family, operand, v0, num_steps):
    """Jitted ``lanczos_core`` on ``family.flat(operand)``: compiled once per family and operand shape."""
    return lanczos_core(family.flat(operand), v0, num_steps)


@functools.partial(jax.jit, static_argnums=0)
def apply_batch(family, operand, vectors):
    """The operator applied to each row of ``vectors`` (k, dim)."""
    return jax.vmap(family.flat(operand))(vectors)


@functools.partial(jax.jit, static_argnums=0)
def quadratic_forms(family, operand, probes):
    """v^T A v for each row v of ``probes`` (samples, dim), one matvec at a time (memory of one vector)."""
    op = family.flat(operand)
    return jax.lax.map(lambda v: jnp.vdot(v, op(v)), probes)
