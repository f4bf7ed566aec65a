"""The two-layer ReLU network of Du et al. (2019), Section 3.

    f(W, a, x) = m^{-1/2} sum_r a_r relu(w_r . x),        (Du et al. eq. (1))
    L(W) = 0.5 sum_i (f(W, a, x_i) - y_i)^2,              (eq. (2))

with w_r(0) ~ N(0, kappa^2 I), a_r ~ Unif{-1, +1} fixed; only W is trained.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ntk_proofs.data import check_positive_int, standard_normal

Array = jax.Array


class Params(NamedTuple):
    """Parameters of the Du et al. net: W (m, d) first-layer weights (trained), a (m,) fixed signs."""

    W: Array
    a: Array


class Forward(NamedTuple):
    """One forward pass, kept whole so that the GD step and its diagnostics share ``X W^T``."""

    pattern: Array  # (n, m) bool, 1{w_r . x_i >= 0}
    u: Array  # (n,) predictions
    residual: Array  # (n,) u - y
    loss: Array  # () 0.5 ||u - y||^2


def init_params(key: Array, m: int, d: int, kappa: float = 1.0, dtype=None) -> Params:
    """Random initialization of Du et al. (2019), Section 3: w_r ~ N(0, kappa^2 I), a_r ~ Unif{-1, +1}.

    kappa = 1 is the paper's Theorem 4.1 setting; Arora et al. (2019) take kappa small so u(0) ~ 0.
    Returns Params(W (m, d), a (m,)) in dtype (default: JAX's default float).
    """
    check_positive_int(m, "m (the width)")
    check_positive_int(d, "d")
    if not (kappa > 0):
        raise ValueError(f"kappa must be positive; got {kappa!r}.")
    kw, ka = jax.random.split(key)
    W = kappa * standard_normal(kw, (m, d), dtype)  # drawn in float32: the same init in every precision
    a = jax.random.rademacher(ka, (m,), dtype=W.dtype)
    return Params(W=W, a=a)


def activation_pattern(W: Array, X: Array) -> Array:
    """The (n, m) boolean pattern 1{w_r . x_i >= 0} of Du et al. (2019), eq. (5)."""
    return X @ W.T >= 0


def predict(params: Params, X: Array) -> Array:
    """u_i = m^{-1/2} sum_r a_r relu(w_r . x_i) for each row of X (n, d); returns u of shape (n,)."""
    W, a = params
    m = W.shape[0]
    return jax.nn.relu(X @ W.T) @ a / jnp.sqrt(jnp.asarray(m, W.dtype))


def loss(params: Params, X: Array, y: Array) -> Array:
    """L(W) = 0.5 ||u - y||^2 (Du et al. 2019, eq. (2))."""
    r = predict(params, X) - y
    return 0.5 * jnp.vdot(r, r)


def forward(params: Params, X: Array, y: Array) -> Forward:
    """Pattern, prediction, residual and loss from one product X W^T."""
    return forward_from_preactivations(X @ params.W.T, params.a, y)


def forward_from_preactivations(Z: Array, a: Array, y: Array) -> Forward:
    """``forward`` given the (n, m) pre-activations Z = X W^T."""
    u = jax.nn.relu(Z) @ a / jnp.sqrt(jnp.asarray(Z.shape[1], Z.dtype))
    r = u - y
    return Forward(pattern=Z >= 0, u=u, residual=r, loss=0.5 * jnp.vdot(r, r))


def gradient_coefficients(a: Array, fwd: Forward) -> Array:
    """The (n, m) matrix D with dL/dW = D^T X: D_ir = m^{-1/2} (u_i - y_i) a_r 1{w_r . x_i >= 0}.

    Du et al. (2019), eq. (3). Every gradient, hence every GD iterate W(k) - W(0), lies in the row space of X.
    """
    scale = a / jnp.sqrt(jnp.asarray(a.shape[0], fwd.residual.dtype))
    return jnp.where(fwd.pattern, fwd.residual[:, None], 0) * scale[None, :]


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


# Compiled here rather than with a decorator: mutation testing (mutmut) does not reach decorated functions,
# and these hold the formulas its runs must mutate.
activation_pattern = jax.jit(activation_pattern)
predict = jax.jit(predict)
loss = jax.jit(loss)
forward = jax.jit(forward)
loss_gradient = jax.jit(loss_gradient)
