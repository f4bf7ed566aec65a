"""Fine-grained convergence and generalization of Arora, Du, Hu, Li & Wang (ICML 2019).

With H^inf = sum_i lambda_i v_i v_i^T, GD on the Du et al. net from a small initialization (u(0) ~ 0) has

    ||y - u(k)|| ~= sqrt( sum_i (1 - eta lambda_i)^{2k} (v_i^T y)^2 )            (Arora et al., Theorem 4.1)

so labels aligned with the top eigenvectors are fitted fast and random labels slowly, and the trained net's
population loss is bounded through the data-dependent complexity

    sqrt( 2 y^T (H^inf)^{-1} y / n )                                             (Theorem 5.1, main term).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.data import AssumptionError, as_real_array
from ntk_proofs.linalg import eigh_descending

Array = jax.Array


class EigenProjections(NamedTuple):
    """Eigenvalues of H in descending order and the squared projections (v_i^T y)^2 in the same order.

    Attributes:
      eigenvalues: (n,) lambda_1 >= ... >= lambda_n.
      projections: (n,) (v_i^T y)^2, in the order of ``eigenvalues``.
    """

    eigenvalues: Array
    projections: Array


def eigen_projections(H: Array, y: Array) -> EigenProjections:
    """Arora et al. (2019), Section 4: lambda_1 >= ... >= lambda_n of a symmetric H (n, n) and (v_i^T y)^2.

    The projections sum to ||y||^2 (the v_i are orthonormal).

    Args:
      H: a finite symmetric (n, n) matrix (booleans and integers become floats).
      y: (n,) finite labels (cast to H's dtype).

    Returns:
      An ``EigenProjections`` of two (n,) arrays.

    Raises:
      ValueError: H is not square, finite and symmetric, or y is not n finite labels.
    """
    H, y = _check_kernel_and_labels(H, y)
    return _eigen_projections(H, y)


def squared_projections(V, y):
    """(v_i^T y)^2 for the columns v_i of V: y's energy along each eigenvector (Arora et al. 2019, Theorem 4.1)."""
    return (V.T @ y) ** 2


def eigen_projections_of(H, y):
    """The traceable core of ``eigen_projections``: eigenvalues of H, descending, and (v_i^T y)^2."""
    lam, V = eigh_descending(H)
    return EigenProjections(lam, squared_projections(V, y))


class KernelSpectrum(NamedTuple):
    """H = V diag(lambda) V^T of a symmetric kernel, eigenvalues in descending order (``kernel_spectrum``).

    Attributes:
      eigenvalues: (n,) lambda_1 >= ... >= lambda_n.
      eigenvectors: (n, n) V, column i the unit eigenvector of lambda_i.
    """

    eigenvalues: Array
    eigenvectors: Array


def kernel_spectrum(H: Array) -> KernelSpectrum:
    """The eigendecomposition ``kernel_prediction`` uses, computed once for many predictions with the same H (the
    width sweep predicts every width's loss from one H^inf: one O(n^3) decomposition instead of one per width).

    Raises:
      ValueError: a bad H (as in ``eigen_projections``).
    """
    H, _ = _check_kernel_and_labels(H, np.zeros(np.shape(H)[:1]))
    return KernelSpectrum(*_eigh_descending(H))


def kernel_prediction(
    H: Array, residual0: Array, *, eta: float, steps: int, spectrum: KernelSpectrum | None = None
) -> Array:
    """The loss of GD on the linear dynamics of a fixed kernel H (n, n), from the residual y - u(0) (n,):

        L(k) = 0.5 sum_i (1 - eta lambda_i)^(2k) (v_i . (y - u(0)))^2,      k = 0..steps,

    with H = sum_i lambda_i v_i v_i^T (Arora et al. 2019, Theorem 4.1 and its proof: u(k+1) - y =
    (I - eta H)(u(k) - y); Lee et al. 2019, eq. (8)). With H = H^inf it is what the Du et al. net does in the
    infinite-width limit.

    Args:
      H: a finite symmetric (n, n) kernel.
      residual0: (n,) the initial residual y - u(0).
      eta: the step size, positive and finite.
      steps: the number of steps, a non-negative integer.
      spectrum: H's ``kernel_spectrum``, to reuse across calls with the same H (the same numbers as without it);
        None computes it.

    Returns:
      (steps + 1,) the loss L(0), ..., L(steps), in H's dtype.

    Raises:
      ValueError: a bad H or residual0 (as in ``eigen_projections``), eta or steps.
    """
    H, residual0 = _check_kernel_and_labels(H, residual0)
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a positive finite step size; got {eta!r}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}.")
    if spectrum is None:
        spectrum = KernelSpectrum(*_eigh_descending(H))
    elif spectrum.eigenvectors.shape != H.shape:
        raise ValueError(f"spectrum is of a {spectrum.eigenvectors.shape} kernel but H is {H.shape}.")
    lam, proj = spectrum.eigenvalues, _projections(spectrum.eigenvectors, residual0)
    k = jnp.arange(steps + 1, dtype=H.dtype)[:, None]
    return 0.5 * jnp.sum(jnp.power(1.0 - eta * lam[None, :], 2.0 * k) * proj[None, :], axis=1)


def predicted_residual(H: Array, y: Array, eta: float, steps: int, u0: Array | None = None) -> Array:
    """Arora et al. (2019), Theorem 4.1: ||y - u(k)|| ~= sqrt(sum_i (1 - eta lambda_i)^{2k} (v_i^T (y - u(0)))^2).

    The exact residual norm of GD on the linearized model u(k+1) = u(k) - eta H (u(k) - y), for
    k = 0..steps (``kernel_prediction`` is its loss).

    Args:
      H: a finite symmetric (n, n) kernel.
      y: (n,) labels.
      eta: the step size, positive and finite.
      steps: the number of steps, a non-negative integer.
      u0: (n,) the initial outputs; default 0, the small-initialization limit of the theorem.

    Returns:
      (steps + 1,) the residual norms ||y - u(k)||.

    Raises:
      ValueError: as ``kernel_prediction``.
    """
    y = jnp.asarray(y)
    target = y if u0 is None else y - jnp.asarray(u0, y.dtype)
    return jnp.sqrt(2.0 * kernel_prediction(H, target, eta=eta, steps=steps))


def generalization_bound(H: Array, y: Array) -> Array:
    """sqrt(2 y^T H^{-1} y / n): the data-dependent complexity of Arora et al. (2019), Theorem 5.1.

    Args:
      H: a symmetric positive definite (n, n) matrix (H^inf is when no two inputs are parallel).
      y: (n,) labels.

    Returns:
      The bound, a scalar array.

    Raises:
      ValueError: H is not square, finite and symmetric, or y is not n finite labels.
      AssumptionError: H is indefinite or singular to round-off (the bound is then meaningless or infinite).
    """
    H, y = _check_kernel_and_labels(H, y)
    lam, proj = _eigen_projections(H, y)
    lam_np = np.asarray(lam)
    tol = H.shape[0] * float(jnp.finfo(H.dtype).eps) * max(abs(lam_np[0]), abs(lam_np[-1]))
    if lam_np[-1] < -tol:
        raise AssumptionError(
            f"H is not positive semi-definite (least eigenvalue {lam_np[-1]:.3g}); the bound of Arora et al. "
            "(2019, Theorem 5.1) needs the Gram matrix H^inf of the data."
        )
    if lam_np[-1] <= tol:
        raise AssumptionError(
            f"H is singular (least eigenvalue {lam_np[-1]:.3g} within round-off {tol:.1e}), so y^T H^-1 y is "
            "infinite: some inputs are (nearly) parallel. Remove duplicates or use more distinct inputs."
        )
    return jnp.sqrt(2.0 * jnp.sum(proj / lam) / H.shape[0])


def _check_kernel_and_labels(H, y) -> tuple[Array, Array]:
    """H as a finite symmetric (n, n) float matrix (booleans and integers become floats) and y as n finite labels of
    its dtype, or a ValueError that names them."""
    H = as_real_array(H, "H")
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] < 1:
        raise ValueError(f"H must be a square (n, n) matrix with n >= 1; got shape {H.shape}.")
    y = as_real_array(y, "y").astype(H.dtype)
    if y.shape != (H.shape[0],):
        raise ValueError(f"H is {H.shape[0]} x {H.shape[0]} but y has shape {y.shape}; expected ({H.shape[0]},).")
    if not (bool(jnp.all(jnp.isfinite(H))) and bool(jnp.all(jnp.isfinite(y)))):
        raise ValueError("H or y contains NaN or infinite entries.")
    scale = float(jnp.max(jnp.abs(H)))
    if float(jnp.max(jnp.abs(H - H.T))) > 1e3 * float(jnp.finfo(H.dtype).eps) * max(scale, 1.0):
        raise ValueError("H must be symmetric.")
    return H, y


# Compiled here rather than with a decorator: mutation testing (mutmut) does not reach decorated functions,
# and these hold the formulas its runs must mutate.
_eigen_projections = jax.jit(eigen_projections_of)
_eigh_descending = jax.jit(eigh_descending)
_projections = jax.jit(squared_projections)
