"""Arora et al. (2019): fine-grained convergence and generalization, true vs random labels, on real digits.

    python -m experiments.fine_grained                 # scikit-learn's bundled digits, odd vs even
    python -m experiments.fine_grained --npz my.npz    # your own two-class data: arrays x (n, ...) and y (n,)

Trains the Du et al. net by GD on true labels and on random labels, from ``--seeds`` initializations per
width; compares the measured residual ||y - u(k)|| with the prediction
sqrt(sum_i (1 - eta lambda_i)^{2k} (v_i^T y)^2) from the eigenvectors of H^inf, shows how the labels project on
those eigenvectors, and, for a grid of label-corruption fractions p, sets the bound
sqrt(2 y^T (H^inf)^{-1} y / n) beside the trained net's test error (one initialization at ``--p-width``).
Writes <out>/fine_grained.{png,pdf,json}; finished runs are kept in <out>/fine_grained_runs/ for resuming.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import (
    Common,
    format_table,
    init_key,
    option,
    parse_config,
    run_main,
    set_precision,
    step_flag_problem,
)
from experiments.cluster import run_units
from experiments.store import Fit, UnitStore, finish, from_jsonable

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "fine_grained"
QUICK = dict(n_train=30, n_test=20, widths=(16, 64), seeds=1, p_grid=(0.0, 1.0), p_width=16, steps=5)
SEEDS = 2  # default initializations per width: enough for the gap's slope to reach a CI half-width <= 0.1


@dataclass(frozen=True)
class FineGrainedConfig(Common):
    classes: str = option(
        "parity", "digits task: 'parity' (odd vs even) or two digits like '3,5' (bundled scikit-learn digits)"
    )
    npz: str | None = option(None, "use your own .npz with arrays 'x' (n, ...) and 'y' (n,), two classes")
    n_train: int = option(300, "training points")
    n_test: int = option(500, "held-out points for the test error")
    widths: tuple[int, ...] = option(
        (1024, 2048, 4096, 8192, 16384),
        "widths m for the true/random-label runs (the prediction gap is reported per width and initialization)",
    )
    seeds: int = option(
        SEEDS,
        "independent initializations per width of --widths (same data and labels); the gap's fit runs over every "
        "(width, initialization) pair",
    )
    p_grid: tuple[float, ...] = option(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), "label-corruption fractions p for the bound vs test-error panel"
    )
    p_width: int = option(4096, "width m of the label-corruption runs")
    kappa: float = option(
        0.3,
        "init scale w_r(0) ~ N(0, kappa^2 I); the theorem wants it small (u(0) ~ 0), which needs m of order "
        "kappa^-2 to stay in the kernel regime",
    )
    eta: str = option("auto", "GD step: a number or 'auto' = 1 / lambda_max(H^inf)")
    steps: int = option(1000, "GD steps")


class Task(NamedTuple):
    """The data and the kernel every run of one config shares.

    Attributes:
      X: training inputs on the unit sphere, (n_train, d).
      y: training labels in {-1, +1}, (n_train,).
      X_test: held-out inputs, (n_test, d).
      y_test: held-out labels, (n_test,).
      H: H^inf of the training inputs (Du et al. 2019, eq. 6), (n_train, n_train).
      eta: the GD step size (dimensionless; 1 / lambda_max(H^inf) under ``--eta auto``).
      lambda0: lambda_min(H^inf).
      lambda_max: lambda_max(H^inf).
      source: the data set, in words.
      k_noise: PRNG key of the random and corrupted labels.
      k_init: PRNG key of the initializations (folded with the width m and the seed index, ``init_key``).
      d: input dimension.
    """

    X: Any
    y: Any
    X_test: Any
    y_test: Any
    H: Any
    eta: float
    lambda0: float
    lambda_max: float
    source: str
    k_noise: Any
    k_init: Any
    d: int


class LabelRun(NamedTuple):
    """One unit: GD on the Du et al. net at width m from one initialization on one set of labels, against Arora et
    al.'s prediction.

    Attributes:
      m: hidden width.
      residual: measured ||y - u(k)|| for k = 0 .. steps, (steps + 1,).
      predicted: Thm 4.1's sqrt(sum_i (1 - eta lambda_i)^{2k} (v_i^T (y - u(0)))^2), (steps + 1,).
      predicted_zero_init: the same with u(0) taken as 0 (the theorem's form), (steps + 1,).
      relative_gap: max_k |residual - predicted| / ||y|| (dimensionless).
      relative_gap_zero_init: max_k |residual - predicted_zero_init| / ||y|| (dimensionless).
      u0_relative: ||u(0)|| / ||y|| at init (dimensionless).
      final_train_loss: 0.5 ||y - u(K)||^2 after the last step.
      test_error: fraction of held-out points whose sign(u) is wrong (true test labels).
      flip_fraction: fraction of (point, neuron) activation patterns that differ from init after the last step.
      seed: index of the initialization, 0 .. ``--seeds`` - 1 (its key is ``init_key(k_init, m, seed)``).
    """

    m: int
    residual: list[float]
    predicted: list[float]
    predicted_zero_init: list[float]
    relative_gap: float
    relative_gap_zero_init: float
    u0_relative: float
    final_train_loss: float
    test_error: float
    flip_fraction: float
    seed: int = 0


class LabelRuns(NamedTuple):
    """The runs on true and on random labels, one per (width, seed): widths of ``--widths`` in increasing order,
    and within a width the seeds 0 .. ``--seeds`` - 1 in order.

    Attributes:
      true: the runs on the data set's labels.
      random: the runs on labels replaced by random signs (p = 1).
    """

    true: list[LabelRun]
    random: list[LabelRun]


class Spectrum(NamedTuple):
    """How one set of labels lies on the eigenvectors of H^inf.

    Attributes:
      eigenvalues: lambda_1 >= ... >= lambda_n of H^inf, (n_train,).
      projections: (v_i^T y)^2 in the same order, (n_train,); they sum to ||y||^2.
      bound: sqrt(2 y^T (H^inf)^-1 y / n) (Thm 5.1; dimensionless).
    """

    eigenvalues: list[float]
    projections: list[float]
    bound: float


class Spectra(NamedTuple):
    """``Spectrum`` of the true and of the random labels.

    Attributes:
      true: of the data set's labels.
      random: of the random labels.
    """

    true: Spectrum
    random: Spectrum


class CorruptionPoint(NamedTuple):
    """One label-corruption fraction p: Thm 5.1's bound beside the trained net's test error (width ``p_width``).

    Attributes:
      p: fraction of training labels replaced by random signs.
      bound: sqrt(2 y^T (H^inf)^-1 y / n) of the corrupted labels (dimensionless).
      test_error: fraction of held-out points misclassified (true test labels).
      final_train_loss: 0.5 ||y - u(K)||^2 after the last step.
    """

    p: float
    bound: float
    test_error: float
    final_train_loss: float


class GapFits(NamedTuple):
    """Log-log fits of ``LabelRun.relative_gap`` against m (the theory's slope is at most -1/2), over every
    (width, seed) run: a width enters once per seed.

    Attributes:
      true: the fit over the true-label runs.
      random: the fit over the random-label runs.
    """

    true: Fit
    random: Fit


class FineGrainedSummary(NamedTuple):
    """Everything fine_grained.json holds: what the printout, the claims and the figure are made from.

    Attributes:
      experiment: "fine_grained".
      paper: the paper and its results checked.
      config: the run's flags.
      source: the data set, in words.
      eta: the GD step size (dimensionless).
      lambda0: lambda_min(H^inf) of the training inputs.
      lambda_max: lambda_max(H^inf).
      n_train: training points.
      d: input dimension.
      label_runs: the true- and random-label runs, by width and seed.
      spectra: the labels' projections on the eigenvectors of H^inf, and their bounds.
      corruption: one point per fraction of ``--p-grid``, in its order.
      gap_fit: the log-log fits of the prediction gap against m.
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, JAX and the numerical stack (``experiments.store.versions``).
      git_commit: the commit of the code that made the result (None outside git).
      git_dirty: whether that code had uncommitted changes (None outside git).
    """

    experiment: str
    paper: str
    config: FineGrainedConfig
    source: str
    eta: float
    lambda0: float
    lambda_max: float
    n_train: int
    d: int
    label_runs: LabelRuns
    spectra: Spectra
    corruption: list[CorruptionPoint]
    gap_fit: GapFits
    reused_units: int
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = FineGrainedSummary  # the record <out>/fine_grained.json loads into (``experiments.all``)


def parse_args(argv: list[str] | None = None) -> FineGrainedConfig:
    return parse_config(
        FineGrainedConfig,
        argv,
        prog="python -m experiments.fine_grained",
        description="Arora, Du, Hu, Li & Wang (ICML 2019): GD residual along the eigenvectors of H^inf (true vs "
        "random labels) and the generalization bound sqrt(2 y^T (H^inf)^-1 y / n) vs test error.",
        presets=dict(quick=QUICK),
        sort=("widths", "p_grid"),
        validate=_problems,
        resumable=True,
    )


def _problems(c: FineGrainedConfig) -> str | None:
    """The first usage error in a config, or None."""
    if c.n_train < 2 or c.n_test < 1:
        return "--n-train must be >= 2 and --n-test >= 1."
    if min(c.widths) < 1 or c.p_width < 1 or c.steps < 1 or c.seeds < 1:
        return "--widths, --seeds, --p-width and --steps must be >= 1."
    if not all(0.0 <= q <= 1.0 for q in c.p_grid):
        return f"--p-grid values must lie in [0, 1]; got {list(c.p_grid)}."
    if not c.kappa > 0:
        return "--kappa must be positive."
    return step_flag_problem(c.eta, ("auto",))


def load_task(c: FineGrainedConfig) -> Task:
    """Data split, H^inf of the training inputs, its eigenvalues and the step size."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt

    if c.npz:
        X, y = nt.load_npz(c.npz)
        source = f"{Path(c.npz).name} (user .npz)"
    else:
        classes = c.classes if c.classes == "parity" else tuple(int(v) for v in c.classes.split(","))
        X, y = nt.load_digits_binary(classes)
        source = "scikit-learn digits, " + (
            "odd vs even" if c.classes == "parity" else f"{c.classes.replace(',', ' vs ')}"
        )
    if c.n_train + c.n_test > X.shape[0]:
        raise SystemExit(f"--n-train + --n-test = {c.n_train + c.n_test} exceeds the {X.shape[0]} samples available.")
    k_split, k_noise, k_init = jax.random.split(jax.random.PRNGKey(c.seed), 3)
    Xtr, ytr, Xte, yte = nt.train_test_split(k_split, X, y, c.n_test)
    Xtr, ytr = Xtr[: c.n_train], ytr[: c.n_train]
    H = nt.gram_infinity(Xtr)
    eig = nt.eigen_projections(H, ytr)
    lam_max = float(eig.eigenvalues[0])
    eta = nt.gd.half_stable_step(H) if c.eta == "auto" else float(c.eta)
    return Task(
        X=Xtr,
        y=ytr,
        X_test=Xte,
        y_test=yte,
        H=H,
        eta=eta,
        lambda0=nt.lambda_zero(Xtr),
        lambda_max=lam_max,
        source=source,
        k_noise=k_noise,
        k_init=k_init,
        d=X.shape[1],
    )


def run_labels(c: FineGrainedConfig, task: Task, labels, m: int, seed: int = 0) -> LabelRun:
    """Train at width m from initialization ``seed`` on the given labels; measure the residual, its prediction,
    and the test error."""
    import jax.numpy as jnp  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt

    params = nt.init_params(init_key(task.k_init, m, seed), m, task.d, kappa=c.kappa)
    u0 = nt.predict(params, task.X)
    res = nt.train_gd(params, task.X, labels, eta=task.eta, steps=c.steps, record_every=0)
    residual = np.sqrt(2.0 * np.asarray(res.loss, dtype=np.float64))
    predicted = np.asarray(nt.predicted_residual(task.H, labels, task.eta, c.steps, u0=u0))
    predicted_zero_init = np.asarray(nt.predicted_residual(task.H, labels, task.eta, c.steps))
    norm_y = float(jnp.linalg.norm(labels))
    u_test = nt.predict(res.params, task.X_test)
    return LabelRun(
        m=m,
        residual=residual,
        predicted=predicted,
        predicted_zero_init=predicted_zero_init,
        relative_gap=float(np.max(np.abs(residual - predicted)) / norm_y),
        relative_gap_zero_init=float(np.max(np.abs(residual - predicted_zero_init)) / norm_y),
        u0_relative=float(jnp.linalg.norm(u0)) / norm_y,
        final_train_loss=float(res.loss[-1]),
        test_error=float(jnp.mean(jnp.sign(u_test) != task.y_test)),
        flip_fraction=float(res.flip_fraction),
        seed=seed,
    )


# the gap to the kernel prediction, O(m^-1/2) (Arora et al. 2019, Thm 4.1's finite-width term): its fitted slope
# may sit up to 0.05 above -1/2 from the next-order term at m >= 1024
GAP_EXPONENT_MARGIN = 0.05


def widest(runs: list[LabelRun]) -> list[LabelRun]:
    """The runs at the largest width, one per seed in seed order.

    Args:
      runs: runs of one label kind (``LabelRuns.true`` or ``LabelRuns.random``).

    Returns:
      Those of them whose width is the largest.
    """
    m = max(r.m for r in runs)
    return sorted((r for r in runs if r.m == m), key=lambda r: r.seed)


def sweep_size(runs: list[LabelRun]) -> str:
    """How many widths and seeds the runs cover, in words, e.g. "5 widths x 2 seeds"."""
    return f"{len({r.m for r in runs})} widths x {len({r.seed for r in runs})} seeds"


def claims(summary: FineGrainedSummary, command: str) -> list[Claim]:
    """Arora et al. (2019): true labels train faster than random ones; the kernel prediction's gap shrinks with m;
    the complexity sqrt(2 y^T H^-1 y / n) of Thm 5.1 grows with label noise."""
    from ntk_proofs.claims import bound_claim, exponent_claim  # here: ntk_proofs imports JAX; --help must not pay

    wide_true, wide_random = widest(summary.label_runs.true), widest(summary.label_runs.random)
    # the true and random runs of one seed start from the same initialization: the worst ratio over the seeds
    true, rand = max(zip(wide_true, wide_random), key=lambda pair: pair[0].residual[-1] / pair[1].residual[-1])
    practical = f"outside: eta = {summary.eta:.3g}, m = {true.m}; Thm 4.1 assumes eta = O(lambda_0/n^2)"
    rows = [
        bound_claim(
            "Arora et al. (2019), Thm 4.1",
            "true labels reach a smaller residual than random ones: worst ratio true / random over the seeds "
            f"(m = {true.m}, {len(wide_true)} seeds)",
            true.residual[-1] / rand.residual[-1],
            command,
            hypotheses=practical,
            measured=f"{true.residual[-1]:.3g} / {rand.residual[-1]:.3g} (seed {true.seed})",
        ),
        exponent_claim(
            "Arora et al. (2019), Thm 4.1",
            f"max gap to the kernel prediction = O(m^-1/2) (true labels; {sweep_size(summary.label_runs.true)})",
            summary.gap_fit.true,
            -0.5,
            command,
            test="at_most",
            margin=GAP_EXPONENT_MARGIN,
            hypotheses=practical,
        ),
    ]
    bounds = [r.bound for r in summary.corruption]
    rows.append(
        bound_claim(
            "Arora et al. (2019), Thm 5.1",
            "sqrt(2 y^T H^-1 y / n) increases with the label-noise fraction p: worst ratio of consecutive values",
            max(a / b for a, b in zip(bounds, bounds[1:])),
            command,
            measured=f"{bounds[0]:.3g} (p = 0) to {bounds[-1]:.3g} (p = 1)",
        )
    )
    return rows


def print_summary(summary: FineGrainedSummary) -> None:
    """The tables this experiment prints."""
    c = summary.config
    print(
        f"\nArora et al. (2019) on {summary.source}: n_train={summary.n_train}, d={summary.d}, "
        f"kappa={c.kappa}, eta={summary.eta:.4g}, {c.steps} steps, lambda_0={summary.lambda0:.4g}"
    )
    rows = [
        [
            kind,
            r.m,
            r.seed,
            r.residual[-1],
            r.predicted[-1],
            r.relative_gap,
            r.relative_gap_zero_init,
            r.flip_fraction,
            r.test_error,
        ]
        for kind, runs in summary.label_runs._asdict().items()
        for r in runs
    ]
    print(
        format_table(
            ["labels", "m", "seed", "||y-u(K)||", "predicted", "max gap/||y||", "gap, u(0)=0", "flip frac", "test err"],
            rows,
        )
    )
    print(
        "max gap/||y||: max over k of |measured - predicted| / ||y||, prediction from y - u(0); "
        "'gap, u(0)=0' uses the theorem's form with u(0) taken as 0."
    )
    for kind, f in summary.gap_fit._asdict().items():
        runs = getattr(summary.label_runs, kind)
        interval = "" if f.ci_low is None else f" (95% CI [{f.ci_low:.3f}, {f.ci_high:.3f}])"
        print(f"  {kind} labels: gap ~ m^{f.slope:.3f}{interval}, fit over {sweep_size(runs)}")
    print(
        format_table(
            ["p", "bound sqrt(2 y^T H^-1 y / n)", "test error", "final train loss"],
            [[r.p, r.bound, r.test_error, r.final_train_loss] for r in summary.corruption],
        )
    )


def main(argv: list[str] | None = None) -> FineGrainedSummary:
    c = parse_args(argv)
    set_precision(c.x64)
    import jax  # JAX, ntk_proofs and matplotlib here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt
    from experiments.plotting.fine_grained import plot_fine_grained

    task = load_task(c)
    y_true = task.y
    y_random = nt.corrupt_labels(task.k_noise, y_true, 1.0)
    corrupted = {
        q: nt.corrupt_labels(jax.random.fold_in(task.k_noise, int(round(1000 * q))), y_true, q) for q in c.p_grid
    }
    base = {
        k: v
        for k, v in dataclasses.asdict(c).items()
        if k not in ("widths", "seeds", "p_grid", "out", "resume", "p_width", "quick")
    }
    base.update(eta=task.eta, x64=bool(jax.config.jax_enable_x64))
    jobs = []
    for kind, labels in (("true", y_true), ("random", y_random)):
        for m in c.widths:
            for s in range(c.seeds):
                # seed 0 is named and matched as the single run per width was before --seeds: its files are reused
                name, unit = (f"{kind}_m{m}", {}) if s == 0 else (f"{kind}_m{m}_s{s}", {"init_seed": s})
                jobs.append(
                    (
                        name,
                        dict(base, labels=kind, m=m, **unit),
                        lambda labels=labels, m=m, s=s: run_labels(c, task, labels, m, s),
                    )
                )
    for q, labels in corrupted.items():
        jobs.append(
            (
                f"p{q:.3f}_m{c.p_width}",
                dict(base, p=q, m=c.p_width),
                lambda labels=labels: run_labels(c, task, labels, c.p_width),
            )
        )
    saved, reused = run_units(UnitStore(Path(c.out) / f"{NAME}_runs"), jobs, desc="fine-grained", resume=c.resume)
    results = [from_jsonable(LabelRun, r) for r in saved]
    per_kind = len(c.widths) * c.seeds
    n_label_runs = 2 * per_kind
    label_runs = LabelRuns(true=results[:per_kind], random=results[per_kind:n_label_runs])

    spectra = {}
    for kind, labels in (("true", y_true), ("random", y_random)):
        eig = nt.eigen_projections(task.H, labels)
        spectra[kind] = Spectrum(
            eigenvalues=eig.eigenvalues,
            projections=eig.projections,
            bound=float(nt.generalization_bound(task.H, labels)),
        )
    corruption = [
        CorruptionPoint(
            p=q,
            bound=float(nt.generalization_bound(task.H, corrupted[q])),
            test_error=run.test_error,
            final_train_loss=run.final_train_loss,
        )
        for q, run in zip(c.p_grid, results[n_label_runs:])
    ]
    gap_fit = GapFits(
        *(Fit(*nt.loglog_slope([r.m for r in runs], [r.relative_gap for r in runs])) for runs in label_runs)
    )
    summary = FineGrainedSummary(
        experiment=NAME,
        paper="Arora, Du, Hu, Li & Wang (ICML 2019), Fine-Grained Analysis of Optimization and Generalization "
        "for Overparameterized Two-Layer Neural Networks: Theorems 4.1 and 5.1",
        config=c,
        source=task.source,
        eta=task.eta,
        lambda0=task.lambda0,
        lambda_max=task.lambda_max,
        n_train=int(task.X.shape[0]),
        d=task.d,
        label_runs=label_runs,
        spectra=Spectra(**spectra),
        corruption=corruption,
        gap_fit=gap_fit,
        reused_units=reused,
    )
    print_summary(summary)
    return finish(summary, plot_fine_grained, c.out, NAME)


if __name__ == "__main__":
    run_main(main)
