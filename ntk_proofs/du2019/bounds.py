"""The quantities of Du et al. (2019), Theorem 4.1 and its lemmas, and a monitor of its conclusions.

Theorem 4.1: if lambda_0 = lambda_min(H^inf) > 0, w_r(0) ~ N(0, I), a_r ~ Unif{-1, 1}, the width is
m = Omega(n^6 / (lambda_0^4 delta^3)) and eta = O(lambda_0 / n^2), then with probability 1 - delta, for all k:

  (C1) ||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2   (equivalently for L = 0.5 ||u - y||^2),
  (C2) lambda_min(H(k)) >= lambda_0 / 2                              (Lemma 3.1, used in the induction),
  (C3) ||w_r(k) - w_r(0)|| <= R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) for every r   (Lemma 3.3 / 4.1).

The paper leaves the constants in Omega and O unspecified; ``max_step_size`` and ``required_width``
give explicit values that make the steps of the proof go through (derived below, not stated in the paper).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ntk_proofs.data import AssumptionError
from ntk_proofs.du2019.gram import gram_infinity
from ntk_proofs.linalg import lambda_min


def lambda_zero(X) -> float:
    """lambda_0 = lambda_min(H^inf) for unit rows X (Du et al. 2019, Theorem 3.1), checked to be > 0.

    Raises AssumptionError when lambda_0 is within round-off of 0 (e.g. duplicate inputs), since then
    Theorem 4.1 promises nothing.
    """
    H = gram_infinity(X)
    lam = float(lambda_min(H))
    n = H.shape[0]
    tol = 100 * n * float(jnp.finfo(H.dtype).eps) * float(jnp.max(jnp.abs(H)))
    if not lam > tol:
        raise AssumptionError(
            f"lambda_0 = lambda_min(H^inf) = {lam:.3g} is not positive beyond round-off ({tol:.1e}): "
            "some inputs are (nearly) parallel, so the assumption of Du et al. (2019, Theorem 3.1) fails."
        )
    return lam


def linear_rate_envelope(loss0, eta, lambda0, steps: int) -> np.ndarray:
    """Theorem 4.1 of Du et al. (2019): L(k) <= (1 - eta lambda_0 / 2)^k L(0), for k = 0..steps.

    Returns shape (steps + 1,). Valid for eta <= ``max_step_size`` and m >= ``required_width``.
    """
    rate = theorem_rate(eta, lambda0)
    return np.asarray(loss0) * rate ** np.arange(steps + 1)


def theorem_rate(eta, lambda0) -> float:
    """The per-step contraction 1 - eta lambda_0 / 2 of Theorem 4.1 (Du et al. 2019)."""
    return 1.0 - float(eta) * float(lambda0) / 2.0


def empirical_rate(loss) -> float:
    """The tightest rate of Theorem 4.1's form that a run obeys: max_{k >= 1} (L(k) / L(0))^(1/k).

    L(k) <= rho^k L(0) holds at every step exactly when rho >= this value, so comparing it with
    ``theorem_rate`` (1 - eta lambda_0 / 2) says how loose conclusion (C1) is on this run.
    ``loss`` is a history of K + 1 >= 2 values.
    """
    loss = np.asarray(loss, dtype=np.float64)
    if loss.size < 2:
        raise ValueError("A rate needs a loss history of at least two values.")
    if not loss[0] > 0:
        return 0.0
    k = np.arange(1, loss.size)
    return float(np.max((np.maximum(loss[1:], 0.0) / loss[0]) ** (1.0 / k)))


def drift_radius(n: int, residual0, m: int, lambda0) -> float:
    """R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0): Du et al. (2019), Lemma 3.3 and Theorem 4.1.

    Every w_r stays within R' of its initialization while the linear rate holds. residual0 = ||y - u(0)||.
    """
    return 4.0 * math.sqrt(n) * float(residual0) / (math.sqrt(m) * float(lambda0))


def perturbation_radius(n: int, lambda0, delta: float) -> float:
    """R = sqrt(2 pi) delta lambda_0 / (16 n^2): Du et al. (2019), Lemma 3.1 (R = c delta lambda_0 / n^2).

    If every ||w_r - w_r(0)|| <= R then ||H(W) - H(0)||_2 < lambda_0 / 4 with probability 1 - delta. The
    constant: P(|w.x| < R) <= 2R / sqrt(2 pi) for w ~ N(0, I), so E sum_ij |H_ij - H_ij(0)| <= 4 n^2 R /
    sqrt(2 pi); Markov's inequality at lambda_0 / 4 gives c = sqrt(2 pi) / 16.
    """
    return math.sqrt(2 * math.pi) * delta * float(lambda0) / (16.0 * n**2)


def max_step_size(n: int, lambda0) -> float:
    """eta_max = lambda_0 / (4 n^2): the step Theorem 4.1 of Du et al. (2019) allows (eta = O(lambda_0 / n^2)).

    In the proof, ||y - u(k+1)||^2 <= (1 - eta lambda_0 + |I_2 term| + eta^2 n^2) ||y - u(k)||^2; with
    eta <= lambda_0 / (4 n^2) the eta^2 n^2 term is at most eta lambda_0 / 4, which leaves room for the
    pattern-change term and the claimed (1 - eta lambda_0 / 2). Far smaller than what GD tolerates
    in practice (about 2 / lambda_max(H)), which the width sweep shows.
    """
    return float(lambda0) / (4.0 * n**2)


def required_width(n: int, lambda0, residual0, delta: float = 0.1) -> float:
    """A width that makes the proof of Du et al. (2019), Theorem 4.1, go through with explicit constants.

    The larger of (i) 8 n^2 log(2 n^2 / delta) / lambda_0^2, so that Hoeffding's inequality gives
    ||H(0) - H^inf||_2 <= lambda_0 / 4 (Lemma 3.1, first part), and (ii) the m at which R' < R
    (``drift_radius`` < ``perturbation_radius``), i.e. (64 n^{5/2} ||y - u(0)|| / (sqrt(2 pi) delta lambda_0^2))^2.
    With ||y - u(0)||^2 = O(n / delta) this is the paper's m = Omega(n^6 / (lambda_0^4 delta^3)).
    A sufficient width, not a necessary one.
    """
    lambda0 = float(lambda0)
    m_init = 8.0 * n**2 * math.log(2.0 * n**2 / delta) / lambda0**2
    m_drift = (64.0 * n**2.5 * float(residual0) / (math.sqrt(2 * math.pi) * delta * lambda0**2)) ** 2
    return max(m_init, m_drift)


class MonitorCheck(NamedTuple):
    """One conclusion of a theorem checked along a run.

    held: it held at every checked step. first_failure: the first step where it failed, or -1.
    worst_ratio: max over steps of measured / bound (<= 1 means it held; for lower bounds, bound / measured).
    """

    held: bool
    first_failure: int
    worst_ratio: float


class TheoremMonitor(NamedTuple):
    """The three conclusions (C1)-(C3) of Du et al. (2019), Theorem 4.1, checked along one GD run."""

    loss_envelope: MonitorCheck  # (C1) L(k) <= (1 - eta lambda_0 / 2)^k L(0)
    lambda_min_floor: MonitorCheck  # (C2) lambda_min(H(k)) >= lambda_0 / 2
    drift_radius: MonitorCheck  # (C3) max_r ||w_r(k) - w_r(0)|| <= R'

    @property
    def held(self) -> bool:
        return all(check.held for check in self)


def check_upper_bound(steps, measured, bound, rtol: float = 0.0) -> MonitorCheck:
    """measured[k] <= bound[k] * (1 + rtol) at every k; reports the first failing step of ``steps``."""
    steps = np.asarray(steps)
    measured = np.asarray(measured, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), measured.shape)
    ok = measured <= bound * (1.0 + rtol)
    fails = np.flatnonzero(~ok)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, measured / bound, np.where(measured > 0, np.inf, 0.0))
    return MonitorCheck(
        held=bool(fails.size == 0),
        first_failure=int(steps[fails[0]]) if fails.size else -1,
        worst_ratio=float(np.max(ratio)) if ratio.size else float("nan"),
    )


def theorem_monitor(result, *, eta, lambda0, drift_bound, rtol: float | None = None) -> TheoremMonitor:
    """Check (C1)-(C3) of Du et al. (2019), Theorem 4.1, on a ``TrainResult`` of ``train_gd``.

    (C1) on the loss at every step, (C2) and (C3) at the recorded steps. ``drift_bound`` is R'
    (``drift_radius``). ``rtol`` (default: 10 machine epsilons of the run's dtype) absorbs round-off in
    the comparison, not in the theorem.
    """
    loss = np.asarray(result.loss)
    if rtol is None:
        rtol = 10 * float(np.finfo(loss.dtype).eps)
    steps = np.arange(loss.size)
    envelope = linear_rate_envelope(loss[0], eta, lambda0, loss.size - 1)
    h = result.history
    lam = np.asarray(h.lambda_min, dtype=np.float64)
    floor = check_upper_bound(h.step, np.full_like(lam, float(lambda0) / 2.0), lam, rtol)
    return TheoremMonitor(
        loss_envelope=check_upper_bound(steps, loss, envelope, rtol),
        lambda_min_floor=floor,
        drift_radius=check_upper_bound(h.step, h.max_drift, drift_bound, rtol),
    )
