"""The same public calls timed in two checkouts of ntk_proofs, side by side in one run: ``python -m
benchmarks.compare_trees OLD NEW [--rounds 5]``, with OLD and NEW two repository roots (for example a
``git worktree`` of an older commit and this one).

Each round runs every case once in each tree, alternating which tree goes first, in a fresh process whose
``PYTHONPATH`` is that tree; a case compiles once (not timed) and then times ``--reps`` calls, keeping their median.
The report gives, per case, the median over rounds of each tree's time and of the per-round ratio NEW / OLD, so that
a machine that slows down during the run slows both sides of a ratio alike. The cases call only public functions
that both trees have (``train_gd``, ``train_family``), so that the comparison measures the code, not the API.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CASES = {
    # (n, d, m, steps, record_every, certify): the Du et al. run's bare steps, with diagnostics, with the proof of (C2)
    "train_gd bare steps (n=d=256, m=4096, 100 steps, record_every=0)": ("du", 256, 256, 4096, 100, 0, False),
    "train_gd diagnostics every step (n=d=256, m=4096, 100 steps)": ("du", 256, 256, 4096, 100, 1, False),
    "train_gd diagnostics + (C2) proof every step (n=d=256, m=4096, 100 steps)": ("du", 256, 256, 4096, 100, 1, True),
    "train_family kernel tracking every step (n=64, d=32, m=1024, 100 steps)": ("family", 64, 32, 1024, 100, 1, False),
}

WORKER = r"""
import json, statistics, sys, time
import jax, jax.numpy as jnp
import ntk_proofs as nt
kind, n, d, m, steps, every, certify, reps = json.loads(sys.argv[1])
kx, ky, kp = jax.random.split(jax.random.PRNGKey(0), 3)
X, y = nt.unit_sphere(kx, n, d), nt.gaussian_labels(ky, n)
p = nt.init_params(kp, m, d)
lam0 = nt.lambda_zero(X)
eta = 1.0 / float(jnp.linalg.eigvalsh(nt.gram_infinity(X))[-1])
if kind == "du":
    extra = dict(certify_lambda0=lam0) if certify else {}
    call = lambda: nt.train_gd(p, X, y, eta=eta, steps=steps, record_every=every, **extra).loss
else:
    call = lambda: nt.train_family(p, X, y, eta=eta, steps=steps, record_every=every).loss
jax.block_until_ready(call())  # compile, not timed
times = []
for _ in range(reps):
    t = time.perf_counter(); jax.block_until_ready(call()); times.append(time.perf_counter() - t)
print(json.dumps(statistics.median(times)))
"""


def time_case(tree: Path, case: tuple, reps: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps([*case, reps])],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="root of the older checkout")
    parser.add_argument("new", type=Path, help="root of the newer checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compare_trees.json")
    args = parser.parse_args(argv)
    results = {}
    for name, case in CASES.items():
        old, new = [], []
        for r in range(args.rounds):
            order = [(args.old, old), (args.new, new)]
            for tree, into in order if r % 2 == 0 else order[::-1]:
                into.append(time_case(tree, case, args.reps))
        ratios = np.asarray(new) / np.asarray(old)
        results[name] = dict(
            old_s=float(np.median(old)),
            new_s=float(np.median(new)),
            ratio_new_over_old=float(np.median(ratios)),
            ratio_min=float(ratios.min()),
            ratio_max=float(ratios.max()),
            old_rounds=old,
            new_rounds=new,
        )
        print(
            f"{name}: old {np.median(old):.4f} s, new {np.median(new):.4f} s, new/old {np.median(ratios):.3f} "
            f"[{ratios.min():.3f}, {ratios.max():.3f}]",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(old=str(args.old), new=str(args.new), rounds=args.rounds, cases=results)
    args.out.write_text(json.dumps(report, indent=1))
    return results


if __name__ == "__main__":
    main()
