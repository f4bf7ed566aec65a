"""Critical points, their index, and escaping saddles (Dauphin et al. 2014; Jin et al. 2017).

- ``find_critical_point``: Levenberg-Marquardt on 0.5 ||grad L||^2 (its Jacobian is the Hessian), which
  converges to a nearby critical point of any index, not only to minima (Dauphin et al. 2014, Sec. 3 use
  Newton-type methods for the same purpose).
- ``escape_saddle``: plain GD, perturbed GD (Jin, Ge, Netrapalli, Kakade & Jordan 2017, Algorithm 2) and
  saddle-free Newton (Dauphin et al. 2014, Sec. 5: |H| in place of H, on a Krylov subspace).
- ``deep_linear_loss``: sum_i ||W2 W1 x_i - y_i||^2, whose origin is a saddle (Kawaguchi 2016; Baldi & Hornik 1989).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntk_proofs.curvature import index_of_spectrum, lanczos_core, smallest_ritz_pair

Array = jax.Array


class DeepLinear(NamedTuple):
    """Parameters of the two-layer linear net x -> W2 W1 x: W1 (h, d), W2 (k, h)."""

    W1: Array
    W2: Array


def deep_linear_loss(params: DeepLinear, X: Array, Y: Array) -> Array:
    """sum_i ||W2 W1 x_i - y_i||^2 for X (n, d), Y (n, k). Convex in the product W2 W1, not in (W1, W2)."""
    R = X @ params.W1.T @ params.W2.T - Y
    return jnp.sum(R * R)


class CriticalPoint(NamedTuple):
    params: object
    loss: float
    grad_norm: float
    index: float  # fraction of negative Hessian eigenvalues


def find_critical_point(loss: Callable, params, *, steps: int = 100, damping: float = 1e-3,
                        rtol: float = 1e-6) -> CriticalPoint:
    """Levenberg-Marquardt on 0.5 ||g(p)||^2: p <- p - (H^2 + mu I)^{-1} H g, with mu adapted (dense; small models).

    Returns the final point with its loss, gradient norm and index (fraction of eigenvalues < -rtol max|lambda|).
    """
    flat, unravel = ravel_pytree(params)
    f = lambda v: loss(unravel(v))  # noqa: E731
    grad_hess = jax.jit(lambda v: (jax.grad(f)(v), jax.hessian(f)(v)))
    mu = damping
    v = flat
    g, H = grad_hess(v)
    gnorm = float(jnp.linalg.norm(g))
    for _ in range(steps):
        if gnorm < 1e-12:
            break
        step = jnp.linalg.solve(H @ H + mu * jnp.eye(H.shape[0], dtype=H.dtype), H @ g)
        g_new, H_new = grad_hess(v - step)
        new_norm = float(jnp.linalg.norm(g_new))
        if np.isfinite(new_norm) and new_norm < gnorm:
            v, g, H, gnorm, mu = v - step, g_new, H_new, new_norm, max(mu / 3, 1e-12)
        else:
            mu *= 4
    index = index_of_spectrum(np.linalg.eigvalsh(np.asarray(H, np.float64)), rtol)
    return CriticalPoint(unravel(v), float(f(v)), gnorm, index)


class EscapeRun(NamedTuple):
    """Loss (steps + 1,), smallest Hessian eigenvalue at recorded steps, and the recorded steps."""

    loss: np.ndarray
    lambda_min: np.ndarray
    recorded: np.ndarray


def escape_saddle(loss: Callable, params, *, method: str, lr: float, steps: int, key: Array,
                  record_every: int = 5, noise_radius: float = 1e-2, grad_threshold: float = 1e-3,
                  wait: int = 20, krylov_dim: int = 10, damping: float = 1e-3) -> EscapeRun:
    """Run ``method`` in {"gd", "perturbed_gd", "saddle_free_newton"} from ``params`` (typically near a saddle).

    perturbed_gd (Jin et al. 2017): when ||g|| <= grad_threshold and no perturbation in the last ``wait`` steps,
    add a point drawn uniformly from the ball of radius ``noise_radius``.
    saddle_free_newton (Dauphin et al. 2014, Algorithm 1): Lanczos on H from g gives V, T = Q diag(theta) Q^T;
    step -lr V^T Q (|theta| + damping)^{-1} Q^T V g, which moves *away* along negative curvature.
    The smallest Hessian eigenvalue is tracked with ``bottom_eigenvalues`` every ``record_every`` steps.
    """
    if method not in ("gd", "perturbed_gd", "saddle_free_newton"):
        raise ValueError(f"method must be 'gd', 'perturbed_gd' or 'saddle_free_newton'; got {method!r}.")
    flat, unravel = ravel_pytree(params)
    f = jax.jit(lambda v: loss(unravel(v)))
    grad_fn = jax.grad(lambda w: loss(unravel(w)))
    grad = jax.jit(grad_fn)
    dim = flat.shape[0]
    lam_steps, k_dim = min(dim, 40), min(krylov_dim, dim)

    def hessian_op(v):
        return lambda u: jax.jvp(grad_fn, (v,), (u,))[1]

    @jax.jit
    def smallest_eigenvalue(v, key):
        return smallest_ritz_pair(hessian_op(v), jax.random.normal(key, v.shape, v.dtype), lam_steps)[0]

    @jax.jit
    def saddle_free_direction(v, g):
        alphas, betas, V, steps = lanczos_core(hessian_op(v), g, k_dim)
        alive = jnp.arange(k_dim) < steps
        T = jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)
        theta, Q = jnp.linalg.eigh(T)
        coeff = Q.T @ (V @ g)
        scaled = jnp.where(alive @ jnp.abs(Q) > 0, coeff / (jnp.abs(theta) + damping), 0.0)
        return (Q @ scaled) @ V

    v, last_kick = flat, -wait
    losses, lam, recorded = [float(f(v))], [], []
    keys = jax.random.split(key, steps + 1)
    for k in range(steps + 1):
        if k % record_every == 0 or k == steps:
            lam.append(float(smallest_eigenvalue(v, keys[k])))
            recorded.append(k)
        if k == steps:
            break
        g = grad(v)
        if method == "gd":
            v = v - lr * g
        elif method == "perturbed_gd":
            if float(jnp.linalg.norm(g)) <= grad_threshold and k - last_kick >= wait:
                kn, kr = jax.random.split(keys[k])
                direction = jax.random.normal(kn, v.shape, v.dtype)
                radius = noise_radius * jax.random.uniform(kr, (), v.dtype) ** (1.0 / v.shape[0])
                v = v + radius * direction / jnp.linalg.norm(direction)
                last_kick = k
                g = grad(v)
            v = v - lr * g
        else:
            start = g if float(jnp.linalg.norm(g)) > 0 else jax.random.normal(keys[k], v.shape, v.dtype)
            v = v - lr * saddle_free_direction(v, start)
        losses.append(float(f(v)))
    return EscapeRun(np.asarray(losses), np.asarray(lam), np.asarray(recorded))

