"""Figure of the landscape study, drawn only from its summary (the record saved as JSON)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from experiments.landscape import LandscapeSummary
from experiments.plotting.style import RC


def plot_landscape(summary: LandscapeSummary):
    plt.rcParams.update(RC)
    surfaces = summary.surfaces
    fig = plt.figure(figsize=(18, 10), constrained_layout=True)
    grid = fig.add_gridspec(2, 4)

    cert_row = summary.certificates[0]
    ax = fig.add_subplot(grid[0, 0])
    a, losses = np.asarray(cert_row.slice_a), np.asarray(cert_row.slice_loss)
    ax.plot(a, losses, color="tab:blue", lw=1.6, label="L(θ + a d)")
    cert = cert_row.certificate
    if cert:
        f = np.interp([cert.a1, cert.a2], a, losses)
        mid = 0.5 * (cert.a1 + cert.a2)
        ax.plot([cert.a1, cert.a2], f, "r--", lw=1.2, label="violated chord")
        ax.plot([mid], [np.interp(mid, a, losses)], "ro", ms=5, label=f"gap {cert.gap:.3g} > {cert.roundoff:.1e}")
    ax.set(
        xlabel="a (step along the random direction)",
        ylabel="cross-entropy loss",
        title="(a) certified non-convex slice: sigmoid MLP 784-100-1",
    )
    ax.legend(fontsize=7.5)

    ax = fig.add_subplot(grid[1, 0])
    for r, color in zip(summary.certificates[1:], ("tab:purple", "tab:orange", "tab:green", "tab:gray")):
        a, losses = np.asarray(r.slice_a), np.asarray(r.slice_loss)
        span = (losses - losses.min()) / max(losses.max() - losses.min(), 1e-300)
        a01 = (a - a[0]) / (a[-1] - a[0])
        tag = "certificate" if r.certificate else "no certificate"
        ax.plot(a01, span, color=color, lw=1.4, label=f"{r.example.split(',')[0]} ({tag})")
    ax.set(
        xlabel="position along the slice (rescaled to [0, 1])",
        ylabel="loss (rescaled to [0, 1])",
        title="(b) the other slices: deep linear, permutation, convex controls",
    )
    ax.legend(fontsize=7)

    positions = [(0, 1), (0, 2), (1, 1), (1, 2)]
    for s, pos in zip(surfaces[:4], positions):
        ax = fig.add_subplot(grid[pos])
        axis = np.asarray(s.axis)
        Z = np.log10(np.asarray(s.loss))
        cs = ax.contourf(axis, axis, Z.T, levels=30, cmap="viridis")
        ax.contour(axis, axis, Z.T, levels=15, colors="w", linewidths=0.4, alpha=0.6)
        fig.colorbar(cs, ax=ax, label="log10 loss")
        ax.plot([0], [0], "r*", ms=9)
        ax.set(
            xlabel="α (filter-normalized direction 1)",
            ylabel="β (direction 2)",
            title=f"({'cdef'[positions.index(pos)]}) depth {s.depth}, {'with' if s.skip else 'no'} skip connections",
        )

    deepest = [s for s in surfaces if s.depth == max(x.depth for x in surfaces)]
    ax3 = fig.add_subplot(grid[0, 3], projection="3d")
    for s, cmap in zip(deepest, ("Reds", "Blues")):
        axis = np.asarray(s.axis)
        A, B = np.meshgrid(axis, axis, indexing="ij")
        ax3.plot_surface(A, B, np.log10(np.asarray(s.loss)), cmap=cmap, alpha=0.55, linewidth=0)
    ax3.set(
        xlabel="α",
        ylabel="β",
        zlabel="log10 loss",
        title=f"(g) surfaces, depth {deepest[0].depth}: red no skip, blue skip",
    )

    modes = summary.mode_connectivity
    ax = fig.add_subplot(grid[1, 3])
    ax.plot(modes.ts, modes.line, color="tab:red", lw=1.6, label=f"straight line: barrier {modes.line_barrier:.3g}")
    ax.plot(
        modes.ts,
        modes.curve,
        color="tab:green",
        lw=1.6,
        label=f"quadratic Bezier curve: barrier {modes.curve_barrier:.3g}",
    )
    ax.set(
        xlabel="t along the path between two minima",
        ylabel="training loss (mean squared error)",
        title="(h) mode connectivity (Garipov et al. 2018)",
    )
    ax.legend(fontsize=8)
    fig.suptitle(
        "Loss landscapes: float64-certified non-convexity on 1-D slices, filter-normalized surfaces "
        "(Li et al. 2018) of digits MLPs, and minima connected by low-loss curves",
        fontsize=11,
    )
    return fig
