"""Jacot et al. (2018), Lee et al. (2019): wide networks train like their linearization.

    python -m experiments.linearization                          # depth-3 ReLU MLP, NTK parameterization
    python -m experiments.linearization --model du               # the Du et al. two-layer net (W trained)
    python -m experiments.linearization --parameterization standard

For each width and each of ``--seeds`` initializations: train the network and its first-order Taylor expansion
around init with the same GD, measure how far their outputs on held-out points ever get apart, how much the
empirical NTK moves, and compare both with the closed-form dynamics of the linear model.
Writes <out>/linearization.{png,pdf,json}; finished runs are kept in <out>/linearization_runs/ for resuming.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import (
    Common,
    format_table,
    init_key,
    option,
    parse_config,
    run_main,
    set_precision,
    step_flag_problem,
)
from experiments.cluster import run_units
from experiments.store import Fit, UnitStore, finish, from_jsonable

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "linearization"
QUICK = dict(depth=2, widths=(8, 32, 128), seeds=1, n_train=12, n_test=6, steps=4, kernel_points=4)
SEEDS = 3  # default initializations per width: enough for both fits to reach a CI half-width <= 0.1


@dataclass(frozen=True)
class LinearizationConfig(Common):
    model: str = option(
        "mlp",
        "'mlp': ReLU MLP with --depth hidden layers (all parameters trained); 'du': the Du et al. two-layer "
        "net, first layer trained, signs a fixed",
        choices=["mlp", "du"],
    )
    depth: int = option(3, "hidden layers of the MLP")
    parameterization: str = option(
        "ntk", "MLP parameterization (the Du net is NTK-parameterized by construction)", choices=["ntk", "standard"]
    )
    widths: tuple[int, ...] = option((16, 32, 64, 128, 256, 512, 1024, 2048), "hidden widths")
    seeds: int = option(
        SEEDS,
        "independent initializations per width (same data); the fits run over every (width, initialization) pair",
    )
    weight_var: float = option(2.0, "sigma_w^2 of the MLP (2 = He init)")
    bias_var: float = option(0.1, "sigma_b^2 of the MLP")
    n_train: int = option(64, "training points (bundled digits)")
    n_test: int = option(64, "held-out points where outputs are compared")
    steps: int = option(200, "GD steps")
    eta: str = option("auto", "step: a number or 'auto' = 1 / lambda_max of each width's empirical NTK at init")
    kernel_points: int = option(
        32, "training points on which the kernel change ||Theta_T - Theta_0|| / ||Theta_0|| is measured"
    )


class Data(NamedTuple):
    """The digits every width trains on.

    Attributes:
      X: training inputs, (n_train, d).
      y: training labels in {-1, +1} (odd vs even), (n_train,).
      X_test: held-out inputs where the outputs are compared, (n_test, d).
      k_init: PRNG key of the initializations (folded with the width m and the seed index, ``init_key``).
    """

    X: Any
    y: Any
    X_test: Any
    k_init: Any


class WidthRun(NamedTuple):
    """One unit: the network at width m from one initialization, its linearization and the closed-form linear
    dynamics, trained by one GD.

    Attributes:
      m: hidden width.
      parameters: number of trained parameters.
      eta: the GD step size (dimensionless; 1 / lambda_max of the empirical NTK at init under ``--eta auto``).
      loss_net: the network's training loss 0.5 ||f(X) - y||^2 for k = 0 .. steps, (steps + 1,).
      loss_lin: the same for the linearized network, (steps + 1,).
      loss_closed: the same for the closed form y + (I - eta Theta_0)^k (u_0 - y), (steps + 1,).
      gap_net_lin: RMS over test points of |f_k - f_lin,k|, for k = 0 .. steps, (steps + 1,).
      gap_net_closed: RMS over test points of |f_k - closed form_k|, (steps + 1,).
      gap_lin_closed: RMS over test points of |f_lin,k - closed form_k|, (steps + 1,).
      max_gap_net_lin: max_k of ``gap_net_lin``.
      kernel_change: ||Theta_T - Theta_0||_F / ||Theta_0||_F of the empirical NTK on ``kernel_points`` training
        points (dimensionless).
      final_test_net: the network's outputs on the test points after the last step, (n_test,).
      final_test_closed: the closed form's test outputs after the last step, (n_test,).
      seed: index of the initialization, 0 .. ``--seeds`` - 1 (its key is ``init_key(k_init, m, seed)``).
    """

    m: int
    parameters: int
    eta: float
    loss_net: list[float]
    loss_lin: list[float]
    loss_closed: list[float]
    gap_net_lin: list[float]
    gap_net_closed: list[float]
    gap_lin_closed: list[float]
    max_gap_net_lin: float
    kernel_change: float
    final_test_net: list[float]
    final_test_closed: list[float]
    seed: int = 0


class Fits(NamedTuple):
    """Log-log fits against m over every (width, seed) run, a width entering once per seed (theory: a slope of at
    most -1/2 for both).

    Attributes:
      max_gap_net_lin: the fit of ``WidthRun.max_gap_net_lin``.
      kernel_change: the fit of ``WidthRun.kernel_change``.
    """

    max_gap_net_lin: Fit
    kernel_change: Fit


class LinearizationSummary(NamedTuple):
    """Everything linearization.json holds: what the printout, the claims and the figure are made from.

    Attributes:
      experiment: "linearization".
      paper: the papers whose results are checked.
      config: the run's flags.
      model: the model family, in words.
      runs: one run per (width, seed): widths of ``--widths`` in increasing order, and within a width the seeds
        0 .. ``--seeds`` - 1 in order.
      fits: the log-log fits of the output gap and of the kernel change against m.
      reused_units: how many units were read back from the resume store.
      versions: the versions of Python, JAX and the numerical stack (``experiments.store.versions``).
      git_commit: the commit of the code that made the result (None outside git).
      git_dirty: whether that code had uncommitted changes (None outside git).
    """

    experiment: str
    paper: str
    config: LinearizationConfig
    model: str
    runs: list[WidthRun]
    fits: Fits
    reused_units: int
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = LinearizationSummary  # the record <out>/linearization.json loads into (``experiments.all``)


def parse_args(argv: list[str] | None = None) -> LinearizationConfig:
    return parse_config(
        LinearizationConfig,
        argv,
        prog="python -m experiments.linearization",
        description="Train networks of growing width and their linearizations with the same GD on digits (odd vs "
        "even): output gap and kernel change vs width (theory: m^-1/2), closed-form linear dynamics.",
        presets=dict(quick=QUICK),
        sort=("widths",),
        validate=_problems,
        resumable=True,
    )


def _problems(c: LinearizationConfig) -> str | None:
    """The first usage error in a config, or None."""
    if min(c.widths) < 1 or c.seeds < 1 or c.depth < 1 or c.steps < 1 or c.n_train < 2 or c.n_test < 1:
        return "--widths, --seeds, --depth, --steps, --n-test must be >= 1 and --n-train >= 2."
    if not 1 <= c.kernel_points <= c.n_train:
        return "--kernel-points must lie in [1, n_train]."
    return step_flag_problem(c.eta, ("auto",))


def make_model(c: LinearizationConfig, d: int, m: int, key):
    """(f, params0, description) for the chosen model family at width m."""
    import ntk_proofs as nt  # here, not at the top: importing ntk_proofs imports JAX, which --help must not pay

    if c.model == "du":
        p0 = nt.init_params(key, m, d)
        a = p0.a
        return (lambda W, x: nt.predict(nt.Params(W, a), x)), p0.W, "Du et al. two-layer ReLU net (W trained)"
    net = nt.MLP(
        (d,) + (m,) * c.depth + (1,), parameterization=c.parameterization, weight_var=c.weight_var, bias_var=c.bias_var
    )
    return net.apply, net.init(key), f"ReLU MLP, depth {c.depth}, {c.parameterization} parameterization"


def run_width(c: LinearizationConfig, data: Data, m: int, seed: int = 0) -> WidthRun:
    """Train the network at width m from initialization ``seed``, its linearization and the closed form with the
    same GD; compare them."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them
    import jax.numpy as jnp

    import ntk_proofs as nt

    Xtr, ytr, Xte = data.X, data.y, data.X_test
    f, params0, _ = make_model(c, Xtr.shape[1], m, init_key(data.k_init, m, seed))
    batch = 16
    ntk0 = nt.empirical_ntk(f, params0, Xtr, batch_size=batch)
    ntk0_test = nt.empirical_ntk(f, params0, Xte, Xtr, batch_size=batch)
    eta = nt.gd.half_stable_step(ntk0) if c.eta == "auto" else float(c.eta)
    f_lin = nt.linearize(f, params0)
    net = nt.gd_trajectory(f, params0, Xtr, ytr, eta=eta, steps=c.steps, X_eval=Xte)
    lin = nt.gd_trajectory(f_lin, params0, Xtr, ytr, eta=eta, steps=c.steps, X_eval=Xte)
    closed = nt.linear_dynamics(
        ntk0, ytr, f(params0, Xtr), eta, c.steps, ntk_test_train=ntk0_test, u0_test=f(params0, Xte)
    )
    closed_loss = 0.5 * jnp.sum((closed.train - ytr[None, :]) ** 2, axis=1)
    rms = lambda a, b: np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=1))  # noqa: E731
    sub = Xtr[: c.kernel_points]
    k0 = nt.empirical_ntk(f, params0, sub, batch_size=batch)
    kT = nt.empirical_ntk(f, net.params, sub, batch_size=batch)
    return WidthRun(
        m=m,
        parameters=int(sum(np.size(leaf) for leaf in jax.tree.leaves(params0))),
        eta=eta,
        loss_net=net.loss,
        loss_lin=lin.loss,
        loss_closed=closed_loss,
        gap_net_lin=rms(net.records, lin.records),
        gap_net_closed=rms(net.records, closed.test),
        gap_lin_closed=rms(lin.records, closed.test),
        max_gap_net_lin=float(np.max(rms(net.records, lin.records))),
        kernel_change=float(jnp.linalg.norm(kT - k0) / jnp.linalg.norm(k0)),
        final_test_net=net.records[-1],
        final_test_closed=closed.test[-1],
        seed=seed,
    )


# the O(m^-1/2) rates of Lee et al. (2019), Thm 2.1: the fitted slope may sit up to 0.05 above -1/2 from the
# next-order term at the widths of the sweep
RATE_MARGIN = 0.05


def sweep_size(runs: list[WidthRun]) -> str:
    """How many widths and seeds the runs cover, in words, e.g. "8 widths x 2 seeds"."""
    return f"{len({r.m for r in runs})} widths x {len({r.seed for r in runs})} seeds"


def claims(summary: LinearizationSummary, command: str) -> list[Claim]:
    """Lee et al. (2019), Thm 2.1: the network stays within O(m^-1/2) of its linearization, and its kernel moves
    O(m^-1/2)."""
    from ntk_proofs.claims import exponent_claim  # here: importing ntk_proofs imports JAX, which --help must not pay

    paper = "Lee et al. (2019), Thm 2.1"
    where = "outside: a finite step (Thm 2.1 holds for eta below a critical step, and for gradient flow)"
    size = sweep_size(summary.runs)
    return [
        exponent_claim(
            paper,
            f"max_k rms |f - f_lin| on test points = O(m^-1/2) ({size})",
            summary.fits.max_gap_net_lin,
            -0.5,
            command,
            test="at_most",
            margin=RATE_MARGIN,
            hypotheses=where,
        ),
        exponent_claim(
            paper,
            f"kernel change ||Theta_T - Theta_0|| / ||Theta_0|| = O(m^-1/2) ({size})",
            summary.fits.kernel_change,
            -0.5,
            command,
            test="at_most",
            margin=RATE_MARGIN,
            hypotheses=where,
        ),
    ]


def print_summary(summary: LinearizationSummary) -> None:
    """The tables this experiment prints."""
    c = summary.config
    print(f"\nLinearization on digits (odd vs even), {summary.model}, n_train={c.n_train}, {c.steps} GD steps")
    rows = [
        [
            r.m,
            r.seed,
            r.parameters,
            r.eta,
            r.loss_net[-1],
            r.loss_lin[-1],
            r.max_gap_net_lin,
            r.kernel_change,
            float(np.max(r.gap_lin_closed)),
        ]
        for r in summary.runs
    ]
    print(
        format_table(
            [
                "m",
                "seed",
                "params",
                "eta",
                "L_net(K)",
                "L_lin(K)",
                "max_k rms|f-f_lin|",
                "|dTheta|/|Theta0|",
                "max rms|f_lin-closed|",
            ],
            rows,
        )
    )
    fits = summary.fits
    for f, label in ((fits.max_gap_net_lin, "max_k rms |f - f_lin| (test)"), (fits.kernel_change, "kernel change")):
        print(
            f"fitted slope of {label} vs m: {f.slope:.3f} (95% CI [{f.ci_low:.3f}, {f.ci_high:.3f}]; theory: -0.5; "
            f"{sweep_size(summary.runs)})"
        )


def main(argv: list[str] | None = None) -> LinearizationSummary:
    c = parse_args(argv)
    set_precision(c.x64)
    import jax  # JAX, ntk_proofs and matplotlib here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt
    from experiments.plotting.linearization import plot_linearization

    k_split, k_init = jax.random.split(jax.random.PRNGKey(c.seed))
    try:
        Xtr, ytr, Xte, _ = nt.digits_split(k_split, c.n_train, c.n_test)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    data = Data(X=Xtr, y=ytr, X_test=Xte, k_init=k_init)
    base = {k: v for k, v in dataclasses.asdict(c).items() if k not in ("widths", "seeds", "out", "resume", "quick")}
    base["x64"] = bool(jax.config.jax_enable_x64)
    # seed 0 is named and matched as the single run per width was before --seeds: its files are reused
    jobs = [
        (
            f"m{m}" if s == 0 else f"m{m}_s{s}",
            dict(base, m=m) if s == 0 else dict(base, m=m, init_seed=s),
            lambda m=m, s=s: run_width(c, data, m, s),
        )
        for m in c.widths
        for s in range(c.seeds)
    ]
    saved, reused = run_units(UnitStore(Path(c.out) / f"{NAME}_runs"), jobs, desc="linearization", resume=c.resume)
    runs = [from_jsonable(WidthRun, r) for r in saved]
    widths = [r.m for r in runs]
    fits = Fits(
        max_gap_net_lin=Fit(*nt.loglog_slope(widths, [r.max_gap_net_lin for r in runs])),
        kernel_change=Fit(*nt.loglog_slope(widths, [r.kernel_change for r in runs])),
    )
    _, _, description = make_model(c, Xtr.shape[1], 2, jax.random.PRNGKey(0))
    summary = LinearizationSummary(
        experiment=NAME,
        paper="Jacot, Gabriel & Hongler (NeurIPS 2018), Neural Tangent Kernel; Lee et al. (NeurIPS 2019), Wide "
        "Neural Networks of Any Depth Evolve as Linear Models Under Gradient Descent",
        config=c,
        model=description,
        runs=runs,
        fits=fits,
        reused_units=reused,
    )
    print_summary(summary)
    return finish(summary, plot_linearization, c.out, NAME)


if __name__ == "__main__":
    run_main(main)
