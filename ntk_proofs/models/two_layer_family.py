"""The two-layer net of Du et al. (2019) as one member of a family: scaling, output scale, activation, trained a.

    u_i = alpha m^{-gamma} sum_r a_r sigma(w_r . x_i),       L = 0.5 ||u - y||^2 / alpha^2

- ``gamma = 1/2`` is the NTK scaling of Du et al. (2019), eq. (1); ``gamma = 1`` the mean-field scaling
  (Mei, Montanari & Nguyen 2018; Chizat & Bach 2018).
- ``alpha`` is the output scale of Chizat, Oyallon & Bach (2019), "On lazy training in differentiable
  programming": the model alpha h(w) is trained on the loss divided by alpha^2, so that alpha -> infinity is the
  lazy (kernel) limit at any width.
- ``train_a``: the output weights a are trained too (Du et al. 2019, Section 3.3), which adds the output layer's
  term to the Gram matrix.
- ``activation``: ReLU (Du et al.) or erf (Williams 1997, whose infinite-width kernels are closed forms).

The tangent kernel of the objective is J J^T / alpha^2 = m^{1 - 2 gamma} H(k) with the width-normalized Gram matrix

    H(k)_ij = (1/m) sum_r [a_r^2 sigma'(w_r . x_i) sigma'(w_r . x_j) x_i . x_j
                           + 1{train_a} sigma(w_r . x_i) sigma(w_r . x_j)]

(``gram``); at initialization it concentrates on the H^inf of ``ntk_proofs.regimes.kernels``. The default member
(alpha = 1, gamma = 1/2, ReLU, a fixed) is the Du et al. net of ``ntk_proofs.models.two_layer``: the same
predictions, gradients and GD iterates (tests/regimes/test_regimes.py). The ReLU derivative is the paper's 1{z >= 0}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special

from ntk_proofs.data import check_positive_int
from ntk_proofs.models.two_layer import Params, init_params

Array = jax.Array

ACTIVATIONS = ("relu", "erf")
SCALINGS = (0.5, 1.0)


@dataclass(frozen=True)
class TwoLayerFamily:
    """One member of the family: ``alpha`` (output scale, > 0), ``gamma`` (1/2 NTK, 1 mean-field),
    ``activation`` ("relu" or "erf"), ``train_a`` (whether a is trained). Hashable: a static argument of jit."""

    alpha: float = 1.0
    gamma: float = 0.5
    activation: str = "relu"
    train_a: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        if self.gamma not in SCALINGS:
            raise ValueError(f"gamma must be 1/2 (NTK scaling) or 1 (mean-field scaling); got {self.gamma!r}.")
        if isinstance(self.alpha, bool) or not (float(self.alpha) > 0 and math.isfinite(float(self.alpha))):
            raise ValueError(f"alpha (the output scale) must be a positive finite number; got {self.alpha!r}.")

    @property
    def is_du(self) -> bool:
        """True for the Du et al. (2019) net itself: alpha = 1, gamma = 1/2, ReLU, a fixed."""
        return self == TwoLayerFamily()

    def sigma(self, z: Array) -> Array:
        return jax.nn.relu(z) if self.activation == "relu" else jax.scipy.special.erf(z)

    def sigma_prime(self, z: Array) -> Array:
        """ReLU: the subgradient 1{z >= 0} of Du et al. (2019), eq. (3); erf: (2 / sqrt(pi)) exp(-z^2)."""
        if self.activation == "relu":
            return (z >= 0).astype(z.dtype)
        return (2.0 / jnp.sqrt(jnp.pi)) * jnp.exp(-z * z)

    def width_power(self, m, dtype) -> Array:
        """m^gamma (sqrt(m) computed as the Du et al. net computes it, so that the default is bit-identical)."""
        m = jnp.asarray(m, dtype)
        return jnp.sqrt(m) if self.gamma == 0.5 else m

    def kernel_scale(self, m: int) -> float:
        """m^{1 - 2 gamma}: the tangent kernel of the objective is this times the normalized Gram ``gram``."""
        return float(m) ** (1.0 - 2.0 * self.gamma)

    def predict(self, params: Params, X: Array) -> Array:
        """u = alpha m^{-gamma} sigma(X W^T) a, shape (n,)."""
        return self.outputs(X @ params.W.T, params.a)

    def outputs(self, Z: Array, a: Array) -> Array:
        u = self.sigma(Z) @ a / self.width_power(Z.shape[1], Z.dtype)
        return u if self.alpha == 1 else self.alpha * u

    def loss(self, params: Params, X: Array, y: Array) -> Array:
        """L / alpha^2 = 0.5 ||u - y||^2 / alpha^2 (Chizat et al. 2019's scaled objective; Du et al.'s for
        alpha = 1)."""
        r = self.predict(params, X) - y
        value = 0.5 * jnp.vdot(r, r)
        return value if self.alpha == 1 else value / self.alpha**2

    def value_and_grad(self, params: Params, X: Array, y: Array, Z: Array | None = None):
        """(loss, gradient) in closed form, the gradient a ``Params`` (its ``a`` is zero when a is fixed).

        dL/dw_r = (alpha m^{-gamma} / alpha^2) sum_i r_i a_r sigma'(w_r . x_i) x_i     (Du et al. 2019, eq. (3))
        dL/da_r = (alpha m^{-gamma} / alpha^2) sum_i r_i sigma(w_r . x_i)              (Section 3.3)
        """
        W, a = params
        Z = X @ W.T if Z is None else Z
        u = self.outputs(Z, a)
        r = u - y
        value = 0.5 * jnp.vdot(r, r)
        root = self.width_power(W.shape[0], W.dtype)
        signs = a / root  # alpha m^{-gamma} a / alpha^2, computed as the Du et al. net computes a / sqrt(m)
        if self.alpha != 1:
            value, signs = value / self.alpha**2, signs / self.alpha
        if self.activation == "relu":  # the Du et al. net's own expression (``gradient_coefficients``)
            D = jnp.where(Z >= 0, r[:, None], 0) * signs[None, :]
        else:
            D = r[:, None] * self.sigma_prime(Z) * signs[None, :]
        if self.train_a:
            grad_a = self.sigma(Z).T @ r / root
            grad_a = grad_a if self.alpha == 1 else grad_a / self.alpha
        else:
            grad_a = jnp.zeros_like(a)
        return value, Params(D.T @ X, grad_a)

    def gram(self, params: Params, X: Array) -> Array:
        """The width-normalized Gram matrix H(k) of the module doc, (n, n); Du et al.'s eq. (5) for the default."""
        W, a = params
        Z = X @ W.T
        m = W.shape[0]
        S = self.sigma_prime(Z) * a[None, :]
        H = (X @ X.T) * (S @ S.T) / m
        if self.train_a:
            F = self.sigma(Z)
            H = H + F @ F.T / m
        return H


def init_family(key: Array, m: int, d: int, *, symmetric: bool = False, dtype=None) -> Params:
    """w_r ~ N(0, I), a_r ~ Unif{-1, +1} (``two_layer.init_params``: the same numbers for the same key).

    ``symmetric``: the second half of the neurons copies the first with a negated, so that u(0) = 0 exactly for
    every alpha (the centering under which Chizat et al. 2019's lazy limit holds; m must be even).
    """
    check_positive_int(m, "m (the width)")
    if not symmetric:
        return init_params(key, m, d, dtype=dtype)
    if m % 2:
        raise ValueError(f"a symmetric initialization pairs the neurons: m must be even; got {m}.")
    half = init_params(key, m // 2, d, dtype=dtype)
    return Params(jnp.concatenate([half.W, half.W]), jnp.concatenate([half.a, -half.a]))
