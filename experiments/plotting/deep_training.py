"""Figures of the dynamics studies, drawn only from the summaries saved as JSON."""

from __future__ import annotations

import numpy as np

from experiments.deep_training import EosSummary, InitSummary, LotterySummary, NormSummary, OptimSummary, SkipSummary
from experiments.plotting.style import new_figure, series_colors


def plot_init(summary: InitSummary):
    r = summary.result
    fig, (ax_f, ax_b) = new_figure(1, 2, (13, 5))
    for row, color in zip(r.rows, series_colors(len(r.rows))):
        layers = np.arange(1, len(row.forward) + 1)
        ax_f.plot(
            layers,
            row.forward,
            "o",
            ms=3,
            color=color,
            label=f"{row.label}: x{row.forward_growth:.3f}/layer (pred. x{row.predicted_growth:.3f})",
        )
        ax_f.plot(layers, row.predicted[: len(layers)], "-", color=color, lw=1)
        ax_b.plot(
            layers,
            row.backward_sq,
            "o-",
            ms=3,
            color=color,
            label=f"{row.label}: x{row.backward_growth:.3f}/layer",
        )
    ax_f.set(
        yscale="log",
        xlabel="hidden layer l",
        ylabel="pre-activation variance E[(h^l)²] (dots: measured; lines: recursion)",
        title=f"(a) forward signal, depth {r.depth}, width {r.width}",
    )
    ax_b.set(
        yscale="log",
        xlabel="hidden layer l",
        ylabel="backward ‖∂f/∂h^l‖² (RMS over inputs)",
        title="(b) backward signal (ReLU prediction: x 2/s_w per layer, input to output)",
    )
    ax_f.legend(fontsize=7.5)
    ax_b.legend(fontsize=7.5)
    fig.suptitle("Initialization and depth: He init keeps ReLU signals O(1); other scales grow or vanish geometrically")
    return fig


def plot_skip(summary: SkipSummary):
    r = summary.result
    fig, (ax_g, ax_l) = new_figure(1, 2, (13, 5))
    depths = sorted({row.depth for row in r.rows})
    colors = dict(zip(depths, series_colors(len(depths))))
    for row in r.rows:
        style = "-" if row.skip else "--"
        tag = "skip" if row.skip else "no skip"
        ax_g.plot(
            np.arange(1, len(row.backward_norm) + 1),
            row.backward_norm,
            style,
            color=colors[row.depth],
            label=f"depth {row.depth}, {tag}",
        )
        ax_l.plot(row.loss, style, color=colors[row.depth], label=f"depth {row.depth}, {tag}")
    ax_g.set(yscale="log", xlabel="hidden layer l", ylabel="‖∂f/∂h^l‖ at init", title="(a) gradient norm per layer")
    ax_l.set(
        yscale="log",
        xlabel="Adam step",
        ylabel="training loss ½‖f(X) − y‖²",
        title="(b) training loss (digits, odd vs even)",
    )
    ax_g.legend(fontsize=7, ncol=2)
    ax_l.legend(fontsize=7, ncol=2)
    fig.suptitle(
        "Skip connections (residual branch scaled by 1/√depth) on a LeCun-initialized "
        f"ReLU stack (s_w = {summary.config.skip_weight_var})"
    )
    return fig


def plot_eos(summary: EosSummary):
    r = summary.result
    fig, (ax_s, ax_l) = new_figure(1, 2, (13, 5))
    ax_s.plot(r.steps, r.sharpness, "o-", ms=3, label="sharpness λ_max(∇²L) (Lanczos)")
    ax_s.axhline(2 / r.eta, color="crimson", ls="--", label=f"2/η = {2 / r.eta:.3g}")
    if r.first_edge >= 0:
        ax_s.axvline(r.first_edge, color="0.5", ls=":", label=f"reaches 2/η at step {r.first_edge}")
    ax_s.set(
        xlabel="GD step", ylabel="top Hessian eigenvalue", title=f"(a) sharpness during full-batch GD, η = {r.eta}"
    )
    ax_s.legend()
    ax_l.plot(r.loss, lw=1.2)
    ax_l.set(
        yscale="log",
        xlabel="GD step",
        ylabel="training loss",
        title=f"(b) loss: rose on {r.loss_increases} steps; descent lemma failed on {r.descent_violations}",
    )
    fig.suptitle(
        "Edge of stability (Cohen et al. 2021): sharpness rises to "
        "2/η and hovers; the loss keeps falling, non-monotonically"
    )
    return fig


PLOTS = {"init": plot_init, "skip": plot_skip, "eos": plot_eos}


def plot_norm(summary: NormSummary):
    r = summary.result
    fig, (ax_s, ax_g, ax_b) = new_figure(1, 3, (17, 5))
    for row in r.rows:
        ax_s.plot(row.steps, row.sharpness, "o-", ms=3, label=row.normalization)
        ax_g.plot(row.grad_norm, label=row.normalization)
    names = [row.normalization for row in r.rows]
    ax_b.bar(names, [row.largest_stable_step for row in r.rows], color=["tab:gray", "tab:blue", "tab:green"])
    ax_b.plot(names, [row.two_over_sharpness0 for row in r.rows], "k_", ms=30, mew=2, label="2 / sharpness at init")
    ax_s.set(yscale="log", xlabel="GD step", ylabel="sharpness λ_max(∇²L)", title=f"(a) sharpness, GD η = {r.eta:.3g}")
    ax_g.set(yscale="log", xlabel="GD step", ylabel="‖∇L‖", title="(b) gradient norm")
    ax_b.set(yscale="log", ylabel="largest stable constant step (bisection)", title="(c) stable step sizes")
    for ax in (ax_s, ax_g, ax_b):
        ax.legend()
    fig.suptitle("Normalization (depth-6 ReLU MLP on digits): batch and layer norm vs none")
    return fig


def plot_optim(summary: OptimSummary):
    r = summary.result
    tasks = list(r.runs)
    fig, axes = new_figure(2, 3, (18, 9))
    for col, task in enumerate(tasks[:2]):
        for row, color in zip(r.runs[task], series_colors(len(r.runs[task]))):
            loss = np.asarray(row.loss, float)
            axes[0, col].plot(loss, color=color, lw=1.3, label=row.optimizer)
            axes[1, col].plot(
                np.arange(loss.size) * row.seconds / (loss.size - 1),
                loss,
                color=color,
                lw=1.3,
                label=row.optimizer,
            )
        axes[0, col].set(yscale="log", xlabel="step", ylabel="training loss", title=f"{task}: loss vs step")
        axes[1, col].set(
            yscale="log",
            xlabel="wall-clock seconds (compiled run)",
            ylabel="training loss",
            title=f"{task}: loss vs wall-clock",
        )
        axes[0, col].legend(fontsize=7)
    q = r.quadratic
    axes[0, 2].plot([x.kappa for x in q], [x.predicted for x in q], "k--", label="predicted (κ−1)/(κ+1)")
    axes[0, 2].plot([x.kappa for x in q], [x.measured for x in q], "o", label="measured")
    axes[0, 2].set(
        xscale="log",
        xlabel="condition number κ",
        ylabel="per-step contraction of ‖x_k‖",
        title="GD on a quadratic, η = 2/(L+μ)",
    )
    axes[0, 2].legend()
    axes[1, 2].axis("off")
    axes[1, 2].text(
        0.02,
        0.5,
        "Learning rates are fixed, not tuned per optimizer:\nGD/SGD 0.5, heavy ball/Nesterov 0.05,\n"
        "Adam 1e-3, AdaGrad 0.05; warm-up: 50 linear steps;\ncyclic: triangular, period 100 steps, 10%-100%.",
        fontsize=10,
        va="center",
    )
    fig.suptitle("Optimizers (optax) with constant, warm-up and cyclic learning rates")
    return fig


def plot_lottery(summary: LotterySummary):
    r = summary.result.levels
    fig, ax = new_figure(1, 1, (7, 5))
    sp = [lv.sparsity for lv in r]
    ax.errorbar(
        sp,
        [lv.ticket_mean for lv in r],
        yerr=[lv.ticket_sd for lv in r],
        fmt="o-",
        label="winning ticket (rewound to init)",
    )
    ax.errorbar(
        sp,
        [lv.random_mean for lv in r],
        yerr=[lv.random_sd for lv in r],
        fmt="s--",
        label="same mask, random re-init",
    )
    ax.set(
        xlabel="fraction of weights pruned",
        ylabel="test accuracy (digits, odd vs even)",
        title="Lottery tickets (Frankle & Carbin 2019), mean ± sd over seeds",
    )
    ax.legend()
    return fig


PLOTS.update({"norm": plot_norm, "optim": plot_optim, "lottery": plot_lottery})
