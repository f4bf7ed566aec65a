"""Figure of the critical-width study, drawn only from the summary that is saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.critical_width import CriticalWidthSummary, Exponent
from experiments.plotting.style import new_figure

COLORS = {
    "init": "tab:blue",
    "concentration": "tab:brown",
    "trajectory": "tab:orange",
    "linear": "tab:green",
    "kernel": "tab:purple",
    "trajectory_flow": "tab:red",
    "linear_flow": "tab:olive",
}
LABELS = {
    "init": "init: λ_min(H(0)) ≥ λ₀/2",
    "concentration": "concentration: ‖H(0)−H∞‖₂ ≤ λ₀/4 (Lemma 3.1)",
    "trajectory": "trajectory: λ_min(H(k)) ≥ λ₀/2 ∀k",
    "linear": "linear: L(k) ≤ (1−ηλ₀/2)ᵏL(0) ∀k",
    "kernel": "kernel: |L − L_H∞| ≤ 10% ∀k",
    "trajectory_flow": "trajectory at η/10 (near the flow)",
    "linear_flow": "linear at η/10 (near the flow)",
}
FAMILY_TITLES = {
    "sphere": "unit sphere, d = n",
    "sphere_quarter_d": "unit sphere, d = n/4",
    "sphere_fixed_d": "unit sphere, fixed d",
    "digits": "digits (odd/even)",
    "npz": "user data (.npz)",
}
BOUND_STYLES = {"du2019": "-.", "oymak2020": "--", "song_yang2019": ":", "montanari2022": (0, (1, 3)), "counting": "-"}


def _values(seq) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in seq], float)


def _fit_label(fit: Exponent) -> str:
    if fit.slope is None:
        return "p n/a"
    ci = "" if fit.ci_low is None else f" [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"
    return f"p = {fit.slope:.2f}{ci}"


def plot_critical_width(summary: CriticalWidthSummary):
    c = summary.config
    families = summary.families
    fig, axes = new_figure(len(families), 3, (15, 4.4 * len(families)))
    axes = np.atleast_2d(axes)
    for row, (family, f) in zip(axes, families.items()):
        ax_m, ax_count, ax_bound = row
        ns = np.asarray(f.ns, float)
        jitter = 1 + 0.03 * (np.asarray(f.dataset, float) - np.mean(f.dataset))
        for crit, e in f.criteria.items():
            m = _values(e.m_star)
            censored = np.array([bool(v) for v in e.censored])
            measured = np.isfinite(m) & ~censored
            color = COLORS.get(crit, "k")
            ax_m.plot(ns[measured] * jitter[measured], m[measured], "o", color=color, ms=4, alpha=0.8)
            if (censored & np.isfinite(m)).any():  # held at the smallest width: an upper bound only
                pick = censored & np.isfinite(m)
                ax_m.plot(ns[pick] * jitter[pick], m[pick], "v", color=color, ms=7, mfc="none")
            above = np.array([v == "above" for v in e.censored])
            if above.any():
                pick = above
                ax_m.plot(ns[pick] * jitter[pick], np.full(pick.sum(), c.m_max), "^", color=color, ms=7, mfc="none")
            fit = e.exponent
            if fit.slope is not None:
                grid = np.unique(ns[measured])  # the fit's line spans the sizes it measured
                ax_m.plot(grid, np.exp(fit.intercept) * grid**fit.slope, "-", color=color, lw=1.2)
            ax_m.plot([], [], "o-", color=color, label=f"{LABELS.get(crit, crit)}\n   {_fit_label(fit)}")
            ratio = _values(e.counting_ratio)
            ax_count.plot(ns[measured] * jitter[measured], ratio[measured], "o", color=color, ms=4, alpha=0.8)
            cfit = e.counting_exponent
            if cfit.slope is not None:
                grid = np.unique(ns[measured])  # the fit's line spans the sizes it measured
                ax_count.plot(grid, np.exp(cfit.intercept) * grid**cfit.slope, "-", color=color, lw=1.2)
            ax_count.plot([], [], "o-", color=color, label=f"{crit}: {_fit_label(cfit)}")
        ax_m.plot([], [], "v", color="gray", mfc="none", label="censored: held at the smallest width (m* ≤ that)")
        ax_m.plot(
            [], [], "^", color="gray", mfc="none", label=f"censored: none held up to m_max = {c.m_max} (m* > that)"
        )
        pools = [len(e.holds[0]) for u in summary.units if u.family == family for e in u.criteria.values()]
        most = max(pools, default=c.seeds)
        inits = f"{c.seeds}-{most}" if most > c.seeds else c.seeds  # pooled where the two estimates disagreed
        datasets = max(f.dataset, default=-1) + 1
        ax_m.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="critical width m* (neurons)",
            title=f"{FAMILY_TITLES.get(family, family)}: m*(n), {1 - c.delta:.0%} of {inits} inits, "
            f"{datasets} data sets",
        )
        ax_m.legend(fontsize=6.3, loc="best", framealpha=0.5)

        ax_count.axhline(1.0, color="red", lw=1, label="counting bound m d = n (necessary)")
        ax_count.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="counting ratio m* d / n (dimensionless)",
            title="measured width over the counting bound (flat: tight up to a constant)",
        )
        ax_count.legend(fontsize=6.5, framealpha=0.6)

        crit = "linear" if "linear" in f.criteria else next(iter(f.criteria))
        m = _values(f.criteria[crit].m_star)
        keep = np.isfinite(m) & ~np.array([bool(v) for v in f.criteria[crit].censored])
        for key, style in BOUND_STYLES.items():
            values = np.asarray(f.published[key], float)
            ax_bound.plot(ns[keep] * jitter[keep], values[keep] / m[keep], "o", ms=3, alpha=0.7, color="k")
            order = np.argsort(ns[keep])
            ax_bound.plot(
                ns[keep][order], (values[keep] / m[keep])[order], linestyle=style, lw=1, label=_bound_label(key)
            )
        ax_bound.axhline(1.0, color="red", lw=1, label="ratio 1 (requirement = measured m*)")
        ax_bound.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel=f"requirement / measured m*('{crit}') (constants dropped)",
            title="published requirements against the measurement",
        )
        ax_bound.legend(fontsize=6.5, framealpha=0.6)
    fig.suptitle(
        "Critical width of Du et al. (2019)'s conclusions: m* per data set (dots), fitted n^p with a two-level "
        "bootstrap CI (lines), against the counting bound and the published requirements",
        fontsize=11,
    )
    return fig


def _bound_label(key: str) -> str:
    return {
        "du2019": "Du et al. 2019: n⁶/λ₀⁴",
        "oymak2020": "Oymak & Soltanolkotabi 2020: n²/d",
        "song_yang2019": "Song & Yang 2019 (as cited): n²",
        "montanari2022": "Montanari & Zhong 2022: n/d",
        "counting": "counting: n/d (necessary)",
    }[key]


def plot_flow_check(summary):
    """The flow check (``experiments.critical_width_flow``): per criterion, the small-step GD hold fraction against
    the flow's at every checked bracket width, with the diagonal and the 1 - delta decision lines."""
    delta = float(summary.source_config["delta"])
    criteria = list(summary.criteria)
    fig, axes = new_figure(1, len(criteria), (5.2 * len(criteria), 4.6))
    axes = np.atleast_1d(axes)
    for ax, crit in zip(axes, criteria):
        gd, flow, n = [], [], []
        for u in summary.units:
            for w in u.widths.get(crit, []):
                gd.append(np.mean(w.gd_holds))
                flow.append(np.mean(w.flow_holds))
                n.append(u.n)
        gd, flow, n = np.asarray(gd), np.asarray(flow), np.asarray(n)
        rng = np.random.default_rng(0)  # a small jitter: many points share a fraction k / seeds
        jit = 0.006 * rng.standard_normal((2, gd.size))
        for size in np.unique(n):
            pick = n == size
            ax.plot(gd[pick] + jit[0, pick], flow[pick] + jit[1, pick], "o", ms=5, alpha=0.7, label=f"n = {size}")
        ax.plot([0, 1], [0, 1], "k-", lw=0.8, label="flow = GD")
        ax.axvline(1 - delta, color="gray", ls=":", lw=1)
        ax.axhline(1 - delta, color="gray", ls=":", lw=1, label=f"1 - delta = {1 - delta:g}")
        v = summary.criteria[crit]
        ax.set_title(
            f"{crit}: runs agreeing {v.runs_agreeing}/{v.runs}\nunits with flow m* = small-step m*: "
            f"{v.units_same_m_star}/{v.units}"
        )
        ax.set_xlabel("hold fraction, small-step GD (eta = 0.1 / lambda_max)")
        ax.set_ylabel("hold fraction, gradient flow (diffrax Tsit5)")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(
        "Critical width at the small step against gradient flow itself (Du et al. 2019, Thm 3.2): the same "
        "initializations at each unit's bracket widths"
    )
    return fig
