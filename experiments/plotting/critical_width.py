"""Figure of the critical-width study, drawn only from the summary that is saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.plotting.style import new_figure

COLORS = {"init": "tab:blue", "trajectory": "tab:orange", "linear": "tab:green", "kernel": "tab:purple"}
LABELS = {
    "init": "init: λ_min(H(0)) ≥ λ₀/2",
    "trajectory": "trajectory: λ_min(H(k)) ≥ λ₀/2 ∀k",
    "linear": "linear: L(k) ≤ (1−ηλ₀/2)ᵏL(0) ∀k",
    "kernel": "kernel: |L − L_H∞| ≤ 10% ∀k",
}
FAMILY_TITLES = {
    "sphere": "unit sphere, d = n",
    "sphere_fixed_d": "unit sphere, fixed d",
    "digits": "digits (odd/even)",
    "npz": "user data (.npz)",
}


def plot_critical_width(summary: dict):
    c = summary["config"]
    families = summary["families"]
    fig, axes = new_figure(len(families), 3, (15, 4.3 * len(families)))
    axes = np.atleast_2d(axes)
    for row, (family, f) in zip(axes, families.items()):
        ax_m, ax_lam, ax_ratio = row
        ns = np.asarray(f["ns"], float)
        anchor = None
        for crit, e in f["criteria"].items():
            m = np.array([np.nan if v is None else v for v in e["m_star"]], float)
            band = np.array([[np.nan if v is None else v for v in b] for b in e["band"]], float)
            fit = e["exponent"]
            label = LABELS[crit]
            if fit["slope"] is not None:
                ci = "" if fit["ci_low"] is None else f" [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]"
                label += f"\n   p = {fit['slope']:.2f}{ci}"
            ax_m.plot(ns, m, "o-", color=COLORS[crit], label=label)
            ax_m.fill_between(ns, band[:, 0], band[:, 1], color=COLORS[crit], alpha=0.15, lw=0)
            censored = np.isnan(m)
            if censored.any():
                ax_m.plot(
                    ns[censored],
                    np.full(censored.sum(), c["m_max"]),
                    "^",
                    color=COLORS[crit],
                    ms=9,
                    label=f"{crit}: m* > m_max = {c['m_max']}",
                )
            if anchor is None and np.isfinite(m[0]):
                anchor = m[0]
        for power, style in ((2, ":"), (4, "--"), (6, "-.")):
            if anchor is not None:
                ax_m.plot(
                    ns,
                    anchor * (ns / ns[0]) ** power,
                    style,
                    color="gray",
                    lw=1,
                    label=f"slope n^{power} (published: {_who(power)})",
                )
        ax_m.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="critical width m* (neurons)",
            title=f"{FAMILY_TITLES.get(family, family)}: m*(n), {1 - c['delta']:.0%} of {c['seeds']} inits",
        )
        ax_m.set_ylim(top=max(ax_m.get_ylim()[1], 1) if anchor is None else min(ax_m.get_ylim()[1], 1e7))
        ax_m.legend(fontsize=6.5, loc="best", framealpha=0.6)

        lam = np.asarray(f["lambda0"], float)
        fit = f["lambda0_fit"]
        ax_lam.plot(ns, lam, "o-", color="k", label="λ₀ = λ_min(H∞) (float64)")
        if np.isfinite(fit["slope"]):
            ax_lam.plot(
                ns,
                np.exp(fit["intercept"]) * ns ** fit["slope"],
                "--",
                color="gray",
                label=f"fit: λ₀ ~ n^{fit['slope']:.2f}",
            )
        ax_lam.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="λ₀ (dimensionless)",
            title=f"least eigenvalue of H∞, d = {f['d'][0] if len(set(f['d'])) == 1 else 'n'}",
        )
        ax_lam.legend(fontsize=7)

        crit = "linear" if "linear" in f["criteria"] else next(iter(f["criteria"]))
        for (name, values), style in zip(f["criteria"][crit]["ratio_to_m_star"].items(), (":", "--", "-.", "-")):
            v = np.array([np.nan if x is None else x for x in values], float)
            ax_ratio.plot(ns, v, "o" + style, label=name)
        ax_ratio.axhline(1.0, color="red", lw=1, label="ratio 1 (bound = measured m*)")
        ax_ratio.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel=f"published width / measured m*('{crit}')",
            title="how loose each sufficient width is",
        )
        ax_ratio.legend(fontsize=7)
    fig.suptitle(
        "Critical width of Du et al. (2019)'s conclusions against the published sufficient widths "
        "(bands: 95% bootstrap over initializations; grey: published exponents)",
        fontsize=11,
    )
    return fig


def _who(power: int) -> str:
    return {2: "Song & Yang; Oymak & Soltanolkotabi", 4: "Du, Lee et al.", 6: "Du et al."}[power]
