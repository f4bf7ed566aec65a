"""The lottery-ticket hypothesis (Frankle & Carbin, ICLR 2019): iterative magnitude pruning with rewinding.

- ``magnitude_mask``: prune the smallest-magnitude fraction of the remaining weights of every layer.
- ``lottery_ticket``: train, prune, rewind the survivors to their initial values, repeat (Sec. 2, iterative
  pruning); each sparsity level is also trained from a fresh init with the same mask, the control of their
  Sec. 2 and Figure 3. Training is ``gd_trajectory`` with the mask, on the one driver.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from ntk_proofs.gd import gd_trajectory

Array = jax.Array


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
    """One sparsity level of ``lottery_ticket``.

    Attributes:
      sparsity: the fraction of pruned entries among the 2-D leaves (``sparsity``).
      mask: the 0/1 mask, a pytree like the parameters.
      rewound_accuracy: ``accuracy`` after training from the original init under the mask (the "winning ticket").
      random_accuracy: ``accuracy`` after training the same mask from a fresh random init.
    """

    sparsity: float
    mask: object
    rewound_accuracy: float
    random_accuracy: float


def lottery_ticket(
    f: Callable,
    init: Callable[[Array], object],
    accuracy: Callable[[object], float],
    X,
    y,
    *,
    key: Array,
    rounds: int,
    fraction: float,
    optimizer,
    steps: int,
) -> list[Ticket]:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019, Sec. 2): train, prune ``fraction`` of the
    remaining weights, rewind the rest to their initial values, repeat; each round also trains the same mask from
    a fresh init.

    Args:
      f: the model, ``f(params, X)``.
      init: ``init(key) -> params``, the initialization.
      accuracy: ``accuracy(params) -> float``, the score of trained parameters.
      X (Array): the training inputs.
      y (Array): the training targets.
      key: the PRNG key of the original and the fresh initializations.
      rounds: pruning rounds.
      fraction: the fraction of the remaining 2-D weights pruned per round (``magnitude_mask``).
      optimizer (optax.GradientTransformation): the optax transformation of every training run (``gd_trajectory``).
      steps: steps per training run.

    Returns:
      rounds + 1 ``Ticket``s, one per sparsity level, starting from the dense network.

    Raises:
      GradientDescentDiverged: a training run's loss became non-finite.
    """
    k0, k_fresh = jax.random.split(key)
    theta0 = init(k0)
    mask = jax.tree.map(jnp.ones_like, theta0)
    tickets = []
    for r in range(rounds + 1):
        rewound = gd_trajectory(f, theta0, X, y, optimizer=optimizer, steps=steps, mask=mask, record_every=0).params
        fresh = gd_trajectory(
            f, init(jax.random.fold_in(k_fresh, r)), X, y, optimizer=optimizer, steps=steps, mask=mask, record_every=0
        ).params
        tickets.append(Ticket(sparsity(mask), mask, float(accuracy(rewound)), float(accuracy(fresh))))
        mask = magnitude_mask(rewound, mask, fraction)
    return tickets
