"""The quantities of Du et al. (2019), Theorem 4.1 and its lemmas, and a monitor of its conclusions.

Theorem 4.1: if lambda_0 = lambda_min(H^inf) > 0, w_r(0) ~ N(0, I), a_r ~ Unif{-1, 1}, the width is
m = Omega(n^6 / (lambda_0^4 delta^3)) and eta = O(lambda_0 / n^2), then with probability 1 - delta, for all k:

  (C1) ||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2   (equivalently for L = 0.5 ||u - y||^2),
  (C2) lambda_min(H(k)) >= lambda_0 / 2                              (Lemma 3.2, used in the induction),
  (C3) ||w_r(k) - w_r(0)|| <= R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) for every r   (Lemma 3.3 / 4.1).

The paper leaves the constants in Omega and O unspecified; ``max_step_size`` and ``required_width``
give explicit values that make the steps of the proof go through (derived below, not stated in the paper).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ntk_proofs.data import AssumptionError
from ntk_proofs.du2019.gram import gram_infinity_float64


def lambda_zero(X) -> float:
    """lambda_0 = lambda_min(H^inf) of Du et al. (2019), Theorem 3.1, checked to be > 0.

    Computed in float64 on the host (``gram_infinity_float64`` and one ``eigvalsh``) whatever the dtype of X, so
    that the float32 and float64 runs of one problem share lambda_0 and every constant of the theorem.

    Args:
      X (ArrayLike): (n, d) inputs, rows on the unit sphere.

    Returns:
      lambda_0 as a Python float.

    Raises:
      AssumptionError: lambda_0 is within round-off of 0 (e.g. duplicate inputs), so Theorem 4.1 promises nothing.
    """
    H = gram_infinity_float64(X)
    lam = float(np.linalg.eigvalsh(H)[0])
    n = H.shape[0]
    tol = 100 * n * float(np.finfo(np.asarray(X).dtype).eps) * float(np.max(np.abs(H)))
    if not lam > tol:
        raise AssumptionError(
            f"lambda_0 = lambda_min(H^inf) = {lam:.3g} is not positive beyond round-off ({tol:.1e}): "
            "some inputs are (nearly) parallel, so the assumption of Du et al. (2019, Theorem 3.1) fails."
        )
    return lam


def infinite_width_spectrum(X) -> np.ndarray:
    """All eigenvalues of H^inf, ascending, in float64 (``gram_infinity_float64``): lambda_0 is the first,
    lambda_max the last (the step eta = 1 / lambda_max of the width sweep)."""
    return np.linalg.eigvalsh(gram_infinity_float64(X))


def linear_rate_envelope(loss0, eta, lambda0, steps: int) -> np.ndarray:
    """Theorem 4.1 of Du et al. (2019): L(k) <= (1 - eta lambda_0 / 2)^k L(0), for k = 0..steps.

    Valid for eta <= ``max_step_size`` and m >= ``required_width``.

    Returns:
      (steps + 1,) float64, the envelope L(0) (1 - eta lambda_0 / 2)^k.
    """
    rate = theorem_rate(eta, lambda0)
    return np.asarray(loss0) * rate ** np.arange(steps + 1)


def theorem_rate(eta, lambda0) -> float:
    """The per-step contraction 1 - eta lambda_0 / 2 of Theorem 4.1 (Du et al. 2019)."""
    return 1.0 - float(eta) * float(lambda0) / 2.0


FLOOR_ULPS = 100.0


def loss_floor(loss0, dtype, ulps: float = FLOOR_ULPS) -> float:
    """The round-off floor of a loss L = 0.5 ||u - y||^2 computed in ``dtype``, from its start L(0).

    The residual r = u - y is a difference of numbers of the size of the labels, so each entry carries an
    absolute rounding error of a few ulps of that size, and ||r|| cannot be resolved below about
    eps ||y - u(0)||. The floor puts a margin of ``ulps`` (100) such errors on the residual norm:

        floor = L(0) (ulps * eps)^2,      eps = the machine epsilon of ``dtype``,

    about 1.4e-10 L(0) in float32 and 4.9e-28 L(0) in float64. Below it a loss history measures round-off, not
    the dynamics.
    """
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return float(loss0) * (ulps * eps) ** 2


class RateEstimate(NamedTuple):
    """The linear rate of a loss history, measured on the steps 0..last_step whose loss is above the floor.

    Attributes:
      envelope: the tightest rho with L(k) <= rho^k L(0) on that range, max_{1 <= k <= last} (L(k) / L(0))^(1/k)
        (the form of Theorem 4.1's conclusion (C1)); NaN with fewer than two steps above the floor.
      geometric: exp of the least-squares slope of log L(k) on k over the second half of the range,
        [last / 2, last]: the late, slowest-mode contraction per step, which the kernel picture predicts to be
        (1 - eta lambda_0)^2; NaN as ``envelope``.
      first_step: the first step of the range used (0).
      last_step: the last step of the range used.
      floor: the round-off floor (``loss_floor``).
    """

    envelope: float
    geometric: float
    first_step: int
    last_step: int
    floor: float


def empirical_rate(loss, *, dtype=None, floor: float | None = None) -> RateEstimate:
    """The linear rate of a loss history of K + 1 >= 2 values, measured above its round-off floor.

    The range is the steps 0..last before the loss first falls to ``floor``. Comparing ``envelope`` with
    ``theorem_rate`` (1 - eta lambda_0 / 2) says how loose conclusion (C1) is; ``geometric`` is the late per-step
    contraction.

    Args:
      loss (ArrayLike): (K + 1,) the loss history L(0), ..., L(K), with L(0) > 0.
      dtype (DTypeLike | None): the dtype whose round-off sets the default floor (default: that of ``loss``;
        float64 for a non-float history).
      floor: the floor itself (default ``loss_floor(L(0), dtype)``).

    Returns:
      A ``RateEstimate`` (NaN rates with fewer than two steps above the floor).

    Raises:
      ValueError: ``loss`` is not a 1-D history of at least two values, or L(0) is not positive.
    """
    raw = np.asarray(loss)
    if raw.ndim != 1 or raw.size < 2:
        raise ValueError("A rate needs a loss history of at least two values.")
    values = raw.astype(np.float64)
    if not values[0] > 0:
        raise ValueError(f"A rate needs a positive initial loss; got L(0) = {values[0]!r}.")
    dtype = raw.dtype if dtype is None else dtype
    if floor is None:
        floor = loss_floor(values[0], dtype if np.issubdtype(np.dtype(dtype), np.floating) else np.float64)
    below = np.flatnonzero(~(values > floor))
    last = (int(below[0]) if below.size else values.size) - 1
    if last < 1:
        nan = float("nan")
        return RateEstimate(nan, nan, 0, last, float(floor))
    k = np.arange(1, last + 1)
    envelope = float(np.max((values[1 : last + 1] / values[0]) ** (1.0 / k)))
    tail = np.arange(last // 2, last + 1)  # at least two steps, since last >= 1
    slope = np.polyfit(tail, np.log(values[tail]), 1)[0]
    return RateEstimate(envelope, float(np.exp(slope)), 0, last, float(floor))


def drift_radius(n: int, residual0, m: int, lambda0) -> float:
    """R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0): Du et al. (2019), Lemma 3.3 and Theorem 4.1.

    Every w_r stays within R' of its initialization while the linear rate holds.

    Args:
      n: the number of data points.
      residual0 (float): ||y - u(0)||.
      m: the width.
      lambda0 (float): lambda_0 = lambda_min(H^inf).

    Returns:
      R' as a Python float.
    """
    return 4.0 * math.sqrt(n) * float(residual0) / (math.sqrt(m) * float(lambda0))


def flow_drift_radius(n: int, residual0, m: int, lambda0) -> float:
    """R' = 2 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0): Du et al. (2019), Lemma 3.3 (gradient flow, Theorem 3.2).

    ||dw_r/dt|| <= sqrt(n / m) ||y - u(t)|| <= sqrt(n / m) exp(-lambda_0 t / 2) ||y - u(0)||; integrated over t >= 0
    this is R'. Half the discrete-time radius of ``drift_radius``.
    """
    return 2.0 * math.sqrt(n) * float(residual0) / (math.sqrt(m) * float(lambda0))


def flow_envelope(loss0, lambda0, t) -> np.ndarray:
    """Theorem 3.2 of Du et al. (2019): under gradient flow L(t) <= exp(-lambda_0 t) L(0), at the times t."""
    return float(loss0) * np.exp(-float(lambda0) * np.asarray(t, dtype=np.float64))


def perturbation_radius(n: int, lambda0, delta: float) -> float:
    """R = sqrt(2 pi) delta lambda_0 / (16 n^2): Du et al. (2019), Lemma 3.2 (R = c delta lambda_0 / n^2).

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


def required_width(n: int, lambda0, residual0, delta: float = 0.1, *, residual_bounded: bool = False) -> float:
    """A width that makes the proof of Du et al. (2019), Theorem 4.1, go through with explicit constants.

    The proof takes a union over events that each fail with some probability; the total is ``delta``, split
    evenly: delta/2 each for (i) the concentration of Lemma 3.1 and (ii) the perturbation radius of Lemma 3.2
    when ||y - u(0)|| (``residual0``) is measured, and delta/3 each when ``residual_bounded`` says that residual0 is
    itself a bound that holds with probability 1 - delta/3 (Markov's inequality on E||y - u(0)||^2 = O(n)).

    The width is the larger of (i) 8 n^2 log(2 n^2 / delta_i) / lambda_0^2, so that Hoeffding's inequality gives
    ||H(0) - H^inf||_2 <= lambda_0 / 4 (Lemma 3.1), and (ii) the m at which R' < R (``drift_radius`` <
    ``perturbation_radius`` at delta_i), i.e. (64 n^{5/2} ||y - u(0)|| / (sqrt(2 pi) delta_i lambda_0^2))^2.
    With ||y - u(0)||^2 = O(n / delta) this is the paper's m = Omega(n^6 / (lambda_0^4 delta^3)).
    A sufficient width, not a necessary one.

    Args:
      n: the number of data points.
      lambda0 (float): lambda_0 = lambda_min(H^inf), positive.
      residual0 (float): ||y - u(0)||, measured or (with ``residual_bounded``) a bound that holds with probability
        1 - delta/3.
      delta: the total failure probability, in (0, 1).
      residual_bounded: whether ``residual0`` is a probabilistic bound rather than a measurement.

    Returns:
      The width as a float (not rounded up to an integer).

    Raises:
      ValueError: unless 0 < delta < 1 and lambda0 > 0.
    """
    lambda0 = float(lambda0)
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta}.")
    if not lambda0 > 0:
        raise ValueError(f"lambda0 must be positive; got {lambda0}.")
    delta_i = delta / (3.0 if residual_bounded else 2.0)
    m_init = 8.0 * n**2 * math.log(2.0 * n**2 / delta_i) / lambda0**2
    m_drift = (64.0 * n**2.5 * float(residual0) / (math.sqrt(2 * math.pi) * delta_i * lambda0**2)) ** 2
    return max(m_init, m_drift)


class MonitorCheck(NamedTuple):
    """One conclusion of a theorem checked along a run.

    Attributes:
      held: it held at every checked step.
      first_failure: the first step where it failed, or -1.
      worst_ratio: max over steps of measured / bound (<= 1 means it held; for lower bounds, bound / measured).
    """

    held: bool
    first_failure: int
    worst_ratio: float


class TheoremMonitor(NamedTuple):
    """The three conclusions (C1)-(C3) of Du et al. (2019), Theorem 4.1, checked along one GD run.

    ``held`` is True when all three held.

    Attributes:
      loss_envelope: (C1) L(k) <= (1 - eta lambda_0 / 2)^k L(0).
      lambda_min_floor: (C2) lambda_min(H(k)) >= lambda_0 / 2.
      drift_radius: (C3) max_r ||w_r(k) - w_r(0)|| <= R'.
    """

    loss_envelope: MonitorCheck
    lambda_min_floor: MonitorCheck
    drift_radius: MonitorCheck

    @property
    def held(self) -> bool:
        return all(check.held for check in self)


# each conclusion of ``TheoremMonitor``: its field, and the statement it checks (Du et al. 2019, Thm 4.1)
MONITOR_CHECKS = (
    ("loss_envelope", "(C1) L(k) <= (1 - eta lambda_0/2)^k L(0)"),
    ("lambda_min_floor", "(C2) lambda_min(H(k)) >= lambda_0/2"),
    ("drift_radius", "(C3) max_r ||w_r(k) - w_r(0)|| <= R'"),
)


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

    (C1) on the loss at every step k >= 1 (at k = 0 it holds by definition, so it enters neither the verdict nor
    the worst ratio); (C2) and (C3) at the recorded steps. When the run carries the certificate
    (``train_gd(..., certify_lambda0=lambda0)``), (C2) holds exactly where it proved it, at every certified step
    (``certify_every``), whatever the (possibly Lanczos, hence optimistic) lambda_min says; its worst ratio is
    still (lambda_0 / 2) / lambda_min(H(k)).

    Args:
      result (TrainResult): a ``TrainResult`` of one run, with its ``history`` recorded.
      eta (float): the run's step size.
      lambda0 (float): lambda_0 = lambda_min(H^inf).
      drift_bound (float): R' (``drift_radius``).
      rtol: the relative slack of every comparison (default: 10 machine epsilons of the run's dtype); it absorbs
        round-off in the comparison, not in the theorem.

    Returns:
      A ``TheoremMonitor`` with one ``MonitorCheck`` per conclusion.
    """
    loss = np.asarray(result.loss)
    if rtol is None:
        rtol = 10 * float(np.finfo(loss.dtype).eps)
    steps = np.arange(loss.size)
    envelope = linear_rate_envelope(loss[0], eta, lambda0, loss.size - 1)
    h = result.history
    lam = np.asarray(h.lambda_min, dtype=np.float64)
    floor = check_upper_bound(h.step, np.full_like(lam, float(lambda0) / 2.0), lam, rtol)
    proof = getattr(result, "certificate", None)
    # the proof at every certified step (``certify_every``) where the run carries it, else at the recorded steps
    verdicts = (proof.step, proof.held) if proof is not None else (h.step, h.certified)
    if verdicts[1] is not None:
        failed = np.flatnonzero(~np.asarray(verdicts[1], bool))
        floor = MonitorCheck(
            held=bool(failed.size == 0),
            first_failure=int(np.asarray(verdicts[0])[failed[0]]) if failed.size else -1,
            worst_ratio=floor.worst_ratio,
        )
    return TheoremMonitor(
        loss_envelope=check_upper_bound(steps[1:], loss[1:], envelope[1:], rtol),
        lambda_min_floor=floor,
        drift_radius=check_upper_bound(h.step, h.max_drift, drift_bound, rtol),
    )
