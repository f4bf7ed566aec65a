"""Benchmark: one GD step of the Du et al. net against the machine's matmul limit, NumPy and PyTorch; the cost of
the diagnostics; sequential vs batched sweeps.

    python -m experiments.bench            # full grid, a few minutes on 2 CPU cores
    python -m experiments.bench --quick    # under two minutes

All times are medians over repeats after warm-up, measured side by side in one run; per-step times of the
project are marginal costs, (t(12 steps) - t(4 steps)) / 8 of one compiled scan, so per-call set-up does
not count. Writes benchmarks/bench_<platform>.json and .png (time vs m on log-log axes with the fitted slope).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

QUICK_GRID = [(500, 500, 1024), (500, 500, 4096), (1000, 1000, 8192)]
FULL_GRID = [(256, 256, 1024), (1000, 1000, 1024), (1000, 1000, 2048), (1000, 1000, 4096), (1000, 1000, 8192),
             (1000, 1000, 16384)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smaller grid and fewer repeats (under two minutes)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 5, quick 2)")
    p.add_argument("--out", default="benchmarks", help="output folder")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline even if installed")
    return p.parse_args(argv)


def timed(fn, repeats):
    """Median and interquartile spread of ``repeats`` timed calls after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    q1, med, q3 = np.percentile(ts, [25, 50, 75])
    return float(med), float(q3 - q1)


def problem(n, d, m, dtype="float32"):
    import jax
    import ntk_proofs as nt

    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d, dtype=dtype)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), n, dtype=dtype)
    p = nt.init_params(jax.random.PRNGKey(2), m, d, dtype=dtype)
    return X, y, p


def project_step(X, y, p, repeats, record_every=0, lambda_method="lanczos"):
    """Marginal per-step time of the compiled scan, and its spread."""
    import jax
    import jax.numpy as jnp
    from ntk_proofs.dynamics import _trajectory

    def run(steps):
        return lambda: jax.block_until_ready(_trajectory(p.W, p.a, X, y, jnp.asarray(0.5, X.dtype),
                                                         jnp.asarray(1e4, X.dtype), steps=steps,
                                                         record_every=record_every, optimizer=None,
                                                         lambda_method=lambda_method))

    short, long_ = (10, 20) if record_every == 10 else (4, 12)
    t_short, s_short = timed(run(short), repeats)
    t_long, s_long = timed(run(long_), repeats)
    return (t_long - t_short) / (long_ - short), (s_short + s_long) / (long_ - short)


def matmul_limit(X, p, repeats):
    """Time of the step's two matmuls alone: forward X W^T (n, m) and the gradient product R^T X (m, d)."""
    import jax
    import jax.numpy as jnp

    R = jnp.ones((X.shape[0], p.W.shape[0]), X.dtype)
    pair = jax.jit(lambda X, W, R: (X @ W.T, R.T @ X))
    return timed(lambda: jax.block_until_ready(pair(X, p.W, R)), repeats)


def baseline_steps(X, y, p, repeats, use_torch):
    from experiments.bench_baselines import numpy_step, torch_available, torch_step

    out = {}
    for name, dtype in (("numpy_float32", np.float32), ("numpy_float64", np.float64)):
        W, a, Xn, yn = (np.array(v, dtype=dtype) for v in (p.W, p.a, X, y))
        out[name] = timed(lambda: numpy_step(W, a, Xn, yn, dtype(0.5)), repeats)
    if use_torch and torch_available():
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        W, a, Xt, yt = (torch.from_numpy(np.array(v, dtype=np.float32)) for v in (p.W, p.a, X, y))
        out["torch_float32"] = timed(lambda: torch_step(W, a, Xt, yt, 0.5), repeats)
    return out


def peak_temp_bytes(X, y, p):
    """XLA's own memory analysis of the compiled 12-step scan with diagnostics every step."""
    import jax.numpy as jnp
    from ntk_proofs.dynamics import _trajectory

    lowered = _trajectory.lower(p.W, p.a, X, y, jnp.asarray(0.5, X.dtype), jnp.asarray(1e4, X.dtype), steps=12,
                                record_every=1, optimizer=None, lambda_method="lanczos")
    analysis = lowered.compile().memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)


def sweep_comparison(repeats):
    """A small width sweep (3 widths x 3 seeds), sequential train_gd calls vs one train_gd_batched per width."""
    import jax
    import jax.numpy as jnp
    import ntk_proofs as nt

    n = d = 200
    widths, seeds, steps = (64, 256, 1024), 3, 50
    data = [(nt.unit_sphere(jax.random.PRNGKey(s), n, d), nt.gaussian_labels(jax.random.PRNGKey(100 + s), n))
            for s in range(seeds)]
    params = {m: [nt.init_params(jax.random.PRNGKey(1000 * m + s), m, d) for s in range(seeds)] for m in widths}

    def sequential():
        for m in widths:
            for s in range(seeds):
                jax.block_until_ready(nt.train_gd(params[m][s], *data[s], eta=0.8, steps=steps).loss)

    def batched():
        X = jnp.stack([x for x, _ in data])
        y = jnp.stack([t for _, t in data])
        for m in widths:
            P = nt.Params(jnp.stack([q.W for q in params[m]]), jnp.stack([q.a for q in params[m]]))
            jax.block_until_ready(nt.train_gd_batched(P, X, y, eta=0.8, steps=steps).loss)

    return dict(config=dict(n=n, d=d, widths=widths, seeds=seeds, steps=steps),
                sequential=timed(sequential, max(1, repeats // 2)), batched=timed(batched, max(1, repeats // 2)))


def main(argv=None) -> dict:
    args = parse_args(argv)
    import jax
    from tqdm.auto import tqdm

    import ntk_proofs as nt
    from experiments.plotting.bench import plot_bench
    from experiments.plotting.style import save_figure
    from experiments.report import format_table, versions, write_json

    repeats = args.repeats or (2 if args.quick else 5)
    grid = QUICK_GRID if args.quick else FULL_GRID
    rows = []
    for n, d, m in tqdm(grid, desc="bench: steps", unit="shape"):
        X, y, p = problem(n, d, m)
        step, step_spread = project_step(X, y, p, repeats)
        limit, limit_spread = matmul_limit(X, p, repeats)
        rows.append(dict(n=n, d=d, m=m, flops=4 * n * m * d, project=step, project_spread=step_spread,
                         matmul_limit=limit, matmul_spread=limit_spread,
                         **{k: v[0] for k, v in baseline_steps(X, y, p, repeats, not args.no_torch).items()}))
    n, d, m = 1000, 1000, 8192
    X, y, p = problem(n, d, m)
    diag = {}
    for every in tqdm((0, 10, 1), desc="bench: diagnostics", unit="setting"):
        diag[every] = project_step(X, y, p, repeats, record_every=every)[0]
    ref = nt.train_gd(p, X, y, eta=0.8, steps=20, lambda_min_method="eigh")
    fast = nt.train_gd(p, X, y, eta=0.8, steps=20, lambda_min_method="lanczos")
    lanczos_error = float(np.max(np.abs(np.asarray(fast.history.lambda_min) - np.asarray(ref.history.lambda_min))
                                 / np.asarray(ref.history.lambda_min)))
    memory = peak_temp_bytes(X, y, p)
    sweep = sweep_comparison(repeats)
    big = [r for r in rows if r["n"] == 1000 and r["m"] >= 2048]
    slope = nt.loglog_slope([r["m"] for r in big], [r["project"] for r in big])._asdict() if len(big) >= 2 else None
    device = jax.devices()[0]
    summary = dict(
        benchmark="Du et al. two-layer net, one full-batch GD step, float32", device=str(device),
        platform=device.platform, device_kind=getattr(device, "device_kind", ""), cpu_count=os.cpu_count(),
        repeats=repeats, quick=args.quick, steps=rows,
        diagnostics=dict(shape=[n, d, m], bare=diag[0], every_10=diag[10], every_1=diag[1],
                         overhead_every_1=diag[1] / diag[0] - 1, overhead_every_10=diag[10] / diag[0] - 1,
                         lanczos_vs_eigvalsh_max_relative_error=lanczos_error),
        memory=dict(shape=[n, d, m], xla_temp_and_output_bytes=memory, nmd_array_bytes=4 * n * m * d,
                    nnm_array_bytes=4 * n * n * m),
        sweep=sweep, slope_vs_m=slope, versions=versions(),
    )
    out = Path(args.out)
    stem = f"bench_{device.platform}" + ("_quick" if args.quick else "")
    json_path = write_json(out / f"{stem}.json", summary)
    figure_paths = save_figure(plot_bench(summary), out, stem)

    print(f"\nOne GD step, float32, on {device} ({os.cpu_count()} CPU cores), medians of {repeats} repeats:")
    table = []
    for r in rows:
        table.append([f"({r['n']}, {r['d']}, {r['m']})", r["project"], r["matmul_limit"], r["project"] / r["matmul_limit"],
                      r["numpy_float32"] / r["project"], r["numpy_float64"] / r["project"],
                      (r["torch_float32"] / r["project"]) if "torch_float32" in r else "n/a",
                      4 * r["n"] * r["m"] * r["d"] / r["project"] / 1e9])
    print(format_table(["(n, d, m)", "project s", "matmul s", "project/matmul", "NumPy32/project", "NumPy64/project",
                        "PyTorch/project", "GFLOP/s"], table))
    if not any("torch_float32" in r for r in rows):
        print("(PyTorch not installed or --no-torch: its column is skipped; pip install torch to include it)")
    dg = summary["diagnostics"]
    print(f"\nDiagnostics at (n, d, m) = ({n}, {d}, {m}): bare {dg['bare']:.4f} s/step; every step "
          f"{dg['every_1']:.4f} (+{100 * dg['overhead_every_1']:.0f}%); every 10 steps {dg['every_10']:.4f} "
          f"({100 * dg['overhead_every_10']:+.1f}%); Lanczos lambda_min vs eigvalsh: max relative error {lanczos_error:.1e}")
    if slope:
        print(f"step time vs m for m >= 2048: slope {slope['slope']:.3f} (95% CI [{slope['ci_low']:.3f}, {slope['ci_high']:.3f}])")
    if memory is not None:
        print(f"XLA temp + output memory of a 12-step scan with diagnostics: {memory / 2**20:.0f} MiB; an (n, m, d) float32 "
              f"array would take {4 * n * m * d / 2**30:.1f} GiB, an (n, n, m) one {4 * n * n * m / 2**30:.1f} GiB")
    sw = summary["sweep"]
    print(f"sweep {sw['config']}: sequential {sw['sequential'][0]:.2f} s, batched over seeds {sw['batched'][0]:.2f} s "
          f"(ratio {sw['sequential'][0] / sw['batched'][0]:.2f})")
    print("wrote " + ", ".join(str(p) for p in [*figure_paths, json_path]))
    return summary


if __name__ == "__main__":
    main()
