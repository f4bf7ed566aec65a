"""The bench's timing harness: measurements run side by side in interleaved rounds, medians, per-round ratios,
and marginal per-step costs of a compiled scan."""

from __future__ import annotations

import time

import numpy as np


def wall(fn):
    """A measurement: seconds of one call of ``fn``."""

    def measure():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    return measure


def side_by_side(measurements: dict, repeats: int, warm_up: bool = True) -> dict:
    """Run every measurement once per round, ``repeats`` rounds after a warm-up round (``warm_up=False``: the caller
    has run each once already), interleaved so that a slow spell of the machine hits all of them alike. Returns
    name -> list of seconds (one per round)."""
    if warm_up:
        for measure in measurements.values():
            measure()
    rounds = {name: [] for name in measurements}
    for _ in range(repeats):
        for name, measure in measurements.items():
            rounds[name].append(measure())
    return rounds


def median_and_spread(values):
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(med), float(q3 - q1)


def median_ratio(rounds: dict, num: str, den: str) -> float:
    """Median over rounds of the per-round ratio: robust to the machine's drift between rounds."""
    return float(np.median(np.asarray(rounds[num]) / np.asarray(rounds[den])))


def marginal(run, lengths):
    """A measurement of the marginal per-iteration time of a compiled loop: ``run(steps)`` gives a call that runs
    ``steps`` iterations; (t(long) - t(short)) / (long - short) leaves out per-call set-up. Compiles both first."""
    short, long_ = run(lengths[0]), run(lengths[1])
    short()
    long_()

    def measure():
        t0 = time.perf_counter()
        short()
        t1 = time.perf_counter()
        long_()
        t2 = time.perf_counter()
        return ((t2 - t1) - (t1 - t0)) / (lengths[1] - lengths[0])

    return measure
