"""Case: one net sharded over its neurons (``train_gd(..., mesh=width_mesh(devices))``) on 1, 2, 4 devices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.cases.du_step import ETA, problem
from benchmarks.harness import median_and_spread, median_ratio, side_by_side, wall

ROOT = Path(__file__).resolve().parents[2]


def sharded_run(n: int, d: int, m: int, device_counts=(1, 2, 4), steps: int = 12, repeats: int = 2) -> dict:
    """The same run with diagnostics every step, its neurons split over the first 1, 2, 4 ... local devices: the
    bytes of W each device holds in the result (``bytes_per_device``, against ``w_array_bytes`` of the whole), the
    first device's own peak over all runs where JAX reports it, the largest relative difference of the loss from
    the one-device run, and the run's wall time per device count, side by side (medians; ``over_one_device``:
    median per-round ratio). Where this process has fewer devices than asked (a CPU), the case runs in a child
    process with ``--xla_force_host_platform_device_count`` set, so that the split is measured on any machine
    (forced host devices share the same cores: their times show the cost of the collectives, not a speed-up)."""
    import jax

    if len(jax.local_devices()) < max(device_counts) and jax.devices()[0].platform == "cpu":
        return in_child(n, d, m, tuple(device_counts), steps, repeats)
    import ntk_proofs as nt

    X, y, p = problem(n, d, m)
    results = {}

    def run(count):
        mesh = nt.width_mesh(jax.local_devices()[:count])

        def call():
            results[count] = nt.train_gd(p, X, y, eta=ETA, steps=steps, record_every=1, mesh=mesh)

        return wall(call)

    rounds = side_by_side({str(c): run(c) for c in device_counts}, repeats)
    one = np.asarray(results[device_counts[0]].loss)
    out = dict(shape=[n, d, m], steps=steps, w_array_bytes=int(p.W.nbytes), bytes_per_device={})
    for c in device_counts:
        W = results[c].params.W
        out["bytes_per_device"][str(c)] = max(int(s.data.nbytes) for s in W.addressable_shards)
        out.setdefault("max_relative_loss_difference", {})[str(c)] = float(
            np.max(np.abs(np.asarray(results[c].loss) - one) / np.abs(one))
        )
    out["device_peak_bytes"] = (jax.local_devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
    first = str(device_counts[0])
    out["seconds"] = {c: median_and_spread(v)[0] for c, v in rounds.items()}
    out["over_one_device"] = {c: median_ratio(rounds, c, first) for c in rounds}
    return out


def in_child(n, d, m, device_counts, steps, repeats) -> dict:
    import json
    import subprocess
    import sys

    code = (
        "import json; from benchmarks.cases.sharding import sharded_run; "
        f"print('JSON' + json.dumps(sharded_run({n}, {d}, {m}, {device_counts!r}, {steps}, {repeats})))"
    )
    flags = os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={max(device_counts)}"
    env = dict(os.environ, XLA_FLAGS=flags.strip())
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(done.stdout.split("JSON", 1)[1])
    result["forced_host_devices"] = max(device_counts)
    return result
