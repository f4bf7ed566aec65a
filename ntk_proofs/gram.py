"""Gram matrices of Du et al. (2019): the infinite-width H^inf and the finite-width H(k).

    H^inf_ij = E_{w ~ N(0, I)}[x_i . x_j 1{w . x_i >= 0, w . x_j >= 0}]
             = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi)                        (Section 3, eq. (6))
    H(k)_ij  = x_i . x_j (1/m) sum_r 1{w_r(k) . x_i >= 0, w_r(k) . x_j >= 0}        (eq. (5))

lambda_0 = lambda_min(H^inf) > 0 when no two inputs are parallel (Theorem 3.1).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ntk_proofs.data import _check_positive_int

Array = jax.Array


@jax.jit
def gram_infinity(X: Array) -> Array:
    """Closed form of H^inf for unit-norm rows X (n, d): x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi).

    Du et al. (2019), eq. (6); the angular identity P(w.x_i >= 0, w.x_j >= 0) = (pi - theta_ij) / (2 pi)
    for Gaussian w (Cho & Saul 2009, arc-cosine kernel of degree 0). Returns (n, n), diagonal 1/2.
    """
    G = X @ X.T
    cos = jnp.clip(G, -1.0, 1.0)
    return G * (jnp.pi - jnp.arccos(cos)) / (2 * jnp.pi)


def gram_from_pattern(pattern: Array, inputs_gram: Array) -> Array:
    """H_ij = x_i.x_j (1/m) sum_r P_ir P_jr (Du et al. eq. (5)) from the (n, m) pattern P and X X^T (n, n)."""
    P = pattern.astype(inputs_gram.dtype)
    return inputs_gram * (P @ P.T) / P.shape[1]


@jax.jit
def gram_matrix(W: Array, X: Array) -> Array:
    """Finite-width Gram matrix H(W) of Du et al. (2019), eq. (5), for W (m, d) and X (n, d); (n, n).

    H = J J^T with J the Jacobian of the network outputs u (n,) with respect to W.
    """
    return gram_from_pattern(X @ W.T >= 0, X @ X.T)


def gram_infinity_mc(key: Array, X: Array, samples: int, *, chunk: int = 4096) -> Array:
    """Monte Carlo estimate of H^inf: H(W) with W of ``samples`` rows drawn from N(0, I).

    Each entry is an average of ``samples`` i.i.d. terms in [-1, 1] with variance at most 1/4, so its
    standard error is at most 1 / (2 sqrt(samples)). Memory is O(n * chunk), whatever ``samples``.
    """
    _check_positive_int(samples, "samples")
    X = jnp.asarray(X)
    n, d = X.shape
    chunk = int(min(chunk, samples))
    full, rest = divmod(samples, chunk)
    keys = jax.random.split(key, full + 1)
    return _gram_mc(keys, X, chunk, full, rest)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _gram_mc(keys, X, chunk, full, rest):
    n, d = X.shape

    def counts(key, size):
        P = (X @ jax.random.normal(key, (d, size), dtype=X.dtype) >= 0).astype(X.dtype)
        return P @ P.T

    def body(acc, key):
        return acc + counts(key, chunk), None

    acc, _ = jax.lax.scan(body, jnp.zeros((n, n), X.dtype), keys[:full])
    if rest:
        acc = acc + counts(keys[full], rest)
    return (X @ X.T) * acc / (full * chunk + rest)


@jax.jit
def lambda_min(H: Array) -> Array:
    """Least eigenvalue of a symmetric matrix H (e.g. lambda_0 = lambda_min(H^inf), Du et al. Thm 3.1)."""
    return jnp.linalg.eigvalsh(H)[0]


@jax.jit
def lambda_max(H: Array) -> Array:
    """Largest eigenvalue of a symmetric matrix H; 2 / lambda_max(H) bounds the stable GD step."""
    return jnp.linalg.eigvalsh(H)[-1]
