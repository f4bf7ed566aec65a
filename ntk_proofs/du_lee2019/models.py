"""The deep fully-connected net and the ResNet of Du, Lee, Li, Wang & Zhai, "Gradient Descent Finds Global Minima
of Deep Neural Networks" (ICML 2019), as the paper defines them (transcribed in docs/research/du_lee_2019_deep.md).

Fully connected, Eq. (2), for 1 <= h <= H (x^(0) = x):

    x^(h) = sqrt(c_sigma / m) sigma(W^(h) x^(h-1)),        f(x, theta) = a^T x^(H).

ResNet, Eq. (3):

    x^(1) = sqrt(c_sigma / m) sigma(W^(1) x),
    x^(h) = x^(h-1) + (c_res / (H sqrt(m))) sigma(W^(h) x^(h-1))   for 2 <= h <= H,     f_res(x, theta) = a^T x^(H).

W^(1) is (m, d), W^(h) (m, m) for h >= 2 (footnote 3: square intermediate layers), a (m,); no biases. Every entry of
every W^(h) and of a is N(0, 1) at initialization (end of Section 3.3), and every layer is trained by GD, the output
layer a included. c_sigma = (E_{z ~ N(0,1)}[sigma(z)^2])^{-1} (``activations.c_sigma``). The loss is Eq. (1),
L = 0.5 sum_i (f(theta, x_i) - y_i)^2, the suite's convention.

A depth-1 ResNet is the depth-1 fully-connected net: Eq. (3) has no residual layer when H = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ntk_proofs.data import check_positive_int, float_dtype, standard_normal
from ntk_proofs.du_lee2019.activations import c_sigma, check_activation, sigma, within_hypotheses

Array = jax.Array

ARCHITECTURES = ("fc", "resnet")
DEFAULT_C_RES = 0.5
"""c_res of the ResNet when none is given. The paper asks only 0 < c_res < 1, "a small constant" (Eq. (3)); the
value is not pinned down there, 1/2 is this module's choice."""


class DeepParams(NamedTuple):
    """The parameters of either net: W = (W^(1) (m, d), W^(2) (m, m), ..., W^(H) (m, m)) and a (m,)."""

    W: tuple[Array, ...]
    a: Array


class DeepForward(NamedTuple):
    """One forward pass on n inputs: features[h] = x^(h) (n, d for h = 0, else n, m), h = 0..H, and
    preactivations[h - 1] = W^(h) x^(h-1) as rows (n, m), h = 1..H; outputs u = f(X) (n,)."""

    features: tuple[Array, ...]
    preactivations: tuple[Array, ...]
    outputs: Array


@dataclass(frozen=True)
class DeepNet:
    """The architecture: ``architecture`` "fc" (Eq. (2)) or "resnet" (Eq. (3)), ``depth`` H >= 1, ``activation``
    (``activations.ACTIVATIONS``; softplus is the paper's guiding example) and ``c_res`` in (0, 1) (the ResNet's
    residual scale; unused by "fc"). Frozen and hashable: a static argument of ``jit``.

    Raises:
      ValueError: naming the argument, for an unknown architecture or activation, a depth that is not a positive
        integer, or c_res outside (0, 1).
    """

    architecture: str = "fc"
    depth: int = 2
    activation: str = "softplus"
    c_res: float = DEFAULT_C_RES

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {self.architecture!r}.")
        check_positive_int(self.depth, "depth")
        check_activation(self.activation)
        c = self.c_res
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < float(c) < 1:
            raise ValueError(f"c_res must lie in (0, 1) (Du, Lee et al. 2019, Eq. (3)); got {c!r}.")

    @property
    def c_sigma(self) -> float:
        """(E_{z ~ N(0,1)}[sigma(z)^2])^{-1} (Eq. (2)), float64 (``activations.c_sigma``)."""
        return c_sigma(self.activation)

    @property
    def within_hypotheses(self) -> bool:
        """Whether the activation meets Conditions 3.1 and 3.2 of the paper (False for ReLU)."""
        return within_hypotheses(self.activation)

    @property
    def residual(self) -> bool:
        """Whether layer H is a residual layer: a ResNet of depth H >= 2."""
        return self.architecture == "resnet" and self.depth >= 2

    def layer_scale(self, h: int, m: int) -> float:
        """The factor in front of sigma(W^(h) x^(h-1)) at layer h: sqrt(c_sigma / m) (Eq. (2); the ResNet's first
        layer, Eq. (3)) or c_res / (H sqrt(m)) (the ResNet's layers 2..H, Eq. (3))."""
        if self.architecture == "resnet" and h >= 2:
            return float(self.c_res) / (self.depth * math.sqrt(m))
        return math.sqrt(self.c_sigma / m)


def init_deep(key: Array, net: DeepNet, m: int, d: int, dtype=None) -> DeepParams:
    """The paper's initialization (Section 3.3): every entry of W^(1) (m, d), W^(h) (m, m) (2 <= h <= H) and a (m,)
    is N(0, 1), drawn in float32 and cast to ``dtype`` (``data.standard_normal``: the same numbers in every
    precision for one key). No biases.

    Raises:
      ValueError: unless m and d are positive integers.
    """
    check_positive_int(m, "m")
    check_positive_int(d, "d")
    dtype = float_dtype(dtype)
    keys = jax.random.split(key, net.depth + 1)
    W = tuple(standard_normal(keys[h], (m, d if h == 0 else m), dtype) for h in range(net.depth))
    return DeepParams(W, standard_normal(keys[-1], (m,), dtype))


def forward(
    params: DeepParams, X: Array, net: DeepNet, mask: Array | None = None, width: Array | None = None
) -> DeepForward:
    """Every layer of Eq. (2) (``net.architecture == "fc"``) or Eq. (3) ("resnet") on the rows of X (n, d).

    With ``mask`` (M,) and ``width`` m: the width-m net held in the first m neurons of width-M arrays. Every layer's
    branch is multiplied by ``mask`` (1 on the first m neurons, 0 on the others), so the other neurons' features are
    exactly 0 and their weights get zero gradients (they never move), and the scales are those of width m (Eq. (2):
    sqrt(c_sigma / m); Eq. (3): c_res / (H sqrt(m))), with m an array, so that one compiled program serves every
    m <= M (``du_lee2019.sweep``).
    """
    m = params.a.shape[0]
    x = X
    features, preactivations = [X], []
    for h, W in enumerate(params.W, start=1):
        z = x @ W.T
        residual = net.architecture == "resnet" and h >= 2
        if mask is None:
            branch = jnp.asarray(net.layer_scale(h, m), z.dtype) * sigma(net.activation, z)
        else:
            assert width is not None, "a mask needs the width of the net it holds"
            factor = float(net.c_res) / net.depth if residual else math.sqrt(net.c_sigma)
            branch = factor / jnp.sqrt(width.astype(X.dtype)) * sigma(net.activation, z) * mask[None, :]
        x = x + branch if residual else branch
        features.append(x)
        preactivations.append(z)
    return DeepForward(tuple(features), tuple(preactivations), x @ params.a)


def predict(params: DeepParams, X: Array, net: DeepNet) -> Array:
    """u = f(X) (n,): a^T x^(H) for each row of X (Eq. (2) or Eq. (3))."""
    return forward(params, X, net).outputs


def loss(params: DeepParams, X: Array, y: Array, net: DeepNet) -> Array:
    """L = 0.5 ||u - y||^2, Eq. (1) of the paper (summed over points, no 1/n)."""
    r = predict(params, X, net) - y
    return 0.5 * jnp.vdot(r, r)
