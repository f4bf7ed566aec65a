"""Benchmark: one GD step of the Du et al. net against the machine's matmul limit, NumPy and PyTorch; the cost of
the diagnostics; sequential vs batched sweeps; the --paper sweep's parts; a net sharded over its neurons; the
empirical NTK; Lanczos vs power iteration for Hessian eigenvalues.

    python -m benchmarks            # full grid
    python -m benchmarks --quick    # a smaller grid, fewer repeats
    python -m experiments.bench     # an alias

All times are medians over rounds after a warm-up round; in each round every variant runs once, side by side,
and every ratio is the median of its per-round ratios. Per-step times of the project are marginal costs of
``ntk_proofs.train_gd``, (t(30 steps) - t(10 steps)) / 20 (4 and 12 with --quick), so per-call set-up does not
count. train_gd's two step forms are timed: "weights" (W updated: X W^T and D^T X, 4 n m d flops, as NumPy and
PyTorch do it) and "kernel" (the default when n < 2 d: X W^T carried and updated by one (n, n) x (n, m)
product, 2 n^2 m flops). The bench calls public functions only (``ntk_proofs.__all__``, and a module's documented
function where ``__all__`` has none). Writes benchmarks/results/bench_<platform>.json and .png (time vs m on log-log
axes with the fitted slope); ``--cases`` runs some of the cases only (the JSON alone, unless both "steps" and
"diagnostics" ran).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks.cases.du_step import (
    baseline_steps,
    critical_width_steps,
    default_step_form,
    factorizations_per_100_steps,
    flips_per_step,
    lanczos_vs_eigvalsh,
    matmul_limit,
    problem,
    project_step,
)
from benchmarks.cases.hessian import hessian_methods
from benchmarks.cases.ntk import ntk_memory
from benchmarks.cases.paper_profile import paper_profile
from benchmarks.cases.sharding import sharded_run
from benchmarks.cases.sweep import sweep_comparison
from benchmarks.harness import median_and_spread, median_ratio, side_by_side
from experiments.cli import format_table

# the sizes of each preset: "full" (the default), "quick" (--quick) and "smoke" (--smoke: the smallest, for tests)
PRESETS = dict(
    full=dict(
        grid=[
            (256, 256, 1024),
            (1000, 1000, 1024),
            (1000, 1000, 2048),
            (1000, 1000, 4096),
            (1000, 1000, 8192),
            (1000, 1000, 16384),
        ],
        lengths=(10, 30),
        repeats=5,
        diagnostics_shape=(1000, 1000, 8192),
        every_10_lengths=(10, 30),
        weights_diagnostics=True,
        check_steps=20,
        sweep={},
        paper=dict(quick=False),
        ntk_cpu=(500, 300),
        ntk_gpu=(2000, 1000),
        hessian={},
        critical_width={},
    ),
    quick=dict(
        grid=[(500, 500, 1024), (500, 500, 2048), (500, 500, 4096)],
        lengths=(4, 12),
        repeats=2,
        diagnostics_shape=(1000, 1000, 4096),
        every_10_lengths=(10, 30),
        weights_diagnostics=False,
        check_steps=10,
        sweep={},
        paper=dict(quick=True),
        ntk_cpu=(200, 100),
        ntk_gpu=(200, 100),
        hessian={},
        critical_width=dict(seeds=4, repeats=2),
    ),
    smoke=dict(
        grid=[(32, 32, 64), (32, 32, 128)],
        lengths=(2, 4),
        repeats=1,
        diagnostics_shape=(32, 32, 128),
        every_10_lengths=(10, 20),
        weights_diagnostics=True,
        check_steps=4,
        sweep=dict(n=16, widths=(8, 16), seeds=2, steps=5),
        paper=dict(override=dict(n=12, d=12, widths=(16, 32), steps=5)),
        ntk_cpu=(16, 8),
        ntk_gpu=(16, 8),
        hessian=dict(k=2, tols=(1e-3,), sizes=(64, 8, 1), n=50),
        critical_width=dict(n=16, d=16, m=16, seeds=2, lengths=(2, 4), repeats=1),
    ),
)
CASES = (
    "steps",
    "diagnostics",
    "sweep",
    "paper_profile",
    "sharded",
    "ntk",
    "hessian_eigenvalues",
    "critical_width_steps",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="a smaller grid (n = d = 500), diagnostics at m = 4096, fewer repeats"
    )
    size.add_argument("--smoke", action="store_true", help="the smallest sizes of every case, one round (for tests)")
    p.add_argument(
        "--repeats", type=int, default=None, help="timed rounds per measurement (default 5, quick 2, smoke 1)"
    )
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="the cases to run")
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline even if installed")
    p.add_argument(
        "--ntk-n",
        type=int,
        default=None,
        help="inputs of the empirical-NTK benchmark (default 2000 on GPU, 500 on CPU, 200 with --quick)",
    )
    p.add_argument(
        "--ntk-hidden",
        type=int,
        default=None,
        help="hidden width of its MLP (default 1000 on GPU: about 1M parameters; 300 on CPU; 100 quick)",
    )
    return p.parse_args(argv)


RATIOS = [
    ("kernel", "matmul_limit"),
    ("weights", "matmul_limit"),
    ("numpy_float32", "kernel"),
    ("numpy_float32", "weights"),
    ("numpy_float64", "kernel"),
    ("numpy_float64", "weights"),
    ("torch_float32", "kernel"),
    ("torch_float32", "weights"),
]


DIAGNOSTIC_SETTINGS = {
    "bare": dict(record_every=0),
    "every_10": dict(record_every=10),
    "every_1": dict(record_every=1),
    "every_1_certified": dict(record_every=1, certify=True),  # everything every step, with the proof of (C2)
    # (C2) proved at every step, lambda_min, flips and drift every 10 steps
    "every_10_certified_every_1": dict(record_every=10, certify=True, certify_every=1),
    "weights_bare": dict(record_every=0, step_form="weights"),
    "weights_every_1": dict(record_every=1, step_form="weights"),
    # the naive way: H(k) recomputed densely (flip budget 0) and eigvalsh, every step
    "weights_dense_eigh_every_1": dict(record_every=1, step_form="weights", lambda_method="eigh", flip_budget=0),
}


def print_summary(summary: dict) -> None:
    """The tables this benchmark prints, one block per case that ran."""
    print(
        f"\n{summary['device']} ({summary['cpu_count']} CPU cores), float32: medians over {summary['repeats']} "
        "interleaved rounds; each ratio is the median of its per-round ratios."
    )
    if "steps" in summary:
        print_steps(summary["steps"], summary["slope_vs_m"])
    if "diagnostics" in summary:
        print_diagnostics(summary["diagnostics"])
    print_others(summary)


def print_steps(rows: list[dict], slopes: dict | None) -> None:
    print("\nOne GD step:")
    print(
        "kernel = train_gd's default here (X W^T carried and updated by one (n,n)x(n,m) product, 2 n^2 m flops); "
        "weights = W updated (4 n m d flops, like NumPy and PyTorch)."
    )
    table = []
    for r in rows:
        q = r["ratios"]
        table.append(
            [f"({r['n']}, {r['d']}, {r['m']})", r["kernel"], r["weights"], r["matmul_limit"]]
            + [q.get(f"{a}/{b}", "n/a") for a, b in RATIOS]
        )
    print(
        format_table(
            ["(n, d, m)", "kernel s", "weights s", "matmul s"]
            + [
                f"{a}/{b}".replace("numpy_float", "NumPy")
                .replace("torch_float32", "PyTorch")
                .replace("matmul_limit", "matmul")
                for a, b in RATIOS
            ],
            table,
        )
    )
    if not any("torch_float32" in r for r in rows):
        print("(PyTorch not installed or --no-torch: its columns are skipped; pip install torch to include them)")
    if slopes:
        print(
            "step time vs m for m >= 2048: "
            + "; ".join(
                f"{form} slope {s['slope']:.3f} (95% CI [{s['ci_low']:.3f}, {s['ci_high']:.3f}])"
                for form, s in slopes.items()
            )
        )


def print_diagnostics(diag: dict) -> None:
    n, d, m = diag["shape"]
    o = diag["overhead"]
    flips = np.mean(diag["flips_per_step"])
    print(
        f"\nDiagnostics (H(k), lambda_min by warm-started Lanczos, flips, drift) at (n, d, m) = ({n}, {d}, {m}), "
        f"{flips:.0f} pattern entries flipping per step ({100 * flips / (n * m):.2f}%):"
    )
    print(
        f"  kernel form: bare {diag['bare']:.4f} s/step; "
        f"every step {diag['every_1']:.4f} ({100 * o['every_1']:+.0f}%); "
        f"every 10 steps {diag['every_10']:.4f} ({100 * o['every_10']:+.1f}%); every step with the proof "
        f"of (C2) {diag['every_1_certified']:.4f} ({100 * o['every_1_certified']:+.0f}%)"
    )
    if "every_10_certified_every_1" in o:
        print(
            f"  (C2) proved at every step, measured every 10: {diag['every_10_certified_every_1']:.4f} s/step "
            f"({100 * o['every_10_certified_every_1']:+.1f}%), "
            f"{diag['factorizations_per_100_steps']:.1f} Cholesky factorizations per 100 steps "
            f"(lambda_0 = {diag['lambda0']:.4g})"
        )
    if "weights_every_1" in o:
        print(
            f"  weights form: bare {diag['weights_bare']:.4f} s/step; every step {diag['weights_every_1']:.4f} "
            f"({100 * o['weights_every_1']:+.0f}%); dense H(k) + eigvalsh every step "
            f"{diag['weights_dense_eigh_every_1']:.4f} ({100 * o['weights_dense_eigh_every_1']:+.0f}%)"
        )
    print(f"  Lanczos lambda_min vs eigvalsh: max relative error {diag['lanczos_vs_eigvalsh_max_relative_error']:.1e}")


def print_others(summary: dict) -> None:
    pp = summary.get("paper_profile")
    if pp:
        c, q = pp["config"], pp["parts_over_products"]
        print(
            f"\nThe --paper width sweep (n = d = {c['n']}, widths {c['widths']}, {c['steps']} steps, diagnostics every "
            f"{c['record_every']} step(s) with the proof of (C2)): {pp['sums']['total'] + pp['setup']:.1f} s, "
            f"{pp['ratio']:.2f} x the {pp['sums']['products']:.1f} s of its (n, n) @ (n, m) products; in units of the "
            f"products: compile {q['compile']:.2f}, steps {q['steps']:.2f}, diagnostics {q['diagnostics']:.2f}, "
            f"rest {q['rest']:.2f}, set-up {pp['setup'] / pp['sums']['products']:.2f}"
        )
        print(
            "  Cholesky factorizations of the (C2) proof per 100 steps: "
            + ", ".join(f"m = {r['m']}: {r['factorizations_per_100_steps']:.0f}" for r in pp["widths"])
        )
    cw = summary.get("critical_width_steps")
    if cw:
        n, d, m = cw["shape"]
        print(
            f"Critical-width search runs at (n, d, m) = ({n}, {d}, {m}), {cw['seeds']} seeds batched, every step "
            f"recorded: {cw['bare']:.4f} s/step without the (C2) proof, {cw['certified']:.4f} with it "
            f"({100 * cw['overhead']:+.0f}%), {cw['factorizations_per_100_steps']:.0f} factorizations per 100 steps "
            "per run"
        )
    sh = summary.get("sharded")
    if sh:
        forced = f" (host devices forced to {sh['forced_host_devices']})" if "forced_host_devices" in sh else ""
        print(
            f"One net sharded over its neurons, (n, d, m) = {tuple(sh['shape'])}, {sh['steps']} steps with diagnostics"
            f"{forced}: "
            + ", ".join(
                f"{c} device{'s' if c != '1' else ''}: W {b / 2**20:.1f} MiB per device, {sh['seconds'][c]:.2f} s "
                f"({sh['over_one_device'][c]:.2f}x), loss within {sh['max_relative_loss_difference'][c]:.1e}"
                for c, b in sh["bytes_per_device"].items()
            )
        )
    nk = summary.get("ntk")
    if nk:
        print(
            f"\nEmpirical NTK, n = {nk['n']} inputs, MLP {nk['sizes']} ({nk['parameters']:,} parameters; the full "
            f"Jacobian would take {nk['full_jacobian_bytes'] / 2**30:.1f} GiB): "
            + "; ".join(
                f"{m}: block {nk[m]['batch_size']} (auto, chosen in {nk[m]['choose_seconds']:.2f} s), "
                f"{nk[m]['seconds']:.2f} s"
                for m in ("jacobian", "ntvp")
            )
            + f"; ntvp / jacobian {nk['ntvp_over_jacobian']:.2f}; methods agree to {nk['max_relative_difference']:.1e}"
            + ("" if nk["device_peak_bytes"] is None else f"; device peak {nk['device_peak_bytes'] / 2**30:.2f} GiB")
        )
    he = summary.get("hessian_eigenvalues")
    if he:
        print(
            f"Top-{he['k']} Hessian eigenvalues by magnitude ({he['parameters']:,} parameters), in Hessian-vector "
            "products: "
            + "; ".join(
                f"power iteration (tol {r['tol']:g}) {r['power_products']} "
                f"(max relative error {r['power_error']:.1e}), "
                f"Lanczos to that accuracy {r['lanczos_products']} ({r['lanczos_over_power']:.3f} of it; "
                f"{r['lanczos_over_power_seconds']:.4f} of its seconds)"
                for r in he["runs"]
            )
        )
    sw = summary.get("sweep")
    if sw:
        print(
            f"sweep {sw['config']}: sequential {sw['sequential'][0]:.2f} s, batched over seeds "
            f"{sw['batched'][0]:.2f} s (ratio {sw['sequential_over_batched']:.2f})"
        )


def step_rows(preset: dict, repeats: int, use_torch: bool) -> list[dict]:
    """The "steps" case: per shape of the grid, both step forms, the matmul limit and the baselines side by side."""
    from tqdm.auto import tqdm

    lengths, rows = preset["lengths"], []
    for n, d, m in tqdm(preset["grid"], desc="bench: steps", unit="shape"):
        X, y, p = problem(n, d, m)
        measurements = dict(
            kernel=project_step(X, y, p, lengths, step_form="kernel"),
            weights=project_step(X, y, p, lengths, step_form="weights"),
            matmul_limit=matmul_limit(X, p, lengths),
            **baseline_steps(X, y, p, use_torch),
        )
        rounds = side_by_side(measurements, repeats)
        row = dict(
            n=n, d=d, m=m, flops_weights=4 * n * m * d, flops_kernel=2 * n * n * m, default_form=default_step_form(n, d)
        )
        for name, values in rounds.items():
            row[name], row[name + "_spread"] = median_and_spread(values)
        row["project"] = row[row["default_form"]]
        row["ratios"] = {f"{a}/{b}": median_ratio(rounds, a, b) for a, b in RATIOS if a in rounds and b in rounds}
        rows.append(row)
    return rows


def diagnostics(preset: dict, repeats: int) -> dict:
    """The "diagnostics" case: the per-step cost of each recording setting against the bare step of its form."""
    from tqdm.auto import tqdm

    import ntk_proofs as nt

    n, d, m = preset["diagnostics_shape"]
    lengths = preset["lengths"]
    X, y, p = problem(n, d, m)
    settings = {k: v for k, v in DIAGNOSTIC_SETTINGS.items() if preset["weights_diagnostics"] or "weights" not in k}
    lambda0 = float(nt.lambda_zero(X))
    every_10 = ("every_10", "every_10_certified_every_1")
    measurements = {
        k: project_step(X, y, p, preset["every_10_lengths"] if k in every_10 else lengths, lambda0=lambda0, **v)
        for k, v in tqdm(settings.items(), desc="bench: diagnostics (compiling)", unit="setting")
    }
    rounds = side_by_side(measurements, repeats)
    diag = dict(shape=[n, d, m], lengths=list(lengths), **{k: median_and_spread(v)[0] for k, v in rounds.items()})
    overheads = dict(
        every_1=("every_1", "bare"),
        every_10=("every_10", "bare"),
        every_1_certified=("every_1_certified", "bare"),
        every_10_certified_every_1=("every_10_certified_every_1", "bare"),
        weights_every_1=("weights_every_1", "weights_bare"),
        weights_dense_eigh_every_1=("weights_dense_eigh_every_1", "weights_bare"),
    )
    diag["overhead"] = {k: median_ratio(rounds, a, b) - 1 for k, (a, b) in overheads.items() if a in rounds}
    diag["flips_per_step"] = flips_per_step(X, y, p, lengths[1])
    diag["lambda0"] = lambda0
    diag["factorizations_per_100_steps"] = factorizations_per_100_steps(
        X, y, p, preset["every_10_lengths"][1], lambda0, record_every=10, certify_every=1
    )
    diag["lanczos_vs_eigvalsh_max_relative_error"] = lanczos_vs_eigvalsh(X, y, p, preset["check_steps"])
    return diag


def run_cases(args, preset: dict, repeats: int) -> dict:
    """Each case asked for, by name: its section of the summary."""
    import jax

    on_cpu = jax.devices()[0].platform == "cpu"
    ntk_n, ntk_hidden = preset["ntk_cpu"] if on_cpu else preset["ntk_gpu"]
    runners = dict(
        steps=lambda: step_rows(preset, repeats, not args.no_torch),
        diagnostics=lambda: diagnostics(preset, repeats),
        sweep=lambda: sweep_comparison(repeats, **preset["sweep"]),
        paper_profile=lambda: paper_profile(**preset["paper"]),
        sharded=lambda: sharded_run(*preset["diagnostics_shape"], repeats=max(1, repeats // 2)),
        ntk=lambda: ntk_memory(args.ntk_n or ntk_n, args.ntk_hidden or ntk_hidden),
        hessian_eigenvalues=lambda: hessian_methods(repeats=max(1, repeats // 2), **preset["hessian"]),
        critical_width_steps=lambda: critical_width_steps(**preset["critical_width"]),
    )
    return {name: runners[name]() for name in CASES if name in args.cases}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import jax

    import ntk_proofs as nt
    from experiments.plotting.bench import plot_bench
    from experiments.store import finish, git_state, versions, write_json

    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    preset = PRESETS[name]
    repeats = args.repeats or preset["repeats"]
    device = jax.devices()[0]
    summary = dict(
        benchmark="Du et al. two-layer net, one full-batch GD step, float32",
        device=str(device),
        platform=device.platform,
        device_kind=getattr(device, "device_kind", ""),
        cpu_count=os.cpu_count(),
        repeats=repeats,
        preset=name,
        quick=args.quick,
        cases=[c for c in CASES if c in args.cases],
    )
    summary.update(run_cases(args, preset, repeats))
    rows = summary.get("steps", [])
    big = [r for r in rows if r["n"] == max(q["n"] for q in rows) and r["m"] >= 2048]
    summary["slope_vs_m"] = (
        {
            form: nt.loglog_slope([r["m"] for r in big], [r[form] for r in big])._asdict()
            for form in ("kernel", "weights")
        }
        if len(big) >= 2
        else None
    )
    stem = f"bench_{device.platform}" + ("" if name == "full" else f"_{name}")
    if summary["cases"] != list(CASES):
        stem += "_" + "-".join(summary["cases"])
    print_summary(summary)
    if "steps" in summary and "diagnostics" in summary:
        return finish(summary, plot_bench, args.out, stem)
    summary.setdefault("versions", versions())  # the figure needs both of its cases: the JSON alone
    summary.update(git_state())
    print(f"wrote {write_json(Path(args.out) / f'{stem}.json', summary)}")
    return summary


if __name__ == "__main__":
    main()
