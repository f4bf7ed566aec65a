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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import Common, format_table, option, parse_config, progress, run_main, set_precision
from experiments.store import finish

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "hessian"
QUICK = dict(width=8, n_train=40, steps=20, checkpoints=2, probes=2, lanczos_steps=10, starts=3, escape_steps=10)
AUTOENCODER = "deep linear autoencoder 6-3-6"  # the model of the critical-point study with closed-form losses
TANH_MLP = "tanh MLP 8-4-1"


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


class CurvatureRecord(NamedTuple):
    """The extreme Hessian eigenvalues of the digits MLP at one checkpoint of training (Lanczos, with Ritz bars).

    Attributes:
      step: GD steps done.
      loss: the training loss 0.5 ||f(X) - y||^2.
      lambda_max: the largest Hessian eigenvalue.
      lambda_max_err: its Ritz residual ||H v - theta v||.
      lambda_min: the smallest Hessian eigenvalue.
      lambda_min_err: its Ritz residual.
      nonconvexity_ratio: |lambda_min / lambda_max| (Li et al. 2018; dimensionless).
    """

    step: int
    loss: float
    lambda_max: float
    lambda_max_err: float
    lambda_min: float
    lambda_min_err: float
    nonconvexity_ratio: float


class Density(NamedTuple):
    """The Hessian's spectral density at one checkpoint (stochastic Lanczos quadrature).

    Attributes:
      step: GD steps done.
      grid: eigenvalues lambda where the density is evaluated.
      density: the density at them (integrates to 1 over lambda).
    """

    step: int
    grid: list[float]
    density: list[float]


class Training(NamedTuple):
    """Curvature of a ReLU MLP on digits along GD.

    Attributes:
      records: one per checkpoint, at init and after each of ``--checkpoints`` chunks of steps.
      densities: the spectral density at "init", "mid-training" and "end" (fewer when checkpoints coincide).
      parameters: number of parameters of the MLP.
    """

    records: list[CurvatureRecord]
    densities: dict[str, Density]
    parameters: int


class CriticalPointRecord(NamedTuple):
    """Where one Levenberg-Marquardt search on ||grad L||^2 stopped.

    Attributes:
      loss: the loss there.
      index: the fraction of negative Hessian eigenvalues (0 at a minimum).
      grad_norm: ||grad L|| there (converged: below 1e-8).
    """

    loss: float
    index: float
    grad_norm: float


class _SearchFields(NamedTuple):
    """The fields of ``CriticalPointSearch``."""

    points: list[CriticalPointRecord]
    converged: int
    spearman: float | None
    p_value: float | None
    closed_form_losses: list[float] | None = None


class CriticalPointSearch(_SearchFields):
    """Critical points of one model from ``--starts`` starts, and how their loss and index correlate.

    Attributes:
      points: one per start.
      converged: how many points have ||grad L|| < 1e-8.
      spearman: Spearman's correlation of loss and index over the converged points (None below 3 of them).
      p_value: its p-value (None below 3 converged points).
      closed_form_losses: the deep linear autoencoder only (else None, and absent from the JSON): the losses of its
        critical points in closed form (Baldi & Hornik 1989).
    """

    __slots__ = ()

    def _asdict(self) -> dict[str, Any]:
        """The fields by name, without ``closed_form_losses`` where the model has none: its JSON's keys."""
        fields = super()._asdict()
        if self.closed_form_losses is None:
            del fields["closed_form_losses"]
        return fields


class EscapeRun(NamedTuple):
    """One method's escape from near the saddle W = 0 of a deep linear net.

    Attributes:
      loss: the loss at every step, (escape_steps + 1,).
      lambda_min: the smallest Hessian eigenvalue (Lanczos) at the recorded steps.
      recorded: the steps where lambda_min was recorded (every second one).
      escape_step: the first step whose loss is below half the starting loss (None if none is).
      settings: the method's keyword arguments to ``ntk_proofs.escape_saddle`` (step size eta, and perturbed GD's
        noise radius and gradient threshold).
    """

    loss: list[float]
    lambda_min: list[float]
    recorded: list[int]
    escape_step: int | None
    settings: dict[str, float]


class EscapeRuns(NamedTuple):
    """The three methods, each from the same start (the ``method`` of ``ntk_proofs.escape_saddle``).

    Attributes:
      gd: plain gradient descent.
      perturbed_gd: perturbed GD (Jin et al. 2017).
      saddle_free_newton: saddle-free Newton (Dauphin et al. 2014).
    """

    gd: EscapeRun
    perturbed_gd: EscapeRun
    saddle_free_newton: EscapeRun


class Escape(NamedTuple):
    """The saddle-escape study.

    Attributes:
      saddle_spectrum: the Hessian eigenvalues at the saddle W = 0, ascending (both signs: a saddle).
      start_loss: the loss at the start, 1e-4 away from the saddle.
      runs: one run per method.
    """

    saddle_spectrum: list[float]
    start_loss: float
    runs: EscapeRuns


class Agreement(NamedTuple):
    """The matrix-free routines against dense jax.hessian + eigh on a small tanh MLP.

    Attributes:
      parameters: number of parameters (the Hessian is parameters x parameters).
      dtype: the dtype of the Lanczos eigenvalues.
      top_dense: the 3 largest eigenvalues by dense eigh, descending.
      top_lanczos: the same by Lanczos.
      top_residual: their Ritz residuals ||H v - theta v||.
      bottom_dense: the 3 smallest eigenvalues by dense eigh, ascending.
      bottom_lanczos: the same by Lanczos.
      bottom_residual: their Ritz residuals.
      trace_dense: the trace of the dense Hessian.
      trace_hutchinson: Hutchinson's estimate of it (400 probes).
      trace_stderr: the estimate's standard error.
      moment1_dense: the mean eigenvalue, dense.
      moment1_slq: the same by stochastic Lanczos quadrature.
      moment2_dense: the mean squared eigenvalue, dense.
      moment2_slq: the same by stochastic Lanczos quadrature.
    """

    parameters: int
    dtype: str
    top_dense: list[float]
    top_lanczos: list[float]
    top_residual: list[float]
    bottom_dense: list[float]
    bottom_lanczos: list[float]
    bottom_residual: list[float]
    trace_dense: float
    trace_hutchinson: float
    trace_stderr: float
    moment1_dense: float
    moment1_slq: float
    moment2_dense: float
    moment2_slq: float


class HessianSummary(NamedTuple):
    """Everything hessian.json holds: what the printout, the claims and the figure are made from.

    Attributes:
      experiment: "hessian".
      paper: the papers whose results are checked.
      config: the run's flags.
      training: the curvature of the digits MLP along training.
      critical_points: the critical-point search per model, by name (``AUTOENCODER``, ``TANH_MLP``).
      escape: the saddle-escape study.
      agreement: the matrix-free routines against dense eigh.
      versions: the versions of Python, JAX and the numerical stack (``experiments.store.versions``).
      git_commit: the commit of the code that made the result (None outside git).
      git_dirty: whether that code had uncommitted changes (None outside git).
    """

    experiment: str
    paper: str
    config: HessianConfig
    training: Training
    critical_points: dict[str, CriticalPointSearch]
    escape: Escape
    agreement: Agreement
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = HessianSummary  # the record <out>/hessian.json loads into (``experiments.all``)


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
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them
    import jax.numpy as jnp

    import ntk_proofs as nt

    X, y = nt.digits_split(jax.random.PRNGKey(seed), n, 0)[:2]
    X = np.asarray(X, np.float64)
    _, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    return jnp.asarray(X @ Vt[:dims].T), jnp.asarray(y[:n])


def spectra_along_training(c: HessianConfig, bar) -> Training:
    """GD on a ReLU MLP on digits, with its extreme Hessian eigenvalues at every checkpoint and three densities."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

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
        lambda_max, lambda_min = float(top.eigenvalues[0]), float(bottom.eigenvalues[0])
        records.append(
            CurvatureRecord(
                step=steps_done,
                loss=float(loss(params)),
                lambda_max=lambda_max,
                lambda_max_err=float(top.residuals[0]),
                lambda_min=lambda_min,
                lambda_min_err=float(bottom.residuals[0]),
                nonconvexity_ratio=abs(lambda_min / lambda_max),
            )
        )
        if i in density_at:
            sd = nt.spectral_density(loss, params, key=k3, num_probes=c.probes, num_steps=c.lanczos_steps)
            densities[density_at[i]] = Density(step=steps_done, grid=sd.grid, density=sd.density)
        if i < c.checkpoints:
            params = nt.gd_trajectory(net.apply, params, X, y, eta=c.eta, steps=chunk, record_every=0).params
            steps_done += chunk
        bar.update(1)
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    return Training(records=records, densities=densities, parameters=n_params)


def critical_points(c: HessianConfig, bar) -> dict[str, CriticalPointSearch]:
    """Levenberg-Marquardt from ``--starts`` starts on the deep linear autoencoder and on a tanh MLP, by model."""
    import jax  # JAX, SciPy and ntk_proofs here, not at the top: --help must not pay for importing them
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
            AUTOENCODER,
            linear_loss,
            lambda k, s: nt.DeepLinear(
                s * jax.random.normal(k, (3, 6)), s * jax.random.normal(jax.random.fold_in(k, 1), (6, 3))
            ),
        ),
        (TANH_MLP, tanh_loss, None),
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
            points.append(CriticalPointRecord(loss=cp.loss, index=cp.index, grad_norm=cp.grad_norm))
            bar.update(1)
        ok = [p for p in points if p.grad_norm < 1e-8]
        rho = spearmanr([p.loss for p in ok], [p.index for p in ok]) if len(ok) > 2 else None
        out[name] = CriticalPointSearch(
            points=points,
            converged=len(ok),
            spearman=None if rho is None else float(rho.statistic),
            p_value=None if rho is None else float(rho.pvalue),
        )
    out[AUTOENCODER] = out[AUTOENCODER]._replace(closed_form_losses=autoencoder_critical_losses(Z6, 3).tolist())
    return out


def saddle_escape(c: HessianConfig, bar) -> Escape:
    """GD, perturbed GD and saddle-free Newton from 1e-4 away from the saddle W = 0 of a deep linear net."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them
    import jax.numpy as jnp

    import ntk_proofs as nt

    X = jax.random.normal(jax.random.PRNGKey(c.seed), (40, 2), dtype=jnp.result_type(float))
    Y = (X @ jnp.array([1.5, -0.7], X.dtype))[:, None]
    loss = lambda p: nt.deep_linear_loss(p, X, Y) / X.shape[0]  # noqa: E731
    zero = nt.DeepLinear(jnp.zeros((3, 2), X.dtype), jnp.zeros((1, 3), X.dtype))
    spectrum = nt.hessian_spectrum(loss, zero)
    k1, k2 = jax.random.split(jax.random.PRNGKey(c.seed + 7))
    start = nt.DeepLinear(1e-4 * jax.random.normal(k1, (3, 2), X.dtype), 1e-4 * jax.random.normal(k2, (1, 3), X.dtype))
    settings = {  # by the method's name in escape_saddle (a field of EscapeRuns), its keyword arguments
        "gd": dict(eta=0.05),
        "perturbed_gd": dict(eta=0.05, noise_radius=1e-2, grad_threshold=1e-2),
        "saddle_free_newton": dict(eta=0.5),
    }
    runs = {}
    for method, kw in settings.items():
        r = nt.escape_saddle(
            loss, start, method=method, steps=c.escape_steps, key=jax.random.PRNGKey(c.seed + 3), record_every=2, **kw
        )
        below = np.flatnonzero(r.loss < 0.5 * r.loss[0])
        runs[method] = EscapeRun(
            loss=r.loss,
            lambda_min=r.records,
            recorded=r.record_steps,
            escape_step=int(below[0]) if below.size else None,
            settings=kw,
        )
        bar.update(1)
    return Escape(saddle_spectrum=spectrum, start_loss=float(loss(start)), runs=EscapeRuns(**runs))


def dense_agreement(c: HessianConfig) -> Agreement:
    """Lanczos, Hutchinson and SLQ against dense jax.hessian + eigh on a small MLP (float64 needs --x64)."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

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
    return Agreement(
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


def claims(summary: HessianSummary, command: str) -> list[Claim]:
    """Lanczos extremes within their Ritz error bars of dense eigh; Hutchinson within 3 standard errors; the saddle
    escape order (Dauphin et al. 2014); loss and index of critical points correlated (Fisher-z interval)."""
    from ntk_proofs.claims import Estimate, bound_claim, claim  # here: ntk_proofs imports JAX; --help must not pay

    a = summary.agreement
    error = abs(a.top_dense[0] - a.top_lanczos[0])
    rows = [
        bound_claim(
            "Parlett (1998), Thm 4.5.1",
            "Lanczos lambda_max within its Ritz residual of dense eigh: |error| / (residual + 1e-12)",
            error / (a.top_residual[0] + 1e-12),
            command,
            measured=f"|error| {error:.2g}, residual {a.top_residual[0]:.2g}",
        ),
        claim(
            "Hutchinson (1989)",
            "trace estimate equals the dense trace within 3 standard errors (margin e = 3 SE)",
            a.trace_hutchinson,
            "equals",
            a.trace_dense,
            command,
            margin=3 * a.trace_stderr,
        ),
    ]
    runs = summary.escape.runs
    gd, pgd, sfn = runs.gd.escape_step, runs.perturbed_gd.escape_step, runs.saddle_free_newton.escape_step
    if None not in (gd, pgd, sfn):
        worst = max(sfn / pgd, pgd / gd)
    else:
        worst = float("inf")
    rows.append(
        bound_claim(
            "Dauphin et al. (2014), Sec. 5",
            "saddle-free Newton escapes first, then perturbed GD, then GD: worst of SFN/PGD, PGD/GD (1 start)",
            worst,
            command,
            measured=", ".join(f"{method} {r.escape_step}" for method, r in runs._asdict().items()),
        )
    )
    for model, v in summary.critical_points.items():
        if v.spearman is not None and v.converged > 3:
            z, se = math.atanh(min(v.spearman, 1 - 1e-12)), 1.06 / math.sqrt(v.converged - 3)
            rows.append(
                claim(
                    "Dauphin et al. (2014), Fig. 1",
                    f"{model}: loss and index of critical points correlate (Spearman, {v.converged} points)",
                    Estimate(v.spearman, math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)),
                    "at_least",
                    0.0,
                    command,
                )
            )
    return rows


def print_summary(summary: HessianSummary) -> None:
    """The tables this experiment prints."""
    a, escape, training = summary.agreement, summary.escape, summary.training
    print(f"\nMatrix-free vs dense eigh, tanh MLP with {a.parameters} parameters ({a.dtype}):")
    print(
        format_table(
            ["quantity", "dense", "matrix-free", "error bar"],
            [
                ["lambda_max", a.top_dense[0], float(a.top_lanczos[0]), float(a.top_residual[0])],
                ["lambda_min", a.bottom_dense[0], float(a.bottom_lanczos[0]), float(a.bottom_residual[0])],
                ["trace", a.trace_dense, a.trace_hutchinson, a.trace_stderr],
                ["mean eigenvalue (SLQ)", a.moment1_dense, a.moment1_slq, "-"],
                ["mean squared eigenvalue (SLQ)", a.moment2_dense, a.moment2_slq, "-"],
            ],
        )
    )
    print("\nCritical points (Levenberg-Marquardt on ||grad L||^2; converged = ||grad|| < 1e-8):")
    print(
        format_table(
            ["model", "starts", "converged", "Spearman(loss, index)", "p-value"],
            [[k, len(v.points), v.converged, v.spearman, v.p_value] for k, v in summary.critical_points.items()],
        )
    )
    s = escape.saddle_spectrum
    print(
        "\nSaddle of the deep linear net at W = 0: Hessian eigenvalues "
        f"from {s[0]:.4g} to {s[-1]:.4g} (a certified saddle)."
    )
    print(
        format_table(
            ["method", "steps to halve the loss", "final loss", "final lambda_min"],
            [[m, r.escape_step, float(r.loss[-1]), float(r.lambda_min[-1])] for m, r in escape.runs._asdict().items()],
        )
    )
    rec = training.records
    print(
        f"\nDigits MLP ({training.parameters} parameters): |lambda_min/lambda_max| from "
        f"{rec[0].nonconvexity_ratio:.3g} at init to {rec[-1].nonconvexity_ratio:.3g} "
        f"after {rec[-1].step} steps"
    )


def main(argv=None) -> HessianSummary:
    c = parse_args(argv)
    set_precision(c.x64)
    from experiments.plotting.hessian import plot_hessian  # here: matplotlib is heavy; --help must not pay

    with progress(total=c.checkpoints + 1 + 2 * c.starts + 3, desc="hessian", unit="task") as bar:
        training = spectra_along_training(c, bar)
        crit = critical_points(c, bar)
        escape = saddle_escape(c, bar)
    agreement = dense_agreement(c)
    summary = HessianSummary(
        experiment=NAME,
        paper="Dauphin et al. (NeurIPS 2014); Ghorbani, Krishnan & Xiao (ICML 2019); Li et al. (NeurIPS 2018)",
        config=c,
        training=training,
        critical_points=crit,
        escape=escape,
        agreement=agreement,
    )
    print_summary(summary)
    return finish(summary, plot_hessian, c.out, NAME)


if __name__ == "__main__":
    run_main(main)
