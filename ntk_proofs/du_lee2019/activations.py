"""The activations of Du, Lee, Li, Wang & Zhai (ICML 2019), their normalizing constant c_sigma, and the Gaussian
expectations (Gauss-Hermite quadrature in float64) that the infinite-width recursions need.

Section 3.2 of the paper assumes
- Condition 3.1 (Lipschitz and smooth): |sigma(0)| <= c, |sigma(z) - sigma(z')| <= c |z - z'| and
  |sigma'(z) - sigma'(z')| <= c |z - z'|;
- Condition 3.2: sigma is analytic and not a polynomial (used for lambda_min(K^(H)) > 0, Propositions F.1, F.2).
Its guiding example is softplus, sigma(z) = log(1 + exp(z)). erf and tanh meet both conditions too. ReLU meets
neither the smoothness half of Condition 3.1 nor Condition 3.2; it is offered for comparison with the two-layer
results and marked ``within_hypotheses(activation) = False``.

c_sigma = (E_{z ~ N(0, 1)}[sigma(z)^2])^{-1} (the paper's Eq. (2)) is computed by Gauss-Hermite quadrature in
float64 (``c_sigma(..., method="quadrature")``) and, where a closed form exists, from it: ReLU 2 (E[relu(z)^2] = 1/2),
erf 1 / ((2 / pi) arcsin(2 / 3)) (Williams 1997, eq. (11) at unit variance).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
import scipy.special

Array = jax.Array

ACTIVATIONS = ("softplus", "erf", "tanh", "relu")
"""The activations offered; the first three meet Conditions 3.1 and 3.2 of the paper, ReLU does not."""

WITHIN_HYPOTHESES = {"softplus": True, "erf": True, "tanh": True, "relu": False}

# E[sigma(z)^2]^{-1} in closed form, where one exists (the quadrature is checked against these in the tests)
C_SIGMA_CLOSED_FORMS = {"relu": 2.0, "erf": 1.0 / ((2.0 / math.pi) * math.asin(2.0 / 3.0))}

# Gauss-Hermite nodes per dimension: the 1-D expectations (c_sigma, the ResNet means) and the 2-D tensor grid of the
# kernels, per activation. Softplus, erf and tanh are analytic in a strip around the real axis, where the rule
# converges geometrically, the faster the wider the strip: softplus (poles at +-i pi) and erf (entire) reach
# round-off (~1e-15 relative on K^(H)) with 64 nodes; tanh (poles at +-i pi / 2) needs about 160 (64 nodes: 2e-7,
# 128: 2e-11; tests/du_lee2019/test_kernels.py). ReLU's kernels have closed forms; its quadrature (a cross-check
# only) converges slowly, sigma' being a step.
NODES_1D = 200
NODES_2D = {"softplus": 64, "erf": 64, "tanh": 160, "relu": 64}


def check_activation(activation) -> str:
    """``activation`` must be one of ``ACTIVATIONS``: ValueError naming the argument otherwise."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
    return activation


def within_hypotheses(activation: str) -> bool:
    """Whether sigma meets Conditions 3.1 and 3.2 of Du, Lee, Li, Wang & Zhai (2019): False for ReLU only."""
    return WITHIN_HYPOTHESES[check_activation(activation)]


def sigma(activation: str, z: Array) -> Array:
    """sigma(z) in JAX: softplus log(1 + e^z), erf, tanh or relu max(z, 0)."""
    if activation == "softplus":
        return jax.nn.softplus(z)
    if activation == "erf":
        return jax.scipy.special.erf(z)
    if activation == "tanh":
        return jnp.tanh(z)
    if activation == "relu":
        return jax.nn.relu(z)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")


def sigma_prime(activation: str, z: Array) -> Array:
    """sigma'(z) in JAX: the logistic function for softplus, (2 / sqrt(pi)) exp(-z^2) for erf, 1 - tanh^2 for tanh,
    1{z > 0} for ReLU (the derivative JAX's autodiff gives ``jax.nn.relu``, 0 at z = 0; a null set)."""
    if activation == "softplus":
        return jax.nn.sigmoid(z)
    if activation == "erf":
        return (2.0 / math.sqrt(math.pi)) * jnp.exp(-z * z)
    if activation == "tanh":
        return 1.0 - jnp.square(jnp.tanh(z))
    if activation == "relu":
        return (z > 0).astype(z.dtype)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")


def sigma_np(activation: str, z: np.ndarray) -> np.ndarray:
    """sigma(z) in NumPy float64 (the quadratures)."""
    if activation == "softplus":
        return np.logaddexp(0.0, z)
    if activation == "erf":
        return scipy.special.erf(z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")


def sigma_prime_np(activation: str, z: np.ndarray) -> np.ndarray:
    """sigma'(z) in NumPy float64 (the quadratures); as ``sigma_prime``."""
    if activation == "softplus":
        return scipy.special.expit(z)
    if activation == "erf":
        return (2.0 / math.sqrt(math.pi)) * np.exp(-z * z)
    if activation == "tanh":
        return 1.0 - np.square(np.tanh(z))
    if activation == "relu":
        return (z > 0).astype(np.float64)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")


@functools.lru_cache(maxsize=None)
def gauss_hermite(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite rule: nodes z_k and weights w_k (summing to 1) with
    E_{z ~ N(0, 1)}[f(z)] ~ sum_k w_k f(z_k), exact for polynomials of degree < 2 ``nodes``; ``nodes`` in [1, 300]
    (NumPy's weights overflow further out)."""
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or not 1 <= nodes <= 300:
        raise ValueError(f"nodes must be an integer in [1, 300] (Gauss-Hermite nodes); got {nodes!r}.")
    z, w = np.polynomial.hermite_e.hermegauss(int(nodes))
    return z, w / w.sum()


def gaussian_mean(f, variance, nodes: int = NODES_1D) -> np.ndarray:
    """E_{u ~ N(0, variance)}[f(u)] by Gauss-Hermite quadrature in float64, for an array of variances."""
    z, w = gauss_hermite(nodes)
    v = np.asarray(variance, np.float64)
    return f(np.sqrt(v)[..., None] * z) @ w


def gaussian_pair_mean(f, g, var_u, cov, var_v, nodes: int = 64, chunk: int = 512) -> np.ndarray:
    """E[f(u) g(v)] for (u, v) ~ N(0, [[var_u, cov], [cov, var_v]]), elementwise over arrays of the three entries,
    by a tensor Gauss-Hermite grid in float64 mapped through the covariance's Cholesky factor:
    u = sqrt(var_u) z_1, v = (cov / sqrt(var_u)) z_1 + sqrt(var_v - cov^2 / var_u) z_2, z_1, z_2 ~ N(0, 1) independent.

    A covariance that round-off makes slightly indefinite (|cov| a few ulps above sqrt(var_u var_v)) gets the
    second factor 0. Memory O(chunk nodes^2).
    """
    z, w = gauss_hermite(nodes)
    a, c, b = (np.asarray(t, np.float64) for t in np.broadcast_arrays(var_u, cov, var_v))
    shape = a.shape
    a, c, b = a.ravel(), c.ravel(), b.ravel()
    out = np.empty(a.shape, np.float64)
    for start in range(0, a.size, chunk):
        s = slice(start, start + chunk)
        root = np.sqrt(a[s])
        slope = c[s] / root
        rest = np.sqrt(np.maximum(b[s] - slope * slope, 0.0))
        fu = f(root[:, None] * z[None, :])  # (P, Q)
        v = slope[:, None, None] * z[None, :, None] + rest[:, None, None] * z[None, None, :]  # (P, Q_1, Q_2)
        out[s] = np.einsum("pk,pkl,k,l->p", fu, g(v), w, w)
    return out.reshape(shape)


def c_sigma(activation: str, method: str = "auto", nodes: int = NODES_1D) -> float:
    """c_sigma = (E_{z ~ N(0, 1)}[sigma(z)^2])^{-1}, Du, Lee, Li, Wang & Zhai (2019), Eq. (2).

    Args:
      activation: one of ``ACTIVATIONS``.
      method: "quadrature" (Gauss-Hermite in float64, ``nodes`` nodes), "closed_form" (ReLU 2, erf
        1 / ((2 / pi) arcsin(2 / 3)); ValueError for the others) or "auto" (the closed form where one exists).
      nodes: the quadrature's nodes.

    Returns:
      c_sigma as a Python float (float64).

    Raises:
      ValueError: for an unknown activation or method, or "closed_form" where none exists.
    """
    check_activation(activation)
    if method not in ("auto", "quadrature", "closed_form"):
        raise ValueError(f"method must be 'auto', 'quadrature' or 'closed_form'; got {method!r}.")
    if method == "closed_form" and activation not in C_SIGMA_CLOSED_FORMS:
        raise ValueError(f"c_sigma has no closed form here for activation {activation!r}; use method='quadrature'.")
    if method != "quadrature" and activation in C_SIGMA_CLOSED_FORMS:
        return C_SIGMA_CLOSED_FORMS[activation]
    return _c_sigma_quadrature(activation, int(nodes))


@functools.lru_cache(maxsize=None)
def _c_sigma_quadrature(activation: str, nodes: int) -> float:
    return 1.0 / float(gaussian_mean(lambda u: np.square(sigma_np(activation, u)), 1.0, nodes))
