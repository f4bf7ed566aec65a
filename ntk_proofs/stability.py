"""Signal propagation and the stability of GD on deep networks (Sun 2020, "Optimization for Deep Learning", Secs. 4-6).

- ``layer_statistics``: per-layer forward variance of pre-activations and backward gradient norm dL/dh^l.
- ``predicted_variances``: the infinite-width variance recursion q^{l+1} = s_w E[phi(sqrt(q^l) z)^2] + s_b
  (Poole et al. 2016; Schoenholz et al. 2017); for ReLU q^{l+1} = s_w q^l / 2 + s_b, so He init (s_w = 2) keeps
  the variance constant and every other scale grows or shrinks by s_w / 2 per layer (He et al. 2015).
- ``sharpness_trajectory`` and ``descent_lemma_violations``: sharpness lambda_max(Hessian) along GD against 2 / eta,
  the edge of stability (Cohen et al. 2021), and the steps where L(k+1) <= L(k) - eta (1 - eta S / 2) ||g||^2 fails.
- ``largest_stable_step``: bisection (on a log scale) for the largest constant step that keeps GD from diverging.
- ``quadratic_gd_rate``: GD on 0.5 x^T A x with eta = 2 / (L + mu) contracts as (kappa - 1) / (kappa + 1)
  (Nesterov 2004, Thm 2.1.15), against the measured rate (``measured_rate``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs import gd
from ntk_proofs.curvature import HessianExtreme
from ntk_proofs.gd import GDRun
from ntk_proofs.models.mlp import ACTIVATIONS, MLP

Array = jax.Array


class LayerStatistics(NamedTuple):
    """Per-layer signal sizes (``layer_statistics``), each of shape (L + 1,): the hidden layers, then the output.

    Attributes:
      forward_variance: [l] the mean of (h^{l+1})^2 over units and inputs.
      backward_norm: [l] the RMS over inputs of ||d f / d h^{l+1}|| for a random output cotangent.
    """

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


def predicted_variances(
    depth: int, q0: float, *, weight_var: float, bias_var: float = 0.0, activation: str = "relu", points: int = 80
) -> np.ndarray:
    """q^1 = s_w q0 + s_b, q^{l+1} = s_w E_z[phi(sqrt(q^l) z)^2] + s_b, z ~ N(0, 1), for l = 1..depth, by
    Gauss-Hermite quadrature (Poole et al. 2016; Schoenholz et al. 2017).

    Args:
      depth: the number of hidden layers.
      q0: the mean squared input coordinate (1 / d for unit-norm inputs).
      weight_var: s_w.
      bias_var: s_b.
      activation: a key of ``ntk_proofs.models.mlp.ACTIVATIONS``.
      points: the quadrature nodes.

    Returns:
      (depth + 1,) pre-activation variances of the hidden layers and the output, matching ``layer_statistics``.
    """
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


def sharpness_trajectory(
    loss: Callable, params, *, eta: float, steps: int, record_every: int, key: Array, num_steps: int = 40
) -> GDRun:
    """Full-batch GD on ``loss`` (any pytree) with the sharpness lambda_max(Hessian) every ``record_every`` steps.

    Cohen et al. (ICLR 2021): along GD with step eta the sharpness rises to about 2 / eta (progressive
    sharpening) and hovers there (the edge of stability), where the classical descent lemma no longer applies.
    The driver records the loss and ||grad L(k)||^2 at every step (for ``descent_lemma_violations``); the
    ``HessianExtreme`` recorder measures the sharpness by Lanczos at ``recorded_steps(steps, record_every)``.

    Args:
      loss: a scalar function of a parameter pytree.
      params (Any): the start, a pytree of arrays.
      eta: the constant step size.
      steps: the number of steps.
      record_every: steps between sharpness measurements.
      key: the PRNG key of the Lanczos starts.
      num_steps: Lanczos steps per measurement.

    Returns:
      A ``GDRun`` whose ``records`` are the sharpness values (Ritz values: lower bounds) and whose
        ``grad_norm_sq`` is set; see ``edge_of_stability_step``.

    Raises:
      ValueError: a bad step size or count.
      GradientDescentDiverged: the loss became non-finite.
    """
    return gd.run(
        loss,
        params,
        steps=steps,
        eta=eta,
        record_every=record_every,
        key=key,
        recorder=HessianExtreme(loss, "top", num_steps),
        grad_norms=True,
    )


def edge_of_stability_step(run: GDRun, eta: float) -> int:
    """The first recorded step whose sharpness (``run.records``) reached 2 / eta, or -1 (Cohen et al. 2021)."""
    edge = np.flatnonzero(np.asarray(run.records) >= 2.0 / eta)
    return int(run.record_steps[edge[0]]) if edge.size else -1


def descent_lemma_violations(loss, grad_norm_sq, eta: float, smoothness) -> np.ndarray:
    """Steps k where L(k+1) <= L(k) - eta (1 - eta S_k / 2) ||g_k||^2 fails (the descent lemma for an S_k-smooth
    loss; Nesterov 2004, eq. (1.2.12)). ``smoothness`` is a scalar or one S_k per step."""
    loss = np.asarray(loss, np.float64)
    g = np.asarray(grad_norm_sq, np.float64)[: loss.size - 1]
    S = np.broadcast_to(np.asarray(smoothness, np.float64), g.shape)
    bound = loss[:-1] - eta * (1 - eta * S / 2) * g
    return np.flatnonzero(loss[1:] > bound + 1e-12 * np.abs(loss[:-1]))


def largest_stable_step(make_run: Callable[[float], Array], lo: float, hi: float, *, iterations: int = 12) -> float:
    """Bisection on log(eta) for the largest step whose run stays stable: every loss finite and at most twice the
    initial one, and the last below the first.

    Args:
      make_run: ``make_run(eta)`` returns the loss history of a run with step eta.
      lo: a stable step.
      hi: an unstable step, > lo.
      iterations: bisection steps.

    Returns:
      The largest step found stable (hi itself when hi is stable).

    Raises:
      ValueError: ``lo`` is already unstable.
    """

    def stable(eta):
        loss = np.asarray(make_run(eta))
        return bool(np.all(np.isfinite(loss)) and np.all(loss <= 2 * loss[0]) and loss[-1] < loss[0])

    if not stable(lo):
        raise ValueError(f"The lower end eta = {lo} is already unstable.")
    if stable(hi):
        return hi
    for _ in range(iterations):
        mid = float(np.sqrt(lo * hi))
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo


def quadratic_gd_errors(A: Array, x0: Array, *, eta: float, steps: int) -> np.ndarray:
    """||x(k)|| for k = 0..steps of GD on the quadratic 0.5 x^T A x from x0 (its minimizer is 0), on the driver.

    With eta = 2 / (L + mu) the error contracts by at most (kappa - 1) / (kappa + 1) per step
    (``quadratic_gd_rate``; Nesterov 2004, Thm 2.1.15), with equality along the extreme eigenvectors.
    """
    run = gd.run(lambda x: 0.5 * x @ (A @ x), x0, steps=steps, eta=eta, record_every=1, recorder=gd.Norm())
    return np.asarray(run.records)


def quadratic_gd_rate(kappa: float) -> float:
    """(kappa - 1) / (kappa + 1): the contraction of GD with eta = 2 / (L + mu) on a kappa-conditioned quadratic."""
    return (kappa - 1.0) / (kappa + 1.0)


def measured_rate(norms) -> float:
    """Geometric-mean contraction (||e_K|| / ||e_0||)^(1/K) of an error-norm history."""
    norms = np.asarray(norms, np.float64)
    return float((norms[-1] / norms[0]) ** (1.0 / (norms.size - 1)))
