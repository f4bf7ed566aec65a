"""Figure of the Hessian study, drawn only from its summary (the record saved as JSON)."""

from __future__ import annotations

import numpy as np

from experiments.hessian import AUTOENCODER, TANH_MLP, HessianSummary
from experiments.plotting.style import new_figure

METHOD_STYLE = {
    "gd": ("tab:gray", "GD"),
    "perturbed_gd": ("tab:orange", "perturbed GD (Jin et al. 2017)"),
    "saddle_free_newton": ("tab:green", "saddle-free Newton (Dauphin et al. 2014)"),
}


def plot_hessian(summary: HessianSummary):
    fig, axes = new_figure(2, 3, (16, 9.4))
    (ax_density, ax_ratio, ax_index), (ax_escape, ax_lmin, ax_table) = axes
    training = summary.training

    for (label, d), color in zip(training.densities.items(), ("tab:blue", "tab:purple", "tab:red")):
        ax_density.plot(
            d.grid,
            np.maximum(np.asarray(d.density, float), 1e-12),
            color=color,
            lw=1.3,
            label=f"{label} (step {d.step})",
        )
    ax_density.set(
        yscale="log",
        ylim=(1e-5, None),
        xlabel="Hessian eigenvalue λ",
        ylabel="spectral density (SLQ, integrates to 1)",
        title=f"(a) Hessian spectrum of a digits MLP ({training.parameters} params)",
    )
    ax_density.legend()

    rec = training.records
    steps = [r.step for r in rec]
    ax_ratio.errorbar(
        steps,
        [r.lambda_max for r in rec],
        yerr=[r.lambda_max_err for r in rec],
        fmt="o-",
        color="tab:red",
        ms=3,
        label="λ_max (Lanczos, Ritz error bar)",
    )
    ax_ratio.errorbar(
        steps,
        [abs(r.lambda_min) for r in rec],
        yerr=[r.lambda_min_err for r in rec],
        fmt="s-",
        color="tab:blue",
        ms=3,
        label="|λ_min|",
    )
    twin = ax_ratio.twinx()
    twin.plot(steps, [r.nonconvexity_ratio for r in rec], "k--", lw=1.2)
    twin.set(ylabel="non-convexity ratio |λ_min / λ_max| (dashed)", yscale="log")
    twin.grid(False)
    ax_ratio.plot([], [], "k--", label="|λ_min / λ_max| (Li et al. 2018), right axis")
    ax_ratio.set(
        yscale="log",
        xlabel="GD step",
        ylabel="extreme Hessian eigenvalue",
        title="(b) extreme eigenvalues along training",
    )
    ax_ratio.legend(fontsize=7.5)

    markers = {AUTOENCODER: ("o", "tab:blue"), TANH_MLP: ("^", "tab:red")}
    for name, res in summary.critical_points.items():
        pts = [p for p in res.points if p.grad_norm < 1e-8]
        marker, color = markers.get(name, ("o", "k"))
        rho = "n/a" if res.spearman is None else f"{res.spearman:.2f}"
        ax_index.scatter(
            [p.index for p in pts],
            [p.loss for p in pts],
            marker=marker,
            color=color,
            alpha=0.7,
            label=f"{name}: {res.converged}/{len(res.points)} converged, Spearman ρ = {rho}",
        )
    for loss in summary.critical_points[AUTOENCODER].closed_form_losses:
        ax_index.axhline(loss, color="tab:blue", lw=0.4, alpha=0.3)
    ax_index.set(
        xlabel="index α (fraction of negative Hessian eigenvalues)",
        ylabel="training loss at the critical point",
        title="(c) critical points: loss vs index (Dauphin et al. Fig. 1)",
    )
    ax_index.legend(fontsize=7.5, loc="lower right")

    escape = summary.escape
    for method, run in escape.runs._asdict().items():
        color, label = METHOD_STYLE[method]
        esc = run.escape_step
        ax_escape.plot(run.loss, color=color, lw=1.6, label=f"{label}: halves the loss at step {esc}")
        ax_lmin.plot(run.recorded, run.lambda_min, color=color, lw=1.6, label=label)
    ax_escape.set(
        yscale="log", xlabel="step", ylabel="loss", title="(d) escaping the saddle W = 0 of a deep linear net"
    )
    ax_escape.legend(fontsize=7.5)
    ax_lmin.axhline(0, color="k", lw=0.8)
    ax_lmin.set(xlabel="step", ylabel="smallest Hessian eigenvalue (Lanczos)", title="(e) λ_min along the escape")
    ax_lmin.legend(fontsize=7.5)

    a = summary.agreement
    ax_table.axis("off")
    ax_table.set_title(f"(f) matrix-free vs dense eigh ({a.parameters} params, {a.dtype})")
    rows = [
        ["λ_max", f"{a.top_dense[0]:.10f}", f"{a.top_lanczos[0]:.10f}", f"{a.top_residual[0]:.1e}"],
        ["λ_min", f"{a.bottom_dense[0]:.10f}", f"{a.bottom_lanczos[0]:.10f}", f"{a.bottom_residual[0]:.1e}"],
        ["trace", f"{a.trace_dense:.5f}", f"{a.trace_hutchinson:.5f}", f"± {a.trace_stderr:.1e}"],
        ["mean λ", f"{a.moment1_dense:.3e}", f"{a.moment1_slq:.3e}", "SLQ"],
        ["mean λ²", f"{a.moment2_dense:.3e}", f"{a.moment2_slq:.3e}", "SLQ"],
    ]
    table = ax_table.table(
        cellText=rows,
        colLabels=["quantity", "dense eigh", "matrix-free", "error bar"],
        loc="upper center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1.0, 1.6)
    s = escape.saddle_spectrum
    ax_table.text(
        0.02,
        0.05,
        f"Deep linear net at W = 0: Hessian eigenvalues\nfrom {s[0]:.3f} to {s[-1]:.3f}: "
        "a certified saddle (both signs).\nLanczos error bars are Ritz residuals ‖Hv − θv‖.",
        transform=ax_table.transAxes,
        fontsize=8.5,
        va="bottom",
    )
    fig.suptitle(
        "Hessian spectra and saddle points: SLQ densities during training, critical-point index vs loss, "
        "and three ways out of a saddle",
        fontsize=11,
    )
    return fig
