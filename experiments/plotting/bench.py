"""Figure of the benchmark, drawn only from the summary saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.plotting.style import new_figure

LINES = (
    ("kernel", "ntk_proofs, kernel form (default here)", "o-"),
    ("weights", "ntk_proofs, weights form", "o--"),
    ("matmul_limit", "two matmuls of the weights form alone", "k:"),
    ("numpy_float32", "NumPy float32", "s:"),
    ("numpy_float64", "NumPy float64", "s-."),
    ("torch_float32", "PyTorch float32", "^-."),
)
BARS = (
    ("bare", "kernel\nbare"),
    ("every_10", "kernel\nevery 10"),
    ("every_1", "kernel\nevery step"),
    ("every_1_certified", "kernel, every\nstep + Cholesky"),
    ("weights_bare", "weights\nbare"),
    ("weights_every_1", "weights\nevery step"),
    ("weights_dense_eigh_every_1", "weights, dense\nH(k) + eigvalsh"),
)


def plot_bench(summary: dict):
    fig, (ax, ax_bar) = new_figure(1, 2, (15, 5.5))
    rows = [r for r in summary["steps"] if r["n"] == max(q["n"] for q in summary["steps"])]
    ms = np.asarray([r["m"] for r in rows], float)
    for key, label, style in LINES:
        if all(key in r for r in rows):
            ax.plot(ms, [r[key] for r in rows], style, label=label)
    title = f"(a) one GD step vs width, n = d = {rows[0]['n']}"
    slopes = summary.get("slope_vs_m")
    if slopes:
        title += "\nslope for m ≥ 2048: " + ", ".join(f"{form} {s['slope']:.2f}" for form, s in slopes.items())
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="seconds per step (median)", title=title)
    ax.legend(fontsize=8)
    dg = summary["diagnostics"]
    bars = [(key, label) for key, label in BARS if key in dg]
    values = [dg[key] for key, _ in bars]
    colors = ["tab:blue" if not key.startswith("weights") else "tab:gray" for key, _ in bars]
    ax_bar.bar([label for _, label in bars], values, color=colors)
    overhead = dg.get("overhead", {})  # medians of per-round ratios, as printed; bare bars show +0%
    for i, (key, _) in enumerate(bars):
        pct = 100 * overhead.get(key, 0.0)
        ax_bar.text(i, values[i], f"{values[i]:.3f} s\n({pct:+.0f}%)", ha="center", va="bottom", fontsize=8)
    ax_bar.set(
        ylabel="seconds per step (median)",
        ylim=(0, 1.2 * max(values)),
        title=f"(b) cost of H(k), λ_min, flips and drift at (n, d, m) = {tuple(dg['shape'])}\n"
        "(% over the bare step of the same form: median of per-round ratios)",
    )
    ax_bar.tick_params(axis="x", labelsize=8)
    fig.suptitle(
        f"Benchmark on {summary['device']} ({summary['cpu_count']} cores), float32, "
        f"medians of {summary['repeats']} interleaved rounds"
    )
    return fig
