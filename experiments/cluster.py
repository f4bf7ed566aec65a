"""Sweeps of units of work, on one process or split across processes and hosts (``jax.distributed``): each
process runs its share, saves each unit in the shared ``UnitStore`` (the same files as resume), and process 0
gathers, summarizes and plots.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from experiments.cli import MERGE_TIMEOUT, progress
from experiments.store import UnitStore, finish, with_fields


def cluster_problem(c) -> str | None:
    """The usage error in a ``Cluster`` config's process flags, or None."""
    if c.num_processes < 1 or not 0 <= c.process_id < c.num_processes:
        return f"need --num-processes >= 1 and 0 <= --process-id < it; got {c.num_processes} and {c.process_id}."
    if c.num_processes > 1 and not c.coordinator:
        return "--num-processes > 1 needs --coordinator HOST:PORT (or use --distributed on a cluster)."
    if c.coordinator and not c.coordinator.rpartition(":")[2].isdigit():
        return f"--coordinator must be HOST:PORT; got {c.coordinator!r}."
    if not c.merge_timeout > 0:
        return f"--merge-timeout must be a positive number of seconds; got {c.merge_timeout!r}."
    return None


def start_processes(config) -> tuple[int, int]:
    """Join the run across processes that the flags describe (``jax.distributed.initialize``; before any other JAX
    call) and return (this process's index, the number of processes): (0, 1) for a single process."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    if config.coordinator:
        jax.distributed.initialize(
            coordinator_address=config.coordinator, num_processes=config.num_processes, process_id=config.process_id
        )
    elif config.distributed:
        jax.distributed.initialize()
    return jax.process_index(), jax.process_count()


class NotMerged(NamedTuple):
    """What a process other than 0 of a run across processes returns once its units are saved (process 0 merges).

    Attributes:
      process: this process's index (1 .. count - 1).
      reused_units: how many of its units it read back from the store instead of computing them.
    """

    process: int
    reused_units: int


def saved_not_merged(process: tuple[int, int], store: UnitStore, reused: int) -> NotMerged:
    """Say where a process other than 0 left its units, and return its ``NotMerged``."""
    print(f"process {process[0]} of {process[1]}: its units are in {store.directory}; process 0 merges and plots")
    return NotMerged(process[0], reused)


def run_sweep(
    config,
    name: str,
    process: tuple[int, int],
    jobs,
    *,
    desc: str,
    summarize,
    report,
    plot,
    equivalent=None,
    **run_kwargs,
) -> Any:
    """The tail every experiment made of units shares: ``run_units`` over ``jobs`` with resume in
    <out>/<name>_runs (split across processes as ``process`` says; ``run_kwargs`` go to ``run_units``), then, on
    process 0, ``summary = summarize(results)`` (a typed record with a ``reused_units`` field) with the number of
    reused units set, ``report(summary)`` (the printed table) and ``finish`` (JSON, PNG, PDF); returns the summary.
    ``equivalent``: the store's test of a unit stored under another config (``UnitStore``).
    Another process returns its ``NotMerged`` once its units are saved. Call ``start_processes`` before building
    the jobs: it must come before JAX computes anything."""
    out = Path(config.out)
    store = UnitStore(out / f"{name}_runs", equivalent)
    run_kwargs.setdefault("wait_seconds", config.merge_timeout)
    results, reused = run_units(store, jobs, desc=desc, resume=config.resume, process=process, **run_kwargs)
    if results is None:  # a process other than 0 of a run across processes
        return saved_not_merged(process, store, reused)
    summary = with_fields(summarize(results), reused_units=reused)
    report(summary)
    return finish(summary, plot, out, name)


def owners(groups: list, count: int) -> list[int]:
    """The process that runs each job: groups (e.g. a data family whose units run in order) go round-robin to the
    ``count`` processes in the order they first appear; every job of one group goes to the same process."""
    order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    return [order[g] % count for g in groups]


def run_units(
    store: UnitStore,
    jobs,
    *,
    desc: str,
    resume: bool = True,
    on_result=None,
    process=(0, 1),
    groups: list | None = None,
    poll_seconds: float = 1.0,
    wait_seconds: float = MERGE_TIMEOUT,
) -> tuple[list[dict] | None, int]:
    """Run ``jobs`` [(name, config, compute)] with a progress bar, saving each result as it finishes.

    A job whose stored config matches is read back instead of recomputed (unless ``resume`` is False). A job's
    config may be a callable, called when the job's turn comes: a config that depends on an earlier job's stored
    result (for example where a search starts); it returns None while that result is not in the store yet.
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
    fault = _FaultHook()
    if count > 1:
        mine = owners(groups or [name for name, _, _ in jobs], count)
        own, reused = _run_jobs(
            store,
            [j for j, o in zip(jobs, mine) if o == index],
            desc=f"{desc} [process {index}/{count}]",
            resume=resume,
            on_result=on_result,
            fault=fault,
        )
        if index != 0:
            return None, reused
        owner = {name: o for (name, _, _), o in zip(jobs, mine)}
        others = {name for name, o in owner.items() if o != index}
        return _gather(store, jobs, poll_seconds, wait_seconds, others=others, fault=fault, owner=owner), reused
    return _run_jobs(store, jobs, desc=desc, resume=resume, on_result=on_result, fault=fault)


def _gather(
    store: UnitStore,
    jobs,
    poll_seconds: float,
    wait_seconds: float,
    *,
    others: set = frozenset(),
    fault: _FaultHook | None = None,
    owner: dict | None = None,
) -> list[dict]:
    """Every job's result from the store, waiting for the other processes to write theirs (``others``: their
    jobs' names, whose arrival the fault hook counts)."""
    deadline = time.monotonic() + wait_seconds
    results: dict[str, dict] = {}
    while True:
        for name, config, _ in jobs:
            if name not in results:
                config = config() if callable(config) else config
                found = None if config is None else store.load(name, config)
                if found is not None:
                    results[name] = found
                    if fault is not None and name in others:
                        fault.unit_done()
        missing = [name for name, _, _ in jobs if name not in results]
        if not missing:
            return [results[name] for name, _, _ in jobs]
        if time.monotonic() > deadline:
            by = {}
            for name in missing:
                by.setdefault((owner or {}).get(name, "?"), []).append(name)
            which = "; ".join(f"process {o}: {', '.join(names)}" for o, names in sorted(by.items(), key=str))
            raise TimeoutError(
                f"{len(missing)} units did not appear in {store.directory} within {wait_seconds:g} s ({which}); "
                "rerun to resume (finished units are kept)."
            )
        time.sleep(poll_seconds)


EXIT_AFTER_UNITS = "NTK_PROOFS_EXIT_AFTER_UNITS"
"""Fault injection for the tests of resume: with this environment variable set to N, a process exits (code
``FAULT_EXIT_CODE``, without cleanup, as a killed process would) at the N-th unit it saved or, on process 0 waiting
for the others, saw arrive: an event, never a timer, decides when it dies."""
FAULT_EXIT_CODE = 75


class _FaultHook:
    """Counts the units of ``EXIT_AFTER_UNITS`` and exits the process at the limit (no limit: never)."""

    def __init__(self):
        value = os.environ.get(EXIT_AFTER_UNITS)
        if value is not None and (not value.isdigit() or int(value) < 1):
            raise ValueError(f"{EXIT_AFTER_UNITS} must be a positive integer; got {value!r}.")
        self.limit = None if value is None else int(value)
        self.count = 0

    def unit_done(self) -> None:
        self.count += 1
        if self.limit is not None and self.count >= self.limit:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(FAULT_EXIT_CODE)


def _run_jobs(
    store: UnitStore, jobs, *, desc: str, resume: bool, on_result, fault: _FaultHook | None = None
) -> tuple[list[dict], int]:
    results, reused = [], 0
    with progress(jobs, desc=desc, unit="run") as bar:
        for name, config, compute in bar:
            bar.set_postfix_str(name)
            config = config() if callable(config) else config
            if config is None:
                raise RuntimeError(f"the config of unit {name} depends on a result that is not in {store.directory}.")
            result = store.load(name, config) if resume else None
            if result is None:
                store.save(name, config, compute())
                if fault is not None:
                    fault.unit_done()
                result = store.load(name, config)
            else:
                reused += 1
            results.append(result)
            if on_result is not None:
                on_result(name, result)
    if reused:
        print(f"(resumed: {reused} of {len(results)} units read from {store.directory})", file=sys.stderr)
    return results, reused
