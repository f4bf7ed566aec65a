"""Figure of the Arora et al. (2019) study, drawn only from its summary (the record saved as JSON)."""

from __future__ import annotations

import numpy as np

from experiments.fine_grained import FineGrainedSummary, sweep_size, widest
from experiments.plotting.style import new_figure

COLORS = {"true": "tab:blue", "random": "tab:red"}


def per_width_median(runs, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(widths in increasing order, the median over seeds of ``field`` at each width)."""
    ms = np.unique([r.m for r in runs])
    return ms, np.array([np.median([getattr(r, field) for r in runs if r.m == m]) for m in ms])


def plot_fine_grained(summary: FineGrainedSummary):
    c = summary.config
    fig, axes = new_figure(2, 3, (16, 9.6))
    (ax_loss, ax_res, ax_proj), (ax_cum, ax_gap, ax_bound) = axes
    # panels (a) and (b): the first seed at the largest width
    wide = {kind: widest(runs)[0] for kind, runs in summary.label_runs._asdict().items()}
    m_wide = wide["true"].m
    at = f"m = {m_wide}, seed {wide['true'].seed}"

    for kind, run in wide.items():
        r = np.asarray(run.residual, float)
        ax_loss.plot(0.5 * r**2, color=COLORS[kind], lw=1.6, label=f"{kind} labels")
    ax_loss.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="training loss ½‖y − u(k)‖²",
        title=f"(a) training loss, true vs random labels ({at})",
    )
    ax_loss.legend()

    for kind, run in wide.items():
        ax_res.plot(run.residual, color=COLORS[kind], lw=2.4, alpha=0.55, label=f"{kind}: measured ‖y − u(k)‖")
        ax_res.plot(run.predicted, color=COLORS[kind], lw=1.2, ls="--", label=f"{kind}: predicted")
    ax_res.plot([], [], " ", label="predicted = √Σᵢ(1−ηλᵢ)^{2k}(vᵢᵀ(y−u(0)))²")
    ax_res.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="residual norm ‖y − u(k)‖",
        title=f"(b) measured residual vs Arora et al. Thm 4.1 ({at})",
    )
    ax_res.legend()

    for kind, spec in summary.spectra._asdict().items():
        proj = np.asarray(spec.projections, float)
        ax_proj.scatter(np.arange(1, proj.size + 1), proj, s=7, color=COLORS[kind], alpha=0.6, label=f"{kind} labels")
    ax_proj.set(
        xscale="log",
        yscale="log",
        xlabel="eigenvector index i (λᵢ of H^∞ in descending order)",
        ylabel="squared projection (vᵢᵀ y)²",
        title="(c) labels projected on the eigenvectors of H^∞",
    )
    ax_proj.set_ylim(bottom=max(1e-8, ax_proj.get_ylim()[0]))
    ax_proj.legend()

    for kind, spec in summary.spectra._asdict().items():
        proj = np.asarray(spec.projections, float)
        ax_cum.plot(
            np.arange(1, proj.size + 1),
            np.cumsum(proj) / proj.sum(),
            color=COLORS[kind],
            lw=1.6,
            label=f"{kind} labels",
        )
    lam = np.asarray(summary.spectra.true.eigenvalues, float)
    twin = ax_cum.twinx()
    twin.plot(np.arange(1, lam.size + 1), lam, color="0.5", lw=1, ls=":")
    twin.set(yscale="log", ylabel="eigenvalue λᵢ of H^∞ (dotted)")
    twin.grid(False)
    ax_cum.set(
        xscale="log",
        xlabel="number of top eigenvectors",
        ylabel="fraction of ‖y‖² captured",
        title="(d) cumulative label energy on the top eigenvectors",
    )
    ax_cum.legend(loc="center right")

    for kind, runs in summary.label_runs._asdict().items():
        fit = getattr(summary.gap_fit, kind)
        ci = "" if fit.ci_low is None else f" [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"
        slope = "n/a" if fit.slope is None else f"{fit.slope:.2f}{ci}"
        ax_gap.scatter([r.m for r in runs], [r.relative_gap for r in runs], s=12, color=COLORS[kind], alpha=0.45, lw=0)
        ax_gap.plot(*per_width_median(runs, "relative_gap"), "o-", color=COLORS[kind], label=f"{kind}: slope {slope}")
        ax_gap.plot(*per_width_median(runs, "relative_gap_zero_init"), "x:", color=COLORS[kind], alpha=0.7)
    ax_gap.plot([], [], "o-", color="0.4", label="median over seeds (small dots: each seed)")
    ax_gap.plot([], [], "kx:", label="prediction with u(0) taken as 0 (median)")
    ax_gap.set(
        xscale="log",
        yscale="log",
        xlabel="width m (hidden units)",
        ylabel="maxₖ |measured − predicted| / ‖y‖",
        title=f"(e) prediction error vs width ({sweep_size(summary.label_runs.true)}; fit over all)",
    )
    ax_gap.legend()

    p = [r.p for r in summary.corruption]
    ax_bound.plot(p, [r.bound for r in summary.corruption], "o-", color="tab:purple", label="bound √(2 yᵀ(H^∞)⁻¹y / n)")
    ax_bound.set(
        xlabel="fraction p of training labels replaced by random signs",
        ylabel="generalization bound (dimensionless)",
        title=f"(f) bound vs test error of the trained net (m = {c.p_width})",
    )
    twin_err = ax_bound.twinx()
    twin_err.plot(p, [r.test_error for r in summary.corruption], "s--", color="tab:green")
    twin_err.set(ylabel="test error (fraction misclassified, true test labels)", ylim=(0, 0.6))
    twin_err.grid(False)
    ax_bound.plot([], [], "s--", color="tab:green", label="test error (right axis)")
    ax_bound.legend(loc="upper left")

    fig.suptitle(
        f"Arora et al. (2019) on {summary.source}: n = {summary.n_train} "
        f"training points on S^{summary.d - 1}, "
        f"κ = {c.kappa} (‖u(0)‖ ≈ {wide['true'].u0_relative:.2f}‖y‖), η = {summary.eta:.3g}, "
        f"λ₀ = {summary.lambda0:.3g}, {c.steps} GD steps\n"
        "True labels lie on the top eigenvectors of H^∞ and train fast; random labels spread over small-λ "
        "directions, train slowly, and have a larger bound",
        fontsize=11,
    )
    return fig
