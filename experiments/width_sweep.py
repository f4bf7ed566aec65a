"""Du et al. (2019), Figure 1 and more: GD on the two-layer ReLU net as the width m grows.

    python -m experiments.width_sweep            # default: n = d = 500, 6 widths, 3 seeds, a few minutes
    python -m experiments.width_sweep --paper    # the paper's scale: n = d = 1000, 100 GD steps

For each width m and seed: train W by full-batch GD on synthetic unit-sphere data with Gaussian labels,
record the loss, lambda_min(H(k)), the fraction of flipped activation patterns and max_r ||w_r(k) - w_r(0)||,
and check the conclusions of Theorem 4.1 at every step. Writes <out>/width_sweep.{png,pdf,json} and keeps
one JSON per finished (width, seed) in <out>/width_sweep_runs/ so an interrupted sweep resumes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import Cluster, format_table, option, parse_config, run_main, set_precision, step_flag_problem
from experiments.cluster import NotMerged, cluster_problem, run_sweep, start_processes
from experiments.store import Check, Fit, Monitor, from_jsonable, monitor_record, unit_config

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "width_sweep"


@dataclass(frozen=True)
class SweepConfig(Cluster):
    n: int = option(500, "number of training points, uniform on the unit sphere")
    d: int = option(500, "input dimension")
    widths: tuple[int, ...] = option((16, 64, 256, 1024, 4096, 16384), "hidden widths m to sweep")
    eta: str = option(
        "auto",
        "GD step size: a number, 'auto' = 1 / lambda_max(H^inf) (half the largest stable step of the "
        "linearized dynamics), or 'theorem' = lambda_0 / (4 n^2), the step Theorem 4.1 allows (tiny)",
    )
    steps: int = option(100, "number of full-batch GD steps")
    seeds: int = option(
        3,
        "seeds per width (new data and init per seed); the fitted exponents get a confidence interval over "
        "all (width, seed) runs",
    )
    kappa: float = option(1.0, "init scale: w_r(0) ~ N(0, kappa^2 I)")
    record_every: int = option(1, "steps between recorded diagnostics (H(k), flips, drift); 0 = only at the end")
    delta: float = option(0.1, "failure probability used for the theorem's required width")
    own_step: bool = option(
        True,
        "also run Theorem 4.1 at its own step eta = lambda_0/(4 n^2) on n = d = 8 and 16 (tens of thousands of "
        "steps; --no-own-step skips it)",
    )
    paper: bool = option(
        False,
        "the paper's scale: n = d = 1000, 100 steps, widths 100..16000, 1 seed (flags given "
        "explicitly still win); tens of minutes on 2 CPU cores",
    )


QUICK = dict(n=24, d=24, widths=(64, 1024), steps=12, seeds=2, own_step=False)
PAPER = dict(n=1000, d=1000, widths=(100, 500, 1000, 2000, 4000, 8000, 16000), steps=100, seeds=1)


class Problem(NamedTuple):
    """One seed's data and the infinite-width quantities of Theorem 4.1 on it.

    Attributes:
      X: the inputs, shape (n, d), on the unit sphere.
      y: the Gaussian labels, shape (n,).
      H: H^inf (Du et al. 2019, eq. 6), shape (n, n), in X's dtype.
      H_spectrum: its eigendecomposition in X's dtype (``nt.kernel_spectrum``), shared by every width's kernel
        prediction.
      spectrum: the eigenvalues of H^inf computed in float64, increasing, shape (n,).
      lambda0: lambda_0 = lambda_min(H^inf) (float64).
      lambda_max: lambda_max(H^inf) (float64).
      eta_auto: the step of ``--eta auto``, 1 / lambda_max.
    """

    X: Any
    y: Any
    H: Any
    H_spectrum: Any
    spectrum: np.ndarray
    lambda0: float
    lambda_max: float
    eta_auto: float


class SeedsCheck(NamedTuple):
    """One conclusion of Theorem 4.1 at one width, over its seeds.

    Attributes:
      held: it held at every step on every seed.
      seeds_failed: on how many seeds it failed.
      first_failure: the earliest failing step (GD steps) over the seeds, -1 if it held.
      worst_ratio: the largest worst ratio (measured / bound, dimensionless) over the seeds; None where infinite.
    """

    held: bool
    seeds_failed: int
    first_failure: int
    worst_ratio: float | None


class SeedsMonitor(NamedTuple):
    """(C1)-(C3) of Theorem 4.1 at one width, over its seeds (fields as in ``Monitor``)."""

    loss_envelope: SeedsCheck
    lambda_min_floor: SeedsCheck
    drift_radius: SeedsCheck


class WidthUnit(NamedTuple):
    """One width on one seed (``run_unit``): the run's history and the quantities of Theorem 4.1. Per-step
    sequences are arrays when computed and lists once read back from the unit's JSON.

    Attributes:
      kind: "width" (an own-step run is an ``OwnStepUnit``).
      m: the width (hidden units).
      seed: the seed of the data and the init.
      seconds: wall-clock time of the GD run (s).
      loss: L(k) = 0.5 ||u(k) - y||^2 at every step k = 0..steps.
      envelope: Theorem 4.1's (1 - eta lambda_0 / 2)^k L(0) at every step.
      recorded_steps: the steps of the recorded diagnostics.
      lambda_min: lambda_min(H(k)) at the recorded steps.
      flip_fraction: the fraction of activation patterns flipped since k = 0, at the recorded steps.
      max_drift: max_r ||w_r(k) - w_r(0)|| at the recorded steps (input units).
      final_loss: L at the last step.
      final_flip_fraction: the flip fraction after the last step.
      final_max_drift: max_r ||w_r(K) - w_r(0)|| after the last step.
      final_rms_drift: the RMS over neurons of ||w_r(K) - w_r(0)|| after the last step.
      final_lambda_min: lambda_min(H(K)) after the last step.
      predicted_loss: the H^inf kernel prediction of L(k) from this run's start (float64), every step.
      rate: the late per-step contraction of the loss, exp of the least-squares slope of log L over the second half
        of ``rate_steps``.
      rate_envelope: the tightest rho with L(k) <= rho^k L(0) over ``rate_steps``.
      rate_kernel: ``rate`` measured on ``predicted_loss``, over its own steps above the floor.
      rate_kernel_envelope: ``rate_envelope`` of ``predicted_loss``.
      rate_kernel_slowest: (1 - eta lambda_0)^2, the kernel's slowest mode.
      rate_theorem: 1 - eta lambda_0 / 2.
      rate_steps: [first, last] step of the loss above the round-off floor.
      loss_floor: the round-off floor L(0) (100 eps)^2.
      kernel_gap: max |L(k) - L_kernel(k)| / L(0) over ``rate_steps`` (dimensionless).
      certified: whether (C2) was proved (Cholesky) at each recorded step; None where not certified.
      factorizations: how many Cholesky factorizations the proof of (C2) took.
      proof_margin: the smallest margin of the (C2) certificate over the run.
      lambda_min_residual: ||H v - theta v|| of the Ritz pair at the recorded steps; None with eigh.
      residual0: ||y - u(0)||.
      drift_radius: R' = 4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) (input units).
      required_width: the width the proof of Theorem 4.1 needs at ``delta`` (hidden units).
      monitor: (C1)-(C3) along the run.
    """

    kind: str
    m: int
    seed: int
    seconds: float
    loss: list[float]
    envelope: list[float]
    recorded_steps: list[int]
    lambda_min: list[float]
    flip_fraction: list[float]
    max_drift: list[float]
    final_loss: float
    final_flip_fraction: float
    final_max_drift: float
    final_rms_drift: float
    final_lambda_min: float
    predicted_loss: list[float]
    rate: float
    rate_envelope: float
    rate_kernel: float
    rate_kernel_envelope: float
    rate_kernel_slowest: float
    rate_theorem: float
    rate_steps: list[int]
    loss_floor: float
    kernel_gap: float
    certified: list[bool] | None
    factorizations: int
    proof_margin: float
    lambda_min_residual: list[float] | None
    residual0: float
    drift_radius: float
    required_width: float
    monitor: Monitor


class OwnStepUnit(NamedTuple):
    """Theorem 4.1 at its own step eta = lambda_0 / (4 n^2) on n points in d = n (``own_step_unit``).

    Attributes:
      kind: "own_step".
      n: the number of points (= d).
      seed: the run's seed (its data and init use ``1000 + seed``).
      m: the width (hidden units), ``OWN_STEP_WIDTH``.
      eta: the step, lambda_0 / (4 n^2).
      lambda0: lambda_0 of the data.
      steps: the number of GD steps.
      loss_ratio: L(K) / L(0).
      loss: L(k), every max(1, steps // 400)-th step.
      rate: the late per-step contraction of the loss.
      rate_theorem: 1 - eta lambda_0 / 2.
      width_factor: m / the width the proof requires (dimensionless).
      factorizations: how many Cholesky factorizations the proof of (C2) took.
      monitor: (C1)-(C3) along the run.
    """

    kind: str
    n: int
    seed: int
    m: int
    eta: float
    lambda0: float
    steps: int
    loss_ratio: float
    loss: list[float]
    rate: float
    rate_theorem: float
    width_factor: float
    factorizations: int
    monitor: Monitor


class WidthRow(NamedTuple):
    """One width of the sweep: the median over its seeds of each measurement (fields as in ``WidthUnit``), the
    rate's step range and the monitor over the seeds.

    Attributes:
      m: the width (hidden units).
      final_loss: median L(K).
      rate: median late contraction per step.
      rate_envelope: median tightest envelope rate.
      rate_kernel: median rate of the kernel prediction.
      rate_kernel_slowest: median (1 - eta lambda_0)^2.
      rate_theorem: median 1 - eta lambda_0 / 2.
      kernel_gap: median max |L - L_kernel| / L(0).
      final_flip_fraction: median flip fraction after the last step.
      final_max_drift: median max drift after the last step (input units).
      final_rms_drift: median RMS drift after the last step (input units).
      drift_radius: median R' (input units).
      final_lambda_min: median lambda_min(H(K)).
      required_width: median width the proof needs (hidden units).
      rate_steps: [the smallest first step, the smallest last step] of the seeds' rate ranges.
      monitor: (C1)-(C3) over the seeds.
    """

    m: int
    final_loss: float
    rate: float
    rate_envelope: float
    rate_kernel: float
    rate_kernel_slowest: float
    rate_theorem: float
    kernel_gap: float
    final_flip_fraction: float
    final_max_drift: float
    final_rms_drift: float
    drift_radius: float
    final_lambda_min: float
    required_width: float
    rate_steps: list[int]
    monitor: SeedsMonitor


class WidthFits(NamedTuple):
    """The fitted exponents in m over every (width, seed) run.

    Attributes:
      max_drift: of max_r ||w_r(K) - w_r(0)|| (theory: -1/2).
      rms_drift: of the RMS drift, on the widths m >= ``TYPICAL_FIT_MIN_WIDTH`` (theory: -1/2); None in summaries
        older than this fit.
      flip_fraction: of the flip fraction after the last step (theory: -1/2).
      drift_radius: of R' (exactly -1/2).
      kernel_gap: of the gap to the kernel prediction (theory: at most -1/2).
    """

    max_drift: Fit
    rms_drift: Fit | None
    flip_fraction: Fit
    drift_radius: Fit
    kernel_gap: Fit


class WidthSweepSummary(NamedTuple):
    """What the width sweep saves as <out>/width_sweep.json, prints and plots, and what its claims read.

    Attributes:
      experiment: "width_sweep".
      paper: the paper and the results checked.
      config: the run's flags.
      eta: the GD step used.
      lambda0: lambda_0 of each seed's data, by seed (as a string).
      lambda_max: lambda_max(H^inf) of each seed's data, by seed.
      spectrum_float64: the float64 spectrum of H^inf of each seed's data, increasing, by seed.
      theorem_max_step: the step Theorem 4.1 allows, lambda_0 / (4 n^2), at the smallest lambda_0.
      per_width: one row per width, in increasing order.
      fits: the fitted exponents in m.
      own_step: the runs at the theorem's own step, by n and seed (empty with --no-own-step).
      units: every (width, seed) run, by width and seed.
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, the numerical stack and the JAX backend (``store.versions``).
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """

    experiment: str
    paper: str
    config: SweepConfig
    eta: float
    lambda0: dict[str, float]
    lambda_max: dict[str, float]
    spectrum_float64: dict[str, list[float]]
    theorem_max_step: float
    per_width: list[WidthRow]
    fits: WidthFits
    own_step: list[OwnStepUnit]
    units: list[WidthUnit]
    reused_units: int | None = None
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = WidthSweepSummary  # the record <out>/width_sweep.json loads into (``experiments.all``)


def unit_record(data: dict) -> WidthUnit | OwnStepUnit:
    """A unit as read back from its JSON, as the record of its ``kind``."""
    return from_jsonable(OwnStepUnit if data["kind"] == "own_step" else WidthUnit, data)


def parse_args(argv: list[str] | None = None) -> SweepConfig:
    return parse_config(
        SweepConfig,
        argv,
        prog="python -m experiments.width_sweep",
        description="Reproduce Figure 1 of Du, Zhai, Poczos & Singh (ICLR 2019) and check Theorem 4.1 as the width "
        "m grows: loss vs the linear-rate envelope, activation-pattern flips, distance from init vs R', "
        "lambda_min(H(k)) vs lambda_0 / 2, and fitted scaling exponents in m.",
        presets=dict(paper=PAPER, quick=QUICK),
        sort=("widths",),
        validate=_problems,
        resumable=True,
    )


def _problems(c: SweepConfig) -> str | None:
    """The first usage error in a config, or None."""
    for name in ("n", "d", "seeds"):
        if getattr(c, name) < 1:
            return f"--{name} must be at least 1; got {getattr(c, name)}."
    if min(c.widths) < 1:
        return f"--widths must all be at least 1; got {list(c.widths)}."
    if c.steps < 1:
        return f"--steps must be at least 1; got {c.steps}."
    if c.record_every < 0:
        return "--record-every must be >= 0."
    if not 0 < c.delta < 1:
        return f"--delta must lie in (0, 1); got {c.delta}."
    return cluster_problem(c) or step_flag_problem(c.eta, ("auto", "theorem"))


def make_problem(config: SweepConfig, seed: int) -> Problem:
    """Data, labels and the infinite-width quantities for one seed."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt
    from ntk_proofs.du2019.gram import gram_infinity_float64

    kx, ky, _ = jax.random.split(jax.random.PRNGKey(seed), 3)
    X = nt.unit_sphere(kx, config.n, config.d)
    y = nt.gaussian_labels(ky, config.n)
    H = gram_infinity_float64(X)  # the theorem's constants come from the float64 spectrum, in every precision
    spectrum = np.linalg.eigvalsh(H)
    nt.lambda_zero(X)  # refuses parallel inputs (lambda_0 ~ 0) with an error that says so
    H_working = jax.numpy.asarray(H, X.dtype)
    return Problem(
        X=X,
        y=y,
        H=H_working,
        H_spectrum=nt.kernel_spectrum(H_working),
        spectrum=spectrum,
        lambda0=float(spectrum[0]),
        lambda_max=float(spectrum[-1]),
        eta_auto=1.0 / float(spectrum[-1]),
    )


def resolve_eta(config: SweepConfig, problem: Problem) -> float:
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay

    if config.eta == "auto":
        return problem.eta_auto
    if config.eta == "theorem":
        return nt.max_step_size(config.n, problem.lambda0)
    return float(config.eta)


def run_unit(config: SweepConfig, problem: Problem, m: int, seed: int, eta: float) -> WidthUnit:
    """Train one width on one seed and measure every quantity of Theorem 4.1 along the way."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    _, _, kw = jax.random.split(jax.random.PRNGKey(seed), 3)
    X, y, lambda0 = problem.X, problem.y, problem.lambda0
    params = nt.init_params(jax.random.fold_in(kw, m), m, config.d, kappa=config.kappa)
    start = time.perf_counter()
    result = nt.train_gd(  # (C2) proved at every step, the diagnostics every record_every steps
        params,
        X,
        y,
        eta=eta,
        steps=config.steps,
        record_every=config.record_every,
        certify_lambda0=lambda0,
        certify_every=1,
    )
    loss = np.asarray(result.loss)
    seconds = time.perf_counter() - start
    # the H^inf kernel prediction of the loss from this run's own start (Arora et al. 2019, Thm 4.1), and the
    # rates of both measured above the run's round-off floor, on the same steps
    rate = nt.empirical_rate(loss)
    predicted = np.asarray(
        nt.kernel_prediction(
            problem.H, y - nt.predict(params, X), eta=eta, steps=config.steps, spectrum=problem.H_spectrum
        ),
        np.float64,
    )
    rate_kernel = nt.empirical_rate(predicted, floor=rate.floor)
    clean = slice(rate.first_step, rate.last_step + 1)
    kernel_gap = float(np.max(np.abs(loss[clean] - predicted[clean])) / loss[0])
    residual0 = math.sqrt(2.0 * float(loss[0]))
    r_prime = nt.drift_radius(config.n, residual0, m, lambda0)
    monitor = nt.theorem_monitor(result, eta=eta, lambda0=lambda0, drift_bound=r_prime)
    h = result.history
    return WidthUnit(
        kind="width",
        m=m,
        seed=seed,
        seconds=seconds,
        loss=loss,
        envelope=nt.linear_rate_envelope(loss[0], eta, lambda0, config.steps),
        recorded_steps=h.step,
        lambda_min=h.lambda_min,
        flip_fraction=h.flip_fraction,
        max_drift=h.max_drift,
        final_loss=float(loss[-1]),
        final_flip_fraction=float(result.flip_fraction),
        final_max_drift=float(result.max_drift),
        final_rms_drift=float(np.sqrt(np.mean(np.sum((np.asarray(result.params.W) - np.asarray(params.W)) ** 2, 1)))),
        final_lambda_min=float(result.lambda_min),
        predicted_loss=predicted,
        rate=rate.geometric,
        rate_envelope=rate.envelope,
        rate_kernel=rate_kernel.geometric,
        rate_kernel_envelope=rate_kernel.envelope,
        rate_kernel_slowest=(1.0 - eta * lambda0) ** 2,
        rate_theorem=nt.theorem_rate(eta, lambda0),
        rate_steps=[rate.first_step, rate.last_step],
        loss_floor=rate.floor,
        kernel_gap=kernel_gap,
        certified=h.certified,
        factorizations=result.certificate.factorizations,
        proof_margin=float(np.min(result.certificate.margin)),
        lambda_min_residual=h.lambda_min_residual,
        residual0=residual0,
        drift_radius=r_prime,
        required_width=nt.required_width(config.n, lambda0, residual0, config.delta),
        monitor=monitor_record(monitor),
    )


# the fields of ``WidthRow`` that are the median over seeds of the same field of ``WidthUnit``
MEDIAN_OVER_SEEDS = (
    "final_loss",
    "rate",
    "rate_envelope",
    "rate_kernel",
    "rate_kernel_slowest",
    "rate_theorem",
    "kernel_gap",
    "final_flip_fraction",
    "final_max_drift",
    "final_rms_drift",
    "drift_radius",
    "final_lambda_min",
    "required_width",
)


def seeds_check(checks: list[Check]) -> SeedsCheck:
    """One conclusion over the seeds of a width: held on every seed, the earliest failure, the worst ratio."""
    failures = [c.first_failure for c in checks if not c.held]
    ratios = [np.inf if c.worst_ratio is None else c.worst_ratio for c in checks]
    return SeedsCheck(
        held=not failures,
        seeds_failed=len(failures),
        first_failure=min(failures) if failures else -1,
        worst_ratio=float(np.max(ratios)),
    )


def summarize(
    config: SweepConfig, eta: float, problems: dict[int, Problem], results: list[WidthUnit | OwnStepUnit]
) -> WidthSweepSummary:
    """Aggregate the width units per width (median over seeds; monitor: held on every seed, earliest failure);
    the own-step units (``OwnStepUnit``) go to ``own_step`` as they are."""
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay

    units = [u for u in results if isinstance(u, WidthUnit)]
    own_step = sorted((u for u in results if isinstance(u, OwnStepUnit)), key=lambda u: (u.n, u.seed))
    per_width = []
    for m in config.widths:
        runs = [u for u in units if u.m == m]
        medians = {key: float(np.median([getattr(u, key) for u in runs])) for key in MEDIAN_OVER_SEEDS}
        monitor = SeedsMonitor(*(seeds_check(list(checks)) for checks in zip(*(u.monitor for u in runs))))
        rate_steps = [int(min(u.rate_steps[0] for u in runs)), int(min(u.rate_steps[1] for u in runs))]
        per_width.append(WidthRow(m=m, **medians, rate_steps=rate_steps, monitor=monitor))
    ms = [u.m for u in units]
    typical = [u for u in units if u.m >= TYPICAL_FIT_MIN_WIDTH]
    fits = WidthFits(
        max_drift=Fit(*nt.loglog_slope(ms, [u.final_max_drift for u in units])),
        # the typical neuron's drift, on the widths where the m^-1/2 regime has set in (claims issue, item 5)
        rms_drift=Fit(*nt.loglog_slope([u.m for u in typical], [u.final_rms_drift for u in typical])),
        flip_fraction=Fit(*nt.loglog_slope(ms, [u.final_flip_fraction for u in units])),
        drift_radius=Fit(*nt.loglog_slope(ms, [u.drift_radius for u in units])),
        kernel_gap=Fit(*nt.loglog_slope(ms, [u.kernel_gap for u in units])),
    )
    lambda0 = [p.lambda0 for p in problems.values()]
    return WidthSweepSummary(
        experiment=NAME,
        paper="Du, Zhai, Poczos & Singh (ICLR 2019), Gradient Descent Provably Optimizes Over-parameterized "
        "Neural Networks: Theorem 4.1, Figure 1",
        config=config,
        eta=eta,
        lambda0=dict(zip(map(str, problems), lambda0)),
        lambda_max=dict(zip(map(str, problems), [p.lambda_max for p in problems.values()])),
        spectrum_float64={str(seed): p.spectrum for seed, p in problems.items()},
        theorem_max_step=nt.max_step_size(config.n, min(lambda0)),
        per_width=per_width,
        fits=fits,
        own_step=own_step,
        units=sorted(units, key=lambda u: (u.m, u.seed)),
    )


# the RMS drift is fitted on m >= 256: below it the narrowest nets leave the m^-1/2 regime (their lambda_min falls
# below lambda_0/2), which is a finite-width effect, not the prediction under test
TYPICAL_FIT_MIN_WIDTH = 256
# Theorem 4.1 at its own step eta = lambda_0 / (4 n^2) (``max_step_size``): data sizes (d = n), width and steps.
# The step is ~1e-4, so the loss needs ~1/(eta lambda_0) ~ 1e4 steps to fall by a factor e.
OWN_STEP_NS = (8, 16)
OWN_STEP_WIDTH = 1024
OWN_STEP_STEPS = {8: 20_000, 16: 80_000}


def own_step_job(config: SweepConfig, n: int, seed: int):
    """The job that runs ``own_step_unit(config, n, seed)``."""
    return lambda: own_step_unit(config, n, seed)


def own_step_unit(config: SweepConfig, n: int, seed: int) -> OwnStepUnit:
    """Theorem 4.1 inside its step hypothesis: n points on the sphere in d = n, eta = lambda_0 / (4 n^2), width
    ``OWN_STEP_WIDTH``. Checks (C1) at every step, (C2) proved at every step, (C3) at every recorded step, and
    measures the rate beside 1 - eta lambda_0 / 2. The width stays far below the proof's (``width_factor``)."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    kx, ky, kw = jax.random.split(jax.random.PRNGKey(1000 + seed), 3)
    X = nt.unit_sphere(kx, n, n)
    y = nt.gaussian_labels(ky, n)
    lambda0 = nt.lambda_zero(X)
    eta = nt.max_step_size(n, lambda0)
    steps = OWN_STEP_STEPS[n]
    params = nt.init_params(kw, OWN_STEP_WIDTH, n, kappa=config.kappa)
    record_every = steps // 200
    result = nt.train_gd(
        params, X, y, eta=eta, steps=steps, record_every=record_every, certify_lambda0=lambda0, certify_every=1
    )
    loss = np.asarray(result.loss, np.float64)
    residual0 = math.sqrt(2.0 * float(loss[0]))
    r_prime = nt.drift_radius(n, residual0, OWN_STEP_WIDTH, lambda0)
    monitor = nt.theorem_monitor(result, eta=eta, lambda0=lambda0, drift_bound=r_prime)
    rate = nt.empirical_rate(loss)
    return OwnStepUnit(
        kind="own_step",
        n=n,
        seed=seed,
        m=OWN_STEP_WIDTH,
        eta=eta,
        lambda0=float(lambda0),
        steps=steps,
        loss_ratio=float(loss[-1] / loss[0]),
        loss=loss[:: max(1, steps // 400)],
        rate=rate.geometric,
        rate_theorem=nt.theorem_rate(eta, lambda0),
        width_factor=OWN_STEP_WIDTH / nt.required_width(n, lambda0, residual0, config.delta),
        factorizations=result.certificate.factorizations,
        monitor=monitor_record(monitor),
    )


def print_summary(summary: WidthSweepSummary) -> None:
    c = summary.config
    lam = list(summary.lambda0.values())
    print(
        f"\nDu et al. (2019) width sweep: n={c.n}, d={c.d}, {c.steps} GD steps, eta={summary.eta:.4g} "
        f"(Theorem 4.1 allows eta <= lambda_0/(4n^2) = {summary.theorem_max_step:.2e}), "
        f"lambda_0={np.median(lam):.4f}, seeds={c.seeds}"
    )
    rows = []
    for w in summary.per_width:
        mon = w.monitor
        rows.append(
            [
                w.m,
                w.final_loss,
                w.rate,
                w.rate_kernel,
                w.rate_theorem,
                w.rate_envelope,
                f"{w.rate_steps[0]}-{w.rate_steps[1]}",
                w.kernel_gap,
                w.final_flip_fraction,
                w.final_max_drift,
                w.final_max_drift / w.drift_radius,
                _verdict(mon.loss_envelope),
                _verdict(mon.lambda_min_floor),
                _verdict(mon.drift_radius),
            ]
        )
    headers = [
        "m",
        "L(K)",
        "rate",
        "rate_kernel",
        "rate_theorem",
        "envelope",
        "rate_steps",
        "kernel gap",
        "flip frac",
        "max drift",
        "drift/R'",
        "L<=envelope",
        "lmin>=l0/2 (proved)",
        "drift<=R'",
    ]
    print(format_table(headers, rows))
    print(
        "rate: the late per-step contraction of the loss (least squares over the second half of rate_steps, the "
        "steps above the round-off floor L(0) (100 eps)^2); rate_kernel: the same measurement on the H^inf "
        "kernel prediction, over its own steps above the floor; rate_theorem: 1 - eta lambda_0 / 2; envelope: "
        "the tightest rho with L(k) <= rho^k L(0) "
        "over rate_steps. kernel gap: max |L(k) - L_kernel(k)| / L(0) over rate_steps. Monitor: 'ok' = "
        "held at every step on every seed, 'FAIL@k' = first failing step; (x) = worst measured/bound ratio over "
        "k >= 1; (C2) is proved at every step (Cholesky where needed, Weyl's inequality in between)."
    )
    fits = summary.fits
    for f, label, theory in (
        (fits.max_drift, "max drift", -0.5),
        (fits.flip_fraction, "flip fraction", -0.5),
        (fits.kernel_gap, "kernel gap", -0.5),
    ):
        print(
            f"fitted slope of {label} vs m: {f.slope:.3f}  "
            f"(95% CI [{f.ci_low:.3f}, {f.ci_high:.3f}], {f.points} runs; theory: {theory})"
        )
    rms = fits.rms_drift
    if rms is not None:
        print(
            f"fitted slope of RMS drift vs m (m >= {TYPICAL_FIT_MIN_WIDTH}): {rms.slope:.3f}  "
            f"(95% CI [{rms.ci_low:.3f}, {rms.ci_high:.3f}], {rms.points} runs; theory: -0.5)"
        )
    own = summary.own_step
    if own:
        print("\nTheorem 4.1 at its own step eta = lambda_0 / (4 n^2), d = n (inside the step hypothesis):")
        rows = [
            [
                r.n,
                r.seed,
                r.m,
                f"{r.eta:.3g}",
                r.steps,
                f"{r.loss_ratio:.3g}",
                f"{1 - r.rate:.3g}",
                f"{1 - r.rate_theorem:.3g}",
                *(_verdict(check) for check in r.monitor),
                f"{r.width_factor:.1e}",
            ]
            for r in own
        ]
        headers = ["n", "seed", "m", "eta", "steps", "L(K)/L(0)", "1 - rate", "eta lam0/2", "C1", "C2", "C3"]
        print(format_table([*headers, "m / required"], rows))
    req = [w.required_width for w in summary.per_width]
    print(
        f"width the proof of Theorem 4.1 needs (explicit constants, delta={c.delta}): {min(req):.2e} .. {max(req):.2e}"
    )


def _verdict(check: Check | SeedsCheck) -> str:
    worst = check.worst_ratio
    ratio = "(inf)" if worst is None else f"({worst:.3g})"  # JSON keeps an infinite ratio as null
    return f"ok {ratio}" if check.held else f"FAIL@{check.first_failure} {ratio}"


# pre-registered margins of the width-sweep claims (never tuned on the result):
# the flip fraction and the drift exponents: finite-width corrections to -1/2 at m >= 256 stay below 0.05 in the
# float64 replica of the sweep
EXPONENT_MARGIN = 0.05
# the kernel-gap O(m^-1/2) bound: the gap's own finite-width correction, as for the exponents above
KERNEL_GAP_MARGIN = 0.05
# the measured rate against the H^inf kernel's: the two are measured over different above-floor steps, whose
# per-step contraction differs by up to 0.02 between the early and late halves of a run
RATE_MARGIN = 0.02


def hypotheses(summary: WidthSweepSummary) -> str:
    """Where the widest runs sit against Theorem 4.1's hypotheses: their width as a fraction of the proof's
    explicit width, their step as a multiple of the step it allows."""
    widest = summary.per_width[-1]
    width = widest.m / widest.required_width
    step = summary.eta / summary.theorem_max_step
    return f"outside: m = {width:.1e} x the width Thm 4.1 requires, eta = {step:.1e} x the step it allows"


def claims(summary: WidthSweepSummary, command: str) -> list[Claim]:
    """The claims this experiment checks, for figures/CLAIMS.md: Theorem 4.1's conclusions (C1)-(C3) at the widest
    width (at practical widths and steps: outside the theorem's hypotheses), the m^-1/2 scaling of the drift and
    of the flip fraction, the rate against the theorem's and the kernel's, and the run at the theorem's own step
    when the summary holds one."""
    from ntk_proofs.claims import (  # here: importing ntk_proofs imports JAX, which --help must not pay
        bound_claim,
        claim,
        exponent_claim,
    )
    from ntk_proofs.du2019.bounds import MONITOR_CHECKS

    outside = hypotheses(summary)
    concl = "Du et al. (2019), Thm 4.1's conclusions at practical widths and steps"
    widest = summary.per_width[-1]
    m = widest.m
    seeds = summary.config.seeds
    rows = []
    where = {"loss_envelope": " at every step", "lambda_min_floor": " at every step", "drift_radius": ""}
    for key, text in MONITOR_CHECKS:
        check = getattr(widest.monitor, key)
        rows.append(
            bound_claim(
                concl, f"{text}{where[key]}, m = {m}, {seeds} seeds", check.worst_ratio, command, hypotheses=outside
            )
        )
    drift = summary.fits.rms_drift
    rows.append(
        exponent_claim(
            "Du et al. (2019), Lemma 3.3 / Fig. 1c",
            "RMS drift over neurons ~ m^-1/2, m >= 256 (fitted exponent, 95% CI)"
            if drift is not None
            else "max drift ~ m^-1/2, every width (fitted exponent, 95% CI)",
            drift if drift is not None else summary.fits.max_drift,
            -0.5,
            command,
            margin=EXPONENT_MARGIN,
            hypotheses=outside,
        )
    )
    rows.append(
        exponent_claim(
            "Du et al. (2019), Lemma 3.2 / Fig. 1b",
            "flip fraction ~ m^-1/2 (fitted exponent, 95% CI)",
            summary.fits.flip_fraction,
            -0.5,
            command,
            margin=EXPONENT_MARGIN,
            hypotheses=outside,
        )
    )
    rows.append(
        bound_claim(
            concl,
            f"(C1) measured rate / the theorem's 1 - eta lambda_0/2, m = {m}",
            widest.rate / widest.rate_theorem,
            command,
            hypotheses=outside,
            measured=f"{widest.rate:.4f} / {widest.rate_theorem:.4f}",
        )
    )
    rows.append(
        claim(
            "Arora et al. (2019), Thm 4.1",
            f"measured rate equals the H^inf kernel's ({widest.rate_kernel:.4f}; each over its own steps above the "
            f"round-off floor), m = {m}",
            widest.rate,
            "equals",
            widest.rate_kernel,
            command,
            margin=RATE_MARGIN,
            hypotheses="outside: finite width m, the theorem's limit is m -> infinity",
        )
    )
    rows.append(
        exponent_claim(
            "Arora et al. (2019); Lee et al. (2019), Thm 2.1",
            "gap to the H^inf kernel prediction = O(m^-1/2)",
            summary.fits.kernel_gap,
            -0.5,
            command,
            test="at_most",
            margin=KERNEL_GAP_MARGIN,
            hypotheses="outside: eta = "
            f"{summary.eta / summary.theorem_max_step:.1e} x the step Thm 4.1 allows; Lee et al. assume "
            "gradient flow or a small enough step",
        )
    )
    rows.extend(own_step_claims(summary, command))
    return rows


def own_step_claims(summary: WidthSweepSummary, command: str) -> list[Claim]:
    """Theorem 4.1 at its own step (``own_step_unit``): (C1)-(C3) on every run, and the measured rate against
    1 - eta lambda_0 / 2, inside the step hypothesis and outside the width one."""
    from ntk_proofs.claims import bound_claim  # here: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.du2019.bounds import MONITOR_CHECKS

    runs = summary.own_step
    rows = []
    for n in sorted({r.n for r in runs}):
        at_n = [r for r in runs if r.n == n]
        factor = max(r.width_factor for r in at_n)
        where = f"outside: width only (m = {factor:.1e} x required); inside: the step eta = lambda_0/(4 n^2)"
        for key, text in MONITOR_CHECKS:
            worst = max(getattr(r.monitor, key).worst_ratio for r in at_n)
            rows.append(
                bound_claim(
                    "Du et al. (2019), Thm 4.1",
                    f"{text} at the theorem's step, n = d = {n}, m = {at_n[0].m}, {len(at_n)} seeds",
                    worst,
                    command,
                    hypotheses=where,
                )
            )
        worst = max(r.rate / r.rate_theorem for r in at_n)
        rows.append(
            bound_claim(
                "Du et al. (2019), Thm 4.1",
                f"measured rate / 1 - eta lambda_0/2 at the theorem's step, n = d = {n}",
                worst,
                command,
                hypotheses=where,
                measured=", ".join(f"{r.rate:.8f} / {r.rate_theorem:.8f}" for r in at_n),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> WidthSweepSummary | NotMerged:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.width_sweep import plot_width_sweep  # here: matplotlib is heavy and --help skips it

    process = start_processes(config)
    seeds = [config.seed + s for s in range(config.seeds)]
    problems = {s: make_problem(config, s) for s in seeds}
    eta = resolve_eta(config, problems[seeds[0]])
    per_run = dict(unit_config(config, {"widths", "seeds", "paper", "own_step"}), eta=eta)

    jobs = [
        (
            f"m{m}_seed{s}",
            dict(per_run, kind="width", m=m, seed=s),
            lambda m=m, s=s: run_unit(config, problems[s], m, s, eta),
        )
        for s in seeds
        for m in config.widths
    ]
    if config.own_step:  # Theorem 4.1 at its own step: units like the others (resumed, shared across processes)
        own = dict(kind="own_step", kappa=config.kappa, delta=config.delta, x64=per_run["x64"], m=OWN_STEP_WIDTH)
        jobs += [
            (f"own_step_n{n}_seed{s}", dict(own, n=n, seed=s, steps=OWN_STEP_STEPS[n]), own_step_job(config, n, s))
            for n in OWN_STEP_NS
            for s in range(config.seeds)
        ]
    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="width sweep",
        summarize=lambda units: summarize(config, eta, problems, [unit_record(u) for u in units]),
        report=print_summary,
        plot=plot_width_sweep,
    )


if __name__ == "__main__":
    run_main(main)
