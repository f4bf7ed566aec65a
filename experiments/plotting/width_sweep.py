"""Figure of the Du et al. (2019) width sweep, drawn only from the summary that is saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.plotting.style import new_figure, series_colors
from experiments.store import Check
from experiments.width_sweep import OwnStepUnit, SeedsCheck, WidthSweepSummary

CHECK_LABELS = {"loss_envelope": "(C1) loss", "lambda_min_floor": "(C2) λ_min(H(k))", "drift_radius": "(C3) drift"}
CHECK_TEXT = (
    "(C1) L(k) ≤ (1 − ηλ₀/2)ᵏ L(0) at every step k\n"
    "(C2) λ_min(H(k)) ≥ λ₀/2 at every step (proved: Cholesky where needed, Weyl's inequality in between)\n"
    "(C3) max_r ‖w_r(k) − w_r(0)‖ ≤ R' at every recorded step\n"
    "held (x): x = worst ratio over steps k ≥ 1 and seeds of measured / bound (≤ 1 holds;\n"
    "for (C2) it is (λ₀/2) / λ_min(H(k))). Red: failed on some seed, first at step k."
)


def _by_width(summary: WidthSweepSummary, field: str):
    """Per width: steps, the median over seeds of the ``WidthUnit`` field ``field`` and its min-max band."""
    out = []
    for w in summary.per_width:
        runs = [u for u in summary.units if u.m == w.m]
        steps = np.asarray(
            runs[0].recorded_steps
            if field not in ("loss", "envelope", "predicted_loss")
            else np.arange(len(runs[0].loss))
        )
        values = np.asarray([getattr(u, field) for u in runs], dtype=float)
        out.append((w.m, steps, np.median(values, 0), values.min(0), values.max(0)))
    return out


def plot_width_sweep(summary: WidthSweepSummary):
    c = summary.config
    widths = [w.m for w in summary.per_width]
    colors = dict(zip(widths, series_colors(len(widths))))
    lam0 = float(np.median(list(summary.lambda0.values())))
    eta = summary.eta
    fig, axes = new_figure(2, 4, (21, 9.6))
    (ax_loss, ax_flip, ax_drift, ax_own), (ax_lam, ax_scale, ax_mon, ax_own_table) = axes
    band = dict(alpha=0.15, lw=0)

    series = zip(_by_width(summary, "loss"), _by_width(summary, "envelope"), _by_width(summary, "predicted_loss"))
    for (m, k, med, lo, hi), (_, _, env, _, _), (_, _, pred, _, _) in series:
        ax_loss.plot(k, med, color=colors[m], lw=1.6, label=f"m = {m}")
        ax_loss.fill_between(k, lo, hi, color=colors[m], **band)
        ax_loss.plot(k, env, color=colors[m], lw=1, ls="--")
        ax_loss.plot(k, pred, color=colors[m], lw=1, ls=":")
    floor = float(np.median([u.loss_floor for u in summary.units]))
    ax_loss.axhline(floor, color="0.4", lw=0.8, ls="-.")
    ax_loss.plot([], [], "k--", lw=1, label="Thm 4.1 envelope\n(1-ηλ₀/2)ᵏ L(0)")
    ax_loss.plot([], [], "k:", lw=1, label="H^∞ kernel prediction\n½Σ(1-ηλᵢ)²ᵏ(vᵢ·(y-u(0)))²")
    ax_loss.plot(
        [], [], color="0.4", lw=0.8, ls="-.", label="round-off floor L(0)(100ε)²:\nrates use the steps above it"
    )
    ax_loss.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="training loss L(k) = ½‖u(k) − y‖²",
        title="(a) loss vs step: theorem's rate (--) and kernel prediction (:)",
    )
    ax_loss.legend(ncol=2, loc="lower left", fontsize=7)

    for m, k, med, lo, hi in _by_width(summary, "flip_fraction"):
        pos = k > 0
        ax_flip.plot(k[pos], med[pos], color=colors[m], lw=1.6, label=f"m = {m}")
        ax_flip.fill_between(k[pos], lo[pos], hi[pos], color=colors[m], **band)
    ax_flip.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="fraction of (i, r) with 1{w_r·x_i ≥ 0} flipped since k = 0",
        title="(b) activation-pattern changes (paper Fig. 1b)",
    )
    ax_flip.legend(ncol=2)

    for (m, k, med, lo, hi), w in zip(_by_width(summary, "max_drift"), summary.per_width):
        ax_drift.plot(k[k > 0], med[k > 0], color=colors[m], lw=1.6, label=f"m = {m}")
        ax_drift.fill_between(k[k > 0], lo[k > 0], hi[k > 0], color=colors[m], **band)
        ax_drift.axhline(w.drift_radius, color=colors[m], lw=1, ls=":")
    ax_drift.plot([], [], "k:", lw=1, label="R' = 4√n‖y−u(0)‖/(√m λ₀)")
    ax_drift.set(
        yscale="log",
        xlabel="GD step k",
        ylabel="max_r ‖w_r(k) − w_r(0)‖ (Euclidean, input units)",
        title="(c) max distance from init vs R' (paper Fig. 1c)",
    )
    ax_drift.legend(ncol=2, loc="center right")

    for m, k, med, lo, hi in _by_width(summary, "lambda_min"):
        ax_lam.plot(k, med / lam0, color=colors[m], lw=1.6, label=f"m = {m}")
        ax_lam.fill_between(k, lo / lam0, hi / lam0, color=colors[m], **band)
    ax_lam.axhline(1.0, color="0.3", lw=1, ls="-", label="λ_min(H^∞) = λ₀")
    ax_lam.axhline(0.5, color="crimson", lw=1.2, ls="--", label="theorem's floor λ₀/2")
    ax_lam.set(
        xlabel="GD step k",
        ylabel="λ_min(H(k)) / λ₀  (dimensionless)",
        title="(d) least eigenvalue of the Gram matrix H(k)",
        ylim=(min(-0.02, ax_lam.get_ylim()[0]), 1.45),
    )
    ax_lam.legend(ncol=3, loc="upper center")

    ms = np.asarray([u.m for u in summary.units], float)
    grid = np.geomspace(min(widths), max(widths), 50)
    fits = summary.fits
    for key, f, marker, color, label in (
        ("final_max_drift", fits.max_drift, "o", "tab:blue", "max drift"),
        ("final_rms_drift", fits.rms_drift, "^", "tab:green", "RMS drift (fit m ≥ 256)"),
        ("final_flip_fraction", fits.flip_fraction, "s", "tab:orange", "flip fraction"),
    ):
        if f is None:  # a summary older than the fit
            continue
        vals = np.asarray([getattr(u, key) for u in summary.units], float)
        ax_scale.scatter(ms, vals, marker=marker, color=color, s=18, alpha=0.7)
        if f.slope is not None and np.isfinite(f.slope):
            ci = f"[{f.ci_low:.2f}, {f.ci_high:.2f}]" if f.ci_low is not None else ""
            ax_scale.plot(
                grid,
                np.exp(f.intercept) * grid**f.slope,
                color=color,
                lw=1.4,
                label=f"{label}: slope {f.slope:.3f} {ci}",
            )
    rp = [w.drift_radius for w in summary.per_width]
    ax_scale.plot(widths, rp, "k:", lw=1.2, label="R' (theory, slope −1/2)")
    ax_scale.set(
        xscale="log",
        yscale="log",
        xlabel="width m (hidden units)",
        ylabel="value after the last step",
        title="(e) end-of-run drift and flips vs m (fit, 95% CI)",
    )
    ax_scale.legend()

    _monitor_table(ax_mon, summary)
    _own_step(ax_own, ax_own_table, summary.own_step)
    req = [w.required_width for w in summary.per_width]
    fig.suptitle(
        f"Du et al. (2019), Theorem 4.1: GD on a two-layer ReLU net, n = {c.n} points on S^{c.d - 1}, "
        f"Gaussian labels, η = {eta:.3g}, λ₀ = {lam0:.3g}, {c.seeds} seed(s); shaded: min–max over seeds\n"
        f"The theorem assumes η ≤ λ₀/(4n²) = {summary.theorem_max_step:.1e} and m ≥ {min(req):.1e} "
        "(explicit constants of its proof): the sweep tests its conclusions far outside its assumptions.",
        fontsize=11,
    )
    return fig


def _own_step(ax, ax_table, runs: list[OwnStepUnit]) -> None:
    """(g) Theorem 4.1 at its own step eta = lambda_0/(4 n^2): L(k)/L(0) against the envelope, per run; (h) the
    measured rate beside the theorem's and the worst ratio of each conclusion."""
    ax_table.axis("off")
    if not runs:
        ax.axis("off")
        ax.set_title("(g) Thm 4.1 at its own step: not run (--own-step false)")
        return
    colors = dict(zip(sorted({r.n for r in runs}), ("tab:purple", "tab:brown", "tab:cyan")))
    for r in runs:
        loss = np.asarray(r.loss, float)
        k = np.linspace(0, r.steps, loss.size)
        ax.plot(k, loss / loss[0], color=colors[r.n], lw=1.4, label=f"n = d = {r.n}, seed {r.seed}")
        ax.plot(k, r.rate_theorem**k, color=colors[r.n], lw=1, ls="--")
    ax.plot([], [], "k--", lw=1, label="Thm 4.1 envelope (1-ηλ₀/2)ᵏ")
    ax.set(
        yscale="log",
        xlabel="GD step k (η = λ₀/(4n²))",
        ylabel="L(k) / L(0)",
        title=f"(g) Thm 4.1 inside its step hypothesis, m = {runs[0].m}",
    )
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))  # 80,000 steps: plain labels run together
    ax.legend(fontsize=8)
    rows = [
        [
            f"{r.n}",
            f"{r.seed}",
            f"{r.eta:.2e}",
            f"{1 - r.rate:.2e}",
            f"{1 - r.rate_theorem:.2e}",
            *(_ratio(_check(r.monitor, name).worst_ratio) for name in CHECK_LABELS),
            f"{r.width_factor:.0e}",
        ]
        for r in runs
    ]
    table = ax_table.table(
        cellText=rows,
        colLabels=["n", "seed", "η", "1 − rate", "ηλ₀/2", "C1", "C2", "C3", "m / required"],
        loc="upper center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.auto_set_column_width(list(range(len(rows[0]))))  # the 1e-5 columns are wider than an even share
    table.scale(1.0, 1.5)
    ax_table.set_title("(h) at the theorem's step: measured per-step decrease vs the theorem's, worst ratios")
    ax_table.text(
        0.02,
        0.02,
        "1 − rate ≥ ηλ₀/2 means the loss falls at least as fast as Thm 4.1 says.\n"
        "C1-C3: worst measured/bound ratio over the run (≤ 1: held).\n"
        "The width hypothesis stays out of reach: m / required is the factor.",
        transform=ax_table.transAxes,
        fontsize=8.5,
        va="bottom",
    )


def _monitor_table(ax, summary: WidthSweepSummary) -> None:
    ax.axis("off")
    ax.set_title("(f) theorem monitor: did each conclusion hold at every step?")
    rows, cell_colors = [], []
    for w in summary.per_width:
        row, colors = [str(w.m)], ["white"]
        for name in CHECK_LABELS:
            chk = _check(w.monitor, name)
            ratio = chk.worst_ratio
            row.append(f"held ({_ratio(ratio)})" if chk.held else f"fails at k={chk.first_failure} ({_ratio(ratio)})")
            colors.append("#d8f0d8" if chk.held else "#f6d0d0")
        rows.append(row)
        cell_colors.append(colors)
    table = ax.table(
        cellText=rows,
        cellColours=cell_colors,
        colLabels=["m", *CHECK_LABELS.values()],
        loc="upper center",
        cellLoc="center",
        colWidths=[0.13, 0.29, 0.29, 0.29],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1.0, 1.5)
    ax.text(0.02, 0.02, CHECK_TEXT, transform=ax.transAxes, ha="left", va="bottom", fontsize=8.5, linespacing=1.5)


def _check(monitor, name: str) -> Check | SeedsCheck:
    """The conclusion ``name`` (a key of ``CHECK_LABELS``) of a ``Monitor`` or ``SeedsMonitor``."""
    return getattr(monitor, name)


def _ratio(ratio) -> str:
    if ratio is None or not np.isfinite(ratio):
        return "∞"
    return f"{ratio:.0f}" if ratio >= 100 else f"{ratio:.2g}"
