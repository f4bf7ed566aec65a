"""Infinite-width Gram matrices H^inf of the two-layer family (``ntk_proofs.models.two_layer.TwoLayerFamily``).

With w ~ N(0, I) and Sigma = X X^T, the width-normalized Gram matrix H(0) concentrates on

    H^inf_ij = Sigma_ij E[sigma'(w . x_i) sigma'(w . x_j)]  +  1{train_a} E[sigma(w . x_i) sigma(w . x_j)]

(Du et al. 2019, eq. (6) for the first term; Section 3.3 for the output layer's). Closed forms:

- ReLU, first layer: Sigma_ij (pi - theta_ij) / (2 pi), the arc-cosine kernel of degree 0 (Cho & Saul 2009);
  ``ntk_proofs.du2019.gram.gram_infinity``.
- ReLU, output layer: ||x_i|| ||x_j|| (sin theta_ij + (pi - theta_ij) cos theta_ij) / (2 pi), the arc-cosine kernel
  of degree 1 (Cho & Saul 2009, eq. (6) with J_1; E[relu(z)^2] = 1/2 on the diagonal).
- erf, output layer: (2 / pi) arcsin(2 Sigma_ij / sqrt((1 + 2 Sigma_ii)(1 + 2 Sigma_jj))), the arcsine kernel
  (Williams 1997, "Computing with infinite networks", eq. (11)).
- erf, first layer: Sigma_ij (4 / pi) / sqrt((1 + 2 Sigma_ii)(1 + 2 Sigma_jj) - 4 Sigma_ij^2), the arcsine kernel
  differentiated in Sigma_ij (Price's theorem: d E[f(u) g(v)] / d Cov(u, v) = E[f'(u) g'(v)]).

alpha and gamma do not enter H^inf: they scale the tangent kernel (``TwoLayerFamily.kernel_scale``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ntk_proofs.data import check_positive_int
from ntk_proofs.du2019.bounds import lambda_zero
from ntk_proofs.du2019.gram import gram_infinity
from ntk_proofs.linalg import lambda_min
from ntk_proofs.models.two_layer import TwoLayerFamily

Array = jax.Array


def relu_output_kernel(X: Array) -> Array:
    """E_{w ~ N(0, I)}[relu(w . x_i) relu(w . x_j)] = ||x_i|| ||x_j|| (sin t + (pi - t) cos t) / (2 pi), t the angle."""
    X = jnp.asarray(X)
    norms = jnp.linalg.norm(X, axis=1)
    outer = norms[:, None] * norms[None, :]
    cos = jnp.clip((X @ X.T) / outer, -1.0, 1.0)
    eye = jnp.eye(X.shape[0], dtype=bool)
    cos = jnp.where(eye, 1.0, cos)
    theta = jnp.arccos(cos)
    return outer * (jnp.sqrt(1.0 - cos * cos) + (jnp.pi - theta) * cos) / (2 * jnp.pi)


def erf_output_kernel(X: Array) -> Array:
    """E_{w ~ N(0, I)}[erf(w . x_i) erf(w . x_j)] = (2 / pi) arcsin(2 S_ij / sqrt((1 + 2 S_ii)(1 + 2 S_jj)))
    (Williams 1997)."""
    S = jnp.asarray(X) @ jnp.asarray(X).T
    s = 1.0 + 2.0 * jnp.diag(S)
    return (2.0 / jnp.pi) * jnp.arcsin(jnp.clip(2.0 * S / jnp.sqrt(s[:, None] * s[None, :]), -1.0, 1.0))


def erf_derivative_kernel(X: Array) -> Array:
    """E_{w ~ N(0, I)}[erf'(w . x_i) erf'(w . x_j)] = (4 / pi) / sqrt((1 + 2 S_ii)(1 + 2 S_jj) - 4 S_ij^2)."""
    S = jnp.asarray(X) @ jnp.asarray(X).T
    s = 1.0 + 2.0 * jnp.diag(S)
    return (4.0 / jnp.pi) / jnp.sqrt(s[:, None] * s[None, :] - 4.0 * S * S)


def gram_infinity_family(X: Array, family: TwoLayerFamily = TwoLayerFamily()) -> Array:
    """H^inf (n, n) of a member of the two-layer family (module doc); ``gram_infinity(X)`` for the Du et al. net."""
    X = jnp.asarray(X)
    if family.activation == "relu":
        H = gram_infinity(X)
        return H + relu_output_kernel(X) if family.train_a else H
    H = (X @ X.T) * erf_derivative_kernel(X)
    return H + erf_output_kernel(X) if family.train_a else H


def lambda_zero_family(X: Array, family: TwoLayerFamily = TwoLayerFamily()) -> float:
    """lambda_0 = lambda_min(H^inf) of the family member (Du et al. 2019, Theorem 3.1's quantity).

    The default member's is ``ntk_proofs.du2019.bounds.lambda_zero(X)`` itself (float64 on the host, checked to be
    positive beyond round-off); the other members' come from ``gram_infinity_family`` in the dtype of X.

    Raises:
      AssumptionError: for the default member, lambda_0 is within round-off of 0 (e.g. duplicate inputs).
    """
    if family.is_du:
        return lambda_zero(X)
    return float(lambda_min(gram_infinity_family(X, family)))


class MonteCarloGram(NamedTuple):
    """A Monte Carlo estimate of H^inf (``gram_infinity_family_mc``).

    Attributes:
      mean: (n, n) the mean over ``samples`` neurons w ~ N(0, I).
      stderr: (n, n) the standard error of each entry (sample standard deviation / sqrt(samples)).
      samples: the number of neurons.
    """

    mean: Array
    stderr: Array
    samples: int


def gram_infinity_family_mc(
    key: Array, X: Array, family: TwoLayerFamily = TwoLayerFamily(), *, samples: int, chunk: int = 2048
) -> MonteCarloGram:
    """H^inf of the family by Monte Carlo: the per-neuron terms of ``TwoLayerFamily.gram`` averaged over
    ``samples`` draws w ~ N(0, I) (a = +-1 squares to 1). An independent check of the closed forms; memory
    O(n^2 + n chunk).

    Args:
      key: the PRNG key of the sampled neurons.
      X: (n, d) inputs.
      family: the member of the family.
      samples: the number of neurons, a positive integer.
      chunk: neurons drawn per piece.

    Returns:
      A ``MonteCarloGram``.

    Raises:
      ValueError: ``samples`` is not a positive integer.
    """
    check_positive_int(samples, "samples")
    X = jnp.asarray(X)
    chunk = int(min(chunk, samples))
    full, rest = divmod(samples, chunk)
    keys = jax.random.split(key, full + 1)
    total, squares = _mc_sums(keys, X, family, chunk, full, rest)
    mean = total / samples
    var = jnp.maximum(squares / samples - mean * mean, 0.0) * samples / max(samples - 1, 1)
    return MonteCarloGram(mean, jnp.sqrt(var / samples), samples)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _mc_sums(keys, X, family, chunk, full, rest):
    n, d = X.shape
    G = X @ X.T

    def sums(key, size):
        Z = X @ jax.random.normal(key, (d, size), dtype=X.dtype)  # (n, size)
        S, F = family.sigma_prime(Z), family.sigma(Z)
        terms = G[:, :, None] * S[:, None, :] * S[None, :, :]
        if family.train_a:
            terms = terms + F[:, None, :] * F[None, :, :]
        return jnp.sum(terms, axis=2), jnp.sum(terms * terms, axis=2)

    def body(acc, key):
        s, q = sums(key, chunk)
        return (acc[0] + s, acc[1] + q), None

    zero = jnp.zeros((n, n), X.dtype)
    acc, _ = jax.lax.scan(body, (zero, zero), keys[:full])
    if rest:
        s, q = sums(keys[full], rest)
        acc = (acc[0] + s, acc[1] + q)
    return acc
