"""Figure of the deep-width study (Du, Lee, Li, Wang & Zhai 2019), drawn only from the summary that is saved as JSON."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from experiments.deep_width import DeepWidthSummary
from experiments.plotting.style import new_figure

ARCH_COLORS = {"fc": "tab:red", "resnet": "tab:blue"}
ARCH_LABELS = {"fc": "fully connected (Eq. 2)", "resnet": "ResNet (Eq. 3)"}
CRITERION_STYLES = {"trajectory": "-", "linear": "--"}
DATASET_MARKERS = {"sphere": "o", "digits": "s"}
ARCH_OFFSETS = {"fc": 0.97, "resnet": 1.03}  # a small horizontal shift, so that equal widths of the two stay visible


def _values(seq) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in seq], float)


def _depth_ticks(ax, depths) -> None:
    """Plain tick labels at the depths on a log depth axis (no 2x10^0)."""
    ax.set_xticks(sorted(set(depths)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_deep_width(summary: DeepWidthSummary):
    c = summary.config
    fig, axes = new_figure(1, 4, (20, 6.2))
    ax_lam, ax_m, ax_req, ax_drift = axes

    for k in summary.kernels:
        lam = _values(k.lambda0)
        depths = np.asarray(k.depths, float)
        shown = lam > 0
        slope = "n/a" if k.fit.slope is None else f"{k.fit.slope:.2f}"
        ax_lam.plot(
            depths[shown],
            lam[shown],
            DATASET_MARKERS.get(k.dataset, "o") + "-",
            color=ARCH_COLORS[k.architecture],
            alpha=0.4 + 0.6 * (k.n == max(c.ns)),
            ms=4,
            label=f"{k.architecture}, {k.dataset}, n = {k.n}: slope in log H {slope}",
        )
    for k in summary.kernels:
        if k.architecture == "resnet" and k.n == max(c.ns) and len(k.depths) > 1:
            H = np.asarray(k.depths, float)[1:]
            lam = _values(k.lambda0)[1:]
            ax_lam.plot(H, lam[0] * (H[0] / H) ** 2, ":", color="k", lw=1, label="H^-2 (Prop. F.2's c_H)")
            break
    ax_lam.set(
        xscale="log",
        yscale="log",
        xlabel="depth H",
        ylabel="λ₀ = λ_min(K^(H))",
        title=f"λ₀(H), {c.activation}, c_res = {c.c_res} (FC: no rate in the paper)",
    )
    ax_lam.legend(fontsize=6, framealpha=0.6)
    _depth_ticks(ax_lam, c.kernel_depths)

    for a in summary.architectures:
        H = np.asarray(a.depths, float) * ARCH_OFFSETS[a.architecture]
        for crit, g in a.growth.items():
            m = _values(g.m_star)
            below = np.array([v == "below" for v in g.censored])
            above = ~np.isfinite(m)
            color = ARCH_COLORS[a.architecture]
            marker = DATASET_MARKERS.get(a.dataset, "o")
            shown = np.isfinite(m) & ~below
            cmp = g.comparison
            delta = "n/a" if cmp.delta_aic is None else f"{cmp.delta_aic:.1f}"
            ax_m.plot(
                H[shown],
                m[shown],
                marker + CRITERION_STYLES[crit],
                color=color,
                alpha=0.4 + 0.6 * (a.n == max(c.ns)),
                ms=4,
                label=f"{a.architecture} {crit}, {a.dataset} n = {a.n}: ΔAIC {delta} ({cmp.preferred})",
            )
            if g.m_star_ci is not None and shown.any():  # the bootstrap interval over the initializations
                lo = np.array([np.nan if ci[0] is None else ci[0] for ci in g.m_star_ci], float)
                hi = np.array([c.m_max if ci[1] is None else ci[1] for ci in g.m_star_ci], float)
                ax_m.errorbar(
                    H[shown],
                    m[shown],
                    yerr=[np.maximum(m - lo, 0)[shown], np.maximum(hi - m, 0)[shown]],
                    fmt="none",
                    ecolor=color,
                    alpha=0.35,
                    capsize=2,
                    lw=0.8,
                )
            if below.any():
                ax_m.plot(H[below], m[below], "v", color=color, mfc="none", ms=7)
            if above.any():
                ax_m.plot(H[above], np.full(above.sum(), c.m_max), "^", color=color, mfc="none", ms=7)
    ax_m.plot([], [], "v", color="gray", mfc="none", label="censored: held at the smallest width")
    ax_m.plot([], [], "^", color="gray", mfc="none", label=f"censored: none held up to {c.m_max}")
    ax_m.set(
        xscale="log",
        yscale="log",
        xlabel="depth H",
        ylabel="critical width m* (neurons per layer)",
        title=f"m*(H): {1 - c.delta:.0%} of {c.seeds} inits ('—' trajectory, '--' linear; bars: 95% bootstrap)",
    )
    ax_m.legend(fontsize=5.5, framealpha=0.6, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    _depth_ticks(ax_m, c.depths)

    for a in summary.architectures:
        H = np.asarray(a.depths, float)
        g = a.growth["trajectory"]
        m = _values(g.m_star)
        req = _values(a.required_width)
        color = ARCH_COLORS[a.architecture]
        marker = DATASET_MARKERS.get(a.dataset, "o")
        p = "n/a" if a.required_fit.slope is None else f"{a.required_fit.slope:.2f}"
        ax_req.plot(
            H, req, marker + "-", color=color, ms=4, label=f"{a.architecture}, {a.dataset} n = {a.n}: degree {p}"
        )
        ax_req.plot(H, m, marker + ":", color=color, ms=3, alpha=0.6)
    ax_req.plot([], [], "k:", label="measured m*('trajectory')")
    ax_req.set(
        xscale="log",
        yscale="log",
        xlabel="depth H",
        ylabel="width (neurons per layer)",
        title="Theorems 5.1 / 6.1's width, constants dropped, vs measured m*",
    )
    ax_req.legend(fontsize=6, framealpha=0.6)
    _depth_ticks(ax_req, c.depths)

    first = summary.units[0] if summary.units else None
    for arch in c.architectures:
        units = [
            u
            for u in summary.units
            if first is not None and (u.dataset, u.n, u.architecture) == (first.dataset, first.n, arch)
        ]
        if not units:
            continue
        u = max(units, key=lambda v: v.depth)
        drift = np.asarray(u.drift.layer_drift, float)  # (seeds, H)
        layers = np.arange(1, drift.shape[1] + 1)
        color = ARCH_COLORS[arch]
        ax_drift.plot(
            layers,
            np.median(drift, axis=0),
            "o-",
            color=color,
            label=f"{ARCH_LABELS[arch]}, H = {u.depth}, m = {u.drift.width}: median over inits",
        )
        ax_drift.fill_between(layers, drift.min(axis=0), drift.max(axis=0), color=color, alpha=0.15)
        if u.drift.radius is not None:
            ax_drift.axhline(u.drift.radius, color=color, ls=":", lw=1, label="ResNet radius λ₀H²/n (Lemma C.4, c = 1)")
    ax_drift.set(
        yscale="log",
        xlabel="layer h",
        ylabel="max_k ‖W^(h)(k) − W^(h)(0)‖_F / √m",
        title=f"per-layer drift of one unit ({first.dataset if first else ''}, n = {first.n if first else ''})",
    )
    ax_drift.legend(fontsize=6, framealpha=0.6)
    fig.suptitle(
        "Du, Lee, Li, Wang & Zhai (2019): λ₀(H), the critical width m*(H) and the theorems' requirement, fully "
        "connected vs ResNet (practical step 1/λ_max(G(0)); widths and step outside the theorems' hypotheses)",
        fontsize=10.5,
    )
    return fig
