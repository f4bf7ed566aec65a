"""How wide is wide enough? The critical width m*(n, d, lambda_0) of each conclusion of Du et al. (2019), as a
scaling law fitted over data families, sizes and independent data sets.

    python -m experiments.critical_width            # default: 2 families, n = 8-32, 2 data sets each
    python -m experiments.critical_width --full     # n = 8-512, 4 families, 5-10 data sets, the flow criteria (77 min)
    python -m experiments.critical_width --npz my_data.npz --families npz   # your data: its m* and each bound's width

For each data family, size n and data set, ``critical_widths`` finds, for every criterion ("init",
"concentration", "trajectory", "linear", "kernel" and the small-step "trajectory_flow", "linear_flow"; see
ntk_proofs.du2019.critical_width), the smallest width m at which it holds on a fraction 1 - delta of random
initializations, and a second estimate from a logistic fit of the hold outcomes against log m. The summary fits
log m* = a log n + b log d + c log lambda_0 + const over every unit, and per family m* ~ n^p and the counting
ratio m* d / n, each with a two-level bootstrap (data sets, then initializations; ntk_proofs.du2019.width_law). It
sets the published requirements (ntk_proofs.du2019.published_widths) beside the measurements. Writes
<out>/critical_width.{png,pdf,json}; one JSON per finished (family, n, data set) in <out>/critical_width_runs/ lets
an interrupted run resume.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import (
    Cluster,
    format_fit,
    format_table,
    format_width,
    option,
    parse_config,
    run_main,
    set_precision,
    step_flag_problem,
)
from experiments.cluster import NotMerged, cluster_problem, run_sweep, start_processes
from experiments.store import Fit, UnitStore, equal_except, from_jsonable, read_json, unit_config

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "critical_width"
FAMILIES = ("sphere", "sphere_quarter_d", "sphere_fixed_d", "digits", "npz")
CRITERIA = ("init", "concentration", "trajectory", "linear", "kernel", "trajectory_flow", "linear_flow")
FLOW_CRITERIA = ("trajectory_flow", "linear_flow")
NOT_RUN = "not run"  # the censoring field of a criterion a unit did not run (``unit_criteria``)
# the exponent claims' margin: the grid is 2^(1/4), so one grid step at one end of n = 8..32 moves a slope by
# 0.125; an exponent is "at most p" only when its whole interval lies below p + this margin
EXPONENT_MARGIN = 0.0


@dataclass(frozen=True)
class CriticalConfig(Cluster):
    families: tuple[str, ...] = option(
        ("sphere", "digits"),
        "data families: 'sphere' (unit sphere, d = n: Du et al.'s Figure 1), 'sphere_quarter_d' (unit sphere, "
        "d = n/4), 'sphere_fixed_d' (unit sphere, d = --fixed-d), 'digits' (scikit-learn's bundled digits, odd vs "
        "even, random subsets), 'npz' (the file of --npz, random subsets)",
        choices=FAMILIES,
    )
    ns: tuple[int, ...] = option((8, 16, 32), "numbers of training points n")
    datasets: int = option(
        2, "independent data sets per (family, n): fresh draws of X and y, or fresh random subsets of the digits"
    )
    family_datasets: tuple[str, ...] = option(
        (),
        "data sets per (family, n) for the named families, as FAMILY=COUNT (for example sphere=10); the others have "
        "--datasets",
    )
    fixed_d: int = option(8, "input dimension of the 'sphere_fixed_d' family")
    npz: str = option("", "a user's .npz with arrays x (n, ...) and y (n,) of two classes, for the 'npz' family")
    criteria: tuple[str, ...] = option(
        ("init", "concentration", "trajectory", "linear"),
        "criteria whose critical width is measured; 'kernel' needs widths of 10^4-10^5 already at n = 8-16, and "
        "the '_flow' ones run 10x the steps (both are in --full)",
        choices=CRITERIA,
    )
    seeds: int = option(20, "random initializations per width")
    max_seeds: int = option(
        1000,
        "where a criterion's two estimates of m* (the grid's and the logistic fit's) lie more than one grid step "
        "apart, its search runs again with --seeds more initializations per width, pooled, until they agree or the "
        "pool would pass this (--max-seeds = --seeds: never)",
    )
    delta: float = option(0.1, "m* is the smallest width at which a criterion holds on a fraction 1 - delta of them")
    eta: str = option("auto", "GD step size: a number or 'auto' = 1 / lambda_max(H^inf)")
    m_min: int = option(1, "smallest width of the search (low enough that no m* sits on it: one that does is censored)")
    m_max: int = option(2**15, "largest width of the search; a criterion that fails there has m* > m_max (censored)")
    grid: int = option(4, "widths per doubling of the search grid (resolution 2^(1/grid))")
    max_steps: int = option(3000, "step cap of a run (it also stops where the (C1) envelope reaches --tol)")
    tol: float = option(1e-4, "a run has converged once L(k) <= tol L(0)")
    pad: bool = option(
        True,
        "run each width inside the next power of two (padding neurons with a_r = 0, masked out of H(k)) for n <= "
        "128, so that one compiled program serves an octave of widths (--no-pad: one program per width)",
    )
    bootstrap: int = option(1000, "bootstrap resamples (data sets, then initializations) for the confidence intervals")
    law: str = option(
        "figures/full/critical_width.json",
        "a saved critical-width JSON whose fitted law predicts the user's width (used when this run cannot fit one)",
    )
    train_max_n: int = option(
        1 << 20,
        "the criteria that need GD runs ('trajectory', 'linear', 'kernel' and the small-step ones) run only at n <= "
        "this; above it a unit measures 'init' and 'concentration' only (no step is taken) and reports the others as "
        "'not run'",
    )
    data_train_max_n: int = option(
        1 << 20,
        "the run-based criteria on the data families ('digits', 'npz') run only at n <= this (and --train-max-n): "
        "the digits' lambda_0 falls with n (0.24 at n = 8 to 0.03 at n = 128), so their runs hit the step cap",
    )
    fixed_d_max_n: int = option(
        1 << 20,
        "the 'sphere_fixed_d' family stops at this n: its lambda_0 falls with n at fixed d, so its runs lengthen "
        "like 1 / (eta lambda_0) and its m* grows",
    )
    flow_max_n: int = option(
        1 << 20,
        "the small-step criteria ('trajectory_flow', 'linear_flow') run only at n <= this (their runs take 10x the "
        "steps); a unit above it reports them as 'not run'",
    )
    flow_families: tuple[str, ...] = option(
        FAMILIES,
        "the families whose units run the small-step criteria (others report them as 'not run')",
        choices=FAMILIES,
    )
    gpu: bool = option(
        False,
        "--full plus the kernel criterion to n = 256 (widths to 2^18), the digits' run-based criteria to n = 256 "
        "and the sphere with d = 8 to n = 512 (steps to 30000, as its lambda_0 falls): for a GPU. Not run yet (no "
        "GPU was lent); its expected cost is in the README",
    )
    full: bool = option(
        False,
        "4 families (sphere d = n, d = n/4, digits: n = 8-512; sphere d = 8: n = 8-32), 10 data sets on the sphere "
        "with d = n and 5 on the others, 20 initializations (up to 1000 where a search's two estimates disagree); "
        "init and concentration at every n, trajectory and linear to n = 256 on the sphere and n = 128 on the "
        "digits, their small-step (flow) versions on the sphere and the digits to n = 32. Measured on 2 CPU cores: "
        "77 min of unit time (155 units), 5.4 GB peak",
    )


QUICK = dict(
    families=("sphere", "digits"),
    ns=(6, 10),
    datasets=2,
    seeds=8,
    max_seeds=16,
    m_min=4,
    m_max=64,
    grid=2,
    bootstrap=200,
    max_steps=300,
)
FULL = dict(
    families=("sphere", "sphere_quarter_d", "sphere_fixed_d", "digits"),
    ns=(8, 16, 32, 64, 128, 256, 512),
    train_max_n=256,
    data_train_max_n=128,
    fixed_d_max_n=32,
    datasets=5,
    # 10 data sets on the sphere with d = n narrow its exponents' intervals to the 0.15 target; with d = n/4 ten cost
    # 37 more minutes (its circle units) and still miss it (README), so --full keeps 5 there
    family_datasets=("sphere=10",),
    criteria=("init", "concentration", "trajectory", "linear", "trajectory_flow", "linear_flow"),
    flow_max_n=32,
    flow_families=("sphere", "digits"),
)


STATIC_CRITERIA = ("init", "concentration")  # the criteria that need no GD step
DATA_FAMILIES = ("digits", "npz")  # the families of data sets (their lambda_0 is their own, not the sphere's)


GPU = dict(
    FULL,
    criteria=(*FULL["criteria"], "kernel"),
    train_max_n=256,
    data_train_max_n=256,
    fixed_d_max_n=512,
    m_max=2**18,
    max_steps=30000,
)


def unit_criteria(config: CriticalConfig, family: str, n: int) -> tuple[str, ...]:
    """The criteria a (family, n) unit runs: ``config.criteria`` without the run-based ones above ``train_max_n``
    (``data_train_max_n`` for the data families), and without the small-step ones above ``flow_max_n`` or outside
    ``flow_families``."""
    train = n <= config.train_max_n and (family not in DATA_FAMILIES or n <= config.data_train_max_n)
    flow = train and n <= config.flow_max_n and family in config.flow_families
    return tuple(
        c
        for c in config.criteria
        if c in STATIC_CRITERIA or (c in FLOW_CRITERIA and flow) or (c not in FLOW_CRITERIA and train)
    )


class HoldCurve(NamedTuple):
    """The logistic fit of the hold outcomes against log m (``ntk_proofs.du2019.width_law.HoldCurveFit`` as saved).

    Attributes:
      alpha: the intercept of logit P(hold) = alpha + beta log m.
      beta: the slope in log m.
      m_star: the width (hidden units) where the fitted P(hold) reaches 1 - delta; None where the fit cannot place it.
      grid_steps_apart: how many grid steps it lies from the grid's m*; None where either is missing.
      agrees: grid_steps_apart <= 1.
    """

    alpha: float | None
    beta: float | None
    m_star: float | None
    grid_steps_apart: float | None
    agrees: bool | None


class CriterionUnit(NamedTuple):
    """One criterion's search on one data set (``critical_widths``' ``CriticalWidth``, as saved).

    Attributes:
      m_star: the smallest width tried (hidden units) that held on 1 - delta of the initializations; None if none
        up to m_max.
      censored: "" (measured), "below" (the smallest width tried held: m* is an upper bound) or "above" (none held).
      bracket: the last failing and the first holding width of the search.
      logistic: the logistic fit's estimate of m*.
      widths: every width tried, ascending.
      hold_fraction: the fraction of initializations that held, per width.
      holds: (widths, seeds) the outcome of every run (seeds: --seeds, or a multiple up to --max-seeds where the
        two estimates disagreed at fewer).
      monotone: whether the hold fraction never falls as m grows.
      violations: the (smaller, larger) width pairs where it fell.
      eta: the GD step of the runs.
      steps: the step cap of the runs.
      converged_fraction: per width, the fraction of runs that reached L(k) <= tol L(0).
      median_end_step: per width, the median step at which the runs' criteria stopped.
      bootstrap: m* in each bootstrap draw over the initializations (hidden units; -1: the largest width failed).
    """

    m_star: int | None
    censored: str
    bracket: list[int | None]
    logistic: HoldCurve
    widths: list[int]
    hold_fraction: list[float]
    holds: list[list[bool]]
    monotone: bool
    violations: list[list[int]]
    eta: float | None
    steps: int | None
    converged_fraction: list[float]
    median_end_step: list[float]
    bootstrap: list[float]


class CriticalUnit(NamedTuple):
    """Every criterion's m* on one data set of one family at size n (``run_unit``). Sequences are arrays when
    computed and lists once read back from the unit's JSON.

    Attributes:
      family: the data family.
      n: the number of training points.
      dataset: the data set's index.
      d: the input dimension.
      lambda0: lambda_0 = lambda_min(H^inf) of the data (float64).
      lambda_max: lambda_max(H^inf).
      eta: the GD step of the runs.
      seconds: wall-clock time of the searches (s).
      widths_run: every width run, in the order run (hidden units).
      criteria: each criterion's search, by criterion.
      published: each published width requirement at (n, d, lambda_0), constants dropped (hidden units), by key.
      du_explicit_width: the width of Theorem 4.1's proof with its explicit constants (hidden units).
    """

    family: str
    n: int
    dataset: int
    d: int
    lambda0: float
    lambda_max: float
    eta: float
    seconds: float
    widths_run: list[int]
    criteria: dict[str, CriterionUnit]
    published: dict[str, float]
    du_explicit_width: float


class Exponent(NamedTuple):
    """A one-covariate law log y = intercept + slope log n with its two-level bootstrap interval (a ``LawFit`` of one
    covariate, as ``exponent_claim`` and the figure read it).

    Attributes:
      slope: the fitted exponent of n; None where the design is rank-deficient.
      intercept: the constant (natural log of y's units).
      ci_low: the 2.5% quantile of the slope over the bootstrap draws; None with too few draws.
      ci_high: the 97.5% quantile.
      half_width: (ci_high - ci_low) / 2.
      points: how many units entered the fit.
      censored_units: how many were left out as censored.
      datasets_per_group: the fewest data sets any size had.
    """

    slope: float | None
    intercept: float | None
    ci_low: float | None
    ci_high: float | None
    half_width: float | None
    points: int
    censored_units: int
    datasets_per_group: int


class Law(NamedTuple):
    """The scaling law log m* = const + sum_j coef_j z_j (``ntk_proofs.du2019.width_law.LawFit`` as saved).

    Attributes:
      names: the covariates' names ("log n", "log d", "log lambda_0").
      coef: the fitted coefficients; None where the design is rank-deficient.
      intercept: the constant (log of hidden units).
      ci_low: the 2.5% bootstrap quantile of each coefficient; None with too few draws.
      ci_high: the 97.5% quantile.
      half_width: (ci_high - ci_low) / 2 per coefficient.
      points: how many units entered the fit.
      censored_units: how many were left out as censored.
      groups: how many (family, n) groups the points came from.
      datasets_per_group: the fewest data sets any group had.
      rank: the rank of the design [1, z].
    """

    names: list[str]
    coef: list[float] | None
    intercept: float | None
    ci_low: list[float] | None
    ci_high: list[float] | None
    half_width: list[float] | None
    points: int
    censored_units: int
    groups: int
    datasets_per_group: int
    rank: int


class CriterionSummary(NamedTuple):
    """One criterion over a family's units, in the order (n, data set).

    Attributes:
      m_star: m* per unit (hidden units; None: none up to m_max held).
      censored: each unit's censoring ("", "below", "above").
      logistic_m_star: the logistic fit's m* per unit.
      grid_steps_apart: how many grid steps the logistic m* lies from the grid's, per unit.
      agree: whether the two agree within one grid step, per unit.
      within_interval: whether the logistic m* lies within one grid step of the grid m*'s 95% bootstrap interval
        over the initializations, per unit (``_logistic_within_interval``): where ``agree`` fails but this holds,
        the two differ by no more than the grid answer's own sampling noise.
      exponent: p in m* ~ n^p.
      counting_ratio: m* d / n per unit (None where m* is).
      counting_exponent: the exponent in n of the counting ratio.
      monotone: whether the hold fraction never fell as m grew, per unit.
      violations: the width pairs where it fell, per unit.
      eta: the GD step, per unit.
      steps: the step cap, per unit.
      converged_fraction_at_m_star: the fraction of runs that converged at m*, per unit (None where m* is).
      seeds: the initializations per width the search used, per unit (more than --seeds where its two estimates
        disagreed at fewer; None where the unit did not run the criterion).
    """

    m_star: list[int | None]
    censored: list[str]
    logistic_m_star: list[float | None]
    grid_steps_apart: list[float | None]
    agree: list[bool | None]
    within_interval: list[bool | None]
    exponent: Exponent
    counting_ratio: list[float | None]
    counting_exponent: Exponent
    monotone: list[bool]
    violations: list[list[list[int]]]
    eta: list[float | None]
    steps: list[int | None]
    converged_fraction_at_m_star: list[float | None]
    seeds: list[int | None] | None = None


class FamilySummary(NamedTuple):
    """One data family's units, in the order (n, data set).

    Attributes:
      ns: n per unit.
      dataset: the data set's index per unit.
      d: the input dimension per unit.
      lambda0: lambda_0 per unit.
      lambda_max: lambda_max(H^inf) per unit.
      lambda0_fit: the log-log fit of lambda_0 against n.
      eta: the GD step per unit.
      published: each published requirement per unit (hidden units), by key.
      du_explicit_width: the explicit width of Theorem 4.1's proof per unit (hidden units).
      criteria: each criterion's summary, by criterion.
      seconds: wall-clock time per unit (s).
      widths_run: how many widths each unit ran.
    """

    ns: list[float]
    dataset: list[int]
    d: list[float]
    lambda0: list[float]
    lambda_max: list[float]
    lambda0_fit: Fit
    eta: list[float]
    published: dict[str, list[float]]
    du_explicit_width: list[float]
    criteria: dict[str, CriterionSummary]
    seconds: list[float]
    widths_run: list[int]


class Published(NamedTuple):
    """A published width requirement (``PublishedWidth`` without its formula).

    Attributes:
      key: its short name.
      paper: authors, venue and year.
      theorem: the theorem or section that states it.
      statement: the requirement as stated.
      conditions: its assumptions.
      exponent_n: the exponent in n at fixed d and lambda_0 (None: not established).
      source: "paper", "abstract", "secondary" or "derived".
      sufficient: True for a sufficient width, False for a necessary one.
    """

    key: str
    paper: str
    theorem: str
    statement: str
    conditions: str
    exponent_n: float | None
    source: str
    sufficient: bool


class FlowComparison(NamedTuple):
    """The small-step (flow) m* against the practical-step m* of one criterion.

    Attributes:
      grid_steps_apart: per unit, how many grid steps the two lie apart (None where either is not measured).
      within_one_step: on how many units they lie within one grid step.
      compared: on how many units both were measured.
    """

    grid_steps_apart: list[float | None]
    within_one_step: int
    compared: int


class CriticalWidthSummary(NamedTuple):
    """What the critical-width experiment saves as <out>/critical_width.json, prints and plots, and what its claims
    read.

    Attributes:
      experiment: "critical_width".
      paper: the results checked.
      config: the run's flags.
      published: the published width requirements.
      families: each data family's summary, by family.
      law: the scaling law over every family, by criterion.
      flow_versus_practical: the flow criteria against the practical ones, by practical criterion.
      units: every unit, in the order run.
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, the numerical stack and the JAX backend.
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """

    experiment: str
    paper: str
    config: CriticalConfig
    published: list[Published]
    families: dict[str, FamilySummary]
    law: dict[str, Law]
    flow_versus_practical: dict[str, FlowComparison]
    units: list[CriticalUnit]
    reused_units: int | None = None
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = CriticalWidthSummary  # the record <out>/critical_width.json loads into (``experiments.all``)


def unit_record(data: dict) -> CriticalUnit:
    """A unit as read back from its JSON."""
    return from_jsonable(CriticalUnit, data)


def parse_args(argv: list[str] | None = None) -> CriticalConfig:
    return parse_config(
        CriticalConfig,
        argv,
        prog="python -m experiments.critical_width",
        description="Measure the critical width m*(n, d, lambda_0) at which each conclusion of Du et al. (2019) "
        "holds on 1 - delta of initializations, over several data sets per size; fit the scaling law with a "
        "two-level bootstrap and compare with the published requirements in their own variables.",
        presets=dict(quick=QUICK, full=FULL, gpu=GPU),
        sort=("ns",),
        validate=_problems,
        resumable=True,
    )


def _problems(c: CriticalConfig) -> str | None:
    if min(c.ns) < 2:
        return f"--ns must all be at least 2; got {list(c.ns)}."
    if "sphere_quarter_d" in c.families and min(c.ns) < 8:
        return f"the 'sphere_quarter_d' family (d = n/4) needs --ns of at least 8; got {list(c.ns)}."
    for name in (
        "fixed_d",
        "seeds",
        "max_seeds",
        "m_min",
        "grid",
        "max_steps",
        "bootstrap",
        "datasets",
        "flow_max_n",
        "train_max_n",
        "data_train_max_n",
        "fixed_d_max_n",
    ):
        if getattr(c, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1; got {getattr(c, name)}."
    if problem := _family_datasets_problem(c):
        return problem
    if c.m_max < c.m_min:
        return f"--m-max ({c.m_max}) must be at least --m-min ({c.m_min})."
    if c.max_seeds < c.seeds:
        return f"--max-seeds ({c.max_seeds}) must be at least --seeds ({c.seeds})."
    if not 0 < c.delta < 1:
        return f"--delta must lie in (0, 1); got {c.delta}."
    if not 0 < c.tol < 1:
        return f"--tol must lie in (0, 1); got {c.tol}."
    if "npz" in c.families and not c.npz:
        return "the 'npz' family needs --npz PATH."
    if c.npz and not Path(c.npz).is_file():
        return f"--npz {c.npz!r} is not a file."
    return cluster_problem(c) or step_flag_problem(c.eta, ("auto",))


def datasets_of(config: CriticalConfig, family: str) -> int:
    """How many data sets per (family, n) ``family`` has: its --family-datasets count, else --datasets."""
    counts = dict(item.split("=", 1) for item in config.family_datasets)
    return int(counts.get(family, config.datasets))


def _family_datasets_problem(c: CriticalConfig) -> str | None:
    for item in c.family_datasets:
        family, _, count = item.partition("=")
        if family not in FAMILIES or not count.isdigit() or int(count) < 1:
            return (
                f"--family-datasets takes FAMILY=COUNT with FAMILY one of {list(FAMILIES)} and COUNT >= 1; "
                f"got {item!r}."
            )
    return None


def dimension(config: CriticalConfig, family: str, n: int) -> int | None:
    """The input dimension d of a sphere family at size n (None for the data sets, whose d is their own)."""
    return {"sphere": n, "sphere_quarter_d": max(n // 4, 2), "sphere_fixed_d": config.fixed_d}.get(family)


REDRAWS = 100  # draws of a sphere data set before giving up on one without (numerically) parallel inputs


def sphere_without_parallel_inputs(key, n: int, d: int):
    """n points uniform on S^{d-1}, conditioned on Du et al. (2019)'s assumption that no two are parallel
    (Theorem 3.1; ``check_inputs``'s numerical test): the first of ``fold_in(key, 0), fold_in(key, 1), ...`` that
    passes, where the first draw is ``unit_sphere(key, n, d)`` itself. Small d (d = n/4 at n = 8 is the circle) draws
    near-parallel pairs often.

    Raises:
      AssumptionError: no draw of ``REDRAWS`` passes.
    """
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    error = None
    for attempt in range(REDRAWS):
        X = nt.unit_sphere(key if attempt == 0 else jax.random.fold_in(key, attempt), n, d)
        try:
            nt.check_inputs(X)
        except nt.AssumptionError as caught:
            error = caught
            continue
        return X
    raise nt.AssumptionError(f"no draw of {REDRAWS} of n = {n} points on S^{d - 1} is free of parallel pairs: {error}")


def make_data(config: CriticalConfig, family: str, n: int, dataset: int):
    """(X, y) of one family at size n, data set ``dataset``: fresh draws of X and y on the sphere, or a fresh
    random subset of the digits / the user's data (the subsets of one data set are nested in n). Two sphere families
    with the same (n, d) (d = n and d = 8 at n = 8; d = n/4 and d = 8 at n = 32) draw independent data sets: the
    later family in ``FAMILIES`` folds its index into the keys."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    kx, ky = (jax.random.fold_in(k, dataset) for k in jax.random.split(jax.random.PRNGKey(config.seed)))
    d = dimension(config, family, n)
    if d is not None:
        kx, ky = (jax.random.fold_in(k, n) for k in (kx, ky))
        earlier = FAMILIES[: FAMILIES.index(family)]
        if any(dimension(config, f, n) == d for f in earlier):  # the same (n, d) as an earlier family: fresh data
            kx, ky = (jax.random.fold_in(k, 1 + FAMILIES.index(family)) for k in (kx, ky))
        return sphere_without_parallel_inputs(kx, n, d), nt.gaussian_labels(ky, n)
    X, y = nt.load_digits_binary("parity") if family == "digits" else nt.load_npz(config.npz)
    if n > X.shape[0]:
        raise ValueError(f"family {family!r} has {X.shape[0]} distinct points; n = {n} is too many.")
    keep = jax.random.permutation(kx, X.shape[0])[:n]
    return X[keep], y[keep]


def unit_order(config: CriticalConfig) -> list[tuple[str, int, int]]:
    """The (family, data set, n) units of a run, in the order run: a data set's sizes ascending (each search starts
    from m* at the smaller n); the 'sphere_fixed_d' family stops at ``fixed_d_max_n``."""
    return [
        (f, k, n)
        for f in config.families
        for k in range(datasets_of(config, f))
        for n in config.ns
        if f != "sphere_fixed_d" or n <= config.fixed_d_max_n
    ]


def unit_key(config: CriticalConfig, dataset: int):
    """The key of data set ``dataset``'s initializations: width m's are ``split(fold_in(key, m), seeds)``."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    return jax.random.PRNGKey(config.seed + 1 + 7919 * dataset)


def run_unit(
    config: CriticalConfig, family: str, n: int, dataset: int, start: dict[str, int], criteria: tuple[str, ...]
) -> CriticalUnit:
    """Each of ``criteria``' m* on one data set of one family at size n (shared GD runs): the grid answer, its
    censoring, the logistic-fit answer, and the bootstrap draws over the initializations. ``start``: where each
    criterion's search starts, by criterion."""

    import ntk_proofs as nt
    from ntk_proofs.du2019.bounds import infinite_width_spectrum
    from ntk_proofs.du2019.critical_width import bootstrap_m_star, critical_widths, padded_width
    from ntk_proofs.du2019.published_widths import published_widths
    from ntk_proofs.du2019.width_law import fit_hold_curve

    X, y = make_data(config, family, n, dataset)
    clock = time.perf_counter()
    ran = []
    found = critical_widths(
        X,
        y,
        criteria=criteria,
        delta=config.delta,
        seeds=config.seeds,
        eta=config.eta if config.eta == "auto" else float(config.eta),
        key=unit_key(config, dataset),
        m_min=config.m_min,
        m_max=config.m_max,
        resolution=2 ** (1 / config.grid),
        max_steps=config.max_steps,
        tol=config.tol,
        start=start,
        on_width=ran.append,
        pad=(lambda m: padded_width(m, n)) if config.pad else None,
        max_seeds=config.max_seeds,
    )
    seconds = time.perf_counter() - clock
    spectrum = infinite_width_spectrum(X)
    lambda0 = float(spectrum[0])
    d = int(X.shape[1])
    criteria = {}
    for c, r in found.items():
        draws = bootstrap_m_star(r, draws=config.bootstrap, seed=config.seed)
        curve = fit_hold_curve(r.widths, r.holds, delta=config.delta, grid_m_star=r.m_star, per_doubling=config.grid)
        criteria[c] = CriterionUnit(
            m_star=r.m_star,
            censored=r.censored,
            bracket=list(r.bracket),
            logistic=HoldCurve(*curve),
            widths=r.widths,
            hold_fraction=r.hold_fraction,
            holds=r.holds,
            monotone=r.monotone,
            violations=r.violations,
            eta=r.eta,
            steps=r.steps,
            converged_fraction=r.converged.mean(axis=1),
            median_end_step=np.median(r.end_step, axis=1),
            bootstrap=np.where(np.isfinite(draws), draws, -1.0),  # -1: the largest width tried failed in that draw
        )
    # ||y|| stands in for ||y - u(0)||: E u(0) = 0, and E||y - u(0)||^2 = ||y||^2 + E||u(0)||^2, so this explicit
    # width is a slight underestimate of the proof's (the printout and the figure say so)
    residual0 = float(np.linalg.norm(np.asarray(y)))
    return CriticalUnit(
        family=family,
        n=n,
        dataset=dataset,
        d=d,
        lambda0=lambda0,
        lambda_max=float(spectrum[-1]),
        eta=next(iter(found.values())).eta,
        seconds=seconds,
        widths_run=ran,
        criteria=criteria,
        published={k: float(v) for k, v in published_widths(n, d, lambda0).items()},
        du_explicit_width=nt.required_width(n, lambda0, residual0, config.delta),
    )


def same_under_max_seeds(stored_config: dict, config: dict, result: dict) -> bool:
    """Whether a unit stored under another ``--max-seeds`` is the unit ``config`` computes (``UnitStore``'s
    ``equivalent``): the two configs differ in ``max_seeds`` only, and each of the unit's searches would stop where
    it stopped. ``critical_widths`` pools another block of ``seeds`` initializations while a search's two estimates
    of m* disagree and fewer than B = max_seeds // seeds blocks are pooled; so a stored search of b blocks stops at
    b again iff b <= B and (its estimates agree, or b = B). A censored search never pools."""
    if "max_seeds" not in stored_config or not equal_except(stored_config, config, "max_seeds"):
        return False
    seeds, most = config["seeds"], config["max_seeds"] // config["seeds"]
    for entry in result["criteria"].values():
        blocks = len(entry["holds"][0]) // seeds
        fit = entry.get("logistic") or {}
        agree = bool(entry["censored"]) or entry["m_star"] is None or fit.get("agrees") is not False
        if not (blocks <= most and (agree or blocks == most)):
            return False
    return True


def _guess(units: list[CriticalUnit], family: str, n: int, dataset: int) -> dict[str, int]:
    """Where each criterion's search starts at size n, by criterion: m* at the largest smaller n of the same data
    set, scaled by n (any start gives a valid bracket; a good one saves widths)."""
    earlier = [u for u in units if u.family == family and u.dataset == dataset and u.n < n]
    if not earlier:
        return {}
    last = max(earlier, key=lambda u: u.n)
    return {c: max(1, int(v.m_star * n / last.n)) for c, v in last.criteria.items() if v.m_star is not None}


def _draws(entry: CriterionUnit) -> np.ndarray:
    boot = np.asarray(entry.bootstrap, np.float64)
    return np.where(boot < 0, np.inf, boot)


def _measured(entry: CriterionUnit) -> bool:
    return entry.m_star is not None and not entry.censored


def _exponent(fit) -> Exponent:
    """A one-covariate ``LawFit`` as the ``Exponent`` that ``exponent_claim`` and the figure read."""
    return Exponent(
        slope=None if fit.coef is None else fit.coef[0],
        intercept=fit.intercept,
        ci_low=None if fit.ci_low is None else fit.ci_low[0],
        ci_high=None if fit.ci_high is None else fit.ci_high[0],
        half_width=None if fit.half_width is None else fit.half_width[0],
        points=fit.points,
        censored_units=fit.censored_units,
        datasets_per_group=fit.datasets_per_group,
    )


def summarize(config: CriticalConfig, units: list[CriticalUnit]) -> CriticalWidthSummary:
    """Per family and criterion: m* per (n, data set) with its censoring and logistic estimate, the exponent p of
    m* ~ n^p and of the counting ratio m* d / n (two-level bootstrap), and the published widths; over all families:
    the scaling law log m* = a log n + b log d + c log lambda_0 + const per criterion."""
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.du2019.published_widths import PUBLISHED_WIDTHS
    from ntk_proofs.du2019.width_law import fit_log_linear

    fit = dict(boot=config.bootstrap, seed=config.seed)
    families = {}
    for family in config.families:
        rows = sorted((u for u in units if u.family == family), key=lambda u: (u.n, u.dataset))
        if not rows:
            continue
        ns = np.array([u.n for u in rows], np.float64)
        d = np.array([u.d for u in rows], np.float64)
        lambda0 = np.array([u.lambda0 for u in rows])
        per_criterion = {}
        for c in config.criteria:
            ran = np.array([c in u.criteria for u in rows])
            if not ran.any():
                continue
            entries = [u.criteria.get(c) for u in rows]
            took = [e for e in entries if e is not None]  # the fits run over the units that ran c
            m_star = [None if e is None else e.m_star for e in entries]
            draws = np.array([_draws(e) for e in took])
            groups = [int(v) for v in ns[ran]]
            taken = [bool(e.censored) for e in took]
            exponent = fit_log_linear(
                np.log(ns[ran]),
                [e.m_star for e in took],
                names=("log n",),
                groups=groups,
                draws=draws,
                censored=taken,
                **fit,
            )
            ratio = [None if m is None else m * dd / nn for m, dd, nn in zip(m_star, d, ns)]
            counting = fit_log_linear(
                np.log(ns[ran]),
                [r for r, e in zip(ratio, entries) if e is not None],
                names=("log n",),
                groups=groups,
                draws=draws * (d[ran] / ns[ran])[:, None],
                censored=taken,
                **fit,
            )
            views = [NOT_RUN_VIEW if e is None else _unit_view(e, config.grid) for e in entries]
            per_criterion[c] = CriterionSummary(
                **{k: [v[k] for v in views] for k in NOT_RUN_VIEW},
                exponent=_exponent(exponent),
                counting_ratio=ratio,
                counting_exponent=_exponent(counting),
            )
        families[family] = FamilySummary(
            ns=ns,
            dataset=[u.dataset for u in rows],
            d=d,
            lambda0=lambda0,
            lambda_max=[u.lambda_max for u in rows],
            lambda0_fit=Fit(*nt.loglog_slope(ns, lambda0)),
            eta=[u.eta for u in rows],
            published={p.key: [u.published[p.key] for u in rows] for p in PUBLISHED_WIDTHS},
            du_explicit_width=[u.du_explicit_width for u in rows],
            criteria=per_criterion,
            seconds=[u.seconds for u in rows],
            widths_run=[len(u.widths_run) for u in rows],
        )
    law = {}
    for c in config.criteria:
        entries = [(u, u.criteria[c]) for u in units if u.family in families and c in u.criteria]
        if not entries:
            continue
        Z = np.array([[math.log(u.n), math.log(u.d), math.log(u.lambda0)] for u, _ in entries])
        law[c] = Law(
            *fit_log_linear(
                Z,
                [e.m_star for _, e in entries],
                names=("log n", "log d", "log lambda_0"),
                groups=[(u.family, u.n) for u, _ in entries],
                draws=np.array([_draws(e) for _, e in entries]),
                censored=[bool(e.censored) for _, e in entries],
                **fit,
            )
        )
    flow = {}
    for c in ("trajectory", "linear"):
        if c in config.criteria and f"{c}_flow" in config.criteria:
            pairs = [(u.criteria[c], u.criteria[f"{c}_flow"]) for u in units if f"{c}_flow" in u.criteria]
            steps = [
                None if not (_measured(a) and _measured(b)) else abs(math.log2(b.m_star / a.m_star)) * config.grid
                for a, b in pairs
            ]
            flow[c] = FlowComparison(
                grid_steps_apart=steps,
                within_one_step=sum(s is not None and s <= 1 + 1e-9 for s in steps),
                compared=sum(s is not None for s in steps),
            )
    return CriticalWidthSummary(
        experiment=NAME,
        paper="Du, Zhai, Poczos & Singh (ICLR 2019), Theorems 3.2 and 4.1 and Lemma 3.1, against the published "
        "width requirements (ntk_proofs.du2019.published_widths)",
        config=config,
        published=[Published(**{k: getattr(p, k) for k in Published._fields}) for p in PUBLISHED_WIDTHS],
        families=families,
        law=law,
        flow_versus_practical=flow,
        units=units,
    )


# a criterion's per-unit columns in ``CriterionSummary`` where the unit did not run it (``unit_criteria``)
NOT_RUN_VIEW = dict(
    m_star=None,
    censored=NOT_RUN,
    logistic_m_star=None,
    grid_steps_apart=None,
    agree=None,
    within_interval=None,
    monotone=True,
    violations=[],
    eta=None,
    steps=None,
    converged_fraction_at_m_star=None,
    seeds=None,
)


def _unit_view(entry: CriterionUnit, grid: int) -> dict[str, Any]:
    """A unit's columns in ``CriterionSummary`` (the keys of ``NOT_RUN_VIEW``) for a criterion it ran."""
    return dict(
        m_star=entry.m_star,
        censored=entry.censored,
        logistic_m_star=entry.logistic.m_star,
        grid_steps_apart=entry.logistic.grid_steps_apart,
        agree=entry.logistic.agrees,
        within_interval=_logistic_within_interval(entry, grid),
        monotone=entry.monotone,
        violations=entry.violations,
        eta=entry.eta,
        steps=entry.steps,
        converged_fraction_at_m_star=_converged_at_m_star(entry),
        seeds=len(entry.holds[0]),
    )


def _logistic_within_interval(entry: CriterionUnit, grid: int) -> bool | None:
    """Whether the logistic fit's m* lies within one grid step (a factor 2^(1/grid)) of the 95% interval of the grid
    m* over its bootstrap draws (2.5% and 97.5% quantiles, "inverted_cdf": each end a width tried, or infinite where
    the largest width failed in the draw); None where either estimate is missing."""
    m = entry.logistic.m_star
    if m is None or entry.m_star is None or entry.censored:
        return None
    low, high = np.quantile(_draws(entry), [0.025, 0.975], method="inverted_cdf")
    step = 2 ** (1 / grid) * (1 + 1e-9)
    return bool(low / step <= m <= high * step)


def _converged_at_m_star(entry: CriterionUnit) -> float | None:
    """The fraction of runs that converged at m* (None where m* is)."""
    if entry.m_star is None:
        return None
    return float(entry.converged_fraction[list(entry.widths).index(entry.m_star)])


def _datasets_text(c: CriticalConfig) -> str:
    """'5 data set(s)', or with --family-datasets '5 data set(s) (sphere: 10)'."""
    extra = ", ".join(f"{f}: {datasets_of(c, f)}" for f in c.families if datasets_of(c, f) != c.datasets)
    return f"{c.datasets} data set(s)" + (f" ({extra})" if extra else "")


def print_summary(summary: CriticalWidthSummary) -> None:
    c = summary.config
    print(
        f"\nCritical width m*: the smallest m at which a criterion holds on >= {1 - c.delta:.0%} of "
        f"{c.seeds} initializations (search grid 2^(1/{c.grid}), {c.m_min} <= m <= {c.m_max}), "
        f"{_datasets_text(c)} per (family, n); a search whose two estimates disagree pools {c.seeds} more, "
        f"up to {c.max_seeds}"
    )
    for family, f in summary.families.items():
        print(
            f"\n{family}: n = {sorted(set(int(v) for v in f.ns))}, d = {sorted(set(int(v) for v in f.d))}, "
            f"lambda_0 = {[round(float(v), 4) for v in f.lambda0]}"
        )
        rows = []
        for crit, e in f.criteria.items():
            ms = ", ".join("-" if cen == NOT_RUN else format_width(m, cen) for m, cen in zip(e.m_star, e.censored))
            agree = [a for a in e.agree if a is not None]
            within = [a for a in e.within_interval if a is not None]
            pooled = sum(v is not None and v > c.seeds for v in (e.seeds or []))
            rows.append(
                [
                    crit,
                    ms,
                    format_fit(e.exponent),
                    format_fit(e.counting_exponent),
                    f"{sum(agree)}/{len(agree)}",
                    f"{sum(within)}/{len(within)}",
                    pooled,
                    "yes" if all(e.monotone) else "NO",
                ]
            )
        print(
            format_table(
                [
                    "criterion",
                    "m* per (n, data set)",
                    "p in m* ~ n^p",
                    "p of m* d / n",
                    "logistic agrees",
                    "within CI",
                    "pooled",
                    "monotone",
                ],
                rows,
            )
        )
    if summary.law:
        rows = []
        for crit, law in summary.law.items():
            if law.coef is None:
                rows.append([crit, f"rank {law.rank} < 4: not identifiable", "", "", law.points])
                continue
            cells = []
            for j in range(3):
                ci = "" if law.ci_low is None else f" [{law.ci_low[j]:.2f}, {law.ci_high[j]:.2f}]"
                cells.append(f"{law.coef[j]:.2f}{ci}")
            rows.append([crit, *cells, law.points])
        print("\nscaling law log m* = a log n + b log d + c log lambda_0 + const (all families, all data sets)")
        print(format_table(["criterion", "a (n)", "b (d)", "c (lambda_0)", "units"], rows))
    for crit, v in summary.flow_versus_practical.items():
        if not v.compared:  # no unit ran both steps
            continue
        print(
            f"{crit}: the small-step (flow) m* lies within one grid step of the practical-step m* on "
            f"{v.within_one_step} of {v.compared} units"
        )
    print(
        "'<=m': censored (the smallest width tried held); '>max': none up to m_max held. Exponents: least squares "
        "over the measured units; CI: 2.5-97.5% over a two-level bootstrap (data sets, then initializations). "
        "'logistic agrees': the logistic fit's m* lies within one grid step of the grid's; 'within CI': within one "
        "grid step of the grid m*'s 95% bootstrap interval over the initializations; 'pooled': units whose search "
        "ran more initializations (its estimates disagreed at fewer). '-': not run at that n."
    )
    _print_users_answer(summary)


def saved_law(path: str | Path) -> dict[str, Law]:
    """The scaling law, by criterion, of a critical-width JSON saved at ``path`` ({} where there is no file or the
    file holds no law, as summaries older than the law do)."""
    path = Path(path)
    return from_jsonable(dict[str, Law], read_json(path).get("law", {})) if path.is_file() else {}


def _print_users_answer(summary: CriticalWidthSummary) -> None:
    """For the 'npz' family: the user's n, d and lambda_0, m* per criterion, the law's prediction, each bound."""
    f = summary.families.get("npz")
    if f is None:
        return
    law = summary.law
    source = "this run"
    if not any(v.coef is not None for v in law.values()):
        law = saved_law(summary.config.law)
        source = str(Path(summary.config.law))
    print("\nYour data (--npz):")
    for i, n in enumerate(f.ns):
        print(f"  n = {int(n)}, d = {int(f.d[i])}, lambda_0 = {float(f.lambda0[i]):.4g}")
        for crit, e in f.criteria.items():
            fitted = law.get(crit)
            if fitted is not None and fitted.coef:
                a, b, cc = fitted.coef
                predicted = math.exp(
                    fitted.intercept + a * math.log(n) + b * math.log(f.d[i]) + cc * math.log(f.lambda0[i])
                )
                prediction = f"{predicted:.3g} (law of {source})"
            else:
                prediction = "no fitted law"
            print(f"    {crit}: measured m* = {format_width(e.m_star[i], e.censored[i])}; predicted {prediction}")
        bounds = ", ".join(f"{k} {v[i]:.3g}" for k, v in f.published.items())
        print(f"    published widths (constants dropped): {bounds}")


def claims(summary: CriticalWidthSummary, command: str) -> list[Claim]:
    """The claims for figures/CLAIMS.md, per family: the exponent of m*('linear') in n is at most Song & Yang's and
    Oymak & Soltanolkotabi's 2 (their requirement's exponent at fixed d), and the counting bound m* d / n >= 1 for
    the criteria that need lambda_min(H(0)) > 0. A proven sufficient width against a measured necessary one is a
    ratio, not a test that could fail: those comparisons stay in the printout and the figure."""
    from ntk_proofs.claims import bound_claim, exponent_claim  # here: importing ntk_proofs imports JAX

    hypotheses = "outside: eta = 1/lambda_max(H^inf), not the O(lambda_0/n^2) of the theorem; m far below its width"
    rows = []

    def sizes(f, e):  # the sizes at which the criterion ran
        return sorted({int(n) for n, cen in zip(f.ns, e.censored) if cen != NOT_RUN})

    for family, f in summary.families.items():
        datasets = datasets_of(summary.config, family)
        e = f.criteria.get("linear")
        if e is not None:
            rows.append(
                exponent_claim(
                    "Oymak & Soltanolkotabi (2020), Thm 2.1: m d >~ n^2 suffices (exponent 2 at fixed d)",
                    f"m*('linear') grows no faster than n^2 ({family}, n = {sizes(f, e)}, {datasets} data sets per n, "
                    "two-level bootstrap CI)",
                    e.exponent,
                    2.0,
                    command,
                    test="at_most",
                    margin=EXPONENT_MARGIN,
                    hypotheses=hypotheses,
                )
            )
        for crit in ("init", "concentration", "trajectory"):
            e = f.criteria.get(crit)
            ratios = [] if e is None else [r for r, cen in zip(e.counting_ratio, e.censored) if r and not cen]
            if ratios:
                rows.append(
                    bound_claim(
                        "counting bound: lambda_min(H(0)) > 0 needs m d >= n (H(0) = J J^T, J of size n x md)",
                        f"n / (m*('{crit}') d) <= 1 on every measured unit ({family}, n = {sizes(f, e)})",
                        1.0 / min(ratios),
                        command,
                    )
                )
    return rows


def main(argv: list[str] | None = None) -> CriticalWidthSummary | NotMerged:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.critical_width import plot_critical_width  # here: matplotlib is heavy, --help skips it

    process = start_processes(config)
    per_unit = unit_config(
        config,
        {
            "families",
            "ns",
            "datasets",
            "family_datasets",
            "full",
            "gpu",
            "bootstrap",
            "law",
            "train_max_n",
            "data_train_max_n",
            "flow_max_n",
            "flow_families",
            "fixed_d_max_n",
        },
    )
    order = unit_order(config)
    store = UnitStore(Path(config.out) / f"{NAME}_runs", same_under_max_seeds)
    starts: dict[str, dict[str, int]] = {}  # each unit's start, as its config was last resolved

    def unit_config_of(family: str, n: int, dataset: int) -> dict | None:
        """A unit's config, with where its searches start (``start``: from the m* of the same data set's next
        smaller n, read from the store, so that a unit is reused only where it would be computed the same); None
        while that unit is not stored yet."""
        start = start_of(family, n, dataset)
        if start is None:
            return None
        starts[f"{family}_n{n}_set{dataset}"] = start
        criteria = unit_criteria(config, family, n)
        return dict(
            per_unit,
            criteria=list(criteria),
            family=family,
            n=n,
            dataset=dataset,
            bootstrap=config.bootstrap,
            start=start,
        )

    def start_of(family: str, n: int, dataset: int) -> dict[str, int] | None:
        smaller = [m for f, k, m in order if f == family and k == dataset and m < n]
        if not smaller:
            return {}
        m = max(smaller)
        below = unit_config_of(family, m, dataset)
        stored = None if below is None else store.load(f"{family}_n{m}_set{dataset}", below)
        if stored is None:
            return None
        guess = _guess([unit_record(stored)], family, n, dataset)
        return {c: guess[c] for c in unit_criteria(config, family, n) if c in guess}

    def compute(family: str, n: int, dataset: int) -> CriticalUnit:
        # the start its config was resolved with just before (``run_units`` reads a job's config, then computes it)
        start = starts[f"{family}_n{n}_set{dataset}"]
        return run_unit(config, family, n, dataset, start, unit_criteria(config, family, n))

    jobs = [
        (
            f"{family}_n{n}_set{dataset}",
            lambda family=family, n=n, dataset=dataset: unit_config_of(family, n, dataset),
            lambda family=family, n=n, dataset=dataset: compute(family, n, dataset),
        )
        for family, dataset, n in order
    ]
    # a data set's sizes run in order on one process (each search starts from m* at the smaller n)
    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="critical width",
        summarize=lambda units: summarize(config, [unit_record(u) for u in units]),
        report=print_summary,
        plot=plot_critical_width,
        groups=[(family, dataset) for family, dataset, _ in order],
        equivalent=same_under_max_seeds,
    )


if __name__ == "__main__":
    run_main(main)
