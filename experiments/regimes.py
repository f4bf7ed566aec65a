"""From gradient flow to the catapult: where the lazy picture of Du et al. (2019) holds, and where it stops.

    python -m experiments.regimes            # default: about 3 minutes on 2 CPU cores
    python -m experiments.regimes --quick    # seconds (the test preset)

Four studies of the two-layer family u = alpha m^-gamma sum_r a_r sigma(w_r . x)
(ntk_proofs.models.two_layer.TwoLayerFamily):

1. **Gradient flow** (Du et al. 2019, Theorem 3.2): the flow dW/dt = -grad L is integrated with diffrax (adaptive
   Tsit5); L(t) <= exp(-lambda_0 t) L(0), lambda_min(H(t)) >= lambda_0 / 2 and ||w_r(t) - w_r(0)|| <= R' are checked
   along it, and GD's distance to the flow, max_k ||u_GD(k) - u_flow(k eta)||, is fitted as eta^p (theory p = 1).
2. **Step-size phase diagram** (Lewkowycz et al. 2020): width m against x = eta lambda_max(Theta(0)) / 2; every run is
   lazy, catapult, divergent or unresolved (ntk_proofs.regimes.phases); the lazy/catapult and divergence boundaries
   of the widest net are bisected per initialization, with CIs, beside the predictions x = 1 and x = 2.
3. **Catapult trajectories**: the loss and eta lambda_max(Theta(k)) / 2 against k for step sizes on both sides.
4. **Lazy vs rich** (Chizat, Oyallon & Bach 2019): the weight drift, the kernel change and the test accuracy on the
   bundled digits (odd vs even) against alpha and against m, for the NTK and mean-field scalings and for ReLU and
   erf, with the exponents fitted beside the predicted ones.

Writes <out>/regimes.{png,pdf,json}; one JSON per finished unit in <out>/regimes_runs/ lets a run resume, and the
units split across processes with --coordinator/--distributed like the other sweeps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import Cluster, format_table, option, parse_config, run_main, set_precision
from experiments.cluster import NotMerged, cluster_problem, run_sweep, start_processes
from experiments.store import Fit, Monitor, from_jsonable, monitor_record, unit_config

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "regimes"
ACTIVATIONS = ("relu", "erf")


@dataclass(frozen=True)
class RegimesConfig(Cluster):
    n: int = option(16, "training points on the unit sphere (flow and phase studies)")
    d: int = option(16, "input dimension of those points")
    flow_m: int = option(1024, "width of the gradient-flow study")
    flow_time: float = option(30.0, "time span over which Theorem 3.2's conclusions are checked along the flow")
    flow_span: float = option(4.0, "time span of the GD-to-flow comparison")
    flow_etas: tuple[float, ...] = option(
        (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4), "GD step sizes compared with the flow (whole multiples of the smallest)"
    )
    flow_seeds: int = option(2, "initializations of the GD-to-flow comparison")
    flow_rtol: float = option(1e-6, "relative tolerance of the flow solver (atol = rtol / 100)")
    phase_widths: tuple[int, ...] = option((64, 256, 1024, 4096), "widths of the phase diagram")
    phase_ratios: int = option(13, "step-size ratios x = eta lambda_max(Theta(0)) / 2 per width, log-spaced")
    ratio_min: float = option(0.5, "smallest ratio x of the phase diagram")
    ratio_max: float = option(8.0, "largest ratio x of the phase diagram")
    phase_seeds: int = option(4, "initializations per cell of the phase diagram")
    phase_steps: int = option(300, "GD steps of each phase-diagram run")
    fixed_a: bool = option(
        False,
        "keep the output layer a fixed in the phase study (the Du et al. net); by default "
        "both layers are trained, Lewkowycz et al.'s setting (the flow and lazy studies "
        "keep a fixed as Du et al.)",
    )
    boundary_seeds: int = option(8, "initializations whose boundaries are bisected, at every phase width")
    boundary_iterations: int = option(10, "bisection steps in log x")
    catapult_ratios: tuple[float, ...] = option((0.8, 1.2, 1.6, 2.0, 2.4), "ratios x of the catapult trajectories")
    lazy_alphas: tuple[float, ...] = option((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), "output scales alpha")
    lazy_widths: tuple[int, ...] = option((64, 128, 256, 512, 1024, 2048), "widths of the lazy-vs-rich study")
    lazy_width: int = option(512, "the width at which alpha varies")
    alpha_fit_min: float = option(8.0, "the alpha-exponents are fitted on alpha >= this (the lazy end)")
    lazy_seeds: int = option(3, "initializations per point of the lazy-vs-rich study")
    lazy_steps: int = option(300, "GD steps of each lazy-vs-rich run, at eta = 1 / lambda_max(Theta(0))")
    n_train: int = option(128, "digits training points of the lazy-vs-rich study")
    n_test: int = option(400, "digits test points")
    activations: tuple[str, ...] = option(ACTIVATIONS, "activations of the lazy-vs-rich study", choices=ACTIVATIONS)


QUICK = dict(
    n=8,
    d=8,
    flow_m=128,
    flow_time=10.0,
    flow_span=1.0,
    flow_etas=(0.05, 0.1, 0.2),
    flow_seeds=1,
    flow_rtol=1e-5,
    phase_widths=(64, 256),
    phase_ratios=5,
    phase_seeds=2,
    phase_steps=150,
    boundary_seeds=3,
    boundary_iterations=5,
    catapult_ratios=(0.8, 1.6),
    lazy_alphas=(1.0, 8.0, 32.0),
    lazy_widths=(64, 256),
    lazy_width=128,
    lazy_seeds=2,
    lazy_steps=100,
    n_train=48,
    n_test=100,
    activations=("erf",),
)


class Solver(NamedTuple):
    """How the gradient flow was integrated.

    Attributes:
      method: the solver and its step-size controller.
      rtol: its relative tolerance.
      atol: its absolute tolerance.
      accepted_steps: how many steps it accepted.
      rejected_steps: how many it rejected.
      seconds: wall-clock time of the integration (s).
    """

    method: str
    rtol: float
    atol: float
    accepted_steps: int
    rejected_steps: int
    seconds: float


class FlowUnit(NamedTuple):
    """Theorem 3.2 of Du et al. (2019) along the gradient flow, and GD's distance to the flow (``flow_unit``).
    Sequences are arrays when computed and lists once read back from the unit's JSON.

    Attributes:
      lambda0: lambda_0 = lambda_min(H^inf) of the data.
      t: the saved times (time t = k eta for GD).
      loss: L(t) = 0.5 ||u(t) - y||^2 at the saved times.
      envelope: Theorem 3.2's exp(-lambda_0 t) L(0) at the saved times.
      lambda_min: lambda_min(H(t)) at the saved times.
      max_drift: max_r ||w_r(t) - w_r(0)|| at the saved times (input units).
      drift_bound: R' of Theorem 3.2 (input units).
      monitor: Theorem 3.2's conclusions along the flow (the loss envelope, the kernel floor, the drift radius).
      held: all three held.
      solver: how the flow was integrated.
      etas: the GD step sizes compared with the flow.
      errors: (seeds, etas) max_k ||u_GD(k) - u_flow(k eta)||_2.
      flow_error: the flow's own error, the floor of that comparison.
      fitted: (seeds, etas) whether each error entered the fit (above 10x the flow's error).
      order: the fitted order p of error ~ eta^p (theory 1).
    """

    lambda0: float
    t: list[float]
    loss: list[float]
    envelope: list[float]
    lambda_min: list[float]
    max_drift: list[float]
    drift_bound: float
    monitor: Monitor
    held: bool
    solver: Solver
    etas: list[float]
    errors: list[list[float]]
    flow_error: float
    fitted: list[list[bool]]
    order: Fit


class PhaseUnit(NamedTuple):
    """The phase of every (ratio, initialization) at one width (``phase_unit``; ``PhaseGrid`` of one width).

    Attributes:
      m: the width (hidden units).
      ratios: the step-size ratios x = eta lambda_max(Theta(0)) / 2.
      regime: (ratios, seeds) codes into ``RegimesSummary.regimes``.
      sharpness0: lambda_max(Theta(0)) per initialization.
      peak: (ratios, seeds) max_k L(k) / L(0) (None where infinite: diverged).
      sharpness_end: (ratios, seeds) eta lambda_max(Theta(end)) / 2 (< 1: stable).
      kernel_change: (ratios, seeds) max_k ||H(k) - H(0)||_F / ||H(0)||_F.
    """

    m: int
    ratios: list[float]
    regime: list[list[int]]
    sharpness0: list[float]
    peak: list[list[float | None]]
    sharpness_end: list[list[float | None]]
    kernel_change: list[list[float | None]]


class Threshold(NamedTuple):
    """A phase boundary in the ratio x = eta lambda_max(Theta(0)) / 2 (``ntk_proofs.regimes.phases.Boundary`` as
    saved).

    Attributes:
      per_seed: the boundary of each initialization (dimensionless ratio x).
      mean: their mean over the bracketed ones (None if none was).
      ci_low: the lower end of its confidence interval (Student t on log x); None with too few.
      ci_high: the upper end.
      bracketed: whether each initialization's boundary lay inside the bisection's range.
      confidence: the interval's confidence level.
    """

    per_seed: list[float | None]
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    bracketed: list[bool]
    confidence: float


class BoundaryUnit(NamedTuple):
    """The lazy/catapult and divergence boundaries at one width, per initialization (``boundary_unit``).

    Attributes:
      m: the width (hidden units).
      rise: where the loss starts to rise (predicted x = 1).
      divergence: where GD starts to diverge (predicted x = 2 for the linear model).
      sharpness0: lambda_max(Theta(0)) per initialization.
    """

    m: int
    rise: Threshold
    divergence: Threshold
    sharpness0: list[float]


class WidestBoundary(NamedTuple):
    """The boundaries of the widest net beside the predictions.

    Attributes:
      m: the width (hidden units).
      rise: where the loss starts to rise.
      divergence: where GD starts to diverge.
      sharpness0: lambda_max(Theta(0)) per initialization.
      predicted_rise: x = 1 (eta = 2 / lambda_max).
      predicted_divergence_linear_model: x = 2 (eta = 4 / lambda_max, the linear model).
      reported_divergence_relu: x = 6, reported for ReLU nets by Lewkowycz et al. (2020).
    """

    m: int
    rise: Threshold
    divergence: Threshold
    sharpness0: list[float]
    predicted_rise: float
    predicted_divergence_linear_model: float
    reported_divergence_relu: float


class CatapultUnit(NamedTuple):
    """Loss and eta lambda_max(Theta(k)) / 2 at every step, for one initialization of the widest net, at several step
    sizes (``catapult_unit``).

    Attributes:
      m: the width (hidden units).
      ratios: the step-size ratios x = eta lambda_max(Theta(0)) / 2.
      etas: the step sizes.
      sharpness0: lambda_max(Theta(0)).
      loss: (ratios, steps + 1) L(k) (None where not finite: diverged).
      sharpness: (ratios, steps + 1) eta lambda_max(Theta(k)) / 2.
      kernel_change: (ratios, steps + 1) ||H(k) - H(0)||_F / ||H(0)||_F.
      regime: each run's regime ("lazy", "catapult", "divergent" or "unresolved").
    """

    m: int
    ratios: list[float]
    etas: list[float]
    sharpness0: float
    loss: list[list[float | None]]
    sharpness: list[list[float | None]]
    kernel_change: list[list[float | None]]
    regime: list[str]


class LazyPoint(NamedTuple):
    """One family member at one width, over initializations (``ntk_proofs.regimes.lazy.Laziness`` as saved).

    Attributes:
      alpha: the output scale.
      gamma: the width exponent (0.5: NTK, 1: mean-field).
      m: the width (hidden units).
      kernel_change: max_k ||H(k) - H(0)||_F / ||H(0)||_F, per initialization.
      drift: max_r ||w_r(end) - w_r(0)||, per initialization (input units).
      test_accuracy: the fraction of held-out points classified right, per initialization.
      train_loss: L(end) / L(0), per initialization.
      kernel_gap: ||u(end) - u_lin(end)|| / ||y||, per initialization.
      eta: the step, per initialization.
      rms_drift: sqrt(mean_r ||w_r(end) - w_r(0)||^2), per initialization (input units); None in summaries older
        than it.
    """

    alpha: float
    gamma: float
    m: int
    kernel_change: list[float | None]
    drift: list[float | None]
    test_accuracy: list[float | None]
    train_loss: list[float | None]
    kernel_gap: list[float | None]
    eta: list[float | None]
    rms_drift: list[float | None] | None = None


class LazyUnit(NamedTuple):
    """The lazy-vs-rich runs of one activation and scaling (``lazy_unit``).

    Attributes:
      activation: "relu" or "erf".
      gamma: the width exponent (0.5: NTK, 1: mean-field).
      by_alpha: one point per output scale alpha, at width ``lazy_width``.
      by_width: one point per width, at alpha = 1.
    """

    activation: str
    gamma: float
    by_alpha: list[LazyPoint]
    by_width: list[LazyPoint]


class LazyFit(NamedTuple):
    """A fitted exponent beside its prediction.

    Attributes:
      fit: the log-log fit (None with fewer than 3 points).
      predicted: the exponent ``ntk_proofs.regimes.lazy.predicted_exponent`` gives.
    """

    fit: Fit | None
    predicted: float


class LazyFits(NamedTuple):
    """The exponents of the drift and the kernel change against alpha (alpha >= ``alpha_fit_min``) and against m.

    Attributes:
      drift_vs_alpha: of the max drift against alpha.
      drift_vs_width: of the max drift against m.
      kernel_change_vs_alpha: of the kernel change against alpha.
      kernel_change_vs_width: of the kernel change against m.
      rms_drift_vs_width: of the RMS drift against m, on m >= ``TYPICAL_FIT_MIN_WIDTH``; None in summaries older
        than it.
    """

    drift_vs_alpha: LazyFit
    drift_vs_width: LazyFit
    kernel_change_vs_alpha: LazyFit
    kernel_change_vs_width: LazyFit
    rms_drift_vs_width: LazyFit | None = None


class LazyFamily(NamedTuple):
    """A ``LazyUnit`` with its fitted exponents.

    Attributes:
      activation: "relu" or "erf".
      gamma: the width exponent.
      by_alpha: one point per output scale.
      by_width: one point per width.
      fits: the fitted exponents.
    """

    activation: str
    gamma: float
    by_alpha: list[LazyPoint]
    by_width: list[LazyPoint]
    fits: LazyFits


class RegimesUnits(NamedTuple):
    """Every unit of a regimes run, by kind, in the order of the config.

    Attributes:
      flow: the gradient-flow unit.
      phases: one phase unit per phase width.
      boundaries: one boundary unit per phase width.
      catapult: the catapult trajectories.
      lazy: one lazy-vs-rich unit per (activation, gamma in (0.5, 1)).
    """

    flow: FlowUnit
    phases: list[PhaseUnit]
    boundaries: list[BoundaryUnit]
    catapult: CatapultUnit
    lazy: list[LazyUnit]


class RegimesSummary(NamedTuple):
    """What the regimes experiment saves as <out>/regimes.json, prints and plots, and what its claims read.

    Attributes:
      experiment: "regimes".
      paper: the results checked.
      config: the run's flags.
      flow: the gradient-flow study.
      phases: the phase diagram, one unit per width.
      regime_counts: how many runs of the diagram fell in each regime, by regime.
      regimes: the regimes' names, indexed by the codes of ``PhaseUnit.regime``.
      boundaries: the boundaries at each width.
      boundary: the widest net's boundaries beside the predictions.
      catapult: the catapult trajectories.
      lazy: the lazy-vs-rich study, by "<activation>_g<gamma>".
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, the numerical stack and the JAX backend.
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """

    experiment: str
    paper: str
    config: RegimesConfig
    flow: FlowUnit
    phases: list[PhaseUnit]
    regime_counts: dict[str, int]
    regimes: list[str]
    boundaries: list[BoundaryUnit]
    boundary: WidestBoundary
    catapult: CatapultUnit
    lazy: dict[str, LazyFamily]
    reused_units: int | None = None
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = RegimesSummary  # the record <out>/regimes.json loads into (``experiments.all``)


def parse_args(argv: list[str] | None = None) -> RegimesConfig:
    return parse_config(
        RegimesConfig,
        argv,
        prog="python -m experiments.regimes",
        description="Gradient flow (Du et al. 2019, Theorem 3.2) and GD's convergence to it, the step-size phase "
        "diagram and the catapult (Lewkowycz et al. 2020), and lazy vs rich training (Chizat et al. 2019).",
        presets=dict(quick=QUICK),
        sort=("phase_widths", "lazy_widths", "lazy_alphas", "flow_etas", "catapult_ratios"),
        validate=_problems,
        resumable=True,
    )


def _problems(c: RegimesConfig) -> str | None:
    for name in (
        "n",
        "d",
        "flow_m",
        "flow_seeds",
        "phase_ratios",
        "phase_seeds",
        "phase_steps",
        "boundary_seeds",
        "boundary_iterations",
        "lazy_width",
        "lazy_seeds",
        "lazy_steps",
        "n_train",
        "n_test",
    ):
        if getattr(c, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1; got {getattr(c, name)}."
    if c.n < 2:
        return f"--n must be at least 2; got {c.n}."
    if min(c.phase_widths) < 1 or min(c.lazy_widths) < 2:
        return "widths must be positive (lazy widths at least 2: the symmetric initialization pairs neurons)."
    if any(m % 2 for m in (*c.lazy_widths, c.lazy_width)):
        return "the lazy-vs-rich widths must be even (the symmetric initialization pairs neurons)."
    if not 0 < c.ratio_min < c.ratio_max:
        return f"need 0 < --ratio-min < --ratio-max; got {c.ratio_min} and {c.ratio_max}."
    if len(c.flow_etas) < 2 or min(c.flow_etas) <= 0:
        return "--flow-etas needs at least two positive step sizes."
    steps = np.asarray(c.flow_etas) / min(c.flow_etas)
    if (
        np.any(np.abs(steps - np.rint(steps)) > 1e-9)
        or abs(c.flow_span / min(c.flow_etas) - round(c.flow_span / min(c.flow_etas))) > 1e-9
    ):
        return "--flow-etas must be whole multiples of the smallest, which must divide --flow-span."
    if c.flow_time <= 0 or c.flow_span <= 0 or not 0 < c.flow_rtol < 1:
        return "--flow-time and --flow-span must be positive and 0 < --flow-rtol < 1."
    if min(c.lazy_alphas) <= 0 or min(c.catapult_ratios) <= 0:
        return "--lazy-alphas and --catapult-ratios must be positive."
    return cluster_problem(c)


def sphere_data(config: RegimesConfig):
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    kx, ky = jax.random.split(jax.random.PRNGKey(config.seed))
    return nt.unit_sphere(kx, config.n, config.d), nt.gaussian_labels(ky, config.n)


def phase_family(config: RegimesConfig):
    from ntk_proofs.models.two_layer import TwoLayerFamily  # here: importing ntk_proofs imports JAX

    return TwoLayerFamily(train_a=not config.fixed_a)


def flow_unit(config: RegimesConfig) -> FlowUnit:
    """Theorem 3.2 along the flow of the Du et al. net, and GD's distance to the flow against eta."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt
    from ntk_proofs.du2019.bounds import flow_drift_radius, flow_envelope
    from ntk_proofs.regimes.flow import flow_monitor, gd_flow_distance, gradient_flow

    X, y = sphere_data(config)
    key = jax.random.PRNGKey(config.seed + 1)
    params = [nt.init_params(jax.random.fold_in(key, s), config.flow_m, config.d) for s in range(config.flow_seeds)]
    lambda0 = nt.lambda_zero(X)
    clock = time.perf_counter()
    flow = gradient_flow(
        params[0], X, y, t_max=config.flow_time, saves=301, rtol=config.flow_rtol, atol=config.flow_rtol / 100
    )
    seconds = time.perf_counter() - clock
    monitor = flow_monitor(flow, lambda0=lambda0, n=config.n, m=config.flow_m)
    loss = np.asarray(flow.loss, np.float64)
    conv = gd_flow_distance(
        params, X, y, etas=config.flow_etas, t_max=config.flow_span, rtol=config.flow_rtol, atol=config.flow_rtol / 100
    )
    return FlowUnit(
        lambda0=lambda0,
        t=flow.t,
        loss=loss,
        envelope=flow_envelope(loss[0], lambda0, flow.t),
        lambda_min=flow.lambda_min,
        max_drift=flow.max_drift,
        drift_bound=flow_drift_radius(config.n, float(np.sqrt(2 * loss[0])), config.flow_m, lambda0),
        monitor=monitor_record(monitor),
        held=monitor.held,
        solver=Solver(
            method="Tsit5 (diffrax), PID step-size controller",
            rtol=flow.rtol,
            atol=flow.atol,
            accepted_steps=flow.accepted_steps,
            rejected_steps=flow.rejected_steps,
            seconds=seconds,
        ),
        etas=conv.etas,
        errors=conv.errors,
        flow_error=conv.flow_error,
        fitted=conv.fitted,
        order=Fit(*conv.fit),
    )


def phase_unit(config: RegimesConfig, m: int) -> PhaseUnit:
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    from ntk_proofs.regimes.phases import phase_grid

    X, y = sphere_data(config)
    ratios = np.geomspace(config.ratio_min, config.ratio_max, config.phase_ratios)
    grid = phase_grid(
        X,
        y,
        widths=[m],
        ratios=ratios,
        seeds=config.phase_seeds,
        steps=config.phase_steps,
        key=jax.random.PRNGKey(config.seed + 2),
        family=phase_family(config),
    )
    return PhaseUnit(
        m=m,
        ratios=ratios,
        regime=grid.regime[0],
        sharpness0=grid.sharpness0[0],
        peak=grid.peak[0],
        sharpness_end=grid.sharpness_end[0],
        kernel_change=grid.kernel_change[0],
    )


def boundary_unit(config: RegimesConfig, m: int) -> BoundaryUnit:
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    from ntk_proofs.regimes.phases import phase_boundaries

    X, y = sphere_data(config)
    b = phase_boundaries(
        X,
        y,
        m=m,
        seeds=config.boundary_seeds,
        steps=config.phase_steps,
        key=jax.random.PRNGKey(config.seed + 2),
        family=phase_family(config),
        lo=config.ratio_min,
        hi=config.ratio_max * 2,
        iterations=config.boundary_iterations,
    )
    return BoundaryUnit(m=m, rise=Threshold(*b.rise), divergence=Threshold(*b.divergence), sharpness0=b.sharpness0)


def catapult_unit(config: RegimesConfig) -> CatapultUnit:
    """Loss and eta lambda_max(Theta(k)) / 2 at every step, for one initialization of the widest net."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX
    import jax.numpy as jnp

    from ntk_proofs.regimes.phases import REGIMES, classify_runs, initializations, tangent_sharpness
    from ntk_proofs.regimes.training import train_family_batched

    X, y = sphere_data(config)
    m = max(config.phase_widths)
    family = phase_family(config)
    params = initializations(jax.random.fold_in(jax.random.PRNGKey(config.seed + 2), m), m, config.d, 1)
    lam = float(tangent_sharpness(family, params, X)[0])
    ratios = np.asarray(config.catapult_ratios)
    etas = 2 * ratios / lam
    batch = jax.tree.map(lambda v: jnp.repeat(v, ratios.size, axis=0), params)
    run = train_family_batched(batch, X, y, family=family, etas=etas, steps=config.phase_steps, record_every=1)
    codes = classify_runs(run, etas, family)
    sharp = np.asarray(run.records.lambda_max, np.float64) * family.kernel_scale(m) * etas[:, None] / 2
    return CatapultUnit(
        m=m,
        ratios=ratios,
        etas=etas,
        sharpness0=lam,
        loss=np.asarray(run.loss, np.float64),
        sharpness=sharp,
        kernel_change=np.asarray(run.records.kernel_change, np.float64),
        regime=[REGIMES[c] for c in codes],
    )


def lazy_unit(config: RegimesConfig, activation: str, gamma: float) -> LazyUnit:
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt
    from ntk_proofs.models.two_layer import TwoLayerFamily
    from ntk_proofs.regimes.lazy import laziness

    Xtr, ytr, Xte, yte = nt.digits_split(jax.random.PRNGKey(config.seed), config.n_train, config.n_test)
    key = jax.random.PRNGKey(config.seed + 3)

    def point(alpha, m):
        r = laziness(
            Xtr,
            ytr,
            Xte,
            yte,
            family=TwoLayerFamily(alpha=alpha, gamma=gamma, activation=activation),
            m=m,
            seeds=config.lazy_seeds,
            steps=config.lazy_steps,
            key=key,
        )
        return LazyPoint(*r)

    return LazyUnit(
        activation=activation,
        gamma=gamma,
        by_alpha=[point(a, config.lazy_width) for a in config.lazy_alphas],
        by_width=[point(1.0, m) for m in config.lazy_widths],
    )


def lazy_fits(config: RegimesConfig, unit: LazyUnit) -> LazyFits:
    """Log-log fits of the drift and the kernel change against alpha (alpha >= --alpha-fit-min) and against m, each
    beside the exponent ``ntk_proofs.regimes.lazy.predicted_exponent`` gives."""
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.models.two_layer import TwoLayerFamily
    from ntk_proofs.regimes.lazy import predicted_exponent

    family = TwoLayerFamily(gamma=unit.gamma, activation=unit.activation)

    fits = {}
    for quantity in ("drift", "kernel_change"):
        alphas = np.array([p.alpha for p in unit.by_alpha])
        keep = alphas >= config.alpha_fit_min
        xa = np.repeat(alphas[keep], config.lazy_seeds)
        ya = np.concatenate([getattr(p, quantity) for p, k in zip(unit.by_alpha, keep) if k]) if keep.any() else []
        widths = np.array([p.m for p in unit.by_width])
        xm = np.repeat(widths, config.lazy_seeds)
        ym = np.concatenate([getattr(p, quantity) for p in unit.by_width])
        for axis, x, yv in (("alpha", xa, ya), ("width", xm, ym)):
            fit = Fit(*nt.loglog_slope(x, yv)) if len(x) >= 3 else None
            fits[f"{quantity}_vs_{axis}"] = LazyFit(fit=fit, predicted=predicted_exponent(quantity, axis, family))
    # the typical neuron's drift against m, on the widths where the finite-width correction is small
    by_width = [p for p in unit.by_width if p.m >= TYPICAL_FIT_MIN_WIDTH and p.rms_drift is not None]
    xm = np.repeat([p.m for p in by_width], config.lazy_seeds)
    ym = np.concatenate([p.rms_drift for p in by_width]) if by_width else []
    fit = Fit(*nt.loglog_slope(xm, ym)) if len({*xm}) >= 2 and len(xm) >= 3 else None
    rms = LazyFit(fit=fit, predicted=predicted_exponent("rms_drift", "width", family))
    return LazyFits(**fits, rms_drift_vs_width=rms)


# the typical-neuron drift exponent is fitted on m >= 256 (claims issue, item 5)
TYPICAL_FIT_MIN_WIDTH = 256


def summarize(config: RegimesConfig, units: RegimesUnits) -> RegimesSummary:
    from ntk_proofs.regimes.phases import REGIMES  # here: importing ntk_proofs imports JAX, which --help must not pay

    phases = units.phases
    counts = {REGIMES[c]: int(sum(int(np.sum(np.asarray(p.regime) == c)) for p in phases)) for c in range(len(REGIMES))}
    boundaries = units.boundaries
    boundary = boundaries[-1]  # the widest net
    lazy = {f"{u.activation}_g{u.gamma:g}": LazyFamily(**u._asdict(), fits=lazy_fits(config, u)) for u in units.lazy}
    return RegimesSummary(
        experiment=NAME,
        paper="Du, Zhai, Poczos & Singh (ICLR 2019), Theorem 3.2; Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari "
        "(2020); Chizat, Oyallon & Bach (NeurIPS 2019)",
        config=config,
        flow=units.flow,
        phases=phases,
        regime_counts=counts,
        regimes=list(REGIMES),
        boundaries=boundaries,
        boundary=WidestBoundary(
            *boundary, predicted_rise=1.0, predicted_divergence_linear_model=2.0, reported_divergence_relu=6.0
        ),
        catapult=units.catapult,
        lazy=lazy,
    )


def print_summary(summary: RegimesSummary) -> None:
    c = summary.config
    f = summary.flow
    mon = f.monitor
    s = f.solver
    o = f.order
    print(
        f"\nGradient flow (Du et al. 2019, Thm 3.2), n = {c.n}, m = {c.flow_m}, "
        f"lambda_0 = {f.lambda0:.4f}; {s.method}, rtol {s.rtol:g}, atol {s.atol:g}, "
        f"{s.accepted_steps} accepted / {s.rejected_steps} rejected steps"
    )
    print(
        format_table(
            ["conclusion", "held", "worst ratio (<= 1 holds)"],
            [[k, v.held, v.worst_ratio] for k, v in mon._asdict().items()],
        )
    )
    print(
        f"GD -> flow: max_k ||u_GD(k) - u_flow(k eta)|| ~ eta^p, p = {o.slope:.3f} "
        f"[{o.ci_low:.3f}, {o.ci_high:.3f}] (theory 1); flow's own error {f.flow_error:.2e}"
    )
    print(
        f"\nPhase boundaries (x = eta lambda_max(Theta(0)) / 2; {c.boundary_seeds} "
        "initializations per width, mean and 95% CI); predicted: the loss rises from x = 1 (eta = 2/lambda_max), "
        "divergence from x = 2 (linear model, eta = 4/lambda_max), about 6 for ReLU nets (Lewkowycz et al.)"
    )
    print(
        format_table(
            ["width m", "loss rises at x", "95% CI", "diverges at x", "95% CI"],
            [[e.m, e.rise.mean, _ci(e.rise), e.divergence.mean, _ci(e.divergence)] for e in summary.boundaries],
        )
    )
    print("runs per phase:", summary.regime_counts)
    rows = []
    for name, e in summary.lazy.items():
        for key, fit in e.fits._asdict().items():
            if fit is None:  # a summary older than the fit
                continue
            ft = fit.fit
            rows.append(
                [
                    name,
                    key,
                    "n/a" if ft is None else f"{ft.slope:.2f} [{ft.ci_low:.2f}, {ft.ci_high:.2f}]",
                    fit.predicted,
                ]
            )
    print(
        "\nLazy vs rich: fitted exponents (alpha >= "
        f"{c.alpha_fit_min:g}; widths at alpha = 1) beside the predicted ones"
    )
    print(format_table(["family", "quantity vs axis", "exponent [95% CI]", "predicted"], rows))


def _ci(e: Threshold) -> str:
    return "n/a" if e.ci_low is None else f"[{e.ci_low:.3f}, {e.ci_high:.3f}]"


# pre-registered margins of the regimes claims (never tuned on the result):
# Euler's global error is eta^1 up to O(eta^2) terms; over the step grid used, their relative size stays below 0.1
EULER_ORDER_MARGIN = 0.1
# Lewkowycz et al. give the thresholds 2/lambda_max and 4/lambda_max at infinite width; 10% allows finite m
THRESHOLD_MARGIN = 0.1
# drift ~ alpha^-1: the next term is O(alpha^-2), a relative correction 1/alpha <= 1/8 at alpha >= alpha_fit_min;
# its effect on a fitted slope over alpha in [8, 64] stays below 0.1
ALPHA_EXPONENT_MARGIN = 0.1
# the typical neuron's drift against m (m >= 256): finite-width corrections below 0.05 in the float64 replica
WIDTH_EXPONENT_MARGIN = 0.05


def claims(summary: RegimesSummary, command: str) -> list[Claim]:
    """Theorem 3.2 along the gradient flow; Euler's order; the Lewkowycz thresholds; Chizat's alpha^-1 and the
    typical neuron's m^-1/2 (NTK) or m^0 (mean-field) drift."""
    from ntk_proofs.claims import (  # here: importing ntk_proofs imports JAX, which --help must not pay
        Estimate,
        bound_claim,
        claim,
        exponent_claim,
    )

    rows = []
    f = summary.flow
    m_flow = summary.config.flow_m
    narrow = f"outside: m = {m_flow}, far below the Omega(n^6 / (lambda_0^4 delta^3)) width Thm 3.2 assumes"
    names = {
        "loss_envelope": "L(t) <= exp(-lambda_0 t) L(0)",
        "lambda_min_floor": "lambda_min(H(t)) >= lambda_0/2",
        "drift_radius": "||w_r(t) - w_r(0)|| <= R'",
    }
    for k, v in f.monitor._asdict().items():
        rows.append(
            bound_claim(
                "Du et al. (2019), Thm 3.2",
                f"gradient flow: {names[k]}, every solver step",
                v.worst_ratio,
                command,
                hypotheses=narrow,
            )
        )
    rows.append(
        exponent_claim(
            "Euler's method (GD) on the flow",
            "max_k ||u_GD(k) - u_flow(k eta)|| ~ eta^p",
            f.order,
            1.0,
            command,
            margin=EULER_ORDER_MARGIN,
        )
    )
    b = summary.boundary
    finite = f"outside: m = {b.m}, the thresholds are infinite-width results"
    rows.append(
        claim(
            "Lewkowycz et al. (2020)",
            f"the loss starts to rise at eta = x 2/lambda_max(Theta(0)), x = 1 (m = {b.m})",
            Estimate(b.rise.mean, b.rise.ci_low, b.rise.ci_high),
            "equals",
            1.0,
            command,
            margin=THRESHOLD_MARGIN,
            hypotheses=finite,
        )
    )
    rows.append(
        claim(
            "Lewkowycz et al. (2020)",
            "GD converges beyond 2/lambda_max, up to at least the linear model's 4/lambda_max (x >= 2)",
            Estimate(b.divergence.mean, b.divergence.ci_low, b.divergence.ci_high),
            "at_least",
            2.0,
            command,
            margin=THRESHOLD_MARGIN * 2,
            hypotheses=finite,
        )
    )
    for name, e in summary.lazy.items():
        fit = e.fits.drift_vs_alpha
        if fit.fit is not None:
            rows.append(
                exponent_claim(
                    "Chizat, Oyallon & Bach (2019), Thm 2.3",
                    f"weight drift ~ alpha^{fit.predicted:g} ({name})",
                    fit.fit,
                    fit.predicted,
                    command,
                    margin=ALPHA_EXPONENT_MARGIN,
                    hypotheses="outside: finite alpha (the theorem is the alpha -> infinity limit)",
                )
            )
        fit = e.fits.rms_drift_vs_width
        if fit is not None and fit.fit is not None:
            rows.append(
                exponent_claim(
                    "Du et al. (2019), Lemma 3.3 (NTK); mean-field (gamma = 1)",
                    f"typical (RMS) weight drift ~ m^{fit.predicted:g}, m >= {TYPICAL_FIT_MIN_WIDTH} ({name})",
                    fit.fit,
                    fit.predicted,
                    command,
                    margin=WIDTH_EXPONENT_MARGIN,
                    hypotheses="outside: digits data, a step 2 x 0.5 / lambda_max, not Thm 4.1's",
                )
            )
    return rows


def units_record(config: RegimesConfig, results: list[dict]) -> RegimesUnits:
    """The units as read back from their JSON (in the order of ``main``'s jobs), as records by kind."""
    widths = len(config.phase_widths)
    flow, *rest = results
    phases, boundaries = rest[:widths], rest[widths : 2 * widths]
    catapult, *lazy = rest[2 * widths :]
    return RegimesUnits(
        flow=from_jsonable(FlowUnit, flow),
        phases=from_jsonable(list[PhaseUnit], phases),
        boundaries=from_jsonable(list[BoundaryUnit], boundaries),
        catapult=from_jsonable(CatapultUnit, catapult),
        lazy=from_jsonable(list[LazyUnit], lazy),
    )


def main(argv: list[str] | None = None) -> RegimesSummary | NotMerged:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.regimes import plot_regimes  # here: matplotlib is heavy and --help skips it

    process = start_processes(config)
    base = unit_config(config, set())
    # the order units_record reads them in: flow, phases, boundaries, catapult, lazy
    jobs = [("flow", base, lambda: flow_unit(config))]
    jobs += [(f"phase_m{m}", base, lambda m=m: phase_unit(config, m)) for m in config.phase_widths]
    jobs += [(f"boundary_m{m}", base, lambda m=m: boundary_unit(config, m)) for m in config.phase_widths]
    jobs += [("catapult", base, lambda: catapult_unit(config))]
    jobs += [
        (f"lazy_{act}_g{gamma:g}", base, lambda act=act, gamma=gamma: lazy_unit(config, act, gamma))
        for act in config.activations
        for gamma in (0.5, 1.0)
    ]
    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="regimes",
        report=print_summary,
        plot=plot_regimes,
        summarize=lambda results: summarize(config, units_record(config, results)),
    )


if __name__ == "__main__":
    run_main(main)
