"""One fully connected network family for every study: depth, width, activation, parameterization.

NTK parameterization (Jacot et al. 2018, eq. (1)): W ~ N(0, 1), b ~ N(0, 1) and
    h^{l+1} = sigma_w / sqrt(n_l) W^{l+1} x^l + sigma_b b^{l+1},   x^l = phi(h^l),   x^0 = input.
Standard parameterization: W ~ N(0, sigma_w^2 / n_l), b ~ N(0, sigma_b^2) and h^{l+1} = W x^l + b.
Both define the same function distribution at init; their gradients, hence their NTKs and training
dynamics, differ (Lee et al. 2019, Section 2 and Appendix; Sohl-Dickstein et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ntk_proofs.data import standard_normal

Array = jax.Array

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "identity": lambda z: z, "erf": jax.scipy.special.erf}


class Dense(NamedTuple):
    """One layer's parameters.

    Attributes:
      W: (fan_out, fan_in) weights.
      b: (fan_out,) biases.
    """

    W: Array
    b: Array


@dataclass(frozen=True)
class MLP:
    """A fully connected network; ``sizes = (d, n_1, ..., n_L, k)`` has L hidden layers and k outputs.

    ``apply`` returns (n,) when k = 1 and (n, k) otherwise. Pure and hashable, so it can be a static
    argument of ``jax.jit``.

    Attributes:
      sizes: (d, n_1, ..., n_L, k), all >= 1.
      activation: a key of ``ACTIVATIONS``: "relu", "tanh", "identity" or "erf".
      parameterization: "ntk" or "standard" (module doc).
      weight_var: sigma_w^2, positive.
      bias_var: sigma_b^2, non-negative.
      skip: an identity shortcut x^{l+1} = x^l + residual_scale phi(h^{l+1}) between equal-width hidden layers.
      residual_scale: the shortcut's scale; 1 / sqrt(depth) keeps deep residual stacks' variance bounded (Hanin &
        Rolnick 2018).
      normalization: "none", "batch" (Ioffe & Szegedy 2015) or "layer" (Ba et al. 2016) on hidden
        pre-activations (full-batch statistics, no learned affine).

    Raises:
      ValueError: at construction, for a field outside the values above.
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    parameterization: str = "ntk"
    weight_var: float = 2.0
    bias_var: float = 0.0
    skip: bool = False
    residual_scale: float = 1.0
    normalization: str = "none"

    def __post_init__(self):
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"sizes must list d, the hidden widths and the output size, all >= 1; got {self.sizes}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}.")
        if self.parameterization not in ("ntk", "standard"):
            raise ValueError(f"parameterization must be 'ntk' or 'standard'; got {self.parameterization!r}.")
        if self.normalization not in ("none", "batch", "layer"):
            raise ValueError(f"normalization must be 'none', 'batch' or 'layer'; got {self.normalization!r}.")
        if not (self.weight_var > 0 and self.bias_var >= 0):
            raise ValueError("weight_var must be positive and bias_var non-negative.")

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.sizes) - 2

    def init(self, key: Array, dtype=None) -> tuple[Dense, ...]:
        """One ``Dense`` per layer, drawn from ``key`` (standard normals, scaled under the standard
        parameterization), in ``dtype`` (default: JAX's default float)."""
        layers = []
        for k, (fan_in, fan_out) in zip(
            jax.random.split(key, len(self.sizes) - 1), zip(self.sizes[:-1], self.sizes[1:])
        ):
            kw, kb = jax.random.split(k)
            W = standard_normal(kw, (fan_out, fan_in), dtype)  # float32 draws: one init in every precision
            b = standard_normal(kb, (fan_out,), dtype)
            if self.parameterization == "standard":
                W = W * jnp.sqrt(self.weight_var / fan_in).astype(W.dtype)
                b = b * jnp.sqrt(self.bias_var).astype(b.dtype)
            layers.append(Dense(W, b))
        return tuple(layers)

    def apply(self, params, x: Array) -> Array:
        """The outputs on x (n, d): (n,) when k = 1, else (n, k)."""
        return self.forward(params, x)[0]

    def forward(self, params, x: Array, taps=None) -> tuple[Array, list[Array]]:
        """Outputs and the pre-activations h^1..h^{L+1} of every layer. ``taps`` (one array per layer, shaped like
        its pre-activation) are added to them, so the gradient with respect to the taps is df/dh^l."""
        phi = ACTIVATIONS[self.activation]
        h = x
        last = len(params) - 1
        pre = []
        for i, layer in enumerate(params):
            if self.parameterization == "ntk":
                sw = jnp.sqrt(jnp.asarray(self.weight_var / layer.W.shape[1], h.dtype))
                sb = jnp.sqrt(jnp.asarray(self.bias_var, h.dtype))
                z = sw * (h @ layer.W.T) + sb * layer.b[None, :]
            else:
                z = h @ layer.W.T + layer.b[None, :]
            if i < last and self.normalization != "none":  # full-batch statistics, no learned affine
                axis = 0 if self.normalization == "batch" else 1
                z = (z - jnp.mean(z, axis=axis, keepdims=True)) / jnp.sqrt(jnp.var(z, axis=axis, keepdims=True) + 1e-5)
            if taps is not None:
                z = z + taps[i]
            pre.append(z)
            if i == last:
                h = z
            elif self.skip and i > 0 and z.shape == h.shape:
                h = h + self.residual_scale * phi(z)  # residual block (He et al. 2016)
            else:
                h = phi(z)
        return (h[:, 0] if h.shape[1] == 1 else h), pre
