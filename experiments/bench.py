"""Benchmark: one GD step of the Du et al. net against the machine's matmul limit, NumPy and PyTorch; the cost of
the diagnostics; sequential vs batched sweeps.

    python -m experiments.bench            # full grid, a few minutes on 2 CPU cores
    python -m experiments.bench --quick    # under two minutes

All times are medians over rounds after a warm-up round; in each round every variant runs once, side by side,
and every ratio is the median of its per-round ratios. Per-step times of the project are marginal costs,
(t(30 steps) - t(10 steps)) / 20 of one compiled scan (4 and 12 with --quick), so per-call set-up does not
count. train_gd's two step forms are timed: "weights" (W updated: X W^T and D^T X, 4 n m d flops, as NumPy and
PyTorch do it) and "kernel" (the default when n < 2 d: X W^T carried and updated by one (n, n) x (n, m)
product, 2 n^2 m flops). Writes benchmarks/bench_<platform>.json and .png (time vs m on log-log axes with the fitted slope).
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np
from experiments.cli import format_table
from experiments.store import finish

QUICK_GRID = [(500, 500, 1024), (500, 500, 2048), (500, 500, 4096)]
FULL_GRID = [(256, 256, 1024), (1000, 1000, 1024), (1000, 1000, 2048), (1000, 1000, 4096), (1000, 1000, 8192),
             (1000, 1000, 16384)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smaller grid (n = d = 500), diagnostics at m = 4096, fewer repeats: under two minutes")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 5, quick 2)")
    p.add_argument("--out", default="benchmarks", help="output folder")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline even if installed")
    p.add_argument("--ntk-n", type=int, default=None,
                   help="inputs of the empirical-NTK benchmark (default 2000 on GPU, 500 on CPU, 200 with --quick)")
    p.add_argument("--ntk-hidden", type=int, default=None,
                   help="hidden width of its MLP (default 1000 on GPU: about 1M parameters; 300 on CPU; 100 quick)")
    return p.parse_args(argv)


def wall(fn):
    """A measurement: seconds of one call of ``fn``."""
    def measure():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return measure


def side_by_side(measurements: dict, repeats: int) -> dict:
    """Run every measurement once per round, ``repeats`` rounds after a warm-up round, interleaved so that a
    slow spell of the machine hits all of them alike. Returns name -> list of seconds (one per round)."""
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


def problem(n, d, m, dtype="float32"):
    import jax
    import ntk_proofs as nt

    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d, dtype=dtype)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), n, dtype=dtype)
    p = nt.init_params(jax.random.PRNGKey(2), m, d, dtype=dtype)
    return X, y, p


def project_step(X, y, p, lengths=(4, 12), record_every=0, step_form="kernel", lambda_method="lanczos",
                 flip_budget=None, certify=False):
    """A measurement of the marginal per-step time of the compiled GD scan, (t(long) - t(short)) / (long - short),
    so that per-call set-up and the end-of-run diagnostics do not count. Compiles both lengths first."""
    import jax.numpy as jnp
    from ntk_proofs.du2019.training import trajectory

    def run(steps):
        # floor: a level below lambda_min(H) here, so the certificate's Cholesky runs to completion as in a real run;
        # LAPACK single-threaded as train_gd runs it (ntk_proofs.linalg.single_threaded_lapack)
        return lambda: _lapack1(lambda: trajectory(p.W, p.a, X, y, jnp.asarray(0.5, X.dtype),
                                                         jnp.asarray(1e4, X.dtype), jnp.asarray(1e-3, X.dtype),
                                                         steps=steps, record_every=record_every, optimizer=None,
                                                         lambda_method=lambda_method, flip_budget=flip_budget,
                                                         step_form=step_form, certify=certify))

    return marginal(run, lengths)


def _lapack1(call):
    """``call()`` run to completion with LAPACK on one thread, as ``train_gd`` runs its scan."""
    import jax
    from ntk_proofs.linalg import single_threaded_lapack

    with single_threaded_lapack():
        return jax.block_until_ready(call())


def matmul_limit(X, p, lengths=(4, 12)):
    """A measurement of the machine's limit for the weights-form step: its two matmuls alone, forward Z = X W^T
    (n, m) and the gradient product Z^T X (m, d), as the marginal per-iteration time of a compiled scan (like
    the project's steps, so call overhead and output allocation do not count)."""
    import jax

    def run(steps):
        def body(W, _):
            Z = X @ W.T
            return W - 1e-9 * (Z.T @ X), None  # a dependency, so XLA cannot hoist either product

        scan = jax.jit(lambda W: jax.lax.scan(body, W, None, length=steps)[0])
        return lambda: jax.block_until_ready(scan(p.W))

    return marginal(run, lengths)


def baseline_steps(X, y, p, use_torch) -> dict:
    """Measurements of the plain NumPy step (float32 and float64) and the PyTorch CPU step (float32)."""
    from experiments.bench_baselines import numpy_step, torch_available, torch_step

    out = {}
    for name, dtype in (("numpy_float32", np.float32), ("numpy_float64", np.float64)):
        W, a, Xn, yn = (np.array(v, dtype=dtype) for v in (p.W, p.a, X, y))
        out[name] = wall(functools.partial(numpy_step, W, a, Xn, yn, dtype(0.5)))
    if use_torch and torch_available():
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        W, a, Xt, yt = (torch.from_numpy(np.array(v, dtype=np.float32)) for v in (p.W, p.a, X, y))
        out["torch_float32"] = wall(functools.partial(torch_step, W, a, Xt, yt, 0.5))
    return out


def peak_temp_bytes(X, y, p, step_form):
    """XLA's own memory analysis of the compiled 12-step scan with diagnostics every step."""
    import jax.numpy as jnp
    from ntk_proofs.du2019.training import trajectory

    lowered = trajectory.lower(p.W, p.a, X, y, jnp.asarray(0.5, X.dtype), jnp.asarray(1e4, X.dtype), steps=12,
                                record_every=1, optimizer=None, lambda_method="lanczos", step_form=step_form)
    analysis = lowered.compile().memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)


def sharded_memory(n: int, d: int, m: int, device_counts=(1, 2, 4)) -> dict:
    """Memory per device of one wide net sharded over its neurons (``train_gd(..., mesh=width_mesh(devices))``): XLA's
    memory analysis (arguments + temporaries + output, per device) of the compiled 12-step run with diagnostics
    every step, for the first 1, 2, 4 ... local devices. Where this process has fewer devices than asked (a CPU),
    the measurement runs in a child process with ``--xla_force_host_platform_device_count`` set, so that the
    split is measured on any machine; the per-device numbers are XLA's plan, the same on every backend."""
    import jax

    counts = [c for c in device_counts if c <= len(jax.local_devices())]
    if len(counts) < len(device_counts) and jax.devices()[0].platform == "cpu":
        import json
        import subprocess
        import sys

        code = (f"import json; from experiments.bench import sharded_memory; "
                f"print('JSON' + json.dumps(sharded_memory({n}, {d}, {m}, {tuple(device_counts)!r})))")
        env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                                          f"{max(device_counts)}").strip())
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        result = json.loads(out.stdout.split("JSON", 1)[1])
        result["forced_host_devices"] = max(device_counts)
        return result
    import jax.numpy as jnp

    from ntk_proofs.du2019.training import shard_over_width, trajectory, width_mesh

    X, y, p = problem(n, d, m)
    per_device = {}
    for count in counts:
        mesh = width_mesh(jax.local_devices()[:count])
        W, a, Xs, ys = shard_over_width(mesh, p.W, p.a, X, y)
        lowered = trajectory.lower(W, a, Xs, ys, jnp.asarray(0.5, X.dtype), jnp.asarray(1e4, X.dtype), steps=12,
                                   record_every=1, optimizer=None, lambda_method="lanczos", step_form="kernel")
        analysis = lowered.compile().memory_analysis()
        per_device[str(count)] = None if analysis is None else int(
            analysis.argument_size_in_bytes + analysis.temp_size_in_bytes + analysis.output_size_in_bytes)
    return dict(shape=[n, d, m], bytes_per_device=per_device, nm_array_bytes=4 * n * m)


def kernel_product(n: int, m: int, lengths=(4, 12)):
    """A measurement of the kernel-form step's one product, (n, n) @ (n, m), as the marginal per-iteration time of a
    compiled scan (the "products" a width sweep cannot avoid)."""
    import jax
    import jax.numpy as jnp

    K = jnp.eye(n, dtype=jnp.float32) * 0.5
    C0 = jnp.ones((n, m), jnp.float32)

    def run(steps):
        scan = jax.jit(lambda C: jax.lax.scan(lambda C, _: (C - 1e-9 * (K @ C), None), C, None, length=steps)[0])
        return lambda: jax.block_until_ready(scan(C0))

    return marginal(run, lengths)


def paper_profile(quick: bool = False, override: dict | None = None) -> dict:
    """The ``--paper`` width sweep (``experiments.width_sweep``; widths and steps read from its PAPER preset, the
    quick bench a smaller copy) against the time of its products, with the parts of its time.

    Per width: ``total``, the sweep's own unit (``width_sweep.run_unit``: train_gd with diagnostics every
    ``record_every`` steps and the Cholesky certificate, then the kernel prediction and the monitor), cold as in a
    fresh sweep; ``compile``, that cold unit minus the same unit run again at once (its programs then compiled:
    tracing, lowering and compiling every program the unit uses); ``steps``, running the unit's train_gd program
    without diagnostics; ``diagnostics``, running it with them, minus ``steps``; ``rest`` = total - compile - steps
    - diagnostics (host work: the kernel prediction, the rates, the monitor, transfers). The sweep turns on JAX's
    persistent compilation cache (``persistent_cache``, its folder): on a machine that ran the sweep before,
    ``compile`` is mostly loading the programs from it; the first run compiles them. ``products``: steps x the
    marginal time of one (n, n) @ (n, m) product. The sweep's set-up (data, H^inf and its spectrum) is reported
    once as ``setup``."""
    import dataclasses

    import jax

    from experiments import width_sweep
    from ntk_proofs.du2019.training import resolve_lambda_min_method, resolve_step_form

    preset = dict(width_sweep.PAPER)
    if quick:
        preset.update(n=300, d=300, widths=(100, 1000, 4000))
    preset.update(override or {})
    config = dataclasses.replace(width_sweep.parse_args([]), **preset)
    t = time.perf_counter()
    prob = width_sweep.make_problem(config, 0)
    eta = width_sweep.resolve_eta(config, prob)
    setup = time.perf_counter() - t
    X, y, lambda0 = prob["X"], prob["y"], prob["lambda0"]
    n = config.n
    static = dict(steps=config.steps, optimizer=None, lambda_method=resolve_lambda_min_method("auto", n),
                  step_form=resolve_step_form("auto", n, config.d, None))
    rows = [_paper_unit(config, prob, m, eta, X, y, lambda0, static) for m in config.widths]
    sums = {k: float(sum(r[k] for r in rows)) for k in ("total", "compile", "steps", "diagnostics", "rest", "products")}
    return dict(config=dict(n=config.n, d=config.d, widths=list(config.widths), steps=config.steps,
                            record_every=config.record_every), setup=setup, widths=rows, sums=sums,
                persistent_cache=jax.config.jax_compilation_cache_dir,
                ratio=(sums["total"] + setup) / sums["products"],
                parts_over_products={k: sums[k] / sums["products"] for k in ("compile", "steps", "diagnostics", "rest")})


def _paper_unit(config, prob, m, eta, X, y, lambda0, static) -> dict:
    """One width of ``paper_profile``: the unit cold, then its parts."""
    import jax
    import jax.numpy as jnp
    import ntk_proofs as nt

    from experiments import width_sweep
    from ntk_proofs.du2019.training import trajectory

    n = config.n
    t = time.perf_counter()
    width_sweep.run_unit(config, prob, m, 0, eta)
    total = time.perf_counter() - t
    t = time.perf_counter()
    width_sweep.run_unit(config, prob, m, 0, eta)
    compile_s = total - (time.perf_counter() - t)
    _, _, kw = jax.random.split(jax.random.PRNGKey(0), 3)
    p = nt.init_params(jax.random.fold_in(kw, m), m, config.d, kappa=config.kappa)
    args = (p.W, p.a, X.astype(p.W.dtype), y.astype(p.W.dtype), jnp.asarray(eta, p.W.dtype),
            jnp.asarray(1e4, p.W.dtype), jnp.asarray(lambda0 / 2, p.W.dtype))
    full = trajectory.lower(*args, record_every=config.record_every, certify=True, **static).compile()
    bare = trajectory.lower(*args, record_every=0, certify=False, **static).compile()
    runs = {}
    for name, program in (("full", full), ("bare", bare)):
        _lapack1(lambda: program(*args))  # warm
        t = time.perf_counter()
        _lapack1(lambda: program(*args))
        runs[name] = time.perf_counter() - t
    product = float(np.median([kernel_product(n, m)() for _ in range(3)])) * config.steps
    return dict(m=m, total=total, compile=compile_s, steps=runs["bare"], diagnostics=runs["full"] - runs["bare"],
                rest=total - compile_s - runs["full"], products=product)


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

    rounds = side_by_side(dict(sequential=wall(sequential), batched=wall(batched)), max(1, repeats // 2))
    return dict(config=dict(n=n, d=d, widths=widths, seeds=seeds, steps=steps),
                sequential=median_and_spread(rounds["sequential"]), batched=median_and_spread(rounds["batched"]),
                sequential_over_batched=median_ratio(rounds, "sequential", "batched"))


RATIOS = [("kernel", "matmul_limit"), ("weights", "matmul_limit"), ("numpy_float32", "kernel"),
          ("numpy_float32", "weights"), ("numpy_float64", "kernel"), ("numpy_float64", "weights"),
          ("torch_float32", "kernel"), ("torch_float32", "weights")]
DIAGNOSTIC_SETTINGS = {
    "bare": dict(record_every=0),
    "every_10": dict(record_every=10),
    "every_1": dict(record_every=1),
    "every_1_certified": dict(record_every=1, certify=True),  # with the Cholesky certificate of (C2)
    "weights_bare": dict(record_every=0, step_form="weights"),
    "weights_every_1": dict(record_every=1, step_form="weights"),
    # the naive way: H(k) recomputed densely (flip budget 0) and eigvalsh, every step
    "weights_dense_eigh_every_1": dict(record_every=1, step_form="weights", lambda_method="eigh", flip_budget=0),
}


def ntk_memory(n: int, hidden: int, outputs: int = 10, budget: int | None = None) -> dict:
    """The empirical NTK of an MLP (64 -> hidden -> hidden -> outputs: about 1M parameters at hidden = 1000) on n
    digits-sized inputs, by both methods, with the block size chosen by ``ntk_batch_size`` from the memory budget
    (default: half the device's memory, or 2 GiB on CPU): time, XLA's memory estimate of one block, and the
    device's own peak where JAX reports it."""
    import jax
    import ntk_proofs as nt
    from ntk_proofs.ntk import ntk_batch_size

    net = nt.MLP((64, hidden, hidden, outputs), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), n, 64)
    out = dict(n=n, sizes=list(net.sizes), parameters=int(sum(v.size for v in jax.tree.leaves(params))),
               full_jacobian_bytes=4 * n * outputs * int(sum(v.size for v in jax.tree.leaves(params))))
    kernels = {}
    for method in ("jacobian", "ntvp"):
        t = time.perf_counter()
        b = ntk_batch_size(net.apply, params, x, method=method, memory_budget=budget)
        chosen = time.perf_counter() - t
        t = time.perf_counter()
        K = jax.block_until_ready(nt.empirical_ntk(net.apply, params, x, method=method, batch_size=b))
        seconds = time.perf_counter() - t
        stats = jax.local_devices()[0].memory_stats() or {}
        kernels[method] = K
        out[method] = dict(batch_size=b, seconds=seconds, choose_seconds=chosen,
                           device_peak_bytes=stats.get("peak_bytes_in_use"))
    out["max_relative_difference"] = float(abs(kernels["jacobian"] - kernels["ntvp"]).max()
                                           / abs(kernels["jacobian"]).max())
    return out


def hessian_methods(k: int = 5, tols=(1e-5, 1e-7)) -> dict:
    """Top-k Hessian eigenvalues (largest magnitude, which is what power iteration finds) of a digits MLP
    (64 -> 32 -> 32 -> 1, 3,169 parameters) by power iteration with deflation (PyHessian's method) and by
    Lanczos, counted in Hessian-vector products: the smallest Lanczos run whose top-k error (max relative, against
    the dense Hessian's eigenvalues) is no larger than power iteration's."""
    import jax
    import ntk_proofs as nt
    from jax.flatten_util import ravel_pytree

    from ntk_proofs.curvature import HessianOperator, hessian_spectrum, power_iteration_eigenvalues
    from ntk_proofs.linalg import krylov, tridiagonal_eigh

    # the active precision (float32 unless JAX_ENABLE_X64=1): both methods see the same operator
    X, y = nt.digits_split(jax.random.PRNGKey(0), 300, 0)[:2]
    net = nt.MLP((64, 32, 32, 1), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(0))
    loss = nt.gd.squared_error(net.apply, X, y)
    spectrum = hessian_spectrum(loss, params)
    exact = spectrum[np.argsort(-np.abs(spectrum))][:k]  # power iteration finds the largest |lambda|

    def error(values):
        values = np.asarray(values, np.float64)
        if values.size < k:
            return float("inf")
        return float(np.max(np.abs(values[np.argsort(-np.abs(values))][:k] - exact) / np.abs(exact)))

    tried = {}
    family = HessianOperator(loss)
    flat = ravel_pytree(params)[0]
    v0 = jax.random.normal(jax.random.PRNGKey(2), flat.shape, flat.dtype)

    def lanczos_error(steps):  # the Ritz values of largest magnitude, from both ends of the spectrum
        if steps not in tried:
            alphas, betas, _, done = krylov(family, params, v0, steps)
            theta = tridiagonal_eigh(alphas[: int(done)], betas[: int(done) - 1])[0]
            tried[steps] = error(theta)
        return tried[steps]

    rows = []
    for tol in tols:
        power = power_iteration_eigenvalues(loss, params, k, key=jax.random.PRNGKey(1), tol=tol,
                                            max_iterations=5000)
        target = error(power.eigenvalues)
        low, high = k - 1, k
        while lanczos_error(high) > target and high < flat.size:
            low, high = high, min(2 * high, flat.size)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if lanczos_error(mid) <= target else (mid, high)
        rows.append(dict(tol=tol, power_eigenvalues=power.eigenvalues.tolist(),
                         power_iterations=power.iterations.tolist(), power_products=power.matvecs,
                         power_error=target, lanczos_products=high, lanczos_error=tried[high],
                         lanczos_over_power=high / power.matvecs))
    # one product per Krylov step (the Ritz residual error bars would add k more)
    return dict(k=k, exact_top=exact.tolist(), runs=rows)


def flips_per_step(X, y, p, steps):
    """Pattern entries that flip at each of the first ``steps`` GD steps (eta = 0.5, as timed), on the driver."""
    from ntk_proofs.du2019.training import flips_per_step as count

    return [int(c) for c in count(p, X, y, eta=0.5, steps=steps)]


def print_summary(summary: dict) -> None:
    """The tables this benchmark prints."""

    rows, diag, repeats = summary["steps"], summary["diagnostics"], summary["repeats"]
    memory = summary["memory"]["xla_temp_and_output_bytes"]
    n, d, m = summary["memory"]["shape"]
    slopes, device = summary["slope_vs_m"], summary["device"]
    print(f"\nOne GD step, float32, on {device} ({os.cpu_count()} CPU cores): medians over {repeats} interleaved "
          "rounds; each ratio is the median of its per-round ratios.")
    print("kernel = train_gd's default here (X W^T carried and updated by one (n,n)x(n,m) product, 2 n^2 m flops); "
          "weights = W updated (4 n m d flops, like NumPy and PyTorch).")
    table = []
    for r in rows:
        q = r["ratios"]
        table.append([f"({r['n']}, {r['d']}, {r['m']})", r["kernel"], r["weights"], r["matmul_limit"]]
                     + [q.get(f"{a}/{b}", "n/a") for a, b in RATIOS])
    print(format_table(["(n, d, m)", "kernel s", "weights s", "matmul s"] + [f"{a}/{b}".replace("numpy_float", "NumPy")
                       .replace("torch_float32", "PyTorch").replace("matmul_limit", "matmul") for a, b in RATIOS], table))
    if not any("torch_float32" in r for r in rows):
        print("(PyTorch not installed or --no-torch: its columns are skipped; pip install torch to include them)")
    o = diag["overhead"]
    print(f"\nDiagnostics (H(k), lambda_min by warm-started Lanczos, flips, drift) at (n, d, m) = ({n}, {d}, {m}), "
          f"{np.mean(diag['flips_per_step']):.0f} pattern entries flipping per step ({100 * np.mean(diag['flips_per_step']) / (n * m):.2f}%):")
    print(f"  kernel form: bare {diag['bare']:.4f} s/step; every step {diag['every_1']:.4f} ({100 * o['every_1']:+.0f}%); "
          f"every 10 steps {diag['every_10']:.4f} ({100 * o['every_10']:+.1f}%); every step with the Cholesky "
          f"certificate of (C2) {diag['every_1_certified']:.4f} ({100 * o['every_1_certified']:+.0f}%)")
    if "weights_every_1" in o:
        print(f"  weights form: bare {diag['weights_bare']:.4f} s/step; every step {diag['weights_every_1']:.4f} "
              f"({100 * o['weights_every_1']:+.0f}%); dense H(k) + eigvalsh every step "
              f"{diag['weights_dense_eigh_every_1']:.4f} ({100 * o['weights_dense_eigh_every_1']:+.0f}%)")
    print(f"  Lanczos lambda_min vs eigvalsh: max relative error {diag['lanczos_vs_eigvalsh_max_relative_error']:.1e}")
    if slopes:
        print("step time vs m for m >= 2048: " + "; ".join(
            f"{form} slope {s['slope']:.3f} (95% CI [{s['ci_low']:.3f}, {s['ci_high']:.3f}])" for form, s in slopes.items()))
    if memory["kernel"] is not None:
        print(f"XLA temp + output memory of a 12-step scan with diagnostics every step: kernel {memory['kernel'] / 2**20:.0f} MiB, "
              f"weights {memory['weights'] / 2**20:.0f} MiB; an (n, m, d) float32 array would take "
              f"{4 * n * m * d / 2**30:.1f} GiB, an (n, n, m) one {4 * n * n * m / 2**30:.1f} GiB")
    pp = summary.get("paper_profile")
    if pp:
        c, q = pp["config"], pp["parts_over_products"]
        print(f"\nThe --paper width sweep (n = d = {c['n']}, widths {c['widths']}, {c['steps']} steps, diagnostics every "
              f"{c['record_every']} step(s) with the Cholesky certificate): {pp['sums']['total'] + pp['setup']:.1f} s, "
              f"{pp['ratio']:.2f} x the {pp['sums']['products']:.1f} s of its (n, n) @ (n, m) products; in units of the "
              f"products: compile {q['compile']:.2f}, steps {q['steps']:.2f}, diagnostics {q['diagnostics']:.2f}, "
              f"rest {q['rest']:.2f}, set-up {pp['setup'] / pp['sums']['products']:.2f}")
    sh = summary.get("sharded_memory")
    if sh and all(v is not None for v in sh["bytes_per_device"].values()):
        forced = f" (host devices forced to {sh['forced_host_devices']})" if "forced_host_devices" in sh else ""
        print(f"One net sharded over its neurons, (n, d, m) = {tuple(sh['shape'])}, memory per device{forced}: " + ", ".join(
            f"{c} device{'s' if c != '1' else ''} {b / 2**20:.1f} MiB" for c, b in sh["bytes_per_device"].items()))
    nk = summary["ntk"]
    print(f"\nEmpirical NTK, n = {nk['n']} inputs, MLP {nk['sizes']} ({nk['parameters']:,} parameters; the full "
          f"Jacobian would take {nk['full_jacobian_bytes'] / 2**30:.1f} GiB): " + "; ".join(
              f"{m}: block {nk[m]['batch_size']} (auto), {nk[m]['seconds']:.2f} s"
              + ("" if nk[m]['device_peak_bytes'] is None else f", device peak {nk[m]['device_peak_bytes'] / 2**30:.2f} GiB")
              for m in ("jacobian", "ntvp")) + f"; methods agree to {nk['max_relative_difference']:.1e}")
    he = summary["hessian_eigenvalues"]
    print(f"Top-{he['k']} Hessian eigenvalues by magnitude (3,169 parameters), in Hessian-vector products: " + "; ".join(
        f"power iteration (tol {r['tol']:g}) {r['power_products']} (max relative error {r['power_error']:.1e}), "
        f"Lanczos to that accuracy {r['lanczos_products']} ({r['lanczos_over_power']:.3f} of it)" for r in he["runs"]))
    sw = summary["sweep"]
    print(f"sweep {sw['config']}: sequential {sw['sequential'][0]:.2f} s, batched over seeds {sw['batched'][0]:.2f} s "
          f"(ratio {sw['sequential'][0] / sw['batched'][0]:.2f})")


def main(argv=None) -> dict:
    args = parse_args(argv)
    import jax
    from tqdm.auto import tqdm

    import ntk_proofs as nt
    from experiments.plotting.bench import plot_bench
    from ntk_proofs.du2019.training import resolve_step_form

    repeats = args.repeats or (2 if args.quick else 5)
    lengths = (4, 12) if args.quick else (10, 30)
    grid = QUICK_GRID if args.quick else FULL_GRID
    rows = []
    for n, d, m in tqdm(grid, desc="bench: steps", unit="shape"):
        X, y, p = problem(n, d, m)
        measurements = dict(kernel=project_step(X, y, p, lengths, step_form="kernel"),
                            weights=project_step(X, y, p, lengths, step_form="weights"),
                            matmul_limit=matmul_limit(X, p, lengths), **baseline_steps(X, y, p, not args.no_torch))
        rounds = side_by_side(measurements, repeats)
        row = dict(n=n, d=d, m=m, flops_weights=4 * n * m * d, flops_kernel=2 * n * n * m,
                   default_form=resolve_step_form("auto", n, d, None))
        for name, values in rounds.items():
            row[name], row[name + "_spread"] = median_and_spread(values)
        row["project"] = row[row["default_form"]]
        row["ratios"] = {f"{a}/{b}": median_ratio(rounds, a, b) for a, b in RATIOS if a in rounds and b in rounds}
        rows.append(row)

    n, d, m = (1000, 1000, 4096) if args.quick else (1000, 1000, 8192)
    X, y, p = problem(n, d, m)
    settings = {k: v for k, v in DIAGNOSTIC_SETTINGS.items() if not (args.quick and k.startswith("weights"))}
    measurements = {k: project_step(X, y, p, (10, 30) if k == "every_10" else lengths, **v)
                    for k, v in tqdm(settings.items(), desc="bench: diagnostics (compiling)", unit="setting")}
    rounds = side_by_side(measurements, repeats)
    diag = dict(shape=[n, d, m], lengths=list(lengths), **{k: median_and_spread(v)[0] for k, v in rounds.items()})
    overheads = dict(every_1=("every_1", "bare"), every_10=("every_10", "bare"),
                     every_1_certified=("every_1_certified", "bare"),
                     weights_every_1=("weights_every_1", "weights_bare"),
                     weights_dense_eigh_every_1=("weights_dense_eigh_every_1", "weights_bare"))
    diag["overhead"] = {k: median_ratio(rounds, a, b) - 1 for k, (a, b) in overheads.items() if a in rounds}
    diag["flips_per_step"] = flips_per_step(X, y, p, lengths[1])
    check_steps = 10 if args.quick else 20
    ref = nt.train_gd(p, X, y, eta=0.8, steps=check_steps, lambda_min_method="eigh")
    fast = nt.train_gd(p, X, y, eta=0.8, steps=check_steps, lambda_min_method="lanczos")
    diag["lanczos_vs_eigvalsh_max_relative_error"] = float(np.max(
        np.abs(np.asarray(fast.history.lambda_min) - np.asarray(ref.history.lambda_min))
        / np.asarray(ref.history.lambda_min)))
    memory = {form: peak_temp_bytes(X, y, p, form) for form in ("kernel", "weights")}
    sweep = sweep_comparison(repeats)
    sharded = sharded_memory(n, d, m)
    paper = paper_profile(quick=args.quick)
    on_cpu = jax.devices()[0].platform == "cpu"
    ntk = ntk_memory(args.ntk_n or (200 if args.quick else 500 if on_cpu else 2000),
                     args.ntk_hidden or (100 if args.quick else 300 if on_cpu else 1000))
    hessian = hessian_methods()
    big = [r for r in rows if r["n"] == max(q["n"] for q in rows) and r["m"] >= 2048]
    slopes = {form: nt.loglog_slope([r["m"] for r in big], [r[form] for r in big])._asdict()
              for form in ("kernel", "weights")} if len(big) >= 2 else None
    device = jax.devices()[0]
    summary = dict(
        benchmark="Du et al. two-layer net, one full-batch GD step, float32", device=str(device),
        platform=device.platform, device_kind=getattr(device, "device_kind", ""), cpu_count=os.cpu_count(),
        repeats=repeats, quick=args.quick, steps=rows, diagnostics=diag,
        memory=dict(shape=[n, d, m], xla_temp_and_output_bytes=memory, nmd_array_bytes=4 * n * m * d,
                    nnm_array_bytes=4 * n * n * m),
        sweep=sweep, paper_profile=paper, sharded_memory=sharded, slope_vs_m=slopes, ntk=ntk, hessian_eigenvalues=hessian,
    )
    stem = f"bench_{device.platform}" + ("_quick" if args.quick else "")

    print_summary(summary)
    return finish(summary, plot_bench, args.out, stem)


if __name__ == "__main__":
    main()
