"""The infinite-width Gram matrix K^(H) of Du, Lee, Li, Wang & Zhai (ICML 2019): Definition 5.1 / Eq. (7) for the
fully-connected net, Definition 6.1 / Eq. (8) for the ResNet, and lambda_0 = lambda_min(K^(H)).

Fully connected (Definition 5.1), for h = 1, ..., H - 1 and unit inputs:

    K^(0)_ij = <x_i, x_j>,     K^(h)_ij = c_sigma E_{(u,v) ~ N(0, A^(h)_ij)}[sigma(u) sigma(v)],
    K^(H)_ij = c_sigma K^(H-1)_ij E_{(u,v) ~ N(0, A^(H)_ij)}[sigma'(u) sigma'(v)],

where A^(h)_ij = [[K^(h-1)_ii, K^(h-1)_ij], [K^(h-1)_ji, K^(h-1)_jj]] is the 2x2 covariance of the pair.

ResNet (Definition 6.1), for h = 2, ..., H - 1:

    K^(1)_ij = c_sigma E_{N(0, A^(1)_ij)}[sigma(u) sigma(v)],  b^(1)_i = sqrt(c_sigma) E_{u ~ N(0, K^(0)_ii)}[sigma(u)],
    K^(h)_ij = K^(h-1)_ij + E_{(u,v) ~ N(0, A^(h)_ij)}[(c_res / H) (b^(h-1)_j sigma(u) + b^(h-1)_i sigma(v))
                                                      + (c_res^2 / H^2) sigma(u) sigma(v)],
    b^(h)_i  = b^(h-1)_i + (c_res / H) E_{u ~ N(0, K^(h-1)_ii)}[sigma(u)],
    K^(H)_ij = (c_res^2 / H^2) K^(H-1)_ij E_{(u,v) ~ N(0, A^(H)_ij)}[sigma'(u) sigma'(v)].

Two points the transcription (docs/research/du_lee_2019_deep.md) flags, and how this module reads them:
- The K^(H) line of Eqs. (7) and (8) is printed with A^(H-1), which Definitions 5.1/6.1 build from K^(H-2) (and only
  define for h <= H - 1). Lemma E.1, Proposition F.2 and the finite-width G^(H) of Eqs. (13)/(14) (whose sigma' is
  taken at w_r^T x^(H-1), of limiting covariance K^(H-1)) all use the covariance built from K^(H-1), written A^(H)
  above. This module follows the transcription's consistent reading: A^(H), from K^(H-1).
- Eq. (8) as transcribed pairs b^(h-1)_i with sigma(u) (u the coordinate of x_i); the general recursion of Appendix E,
  Definition E.1 (Eqs. (16)-(17)), and the limit of the finite-width inner product pair b^(h-1)_i with sigma(v),
  as above. For unit-norm inputs (which every entry point checks) K^(h)_ii and b^(h)_i are the same for every i,
  so the two readings give the same numbers.

A depth-1 ResNet is the depth-1 fully-connected net (Eq. (3) has no residual layer), and so is its K^(1):
K^(1)_ij = c_sigma <x_i, x_j> E[sigma'(u) sigma'(v)]; Definition 6.1's formulas start at H = 2.

The expectations are over bivariate normals: in closed form where the activation allows (ReLU: the arc-cosine kernels
of Cho & Saul 2009; erf: Williams 1997, and its derivative kernel by Price's theorem), otherwise by a tensor
Gauss-Hermite grid in float64 through the covariance's Cholesky factor (``activations.gaussian_pair_mean``).
Everything is float64 on the host, whatever the dtype of X, so float32 and float64 runs share lambda_0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ntk_proofs.data import AssumptionError, check_inputs
from ntk_proofs.du_lee2019.activations import (
    NODES_1D,
    NODES_2D,
    c_sigma,
    gaussian_mean,
    gaussian_pair_mean,
    sigma_np,
    sigma_prime_np,
)
from ntk_proofs.du_lee2019.models import DeepNet

METHODS = ("auto", "quadrature", "closed_form")
CLOSED_FORMS = ("relu", "erf")


class DeepKernels(NamedTuple):
    """The whole recursion of Definition 5.1 / 6.1, float64.

    Attributes:
      layers: (H, n, n) K^(0), ..., K^(H-1) (the limits of x^(h)_i . x^(h)_j at initialization).
      gram: (n, n) K^(H), the limit of G^(H)(0) (Eqs. (13)/(14)).
      means: (H - 1, n) b^(1), ..., b^(H-1) of the ResNet (H >= 2; the limits of sum_r x^(h)_{i,r} / sqrt(m)),
        None for the fully-connected net and for H = 1.
    """

    layers: np.ndarray
    gram: np.ndarray
    means: np.ndarray | None


def check_net(net) -> DeepNet:
    """``net`` must be a ``DeepNet``: ValueError naming the argument otherwise."""
    if not isinstance(net, DeepNet):
        raise ValueError(f"net must be a DeepNet (architecture, depth, activation, c_res); got {type(net).__name__}.")
    return net


def check_method(method, activation: str) -> str:
    """Resolve ``method``: "auto" is the closed form for ReLU and erf, quadrature otherwise."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if method == "closed_form" and activation not in CLOSED_FORMS:
        raise ValueError(
            f"method='closed_form' exists for the activations {CLOSED_FORMS} only; got {activation!r}. "
            "Use method='quadrature' (Gauss-Hermite)."
        )
    if method == "auto":
        return "closed_form" if activation in CLOSED_FORMS else "quadrature"
    return method


def pair_expectation(activation: str, derivative: bool, var_u, cov, var_v, method: str, nodes: int = 64):
    """E[s(u) s(v)] for (u, v) ~ N(0, [[var_u, cov], [cov, var_v]]), s = sigma (``derivative`` False) or sigma',
    elementwise over arrays; ``method`` "closed_form" (ReLU, erf) or "quadrature"."""
    a, c, b = (np.asarray(t, np.float64) for t in np.broadcast_arrays(var_u, cov, var_v))
    if method == "quadrature":
        s = sigma_prime_np if derivative else sigma_np
        return gaussian_pair_mean(lambda t: s(activation, t), lambda t: s(activation, t), a, c, b, nodes)
    if activation == "relu":  # arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009)
        root = np.sqrt(a * b)
        cos = np.clip(c / root, -1.0, 1.0)
        theta = np.arccos(cos)
        if derivative:
            return (np.pi - theta) / (2 * np.pi)
        return root * (np.sqrt(1.0 - cos * cos) + (np.pi - theta) * cos) / (2 * np.pi)
    if activation == "erf":  # Williams (1997), eq. (11), and its derivative in the covariance (Price's theorem)
        if derivative:
            return (4.0 / np.pi) / np.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)
        return (2.0 / np.pi) * np.arcsin(np.clip(2 * c / np.sqrt((1 + 2 * a) * (1 + 2 * b)), -1.0, 1.0))
    raise ValueError(f"no closed form for activation {activation!r}.")


def mean_expectation(activation: str, variance, method: str) -> np.ndarray:
    """E_{u ~ N(0, variance)}[sigma(u)] elementwise: ReLU sqrt(variance / (2 pi)), erf 0 (odd), else quadrature."""
    v = np.asarray(variance, np.float64)
    if method == "closed_form" and activation == "relu":
        return np.sqrt(v / (2 * np.pi))
    if method == "closed_form" and activation == "erf":
        return np.zeros_like(v)
    return gaussian_mean(lambda t: sigma_np(activation, t), v, NODES_1D)


def kernel_map(K: np.ndarray, activation: str, derivative: bool, method: str, nodes: int) -> np.ndarray:
    """The (n, n) matrix E_{(u,v) ~ N(0, A_ij)}[s(u) s(v)] over the pairs' covariances A_ij from K (upper triangle
    computed, then mirrored, so the result is exactly symmetric)."""
    n = K.shape[0]
    i, j = np.triu_indices(n)
    values = pair_expectation(activation, derivative, K[i, i], K[i, j], K[j, j], method, nodes)
    out = np.empty((n, n), np.float64)
    out[i, j] = values
    out[j, i] = values
    return out


def deep_kernels(X: ArrayLike, net: DeepNet, *, method: str = "auto", nodes: int | None = None) -> DeepKernels:
    """The recursion of Definition 5.1 (``net.architecture == "fc"``) or Definition 6.1 ("resnet"), see the module
    docstring, in float64.

    Args:
      X: (n, d) inputs with unit-norm rows (the paper's ||x_i||_2 = 1).
      net: the ``DeepNet`` (architecture, depth H, activation, c_res).
      method: "auto" (closed forms for ReLU and erf, Gauss-Hermite otherwise), "quadrature" (Gauss-Hermite for every
        activation: the cross-check of the closed forms; for ReLU, whose sigma' jumps, it converges slowly) or
        "closed_form".
      nodes: Gauss-Hermite nodes per dimension of the 2-D grid (default ``activations.NODES_2D`` of the activation).

    Returns:
      ``DeepKernels`` (float64 NumPy arrays).

    Raises:
      ValueError: for rows off the unit sphere (or X not a finite (n, d) matrix), a net that is not a ``DeepNet``,
        an unknown method, or "closed_form" for an activation without one.
    """
    net = check_net(net)
    X, _ = check_inputs(X, distinct=False)
    method = check_method(method, net.activation)
    nodes = NODES_2D[net.activation] if nodes is None else nodes
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or not 2 <= nodes <= 300:
        raise ValueError(f"nodes must be an integer in [2, 300] (Gauss-Hermite nodes per dimension); got {nodes!r}.")
    X = np.asarray(X, np.float64)
    K = X @ X.T
    K = (K + K.T) / 2
    H, act, cs = net.depth, net.activation, c_sigma(net.activation)
    layers, means = [K], []
    if net.residual:
        c = float(net.c_res) / H
        K = cs * kernel_map(K, act, False, method, nodes)  # K^(1)
        b = math.sqrt(cs) * mean_expectation(act, np.diag(layers[0]), method)  # b^(1)
        layers.append(K)
        means.append(b)
        for _ in range(2, H):  # K^(h), b^(h) for h = 2..H-1
            mu = mean_expectation(act, np.diag(K), method)  # E[sigma(u)], u ~ N(0, K^(h-1)_ii)
            cross = np.outer(b, mu)  # b^(h-1)_i E[sigma(v)] at (i, j) is cross[i, j]
            K = K + c * (cross + cross.T) + c * c * kernel_map(K, act, False, method, nodes)
            b = b + c * mu
            layers.append(K)
            means.append(b)
        gram = c * c * K * kernel_map(K, act, True, method, nodes)
        return DeepKernels(np.stack(layers), gram, np.stack(means))
    for _ in range(1, H):  # K^(h) for h = 1..H-1 (Eq. (7))
        K = cs * kernel_map(K, act, False, method, nodes)
        layers.append(K)
    gram = cs * K * kernel_map(K, act, True, method, nodes)
    return DeepKernels(np.stack(layers), gram, None)


def gram_infinity_deep(X, net: DeepNet, *, method: str = "auto", nodes: int | None = None) -> np.ndarray:
    """K^(H) (n, n), float64: Definition 5.1 / Eq. (7) (fully connected) or Definition 6.1 / Eq. (8) (ResNet) of
    Du, Lee, Li, Wang & Zhai (2019), with the covariance of the last expectation built from K^(H-1) (module
    docstring). X must have unit-norm rows. See ``deep_kernels`` for the arguments and errors."""
    return deep_kernels(X, net, method=method, nodes=nodes).gram


def lambda_zero_deep(X, net: DeepNet, *, method: str = "auto", nodes: int | None = None, check: bool = True) -> float:
    """lambda_0 = lambda_min(K^(H)) (the paper's Appendix: "we use lambda_0 to denote lambda_min(K^(H))"), float64.

    Propositions F.1 / F.2: positive when sigma meets Condition 3.2 and no two inputs are parallel; for the ResNet,
    lambda_0 >= c_H kappa with c_H ~ 1 / H^2 and kappa free of H. No rate in H is given for the fully-connected net.

    Raises:
      AssumptionError: with ``check``, when lambda_0 is not positive beyond round-off (100 n eps max |K^(H)|), e.g.
        for parallel inputs: Theorems 5.1 / 6.1 then promise nothing.
      ValueError: as ``deep_kernels``.
    """
    K = gram_infinity_deep(X, net, method=method, nodes=nodes)
    lam = float(np.linalg.eigvalsh(K)[0])
    tol = 100 * K.shape[0] * float(np.finfo(np.float64).eps) * float(np.max(np.abs(K)))
    if check and not lam > tol:
        raise AssumptionError(
            f"lambda_0 = lambda_min(K^(H)) = {lam:.3g} is not positive beyond round-off ({tol:.1e}) for {net}: "
            "some inputs are (nearly) parallel, or the activation fails Condition 3.2 (Du, Lee et al. 2019, "
            "Propositions F.1 / F.2)."
        )
    return lam
