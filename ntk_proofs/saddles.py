"""Critical points, their index, and escaping saddles (Dauphin et al. 2014; Jin et al. 2017).

- ``find_critical_point``: Levenberg-Marquardt on 0.5 ||grad L||^2 (its Jacobian is the Hessian), which
  converges to a nearby critical point of any index, not only to minima (Dauphin et al. 2014, Sec. 3 use
  Newton-type methods for the same purpose).
- ``escape_saddle``: plain GD, perturbed GD (Jin, Ge, Netrapalli, Kakade & Jordan 2017, Algorithm 2) and
  saddle-free Newton (Dauphin et al. 2014, Sec. 5: |H| in place of H, on a Krylov subspace).
The saddle-escape rules are optax transformations (they read the loss through optax's ``value_fn`` extra
argument), so every method runs on the one GD driver with the ``HessianExtreme`` recorder.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ntk_proofs import gd
from ntk_proofs.curvature import HessianExtreme, index_of_spectrum
from ntk_proofs.gd import GDRun, check_step_size
from ntk_proofs.linalg import eigh, lanczos_core

Array = jax.Array


class CriticalPoint(NamedTuple):
    """The point ``find_critical_point`` reached.

    Attributes:
      params: the point, a pytree like the start.
      loss: the loss there.
      grad_norm: ||grad L|| there.
      index: the fraction of Hessian eigenvalues below -rtol max|lambda| (``index_of_spectrum``).
    """

    params: object
    loss: float
    grad_norm: float
    index: float


def find_critical_point(
    loss: Callable, params, *, steps: int = 100, damping: float = 1e-3, rtol: float = 1e-6
) -> CriticalPoint:
    """Levenberg-Marquardt on 0.5 ||g(p)||^2: p <- p - (H^2 + mu I)^{-1} H g, with mu adapted (dense; small models).

    Args:
      loss: a scalar function of a parameter pytree.
      params (Any): the start, a pytree of arrays.
      steps: the most Levenberg-Marquardt steps (it stops early once ||g|| < 1e-12).
      damping: the initial mu.
      rtol: eigenvalues below -rtol max|lambda| count as negative in the index.

    Returns:
      A ``CriticalPoint``: the final point with its loss, gradient norm and index.
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


class _PerturbedState(NamedTuple):
    key: Array
    step: Array
    last_kick: Array


def perturbed_gd(
    eta: float, *, key: Array, noise_radius: float = 1e-2, grad_threshold: float = 1e-3, wait: int = 20
) -> optax.GradientTransformationExtraArgs:
    """Perturbed GD (Jin, Ge, Netrapalli, Kakade & Jordan 2017, Algorithm 2) as an optax transformation.

    When ||g|| <= grad_threshold and no perturbation came in the last ``wait`` steps, the point first moves by
    xi, uniform in the ball of radius ``noise_radius``, and the GD step uses the gradient at the moved point
    (read through ``value_fn``): update = xi - eta grad L(x + xi). Otherwise update = -eta g.
    """
    check_step_size(eta)

    def init(params):
        return _PerturbedState(key, jnp.asarray(0, jnp.int32), jnp.asarray(-wait, jnp.int32))

    def update(grads, state, params, *, value_fn, **extra):
        flat_g, unravel = ravel_pytree(grads)
        flat_p = ravel_pytree(params)[0]
        kn, kr = jax.random.split(jax.random.fold_in(state.key, state.step))
        direction = jax.random.normal(kn, flat_p.shape, flat_p.dtype)
        radius = noise_radius * jax.random.uniform(kr, (), flat_p.dtype) ** (1.0 / flat_p.shape[0])
        kick = (jnp.linalg.norm(flat_g) <= grad_threshold) & (state.step - state.last_kick >= wait)
        xi = jnp.where(kick, radius * direction / jnp.linalg.norm(direction), 0.0)
        grad_fn = jax.grad(lambda v: value_fn(unravel(v)))
        g = jax.lax.cond(kick, lambda: grad_fn(flat_p + xi), lambda: flat_g)
        last = jnp.where(kick, state.step, state.last_kick)
        return unravel(xi - eta * g), _PerturbedState(state.key, state.step + 1, last)

    # optax types ``update`` without the extra arguments (value_fn) that GradientTransformationExtraArgs passes
    return optax.GradientTransformationExtraArgs(init, update)  # pyright: ignore[reportArgumentType]


def saddle_free_newton(
    eta: float, *, krylov_dim: int = 10, damping: float = 1e-3, key: Array
) -> optax.GradientTransformationExtraArgs:
    """Saddle-free Newton on a Krylov subspace (Dauphin et al. 2014, Algorithm 1) as an optax transformation.

    Lanczos on the Hessian (of ``value_fn``) from g gives V and T = Q diag(theta) Q^T; the update
    -eta V^T Q (|theta| + damping)^{-1} Q^T V g moves *away* along negative curvature (|H| in place of H).
    A zero gradient starts Lanczos from a random vector (``key``).
    """
    check_step_size(eta)

    def init(params):
        return key

    def update(grads, state, params, *, value_fn, **extra):
        flat_g, unravel = ravel_pytree(grads)
        flat_p = ravel_pytree(params)[0]
        k_dim = min(krylov_dim, flat_p.shape[0])
        grad_fn = jax.grad(lambda v: value_fn(unravel(v)))
        hessian = lambda u: jax.jvp(grad_fn, (flat_p,), (u,))[1]  # noqa: E731
        state, sub = jax.random.split(state)
        start = jnp.where(jnp.linalg.norm(flat_g) > 0, flat_g, jax.random.normal(sub, flat_g.shape, flat_g.dtype))
        alphas, betas, V, steps = lanczos_core(hessian, start, k_dim)
        alive = jnp.arange(k_dim) < steps
        T = jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)
        theta, Q = eigh(T)
        coeff = Q.T @ (V @ flat_g)
        scaled = jnp.where(alive @ jnp.abs(Q) > 0, coeff / (jnp.abs(theta) + damping), 0.0)
        return unravel(-eta * ((Q @ scaled) @ V)), state

    # optax types ``update`` without the extra arguments (value_fn) that GradientTransformationExtraArgs passes
    return optax.GradientTransformationExtraArgs(init, update)  # pyright: ignore[reportArgumentType]


def escape_saddle(
    loss: Callable,
    params,
    *,
    method: str,
    eta: float,
    steps: int,
    key: Array,
    record_every: int = 5,
    noise_radius: float = 1e-2,
    grad_threshold: float = 1e-3,
    wait: int = 20,
    krylov_dim: int = 10,
    damping: float = 1e-3,
) -> GDRun:
    """Run ``method`` in {"gd", "perturbed_gd", "saddle_free_newton"} from ``params`` (typically near a saddle).

    All run on the GD driver, which records the smallest Hessian eigenvalue (``HessianExtreme``, "bottom").

    Args:
      loss: a scalar function of a parameter pytree.
      params (Any): the start, a pytree of arrays.
      method: "gd": plain GD; "perturbed_gd": ``perturbed_gd`` (Jin et al. 2017); "saddle_free_newton":
        ``saddle_free_newton`` (Dauphin et al. 2014).
      eta: the step size, positive and finite.
      steps: the number of steps.
      key: the PRNG key of the rule (perturbations, Krylov starts) and of the recorder's Lanczos starts.
      record_every: steps between records of the smallest Hessian eigenvalue.
      noise_radius: ``perturbed_gd``'s perturbation radius.
      grad_threshold: ``perturbed_gd``'s gradient norm below which it perturbs.
      wait: ``perturbed_gd``'s least number of steps between perturbations.
      krylov_dim: ``saddle_free_newton``'s Krylov dimension.
      damping: ``saddle_free_newton``'s damping.

    Returns:
      A ``GDRun`` whose ``records`` are the smallest Hessian eigenvalue (a Ritz value) at the recorded steps.

    Raises:
      ValueError: an unknown method, or a bad step size or count.
      GradientDescentDiverged: the loss became non-finite.
    """
    if method not in ("gd", "perturbed_gd", "saddle_free_newton"):
        raise ValueError(f"method must be 'gd', 'perturbed_gd' or 'saddle_free_newton'; got {method!r}.")
    check_step_size(eta)
    k_rule, k_record = jax.random.split(key)
    if method == "gd":
        rule = optax.sgd(eta)
    elif method == "perturbed_gd":
        rule = perturbed_gd(eta, key=k_rule, noise_radius=noise_radius, grad_threshold=grad_threshold, wait=wait)
    else:
        rule = saddle_free_newton(eta, krylov_dim=krylov_dim, damping=damping, key=k_rule)
    return gd.run(
        loss,
        params,
        steps=steps,
        optimizer=rule,
        record_every=record_every,
        key=k_record,
        recorder=HessianExtreme(loss, "bottom"),
    )
