"""Figure of the regimes study, drawn only from the summary that is saved as JSON."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.ticker import NullFormatter

from experiments.plotting.style import new_figure, series_colors
from experiments.regimes import RegimesSummary

REGIME_COLORS = {"lazy": "#4c9be8", "catapult": "#f2a93b", "divergent": "#d9534f", "unresolved": "#bbbbbb"}
FAMILY_STYLE = {
    "relu_g0.5": ("tab:blue", "o-", "ReLU, NTK (γ=½)"),
    "relu_g1": ("tab:blue", "s--", "ReLU, mean-field (γ=1)"),
    "erf_g0.5": ("tab:green", "o-", "erf, NTK (γ=½)"),
    "erf_g1": ("tab:green", "s--", "erf, mean-field (γ=1)"),
}


def plot_regimes(summary: RegimesSummary):
    fig, axes = new_figure(4, 3, (16, 17))
    _flow(axes[0], summary)
    _phases(axes[1], summary)
    _lazy(axes[2:], summary)
    fig.suptitle(
        "Where the lazy picture holds: gradient flow (Du et al. 2019, Thm 3.2), the catapult phase "
        "(Lewkowycz et al. 2020), lazy vs rich training (Chizat et al. 2019)",
        fontsize=12,
    )
    return fig


def _flow(row, summary: RegimesSummary):
    f = summary.flow
    c = summary.config
    t = np.asarray(f.t)
    ax = row[0]
    ax.semilogy(t, f.loss, color="tab:blue", label="L(t) along the flow (diffrax Tsit5)")
    ax.semilogy(t, f.envelope, "k--", label="Theorem 3.2: exp(−λ₀t) L(0)")
    s = f.solver
    ax.set(
        xlabel="time t (= k η for GD)",
        ylabel="loss L(t) = ½‖u − y‖²",
        title=f"(a) Gradient flow, n = {c.n}, m = {c.flow_m}: loss under its bound\n"
        f"rtol {s.rtol:g}, atol {s.atol:g}; {s.accepted_steps} accepted, {s.rejected_steps} "
        "rejected steps",
    )
    ax.legend()
    ax = row[1]
    lam = np.asarray(f.lambda_min)
    ax.plot(t, lam / f.lambda0, color="tab:orange", label="λ_min(H(t)) / λ₀  (Thm 3.2: ≥ ½)")
    ax.plot(
        t,
        np.asarray(f.max_drift) / f.drift_bound,
        color="tab:purple",
        label=f"max_r ‖w_r(t) − w_r(0)‖ / R'  (≤ 1; R' = {f.drift_bound:.3g})",
    )
    ax.axhline(0.5, color="tab:orange", ls=":", lw=1)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set(
        xlabel="time t",
        ylabel="ratio to the theorem's bound (dimensionless)",
        ylim=(0, 1.2),
        title="(b) Lemmas 3.2-3.3 along the flow: kernel floor and drift radius",
    )
    ax.legend(loc="center right")
    ax = row[2]
    etas = np.asarray(f.etas)
    errors = np.asarray(f.errors)
    fitted = np.asarray(f.fitted, bool)
    for s_, (err, ok) in enumerate(zip(errors, fitted)):
        ax.loglog(etas[ok], err[ok], "o", color="tab:blue", label="measured (fitted)" if s_ == 0 else None)
        if (~ok).any():
            ax.loglog(etas[~ok], err[~ok], "x", color="gray", label="below 10× the flow's error" if s_ == 0 else None)
    o = f.order
    if o.slope is not None and np.isfinite(o.slope):
        grid = np.geomspace(etas.min(), etas.max(), 50)
        ax.loglog(
            grid,
            np.exp(o.intercept) * grid**o.slope,
            "k-",
            label=f"fit: p = {o.slope:.2f} [{o.ci_low:.2f}, {o.ci_high:.2f}] (theory 1)",
        )
    ax.axhline(f.flow_error, color="gray", ls=":", label=f"flow's own error {f.flow_error:.1e}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(etas, [f"{e:g}" for e in etas])
    ax.set(
        xlabel="GD step size η",
        ylabel="max_k ‖u_GD(k) − u_flow(kη)‖₂",
        title=f"(c) GD converges to the flow as η → 0 (t ≤ {c.flow_span:g})",
    )
    ax.legend()


def _phases(row, summary: RegimesSummary):
    c = summary.config
    regimes = summary.regimes
    phases = summary.phases
    ax = row[0]
    ratios = np.asarray(phases[0].ratios)
    widths = [p.m for p in phases]
    majority = np.array(
        [[np.bincount(np.asarray(cell, int), minlength=len(regimes)).argmax() for cell in p.regime] for p in phases]
    )
    cmap = ListedColormap([REGIME_COLORS[r] for r in regimes])
    edges = np.sqrt(ratios[1:] * ratios[:-1])
    xedges = np.concatenate([[ratios[0] ** 2 / edges[0]], edges, [ratios[-1] ** 2 / edges[-1]]])
    yedges = np.arange(len(widths) + 1) - 0.5
    ax.pcolormesh(xedges, yedges, majority, cmap=cmap, vmin=-0.5, vmax=len(regimes) - 0.5)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ticks = [t for t in (0.25, 0.5, 1, 2, 4, 8, 16, 32) if xedges[0] <= t <= xedges[-1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_yticks(range(len(widths)), [str(m) for m in widths])
    for key, color, pred, label in (("rise", "k", 1.0, "lazy/catapult"), ("divergence", "darkred", 2.0, "divergence")):
        ax.axvline(pred, color=color, ls=":", lw=1.5, label=f"predicted {label}: x = {pred:g}")
        for row_index, b in enumerate(summary.boundaries):
            e = getattr(b, key)
            if e.mean is None or e.ci_low is None:
                continue
            widest = row_index == len(summary.boundaries) - 1
            ax.errorbar(
                [e.mean],
                [row_index + 0.25],
                xerr=[[e.mean - e.ci_low], [e.ci_high - e.mean]],
                fmt="D",
                color=color,
                capsize=3,
                ms=5,
                label=(f"measured {label} (95% CI; m = {widths[-1]}: {e.mean:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}])")
                if widest
                else None,
            )
    for r, name in enumerate(regimes):
        ax.plot([], [], "s", color=REGIME_COLORS[name], label=name)
    ax.set(
        xlabel="x = η λ_max(Θ(0)) / 2  (x = 1: η = 2/λ_max)",
        ylabel="width m",
        title=f"(d) Step-size phase diagram (majority of {c.phase_seeds} inits per cell;\n"
        f"{'a fixed: the Du et al. net' if c.fixed_a else 'both layers trained'})",
    )
    ax.grid(False)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    cat = summary.catapult
    colors = series_colors(len(cat.ratios))
    for x, loss, sharp, regime, color in zip(cat.ratios, cat.loss, cat.sharpness, cat.regime, colors):
        loss = np.asarray(loss, float)
        sharp = np.asarray(sharp, float)
        ratio = loss / loss[0]
        bad = ~(np.isfinite(ratio) & (ratio < 1e4))  # a divergent run is drawn up to where it left the plot
        stop = int(np.argmax(bad)) if bad.any() else ratio.size
        k = np.arange(ratio.size)
        row[1].semilogy(k[:stop], ratio[:stop], color=color, label=f"x = {x:g} ({regime})")
        row[2].plot(k[: min(stop, sharp.size)], sharp[:stop], color=color, label=f"x = {x:g}")
        if stop < ratio.size:
            row[1].plot([k[stop - 1]], [ratio[stop - 1]], "x", color=color, ms=8)
    row[1].axhline(1.0, color="k", ls=":", lw=1)
    row[1].set(
        xlabel="GD step k",
        ylabel="L(k) / L(0)  (×: divergence)",
        ylim=(1e-8, 1e4),
        title=f"(e) Catapult: the loss rises, then converges (m = {cat.m})",
    )
    row[1].legend()
    row[2].axhline(1.0, color="k", ls="--", lw=1, label="λ_max(Θ) = 2/η")
    row[2].set_yscale("log")
    row[2].set(
        xlabel="GD step k",
        ylabel="η λ_max(Θ(k)) / 2  (< 1: stable)",
        ylim=(0.1, 10),
        title="(f) The kernel's top eigenvalue falls below 2/η",
    )
    row[2].legend()


def _lazy(rows, summary: RegimesSummary):
    c = summary.config
    for row, axis in zip(rows, ("alpha", "width")):
        for name, e in summary.lazy.items():
            color, style, label = FAMILY_STYLE[name]
            points = e.by_alpha if axis == "alpha" else e.by_width
            x = np.array([p.alpha if axis == "alpha" else p.m for p in points], float)
            for ax, quantity in zip(row, ("drift", "kernel_change", "test_accuracy")):
                values = np.array([getattr(p, quantity) for p in points], float)
                mean = np.nanmean(values, axis=1)
                text = label
                if quantity != "test_accuracy":
                    fit = getattr(e.fits, f"{quantity}_vs_{axis}")
                    if fit.fit is not None:
                        ft = fit.fit
                        interval = f"[{ft.ci_low:.2f}, {ft.ci_high:.2f}]"
                        text += f": {ft.slope:.2f} {interval} (pred. {fit.predicted:g})"
                ax.plot(x, mean, style, color=color, label=text, alpha=0.9)
        what = "output scale α (m = %d)" % c.lazy_width if axis == "alpha" else "width m (α = 1)"
        titles = (
            "max_r ‖w_r − w_r(0)‖ (weight drift)",
            "‖H − H(0)‖_F / ‖H(0)‖_F (relative kernel change)",
            f"test accuracy, digits odd vs even ({c.n_test} held out)",
        )
        letters = "ghi" if axis == "alpha" else "jkl"
        for ax, title, letter in zip(row, titles, letters):
            ax.set_xscale("log")
            if letter not in "il":
                ax.set_yscale("log")
            ax.set(xlabel=what, title=f"({letter}) {title}")
            ax.legend(fontsize=7)
        row[0].set_ylabel("drift (input units)")
        row[1].set_ylabel("relative change (dimensionless)")
        row[2].set_ylabel("accuracy (fraction correct)")
        if axis == "alpha":
            for ax in row[:2]:
                ax.axvspan(c.alpha_fit_min, max(c.lazy_alphas) * 1.2, color="gray", alpha=0.08, lw=0)
