"""How wide must a deep net be as it gets deeper? The critical width m*(n, H) of Du, Lee, Li, Wang & Zhai (ICML 2019)'s
conclusions for the fully-connected net (Theorem 5.1: width 2^{O(H)}) and the ResNet (Theorem 6.1: polynomial in H).

    python -m experiments.deep_width            # default: unit sphere, n = 8, 16, H = 1, 2, 3, 4, 6, both architectures
    python -m experiments.deep_width --quick    # tens of seconds: n = 6, H = 1, 2, small widths (for tests)
    python -m experiments.deep_width --full     # the sphere and the digits, n = 8, 16, H up to 16, widths to 1024

For each data set, size n, architecture ("fc": Eq. (2); "resnet": Eq. (3)) and depth H (a unit), with softplus
(Conditions 3.1 / 3.2):
- lambda_0(H) = lambda_min(K^(H)) of Definitions 5.1 / 6.1 (ntk_proofs.du_lee2019.kernels), against Proposition
  F.2's lambda_0 >= c_res^2 kappa / H^2 for the ResNet (the paper gives no rate in H for the fully-connected net);
- m* per criterion (ntk_proofs.du_lee2019.sweep): "trajectory" (lambda_min(G^(H)(k)) >= lambda_0 / 2 proved at every
  step until L(k) <= tol L(0), which must come within the step cap) and "linear" (L(k) <= (1 - eta lambda_0 / 2)^k L(0)
  at every step until then), each the smallest width on the search grid that holds on 1 - delta of the
  initializations, found by the search of ntk_proofs.du2019.critical_width (``critical_width(..., hold=...)``: its
  statistics and censoring flags);
- the step eta = 1 / lambda_max(G(0)), G the Gram matrix of every trained layer at width --eta-width (median over 4
  initializations): half GD's stability limit. Theorems 5.1 / 6.1 take a step smaller by orders of magnitude, and
  need widths far above the ones searched: every claim is labelled outside their hypotheses, with both factors.

The summary fits log m* against H (exponential growth) and against log H (polynomial growth) per (data set, n,
architecture, criterion), each with a 95% t-interval (ntk_proofs.fit.loglog_slope; the exponential fit is the same
helper on (e^H, m*), whose log-log slope is the rate per layer), compares the two by AIC on the same points, and
sets the paper's width requirement (ntk_proofs.du_lee2019.bounds, constants dropped) beside them. Writes
<out>/deep_width.{png,pdf,json}; one JSON per finished unit in <out>/deep_width_runs/ lets an interrupted run
resume, and the units split across processes with --coordinator / --distributed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
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
)
from experiments.cluster import NotMerged, cluster_problem, run_sweep, start_processes
from experiments.store import Fit, from_jsonable, unit_config

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "deep_width"
DATASETS = ("sphere", "digits")
ARCHITECTURES = ("fc", "resnet")
CRITERIA = ("trajectory", "linear")
PADDED_WIDTHS = (32, 128, 512, 2048)
"""The array widths the nets of a unit run in (``ntk_proofs.du_lee2019.sweep.padded_params``): a width m runs in the
smallest of these >= m (capped at --m-max), so one compiled program serves several widths."""
AIC_MARGIN = 2.0
"""A model is preferred when its AIC is lower by at least this (Burnham & Anderson's 'substantial support' rule)."""
COMPARISON_POINTS = 4
"""The fewest measured depths the two laws are compared on: each has two parameters, so 4 points leave each fit 2
residual degrees of freedom; with fewer the comparison says nothing (its claim is inconclusive)."""
DEGREE_HALF_WIDTH = 1.0
"""The ResNet claim's power rule: the polynomial degree of m* in H must be known to within +-1 (a 95% half-width);
a wider interval is inconclusive. Fixed before the runs (four to six depths cannot pin a degree to 0.1)."""


@dataclass(frozen=True)
class DeepWidthConfig(Cluster):
    x64: bool = option(
        True,
        "run in float64 (the default here: lambda_0 of a fully-connected net of depth 6 is ~1e-5 of ||K^(H)||, "
        "below what float32's rounding lets the certificate prove); --no-x64 for float32",
    )
    datasets: tuple[str, ...] = option(
        ("sphere",),
        "data sets of the width searches: 'sphere' (n points uniform on the unit sphere of R^n, Gaussian labels) "
        "or 'digits' (a random subset of scikit-learn's bundled digits, odd vs even, on the unit sphere)",
        choices=DATASETS,
    )
    kernel_datasets: tuple[str, ...] = option(
        ("sphere", "digits"), "data sets of the lambda_0(H) curves (cheap: no training)", choices=DATASETS
    )
    ns: tuple[int, ...] = option((8, 16), "numbers of training points n")
    depths: tuple[int, ...] = option((1, 2, 3, 4, 6), "depths H of the width searches")
    kernel_depths: tuple[int, ...] = option((1, 2, 4, 8, 16, 32), "depths H of the lambda_0(H) curves")
    architectures: tuple[str, ...] = option(ARCHITECTURES, "architectures", choices=ARCHITECTURES)
    activation: str = option(
        "softplus", "activation (relu is outside Conditions 3.1 / 3.2)", choices=("softplus", "erf", "tanh", "relu")
    )
    c_res: float = option(0.5, "the ResNet's residual scale c_res in (0, 1) (Eq. (3))")
    seeds: int = option(10, "random initializations per width")
    delta: float = option(0.1, "m* is the smallest width at which a criterion holds on a fraction 1 - delta of them")
    m_min: int = option(4, "smallest width of the search (an m* there is censored: 'below')")
    m_max: int = option(128, "largest width of the search; a criterion that fails there is censored ('above')")
    grid: int = option(1, "widths per doubling of the search grid (resolution 2^(1/grid))")
    max_steps: int = option(1500, "step cap of a run (a run that has not converged by then fails 'trajectory')")
    tol: float = option(1e-3, "a run has converged once L(k) <= tol L(0)")
    eta_width: int = option(64, "width at which the step eta = 1 / lambda_max(G(0)) is measured")
    bootstrap: int = option(500, "bootstrap resamples of the initializations for the model comparison's interval")
    full: bool = option(
        False,
        "the sphere and the digits, n = 8 and 16, H = 1, 2, 3, 4, 6, 8, widths 2 to 256, 10 initializations, 2000 "
        "steps (lambda_0(H) to H = 32): measured 35 min 31 s wall and 2.8 GB peak memory on 2 CPU cores with "
        "other jobs beside it; the committed figures/full/deep_width.*",
    )


QUICK = dict(
    kernel_datasets=("sphere",),
    ns=(6,),
    depths=(1, 2),
    kernel_depths=(1, 2, 4),
    seeds=4,
    m_min=4,
    m_max=16,
    max_steps=200,
    eta_width=16,
    bootstrap=100,
)
FULL = dict(
    datasets=("sphere", "digits"),
    depths=(1, 2, 3, 4, 6, 8),
    m_min=2,
    m_max=256,
    seeds=10,
    max_steps=2000,
)


class CriterionResult(NamedTuple):
    """One criterion's search on one unit (``ntk_proofs.du2019.critical_width.CriticalWidth`` as saved, with what the
    runs add).

    Attributes:
      m_star: the smallest width tried (hidden units per layer) that held on 1 - delta of the initializations;
        None if none up to m_max.
      censored: "" (measured), "below" (the smallest grid width held: m* is an upper bound) or "above" (none held).
      bracket: the last failing and the first holding width of the search.
      widths: every width tried, ascending.
      hold_fraction: the fraction of initializations that held, per width.
      holds: (widths, seeds) the outcome of every run.
      monotone: whether the hold fraction never falls as m grows.
      violations: the (smaller, larger) width pairs where it fell.
      converged_fraction: per width, the fraction of runs that reached L(k) <= tol L(0) within the cap.
      median_end_step: per width, the median step at which the runs' checks stopped (convergence or the cap).
      worst_floor_ratio: per width and seed, max over the checked steps of (lambda_0 / 2) / lambda_min(G^(H)(k))
        (<= 1: the proofs' floor held); None where lambda_min <= 0.
      bootstrap: m* in each bootstrap draw over the initializations (-1: the largest width tried failed).
    """

    m_star: int | None
    censored: str
    bracket: list[int | None]
    widths: list[int]
    hold_fraction: list[float]
    holds: list[list[bool]]
    monotone: bool
    violations: list[list[int]]
    converged_fraction: list[float]
    median_end_step: list[float]
    worst_floor_ratio: list[list[float | None]]
    bootstrap: list[float]


class Drift(NamedTuple):
    """The per-layer drift of the runs at one width of a unit.

    Attributes:
      width: the width (the trajectory m*, else the widest width tried).
      layer_drift: (seeds, H) max over the checked steps of ||W^(h)(k) - W^(h)(0)||_F / sqrt(m), h = 1..H.
      radius: the ResNet's radius c lambda_0 H^2 / n of Lemma C.4, c = 1 (``bounds.paper_radius``; this suite's
        reading of its norm); None for the fully-connected net, whose radius is not transcribed.
    """

    width: int
    layer_drift: list[list[float]]
    radius: float | None


class DeepWidthUnit(NamedTuple):
    """Every criterion's m* for one (data set, n, architecture, depth) (``run_unit``).

    Attributes:
      dataset: the data set.
      n: the number of training points.
      d: the input dimension.
      architecture: "fc" (Eq. (2)) or "resnet" (Eq. (3)).
      depth: H.
      lambda0: lambda_0 = lambda_min(K^(H)) (float64).
      eta: the GD step, 1 / lambda_max(G(0)) at width --eta-width.
      lambda_max_full: that lambda_max (median over 4 initializations).
      theorem_step: the theorem's step, constants dropped (``bounds.step_size_deep``).
      required_width: the theorem's width requirement at (n, lambda_0, delta, H), constants dropped
        (``bounds.required_width_deep``; Theorem 5.1's 2^{O(H)} read as 2^H).
      seconds: wall-clock time of the searches (s).
      widths_run: every width run, in the order run.
      criteria: each criterion's search, by criterion.
      drift: the per-layer drift at the trajectory m*.
      same_as: "" or the unit whose runs these are (a depth-1 ResNet is the depth-1 fully-connected net).
    """

    dataset: str
    n: int
    d: int
    architecture: str
    depth: int
    lambda0: float
    eta: float
    lambda_max_full: float
    theorem_step: float
    required_width: float
    seconds: float
    widths_run: list[int]
    criteria: dict[str, CriterionResult]
    drift: Drift
    same_as: str = ""


class KernelCurve(NamedTuple):
    """lambda_0(H) of one (data set, n, architecture) over --kernel-depths (no training).

    Attributes:
      dataset: the data set.
      n: the number of training points.
      d: the input dimension.
      architecture: "fc" or "resnet".
      depths: the depths H.
      lambda0: lambda_min(K^(H)) per depth (float64; may be at round-off for deep fully-connected nets).
      fit: the log-log fit of lambda_0 against H over the depths H >= 2 with lambda_0 above round-off (Proposition
        F.2: slope -2 for the ResNet, whose c_H = c_res^2 / H^2).
      exponential: the fit of log lambda_0 against H over the same depths (slope: the rate per layer).
    """

    dataset: str
    n: int
    d: int
    architecture: str
    depths: list[int]
    lambda0: list[float]
    fit: Fit
    exponential: Fit


class Comparison(NamedTuple):
    """The exponential law log m* = a + b H against the polynomial law log m* = a + p log H on the same points.

    Attributes:
      aic_exponential: n_pts log(RSS / n_pts) + 4 of the exponential law (two parameters each).
      aic_polynomial: the same for the polynomial law.
      delta_aic: aic_polynomial - aic_exponential (> 0 favours exponential growth).
      delta_aic_ci: the 2.5% and 97.5% quantiles of delta_aic over bootstrap draws of the initializations (None
        where over 5% of the draws had a censored m*).
      preferred: "exponential" or "polynomial" (|delta_aic| >= AIC_MARGIN) or "neither".
      points: how many depths entered (measured, uncensored m*); below ``COMPARISON_POINTS`` nothing is compared
        (every other field None, preferred "neither").
    """

    aic_exponential: float | None
    aic_polynomial: float | None
    delta_aic: float | None
    delta_aic_ci: list[float] | None
    preferred: str
    points: int


class Growth(NamedTuple):
    """How one criterion's m* grows with H for one (data set, n, architecture).

    Attributes:
      m_star: m* per depth (None: none up to m_max held).
      censored: the censoring per depth.
      exponential: log m* = a + b H: ``Fit`` of (e^H, m*) whose slope is b, the rate per layer (95% t-interval).
      polynomial: log m* = a + p log H: ``Fit`` of (H, m*) whose slope is the degree p.
      comparison: the two laws compared.
      capped: per depth, whether fewer than 1 - delta of the runs at the widest width tried converged within the
        step cap (then a censored 'trajectory' m* is the cap's doing as much as the width's).
      m_star_ci: per depth, the 2.5% and 97.5% quantiles of m* over the bootstrap draws of the initializations
        (hidden units per layer; None for an end where a draw had no width up to m_max holding, i.e. above the
        search). The draws take grid values, so an end is a grid width.
    """

    m_star: list[int | None]
    censored: list[str]
    capped: list[bool]
    exponential: Fit
    polynomial: Fit
    comparison: Comparison
    m_star_ci: list[list[float | None]] | None = None


class ArchitectureSummary(NamedTuple):
    """One (data set, n, architecture) over the depths of the searches.

    Attributes:
      dataset: the data set.
      n: the number of training points.
      architecture: "fc" or "resnet".
      depths: the depths H.
      lambda0: lambda_0 per depth.
      eta: the step per depth.
      required_width: the theorem's width requirement per depth (constants dropped).
      required_fit: the polynomial fit (H, required width) over ``fit_depths``, whose slope is the requirement's
        degree in H here.
      growth: each criterion's growth in H, by criterion.
      fit_depths: the depths the fits use: all for the fully-connected net; H >= 2 for the ResNet (a depth-1
        ResNet is the fully-connected net, Eq. (3) has no residual layer; Proposition F.2's c_H and Theorem 6.1's
        H are those of the residual layers).
    """

    dataset: str
    n: int
    architecture: str
    depths: list[int]
    lambda0: list[float]
    eta: list[float]
    required_width: list[float]
    required_fit: Fit
    growth: dict[str, Growth]
    fit_depths: list[int]


class DeepWidthSummary(NamedTuple):
    """What the deep-width experiment saves as <out>/deep_width.json, prints and plots, and what its claims read.

    Attributes:
      experiment: "deep_width".
      paper: the results checked.
      config: the run's flags.
      kernels: the lambda_0(H) curves.
      architectures: one summary per (data set, n, architecture), in that order.
      units: every search unit, in the order run.
      reused_units: how many units (curves included) were read back from the resume store.
      versions: the versions of Python, the numerical stack and the JAX backend.
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """

    experiment: str
    paper: str
    config: DeepWidthConfig
    kernels: list[KernelCurve]
    architectures: list[ArchitectureSummary]
    units: list[DeepWidthUnit]
    reused_units: int | None = None
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = DeepWidthSummary  # the record <out>/deep_width.json loads into (``experiments.all``)


def parse_args(argv: list[str] | None = None) -> DeepWidthConfig:
    return parse_config(
        DeepWidthConfig,
        argv,
        prog="python -m experiments.deep_width",
        description="Measure lambda_0(H) and the critical width m*(n, H) of Du, Lee, Li, Wang & Zhai (2019)'s "
        "conclusions for the deep fully-connected net and the ResNet, fit exponential and polynomial growth in "
        "the depth H, and compare with the theorems' width requirements.",
        presets=dict(quick=QUICK, full=FULL),
        sort=("ns", "depths", "kernel_depths"),
        validate=_problems,
        resumable=True,
    )


def _problems(c: DeepWidthConfig) -> str | None:
    if min(c.ns) < 2:
        return f"--ns must all be at least 2; got {list(c.ns)}."
    if min(c.depths) < 1 or min(c.kernel_depths) < 1:
        return "--depths and --kernel-depths must all be at least 1."
    for name in ("seeds", "m_min", "grid", "max_steps", "bootstrap", "eta_width"):
        if getattr(c, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1; got {getattr(c, name)}."
    if c.m_max < c.m_min:
        return f"--m-max ({c.m_max}) must be at least --m-min ({c.m_min})."
    if not 0 < c.delta < 1:
        return f"--delta must lie in (0, 1); got {c.delta}."
    if not 0 < c.tol < 1:
        return f"--tol must lie in (0, 1); got {c.tol}."
    if not 0 < c.c_res < 1:
        return f"--c-res must lie in (0, 1) (Eq. (3)); got {c.c_res}."
    return cluster_problem(c)


def make_data(config: DeepWidthConfig, dataset: str, n: int):
    """(X, y) of a data set at size n: n points on the unit sphere of R^n with N(0, 1) labels, or a random subset of
    the digits (odd vs even, +-1), on the unit sphere."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    kx, ky = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), n))
    if dataset == "sphere":
        return nt.unit_sphere(kx, n, n), nt.gaussian_labels(ky, n)
    X, y = nt.load_digits_binary("parity")
    keep = jax.random.permutation(kx, X.shape[0])[:n]
    return X[keep], y[keep]


def _net(config: DeepWidthConfig, architecture: str, depth: int):
    from ntk_proofs.du_lee2019.models import DeepNet

    return DeepNet(architecture, depth, config.activation, config.c_res)


def padded_width(m: int, m_max: int) -> int:
    """The array width a width-m net runs in: the smallest of ``PADDED_WIDTHS`` >= m, at most m_max (and m)."""
    return max(m, min(next((p for p in PADDED_WIDTHS if p >= m), m), m_max))


def kernel_curve(config: DeepWidthConfig, dataset: str, n: int, architecture: str) -> KernelCurve:
    """lambda_0(H) over --kernel-depths, and its fits in H and log H."""
    from ntk_proofs.du_lee2019.kernels import gram_infinity_deep

    X, _ = make_data(config, dataset, n)
    lam = []
    for depth in config.kernel_depths:
        K = gram_infinity_deep(X, _net(config, architecture, depth))
        lam.append(float(np.linalg.eigvalsh(K)[0]))
    lam = np.asarray(lam)
    depths = np.asarray(config.kernel_depths, np.float64)
    # the fit leaves out H = 1 (c_H of Proposition F.2 is that of the residual layers) and lambda_0 at round-off
    floor = 100 * n * np.finfo(np.float64).eps
    keep = (depths >= 2) & (lam > floor)
    fit, exponential = _fit(depths[keep], lam[keep]), _fit(np.exp(depths[keep]), lam[keep])
    return KernelCurve(dataset, n, int(X.shape[1]), architecture, list(config.kernel_depths), lam, fit, exponential)


def _nan_to_none(values) -> list:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def _empty_fit() -> Fit:
    return Fit(None, None, None, None, None, 0, 0.95)


def run_unit(config: DeepWidthConfig, dataset: str, n: int, architecture: str, depth: int) -> DeepWidthUnit:
    """Both criteria's m* on one (data set, n, architecture, depth), on shared GD runs (``deep_outcomes`` per width,
    cached), with the search of ``ntk_proofs.du2019.critical_width`` (from m_min up: doublings, then the foot and a
    confirmation at 2 m*; the narrow widths share one compiled program, ``padded_width``)."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    from ntk_proofs.du2019.critical_width import bootstrap_m_star, critical_width
    from ntk_proofs.du_lee2019.bounds import paper_radius, required_width_deep, step_size_deep
    from ntk_proofs.du_lee2019.kernels import lambda_zero_deep
    from ntk_proofs.du_lee2019.sweep import deep_outcomes, practical_step

    X, y = make_data(config, dataset, n)
    net = _net(config, architecture, depth)
    lambda0 = lambda_zero_deep(X, net)
    key = jax.random.PRNGKey(config.seed + 1)
    eta, top = practical_step(X, net, config.eta_width, key=jax.random.fold_in(key, 10**6))
    clock = time.perf_counter()
    cache: dict[int, Any] = {}
    ran: list[int] = []

    def outcomes(m: int):
        if m not in cache:
            ran.append(m)
            cache[m] = deep_outcomes(
                X,
                y,
                net,
                m,
                key=jax.random.fold_in(key, m),
                seeds=config.seeds,
                eta=eta,
                lambda0=lambda0,
                max_steps=config.max_steps,
                tol=config.tol,
                padded_width=padded_width(m, config.m_max),
            )
        return cache[m]

    criteria = {}
    for c in CRITERIA:
        found = critical_width(
            X,
            y,
            criterion=c,
            delta=config.delta,
            seeds=config.seeds,
            key=key,
            m_min=config.m_min,
            m_max=config.m_max,
            resolution=2 ** (1 / config.grid),
            hold=lambda m, c=c: getattr(outcomes(m), c),
        )
        draws = bootstrap_m_star(found, draws=config.bootstrap, seed=config.seed)
        widths = [int(w) for w in found.widths]
        criteria[c] = CriterionResult(
            m_star=found.m_star,
            censored=found.censored,
            bracket=list(found.bracket),
            widths=widths,
            hold_fraction=found.hold_fraction,
            holds=found.holds,
            monotone=found.monotone,
            violations=[list(v) for v in found.violations],
            converged_fraction=[float(cache[w].converged.mean()) for w in widths],
            median_end_step=[float(np.median(cache[w].end_step)) for w in widths],
            worst_floor_ratio=[[1.0 / r if r > 0 else None for r in cache[w].min_ratio] for w in widths],
            bootstrap=np.where(np.isfinite(draws), draws, -1.0),
        )
    m_drift = criteria["trajectory"].m_star or max(cache)
    n_points = int(X.shape[0])
    return DeepWidthUnit(
        dataset=dataset,
        n=n,
        d=int(X.shape[1]),
        architecture=architecture,
        depth=depth,
        lambda0=lambda0,
        eta=eta,
        lambda_max_full=top,
        theorem_step=step_size_deep(net, n_points, lambda0),
        required_width=required_width_deep(net, n_points, lambda0, config.delta),
        seconds=time.perf_counter() - clock,
        widths_run=ran,
        criteria=criteria,
        drift=Drift(m_drift, cache[m_drift].layer_drift, paper_radius(net, n_points, lambda0)),
    )


def unit_record(data: dict) -> DeepWidthUnit:
    """A search unit as read back from its JSON."""
    return from_jsonable(DeepWidthUnit, data)


def _aic(x: np.ndarray, logm: np.ndarray, grid: int) -> float:
    """n log(RSS / n) + 2 k of the least-squares line logm = a + b x (k = 2 parameters), the RSS floored at the
    search grid's quantization, n (log 2 / grid)^2 / 12 (an m* is known to one grid step: a law that fits the
    grid's points exactly fits them no better than that)."""
    slope, intercept = np.polyfit(x, logm, 1)
    size = len(x)
    rss = max(float(np.sum((logm - (intercept + slope * x)) ** 2)), size * (math.log(2) / grid) ** 2 / 12)
    return size * math.log(rss / size) + 4.0


def compare(depths, m_star, censored, draws, grid: int = 1) -> Comparison:
    """The exponential against the polynomial law on the measured depths (``Comparison``); the interval of
    delta_aic from the bootstrap draws of m* over the initializations (independent across depths); ``grid``: the
    search grid's widths per doubling (``_aic``'s floor)."""
    H = np.asarray(depths, np.float64)
    m = np.array([np.nan if v is None else float(v) for v in m_star])
    keep = np.isfinite(m) & ~np.asarray([bool(c) for c in censored]) & (m > 0)
    points = int(keep.sum())
    if points < COMPARISON_POINTS:
        return Comparison(None, None, None, None, "neither", points)
    logm = np.log(m[keep])
    exp_aic, poly_aic = _aic(H[keep], logm, grid), _aic(np.log(H[keep]), logm, grid)
    delta = poly_aic - exp_aic
    ci = None
    D = np.asarray(draws, np.float64)[keep]  # (points, B)
    usable = np.all(np.isfinite(D) & (D > 0), axis=0)
    if usable.mean() >= 0.95 and usable.sum() >= 20:
        values = [
            _aic(np.log(H[keep]), np.log(D[:, b]), grid) - _aic(H[keep], np.log(D[:, b]), grid)
            for b in np.flatnonzero(usable)
        ]
        ci = [float(v) for v in np.quantile(values, [0.025, 0.975])]
    preferred = "exponential" if delta >= AIC_MARGIN else "polynomial" if delta <= -AIC_MARGIN else "neither"
    return Comparison(exp_aic, poly_aic, float(delta), ci, preferred, points)


def summarize(config: DeepWidthConfig, curves: list[KernelCurve], units: list[DeepWidthUnit]) -> DeepWidthSummary:
    """Per (data set, n, architecture): m* per depth and criterion, its exponential and polynomial fits in H with
    their t-intervals, their AIC comparison, and the theorem's requirement over the same depths (the ResNet's fits:
    H >= 2, ``ArchitectureSummary.fit_depths``)."""
    summaries = []
    for dataset in config.datasets:
        for n in config.ns:
            for arch in config.architectures:
                rows = sorted(
                    (u for u in units if (u.dataset, u.n, u.architecture) == (dataset, n, arch)), key=lambda u: u.depth
                )
                if not rows:
                    continue
                fitted = [u for u in rows if arch == "fc" or u.depth >= 2]
                H = np.array([u.depth for u in fitted], np.float64)
                growth = {}
                for c in CRITERIA:
                    entries = [u.criteria[c] for u in fitted]
                    m = np.array([np.nan if e.m_star is None else e.m_star for e in entries], np.float64)
                    cut = np.array([bool(e.censored) for e in entries])
                    y = np.where(cut, np.nan, m)  # censored units stay out of the fits
                    draws = np.array([bootstrap_draws(e.bootstrap) for e in entries])
                    every = [u.criteria[c] for u in rows]
                    growth[c] = Growth(
                        m_star=[e.m_star for e in every],
                        censored=[e.censored for e in every],
                        capped=[e.converged_fraction[-1] < 1 - config.delta for e in every],
                        exponential=_fit(np.exp(H), y),
                        polynomial=_fit(H, y),
                        comparison=compare(H, [e.m_star for e in entries], cut, draws, config.grid),
                        m_star_ci=[m_star_interval(e.bootstrap) for e in every],
                    )
                required = [u.required_width for u in rows]
                summaries.append(
                    ArchitectureSummary(
                        dataset=dataset,
                        n=n,
                        architecture=arch,
                        depths=[u.depth for u in rows],
                        lambda0=[u.lambda0 for u in rows],
                        eta=[u.eta for u in rows],
                        required_width=required,
                        required_fit=_fit(H, [u.required_width for u in fitted]),
                        growth=growth,
                        fit_depths=[u.depth for u in fitted],
                    )
                )
    return DeepWidthSummary(
        experiment=NAME,
        paper="Du, Lee, Li, Wang & Zhai (ICML 2019), Theorems 5.1 and 6.1, Propositions F.1 and F.2",
        config=config,
        kernels=curves,
        architectures=summaries,
        units=units,
    )


def bootstrap_draws(bootstrap: list[float]) -> np.ndarray:
    """The saved bootstrap draws of m* as numbers: -1 (no width up to m_max held) becomes +inf."""
    draws = np.asarray(bootstrap, np.float64)
    return np.where(draws < 0, np.inf, draws)


def m_star_interval(bootstrap: list[float]) -> list[float | None]:
    """The 2.5% and 97.5% quantiles of the bootstrap draws of m* (-1 marks a draw where no width up to m_max held:
    above every width tried, so an end that falls on such a draw is None, unbounded above). Quantiles by the
    "inverted_cdf" rule, so that each end is a width the search tried."""
    draws = bootstrap_draws(bootstrap)
    if draws.size == 0:
        return [None, None]
    ends = np.quantile(draws, [0.025, 0.975], method="inverted_cdf")
    return [float(v) if np.isfinite(v) else None for v in ends]


def _fit(x, y) -> Fit:
    """``ntk_proofs.fit.loglog_slope`` as saved (NaN -> None); no points: an empty fit."""
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay

    if len(x) == 0:
        return _empty_fit()
    return Fit(*_nan_to_none(nt.loglog_slope(x, y)))


def _interval_text(ci) -> str:
    """' [lo, hi]' for an m* bootstrap interval (an end above the search shown as '-'), '' without one."""
    if ci is None:
        return ""
    lo, hi = ("-" if v is None else f"{v:.0f}" for v in ci)
    return f" [{lo}, {hi}]"


def print_summary(summary: DeepWidthSummary) -> None:
    c = summary.config
    print(f"\nlambda_0(H) = lambda_min(K^(H)), {c.activation}, c_res = {c.c_res}")
    rows = [
        [
            k.dataset,
            k.n,
            k.architecture,
            ", ".join(f"{v:.3g}" for v in k.lambda0),
            format_fit(k.fit),
            format_fit(k.exponential),
        ]
        for k in summary.kernels
    ]
    print(
        format_table(
            ["data", "n", "arch", f"lambda_0 at H = {list(c.kernel_depths)}", "slope in log H", "rate per layer"],
            rows,
        )
    )
    print(
        f"\nCritical width m*: smallest width (grid 2^(1/{c.grid}), {c.m_min} <= m <= {c.m_max}) holding on >= "
        f"{1 - c.delta:.0%} of {c.seeds} initializations; H = {list(c.depths)}"
    )
    rows = []
    for a in summary.architectures:
        for crit, g in a.growth.items():
            cmp = g.comparison
            aic = "n/a" if cmp.delta_aic is None else f"{cmp.delta_aic:.2f}"
            if cmp.delta_aic_ci is not None:
                aic += f" [{cmp.delta_aic_ci[0]:.2f}, {cmp.delta_aic_ci[1]:.2f}]"
            rows.append(
                [
                    a.dataset,
                    a.n,
                    a.architecture,
                    crit,
                    ", ".join(
                        format_width(m, cen) + _interval_text(ci)
                        for m, cen, ci in zip(g.m_star, g.censored, g.m_star_ci or [None] * len(g.m_star))
                    ),
                    format_fit(g.exponential),
                    format_fit(g.polynomial),
                    aic,
                    cmp.preferred,
                ]
            )
    print(
        format_table(
            [
                "data",
                "n",
                "arch",
                "criterion",
                "m* per H [95% bootstrap]",
                "rate b (e^{bH})",
                "degree p (H^p)",
                "dAIC",
                "preferred",
            ],
            rows,
        )
    )
    rows = [
        [
            a.dataset,
            a.n,
            a.architecture,
            ", ".join(f"{v:.3g}" for v in a.required_width),
            format_fit(a.required_fit),
            ", ".join(f"{v:.3g}" for v in a.eta),
        ]
        for a in summary.architectures
    ]
    print("\nthe theorems' width requirement (constants dropped; Theorem 5.1's 2^{O(H)} read as 2^H) and the step used")
    print(format_table(["data", "n", "arch", "required m per H", "its degree in H", "eta per H"], rows))
    print(
        "'<=m': censored (the smallest width held); '>max': none up to m_max held. Fits: least squares over the "
        "measured depths, 95% t-intervals; dAIC = AIC(polynomial) - AIC(exponential), > 0 favours exponential, "
        f"|dAIC| >= {AIC_MARGIN:g} decides; its interval: bootstrap over the initializations."
    )


def _hypotheses(units: list[DeepWidthUnit], widths: list[int], activation: str) -> str:
    """The width and step hypotheses the runs miss, by their worst factors (and the activation's, for ReLU)."""
    width_factor = min((u.required_width / max(m, 1) for u, m in zip(units, widths)), default=float("nan"))
    step_factor = min((u.eta / u.theorem_step for u in units), default=float("nan"))
    text = (
        f"outside: m is >= {width_factor:.3g}x below the theorem's width (constants dropped); "
        f"eta is >= {step_factor:.3g}x the step it allows"
    )
    return text + ("" if activation != "relu" else "; ReLU fails Conditions 3.1 (smoothness) and 3.2")


def claims(summary: DeepWidthSummary, command: str) -> list[Claim]:
    """The claims for figures/CLAIMS.md, per (data set, n) and architecture: the fully-connected net's m* (per
    criterion) grows exponentially in H (delta AIC of the two laws >= AIC_MARGIN over the bootstrap interval); the
    ResNet's grows at most as fast as the polynomial degree of Theorem 6.1's requirement on the same data (its
    depths H >= 2); and at m*('linear') the
    proofs' invariant lambda_min(G^(H)(k)) >= lambda_0 / 2 holds along GD on 1 - delta of the initializations (a
    bound, as the ratio lambda_min / (lambda_0 / 2) >= 1, exact); and per ResNet curve, lambda_0 decays no faster
    than Proposition F.2's H^-2."""
    from ntk_proofs.claims import Estimate, claim, exponent_claim  # here: ntk_proofs imports JAX

    rows = []
    c = summary.config
    for a in summary.architectures:
        units = sorted(
            (u for u in summary.units if (u.dataset, u.n, u.architecture) == (a.dataset, a.n, a.architecture)),
            key=lambda u: u.depth,
        )
        where = f"{a.dataset}, n = {a.n}, H = {a.fit_depths}, {c.seeds} inits"
        for crit in CRITERIA:
            g = a.growth[crit]
            hypotheses = _hypotheses(units, [m or c.m_max for m in g.m_star], c.activation)
            if a.architecture == "fc":
                cmp = g.comparison
                nan = float("nan")
                lo, hi = cmp.delta_aic_ci if cmp.delta_aic_ci is not None else (nan, nan)
                rows.append(
                    claim(
                        "Du, Lee et al. (2019), Thm 5.1: the fully-connected net needs width 2^{O(H)}",
                        f"m*('{crit}') grows exponentially in H: AIC(H^p) - AIC(e^(bH)) >= {AIC_MARGIN:g} ({where}; "
                        "interval: bootstrap over the inits)",
                        Estimate(nan if cmp.delta_aic is None else cmp.delta_aic, lo, hi),
                        "at_least",
                        AIC_MARGIN,
                        command,
                        hypotheses=hypotheses,
                    )
                )
            elif a.required_fit.slope is not None:  # no degree to test against below two residual depths
                target = a.required_fit.slope
                degree = f"{target:.2f}"
                rows.append(
                    exponent_claim(
                        "Du, Lee et al. (2019), Thm 6.1: the ResNet's width is polynomial in H",
                        f"m*('{crit}') grows no faster than H^p, p = {degree} the degree of Thm 6.1's requirement on "
                        f"the same data ({where}; 95% t-interval)",
                        g.polynomial,
                        target,
                        command,
                        test="at_most",
                        margin=0.0,
                        max_half_width=DEGREE_HALF_WIDTH,
                        hypotheses=hypotheses,
                    )
                )
        floors, at = [], []
        for u in units:
            e = u.criteria["linear"]
            if e.m_star is None:
                continue
            # lambda_min(G^(H)(k)) / (lambda_0 / 2), min over the steps, per seed (0: lambda_min <= 0); the value that
            # 1 - delta of the seeds reach: the (floor(delta seeds) + 1)-th smallest
            ratios = np.sort([0.0 if r is None else 1.0 / r for r in e.worst_floor_ratio[e.widths.index(e.m_star)]])
            floors.append(float(ratios[int(math.floor(c.delta * ratios.size))]))
            at.append(e.m_star)
        if floors:
            rows.append(
                claim(
                    "Du, Lee et al. (2019), Thms 5.1 / 6.1 (Condition A.1's proof): lambda_min(G^(H)(k)) >= lambda_0/2",
                    "lambda_min(G^(H)(k)) / (lambda_0/2) >= 1 at every step on 1 - delta of the inits, at "
                    f"m*('linear') of every depth ({a.architecture}, {a.dataset}, n = {a.n}, H = {a.depths}, "
                    f"{c.seeds} inits; the worst depth)",
                    Estimate(min(floors)),
                    "at_least",
                    1.0,
                    command,
                    hypotheses=_hypotheses(
                        [u for u in units if u.criteria["linear"].m_star is not None], at, c.activation
                    ),
                )
            )
    for k in summary.kernels:
        if k.architecture == "resnet" and k.fit.slope is not None:
            rows.append(
                exponent_claim(
                    "Du, Lee et al. (2019), Prop. F.2: lambda_0 >= c_res^2 kappa / H^2 for the ResNet",
                    f"lambda_0(H) decays no faster than H^-2 ({k.dataset}, n = {k.n}, H = {k.depths}; the log-log "
                    "slope over H >= 2, 95% t-interval)",
                    k.fit,
                    -2.0,
                    command,
                    test="at_least",
                    margin=0.05,
                    hypotheses="inside" if c.activation != "relu" else "outside: ReLU fails Condition 3.2",
                )
            )
    return rows


def main(argv: list[str] | None = None) -> DeepWidthSummary | NotMerged:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.deep_width import plot_deep_width  # here: matplotlib is heavy, --help skips it

    process = start_processes(config)
    per_unit = unit_config(config, {"datasets", "kernel_datasets", "ns", "depths", "full"})
    kernel_config = {k: v for k, v in per_unit.items() if k in ("seed", "activation", "c_res", "kernel_depths", "x64")}
    jobs, groups = [], []
    for dataset in config.kernel_datasets:
        for n in config.ns:
            for arch in config.architectures:
                jobs.append(
                    (
                        f"kernel_{dataset}_n{n}_{arch}",
                        dict(kernel_config, kind="kernel", dataset=dataset, n=n, architecture=arch),
                        lambda dataset=dataset, n=n, arch=arch: kernel_curve(config, dataset, n, arch),
                    )
                )
                groups.append(("kernel", dataset, n, arch))
    kernels = len(jobs)
    done: dict[tuple, dict] = {}
    for dataset in config.datasets:
        for n in config.ns:
            for arch in config.architectures:
                for depth in config.depths:
                    name = f"{dataset}_n{n}_{arch}_H{depth}"
                    jobs.append(
                        (
                            name,
                            dict(per_unit, kind="search", dataset=dataset, n=n, architecture=arch, depth=depth),
                            lambda dataset=dataset, n=n, arch=arch, depth=depth: _compute(
                                config, done, dataset, n, arch, depth
                            ),
                        )
                    )
                    groups.append((dataset, n))  # a depth-1 ResNet reuses the fully-connected unit: one process

    def on_result(name, result):
        if not name.startswith("kernel_"):
            u = unit_record(result)
            done[(u.dataset, u.n, u.architecture, u.depth)] = result

    def summarize_all(results):
        curves = [from_jsonable(KernelCurve, r) for r in results[:kernels]]
        return summarize(config, curves, [unit_record(r) for r in results[kernels:]])

    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="deep width",
        summarize=summarize_all,
        report=print_summary,
        plot=plot_deep_width,
        groups=groups,
        on_result=on_result,
    )


def _compute(config: DeepWidthConfig, done: dict, dataset: str, n: int, arch: str, depth: int) -> DeepWidthUnit:
    """A unit's result: a depth-1 ResNet is the depth-1 fully-connected net (Eq. (3) has no residual layer), so its
    unit is that one's, relabelled, when it has run; otherwise ``run_unit``."""
    from ntk_proofs.du_lee2019.bounds import paper_radius, required_width_deep, step_size_deep

    twin = done.get((dataset, n, "fc", depth)) if arch == "resnet" and depth == 1 else None
    if twin is None:
        return run_unit(config, dataset, n, arch, depth)
    unit = unit_record(twin)
    net = _net(config, arch, depth)  # the same net; Theorem 6.1's requirement and step are stated for it
    return unit._replace(
        architecture=arch,
        theorem_step=step_size_deep(net, n, unit.lambda0),
        required_width=required_width_deep(net, n, unit.lambda0, config.delta),
        drift=unit.drift._replace(radius=paper_radius(net, n, unit.lambda0)),
        same_as=f"{dataset}_n{n}_fc_H{depth}",
    )


if __name__ == "__main__":
    run_main(main)
