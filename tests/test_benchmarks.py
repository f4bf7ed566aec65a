"""The bench (``python -m benchmarks``; ``python -m experiments.bench`` is its alias): its flags, and the cases
whose numbers the README quotes, on tiny problems."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import __main__ as bench
from benchmarks.cases.paper_profile import paper_profile
from benchmarks.cases.sharding import sharded_run
from benchmarks.harness import median_ratio, side_by_side


def test_bench_help_lists_its_flags(capsys):
    with pytest.raises(SystemExit) as info:
        bench.parse_args(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "benchmarks/results" in out


@pytest.mark.parametrize("module", ["benchmarks", "experiments.bench"])
def test_the_bench_and_its_alias_start(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--repeats" in done.stdout, done.stderr


def test_side_by_side_runs_every_measurement_each_round_and_ratios_are_per_round():
    calls = {"a": [], "b": []}
    times = iter([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 1.0, 4.0])  # warm-up a, b; then 3 rounds of (a, b)

    def measure(name):
        def run():
            calls[name].append(1)
            return next(times)

        return run

    rounds = side_by_side({"a": measure("a"), "b": measure("b")}, repeats=3)
    assert rounds == {"a": [3.0, 6.0, 1.0], "b": [4.0, 8.0, 4.0]} and len(calls["a"]) == 4
    assert median_ratio(rounds, "a", "b") == pytest.approx(0.75)  # median of 0.75, 0.75, 0.25


@pytest.mark.slow
def test_bench_runs_one_tiny_case_through_its_entry_point_into_a_folder(tmp_path):
    """``python -m benchmarks --smoke --cases sweep --out DIR`` in-process: the JSON has the summary's keys, the
    case's medians are positive and its ratio is the one of its side-by-side rounds."""
    summary = bench.main(["--smoke", "--cases", "sweep", "--out", str(tmp_path)])
    written = json.loads((tmp_path / f"bench_{summary['platform']}_smoke_sweep.json").read_text())
    assert {"device", "platform", "repeats", "preset", "cases", "sweep", "versions", "git_dirty"} <= set(written)
    assert written["cases"] == ["sweep"] and written["preset"] == "smoke"
    sweep = written["sweep"]
    assert sweep["sequential"][0] > 0 and sweep["batched"][0] > 0 and sweep["sequential_over_batched"] > 0


@pytest.mark.slow
def test_bench_splits_one_net_over_devices_and_keeps_its_loss():
    """One net split over 1, 2, 4 devices (a child process with forced host devices on a CPU): each device holds
    its share of W, the loss stays that of one device, and every count is timed beside the one-device run."""
    r = sharded_run(64, 16, 512, (1, 2, 4), steps=3, repeats=1)
    b = r["bytes_per_device"]
    assert b == {"1": r["w_array_bytes"], "2": r["w_array_bytes"] // 2, "4": r["w_array_bytes"] // 4}
    assert max(r["max_relative_loss_difference"].values()) < 1e-5
    assert r["over_one_device"]["1"] == 1.0 and all(t > 0 for t in r["seconds"].values())


@pytest.mark.slow
def test_bench_profiles_the_paper_sweep_into_parts_that_add_up():
    r = paper_profile(override=dict(n=12, d=12, widths=(16, 32), steps=5))
    assert [w["m"] for w in r["widths"]] == [16, 32] and r["config"]["steps"] == 5
    for w in r["widths"]:
        parts = w["compile"] + w["steps"] + w["diagnostics"] + w["rest"]
        assert abs(parts - w["total"]) < 1e-9 and w["compile"] > 0 and np.isfinite(w["products"])
        assert 1 <= w["factorizations_per_100_steps"] <= 100 * 6 / 5  # the first step factors; at most every step
    assert r["ratio"] == pytest.approx((r["sums"]["total"] + r["setup"]) / r["sums"]["products"])


def test_bench_times_the_critical_width_runs_with_and_without_the_proof():
    """The critical-width case at toy sizes: both variants timed (their marginal times may be noise, even
    negative, here), the proof factoring at least once per run and at most at every step."""
    from benchmarks.cases.du_step import critical_width_steps

    r = critical_width_steps(n=16, d=16, m=16, seeds=2, lengths=(2, 4), repeats=1)
    assert np.isfinite([r["bare"], r["certified"], r["overhead"]]).all()  # marginal times of toy runs are noise
    assert 100 / 5 <= r["factorizations_per_100_steps"] <= 100
