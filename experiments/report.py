"""Shared report machinery for every experiment: JSON with config and versions, resume, printed tables."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


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
        return write_json(self.path(name), {"config": config, "result": result, "versions": versions()})


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


def run_units(store: UnitStore, jobs, *, desc: str, resume: bool = True) -> tuple[list[dict], int]:
    """Run ``jobs`` [(name, config, compute)] with a progress bar, saving each result as it finishes.

    A job whose stored config matches is read back instead of recomputed (unless ``resume`` is False).
    Every returned result has gone through the JSON round trip, so what is plotted is what is saved.
    Returns (results in job order, how many were reused).
    """
    from tqdm.auto import tqdm

    results, reused = [], 0
    with tqdm(jobs, desc=desc, unit="run", file=sys.stderr) as bar:
        for name, config, compute in bar:
            bar.set_postfix_str(name)
            result = store.load(name, config) if resume else None
            if result is None:
                store.save(name, config, compute())
                result = store.load(name, config)
            else:
                reused += 1
            results.append(result)
    return results, reused
