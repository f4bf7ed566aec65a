"""General training loops and the measurements of the optimizer, normalization and lottery-ticket studies.

- ``train``: any optax optimizer, full batch or minibatches, optional fixed sparsity mask; loss on the full
  training set at every step (Sun 2020, Sec. 6 on optimizers).
- ``largest_stable_step``: bisection (on a log scale) for the largest constant step that keeps GD from diverging.
- ``quadratic_gd_rate``: GD on 0.5 x^T A x with eta = 2 / (L + mu) contracts as (kappa - 1) / (kappa + 1)
  (Nesterov 2004, Thm 2.1.15), against the measured rate.
- ``magnitude_mask`` and ``lottery_ticket``: iterative magnitude pruning with rewinding to init (Frankle & Carbin 2019).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array


class TrainRun(NamedTuple):
    loss: Array  # (steps + 1,) full-batch loss before each step and after the last
    params: object


def train(f: Callable, params, X: Array, y: Array, *, optimizer: optax.GradientTransformation, steps: int,
          batch_size: int | None = None, key: Array | None = None, mask=None) -> TrainRun:
    """Minimize 0.5 mean (f(params, X) - y)^2 with ``optimizer``; minibatches of ``batch_size`` drawn with ``key``
    (None = full batch). ``mask`` (a 0/1 pytree like params) keeps pruned weights at zero."""
    if batch_size is not None and not 1 <= batch_size <= X.shape[0]:
        raise ValueError(f"batch_size must lie in [1, {X.shape[0]}]; got {batch_size}.")
    key = jax.random.PRNGKey(0) if key is None else key
    mask = jax.tree.map(jnp.ones_like, params) if mask is None else mask
    params = jax.tree.map(lambda p, m: p * m, params, mask)
    return TrainRun(*_train(f, optimizer, int(steps), batch_size, params, X, y, key, mask))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _train(f, optimizer, steps, batch_size, params, X, y, key, mask):
    def objective(p, Xb, yb):
        r = f(p, Xb) - yb
        return 0.5 * jnp.mean(r * r)

    def step(carry, k):
        p, state = carry
        if batch_size is None:
            Xb, yb = X, y
        else:
            idx = jax.random.choice(k, X.shape[0], (batch_size,), replace=False)
            Xb, yb = X[idx], y[idx]
        g = jax.grad(objective)(p, Xb, yb)
        updates, state = optimizer.update(g, state, p)
        p = jax.tree.map(lambda a, u, m: (a + u) * m, p, updates, mask)
        return (p, state), objective(carry[0], X, y)

    (final, _), loss = jax.lax.scan(step, (params, optimizer.init(params)), jax.random.split(key, steps))
    return jnp.concatenate([loss, objective(final, X, y)[None]]), final


def largest_stable_step(make_run: Callable[[float], Array], lo: float, hi: float, *, iterations: int = 12) -> float:
    """Bisection on log(eta) for the largest step whose run stays stable: ``make_run(eta)`` returns the loss
    history; stable means every loss is finite and at most twice the initial one, and the last is below the first.
    Assumes lo stable, hi unstable (returns hi if it is not)."""
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


def quadratic_gd_rate(kappa: float) -> float:
    """(kappa - 1) / (kappa + 1): the contraction of GD with eta = 2 / (L + mu) on a kappa-conditioned quadratic."""
    return (kappa - 1.0) / (kappa + 1.0)


def measured_rate(norms) -> float:
    """Geometric-mean contraction (||e_K|| / ||e_0||)^(1/K) of an error-norm history."""
    norms = np.asarray(norms, np.float64)
    return float((norms[-1] / norms[0]) ** (1.0 / (norms.size - 1)))


def magnitude_mask(params, mask, fraction: float):
    """Prune ``fraction`` of the still-unpruned weights of every 2-D leaf (layer-wise magnitude pruning; biases
    and 1-D leaves are never pruned). Returns the new 0/1 mask."""
    def prune(p, m):
        if p.ndim < 2:
            return m
        alive = jnp.abs(p)[m > 0]
        k = int(round(fraction * alive.size))
        if k == 0:
            return m
        threshold = jnp.sort(alive)[k - 1]
        return jnp.where((jnp.abs(p) > threshold) & (m > 0), 1.0, 0.0).astype(m.dtype)

    return jax.tree.map(prune, params, mask)


def sparsity(mask) -> float:
    """Fraction of pruned entries among the 2-D leaves."""
    leaves = [m for m in jax.tree.leaves(mask) if m.ndim >= 2]
    return 1.0 - float(sum(jnp.sum(m) for m in leaves)) / sum(m.size for m in leaves)


class Ticket(NamedTuple):
    sparsity: float
    mask: object
    rewound_accuracy: float  # trained from the original init under the mask (the "winning ticket")
    random_accuracy: float  # the same mask, trained from a fresh random init


def lottery_ticket(f: Callable, init: Callable[[Array], object], accuracy: Callable[[object], float], X, y, *,
                   key: Array, rounds: int, fraction: float, optimizer, steps: int) -> list[Ticket]:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019, Sec. 2): train, prune ``fraction`` of the
    remaining weights, rewind the rest to their initial values, repeat; each round also trains the same mask from
    a fresh init (``init(key)``). Returns one ``Ticket`` per sparsity level, starting from the dense network."""
    k0, k_fresh = jax.random.split(key)
    theta0 = init(k0)
    mask = jax.tree.map(jnp.ones_like, theta0)
    tickets = []
    for r in range(rounds + 1):
        rewound = train(f, theta0, X, y, optimizer=optimizer, steps=steps, mask=mask).params
        fresh = train(f, init(jax.random.fold_in(k_fresh, r)), X, y, optimizer=optimizer, steps=steps, mask=mask).params
        tickets.append(Ticket(sparsity(mask), mask, float(accuracy(rewound)), float(accuracy(fresh))))
        mask = magnitude_mask(rewound, mask, fraction)
    return tickets
