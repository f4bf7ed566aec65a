"""Run every experiment at its default (or ``--quick``) and regenerate figures/CLAIMS.md.

    python -m experiments.all            # every figure of the README and CLAIMS.md (tens of minutes on 2 cores)
    python -m experiments.all --quick    # the small presets, into --out (a smoke run)

CLAIMS.md is one table: each row is a claim the suite checks (the paper, the statement, the measured number,
the bound or prediction, whether it held, and the command that made it). It is written from the experiments'
own summaries, never by hand.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from experiments.cli import progress, run_main
from experiments.store import from_jsonable, git_state, read_json

EXPERIMENTS = (
    "width_sweep",
    "critical_width",
    "regimes",
    "fine_grained",
    "linearization",
    "landscape",
    "hessian",
    "deep_training",
    "deep_width",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m experiments.all", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="run every experiment's small preset")
    p.add_argument("--out", default="figures", help="output folder for every figure, JSON and CLAIMS.md")
    p.add_argument("--only", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS), help="a subset")
    p.add_argument(
        "--claims-only",
        action="store_true",
        help="rebuild CLAIMS.md from the JSON summaries already in --out, without rerunning anything",
    )
    return p.parse_args(argv)


def saved_summary(name: str, out) -> Any:
    """An experiment's summary as its last run saved it in ``out``, built into the record its module names
    ``SUMMARY`` (the JSON as it is where the module names none); deep_training: one JSON per study, together."""
    module = importlib.import_module(f"experiments.{name}")
    record = getattr(module, "SUMMARY", Any)
    if name == "deep_training":
        paths = {study: Path(out) / f"{name}_{study}.json" for study in module.STUDIES}
        return from_jsonable(record, {study: read_json(path) for study, path in paths.items() if path.exists()})
    return from_jsonable(record, read_json(Path(out) / f"{name}.json"))


def commits(summary: Any) -> set:
    """The git commits (commit, dirty) recorded in a summary, or in each part of one made of several JSON files
    (deep_training's studies)."""
    if isinstance(summary, dict):  # the JSON as it is, of an experiment without a summary record
        parts = summary.values() if "git_commit" not in summary else [summary]
        return {(p.get("git_commit"), p.get("git_dirty")) for p in parts if isinstance(p, dict)}
    parts = [summary] if hasattr(summary, "git_commit") else [p for p in summary if p is not None]
    return {(p.git_commit, p.git_dirty) for p in parts}


LARGER_RUNS = (
    ("deep_width", "full", "python -m experiments.deep_width --full --out figures/full"),
    ("critical_width", "full", "python -m experiments.critical_width --full --out figures/full"),
)
"""The committed larger runs whose rows CLAIMS.md also holds: (experiment, subfolder of --out, the command that
made it). ``experiments.all`` does not rerun them (each takes from half an hour up on 2 CPU cores); their rows are
rebuilt from their saved JSON, and each row names its own command."""


def main(argv=None) -> list:
    args = parse_args(argv)
    import jax  # here, not at the top: --help must not pay for importing JAX (nor ntk_proofs, which imports it)

    from ntk_proofs.claims import claims_table, verdict_counts
    from ntk_proofs.runtime import release_compiled_programs

    rows, made_by = [], set()
    x64 = bool(jax.config.jax_enable_x64)
    for name in progress(args.only, desc="all experiments", unit="experiment"):
        # each experiment starts from this process's precision: one that forces float64 (hessian) must not leave the
        # next (deep_training) running in float64 while its config and JSON say float32, as it did before
        jax.config.update("jax_enable_x64", x64)
        release_compiled_programs()  # one process compiles every experiment's programs: see ntk_proofs.runtime
        module = importlib.import_module(f"experiments.{name}")
        flags = ["--out", args.out] + (["--quick"] if args.quick else [])
        summary = saved_summary(name, args.out) if args.claims_only else module.main(flags)
        made_by |= commits(summary) if args.claims_only else {tuple(git_state().values())}
        command = f"python -m experiments.{name}" + (" --quick" if args.quick else "")
        rows.extend(module.claims(summary, command))
    for name, folder, command in LARGER_RUNS:
        if name in args.only and (Path(args.out) / folder / f"{name}.json").exists() and not args.quick:
            summary = saved_summary(name, Path(args.out) / folder)
            made_by |= commits(summary)
            rows.extend(importlib.import_module(f"experiments.{name}").claims(summary, command))
    code = ", ".join(
        f"`{c}`" + (" (with uncommitted changes)" if dirty else "") for c, dirty in sorted(made_by, key=str)
    )
    header = (
        "# Claims the suite checks\n\nRegenerated by `python -m experiments.all"
        + (" --quick" if args.quick else "")
        + "`"
        + (" --claims-only" if args.claims_only else "")
        + f" from results made by the code at commit {code}. Do not edit by hand. The rows whose command"
        " ends in `--out figures/<folder>` come from committed larger runs, which it reads but does not rerun.\n\n"
    )
    path = Path(args.out) / "CLAIMS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + claims_table(rows))
    counts = verdict_counts(rows)
    print(
        f"\n{len(rows)} claims: {counts['held']} held, {counts['not held']} not held, "
        f"{counts['inconclusive']} inconclusive; wrote {path}"
    )
    return rows


if __name__ == "__main__":
    run_main(main)
