"""What every experiment shares: the common flags, precision, saving (PNG + PDF + JSON with config, versions and
the git commit), resume, the progress bar and printed tables. An experiment module only parses its own flags,
calls the library, and hands its summary and figure to ``finish``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def option(default, help: str, **flag):
    """A config field that is also a command-line flag ``--field-name``, with its help text (and e.g. ``choices``)."""
    return dataclasses.field(default=default, metadata=dict(help=help, **flag))


@dataclasses.dataclass(frozen=True)
class Common:
    """The fields every experiment's config shares; each experiment's config dataclass extends it."""

    seed: int = option(0, "seed of the data, the labels and the initializations")
    x64: bool = option(False, "run in float64 (same as JAX_ENABLE_X64=1)")
    out: str = option("figures", "output folder for the figure, the JSON and the resume cache")
    quick: bool = option(False, "a small preset that finishes in seconds (for tests); flags given explicitly win")
    resume: bool = option(True, "reuse finished units whose config matches")


@dataclasses.dataclass(frozen=True)
class Cluster(Common):
    """``Common`` plus the flags of a sweep that runs across processes and hosts with ``jax.distributed``."""

    coordinator: str = option("", "HOST:PORT of process 0, for a run across processes (jax.distributed); the "
                                  "units are split among them and process 0 merges and plots")
    num_processes: int = option(1, "number of processes of a --coordinator run")
    process_id: int = option(0, "this process's index, 0 .. --num-processes - 1")
    distributed: bool = option(False, "jax.distributed.initialize() with the cluster's own settings (Slurm, ...)")


CLUSTER_FIELDS = ("coordinator", "num_processes", "process_id", "distributed")


def cluster_problem(c) -> str | None:
    """The usage error in a ``Cluster`` config's process flags, or None."""
    if c.num_processes < 1 or not 0 <= c.process_id < c.num_processes:
        return f"need --num-processes >= 1 and 0 <= --process-id < it; got {c.num_processes} and {c.process_id}."
    if c.num_processes > 1 and not c.coordinator:
        return "--num-processes > 1 needs --coordinator HOST:PORT (or use --distributed on a cluster)."
    if c.coordinator and not c.coordinator.rpartition(":")[2].isdigit():
        return f"--coordinator must be HOST:PORT; got {c.coordinator!r}."
    return None


def start_processes(config) -> tuple[int, int]:
    """Join the run across processes that the flags describe (``jax.distributed.initialize``; before any other JAX
    call) and return (this process's index, the number of processes): (0, 1) for a single process."""
    import jax

    if config.coordinator:
        jax.distributed.initialize(coordinator_address=config.coordinator, num_processes=config.num_processes,
                                   process_id=config.process_id)
    elif config.distributed:
        jax.distributed.initialize()
    return jax.process_index(), jax.process_count()


def parse_config(cls, argv, *, prog: str, description: str, presets: dict | None = None, sort: tuple = (),
                 validate=None, resumable: bool = False):
    """Parse the flags of the config dataclass ``cls`` (one ``--flag`` per field, from its ``option`` metadata).

    ``presets`` maps a boolean field (``quick``, ``paper``) to the values it sets, except those whose flag was
    given explicitly. ``sort`` names sweep axes to deduplicate and sort. ``validate(config)`` returns an error
    message (a usage error, exit code 2) or None. ``resumable`` experiments get ``--no-resume``.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        if f.name == "resume":
            if resumable:
                parser.add_argument("--no-resume", dest="resume", action="store_false",
                                    help="recompute every unit even if a finished result with the same config exists")
            continue
        kw = dict(help=f.metadata.get("help", ""), default=f.default)
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        if isinstance(f.default, bool):
            kw["action"] = "store_true"
        elif isinstance(f.default, tuple):
            kw.update(nargs="+", type=type(f.default[0]), default=list(f.default))
        else:
            kw["type"] = str if f.default is None else type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), **kw)
    args = parser.parse_args(argv)
    values = config_values(cls, args)
    for flag, preset in (presets or {}).items():
        if values.get(flag):
            values = apply_preset(values, preset, argv)
    for axis in sort:
        values[axis] = sorted_unique(values[axis])
    config = cls(**values)
    message = validate(config) if validate else None
    if message:
        parser.error(message)
    use_compilation_cache()
    return config


def compilation_cache_dir() -> str | None:
    """The folder of JAX's persistent compilation cache for the suite: ``$NTK_PROOFS_JAX_CACHE``, by default
    ``~/.cache/ntk_proofs/jax``; None where it is ``off``."""
    where = os.environ.get("NTK_PROOFS_JAX_CACHE", os.path.expanduser("~/.cache/ntk_proofs/jax"))
    return None if where == "off" else where


def use_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache for an experiment: every compiled program is kept in
    ``compilation_cache_dir()``, so a rerun, or a resumed sweep, reads its programs back instead of compiling them
    again (on 2 CPU cores compiling is 0.94x of the ``--paper`` sweep's products on a first run, loading them 0.19x).
    A cache directory the user set for JAX (``JAX_COMPILATION_CACHE_DIR``) is kept."""
    import jax

    where = compilation_cache_dir()
    if where is None or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def flags_given(argv) -> set[str]:
    """The config field names of the flags given explicitly on the command line (they win over presets)."""
    args = argv if argv is not None else sys.argv[1:]
    return {a.lstrip("-").replace("-", "_").split("=")[0] for a in args if a.startswith("--")}


def apply_preset(values: dict, preset: dict, argv) -> dict:
    """``values`` updated with a preset's entries, except those whose flag was given explicitly."""
    given = flags_given(argv)
    return dict(values, **{k: v for k, v in preset.items() if k not in given})


def set_precision(x64: bool) -> None:
    """Switch JAX to float64 when asked (must run before any array is created), and make every matrix product
    exact in its dtype: on GPUs JAX multiplies float32 matrices in TF32 by default (10 mantissa bits), which on
    an H200 left the ``--paper`` sweep's loss at 1.1e-8 where float32 reaches 1.6e-12: a round-off floor far above
    the one the measurements assume. On CPUs nothing changes. A precision the user set (``JAX_DEFAULT_MATMUL_PRECISION``)
    is kept."""
    import jax

    if x64:
        jax.config.update("jax_enable_x64", True)
    if jax.config.jax_default_matmul_precision is None:
        jax.config.update("jax_default_matmul_precision", "highest")


def config_values(cls, args: argparse.Namespace) -> dict:
    """The fields of the config dataclass ``cls`` read from parsed flags; lists become tuples (configs stay hashable)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def sorted_unique(values) -> tuple:
    """A sweep axis as given on the command line, deduplicated and in increasing order."""
    return tuple(sorted(set(values)))


def step_flag_problem(value: str, keywords: tuple[str, ...], flag: str = "--eta") -> str | None:
    """A step-size flag is a positive finite number or one of ``keywords``; otherwise the usage error to report."""
    if value in keywords:
        return None
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except ValueError:
        ok = False
    choices = " or ".join(repr(k) for k in keywords)
    return None if ok else f"{flag} must be a positive number or {choices}; got {value!r}."


def git_state() -> dict[str, Any]:
    """The commit of the code that made a result, and whether the tree had uncommitted changes (None outside git)."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    # outputs that the experiments themselves rewrite do not make the code dirty
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!figures", ":!benchmarks")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def progress(iterable=None, **kwargs):
    """The progress bar of every long loop (tqdm on standard error)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, file=sys.stderr, **kwargs)


def finish(summary: dict, plot, out, name: str) -> dict:
    """Add versions and the git state to ``summary``, write ``<out>/<name>.json`` and ``plot(summary)`` as PNG and PDF,
    print the paths written, and return the summary."""
    from experiments.plotting.style import save_figure

    summary.setdefault("versions", versions())
    summary.update(git_state())
    json_path = write_json(Path(out) / f"{name}.json", summary)
    paths = [*save_figure(plot(summary), out, name), json_path]
    print("wrote " + ", ".join(str(p) for p in paths))
    return summary


def versions() -> dict[str, Any]:
    """Versions of Python and the numerical stack, the JAX backend and whether float64 is on."""
    import jax

    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("ntk_proofs", "jax", "jaxlib", "optax", "numpy", "scipy", "matplotlib"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    info["devices"] = [str(dev) for dev in jax.devices()]
    info["x64"] = bool(jax.config.jax_enable_x64)
    info["matmul_precision"] = jax.config.jax_default_matmul_precision
    return info


def to_jsonable(obj: Any) -> Any:
    """Convert arrays, NumPy scalars, NamedTuples and dataclasses into plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return to_jsonable(obj._asdict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return arr.tolist() if arr.ndim else arr.item()
    if isinstance(obj, (np.generic,)):
        return obj.item()
    return obj


def _sanitize(obj: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by None after conversion."""
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (a partial file never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_sanitize(to_jsonable(obj)), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


class UnitStore:
    """One JSON file per finished unit of work (e.g. one width and seed), for resuming a sweep.

    A stored unit is reused only when the config it was computed under equals the current one.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def load(self, name: str, config: dict) -> dict | None:
        path = self.path(name)
        if not path.exists():
            return None
        try:
            stored = read_json(path)
        except (json.JSONDecodeError, OSError):
            return None
        if stored.get("config") != _sanitize(to_jsonable(config)):
            return None
        return stored["result"]

    def save(self, name: str, config: dict, result: dict) -> Path:
        return write_json(self.path(name), {"config": config, "result": result, "versions": versions(),
                                            **git_state()})


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.3e}"
    return str(value)


def unit_config(config, sweep_axes: set[str]) -> dict:
    """The config a stored unit is matched on for resume: every field except the sweep axes (which name the unit),
    the output and preset switches, and the process flags; plus whether float64 is on."""
    import jax

    skip = {"out", "resume", "quick", *sweep_axes, *CLUSTER_FIELDS}
    values = {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}
    return dict(values, x64=bool(jax.config.jax_enable_x64))


def saved_not_merged(process: tuple[int, int], store: UnitStore, reused: int) -> dict:
    """What a process other than 0 of a run across processes returns once its units are saved (process 0 merges)."""
    print(f"process {process[0]} of {process[1]}: its units are in {store.directory}; process 0 merges and plots")
    return {"process": process[0], "reused_units": reused}


def run_sweep(config, name: str, process: tuple[int, int], jobs, *, desc: str, summarize, report, plot,
              **run_kwargs) -> dict:
    """The tail every experiment made of units shares: ``run_units`` over ``jobs`` with resume in
    <out>/<name>_runs (split across processes as ``process`` says; ``run_kwargs`` go to ``run_units``), then, on
    process 0, ``summary = summarize(results)`` with the number of reused units, ``report(summary)`` (the printed
    table) and ``finish`` (JSON, PNG, PDF). Another process returns once its units are saved. Call
    ``start_processes`` before building the jobs: it must come before JAX computes anything."""
    out = Path(config.out)
    store = UnitStore(out / f"{name}_runs")
    results, reused = run_units(store, jobs, desc=desc, resume=config.resume, process=process, **run_kwargs)
    if results is None:  # a process other than 0 of a run across processes
        return saved_not_merged(process, store, reused)
    summary = summarize(results)
    summary["reused_units"] = reused
    report(summary)
    return finish(summary, plot, out, name)


def owners(groups: list, count: int) -> list[int]:
    """The process that runs each job: groups (e.g. a data family whose units run in order) go round-robin to the
    ``count`` processes in the order they first appear; every job of one group goes to the same process."""
    order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    return [order[g] % count for g in groups]


def run_units(store: UnitStore, jobs, *, desc: str, resume: bool = True, on_result=None, process=(0, 1),
              groups: list | None = None, poll_seconds: float = 1.0,
              wait_seconds: float = 7 * 24 * 3600) -> tuple[list[dict] | None, int]:
    """Run ``jobs`` [(name, config, compute)] with a progress bar, saving each result as it finishes.

    A job whose stored config matches is read back instead of recomputed (unless ``resume`` is False).
    Every returned result has gone through the JSON round trip, so what is plotted is what is saved.
    ``on_result(name, result)`` sees each result as it arrives (a later job may use an earlier one's result).

    Across processes (``process`` = (index, count), from ``start_processes``): each process runs the jobs that
    ``owners(groups)`` gives it (default: one group per job) and saves them in the shared store, the same files
    as resume; process 0 then waits until every other job's file is there and returns all results; the other
    processes return None. A rerun after a crash reuses every unit any process finished.
    Returns (results in job order, or None on a process other than 0; how many units this process reused).
    """
    jobs = list(jobs)
    index, count = process
    if count > 1:
        mine = owners(groups or [name for name, _, _ in jobs], count)
        own, reused = _run_jobs(store, [j for j, o in zip(jobs, mine) if o == index], desc=f"{desc} [process "
                                f"{index}/{count}]", resume=resume, on_result=on_result)
        if index != 0:
            return None, reused
        return _gather(store, jobs, poll_seconds, wait_seconds), reused
    return _run_jobs(store, jobs, desc=desc, resume=resume, on_result=on_result)


def _gather(store: UnitStore, jobs, poll_seconds: float, wait_seconds: float) -> list[dict]:
    """Every job's result from the store, waiting for the other processes to write theirs."""
    import time

    deadline = time.monotonic() + wait_seconds
    results: dict[str, dict] = {}
    while True:
        for name, config, _ in jobs:
            if name not in results:
                found = store.load(name, config)
                if found is not None:
                    results[name] = found
        missing = [name for name, _, _ in jobs if name not in results]
        if not missing:
            return [results[name] for name, _, _ in jobs]
        if time.monotonic() > deadline:
            raise TimeoutError(f"units {missing} did not appear in {store.directory} within {wait_seconds} s; "
                               "rerun to resume (finished units are kept).")
        time.sleep(poll_seconds)


def _run_jobs(store: UnitStore, jobs, *, desc: str, resume: bool, on_result) -> tuple[list[dict], int]:
    results, reused = [], 0
    with progress(jobs, desc=desc, unit="run") as bar:
        for name, config, compute in bar:
            bar.set_postfix_str(name)
            result = store.load(name, config) if resume else None
            if result is None:
                store.save(name, config, compute())
                result = store.load(name, config)
            else:
                reused += 1
            results.append(result)
            if on_result is not None:
                on_result(name, result)
    if reused:
        print(f"(resumed: {reused} of {len(results)} units read from {store.directory})", file=sys.stderr)
    return results, reused


def claim(paper: str, statement: str, measured, bound, held: bool, command: str) -> dict:
    """One row of figures/CLAIMS.md: a claim the suite checks, what was measured, the bound or prediction it is
    held against, whether it held, and the command that made the number."""
    return dict(paper=paper, statement=statement, measured=measured, bound=bound, held=bool(held), command=command)


def slope_claim(paper: str, statement: str, fit: dict, exponent: float, command: str, *,
                upper_bound: bool = False) -> dict:
    """A scaling claim y ~ x^exponent from a log-log fit with a 95% confidence interval.

    A predicted exponent (``upper_bound=False``) holds when it lies in the interval. An O(x^exponent) bound
    (``upper_bound=True``: y decays at least that fast) holds unless the interval lies entirely above it.
    """
    if fit["ci_low"] is None:
        return claim(paper, statement, f"{fit['slope']:.3f} (no CI)", f"{exponent:g}", False, command)
    held = fit["ci_low"] <= exponent if upper_bound else fit["ci_low"] <= exponent <= fit["ci_high"]
    measured = f"{fit['slope']:.3f} [{fit['ci_low']:.3f}, {fit['ci_high']:.3f}]"
    return claim(paper, statement, measured, f"<= {exponent:g} (O bound)" if upper_bound else f"{exponent:g}", held,
                 command)


def claims_table(rows: list[dict]) -> str:
    """The claims as a Markdown table (figures/CLAIMS.md)."""
    def cell(value):
        text = _fmt(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    lines = ["| paper | claim | measured | bound or prediction | held | command |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r[k]) for k in ("paper", "statement", "measured", "bound")) + " | "
                     + ("yes" if r["held"] else "**no**") + f" | `{r['command']}` |")
    return "\n".join(lines) + "\n"
