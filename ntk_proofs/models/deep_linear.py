"""Deep linear networks: x -> W2 W1 x (Baldi & Hornik 1989; Kawaguchi 2016).

The loss sum_i ||W2 W1 x_i - y_i||^2 is convex in the product W2 W1 but not in (W1, W2): the origin is a saddle
point, every local minimum is global (Kawaguchi 2016, Theorem 2.3), and the critical points of the autoencoder
are known in closed form (Baldi & Hornik 1989).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import numpy as np

Array = jax.Array


class DeepLinear(NamedTuple):
    """Parameters of the two-layer linear net x -> W2 W1 x.

    Attributes:
      W1: (h, d) the first layer.
      W2: (k, h) the second layer.
    """

    W1: Array
    W2: Array


def deep_linear_loss(params: DeepLinear, X: Array, Y: Array) -> Array:
    """sum_i ||W2 W1 x_i - y_i||^2 for X (n, d), Y (n, k). Convex in the product W2 W1, not in (W1, W2)."""
    R = X @ params.W1.T @ params.W2.T - Y
    return (R * R).sum()


def autoencoder_critical_losses(X, hidden: int) -> np.ndarray:
    """The losses of all critical points of the linear autoencoder (1/n) sum_i ||W2 W1 x_i - x_i||^2 with ``hidden``
    units: tr(C) - sum_{j in S} lambda_j over index sets S of at most ``hidden`` eigenvalues of the covariance
    C = X^T X / n (Baldi & Hornik 1989, Theorem 1; S = the top ``hidden`` gives the global minimum). Sorted, unique
    to 1e-10. X (n, d)."""
    X = np.asarray(X, np.float64)
    cov = np.linalg.eigvalsh(X.T @ X / X.shape[0])
    subsets = [s for r in range(hidden + 1) for s in itertools.combinations(range(cov.size), r)]
    return np.array(sorted({round(float(cov.sum() - cov[list(s)].sum()), 10) for s in subsets}))
