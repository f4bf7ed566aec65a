"""Lazy against rich training: how far the kernel and the weights move, against the output scale and the width.

Chizat, Oyallon & Bach (2019), "On lazy training in differentiable programming", Theorems 2.3-2.4: for the model
alpha h(w) trained on L / alpha^2 from an initialization with alpha h(w_0) = 0 (here the symmetric initialization
of ``init_family``), the weights move by O(1 / alpha) and the trained model stays within O(1 / alpha) of its
linearization. For the two-layer family this gives, at a step eta = 2 x / lambda_max(Theta(0)) (x fixed):

- NTK scaling (gamma = 1/2): each step moves w_r by O(eta m^{-1/2} / alpha), so max_r ||w_r - w_r(0)|| and the
  relative kernel change ||H - H(0)||_F / ||H(0)||_F scale as alpha^{-1} m^{-1/2} (Du et al. 2019's R' ~ m^{-1/2});
- mean-field scaling (gamma = 1): Theta = H / m, so eta grows like m and each step moves w_r by O(1 / alpha):
  the drift and the kernel change scale as alpha^{-1} m^0 (the features move at every width: rich training).

The relative kernel change is not first order in the drift here (our derivation, checked by the regimes
experiment, not a published theorem). With the symmetric initialization the neurons come in pairs (w, a) and
(w, -a) whose gradients are opposite, so a pair moves to w +- delta:

- a smooth activation (erf): the pair's kernel terms sigma'(w + delta) sigma'(w + delta) + sigma'(w - delta)
  sigma'(w - delta) change at second order, so the kernel change scales as drift^2: alpha^-2, and m^-1 (NTK) or
  m^0 (mean-field);
- ReLU: the kernel changes only where a pattern flips. A neuron flips on x_i when |w . x_i| < |delta . x_i|, a
  fraction p ~ drift / ||w|| of them, each changing entries by +-1/m with the sign of its initial activation
  (+ and - equally likely near the boundary), so ||H - H(0)||_F ~ sqrt(p / m): alpha^-1/2 m^-3/4 (NTK). In the
  mean-field runs the drift is O(1) at alpha = 1 (rich training), and the kernel change does not shrink with m.

``laziness`` measures them, with the test accuracy (the sign of u on held-out points) and the distance
between the trained net and its linearization (``kernel_gap``), for one (family, width) over initializations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.models.two_layer import TwoLayerFamily
from ntk_proofs.regimes.phases import initializations, tangent_sharpness
from ntk_proofs.regimes.training import train_family_batched

Array = jax.Array

# the exponents of the module doc: (quantity, axis, activation) -> {gamma: exponent}; the drift's hold for both
# activations (Chizat et al. 2019; Du et al. 2019), the kernel change's are the derivation above
PREDICTED_EXPONENTS = {
    ("drift", "alpha", "relu"): {0.5: -1.0, 1.0: -1.0},
    ("drift", "alpha", "erf"): {0.5: -1.0, 1.0: -1.0},
    ("drift", "width", "relu"): {0.5: -0.5, 1.0: 0.0},
    ("drift", "width", "erf"): {0.5: -0.5, 1.0: 0.0},
    ("rms_drift", "width", "relu"): {0.5: -0.5, 1.0: 0.0},
    ("rms_drift", "width", "erf"): {0.5: -0.5, 1.0: 0.0},
    ("kernel_change", "alpha", "erf"): {0.5: -2.0, 1.0: -2.0},
    ("kernel_change", "width", "erf"): {0.5: -1.0, 1.0: 0.0},
    ("kernel_change", "alpha", "relu"): {0.5: -0.5, 1.0: -0.5},
    ("kernel_change", "width", "relu"): {0.5: -0.75, 1.0: 0.0},
}


def predicted_exponent(quantity: str, axis: str, family: TwoLayerFamily) -> float:
    """The predicted exponent of ``quantity`` ("drift" or "kernel_change") against ``axis`` ("alpha" or "width")
    for a family member (module doc)."""
    return PREDICTED_EXPONENTS[(quantity, axis, family.activation)][family.gamma]


class Laziness(NamedTuple):
    """``laziness`` for one family member and width; arrays over initializations (S,).

    Attributes:
      alpha: the member's output scale.
      gamma: its width exponent.
      m: the width.
      kernel_change: max_k ||H(k) - H(0)||_F / ||H(0)||_F.
      drift: max_r ||w_r(end) - w_r(0)||.
      test_accuracy: the fraction of held-out points whose label has the sign of u (NaN without test points).
      train_loss: L(end) / L(0).
      kernel_gap: ||u(end) - u_lin(end)|| / ||y||, u_lin the GD iterate of the net linearized at its
        initialization (u_lin(k) = y - (I - eta Theta(0))^k y, since u(0) = 0).
      eta: the step of each initialization.
      rms_drift: the typical neuron's drift, sqrt(mean_r ||w_r(end) - w_r(0)||^2) (the maximum over m neurons
        carries an extreme-value correction that the width exponents of the module doc do not include).
    """

    alpha: float
    gamma: float
    m: int
    kernel_change: np.ndarray
    drift: np.ndarray
    test_accuracy: np.ndarray
    train_loss: np.ndarray
    kernel_gap: np.ndarray
    eta: np.ndarray
    rms_drift: np.ndarray


def laziness(
    X: Array,
    y: Array,
    X_test: Array | None = None,
    y_test: Array | None = None,
    *,
    family: TwoLayerFamily,
    m: int,
    seeds: int,
    steps: int,
    key: Array,
    ratio: float = 0.5,
) -> Laziness:
    """Train symmetric initializations of width m (u(0) = 0) with eta = 2 ratio / lambda_max(Theta(0)) (one batched
    program) and measure the quantities of ``Laziness``.

    Args:
      X: (n, d) training inputs of unit norm.
      y: (n,) training labels.
      X_test: held-out inputs, for ``test_accuracy`` (optional).
      y_test: their labels.
      family: the member of the family.
      m: the width (even: the initialization pairs the neurons).
      seeds: the number of initializations (from ``fold_in(key, m)``).
      steps: the number of GD steps.
      key: the PRNG key.
      ratio: eta lambda_max(Theta(0)) / 2, in (0, 1).

    Returns:
      A ``Laziness``.

    Raises:
      ValueError: ratio outside (0, 1), an odd m, or inputs that ``train_family_batched`` refuses.
    """
    if not 0 < ratio < 1:
        raise ValueError(f"ratio = eta lambda_max / 2 must lie in (0, 1) for the lazy comparison; got {ratio}.")
    X = jnp.asarray(X)
    params = initializations(jax.random.fold_in(key, int(m)), int(m), X.shape[1], seeds, symmetric=True, dtype=X.dtype)
    lam = np.asarray(tangent_sharpness(family, params, X), np.float64)
    etas = 2.0 * ratio / lam
    run = train_family_batched(params, X, y, family=family, etas=etas, steps=steps, record_every=max(steps // 20, 1))
    final = run.params
    u = jax.vmap(family.predict, in_axes=(0, None))(final, X)
    y = jnp.asarray(y, X.dtype)
    XXt = X @ X.T
    theta0 = jax.vmap(lambda W, a: family.gram_from_preactivations(X @ W.T, a, XXt))(params.W, params.a)
    theta0 = theta0 * family.kernel_scale(int(m))
    gaps = []
    for s in range(seeds):
        evals, evecs = np.linalg.eigh(np.asarray(theta0[s], np.float64))
        decay = (1.0 - etas[s] * evals) ** steps
        u_lin = np.asarray(y, np.float64) - evecs @ (decay * (evecs.T @ np.asarray(y, np.float64)))
        gaps.append(np.linalg.norm(np.asarray(u[s], np.float64) - u_lin) / np.linalg.norm(np.asarray(y, np.float64)))
    if X_test is not None and y_test is not None and len(y_test):
        u_test = jax.vmap(family.predict, in_axes=(0, None))(final, jnp.asarray(X_test, X.dtype))
        accuracy = np.mean(np.sign(np.asarray(u_test)) == np.sign(np.asarray(y_test))[None, :], axis=1)
    else:
        accuracy = np.full(seeds, np.nan)
    loss = np.asarray(run.loss, np.float64)
    norms = jnp.linalg.norm(final.W - params.W, axis=2)
    drift = np.asarray(jnp.max(norms, axis=1), np.float64)
    rms_drift = np.asarray(jnp.sqrt(jnp.mean(norms**2, axis=1)), np.float64)
    return Laziness(
        float(family.alpha),
        float(family.gamma),
        int(m),
        np.asarray(jnp.max(run.records.kernel_change, axis=1), np.float64),
        drift,
        accuracy,
        loss[:, -1] / loss[:, 0],
        np.asarray(gaps),
        etas,
        rms_drift,
    )
