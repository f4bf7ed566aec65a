"""The finite-width Gram matrix G^(H)(k) that the proofs of Du, Lee, Li, Wang & Zhai (ICML 2019) track along GD.

Section 4 splits the Gram matrix of all parameters, G(k) = sum_{h=1}^{H+1} G^(h)(k), into the layers' terms
G^(h)_ij = <du_i/dW^(h), du_j/dW^(h)> (G^(H+1) from a); the proofs keep only the last hidden layer's term, "the gram
matrix induced by the weights from H-th layer". Since every term is positive semidefinite, lambda_min(G(k)) >=
lambda_min(G^(H)(k)), and the dynamics y - u(k+1) = (I - eta G(k)) (y - u(k)) contract at least at its rate.

Fully connected, Appendix B, Eq. (13):

    G^(H)_ij = (x_i^(H-1) . x_j^(H-1)) (c_sigma / m) sum_r a_r^2 sigma'(w_r . x_i^(H-1)) sigma'(w_r . x_j^(H-1)),

w_r the r-th row of W^(H).

ResNet (H >= 2), Appendix C, Eq. (14): the same with c_sigma / m replaced by c_res^2 / (H^2 m). A depth-1 ResNet is
the depth-1 fully-connected net, so its G^(1) is Eq. (13) (Eq. (14) assumes a residual layer H).

Both are du_i/dW^(H) = s (a * sigma'(W^(H) x_i^(H-1))) (x_i^(H-1))^T contracted, s the layer's scale
(``DeepNet.layer_scale``), computed here from explicit per-layer features (no autodiff;
tests/du_lee2019/test_gram.py compares it with ``jax.jacobian``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ntk_proofs.du_lee2019.activations import sigma_prime
from ntk_proofs.du_lee2019.models import DeepForward, DeepNet, DeepParams, forward

Array = jax.Array


def gram_from_features(previous: Array, preactivation: Array, a: Array, net: DeepNet) -> Array:
    """G^(H) (n, n) from x^(H-1) (n, m_in), the preactivations W^(H) x^(H-1) (n, m) and a (m,): Eq. (13) or (14).

    Symmetrized, (G + G^T) / 2, so that it is exactly symmetric (a Cholesky factorization reads one triangle)."""
    m = a.shape[0]
    scale = jnp.asarray(net.layer_scale(net.depth, m) ** 2, previous.dtype)
    S = a[None, :] * sigma_prime(net.activation, preactivation)
    G = scale * (previous @ previous.T) * (S @ S.T)
    return (G + G.T) / 2


def gram_from_forward(fwd: DeepForward, a: Array, net: DeepNet) -> Array:
    """G^(H) from a ``DeepForward`` (its x^(H-1) and W^(H) x^(H-1))."""
    return gram_from_features(fwd.features[-2], fwd.preactivations[-1], a, net)


def gram_deep(params: DeepParams, X: Array, net: DeepNet) -> Array:
    """G^(H)(k) (n, n) of Du, Lee, Li, Wang & Zhai (2019), Eq. (13) (fully connected) or Eq. (14) (ResNet), at the
    parameters ``params`` on the inputs X (n, d); the dtype of the parameters. See the module docstring."""
    return gram_from_forward(forward(params, X, net), params.a, net)
