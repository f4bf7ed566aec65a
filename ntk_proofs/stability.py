"""Signal propagation and stability of deep networks (Sun 2020, "Optimization for Deep Learning", Secs. 4-6).

- ``layer_statistics``: per-layer forward variance of pre-activations and backward gradient norm dL/dh^l.
- ``predicted_variances``: the infinite-width variance recursion q^{l+1} = s_w E[phi(sqrt(q^l) z)^2] + s_b
  (Poole et al. 2016; Schoenholz et al. 2017); for ReLU q^{l+1} = s_w q^l / 2 + s_b, so He init (s_w = 2) keeps
  the variance constant and every other scale grows or shrinks by s_w / 2 per layer (He et al. 2015).
- ``sharpness_trajectory`` and ``descent_lemma_violations``: sharpness lambda_max(Hessian) along GD against 2 / eta,
  the edge of stability (Cohen et al. 2021), and the steps where L(k+1) <= L(k) - eta (1 - eta S / 2) ||g||^2 fails.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.curvature import top_eigenvalues
from ntk_proofs.mlp import ACTIVATIONS, MLP

Array = jax.Array


class LayerStatistics(NamedTuple):
    """forward_variance[l]: mean of (h^{l+1})^2 over units and inputs; backward_norm[l]: RMS over inputs of
    ||d f / d h^{l+1}|| for a random output cotangent. Both of shape (L + 1,) (hidden layers, then the output)."""

    forward_variance: np.ndarray
    backward_norm: np.ndarray


def layer_statistics(net: MLP, params, X: Array, *, key: Array) -> LayerStatistics:
    """Per-layer forward and backward signal sizes of ``net`` at ``params`` on inputs X (n, d)."""
    out, pre = net.forward(params, X)
    taps = [jnp.zeros_like(z) for z in pre]
    cotangent = jax.random.normal(key, out.shape, out.dtype)
    grads = jax.grad(lambda t: jnp.sum(net.forward(params, X, t)[0] * cotangent))(taps)
    forward = np.array([float(jnp.mean(z * z)) for z in pre])
    backward = np.array([float(jnp.sqrt(jnp.mean(jnp.sum(g * g, axis=1)))) for g in grads])
    return LayerStatistics(forward, backward)


def predicted_variances(depth: int, q0: float, *, weight_var: float, bias_var: float = 0.0,
                        activation: str = "relu", points: int = 80) -> np.ndarray:
    """q^1 = s_w q0 + s_b, q^{l+1} = s_w E_z[phi(sqrt(q^l) z)^2] + s_b, z ~ N(0, 1), for l = 1..depth; returns
    (depth + 1,) pre-activation variances of the hidden layers and the output, matching ``layer_statistics``.
    q0 is the mean squared input coordinate (1 / d for unit-norm inputs). Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    weights = weights / weights.sum()
    phi = ACTIVATIONS[activation]
    q = [weight_var * q0 + bias_var]
    for _ in range(depth):
        second = float(np.sum(weights * np.asarray(phi(jnp.asarray(np.sqrt(q[-1]) * nodes))) ** 2))
        q.append(weight_var * second + bias_var)
    return np.asarray(q)


def growth_factor(values) -> float:
    """Geometric-mean ratio between consecutive layers, exp(mean(diff(log values))). Pass hidden layers only: the
    single output unit is too noisy to enter the average."""
    v = np.asarray(values, np.float64)
    return float(np.exp(np.mean(np.diff(np.log(v)))))


class SharpnessRun(NamedTuple):
    steps: np.ndarray  # checkpoints
    sharpness: np.ndarray  # lambda_max of the Hessian at the checkpoints
    loss: np.ndarray  # loss at every step (steps + 1,)
    grad_norm_sq: np.ndarray  # ||g_k||^2 at every step
    first_edge: int  # first checkpoint step where sharpness >= 2 / eta, or -1


def sharpness_trajectory(loss: Callable, params, *, eta: float, steps: int, every: int, key: Array) -> SharpnessRun:
    """Full-batch GD on ``loss`` (any pytree), with the top Hessian eigenvalue by Lanczos every ``every`` steps."""
    value_and_grad = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def chunk(p):
        def step(p, _):
            v, g = jax.value_and_grad(loss)(p)
            gsq = sum(jnp.vdot(x, x) for x in jax.tree.leaves(g))
            return jax.tree.map(lambda a, b: a - eta * b, p, g), (v, gsq)

        return jax.lax.scan(step, p, None, length=every)

    losses, gsqs, ckpt, sharp = [], [], [], []
    done = 0
    while True:
        key, sub = jax.random.split(key)
        ckpt.append(done)
        sharp.append(float(top_eigenvalues(loss, params, 1, key=sub).eigenvalues[0]))
        if done >= steps:
            break
        params, (v, g) = chunk(params)
        losses.extend(np.asarray(v).tolist())
        gsqs.extend(np.asarray(g).tolist())
        done += every
    v, g = value_and_grad(params)
    losses.append(float(v))
    gsqs.append(float(sum(jnp.vdot(x, x) for x in jax.tree.leaves(g))))
    sharp = np.asarray(sharp)
    edge = np.flatnonzero(sharp >= 2.0 / eta)
    return SharpnessRun(np.asarray(ckpt), sharp, np.asarray(losses), np.asarray(gsqs),
                        int(np.asarray(ckpt)[edge[0]]) if edge.size else -1)


def descent_lemma_violations(loss, grad_norm_sq, eta: float, smoothness) -> np.ndarray:
    """Steps k where L(k+1) <= L(k) - eta (1 - eta S_k / 2) ||g_k||^2 fails (the descent lemma for an S_k-smooth
    loss; Nesterov 2004, eq. (1.2.12)). ``smoothness`` is a scalar or one S_k per step."""
    loss = np.asarray(loss, np.float64)
    g = np.asarray(grad_norm_sq, np.float64)[: loss.size - 1]
    S = np.broadcast_to(np.asarray(smoothness, np.float64), g.shape)
    bound = loss[:-1] - eta * (1 - eta * S / 2) * g
    return np.flatnonzero(loss[1:] > bound + 1e-12 * np.abs(loss[:-1]))
