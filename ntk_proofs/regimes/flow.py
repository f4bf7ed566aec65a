"""Gradient flow dW/dt = -grad L(W) of the Du et al. (2019) net (and its family), integrated with diffrax.

Du et al. (2019), Section 3, prove the continuous-time result first. Theorem 3.2: if lambda_0 > 0 and m is large
enough, then with probability 1 - delta, under gradient flow

    (F1) L(t) <= exp(-lambda_0 t) L(0),
    (F2) lambda_min(H(t)) >= lambda_0 / 2                   (Lemma 3.2),
    (F3) ||w_r(t) - w_r(0)|| <= R' = 2 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)   (Lemma 3.3).

``gradient_flow`` integrates the flow with an adaptive Runge-Kutta solver (Tsitouras 5(4) with a PID step-size
controller, diffrax). The ReLU field is discontinuous across the surfaces w_r . x_i = 0, where the solver's
error estimate rejects steps until they are short enough; the result reports the tolerances and the accepted
and rejected step counts. ``flow_monitor`` checks (F1)-(F3) along the solution with the monitor of the GD runs
(``ntk_proofs.du2019.bounds.check_upper_bound``).

GD is the explicit Euler method of this ODE with step eta, so max_k ||u_GD(k) - u_flow(k eta)|| = O(eta) over a
fixed time span (global error of a first-order method; p = 1). ``gd_flow_distance`` measures it and fits p.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs import gd
from ntk_proofs.data import check_positive_int
from ntk_proofs.du2019.bounds import (
    TheoremMonitor,
    check_upper_bound,
    flow_drift_radius,
    flow_envelope,
    linear_rate_envelope,
)
from ntk_proofs.fit import SlopeFit, loglog_slope
from ntk_proofs.linalg import lambda_min
from ntk_proofs.models.two_layer import Params, TwoLayerFamily
from ntk_proofs.regimes.training import FamilyData, FamilyObjective, check_run_inputs

Array = jax.Array


class FlowResult(NamedTuple):
    """The solution of ``gradient_flow`` at the saved times, with the solver's report.

    Attributes:
      t: (T,) the saved times.
      u: (T, n) the outputs.
      loss: (T,) 0.5 ||u - y||^2 / alpha^2.
      lambda_min: (T,) lambda_min(H(t)).
      max_drift: (T,) max_r ||w_r(t) - w_r(0)||.
      rtol: the step-size controller's relative tolerance.
      atol: its absolute tolerance.
      accepted_steps: the solver's accepted steps.
      rejected_steps: its rejected steps.
    """

    t: np.ndarray
    u: Array
    loss: Array
    lambda_min: Array
    max_drift: Array
    rtol: float
    atol: float
    accepted_steps: int
    rejected_steps: int


def gradient_flow(
    params: Params,
    X: Array,
    y: Array,
    *,
    t_max: float,
    saves: int = 101,
    ts=None,
    family: TwoLayerFamily = TwoLayerFamily(),
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 200_000,
) -> FlowResult:
    """Integrate dW/dt = -grad (L / alpha^2) from ``params`` over [0, t_max] (module doc).

    Args:
      params: Params(W (m, d), a (m,)), W finite.
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      t_max: the end time, positive and finite.
      saves: the number of equally spaced saved times in [0, t_max] (when ``ts`` is None).
      ts (ArrayLike | None): ascending saved times in [0, t_max].
      family: the member of the family.
      rtol: the step-size controller's relative tolerance on every parameter, in (0, 1).
      atol: its absolute tolerance, > 0.
      max_steps: the solver's step limit.

    Returns:
      A ``FlowResult``.

    Raises:
      ValueError: inputs that ``check_inputs`` refuses, bad params, t_max, tolerances, saves or ts.
      RuntimeError: the solver stopped before t_max (``max_steps`` reached), naming the step count.
    """
    X, y = check_run_inputs(params, X, y)
    if not (np.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max must be a positive finite time; got {t_max!r}.")
    if not (0 < rtol < 1 and atol > 0):
        raise ValueError(f"need 0 < rtol < 1 and atol > 0; got rtol={rtol!r}, atol={atol!r}.")
    if ts is None:
        check_positive_int(saves, "saves")
        ts = np.linspace(0.0, float(t_max), saves)
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or ts.size < 1 or np.any(np.diff(ts) < 0) or ts[0] < 0 or ts[-1] > t_max:
        raise ValueError("ts must be ascending times within [0, t_max].")
    dtype = params.W.dtype
    X, y = X.astype(dtype), y.astype(dtype)
    out = _solve(
        params,
        X,
        y,
        jnp.asarray(ts, dtype),
        jnp.asarray(t_max, dtype),
        family=family,
        rtol=float(rtol),
        atol=float(atol),
        max_steps=int(max_steps),
    )
    (u, loss, lam, drift), ok, accepted, rejected = out
    if not bool(ok):
        raise RuntimeError(
            f"the flow solver stopped before t_max = {t_max:g} after {int(accepted) + int(rejected)} "
            f"steps (max_steps = {max_steps}); loosen rtol/atol or raise max_steps."
        )
    return FlowResult(ts, u, loss, lam, drift, float(rtol), float(atol), int(accepted), int(rejected))


@functools.partial(jax.jit, static_argnames=("family", "rtol", "atol", "max_steps"))
def _solve(params, X, y, ts, t_max, *, family, rtol, atol, max_steps):
    XXt = X @ X.T
    W0 = params.W

    def field(t, p, args):
        _, grad = family.value_and_grad(p, X, y)
        return jax.tree.map(lambda g: -g, grad)

    def observe(t, p, args):
        fwd = family.forward(X @ p.W.T, p.a, y)
        lam = lambda_min(family.gram_from_preactivations(fwd.Z, p.a, XXt))
        drift = jnp.max(jnp.linalg.norm(p.W - W0, axis=1))
        return fwd.u, fwd.loss, lam, drift

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=jnp.zeros((), ts.dtype),
        t1=t_max,
        dt0=None,
        y0=params,
        saveat=diffrax.SaveAt(ts=ts, fn=observe),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    ok = sol.result == diffrax.RESULTS.successful
    return sol.ys, ok, sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"]


def flow_monitor(flow: FlowResult, *, lambda0: float, n: int, m: int, rtol: float | None = None) -> TheoremMonitor:
    """Check Theorem 3.2's (F1)-(F3) of Du et al. (2019) along a ``FlowResult`` (module doc), with the bound
    R' of ``flow_drift_radius`` from the flow's own ||y - u(0)||. (F1) is checked at every saved t > 0.

    Args:
      flow: the ``gradient_flow`` solution.
      lambda0: lambda_0 = lambda_min(H^inf).
      n: the number of data points.
      m: the width.
      rtol: the relative slack of every comparison (default: the solver's rtol plus 10 machine epsilons); it
        absorbs the integration and round-off error in the comparison, not in the theorem.

    Returns:
      A ``TheoremMonitor`` whose checks report saved times, not steps.
    """
    loss = np.asarray(flow.loss, dtype=np.float64)
    if rtol is None:
        rtol = flow.rtol + 10 * float(np.finfo(np.asarray(flow.loss).dtype).eps)
    t = np.asarray(flow.t)
    residual0 = float(np.sqrt(2.0 * loss[0]))
    lam = np.asarray(flow.lambda_min, dtype=np.float64)
    later = t > 0
    return TheoremMonitor(
        loss_envelope=check_upper_bound(t[later], loss[later], flow_envelope(loss[0], lambda0, t[later]), rtol),
        lambda_min_floor=check_upper_bound(t, np.full_like(lam, float(lambda0) / 2.0), lam, rtol),
        drift_radius=check_upper_bound(t, flow.max_drift, flow_drift_radius(n, residual0, m, lambda0), rtol),
    )


@dataclass(frozen=True)
class Predictions:
    """Recorder: the family's outputs u(k) on the training inputs, from the step's own forward pass."""

    def init(self, params, fwd, data, key=None):
        return None

    def record(self, state, params, fwd, data):
        return state, fwd.u


def gd_outputs(
    params: Params, X: Array, y: Array, *, eta: float, steps: int, family: TwoLayerFamily = TwoLayerFamily()
) -> Array:
    """u(k) of GD with step eta for k = 0..steps, shape (steps + 1, n), on the one driver (``Predictions``)."""
    X, y = check_run_inputs(params, X, y)
    dtype = params.W.dtype
    X, y = X.astype(dtype), y.astype(dtype)
    XXt = X @ X.T
    data = FamilyData(X, y, params.W, params.a, XXt, XXt)
    run = gd.run(
        FamilyObjective(family),
        params,
        data,
        steps=steps,
        eta=eta,
        record_every=1,
        recorder=Predictions(),
        raise_on_divergence=True,
    )
    return run.records


class FlowConvergence(NamedTuple):
    """max_k ||u_GD(k) - u_flow(k eta)||_2 over k eta <= t_max, for each eta; the fitted order p (error ~ eta^p).

    Attributes:
      etas: (E,) the step sizes, ascending.
      errors: (S, E) the distance, one row per initialization.
      flow_error: the flow's own error at the saved times (the distance between solutions at rtol and rtol / 10):
        the floor below which a GD-to-flow distance cannot be resolved.
      fitted: (S, E) bool, the errors above ``FLOOR_FACTOR`` floors, which alone enter the fit.
      fit: the log-log fit of error against eta (``SlopeFit``; its slope is p).
    """

    etas: np.ndarray
    errors: np.ndarray
    flow_error: float
    fitted: np.ndarray
    fit: SlopeFit


FLOOR_FACTOR = 10.0


def gd_flow_distance(
    params_list,
    X: Array,
    y: Array,
    *,
    etas,
    t_max: float,
    family: TwoLayerFamily = TwoLayerFamily(),
    rtol: float = 1e-6,
    atol: float = 1e-8,
    confidence: float = 0.95,
) -> FlowConvergence:
    """How fast GD converges to the flow as eta shrinks (module doc): for each initialization and each step eta, the
    largest distance between u_GD(k) and u_flow(k eta) for k eta <= t_max; then the log-log slope p with its
    interval.

    Args:
      params_list (Sequence[Params]): the initializations, each Params(W (m, d), a (m,)).
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      etas (ArrayLike): at least two positive step sizes, each a whole multiple of the smallest and dividing t_max
        into a whole number of steps (up to 1e-9 relative).
      t_max: the time span.
      family: the member of the family.
      rtol: the flow solver's relative tolerance (its floor is measured against rtol / 10).
      atol: its absolute tolerance.
      confidence: the level of the slope's interval.

    Returns:
      A ``FlowConvergence``.

    Raises:
      ValueError: bad etas or t_max, or inputs that ``gradient_flow`` refuses.
      RuntimeError: the flow solver stopped before t_max.
      GradientDescentDiverged: a GD run's loss became non-finite.
    """
    etas = np.sort(np.asarray(etas, dtype=np.float64))
    if etas.size < 2 or np.any(etas <= 0):
        raise ValueError(f"need at least two positive step sizes; got {etas}.")
    steps = np.rint(t_max / etas).astype(int)
    strides = np.rint(etas / etas[0]).astype(int)
    if np.any(np.abs(steps * etas - t_max) > 1e-9 * t_max) or np.any(np.abs(strides * etas[0] - etas) > 1e-9 * etas):
        raise ValueError("every eta must be a whole multiple of the smallest and divide t_max into whole steps.")
    errors, floors = [], []
    for params in params_list:
        ts = etas[0] * np.arange(steps[0] + 1)  # one solve serves every eta: k eta_j = (k stride_j) eta_0
        flow = gradient_flow(params, X, y, t_max=t_max, ts=ts, family=family, rtol=rtol, atol=atol)
        tight = gradient_flow(params, X, y, t_max=t_max, ts=ts, family=family, rtol=rtol / 10, atol=atol / 10)
        floors.append(float(jnp.max(jnp.linalg.norm(tight.u - flow.u, axis=1))))
        row = []
        for eta, k, stride in zip(etas, steps, strides):
            u_gd = gd_outputs(params, X, y, eta=float(eta), steps=int(k), family=family)
            row.append(float(jnp.max(jnp.linalg.norm(u_gd - tight.u[::stride], axis=1))))
        errors.append(row)
    errors = np.asarray(errors)
    floor = max(floors)
    fitted = errors > FLOOR_FACTOR * max(floor, np.finfo(np.asarray(params_list[0].W).dtype).eps)
    x = np.broadcast_to(etas, errors.shape)
    fit = loglog_slope(x[fitted], errors[fitted], confidence)  # a NaN fit when fewer than two points remain
    return FlowConvergence(etas, errors, floor, fitted, fit)


class FlowOutcomes(NamedTuple):
    """The small-step criteria of the critical-width search ("trajectory_flow", "linear_flow",
    ``ntk_proofs.du2019.critical_width``) evaluated on gradient flow itself, per initialization.

    Attributes:
      trajectory: (seeds,) bool, lambda_min(H(t)) >= lambda_0 / 2 at every saved time until convergence.
      linear: (seeds,) bool, L(t_k) <= (1 - eta lambda_0 / 2)^k L(0) at every saved t_k = k eta until convergence.
      converged: (seeds,) bool, L(t) <= tol L(0) at a saved time within the span.
      end_step: (seeds,) the first saved k with L(t_k) <= tol L(0) (the span's last k where none).
      rtol: the relative slack of the comparisons (the solver's rtol plus 10 machine epsilons).
    """

    trajectory: np.ndarray
    linear: np.ndarray
    converged: np.ndarray
    end_step: np.ndarray
    rtol: float


def flow_criterion_outcomes(
    params_list,
    X: Array,
    y: Array,
    *,
    eta: float,
    lambda0: float,
    steps: int,
    tol: float = 1e-4,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 200_000,
) -> FlowOutcomes:
    """The critical width's small-step criteria on the exact flow (Du et al. 2019, Theorem 3.2 is the flow's
    version of Theorem 4.1): the flow from each initialization of ``params_list``, saved at the small-step GD's
    times t_k = k eta (k = 0..steps), judged as ``criterion_outcomes`` judges the GD run: "trajectory" needs
    lambda_min(H(t_k)) >= lambda_0 / 2 (float eigvalsh, not the GD runs' Cholesky certificate) and "linear"
    L(t_k) <= (1 - eta lambda_0 / 2)^k L(0), both at every k up to the first k with L(t_k) <= tol L(0), and both
    fail where the flow has not converged by t_steps. A flow and a GD run from one initialization then differ only
    by GD's O(eta) discretization (``gd_flow_distance``).

    Args:
      params_list (Sequence[Params]): the initializations, each Params(W (m, d), a (m,)).
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      eta: the small step whose times are checked, positive.
      lambda0: lambda_0 = lambda_min(H^inf), positive.
      steps: the number of steps of the span (its end time is steps * eta).
      tol: convergence is L(t) <= tol L(0), in (0, 1).
      rtol: the solver's relative tolerance (``gradient_flow``).
      atol: its absolute tolerance.
      max_steps: the solver's step limit per solve (``gradient_flow``): the ReLU field's kinks cost rejected steps,
        more of them with more data points.

    Returns:
      A ``FlowOutcomes``.

    Raises:
      ValueError: a bad eta, lambda0, steps or tol, or inputs that ``gradient_flow`` refuses.
      RuntimeError: the flow solver stopped before the span's end.
    """
    check_positive_int(steps, "steps")
    if not (np.isfinite(eta) and eta > 0 and np.isfinite(lambda0) and lambda0 > 0):
        raise ValueError(f"eta and lambda0 must be positive and finite; got eta={eta!r}, lambda0={lambda0!r}.")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1); got {tol!r}.")
    params_list = list(params_list)
    if not params_list:
        raise ValueError("params_list must hold at least one initialization.")
    ts = eta * np.arange(steps + 1)
    k = np.arange(steps + 1)
    rows = []
    # the flow_monitor slack: the solver's rtol plus 10 epsilons of the working dtype
    slack = float(rtol) + 10 * float(np.finfo(np.dtype(params_list[0].W.dtype)).eps)
    for params in params_list:
        flow = gradient_flow(params, X, y, t_max=float(ts[-1]), ts=ts, rtol=rtol, atol=atol, max_steps=max_steps)
        loss = np.asarray(flow.loss, np.float64)
        lam = np.asarray(flow.lambda_min, np.float64)
        below = np.flatnonzero(loss <= tol * loss[0])
        converged = below.size > 0
        end = int(below[0]) if converged else steps
        floor = check_upper_bound(k[: end + 1], np.full(end + 1, lambda0 / 2.0), lam[: end + 1], slack).held
        envelope = linear_rate_envelope(loss[0], eta, lambda0, end)
        rate = check_upper_bound(k[: end + 1], loss[: end + 1], envelope, slack).held
        rows.append((converged and floor, converged and rate, converged, end))
    trajectory, linear, converged, end_step = (np.array(v) for v in zip(*rows))
    return FlowOutcomes(trajectory, linear, converged, end_step, slack)
