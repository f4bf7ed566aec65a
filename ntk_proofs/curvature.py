"""Matrix-free curvature: Hessian-vector products, extreme Hessian eigenvalues, trace and spectral density.

Every routine works on a symmetric linear operator given as a matvec over a pytree (or over flat vectors),
so memory is O(num_steps x parameters), never parameters^2. For a loss, the operator is the Hessian via
forward-over-reverse differentiation (Pearlmutter 1994). References: Lanczos with full
reorthogonalization (Golub & Van Loan, Matrix Computations, Sec. 10.1); Hutchinson (1989) trace estimator;
stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntk_proofs.data import check_fits_in_memory, check_parameters, check_positive_int, traced
from ntk_proofs.linalg import (
    Eigenpairs,
    PytreeOperator,
    krylov,
    operator_extremes,
    quadratic_forms,
    smallest_ritz_pair,
    tridiagonal_eigh,
)

Array = jax.Array


def hvp(loss: Callable, params, v):
    """H v for H = d^2 loss / d params^2 at ``params``: jvp of grad (forward-over-reverse). v is a params-like
    pytree."""
    return jax.jvp(jax.grad(loss), (params,), (v,))[1]


@dataclass(frozen=True)
class HessianOperator:
    """v -> H v for the Hessian of ``loss`` at the operand (flat vectors); hashable, so compiled once per loss."""

    loss: Callable

    def flat(self, params):
        flat, unravel = ravel_pytree(params)
        grad = jax.grad(lambda w: self.loss(unravel(w)))
        return lambda v: jax.jvp(grad, (flat,), (v,))[1]


def _family(loss, matvec):
    """The Hessian of ``loss``, or a user ``matvec`` on params-like pytrees."""
    return HessianOperator(loss) if matvec is None else PytreeOperator(matvec)


def top_eigenvalues(
    loss: Callable | None,
    params,
    k: int,
    *,
    key: Array,
    matvec: Callable | None = None,
    num_steps: int | None = None,
    return_vectors: bool = False,
) -> Eigenpairs:
    """The k largest Hessian eigenvalues of ``loss`` at ``params`` (descending), with Ritz residuals as error bars.

    Lanczos on Hessian-vector products (Pearlmutter 1994); the residuals bound the distance to a true eigenvalue
    (Parlett, Thm 4.5.1). Compiled once per ``loss`` (keep the same function object along a run).

    Args:
      loss: a scalar function of ``params`` (ignored when ``matvec`` is given).
      params (Any): a pytree of finite floating-point arrays holding at least one parameter.
      k: how many eigenvalues, an integer in [1, number of parameters].
      key: the PRNG key of the random Lanczos start.
      matvec: any symmetric operator on params-like pytrees, used instead of the Hessian of ``loss``.
      num_steps: Lanczos steps (default max(4 k, 40)), capped at the number of parameters.
      return_vectors: also return the Ritz vectors, as params-like pytrees.

    Returns:
      An ``Eigenpairs``: (k,) eigenvalues, (k,) residuals ||H v - theta v||, and the vectors (or None).

    Raises:
      ValueError: a bad ``params``, k or num_steps, a Lanczos basis too large for the device's memory, or
        non-finite Ritz values (the loss's second derivatives at params are not finite).
    """
    check_krylov_fits(params, k, num_steps)
    return check_finite_result(
        operator_extremes(
            _family(loss, matvec), params, k, key=key, which="top", num_steps=num_steps, return_vectors=return_vectors
        )
    )


def bottom_eigenvalues(
    loss: Callable | None,
    params,
    k: int,
    *,
    key: Array,
    matvec: Callable | None = None,
    num_steps: int | None = None,
    return_vectors: bool = False,
) -> Eigenpairs:
    """The k smallest Hessian eigenvalues of ``loss`` at ``params`` (ascending), with Ritz residuals as error bars.
    ``params`` and the result are checked as in ``top_eigenvalues``."""
    check_krylov_fits(params, k, num_steps)
    return check_finite_result(
        operator_extremes(
            _family(loss, matvec),
            params,
            k,
            key=key,
            which="bottom",
            num_steps=num_steps,
            return_vectors=return_vectors,
        )
    )


def check_krylov_fits(params, k, num_steps) -> None:
    """Check ``params`` (``check_parameters``) and refuse, before anything is allocated, a Lanczos basis
    (steps, parameters) too large for the device's memory (steps = ``num_steps`` or max(4 k, 40), at most the
    number of parameters, as ``extreme_eigenvalues`` takes them)."""
    check_parameters(params)
    if num_steps is not None:
        check_positive_int(num_steps, "num_steps")
    flat = jax.eval_shape(lambda p: ravel_pytree(p)[0], params)
    dim = int(flat.shape[0])
    steps = min(dim, int(num_steps or max(4 * int(k) if isinstance(k, (int, np.integer)) else 0, 40)))
    check_fits_in_memory(
        steps * dim * flat.dtype.itemsize,
        f"num_steps must be few enough for the Lanczos basis to fit in memory; got {steps} steps over {dim} "
        f"parameters, whose ({steps}, {dim}) {flat.dtype.name} basis",
    )


def check_finite_result(pairs: Eigenpairs) -> Eigenpairs:
    """``pairs``, unless a Ritz value or residual is not finite: then a ValueError (the operator's products are NaN or
    infinite, e.g. the loss's second derivatives at params)."""
    if not (bool(jnp.all(jnp.isfinite(pairs.eigenvalues))) and bool(jnp.all(jnp.isfinite(pairs.residuals)))):
        raise ValueError(
            "loss must have finite second derivatives at params (or matvec finite products); got non-finite "
            f"Hessian-vector products: Ritz values {np.asarray(pairs.eigenvalues)}."
        )
    return pairs


class PowerIterationResult(NamedTuple):
    """Top-k eigenvalues by power iteration with deflation, and the Hessian-vector products it spent."""

    eigenvalues: np.ndarray  # (k,), in the order found (descending magnitude)
    iterations: np.ndarray  # (k,) power steps per eigenvalue
    matvecs: int  # total operator applications


def power_iteration_eigenvalues(
    loss: Callable | None,
    params,
    k: int,
    *,
    key: Array,
    tol: float = 1e-3,
    max_iterations: int = 100,
    matvec: Callable | None = None,
) -> PowerIterationResult:
    """The k largest-magnitude Hessian eigenvalues by power iteration with deflation: the method of PyHessian (Yao,
    Gholami, Keutzer & Mahoney 2020, Algorithm 1 and its ``eigenvalues`` routine), for comparison with Lanczos.

    For each eigenvalue: v <- H v / ||H v|| with v orthogonalized against the eigenvectors already found, until
    the Rayleigh quotient changes by less than ``tol`` relative (or ``max_iterations``). Counts every Hessian-vector
    product. ``matvec`` replaces the Hessian of ``loss`` by any symmetric operator on params-like pytrees.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1); got {tol!r}.")
    family = _family(loss, matvec)
    flat = ravel_pytree(params)[0]
    apply = jax.jit(lambda v: family.flat(params)(v))
    found, values, iterations = [], [], []
    for i in range(k):
        v = jax.random.normal(jax.random.fold_in(key, i), flat.shape, flat.dtype)
        value, steps = None, 0
        for steps in range(1, max_iterations + 1):
            for u in found:  # deflation: stay orthogonal to the eigenvectors already found
                v = v - jnp.vdot(u, v) * u
            v = v / jnp.linalg.norm(v)
            w = apply(v)
            new = float(jnp.vdot(v, w))
            v = w
            if value is not None and abs(new - value) <= tol * (abs(value) + 1e-30):
                value = new
                break
            value = new
        for u in found:
            v = v - jnp.vdot(u, v) * u
        found.append(v / jnp.linalg.norm(v))
        values.append(value)
        iterations.append(steps)
    return PowerIterationResult(np.asarray(values), np.asarray(iterations), int(sum(iterations)))


@dataclass(frozen=True)
class HessianExtreme:
    """Recorder for the GD driver: the largest (``which="top"``) or smallest (``"bottom"``) Hessian eigenvalue of
    ``loss`` at each recorded step, by ``num_steps`` Lanczos steps from a fresh random start (Ritz value: a lower
    bound on lambda_max, an upper bound on lambda_min; exact once the Krylov space is invariant)."""

    loss: Callable
    which: str = "top"
    num_steps: int = 40

    def init(self, params, aux, data, key):
        if key is None:
            raise ValueError("HessianExtreme needs a PRNG key for its Lanczos starts: pass key= to the driver.")
        return key

    def record(self, key, params, aux, data):
        key, sub = jax.random.split(key)
        flat = ravel_pytree(params)[0]
        op = HessianOperator(self.loss).flat(params)
        sign = -1.0 if self.which == "top" else 1.0
        steps = min(self.num_steps, flat.shape[0])
        theta, _ = smallest_ritz_pair(lambda v: sign * op(v), jax.random.normal(sub, flat.shape, flat.dtype), steps)
        return key, sign * theta


class TraceEstimate(NamedTuple):
    """A Monte Carlo estimate of a trace (``hutchinson_trace``).

    Attributes:
      estimate: the mean of the quadratic forms v^T H v over the probes, a scalar array.
      stderr: its standard error, std(v^T H v) / sqrt(samples) (ddof = 1).
    """

    estimate: Array
    stderr: Array


def hutchinson_trace(
    loss: Callable | None, params, *, key: Array, samples: int = 100, matvec: Callable | None = None
) -> TraceEstimate:
    """Hutchinson (1989): tr(H) = E[v^T H v] for Rademacher v, estimated over ``samples`` probes.

    Args:
      loss: a scalar function of ``params`` (ignored when ``matvec`` is given).
      params (Any): a pytree of finite floating-point arrays holding at least one parameter.
      key: the PRNG key of the probes.
      samples: the number of Rademacher probes, an integer >= 2.
      matvec: any symmetric operator on params-like pytrees, used instead of the Hessian of ``loss``.

    Returns:
      A ``TraceEstimate``: the mean over the probes and its standard error.

    Raises:
      ValueError: a bad ``params`` or ``samples``, probes too large for the device's memory, or non-finite
        quadratic forms.
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}.")
    check_parameters(params)
    flat, _ = ravel_pytree(params)
    check_fits_in_memory(
        int(samples) * flat.shape[0] * flat.dtype.itemsize,
        f"samples must be few enough for the Rademacher probes to fit in memory; got samples = {samples} over "
        f"{flat.shape[0]} parameters, whose ({samples}, {flat.shape[0]}) {flat.dtype.name} probes",
    )
    probes = jax.random.rademacher(key, (samples, flat.shape[0]), dtype=flat.dtype)
    quad = quadratic_forms(_family(loss, matvec), params, probes)
    finite = jnp.all(jnp.isfinite(quad))
    if not traced(finite) and not bool(finite):
        raise ValueError(
            "loss must have finite second derivatives at params (or matvec finite products); got non-finite "
            "quadratic forms v^T H v."
        )
    return TraceEstimate(jnp.mean(quad), jnp.std(quad, ddof=1) / jnp.sqrt(samples))


class SpectralDensity(NamedTuple):
    """SLQ estimate of a spectral density, with the quadrature it was formed from.

    Attributes:
      grid: (grid_size,) the points where the density is evaluated.
      density: (grid_size,) the density on ``grid`` (integrates to ~1).
      nodes: (probes, steps) the quadrature nodes (Ritz values) of each probe.
      weights: (probes, steps) their weights, whose weighted sums estimate normalized moments tr(H^p) / dim
        (``slq_moment``).
    """

    grid: Array
    density: Array
    nodes: Array
    weights: Array


def spectral_density(
    loss: Callable | None,
    params,
    *,
    key: Array,
    num_probes: int = 10,
    num_steps: int = 60,
    grid_size: int = 512,
    sigma: float | None = None,
    matvec: Callable | None = None,
) -> SpectralDensity:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019, Sec. 3; Ubaru et al. 2017).

    For each Gaussian probe v / ||v||, Lanczos gives nodes theta_j and weights tau_j = (first component of the
    j-th Ritz vector)^2; the density is (1 / probes) sum tau_j N(t; theta_j, sigma^2) on a grid spanning the nodes.

    Args:
      loss: a scalar function of ``params`` (ignored when ``matvec`` is given).
      params (Any): a pytree of floating-point arrays.
      key: the PRNG key of the probes.
      num_probes: the number of Gaussian probes.
      num_steps: Lanczos steps per probe, capped at the number of parameters.
      grid_size: the number of grid points.
      sigma: the Gaussian smoothing width (default 1% of the spectral range).
      matvec: any symmetric operator on params-like pytrees, used instead of the Hessian of ``loss``.

    Returns:
      A ``SpectralDensity``.
    """
    flat, _ = ravel_pytree(params)
    num_steps = int(min(num_steps, flat.shape[0]))
    nodes, weights = [], []
    for probe_key in jax.random.split(key, num_probes):
        v0 = jax.random.normal(probe_key, flat.shape, dtype=flat.dtype)
        alphas, betas, _, steps = krylov(_family(loss, matvec), params, v0, num_steps)
        s = int(steps)
        theta, Q = tridiagonal_eigh(alphas[:s], betas[: s - 1])
        pad = num_steps - theta.size  # a closed Krylov space: pad with zero-weight nodes
        nodes.append(np.pad(theta, (0, pad), constant_values=theta[-1]))
        weights.append(np.pad(Q[0] ** 2, (0, pad)))
    nodes, weights = np.asarray(nodes), np.asarray(weights)
    lo, hi = nodes.min(), nodes.max()
    span = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    width = 0.01 * span if sigma is None else float(sigma)
    grid = np.linspace(lo - 5 * width, hi + 5 * width, grid_size)
    gauss = np.exp(-0.5 * ((grid[None, None, :] - nodes[..., None]) / width) ** 2) / (width * np.sqrt(2 * np.pi))
    density = np.einsum("ps,psg->g", weights, gauss) / num_probes
    return SpectralDensity(jnp.asarray(grid), jnp.asarray(density), jnp.asarray(nodes), jnp.asarray(weights))


def slq_moment(density: SpectralDensity, power: int) -> float:
    """The SLQ estimate of the normalized moment tr(H^p) / dim: the mean over probes of sum_j tau_j theta_j^p
    (Ubaru, Chen & Saad 2017, eq. (3.3)); exact in expectation for p < 2 * steps."""
    w, nodes = np.asarray(density.weights), np.asarray(density.nodes)
    return float((w * nodes**power).sum(1).mean())


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
