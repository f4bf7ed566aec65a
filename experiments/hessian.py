"""Hessian spectra and saddle points (Dauphin et al. 2014; Ghorbani et al. 2019; Li et al. 2018).

    python -m experiments.hessian

1. Spectral density (stochastic Lanczos quadrature) of a ReLU MLP on digits at init, mid-training and end,
   and the extreme eigenvalues with Ritz error bars along training, with the non-convexity ratio
   |lambda_min / lambda_max| (Li et al. 2018).
2. Critical points and their index (Dauphin et al. 2014, Fig. 1): Levenberg-Marquardt on ||grad L||^2 from many
   starts, for a deep-linear autoencoder (critical points known in closed form, Baldi & Hornik 1989) and a small
   tanh MLP; loss vs index, with the Spearman correlation.
3. Saddle escape from near the saddle W = 0 of a deep linear net: GD, perturbed GD, saddle-free Newton.
4. Agreement of the matrix-free routines with dense jax.hessian + eigh on a small model.
Writes <out>/hessian.{png,pdf,json}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from experiments.cli import Common, format_table, option, parse_config, progress, run_main, set_precision
from experiments.store import finish

NAME = "hessian"
QUICK = dict(width=8, n_train=40, steps=20, checkpoints=2, probes=2, lanczos_steps=10, starts=3, escape_steps=10)


@dataclass(frozen=True)
class HessianConfig(Common):
    width: int = option(32, "hidden width of the digits MLP (two hidden layers)")
    n_train: int = option(300, "digits (odd vs even) used for training")
    steps: int = option(600, "GD steps on the digits MLP")
    checkpoints: int = option(12, "points along training where curvature is measured")
    eta: float = option(0.002, "GD step on the summed squared loss")
    probes: int = option(8, "SLQ probe vectors")
    lanczos_steps: int = option(60, "Lanczos steps per probe")
    starts: int = option(24, "starting points per model for the critical-point search")
    escape_steps: int = option(150, "steps of each saddle-escape method")
    x64: bool = option(True, "always on: the curvature checks and the Newton-type searches need float64")


def parse_args(argv=None) -> HessianConfig:
    return parse_config(
        HessianConfig,
        argv,
        prog="python -m experiments.hessian",
        description=__doc__.split("\n\n")[0],
        presets=dict(quick=QUICK),
        validate=_problems,
    )


def _problems(c: HessianConfig) -> str | None:
    """The first usage error in a config, or None."""
    if min(c.width, c.n_train, c.steps, c.checkpoints, c.probes, c.lanczos_steps, c.starts, c.escape_steps) < 1:
        return "all sizes and counts must be >= 1."
    return None if c.eta > 0 else "--eta must be positive."


def pca_digits(n: int, dims: int, seed: int):
    """n digits (odd vs even, drawn with ``seed``), centred, projected on their top ``dims`` principal directions."""
    import jax
    import jax.numpy as jnp

    import ntk_proofs as nt

    X, y = nt.digits_split(jax.random.PRNGKey(seed), n, 0)[:2]
    X = np.asarray(X, np.float64)
    _, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    return jnp.asarray(X @ Vt[:dims].T), jnp.asarray(y[:n])


def spectra_along_training(c: HessianConfig, bar) -> dict:
    import jax

    import ntk_proofs as nt

    X, y = nt.digits_split(jax.random.PRNGKey(c.seed), c.n_train, 0)[:2]
    net = nt.MLP((X.shape[1], c.width, c.width, 1), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(c.seed))
    loss = nt.gd.squared_error(net.apply, X, y)

    chunk = max(1, c.steps // c.checkpoints)
    key = jax.random.PRNGKey(c.seed + 1)
    steps_done, records, densities = 0, [], {}
    density_at = {0: "init", c.checkpoints // 2: "mid-training", c.checkpoints: "end"}
    for i in range(c.checkpoints + 1):
        k1, k2, k3, key = jax.random.split(key, 4)
        top = nt.top_eigenvalues(loss, params, 1, key=k1)
        bottom = nt.bottom_eigenvalues(loss, params, 1, key=k2)
        records.append(
            dict(
                step=steps_done,
                loss=float(loss(params)),
                lambda_max=float(top.eigenvalues[0]),
                lambda_max_err=float(top.residuals[0]),
                lambda_min=float(bottom.eigenvalues[0]),
                lambda_min_err=float(bottom.residuals[0]),
            )
        )
        if i in density_at:
            sd = nt.spectral_density(loss, params, key=k3, num_probes=c.probes, num_steps=c.lanczos_steps)
            densities[density_at[i]] = dict(step=steps_done, grid=sd.grid, density=sd.density)
        if i < c.checkpoints:
            params = nt.gd_trajectory(net.apply, params, X, y, eta=c.eta, steps=chunk, record_every=0).params
            steps_done += chunk
        bar.update(1)
    for r in records:
        r["nonconvexity_ratio"] = abs(r["lambda_min"] / r["lambda_max"])
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    return dict(records=records, densities=densities, parameters=n_params)


def critical_points(c: HessianConfig, bar) -> dict:
    import jax
    from scipy.stats import spearmanr

    import ntk_proofs as nt
    from ntk_proofs.models.deep_linear import autoencoder_critical_losses

    Z6, _ = pca_digits(200, 6, c.seed)
    linear_loss = lambda p: nt.deep_linear_loss(p, Z6, Z6) / Z6.shape[0]  # noqa: E731  Baldi & Hornik's (1/n) form
    Z8, y8 = pca_digits(100, 8, c.seed)
    Z8 = nt.normalize_rows(Z8)
    net = nt.MLP((8, 4, 1), activation="tanh", weight_var=1.0, bias_var=1.0)
    tanh_loss = nt.gd.squared_error(net.apply, Z8, y8)
    out = {}
    for name, loss, make in (
        (
            "deep linear autoencoder 6-3-6",
            linear_loss,
            lambda k, s: nt.DeepLinear(
                s * jax.random.normal(k, (3, 6)), s * jax.random.normal(jax.random.fold_in(k, 1), (6, 3))
            ),
        ),
        ("tanh MLP 8-4-1", tanh_loss, None),
    ):
        points = []
        for i in range(c.starts):
            k = jax.random.fold_in(jax.random.PRNGKey(c.seed), 1000 + i)
            if make is not None:
                start = make(k, [1e-2, 0.3, 1.0][i % 3])
            else:  # Dauphin et al.: start from points along GD trajectories of different lengths
                start = net.init(k)
                trained = [0, 30, 300, 3000][i % 4]
                if trained:
                    start = nt.gd_trajectory(
                        net.apply, start, Z8, y8, eta=0.01 / Z8.shape[0], steps=trained, record_every=0
                    ).params
            cp = nt.find_critical_point(loss, start, steps=300, rtol=1e-4 if make is None else 1e-6)
            points.append(dict(loss=cp.loss, index=cp.index, grad_norm=cp.grad_norm))
            bar.update(1)
        ok = [p for p in points if p["grad_norm"] < 1e-8]
        rho = spearmanr([p["loss"] for p in ok], [p["index"] for p in ok]) if len(ok) > 2 else None
        out[name] = dict(
            points=points,
            converged=len(ok),
            spearman=None if rho is None else float(rho.statistic),
            p_value=None if rho is None else float(rho.pvalue),
        )
    out["deep linear autoencoder 6-3-6"]["closed_form_losses"] = autoencoder_critical_losses(Z6, 3).tolist()
    return out


def saddle_escape(c: HessianConfig, bar) -> dict:
    import jax
    import jax.numpy as jnp

    import ntk_proofs as nt

    X = jax.random.normal(jax.random.PRNGKey(c.seed), (40, 2), dtype=jnp.result_type(float))
    Y = (X @ jnp.array([1.5, -0.7], X.dtype))[:, None]
    loss = lambda p: nt.deep_linear_loss(p, X, Y) / X.shape[0]  # noqa: E731
    zero = nt.DeepLinear(jnp.zeros((3, 2), X.dtype), jnp.zeros((1, 3), X.dtype))
    spectrum = nt.hessian_spectrum(loss, zero)
    k1, k2 = jax.random.split(jax.random.PRNGKey(c.seed + 7))
    start = nt.DeepLinear(1e-4 * jax.random.normal(k1, (3, 2), X.dtype), 1e-4 * jax.random.normal(k2, (1, 3), X.dtype))
    runs = {}
    settings = {
        "gd": dict(eta=0.05),
        "perturbed_gd": dict(eta=0.05, noise_radius=1e-2, grad_threshold=1e-2),
        "saddle_free_newton": dict(eta=0.5),
    }
    for method, kw in settings.items():
        r = nt.escape_saddle(
            loss, start, method=method, steps=c.escape_steps, key=jax.random.PRNGKey(c.seed + 3), record_every=2, **kw
        )
        below = np.flatnonzero(r.loss < 0.5 * r.loss[0])
        runs[method] = dict(
            loss=r.loss,
            lambda_min=r.records,
            recorded=r.record_steps,
            escape_step=int(below[0]) if below.size else None,
            settings=kw,
        )
        bar.update(1)
    return dict(saddle_spectrum=spectrum, start_loss=float(loss(start)), runs=runs)


def dense_agreement(c: HessianConfig) -> dict:
    """Lanczos, Hutchinson and SLQ against dense jax.hessian + eigh on a small MLP (float64 needs --x64)."""
    import jax

    import ntk_proofs as nt
    from ntk_proofs.curvature import slq_moment

    Z, y = pca_digits(60, 8, c.seed)
    net = nt.MLP((8, 16, 16, 1), activation="tanh", bias_var=0.1)
    params = net.init(jax.random.PRNGKey(c.seed + 3))
    loss = nt.gd.squared_error(net.apply, Z, y)
    ev = np.linalg.eigvalsh(np.asarray(nt.dense_hessian(loss, params), np.float64))
    top = nt.top_eigenvalues(loss, params, 3, key=jax.random.PRNGKey(1))
    bottom = nt.bottom_eigenvalues(loss, params, 3, key=jax.random.PRNGKey(2))
    trace = nt.hutchinson_trace(loss, params, key=jax.random.PRNGKey(3), samples=400)
    sd = nt.spectral_density(loss, params, key=jax.random.PRNGKey(4), num_probes=20, num_steps=80)
    return dict(
        parameters=int(ev.size),
        dtype=str(np.asarray(top.eigenvalues).dtype),
        top_dense=ev[::-1][:3],
        top_lanczos=top.eigenvalues,
        top_residual=top.residuals,
        bottom_dense=ev[:3],
        bottom_lanczos=bottom.eigenvalues,
        bottom_residual=bottom.residuals,
        trace_dense=float(ev.sum()),
        trace_hutchinson=float(trace.estimate),
        trace_stderr=float(trace.stderr),
        moment1_dense=float(ev.mean()),
        moment1_slq=slq_moment(sd, 1),
        moment2_dense=float((ev**2).mean()),
        moment2_slq=slq_moment(sd, 2),
    )


def claims(summary: dict, command: str) -> list:
    """Lanczos extremes within their Ritz error bars of dense eigh; Hutchinson within 3 standard errors; the saddle
    escape order (Dauphin et al. 2014); loss and index of critical points correlated (Fisher-z interval)."""
    import math

    from ntk_proofs.claims import Estimate, bound_claim, claim  # here: ntk_proofs imports JAX; --help must not pay

    a = summary["agreement"]
    error = abs(a["top_dense"][0] - a["top_lanczos"][0])
    rows = [
        bound_claim(
            "Parlett (1998), Thm 4.5.1",
            "Lanczos lambda_max within its Ritz residual of dense eigh: |error| / (residual + 1e-12)",
            error / (a["top_residual"][0] + 1e-12),
            command,
            measured=f"|error| {error:.2g}, residual {a['top_residual'][0]:.2g}",
        ),
        claim(
            "Hutchinson (1989)",
            "trace estimate equals the dense trace within 3 standard errors (margin e = 3 SE)",
            a["trace_hutchinson"],
            "equals",
            a["trace_dense"],
            command,
            margin=3 * a["trace_stderr"],
        ),
    ]
    steps = {k: r["escape_step"] for k, r in summary["escape"]["runs"].items()}
    if None not in steps.values():
        worst = max(steps["saddle_free_newton"] / steps["perturbed_gd"], steps["perturbed_gd"] / steps["gd"])
    else:
        worst = float("inf")
    rows.append(
        bound_claim(
            "Dauphin et al. (2014), Sec. 5",
            "saddle-free Newton escapes first, then perturbed GD, then GD: worst of SFN/PGD, PGD/GD (1 start)",
            worst,
            command,
            measured=", ".join(f"{k} {v}" for k, v in steps.items()),
        )
    )
    for model, v in summary["critical_points"].items():
        if v["spearman"] is not None and v["converged"] > 3:
            z, se = math.atanh(min(v["spearman"], 1 - 1e-12)), 1.06 / math.sqrt(v["converged"] - 3)
            rows.append(
                claim(
                    "Dauphin et al. (2014), Fig. 1",
                    f"{model}: loss and index of critical points correlate (Spearman, {v['converged']} points)",
                    Estimate(v["spearman"], math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)),
                    "at_least",
                    0.0,
                    command,
                )
            )
    return rows


def print_summary(summary: dict) -> None:
    """The tables this experiment prints."""

    a, crit, escape, training = (summary[k] for k in ("agreement", "critical_points", "escape", "training"))
    print(f"\nMatrix-free vs dense eigh, tanh MLP with {a['parameters']} parameters ({a['dtype']}):")
    print(
        format_table(
            ["quantity", "dense", "matrix-free", "error bar"],
            [
                ["lambda_max", a["top_dense"][0], float(a["top_lanczos"][0]), float(a["top_residual"][0])],
                ["lambda_min", a["bottom_dense"][0], float(a["bottom_lanczos"][0]), float(a["bottom_residual"][0])],
                ["trace", a["trace_dense"], a["trace_hutchinson"], a["trace_stderr"]],
                ["mean eigenvalue (SLQ)", a["moment1_dense"], a["moment1_slq"], "-"],
                ["mean squared eigenvalue (SLQ)", a["moment2_dense"], a["moment2_slq"], "-"],
            ],
        )
    )
    print("\nCritical points (Levenberg-Marquardt on ||grad L||^2; converged = ||grad|| < 1e-8):")
    print(
        format_table(
            ["model", "starts", "converged", "Spearman(loss, index)", "p-value"],
            [[k, len(v["points"]), v["converged"], v["spearman"], v["p_value"]] for k, v in crit.items()],
        )
    )
    s = escape["saddle_spectrum"]
    print(
        "\nSaddle of the deep linear net at W = 0: Hessian eigenvalues "
        f"from {s[0]:.4g} to {s[-1]:.4g} (a certified saddle)."
    )
    print(
        format_table(
            ["method", "steps to halve the loss", "final loss", "final lambda_min"],
            [
                [m, r["escape_step"], float(r["loss"][-1]), float(r["lambda_min"][-1])]
                for m, r in escape["runs"].items()
            ],
        )
    )
    rec = training["records"]
    print(
        f"\nDigits MLP ({training['parameters']} parameters): |lambda_min/lambda_max| from "
        f"{rec[0]['nonconvexity_ratio']:.3g} at init to {rec[-1]['nonconvexity_ratio']:.3g} "
        f"after {rec[-1]['step']} steps"
    )


def main(argv=None) -> dict:
    c = parse_args(argv)
    set_precision(c.x64)
    from experiments.plotting.hessian import plot_hessian

    with progress(total=c.checkpoints + 1 + 2 * c.starts + 3, desc="hessian", unit="task") as bar:
        training = spectra_along_training(c, bar)
        crit = critical_points(c, bar)
        escape = saddle_escape(c, bar)
    agreement = dense_agreement(c)
    summary = dict(
        experiment=NAME,
        paper="Dauphin et al. (NeurIPS 2014); Ghorbani, Krishnan & Xiao (ICML 2019); Li et al. (NeurIPS 2018)",
        config=dataclasses.asdict(c),
        training=training,
        critical_points=crit,
        escape=escape,
        agreement=agreement,
    )

    print_summary(summary)
    return finish(summary, plot_hessian, c.out, NAME)


if __name__ == "__main__":
    run_main(main)
