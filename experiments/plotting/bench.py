"""Figure of the benchmark, drawn only from the summary saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.plotting.style import new_figure


def plot_bench(summary: dict):
    fig, (ax, ax_bar) = new_figure(1, 2, (13, 5))
    rows = [r for r in summary["steps"] if r["n"] == max(q["n"] for q in summary["steps"])]
    ms = np.asarray([r["m"] for r in rows], float)
    for key, label, style in (("project", "ntk_proofs (JAX, jit + scan)", "o-"), ("matmul_limit", "two matmuls alone (limit)", "k--"),
                              ("numpy_float32", "NumPy float32", "s:"), ("numpy_float64", "NumPy float64", "s:"),
                              ("torch_float32", "PyTorch float32", "^-.")):
        if all(key in r for r in rows):
            ax.plot(ms, [r[key] for r in rows], style, label=label)
    s = summary.get("slope_vs_m")
    title = f"(a) one GD step vs width, n = d = {rows[0]['n']}"
    if s:
        title += f": slope {s['slope']:.2f} for m ≥ 2048"
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="seconds per step (median)", title=title)
    ax.legend()
    dg = summary["diagnostics"]
    labels = ["bare", "diagnostics\nevery 10 steps", "diagnostics\nevery step"]
    values = [dg["bare"], dg["every_10"], dg["every_1"]]
    ax_bar.bar(labels, values, color=["tab:blue", "tab:green", "tab:orange"])
    for i, v in enumerate(values):
        ax_bar.text(i, v, f"{v:.3f} s\n({100 * (v / values[0] - 1):+.0f}%)", ha="center", va="bottom")
    ax_bar.set(ylabel="seconds per step (median)", title=f"(b) cost of H(k), flips and drift at (n, d, m) = {tuple(dg['shape'])}")
    fig.suptitle(f"Benchmark on {summary['device']} ({summary['cpu_count']} cores), float32, medians of {summary['repeats']} repeats")
    return fig
