"""Where the experiments' results go: JSON written atomically, with the config, the library versions and the git
state of the code (provenance); one JSON per finished unit for resume (``UnitStore``); and ``finish``, which writes
a summary's JSON and its figure as PNG and PDF.

An experiment's summary and units are typed records (NamedTuples); JSON is only their file format:
``to_jsonable`` writes a record as its fields by name, ``from_jsonable`` builds it back from its annotations. The
saved forms of the library results that several experiments record (``Fit``, ``Check``, ``Monitor``) live here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import types
import typing
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from experiments.cli import CLUSTER_FIELDS

REPO = Path(__file__).resolve().parent.parent


# The saved forms of the library's results that several experiments' records hold: the same fields, in the same
# order, as JSON gives them back. They live here, not in the library, because an experiment's records must load
# without importing ntk_proofs (which imports JAX, and --help must not pay for it).


class Fit(NamedTuple):
    """A log-log fit log y = intercept + slope log x (``ntk_proofs.fit.SlopeFit`` as saved: a NaN becomes None, as
    with fewer than 3 points for the interval).

    Attributes:
      slope: the fitted exponent of x (dimensionless).
      intercept: log y at x = 1 (natural log of y's units).
      ci_low: the lower end of the confidence interval of the slope.
      ci_high: its upper end.
      stderr: the standard error of the slope.
      points: how many (x, y) pairs entered the fit.
      confidence: the interval's confidence level (0.95).
    """

    slope: float | None
    intercept: float | None
    ci_low: float | None
    ci_high: float | None
    stderr: float | None
    points: int
    confidence: float


class Check(NamedTuple):
    """One conclusion of Theorem 4.1 along one run (``ntk_proofs.du2019.bounds.MonitorCheck`` as saved).

    Attributes:
      held: it held at every checked step.
      first_failure: the first step (GD steps) where it failed, -1 if it held.
      worst_ratio: max over steps k >= 1 of measured / bound (dimensionless, <= 1 holds; for (C2) the bound over the
        measurement); None where infinite (JSON keeps an infinite ratio as null).
    """

    held: bool
    first_failure: int
    worst_ratio: float | None


class Monitor(NamedTuple):
    """The conclusions (C1)-(C3) of Theorem 4.1 along one run (``TheoremMonitor`` as saved; the fields in the order
    of ``MONITOR_CHECKS``); along the gradient flow, Theorem 3.2's, with exp(-lambda_0 t) L(0) as the envelope.

    Attributes:
      loss_envelope: (C1) L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step.
      lambda_min_floor: (C2) lambda_min(H(k)) >= lambda_0 / 2 at every step (proved).
      drift_radius: (C3) max_r ||w_r(k) - w_r(0)|| <= R' at every recorded step.
    """

    loss_envelope: Check
    lambda_min_floor: Check
    drift_radius: Check


def monitor_record(monitor) -> Monitor:
    """A ``TheoremMonitor`` of the library as its saved form ``Monitor`` (the same fields, in the same order)."""
    return Monitor(*(Check(*check) for check in monitor))


def git_state() -> dict[str, Any]:
    """The commit of the code that made a result, and whether the tree had uncommitted changes (None outside git)."""

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    # outputs that the experiments and the bench themselves rewrite do not make the code dirty; their code does
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!figures", ":!benchmarks/results")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def finish(summary: Any, plot, out, name: str) -> Any:
    """Add versions and the git state to ``summary`` (a typed record with the fields ``versions``, ``git_commit``
    and ``git_dirty``, or a dict), write ``<out>/<name>.json`` and ``plot(summary)`` as PNG and PDF, print the paths
    written, and return the summary with those fields set."""
    from experiments.plotting.style import save_figure  # here: matplotlib is heavy and only finish draws

    known = summary.get("versions") if isinstance(summary, dict) else summary.versions
    summary = with_fields(summary, versions=known or versions(), **git_state())
    json_path = write_json(Path(out) / f"{name}.json", summary)
    paths = [*save_figure(plot(summary), out, name), json_path]
    print("wrote " + ", ".join(str(p) for p in paths))
    return summary


def with_fields(record: Any, **values: Any) -> Any:
    """``record`` with the fields ``values`` set: a NamedTuple or dataclass is copied, a dict is updated in place."""
    if isinstance(record, dict):
        record.update(values)
        return record
    if dataclasses.is_dataclass(record):
        return dataclasses.replace(record, **values)
    return record._replace(**values)


def versions() -> dict[str, Any]:
    """Versions of Python and the numerical stack, the JAX backend and whether float64 is on."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

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


def from_jsonable(cls: Any, data: Any) -> Any:
    """The inverse of ``to_jsonable`` for a typed record: build ``cls`` (a NamedTuple or dataclass, or a
    ``list[...]``, ``tuple[...]``, ``dict[str, ...]`` or ``X | None`` of them) from the JSON value ``data``, by the
    annotations of its fields. A record's JSON is its fields by name; a missing field takes its default, a field
    the record does not declare is an error (a typo in a summary must not pass silently). Plain values (numbers,
    strings, None, lists of numbers) are returned as JSON gave them.
    """
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(cls) if arg is not type(None)]
        if data is None or len(options) != 1:
            return data
        return from_jsonable(options[0], data)
    if origin in (list, tuple) and isinstance(data, list):
        args = [arg for arg in typing.get_args(cls) if arg is not Ellipsis]
        items = [from_jsonable(args[0], v) for v in data] if len(args) == 1 else data
        return items if origin is list else tuple(items)
    if origin is dict and isinstance(data, dict):
        value_type = typing.get_args(cls)[1] if typing.get_args(cls) else Any
        return {k: from_jsonable(value_type, v) for k, v in data.items()}
    is_record = isinstance(cls, type) and (dataclasses.is_dataclass(cls) or hasattr(cls, "_fields"))
    if not is_record or not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(cls)
    fields = cls._fields if hasattr(cls, "_fields") else tuple(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}; its fields are {list(fields)}.")
    return cls(**{k: from_jsonable(hints.get(k, Any), v) for k, v in data.items()})


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

    A stored unit is reused only when the config it was computed under equals the current one, or where
    ``equivalent(stored_config, config, result)`` says that the current config would compute the same result (for a
    setting that changes only some units, such as the critical width's ``--max-seeds``).
    """

    def __init__(self, directory: str | os.PathLike, equivalent: Callable[[dict, dict, dict], bool] | None = None):
        self.directory = Path(directory)
        self.equivalent = equivalent

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def load(self, name: str, config: dict) -> dict | None:
        path = self.path(name)
        if not path.exists():
            return None
        try:
            stored = read_json(path)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
            warnings.warn(f"unit file {path} is unreadable ({error}); the unit is computed again.", stacklevel=2)
            return None
        if not isinstance(stored, dict) or not isinstance(stored.get("result"), dict):
            warnings.warn(
                f"unit file {path} is malformed (no result object); the unit is computed again.", stacklevel=2
            )
            return None
        wanted = _sanitize(to_jsonable(config))
        if stored.get("config") != wanted and not (
            self.equivalent is not None
            and isinstance(stored.get("config"), dict)
            and self.equivalent(stored["config"], wanted, stored["result"])
        ):
            return None
        return stored["result"]

    def save(self, name: str, config: dict, result: dict) -> Path:
        return write_json(self.path(name), {"config": config, "result": result, "versions": versions(), **git_state()})


def equal_except(stored_config: dict, config: dict, key: str) -> bool:
    """Whether two unit configs are equal in every field but ``key`` (which either may lack): the first test of a
    ``UnitStore`` ``equivalent`` for a setting that changes only some units."""
    return {k: v for k, v in stored_config.items() if k != key} == {k: v for k, v in config.items() if k != key}


def unit_config(config, sweep_axes: set[str]) -> dict:
    """The config a stored unit is matched on for resume: every field except the sweep axes (which name the unit),
    the output and preset switches, and the process flags; plus whether float64 is on."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    skip = {"out", "resume", "quick", *sweep_axes, *CLUSTER_FIELDS}
    values = {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}
    return dict(values, x64=bool(jax.config.jax_enable_x64))
