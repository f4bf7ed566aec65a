"""Loss landscapes: non-convexity certificates on 1-D slices, interpolation, filter-normalized plots, mode connectivity.

A function convex on R^P is convex on every line, so one line along which
    f(alpha a1 + (1 - alpha) a2) > alpha f(a1) + (1 - alpha) f(a2)
proves the loss non-convex. References: Goodfellow, Vinyals & Saxe (ICLR 2015) for linear interpolation;
Li, Xu, Taylor, Studer & Goldstein (NeurIPS 2018) for filter-normalized directions; Garipov et al. (NeurIPS 2018)
and Draxler et al. (ICML 2018) for curves connecting minima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntk_proofs import gd
from ntk_proofs.models.deep_linear import DeepLinear, deep_linear_loss

Array = jax.Array


# ---------------------------------------------------------------------------------------------------------
# Certificates of non-convexity
# ---------------------------------------------------------------------------------------------------------


class Certificate(NamedTuple):
    """f(alpha a1 + (1 - alpha) a2) - alpha f(a1) - (1 - alpha) f(a2) = gap > roundoff > 0, evaluated in float64.

    Attributes:
      a1: one end of the violated chord.
      a2: its other end.
      alpha: the chord's weight (1/2: the midpoint).
      gap: f at the chord's point minus the chord there, in float64.
      roundoff: the bound on the rounding of f and the gap that ``gap`` exceeds.
    """

    a1: float
    a2: float
    alpha: float
    gap: float
    roundoff: float


class CertificateSearch(NamedTuple):
    """How hard ``convexity_certificate`` looked.

    Attributes:
      grid_points: the points of the uniform grid.
      chords: the chords tried.
      evaluations: the evaluations of f (the grid, then three for the best candidate).
      best_gap: the largest gap seen on the grid (-inf when no chord was tried).
    """

    grid_points: int
    chords: int
    evaluations: int
    best_gap: float


def convexity_certificate(
    f: Callable,
    lo: float,
    hi: float,
    *,
    grid_points: int = 401,
    max_spacing: int | None = None,
    return_search: bool = False,
):
    """Search [lo, hi] for a violated chord of a scalar function f of one variable.

    Every chord (a_{i-s}, a_{i+s}) with midpoint a_i (alpha = 1/2) of a uniform grid is tried for spacings
    s = 1..max_spacing (default: all), so (grid_points^2 / 4) chords. The best candidate is re-evaluated with f
    called on float64 inputs under ``jax.enable_x64``; it becomes a certificate only if its gap exceeds the
    round-off bound 64 eps_64 (|f(m)| + |f(a1)| + |f(a2)|) (a generous multiple of the rounding in
    evaluating f and the gap).

    Args:
      f: a scalar function of one scalar, traceable by ``jax.vmap``.
      lo: the left end of the interval, finite.
      hi: the right end, finite and > lo.
      grid_points: the points of the uniform grid, >= 3.
      max_spacing: the largest half-width s of a chord, in grid steps (default: all).
      return_search: also return a ``CertificateSearch``.

    Returns:
      (Certificate | None | tuple[Certificate | None, CertificateSearch]): a ``Certificate`` or None; with
        ``return_search``, the pair (certificate or None, ``CertificateSearch``).

    Raises:
      ValueError: lo, hi not finite with lo < hi, grid_points < 3, or f not finite on the grid.
    """
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"Need finite lo < hi; got [{lo}, {hi}].")
    if grid_points < 3:
        raise ValueError(f"grid_points must be >= 3; got {grid_points}.")
    grid = np.linspace(lo, hi, grid_points)
    values = np.asarray(_evaluate64(f, grid))
    if not np.all(np.isfinite(values)):
        raise ValueError("f is not finite on the whole interval; narrow [lo, hi].")
    max_spacing = (grid_points - 1) // 2 if max_spacing is None else min(max_spacing, (grid_points - 1) // 2)
    best, chords = (-np.inf, None), 0
    for s in range(1, max_spacing + 1):
        mid = values[s:-s]
        gaps = mid - 0.5 * (values[: -2 * s] + values[2 * s :])
        chords += gaps.size
        i = int(np.argmax(gaps))
        if gaps[i] > best[0]:
            best = (float(gaps[i]), (i, i + 2 * s))
    certificate = None
    if best[1] is not None:
        a1, a2 = float(grid[best[1][0]]), float(grid[best[1][1]])
        f1, f2, fm = (float(v) for v in _evaluate64(f, np.array([a1, a2, 0.5 * (a1 + a2)])))
        gap = fm - 0.5 * f1 - 0.5 * f2
        roundoff = 64 * np.finfo(np.float64).eps * (abs(fm) + abs(f1) + abs(f2))
        if gap > roundoff:
            certificate = Certificate(a1, a2, 0.5, float(gap), float(roundoff))
    search = CertificateSearch(grid_points, chords, grid_points + 3, best[0])
    return (certificate, search) if return_search else certificate


def _evaluate64(f, points):
    with jax.enable_x64(True):
        xs = jnp.asarray(points, dtype=jnp.float64)
        return np.asarray(jax.vmap(f)(xs), dtype=np.float64)


def slice_1d(loss: Callable, params, direction) -> Callable:
    """a -> loss(params + a * direction) for pytree params and direction; a non-convex slice proves loss non-convex."""

    def along(a):
        return loss(jax.tree.map(lambda p, d: p + a * d, params, direction))

    return along


# ---------------------------------------------------------------------------------------------------------
# Interpolation, filter-normalized directions, 2-D surfaces
# ---------------------------------------------------------------------------------------------------------


def interpolate(loss: Callable, params_a, params_b, num: int = 51, *, extend: float = 0.0) -> tuple[Array, Array]:
    """Goodfellow et al. (2015): loss((1 - t) params_a + t params_b) for t on [-extend, 1 + extend]; (ts, losses)."""
    ts = jnp.linspace(-extend, 1.0 + extend, num)
    point = lambda t: jax.tree.map(lambda a, b: (1 - t) * a + t * b, params_a, params_b)  # noqa: E731
    return ts, jax.jit(jax.vmap(lambda t: loss(point(t))))(ts)


def filter_normalized_directions(key: Array, params, k: int = 2, *, bias: str = "zero") -> list:
    """Li et al. (2018), Sec. 4: k random Gaussian directions, each filter rescaled to its filter's norm in params.

    For a weight of two or more axes a filter is a row along its first axis (one neuron's incoming weights, for
    (fan_out, fan_in)); each row d_i of the direction becomes d_i / ||d_i|| * ||theta_i||.

    Args:
      key: a PRNG key.
      params (Any): the parameter pytree the directions are scaled to.
      k: how many directions.
      bias: what 1-D (and scalar) leaves (biases, normalization parameters) get: "zero" (as Li et al. do) or
        "keep" (rescaled as one filter).

    Returns:
      A list of k pytrees shaped like ``params``.

    Raises:
      ValueError: ``bias`` is neither "zero" nor "keep".
    """
    if bias not in ("zero", "keep"):
        raise ValueError(f"bias must be 'zero' or 'keep'; got {bias!r}.")
    leaves, treedef = jax.tree.flatten(params)
    directions = []
    for key_k in jax.random.split(key, k):
        out = []
        for leaf, key_l in zip(leaves, jax.random.split(key_k, len(leaves))):
            d = jax.random.normal(key_l, leaf.shape, leaf.dtype)
            if leaf.ndim <= 1:
                d = jnp.zeros_like(leaf) if bias == "zero" else d / jnp.linalg.norm(d) * jnp.linalg.norm(leaf)
            else:
                rows_d = d.reshape(d.shape[0], -1)
                rows_p = leaf.reshape(leaf.shape[0], -1)
                scale = jnp.linalg.norm(rows_p, axis=1, keepdims=True) / jnp.linalg.norm(rows_d, axis=1, keepdims=True)
                d = (rows_d * scale).reshape(leaf.shape)
            out.append(d)
        directions.append(jax.tree.unflatten(treedef, out))
    return directions


def loss_surface_2d(loss: Callable, params, d1, d2, alphas: Array, betas: Array) -> Array:
    """loss(params + a d1 + b d2) on the grid alphas x betas, shape (len(alphas), len(betas)), batched with vmap."""

    def at(a, b):
        return loss(jax.tree.map(lambda p, u, v: p + a * u + b * v, params, d1, d2))

    return jax.jit(jax.vmap(jax.vmap(at, in_axes=(None, 0)), in_axes=(0, None)))(alphas, betas)


# ---------------------------------------------------------------------------------------------------------
# Mode connectivity
# ---------------------------------------------------------------------------------------------------------


def bezier_point(t, params_a, bend, params_b):
    """Quadratic Bezier curve (1 - t)^2 a + 2 t (1 - t) bend + t^2 b (Garipov et al. 2018, eq. (2))."""
    return jax.tree.map(lambda a, c, b: (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, params_a, bend, params_b)


class BezierFit(NamedTuple):
    """The curve ``fit_bezier`` found.

    Attributes:
      bend: the fitted bend, a pytree like the end points (``bezier_point``'s ``bend``).
      objective: (steps + 1,) the curve's mean loss on a fixed grid of t, before each step and after the last.
    """

    bend: object
    objective: Array


@dataclass(frozen=True)
class _UniformT:
    """A ``sample`` rule for the driver: fresh t ~ U[0, 1] in place of the fixed grid of the data."""

    def __call__(self, data, key):
        a, b, ts = data
        return a, b, jax.random.uniform(key, ts.shape, ts.dtype)


def fit_bezier(
    loss: Callable,
    params_a,
    params_b,
    *,
    key: Array,
    steps: int = 500,
    learning_rate: float = 1e-2,
    samples_per_step: int = 8,
) -> BezierFit:
    """Garipov et al. (2018), Sec. 3.2: fit the bend of a quadratic Bezier curve between two minima by minimizing
    E_{t ~ U[0, 1]} loss(curve(t)) with Adam (optax) on the GD driver, from the midpoint of the straight line.

    Each step's gradient uses ``samples_per_step`` fresh t's; the recorded objective is the midpoint rule on as
    many fixed t's, so that it is comparable between steps.

    Args:
      loss: a scalar function of a parameter pytree.
      params_a (Any): one minimum, a pytree of arrays.
      params_b (Any): the other, a pytree of the same structure.
      key: the PRNG key of the sampled t's.
      steps: Adam steps.
      learning_rate: Adam's learning rate.
      samples_per_step: t's per step (and points of the recorded midpoint rule).

    Returns:
      A ``BezierFit``.

    Raises:
      GradientDescentDiverged: the objective became non-finite.
    """
    bend0 = jax.tree.map(lambda a, b: 0.5 * (a + b), params_a, params_b)

    def curve_loss(bend, a, b, ts):
        return jnp.mean(jax.vmap(lambda t: loss(bezier_point(t, a, bend, b)))(ts))

    dtype = jax.tree.leaves(bend0)[0].dtype
    grid = (jnp.arange(samples_per_step, dtype=dtype) + 0.5) / samples_per_step
    run = gd.run(
        curve_loss,
        bend0,
        (params_a, params_b, grid),
        steps=steps,
        optimizer=optax.adam(learning_rate),
        key=key,
        sample=_UniformT(),
    )
    return BezierFit(run.params, run.loss)


class Barrier(NamedTuple):
    """The loss along a path between two minima (``path_barrier``).

    Attributes:
      ts: (num,) the path parameters t in [0, 1].
      losses: (num,) the loss at each t.
      height: max_t [loss(path(t)) - ((1 - t) loss_a + t loss_b)], the barrier above the endpoints' chord.
    """

    ts: Array
    losses: Array
    height: float


def path_barrier(loss: Callable, params_a, params_b, bend=None, num: int = 101) -> Barrier:
    """Loss along the straight line (bend None) or the Bezier curve, and its barrier height above the endpoints' chord
    (Draxler et al. 2018; Garipov et al. 2018)."""
    ts = jnp.linspace(0.0, 1.0, num)
    if bend is None:
        point = lambda t: jax.tree.map(lambda a, b: (1 - t) * a + t * b, params_a, params_b)  # noqa: E731
    else:
        point = lambda t: bezier_point(t, params_a, bend, params_b)  # noqa: E731
    losses = jax.jit(jax.vmap(lambda t: loss(point(t))))(ts)
    chord = (1 - ts) * losses[0] + ts * losses[-1]
    return Barrier(ts, losses, float(jnp.max(losses - chord)))


# ---------------------------------------------------------------------------------------------------------
# Worked examples
# ---------------------------------------------------------------------------------------------------------


def sigmoid_mlp_example(key: Array, *, d: int = 784, hidden: int = 100, n: int = 10):
    """A one-hidden-layer sigmoid MLP with cross-entropy on n random inputs in [-0.5, 0.5]^d with random binary
    labels; base point and direction uniform in [-0.5, 0.5] for every weight and bias.

    Returns:
      (tuple[Callable, dict, dict]): (loss, params, direction), the parameters and the direction dicts of W1
        (hidden, d), b1 (hidden,), w2 (hidden,), b2 (); slice a in [-1, 3] (``slice_1d``).
    """
    kx, ky, kp, kd = jax.random.split(key, 4)
    X = jax.random.uniform(kx, (n, d), minval=-0.5, maxval=0.5)
    y = jax.random.bernoulli(ky, 0.5, (n,)).astype(X.dtype)

    def uniform_params(k):
        k1, k2, k3, k4 = jax.random.split(k, 4)
        u = lambda kk, shape: jax.random.uniform(kk, shape, X.dtype, -0.5, 0.5)  # noqa: E731
        return dict(W1=u(k1, (hidden, d)), b1=u(k2, (hidden,)), w2=u(k3, (hidden,)), b2=u(k4, ()))

    def loss(p):
        logits = jax.nn.sigmoid(X @ p["W1"].T + p["b1"][None, :]) @ p["w2"] + p["b2"]
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))

    return loss, uniform_params(kp), uniform_params(kd)


def permutation_example(loss: Callable, params, i: int = 0, j: int = 1, layer: int = 0):
    """Swap hidden units i and j of an MLP (``params`` a tuple of ``Dense``): rows i, j of layer ``layer``'s W and b,
    columns i, j of the next layer's W. The network function, hence the loss, is unchanged."""
    layers = list(params)
    W, b = layers[layer]
    perm = np.arange(W.shape[0])
    perm[[i, j]] = perm[[j, i]]
    layers[layer] = type(layers[layer])(W[perm], b[perm])
    Wn, bn = layers[layer + 1]
    layers[layer + 1] = type(layers[layer + 1])(Wn[:, perm], bn)
    return tuple(layers)


def least_squares_loss(w: Array, X: Array, y: Array) -> Array:
    """0.5 ||X w - y||^2 / n: convex (Hessian X^T X / n is PSD)."""
    r = X @ w - y
    return 0.5 * jnp.mean(r * r)


def logistic_loss(w: Array, X: Array, y01: Array) -> Array:
    """Mean logistic loss with labels in {0, 1}: convex (Hessian X^T diag(p(1 - p)) X / n is PSD)."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(X @ w, y01))


def deep_linear_example(key: Array, *, n: int = 20, d: int = 2, hidden: int = 3):
    """The deep-linear model sum_i ||W2 W1 x_i - y_i||^2 (2 inputs, 3 hidden, 1 output, identity activations) with
    linear targets: the line through the saddle W = 0 along a random direction, oriented (W2 -> -W2 if needed) so
    that the end-to-end map correlates with the targets, where the slice ||y||^2 - 2 a^2 <W2 W1 X, Y> +
    a^4 ||W2 W1 X||^2 is concave near 0. Convex in the product W2 W1, not in (W1, W2).

    Returns:
      (tuple[Callable, DeepLinear, DeepLinear]): (loss, origin, direction), with ``hidden`` = 3 and d = 2 by
        default: W1 (hidden, d), W2 (1, hidden).
    """

    kx, kt, k1, k2 = jax.random.split(key, 4)
    X = jax.random.normal(kx, (n, d))
    Y = X @ jax.random.normal(kt, (d, 1), X.dtype)
    W1 = jax.random.normal(k1, (hidden, d), X.dtype)
    W2 = jax.random.normal(k2, (1, hidden), X.dtype)
    if float(jnp.sum((X @ W1.T @ W2.T) * Y)) < 0:
        W2 = -W2
    origin = DeepLinear(jnp.zeros_like(W1), jnp.zeros_like(W2))
    return (lambda p: deep_linear_loss(p, X, Y)), origin, DeepLinear(W1, W2)
