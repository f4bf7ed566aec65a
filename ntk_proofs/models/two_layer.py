"""The two-layer net of Du et al. (2019), Section 3, and the family it is the default member of.

    f(W, a, x) = m^{-1/2} sum_r a_r relu(w_r . x),        (Du et al. eq. (1))
    L(W) = 0.5 sum_i (f(W, a, x_i) - y_i)^2,              (eq. (2))

with w_r(0) ~ N(0, kappa^2 I), a_r ~ Unif{-1, +1} fixed; only W is trained.

The family (``TwoLayerFamily``) generalizes it:

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

(``TwoLayerFamily.gram``; Du et al.'s eq. (5) for the default member). At initialization it concentrates on the
H^inf of ``ntk_proofs.regimes.kernels.gram_infinity_family``. The ReLU derivative is the paper's 1{z >= 0}.

There is one implementation: the module-level functions of the Du et al. net (``predict``, ``loss``,
``forward``, ``gradient_coefficients``, ``loss_gradient``) are the methods of the default member ``DU_NET``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.special

from ntk_proofs.data import check_positive_int, standard_normal

Array = jax.Array


class Params(NamedTuple):
    """Parameters of the Du et al. net (and of every member of the family).

    Attributes:
      W: (m, d) first-layer weights (trained).
      a: (m,) output weights: fixed signs in {-1, +1} for the Du et al. net (trained with ``train_a``).
    """

    W: Array
    a: Array


class Forward(NamedTuple):
    """One forward pass, kept whole so that the GD step and its diagnostics share ``X W^T``.

    Attributes:
      Z: (n, m) the pre-activations X W^T.
      u: (n,) the predictions.
      residual: (n,) u - y.
      loss: () 0.5 ||u - y||^2 (divided by alpha^2 for a family member with alpha != 1).
    """

    Z: Array
    u: Array
    residual: Array
    loss: Array

    @property
    def pattern(self) -> Array:
        """(n, m) bool, the activation pattern 1{w_r . x_i >= 0} of Du et al. (2019), eq. (5)."""
        return self.Z >= 0


def init_params(key: Array, m: int, d: int, kappa: float = 1.0, dtype=None) -> Params:
    """Random initialization of Du et al. (2019), Section 3: w_r ~ N(0, kappa^2 I), a_r ~ Unif{-1, +1}.

    The Gaussians are drawn in float32 and cast, so every precision gets the same initialization.

    Args:
      key: a PRNG key.
      m: the width, a positive integer.
      d: the input dimension, a positive integer.
      kappa: the scale of W; kappa = 1 is the paper's Theorem 4.1 setting; Arora et al. (2019) take kappa small
        so u(0) ~ 0.
      dtype (DTypeLike | None): the dtype (default: JAX's default float).

    Returns:
      Params(W (m, d), a (m,)).

    Raises:
      ValueError: m or d is not a positive integer, or kappa is not positive.
    """
    check_positive_int(m, "m (the width)")
    check_positive_int(d, "d")
    if not (kappa > 0):
        raise ValueError(f"kappa must be positive; got {kappa!r}.")
    kw, ka = jax.random.split(key)
    W = kappa * standard_normal(kw, (m, d), dtype)  # drawn in float32: the same init in every precision
    a = jax.random.rademacher(ka, (m,), dtype=W.dtype)
    return Params(W=W, a=a)


ACTIVATIONS = ("relu", "erf")
SCALINGS = (0.5, 1.0)


@dataclass(frozen=True)
class TwoLayerFamily:
    """One member of the family (module doc). Hashable: a static argument of jit.

    Attributes:
      alpha: the output scale, a positive finite number.
      gamma: the width exponent, 1/2 (NTK scaling) or 1 (mean-field scaling).
      activation: "relu" or "erf".
      train_a: whether the output weights a are trained.

    Raises:
      ValueError: at construction, for a field outside the values above.
    """

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

    def outputs(self, Z: Array, a: Array, width=None) -> Array:
        """u = alpha m^{-gamma} sigma(Z) a from pre-activations Z (..., m): (n,) for a batch, () for one input.

        ``width`` (a number or a traced scalar; default a's length) is the m of m^{-gamma}: a width-m net run
        inside arrays of M > m neurons whose padding neurons have a_r = 0 (``train_gd_batched(live_width=m)``).
        """
        m = a.shape[0] if width is None else width
        u = self.sigma(Z) @ a / self.width_power(m, Z.dtype)
        return u if self.alpha == 1 else self.alpha * u

    def loss(self, params: Params, X: Array, y: Array) -> Array:
        """L / alpha^2 = 0.5 ||u - y||^2 / alpha^2 (Chizat et al. 2019's scaled objective; Du et al.'s eq. (2) for
        alpha = 1)."""
        return self.forward(X @ params.W.T, params.a, y).loss

    def forward(self, Z: Array, a: Array, y: Array, width=None) -> Forward:
        """The forward pass from the (n, m) pre-activations Z = X W^T: predictions, residual and L / alpha^2
        (``width`` as in ``outputs``)."""
        u = self.outputs(Z, a, width)
        r = u - y
        value = 0.5 * jnp.vdot(r, r)
        return Forward(Z=Z, u=u, residual=r, loss=value if self.alpha == 1 else value / self.alpha**2)

    def gradient_coefficients(self, Z: Array, residual: Array, a: Array, width=None) -> Array:
        """The (n, m) matrix D with d(L / alpha^2)/dW = D^T X:

            D_ir = (alpha m^{-gamma} / alpha^2) r_i a_r sigma'(w_r . x_i)        (Du et al. 2019, eq. (3))

        For ReLU, sigma' is the paper's subgradient 1{w_r . x_i >= 0}, applied as a selection (so that an
        infinite residual gives 0, not NaN, where the neuron is off). ``width`` as in ``outputs``.
        """
        m = a.shape[0] if width is None else width
        signs = a / self.width_power(m, residual.dtype)  # alpha m^{-gamma} a / alpha^2
        if self.alpha != 1:
            signs = signs / self.alpha
        if self.activation == "relu":
            return jnp.where(Z >= 0, residual[:, None], 0) * signs[None, :]
        return residual[:, None] * self.sigma_prime(Z) * signs[None, :]

    def value_and_grad(self, params: Params, X: Array, y: Array, Z: Array | None = None):
        """(loss, gradient) in closed form (``gradient``), the gradient a ``Params``."""
        fwd = self.forward(X @ params.W.T if Z is None else Z, params.a, y)
        return fwd.loss, self.gradient(fwd, X, params.a)

    def gradient(self, fwd: Forward, X: Array, a: Array) -> Params:
        """The gradient of L / alpha^2 from a forward pass, a ``Params`` (its ``a`` is zero when a is fixed):

        dL/dw_r = (alpha m^{-gamma} / alpha^2) sum_i r_i a_r sigma'(w_r . x_i) x_i     (Du et al. 2019, eq. (3))
        dL/da_r = (alpha m^{-gamma} / alpha^2) sum_i r_i sigma(w_r . x_i)              (Section 3.3)
        """
        D = self.gradient_coefficients(fwd.Z, fwd.residual, a)
        if not self.train_a:
            return Params(D.T @ X, jnp.zeros_like(a))
        grad_a = self.sigma(fwd.Z).T @ fwd.residual / self.width_power(a.shape[0], fwd.residual.dtype)
        return Params(D.T @ X, grad_a if self.alpha == 1 else grad_a / self.alpha)

    def gram(self, params: Params, X: Array) -> Array:
        """The width-normalized Gram matrix H(k) of the module doc, (n, n); Du et al.'s eq. (5) for the default."""
        return self.gram_from_preactivations(X @ params.W.T, params.a, X @ X.T)

    def gram_from_preactivations(self, Z: Array, a: Array, XXt: Array) -> Array:
        """H(k) from the step's pre-activations Z = X W^T (n, m), the signs a (m,) and X X^T (n, n).

        For ReLU with a fixed (a_r^2 = 1) the first-layer term is (X X^T) * P P^T / m with P the 0/1 pattern:
        exact integer co-activation counts, as ``ntk_proofs.du2019.gram.gram_from_pattern`` forms them.
        """
        m = Z.shape[1]
        S = self.sigma_prime(Z) * a[None, :]
        H = XXt * (S @ S.T) / m
        if self.train_a:
            F = self.sigma(Z)
            H = H + F @ F.T / m
        return H


DU_NET = TwoLayerFamily()
"""The Du et al. (2019) net: the family's default member (alpha = 1, gamma = 1/2, ReLU, a fixed)."""


def activation_pattern(W: Array, X: Array) -> Array:
    """The (n, m) boolean pattern 1{w_r . x_i >= 0} of Du et al. (2019), eq. (5)."""
    return X @ W.T >= 0


def predict(params: Params, X: Array) -> Array:
    """u_i = m^{-1/2} sum_r a_r relu(w_r . x_i) for each row of X (n, d); returns u of shape (n,)."""
    return DU_NET.predict(params, X)


def loss(params: Params, X: Array, y: Array) -> Array:
    """L(W) = 0.5 ||u - y||^2 (Du et al. 2019, eq. (2))."""
    return DU_NET.loss(params, X, y)


def forward(params: Params, X: Array, y: Array) -> Forward:
    """Pre-activations, prediction, residual and loss from one product X W^T."""
    return DU_NET.forward(X @ params.W.T, params.a, y)


def forward_from_preactivations(Z: Array, a: Array, y: Array, width=None) -> Forward:
    """``forward`` given the (n, m) pre-activations Z = X W^T (``width``: as in ``TwoLayerFamily.outputs``)."""
    return DU_NET.forward(Z, a, y, width)


def gradient_coefficients(a: Array, fwd: Forward, width=None) -> Array:
    """The (n, m) matrix D with dL/dW = D^T X: D_ir = m^{-1/2} (u_i - y_i) a_r 1{w_r . x_i >= 0}.

    Du et al. (2019), eq. (3). Every gradient, hence every GD iterate W(k) - W(0), lies in the row space of X.
    ``width``: as in ``TwoLayerFamily.outputs``.
    """
    return DU_NET.gradient_coefficients(fwd.Z, fwd.residual, a, width)


def gradient_from_forward(params: Params, X: Array, fwd: Forward) -> Array:
    """dL/dw_r = m^{-1/2} sum_i (u_i - y_i) a_r x_i 1{w_r . x_i >= 0}   (Du et al. 2019, eq. (3)).

    Returns the (m, d) gradient with respect to W, from a ``Forward`` of the same params.
    """
    return gradient_coefficients(params.a, fwd).T @ X


def loss_gradient(params: Params, X: Array, y: Array) -> Array:
    """The paper's closed-form gradient dL/dW (Du et al. 2019, eq. (3)); shape (m, d).

    Uses the ReLU subgradient 1{w . x >= 0}; it equals ``jax.grad(loss)`` wherever no w_r . x_i is 0.
    """
    return gradient_from_forward(params, X, forward(params, X, y))


def init_family(key: Array, m: int, d: int, *, symmetric: bool = False, dtype=None) -> Params:
    """w_r ~ N(0, I), a_r ~ Unif{-1, +1} (``two_layer.init_params``: the same numbers for the same key).

    Args:
      key: a PRNG key.
      m: the width, a positive integer (even with ``symmetric``).
      d: the input dimension.
      symmetric: the second half of the neurons copies the first with a negated, so that u(0) = 0 exactly for
        every alpha (the centering under which Chizat et al. 2019's lazy limit holds).
      dtype (DTypeLike | None): the dtype (default: JAX's default float).

    Returns:
      Params(W (m, d), a (m,)).

    Raises:
      ValueError: m or d is not a positive integer, or m is odd with ``symmetric``.
    """
    check_positive_int(m, "m (the width)")
    if not symmetric:
        return init_params(key, m, d, dtype=dtype)
    if m % 2:
        raise ValueError(f"a symmetric initialization pairs the neurons: m must be even; got {m}.")
    half = init_params(key, m // 2, d, dtype=dtype)
    return Params(jnp.concatenate([half.W, half.W]), jnp.concatenate([half.a, -half.a]))


# Compiled here rather than with a decorator: mutation testing (mutmut) does not reach decorated functions,
# and these hold the formulas its runs must mutate.
activation_pattern = jax.jit(activation_pattern)
predict = jax.jit(predict)
loss = jax.jit(loss)
forward = jax.jit(forward)
loss_gradient = jax.jit(loss_gradient)
