"""Figure of the linearization study, drawn only from its summary (the record saved as JSON)."""

from __future__ import annotations

import numpy as np

from experiments.linearization import LinearizationSummary, sweep_size
from experiments.plotting.style import new_figure, series_colors


def plot_linearization(summary: LinearizationSummary):
    c = summary.config
    first = min(r.seed for r in summary.runs)
    runs = [r for r in summary.runs if r.seed == first]  # one initialization per width: the curves' panels
    colors = series_colors(len(runs))
    fig, axes = new_figure(2, 3, (16, 9.4))
    (ax_loss, ax_gap, ax_kernel), (ax_closed, ax_scatter, ax_track) = axes

    for color, r in zip(colors, runs):
        ax_loss.plot(r.loss_net, color=color, lw=1.6, label=f"m = {r.m}")
        ax_loss.plot(r.loss_lin, color=color, lw=1.1, ls="--")
    ax_loss.plot([], [], "k--", lw=1.1, label="linearized network")
    ax_loss.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="training loss ½‖f(X) − y‖²",
        title=f"(a) network (solid) vs its linearization (dashed), seed {first}",
    )
    ax_loss.legend(ncol=2)

    every_m = np.asarray([r.m for r in summary.runs], float)
    widths = np.unique(every_m)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    size = sweep_size(summary.runs)
    for ax, field, f, ylabel, title in (
        (
            ax_gap,
            "max_gap_net_lin",
            summary.fits.max_gap_net_lin,
            "maxₖ RMS over test points of |f_k − f_lin,k|",
            f"(b) output gap vs width ({size})",
        ),
        (
            ax_kernel,
            "kernel_change",
            summary.fits.kernel_change,
            "‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F",
            f"(c) relative change of the empirical NTK ({size})",
        ),
    ):
        every = np.asarray([getattr(r, field) for r in summary.runs], float)
        values = np.array([np.median(every[every_m == m]) for m in widths])
        ax.scatter(every_m, every, s=12, color="tab:blue", alpha=0.45, lw=0, label="each seed")
        ax.plot(widths, values, "o", color="tab:blue", label="median over seeds")
        if f.slope is not None and np.isfinite(f.slope):
            ax.plot(
                grid,
                np.exp(f.intercept) * grid**f.slope,
                color="tab:blue",
                lw=1.3,
                label=f"fit over every seed: slope {f.slope:.2f} [{f.ci_low:.2f}, {f.ci_high:.2f}]",
            )
        ax.plot(
            grid, values[-1] * (grid / widths[-1]) ** -0.5, "k:", lw=1.2, label="theory: m^(−1/2) (through the median)"
        )
        ax.set(xscale="log", yscale="log", xlabel="hidden width m", ylabel=ylabel, title=title)
        ax.legend()

    wide = runs[-1]
    ax_closed.plot(wide.loss_net, color="tab:blue", lw=2.4, alpha=0.55, label="network")
    ax_closed.plot(wide.loss_lin, color="tab:orange", lw=1.6, ls="--", label="linearized network")
    ax_closed.plot(wide.loss_closed, color="k", lw=1, ls=":", label="closed form y + (I − ηΘ₀)ᵏ(u₀ − y)")
    ax_closed.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="training loss",
        title=f"(d) closed-form linear dynamics vs both (m = {wide.m}, seed {wide.seed})",
    )
    ax_closed.legend()

    net_out = np.asarray(wide.final_test_net, float)
    closed_out = np.asarray(wide.final_test_closed, float)
    lim = [min(net_out.min(), closed_out.min()), max(net_out.max(), closed_out.max())]
    ax_scatter.plot(lim, lim, "k:", lw=1)
    for color, r in ((colors[0], runs[0]), (colors[-1], wide)):
        ax_scatter.scatter(r.final_test_closed, r.final_test_net, s=14, color=color, alpha=0.8, label=f"m = {r.m}")
    ax_scatter.set(
        xlabel="closed-form prediction on test points",
        ylabel="trained network's output",
        title="(e) test outputs after the last step",
    )
    ax_scatter.legend()

    for color, r in zip(colors, runs):
        ax_track.plot(np.asarray(r.gap_net_closed), color=color, lw=1.4, label=f"m = {r.m}")
    ax_track.plot(
        np.asarray(wide.gap_lin_closed) + 1e-16, "k--", lw=1, label=f"linearized vs closed form (m = {wide.m})"
    )
    ax_track.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="RMS over test points |f_k − closed form|",
        title="(f) network vs closed form along training",
    )
    ax_track.legend(ncol=2)

    fig.suptitle(
        f"Lee et al. (2019): {summary.model} on digits (odd vs "
        f"even), n = {c.n_train} train / {c.n_test} test, "
        f"{c.steps} GD steps with η = 1/λ_max(Θ₀) per width\nAs width grows the network's outputs and its "
        "NTK stay ever closer to the linearized model's (Jacot et "
        "al. 2018: constant kernel in the infinite-width limit)",
        fontsize=11,
    )
    return fig
