"""Is the small-step critical width the gradient flow's? The critical width's small-step criteria checked against
the exact flow of Du et al. (2019), Theorem 3.2.

    python -m experiments.critical_width_flow                      # the units of figures/full/critical_width.json
    python -m experiments.critical_width_flow --source my_run/critical_width.json --out my_run

The critical-width search (experiments.critical_width) measures "trajectory_flow" and "linear_flow" with GD at the
small step 0.1 / lambda_max(H^inf), where GD follows the flow closely. This experiment integrates the flow itself
(ntk_proofs.regimes.flow.flow_criterion_outcomes: diffrax, adaptive Tsit5) from the very initializations of each
unit's two bracket widths (the last failing width and m*), judges it by the same criterion at the same times, and
compares run by run. Where the flow's decision (hold on >= 1 - delta of the initializations) equals the GD search's
at both bracket widths, the flow's m* on the same grid is the small-step m* itself. Writes
<out>/critical_width_flow.{png,pdf,json}; one JSON per finished unit in <out>/critical_width_flow_runs/ lets a run
resume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from experiments.cli import Cluster, format_table, option, parse_config, run_main, set_precision
from experiments.cluster import NotMerged, cluster_problem, run_sweep, start_processes
from experiments.critical_width import FLOW_CRITERIA, make_data, unit_key
from experiments.critical_width import SUMMARY as SOURCE
from experiments.store import equal_except, from_jsonable, read_json

NAME = "critical_width_flow"
CHECKED = FLOW_CRITERIA  # the small-step criteria, each checked against the flow
SOLVER_STEPS = 200_000  # the flow solver's default step limit (gradient_flow's)


@dataclass(frozen=True)
class FlowCheckConfig(Cluster):
    source: str = option(
        "figures/full/critical_width.json",
        "a critical-width summary (experiments.critical_width) whose units ran the small-step criteria",
    )
    max_n: int = option(64, "check the units with n <= this")
    rtol: float = option(1e-5, "relative tolerance of the flow solver (float32 default; 1e-6 with --x64)")
    atol: float = option(1e-7, "absolute tolerance of the flow solver")
    solver_steps: int = option(
        SOLVER_STEPS, "the flow solver's step limit per solve (the ReLU kinks cost rejected steps, more at larger n)"
    )


QUICK = dict(max_n=10)


class WidthCheck(NamedTuple):
    """One bracket width of one criterion: the flow against the small-step GD runs, from the same initializations.

    Attributes:
      m: the width (hidden units).
      gd_holds: (seeds,) the GD runs' outcomes (from the critical-width unit).
      flow_holds: (seeds,) the flow's outcomes.
      gd_decision: whether the GD hold fraction reaches 1 - delta.
      flow_decision: whether the flow's does.
    """

    m: int
    gd_holds: list[bool]
    flow_holds: list[bool]
    gd_decision: bool
    flow_decision: bool


class UnitCheck(NamedTuple):
    """One critical-width unit checked against the flow.

    Attributes:
      family: the data family.
      n: the number of training points.
      dataset: the data set's index.
      widths: by criterion, the checked bracket widths.
      same_m_star: by criterion, whether the flow's decisions equal GD's at every bracket width (then the flow's m*
        on the search's grid is the small-step m*).
      seconds: wall-clock time of the flow solves (s).
    """

    family: str
    n: int
    dataset: int
    widths: dict[str, list[WidthCheck]]
    same_m_star: dict[str, bool]
    seconds: float


class CriterionCheck(NamedTuple):
    """One criterion over every checked unit.

    Attributes:
      runs: how many (width, initialization) runs were compared.
      runs_agreeing: on how many the flow's outcome equals GD's.
      units: how many units were checked.
      units_same_m_star: on how many the flow's m* equals the small-step m* on the grid.
      differing: "family n=.. set .." of each unit where they differ.
    """

    runs: int
    runs_agreeing: int
    units: int
    units_same_m_star: int
    differing: list[str]


class FlowCheckSummary(NamedTuple):
    """What <out>/critical_width_flow.json holds.

    Attributes:
      experiment: "critical_width_flow".
      paper: the result checked.
      config: the run's flags.
      source_config: the critical-width run's config.
      criteria: the check per criterion.
      units: every checked unit.
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, the numerical stack and the JAX backend.
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """

    experiment: str
    paper: str
    config: FlowCheckConfig
    source_config: dict[str, Any]
    criteria: dict[str, CriterionCheck]
    units: list[UnitCheck]
    reused_units: int | None = None
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = FlowCheckSummary


def parse_args(argv: list[str] | None = None) -> FlowCheckConfig:
    return parse_config(
        FlowCheckConfig,
        argv,
        prog="python -m experiments.critical_width_flow",
        description="Check the critical width's small-step criteria against gradient flow itself (diffrax), run by "
        "run at each unit's bracket widths, from the same initializations.",
        presets=dict(quick=QUICK),
        validate=_problems,
        resumable=True,
    )


def _problems(c: FlowCheckConfig) -> str | None:
    if not Path(c.source).is_file():
        return f"--source {c.source!r} is not a file (run python -m experiments.critical_width with flow criteria)."
    if c.max_n < 2:
        return f"--max-n must be at least 2; got {c.max_n}."
    if c.solver_steps < 1:
        return f"--solver-steps must be at least 1; got {c.solver_steps}."
    if not (0 < c.rtol < 1 and c.atol > 0):
        return f"need 0 < --rtol < 1 and --atol > 0; got {c.rtol}, {c.atol}."
    return cluster_problem(c)


def check_unit(config: FlowCheckConfig, source, unit) -> UnitCheck:
    """The flow against the GD runs of ``unit`` (a ``CriticalUnit`` of the critical-width run ``source``) at each
    small-step criterion's bracket widths."""
    import time

    from ntk_proofs.du2019.critical_width import search_initializations
    from ntk_proofs.models.two_layer import Params
    from ntk_proofs.regimes.flow import flow_criterion_outcomes

    X, y = make_data(source, unit.family, unit.n, unit.dataset)
    key = unit_key(source, unit.dataset)
    clock = time.perf_counter()
    widths, same = {}, {}
    for c in CHECKED:
        entry = unit.criteria.get(c)
        if entry is None:
            continue
        checks = []
        pooled = len(entry.holds[0])  # --seeds, or a multiple where the search pooled more blocks
        for m in (w for w in entry.bracket if w is not None):
            blocks = [
                search_initializations(key, m, X.shape[1], source.seeds, X.dtype, first)
                for first in range(0, pooled, source.seeds)
            ]
            params = [Params(b.W[s], b.a[s]) for b in blocks for s in range(source.seeds)]
            flow = flow_criterion_outcomes(
                params,
                X,
                y,
                eta=entry.eta,
                lambda0=unit.lambda0,
                steps=entry.steps,
                tol=source.tol,
                rtol=config.rtol,
                atol=config.atol,
                max_steps=config.solver_steps,
            )
            outcome = flow.trajectory if c == "trajectory_flow" else flow.linear
            gd = np.asarray(entry.holds[list(entry.widths).index(m)], bool)
            checks.append(
                WidthCheck(
                    m=int(m),
                    gd_holds=gd.tolist(),
                    flow_holds=np.asarray(outcome, bool).tolist(),
                    gd_decision=bool(gd.mean() >= 1 - source.delta),
                    flow_decision=bool(np.mean(outcome) >= 1 - source.delta),
                )
            )
        widths[c] = checks
        same[c] = all(w.gd_decision == w.flow_decision for w in checks)
    return UnitCheck(unit.family, unit.n, unit.dataset, widths, same, time.perf_counter() - clock)


def summarize(config: FlowCheckConfig, source, units: list[UnitCheck]) -> FlowCheckSummary:
    criteria = {}
    for c in CHECKED:
        checked = [u for u in units if c in u.widths]
        pairs = [(g, f) for u in checked for w in u.widths[c] for g, f in zip(w.gd_holds, w.flow_holds)]
        criteria[c] = CriterionCheck(
            runs=len(pairs),
            runs_agreeing=sum(g == f for g, f in pairs),
            units=len(checked),
            units_same_m_star=sum(u.same_m_star[c] for u in checked),
            differing=[f"{u.family} n={u.n} set {u.dataset}" for u in checked if not u.same_m_star[c]],
        )
    return FlowCheckSummary(
        experiment=NAME,
        paper="Du, Zhai, Poczos & Singh (ICLR 2019), Theorem 3.2 (gradient flow) against the critical width's "
        "small-step GD criteria",
        config=config,
        source_config=dataclasses.asdict(source),
        criteria=criteria,
        units=units,
    )


def print_summary(summary: FlowCheckSummary) -> None:
    rows = [
        [c, f"{v.runs_agreeing}/{v.runs}", f"{v.units_same_m_star}/{v.units}", ", ".join(v.differing) or "-"]
        for c, v in summary.criteria.items()
    ]
    print("\nThe small-step criteria on gradient flow itself, at each unit's bracket widths (same initializations)")
    print(format_table(["criterion", "runs agreeing", "units with the flow's m* = small-step m*", "differ"], rows))


def _pooled(unit, seeds: int) -> dict:
    """The initializations per width of each checked search of ``unit`` where one pooled more than ``seeds`` (its two
    estimates of m* disagreed at fewer: ``critical_widths(max_seeds=...)``); empty where none did, so that units
    checked before searches could pool resume."""
    pooled = {c: len(unit.criteria[c].holds[0]) for c in CHECKED if c in unit.criteria}
    return {"pooled_seeds": pooled} if any(v != seeds for v in pooled.values()) else {}


def finished_under_fewer_solver_steps(stored_config: dict, config: dict, result: dict) -> bool:
    """Whether a unit stored under a smaller --solver-steps is the unit ``config`` computes (``UnitStore``'s
    ``equivalent``): the configs differ only in the step limit, and the stored one is the smaller. The limit only
    stops a solve (``gradient_flow`` raises where it runs out); every solve of a stored unit finished, and an adaptive
    solve that finishes takes the same steps under any larger limit."""
    limit = stored_config.get("solver_steps", SOLVER_STEPS)
    return equal_except(stored_config, config, "solver_steps") and limit <= config.get("solver_steps", SOLVER_STEPS)


def main(argv: list[str] | None = None) -> FlowCheckSummary | NotMerged:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.critical_width import plot_flow_check  # here: matplotlib is heavy

    source_summary = from_jsonable(SOURCE, read_json(config.source))
    source = source_summary.config
    chosen = [
        u
        for u in source_summary.units
        if u.n <= config.max_n and any(c in u.criteria and u.criteria[c].m_star is not None for c in CHECKED)
    ]
    if not chosen:
        raise SystemExit(f"{config.source} has no unit with n <= {config.max_n} that measured a small-step m*.")
    process = start_processes(config)
    per_unit = dict(
        source=dict(
            seed=source.seed,
            seeds=source.seeds,
            tol=source.tol,
            delta=source.delta,
            x64=source.x64,
            fixed_d=source.fixed_d,
            npz=source.npz,
        ),
        rtol=config.rtol,
        atol=config.atol,
        # the limit is part of a unit's config only where it is not the default, so that units checked before the
        # flag existed resume
        **({} if config.solver_steps == SOLVER_STEPS else {"solver_steps": config.solver_steps}),
    )
    jobs = [
        (
            f"{u.family}_n{u.n}_set{u.dataset}",
            dict(
                per_unit,
                family=u.family,
                n=u.n,
                dataset=u.dataset,
                brackets={c: list(u.criteria[c].bracket) for c in CHECKED if c in u.criteria},
                **_pooled(u, source.seeds),
            ),
            lambda u=u: check_unit(config, source, u),
        )
        for u in chosen
    ]
    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="flow check",
        summarize=lambda units: summarize(config, source, [from_jsonable(UnitCheck, v) for v in units]),
        report=print_summary,
        plot=plot_flow_check,
        equivalent=finished_under_fewer_solver_steps,
    )


if __name__ == "__main__":
    run_main(main)
