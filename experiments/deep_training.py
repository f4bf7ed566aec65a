"""Training deep networks: a survey of studies beyond two layers (Sun 2020, "Optimization for Deep Learning: An
Overview", Secs. 4-6).

    python -m experiments.deep_training --study init    # signal propagation vs initialization scale, depth 50
    python -m experiments.deep_training --study skip    # gradient norms and trainability with and without skips
    python -m experiments.deep_training --study norm    # batch / layer normalization: gradients, sharpness, stable step
    python -m experiments.deep_training --study optim   # optax optimizers and schedules; GD rate on a quadratic
    python -m experiments.deep_training --study eos     # sharpness vs 2 / eta during full-batch GD (edge of stability)
    python -m experiments.deep_training --study lottery # iterative magnitude pruning with rewinding vs random re-init
    python -m experiments.deep_training --study all

Every loss is the suite's squared error 0.5 ||f(X) - y||^2 (summed over the n points), so plain-GD steps are
the mean-loss steps of the literature divided by n. Each study writes <out>/deep_training_<study>.{png,pdf,json}
and prints its table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import Common, format_table, option, parse_config, progress, run_main, set_precision
from experiments.store import finish

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

STUDIES = ("init", "skip", "norm", "optim", "eos", "lottery")
NAME = "deep_training"
QUICK = dict(
    depth=6,
    width=32,
    seeds=1,
    skip_depths=(2, 6),
    skip_steps=5,
    eos_steps=20,
    eos_every=10,
    optim_steps=5,
    lottery_rounds=1,
    lottery_seeds=1,
    norm_points=100,
    stable_steps=20,
    stable_iterations=4,
)


@dataclass(frozen=True)
class DynamicsConfig(Common):
    study: str = option("all", "which study to run", choices=STUDIES + ("all",))
    depth: int = option(50, "hidden layers for the init study")
    width: int = option(256, "hidden width for the init study")
    seeds: int = option(3, "random inits per configuration (init study)")
    skip_depths: tuple[int, ...] = option((4, 16, 48), "depths for the skip study")
    skip_steps: int = option(300, "Adam steps per depth in the skip study")
    skip_weight_var: float = option(
        1.0, "s_w of the skip study (1 = LeCun: the plain ReLU stack's gradients vanish as 0.5^depth)"
    )
    eos_eta: float = option(
        0.01, "GD step of the edge-of-stability study (summed loss; 2.0 on the mean over 200 points)"
    )
    eos_steps: int = option(1500, "GD steps of the edge-of-stability study")
    eos_every: int = option(25, "steps between sharpness measurements")
    optim_steps: int = option(300, "steps per optimizer run (and norm study)")
    norm_points: int = option(300, "digits training points of the norm study")
    stable_steps: int = option(100, "GD steps of each run in the norm study's bisection for the largest stable step")
    stable_iterations: int = option(10, "bisection steps for the largest stable step (norm study)")
    lottery_rounds: int = option(5, "pruning rounds (50%% of the rest each)")
    lottery_seeds: int = option(3, "seeds of the lottery-ticket study")


class InitRow(NamedTuple):
    """One activation and init scale of the init study: per hidden layer, geometric means over the seeds.

    Attributes:
      label: the activation and init, for tables and legends.
      activation: "relu" or "tanh".
      weight_var: s_w, the weights' variance times the fan-in.
      forward: the pre-activation variance E[(h^l)^2] per hidden layer.
      backward_sq: the squared backward norm ||df/dh^l||^2 per hidden layer (RMS over inputs).
      predicted: the variance recursion's prediction of ``forward``.
      forward_growth: the measured forward growth factor per layer (dimensionless).
      predicted_growth: the recursion's growth factor per layer.
      backward_growth: the measured backward growth factor per layer.
      predicted_backward_growth: 2 / s_w for ReLU (None for tanh).
    """

    label: str
    activation: str
    weight_var: float
    forward: list[float]
    backward_sq: list[float]
    predicted: list[float]
    forward_growth: float
    predicted_growth: float
    backward_growth: float
    predicted_backward_growth: float | None


class InitResult(NamedTuple):
    """Signal propagation at init (``study_init``).

    Attributes:
      rows: one row per activation and init scale.
      depth: hidden layers.
      width: hidden width.
      seeds: random inits per row.
    """

    rows: list[InitRow]
    depth: int
    width: int
    seeds: int


class SkipRow(NamedTuple):
    """One depth, with or without skips, of the skip study.

    Attributes:
      depth: hidden layers.
      skip: whether the residual connections are on.
      backward_norm: ||df/dh^l|| at init per hidden layer.
      grad_ratio_first_last: its first over its last hidden layer (dimensionless).
      loss: the training loss 0.5 ||f(X) - y||^2 at every Adam step.
      final_relative_loss: the last loss over the first.
    """

    depth: int
    skip: bool
    backward_norm: list[float]
    grad_ratio_first_last: float
    loss: list[float | None]
    final_relative_loss: float | None


class SkipResult(NamedTuple):
    """Gradient norms and trainability with and without skips (``study_skip``).

    Attributes:
      rows: one row per (depth, skip).
      steps: Adam steps per run.
    """

    rows: list[SkipRow]
    steps: int


class NormRow(NamedTuple):
    """One normalization of the norm study.

    Attributes:
      normalization: "none", "batch" or "layer".
      steps: the steps of the sharpness measurements.
      sharpness: lambda_max of the loss's Hessian at those steps.
      grad_norm: ||grad L|| at every GD step.
      loss: the training loss at every step.
      largest_stable_step: the largest constant GD step found stable by bisection.
      two_over_sharpness0: 2 / the sharpness at init (the step of the quadratic picture).
    """

    normalization: str
    steps: list[int]
    sharpness: list[float]
    grad_norm: list[float]
    loss: list[float | None]
    largest_stable_step: float
    two_over_sharpness0: float


class NormResult(NamedTuple):
    """Batch and layer normalization against none (``study_norm``).

    Attributes:
      rows: one row per normalization.
      eta: the GD step (0.05 on the mean loss, divided by n).
    """

    rows: list[NormRow]
    eta: float


class QuadraticRate(NamedTuple):
    """GD with eta = 2 / (L + mu) on a quadratic of condition number kappa.

    Attributes:
      kappa: the condition number.
      predicted: the closed-form rate (kappa - 1) / (kappa + 1).
      measured: the fitted per-step contraction of ||x_k||.
      steps_used: how many late steps entered the fit.
    """

    kappa: float
    predicted: float
    measured: float
    steps_used: int


class OptimizerRun(NamedTuple):
    """One optimizer on one task.

    Attributes:
      optimizer: its name and settings.
      loss: the training loss at every step.
      seconds: wall-clock time of the compiled run (s).
      final: the last loss.
    """

    optimizer: str
    loss: list[float | None]
    seconds: float
    final: float | None


class OptimResult(NamedTuple):
    """optax optimizers and schedules, and GD's rate on quadratics (``study_optim``).

    Attributes:
      quadratic: one rate per condition number.
      runs: each task's optimizer runs, by task.
      steps: steps per run.
    """

    quadratic: list[QuadraticRate]
    runs: dict[str, list[OptimizerRun]]
    steps: int


class EosResult(NamedTuple):
    """Sharpness along full-batch GD against 2 / eta (``study_eos``).

    Attributes:
      eta: the GD step.
      steps: the steps of the sharpness measurements.
      sharpness: lambda_max of the loss's Hessian at those steps (Lanczos).
      loss: the training loss at every step.
      first_edge: the first measured step where the sharpness reached 2 / eta (-1 if none).
      loss_increases: on how many steps the loss rose.
      first_increase: the first such step (-1 if none).
      descent_violations: on how many steps the descent lemma failed.
      first_violation: the first such step (-1 if none).
      final_loss: the last loss.
      initial_loss: the first loss.
    """

    eta: float
    steps: list[int]
    sharpness: list[float]
    loss: list[float]
    first_edge: int
    loss_increases: int
    first_increase: int
    descent_violations: int
    first_violation: int
    final_loss: float
    initial_loss: float


class LotteryLevel(NamedTuple):
    """One sparsity of the lottery study, over the seeds.

    Attributes:
      sparsity: the fraction of weights pruned.
      ticket_mean: the winning ticket's mean test accuracy (fraction correct).
      ticket_sd: its standard deviation over the seeds.
      random_mean: the same mask from a fresh init: mean test accuracy.
      random_sd: its standard deviation.
    """

    sparsity: float
    ticket_mean: float
    ticket_sd: float
    random_mean: float
    random_sd: float


class LotteryPoint(NamedTuple):
    """One sparsity on one seed.

    Attributes:
      sparsity: the fraction of weights pruned.
      ticket: the winning ticket's test accuracy (fraction correct).
      random: the same mask's, from a fresh init.
    """

    sparsity: float
    ticket: float
    random: float


class LotteryResult(NamedTuple):
    """Iterative magnitude pruning with rewinding against random re-init (``study_lottery``).

    Attributes:
      levels: one level per sparsity, over the seeds.
      per_seed: per seed, one point per sparsity.
    """

    levels: list[LotteryLevel]
    per_seed: list[list[LotteryPoint]]


def study_summary(study: str, result: type) -> type:
    """The summary record of one study: what ``--study <study>`` saves as <out>/deep_training_<study>.json, prints
    and plots, and what its claims read. The six studies' summaries differ only in their result's type.

    Attributes (of the record):
      experiment: "deep_training/<study>".
      config: the run's flags.
      result: the study's result (``result``).
      versions: the versions of Python, the numerical stack and the JAX backend (``store.versions``).
      git_commit: the commit of the code that made the summary (None outside git).
      git_dirty: whether that tree had uncommitted changes.
    """
    fields = [
        ("experiment", str),
        ("config", DynamicsConfig),
        ("result", result),
        ("versions", dict[str, Any] | None),
        ("git_commit", str | None),
        ("git_dirty", bool | None),
    ]
    record = NamedTuple(f"{study.capitalize()}Summary", fields)
    record.__new__.__defaults__ = (None, None, None)  # provenance, which ``store.finish`` adds
    record._field_defaults = dict(versions=None, git_commit=None, git_dirty=None)
    record.__module__ = __name__
    record.__doc__ = f"The summary of ``--study {study}`` (``study_summary``): experiment, config, result, provenance."
    return record


InitSummary = study_summary("init", InitResult)
SkipSummary = study_summary("skip", SkipResult)
NormSummary = study_summary("norm", NormResult)
OptimSummary = study_summary("optim", OptimResult)
EosSummary = study_summary("eos", EosResult)
LotterySummary = study_summary("lottery", LotteryResult)


class DeepTrainingSummaries(NamedTuple):
    """The summary of each study a run made (None: not run, or no <out>/deep_training_<study>.json).

    Attributes:
      init: signal propagation at init.
      skip: skip connections.
      norm: normalization.
      optim: optimizers and schedules.
      eos: the edge of stability.
      lottery: lottery tickets.
    """

    init: InitSummary | None = None
    skip: SkipSummary | None = None
    norm: NormSummary | None = None
    optim: OptimSummary | None = None
    eos: EosSummary | None = None
    lottery: LotterySummary | None = None


SUMMARY = DeepTrainingSummaries  # what the <out>/deep_training_<study>.json load into, together (``experiments.all``)


def parse_args(argv=None) -> DynamicsConfig:
    return parse_config(
        DynamicsConfig,
        argv,
        prog="python -m experiments.deep_training",
        description=__doc__.split("\n\n")[0],
        presets=dict(quick=QUICK),
        validate=_problems,
    )


def _problems(c: DynamicsConfig) -> str | None:
    """The first usage error in a config, or None."""
    sizes = (
        c.depth,
        c.width,
        c.seeds,
        c.skip_steps,
        c.eos_steps,
        c.eos_every,
        min(c.skip_depths),
        c.norm_points,
        c.stable_steps,
        c.stable_iterations,
    )
    if min(sizes) < 1 or c.eos_eta <= 0:
        return "sizes, counts and --eos-eta must be positive."
    return "--norm-points must be at most 600 (the digits training split)." if c.norm_points > 600 else None


def study_init(c: DynamicsConfig) -> InitResult:
    """Per-layer forward variance and backward gradient norm at init, for several init scales, vs the recursion."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    d = 32
    X = nt.unit_sphere(jax.random.PRNGKey(c.seed), 64, d)
    configs = [
        ("ReLU, LeCun (s_w = 1)", "relu", 1.0),
        ("ReLU, He (s_w = 2)", "relu", 2.0),
        ("ReLU, 2x He (s_w = 4)", "relu", 4.0),
        ("tanh, Xavier (s_w = 1)", "tanh", 1.0),
    ]
    rows = []
    for label, act, wv in configs:
        net = nt.MLP((d,) + (c.width,) * c.depth + (1,), activation=act, weight_var=wv)
        fwd, bwd = [], []
        for s in range(c.seeds):
            st = nt.layer_statistics(
                net, net.init(jax.random.PRNGKey(c.seed + 1000 + s)), X, key=jax.random.PRNGKey(c.seed + s)
            )
            fwd.append(st.forward_variance[:-1])
            bwd.append(st.backward_norm[:-1] ** 2)
        fwd, bwd = np.exp(np.mean(np.log(fwd), 0)), np.exp(np.mean(np.log(bwd), 0))
        pred = nt.predicted_variances(c.depth - 1, 1.0 / d, weight_var=wv, activation=act)
        rows.append(
            InitRow(
                label=label,
                activation=act,
                weight_var=wv,
                forward=fwd,
                backward_sq=bwd,
                predicted=pred,
                forward_growth=nt.growth_factor(fwd),
                predicted_growth=nt.growth_factor(pred),
                backward_growth=nt.growth_factor(bwd),
                predicted_backward_growth=(2 / wv if act == "relu" else None),
            )
        )
    return InitResult(rows=rows, depth=c.depth, width=c.width, seeds=c.seeds)


def study_skip(c: DynamicsConfig) -> SkipResult:
    """Gradient norms per layer at init and training loss after Adam, vs depth, with and without skips."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX
    import optax

    import ntk_proofs as nt

    X, y = nt.digits_split(jax.random.PRNGKey(c.seed), 200, 0)[:2]
    rows = []
    for depth in c.skip_depths:
        for skip in (False, True):
            net = nt.MLP(
                (X.shape[1],) + (64,) * depth + (1,),
                skip=skip,
                residual_scale=1.0 / np.sqrt(depth),
                weight_var=c.skip_weight_var,
            )
            params = net.init(jax.random.PRNGKey(c.seed + depth))
            st = nt.layer_statistics(net, params, X, key=jax.random.PRNGKey(c.seed))
            traj = nt.gd_trajectory(
                net.apply, params, X, y, steps=c.skip_steps, optimizer=optax.adam(1e-3), record_every=0
            )
            loss0 = float(traj.loss[0])
            rows.append(
                SkipRow(
                    depth=depth,
                    skip=skip,
                    backward_norm=st.backward_norm[:-1],
                    grad_ratio_first_last=float(st.backward_norm[0] / st.backward_norm[-2]),
                    loss=traj.loss,
                    final_relative_loss=float(traj.loss[-1]) / loss0,
                )
            )
    return SkipResult(rows=rows, steps=c.skip_steps)


def study_eos(c: DynamicsConfig) -> EosResult:
    """Sharpness along full-batch GD vs 2 / eta (Cohen et al. 2021), and descent-lemma violations."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    X, y = nt.digits_split(jax.random.PRNGKey(c.seed), 200, 0)[:2]
    net = nt.MLP((X.shape[1], 64, 64, 1), activation="tanh", weight_var=1.0, bias_var=0.1)
    loss = nt.gd.squared_error(net.apply, X, y)
    run = nt.sharpness_trajectory(
        loss,
        net.init(jax.random.PRNGKey(c.seed)),
        eta=c.eos_eta,
        steps=c.eos_steps,
        record_every=c.eos_every,
        key=jax.random.PRNGKey(c.seed + 1),
    )
    sharpness = np.asarray(run.records)
    per_step = np.repeat(sharpness[:-1], np.diff(run.record_steps))
    violations = nt.descent_lemma_violations(run.loss, run.grad_norm_sq, c.eos_eta, per_step)
    increases = np.flatnonzero(np.diff(run.loss) > 0)
    return EosResult(
        eta=c.eos_eta,
        steps=run.record_steps,
        sharpness=sharpness,
        loss=run.loss,
        first_edge=nt.edge_of_stability_step(run, c.eos_eta),
        loss_increases=int(increases.size),
        first_increase=int(increases[0]) if increases.size else -1,
        descent_violations=int(violations.size),
        first_violation=int(violations[0]) if violations.size else -1,
        final_loss=float(run.loss[-1]),
        initial_loss=float(run.loss[0]),
    )


def _digits_split(c):
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    return nt.digits_split(jax.random.PRNGKey(c.seed), 600, 500)


def study_norm(c: DynamicsConfig) -> NormResult:
    """No normalization vs batch vs layer normalization: gradient norm and sharpness along GD, largest stable step."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    import ntk_proofs as nt

    X, y, _, _ = _digits_split(c)
    X, y = X[: c.norm_points], y[: c.norm_points]
    eta = 0.05 / X.shape[0]  # 0.05 on the mean loss
    rows = []
    for norm in ("none", "batch", "layer"):
        net = nt.MLP((X.shape[1],) + (64,) * 6 + (1,), normalization=norm)
        p0 = net.init(jax.random.PRNGKey(c.seed))
        loss = nt.gd.squared_error(net.apply, X, y)
        run = nt.sharpness_trajectory(
            loss,
            p0,
            eta=eta,
            steps=c.optim_steps,
            record_every=max(1, c.optim_steps // 10),
            key=jax.random.PRNGKey(c.seed + 1),
        )
        sharpness = np.asarray(run.records)

        def gd_losses(step, loss=loss, p0=p0):  # the same loss object: one compilation for the whole bisection
            return nt.gd.run(loss, p0, steps=c.stable_steps, eta=step, on_divergence="report").loss

        stable = nt.largest_stable_step(gd_losses, 1e-3 / X.shape[0], 1e3 / X.shape[0], iterations=c.stable_iterations)
        rows.append(
            NormRow(
                normalization=norm,
                steps=run.record_steps,
                sharpness=sharpness,
                grad_norm=np.sqrt(run.grad_norm_sq),
                loss=run.loss,
                largest_stable_step=stable,
                two_over_sharpness0=2.0 / float(sharpness[0]),
            )
        )
    return NormResult(rows=rows, eta=eta)


def study_optim(c: DynamicsConfig) -> OptimResult:
    """optax optimizers and schedules on the Du et al. net and a digits MLP; GD on quadratics vs (kappa-1)/(kappa+1)."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX
    import jax.numpy as jnp
    import optax

    import ntk_proofs as nt

    quadratic = []
    for kappa in (10.0, 100.0, 1000.0):
        A = jnp.diag(jnp.geomspace(1.0, kappa, 20))
        x = jax.random.normal(jax.random.PRNGKey(c.seed), (20,))
        eta, norms = 2.0 / (1.0 + kappa), []
        for _ in range(400):
            norms.append(float(jnp.linalg.norm(x)))
            x = x - eta * (A @ x)
        norms = np.asarray(norms)
        resolved = norms[norms > 1e-25 * norms[0]]  # stop before float32 underflow
        window = resolved[len(resolved) // 4 :]  # after the fast middle components have died out
        quadratic.append(
            QuadraticRate(
                kappa=kappa,
                predicted=nt.quadratic_gd_rate(kappa),
                measured=nt.measured_rate(window),
                steps_used=int(window.size),
            )
        )
    steps = c.optim_steps
    warm = lambda lr: optax.join_schedules([optax.linear_schedule(0.0, lr, 50), optax.constant_schedule(lr)], [50])  # noqa: E731
    cyclic = lambda lr: lambda k: lr * (0.1 + 0.9 * jnp.abs(1 - 2 * ((k / 50.0) % 1.0)))  # noqa: E731  triangular, period 100

    def setups(n):  # plain-GD and momentum steps of the mean loss, divided by n for the summed loss
        return [
            ("GD", optax.sgd(0.5 / n), None),
            ("SGD (batch 32)", optax.sgd(0.5 / n), 32),
            ("heavy ball (0.9)", optax.sgd(0.05 / n, momentum=0.9), None),
            ("Nesterov (0.9)", optax.sgd(0.05 / n, momentum=0.9, nesterov=True), None),
            ("Adam", optax.adam(1e-3), None),
            ("AdaGrad", optax.adagrad(0.05), None),
            ("Adam + warm-up", optax.adam(warm(1e-3)), None),
            ("Adam + cyclic", optax.adam(cyclic(1e-3)), None),
            ("heavy ball + cyclic", optax.sgd(cyclic(0.05 / n), momentum=0.9), None),
        ]

    Xd, yd, _, _ = _digits_split(c)
    mlp = nt.MLP((Xd.shape[1], 64, 64, 1), bias_var=0.1)
    Xs = nt.unit_sphere(jax.random.PRNGKey(c.seed), 100, 100)
    ys = nt.gaussian_labels(jax.random.PRNGKey(c.seed + 1), 100)
    du0 = nt.init_params(jax.random.PRNGKey(c.seed + 2), 1024, 100)
    du = lambda W, x: nt.predict(nt.Params(W, du0.a), x)  # noqa: E731
    tasks = {
        "Du et al. net (n = d = 100, m = 1024)": (du, du0.W, Xs, ys),
        "digits MLP 64-64-64-1": (mlp.apply, mlp.init(jax.random.PRNGKey(c.seed)), Xd, yd),
    }
    runs = {}
    for task, (f, p0, X, y) in tasks.items():
        runs[task] = []
        for name, opt, batch in setups(X.shape[0]):

            def go(f=f, p0=p0, X=X, y=y, opt=opt, batch=batch):
                return nt.gd_trajectory(
                    f,
                    p0,
                    X,
                    y,
                    optimizer=opt,
                    steps=steps,
                    batch_size=batch,
                    key=jax.random.PRNGKey(c.seed),
                    record_every=0,
                ).loss.block_until_ready()

            go()
            t = time.perf_counter()
            loss = go()
            seconds = time.perf_counter() - t
            runs[task].append(OptimizerRun(optimizer=name, loss=loss, seconds=seconds, final=float(loss[-1])))
    return OptimResult(quadratic=quadratic, runs=runs, steps=steps)


def study_lottery(c: DynamicsConfig) -> LotteryResult:
    """Frankle & Carbin (2019): winning tickets (rewound to init) vs the same masks from a fresh init, over seeds."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX
    import jax.numpy as jnp
    import optax

    import ntk_proofs as nt

    Xtr, ytr, Xte, yte = _digits_split(c)
    net = nt.MLP((Xtr.shape[1], 64, 64, 1), bias_var=0.1)
    accuracy = lambda p: float(jnp.mean(jnp.sign(net.apply(p, Xte)) == yte))  # noqa: E731
    per_seed = []
    for s in range(c.lottery_seeds):
        tickets = nt.lottery_ticket(
            net.apply,
            net.init,
            accuracy,
            Xtr,
            ytr,
            key=jax.random.PRNGKey(c.seed + s),
            rounds=c.lottery_rounds,
            fraction=0.5,
            optimizer=optax.adam(1e-3),
            steps=300,
        )
        per_seed.append(
            [LotteryPoint(sparsity=t.sparsity, ticket=t.rewound_accuracy, random=t.random_accuracy) for t in tickets]
        )
    levels = [
        LotteryLevel(
            sparsity=per_seed[0][i].sparsity,
            ticket_mean=float(np.mean([s[i].ticket for s in per_seed])),
            ticket_sd=float(np.std([s[i].ticket for s in per_seed])),
            random_mean=float(np.mean([s[i].random for s in per_seed])),
            random_sd=float(np.std([s[i].random for s in per_seed])),
        )
        for i in range(len(per_seed[0]))
    ]
    return LotteryResult(levels=levels, per_seed=per_seed)


# the tolerances of the closed forms the deep-training studies compare against: He's variance ratio from a finite
# sample of widths 5% (its standard error at the sampled width is about 1%); Nesterov's rate bound 1% on the
# per-step decrease 1 - rate (the measured rate is a fit over the late steps)
HE_MARGIN = 0.05
NESTEROV_MARGIN = 0.01


def claims(results: DeepTrainingSummaries, command: str) -> list[Claim]:
    """He init keeps the forward variance; the edge of stability is reached; GD on a quadratic contracts at the
    closed-form rate; the winning ticket is at least as accurate as the same mask from a fresh init."""
    from ntk_proofs.claims import bound_claim, claim, difference  # here: ntk_proofs imports JAX; --help must not pay

    rows = []
    if results.init is not None:
        he = next(r for r in results.init.result.rows if r.weight_var == 2.0 and r.activation == "relu")
        rows.append(
            claim(
                "He et al. (2015)",
                "ReLU with s_w = 2: forward variance growth per layer / predicted",
                he.forward_growth / he.predicted_growth,
                "equals",
                1.0,
                command,
                margin=HE_MARGIN,
                measured=f"{he.forward_growth:.3f} / {he.predicted_growth:.3f}",
            )
        )
    if results.optim is not None:
        for q in results.optim.result.quadratic:
            rows.append(
                bound_claim(
                    "Nesterov (2004), Thm 2.1.15",
                    f"GD on a quadratic contracts at least at the closed-form rate, kappa = {q.kappa:g}: "
                    "(1 - bound) / (1 - measured)",
                    (1 - q.predicted) / (1 - q.measured),
                    command,
                    margin=NESTEROV_MARGIN,
                    measured=f"{q.measured:.5f} vs {q.predicted:.5f}",
                )
            )
    if results.eos is not None:
        r = results.eos.result
        rows.append(
            bound_claim(
                "Cohen et al. (2021)",
                f"sharpness reaches 2/eta = {2 / r.eta:.4g} during GD: (2/eta) / max sharpness",
                (2 / r.eta) / max(r.sharpness),
                command,
                measured=f"max sharpness {max(r.sharpness):.4g}",
            )
        )
    if results.lottery is not None:
        res = results.lottery.result
        last = res.levels[-1]
        at = [next(p for p in seed if p.sparsity == last.sparsity) for seed in res.per_seed]
        est = difference([p.random for p in at], [p.ticket for p in at])
        rows.append(
            claim(
                "Frankle & Carbin (2019)",
                f"winning ticket minus random re-init accuracy at sparsity {last.sparsity:.2f} "
                f"({len(at)} seeds, Welch CI)",
                est,
                "at_least",
                0.0,
                command,
                measured=f"{est.value:.3f} [{est.ci_low:.3f}, {est.ci_high:.3f}] "
                f"({last.ticket_mean:.3f} vs {last.random_mean:.3f})",
            )
        )
    return rows


def print_init(summary: InitSummary) -> None:
    c, result = summary.config, summary.result
    print(f"\ninit: depth {c.depth}, width {c.width}, {c.seeds} seeds; per-layer growth factors (hidden layers)")
    print(
        format_table(
            [
                "init",
                "forward measured",
                "forward predicted",
                "backward measured (norm^2)",
                "backward predicted (2/s_w)",
            ],
            [
                [
                    r.label,
                    r.forward_growth,
                    r.predicted_growth,
                    r.backward_growth,
                    r.predicted_backward_growth if r.predicted_backward_growth else "-",
                ]
                for r in result.rows
            ],
        )
    )


def print_skip(summary: SkipSummary) -> None:
    c, result = summary.config, summary.result
    print(f"\nskip: gradient norm first/last hidden layer at init, loss after {c.skip_steps} Adam steps / initial")
    print(
        format_table(
            ["depth", "skip", "grad norm layer 1 / layer L", "final / initial loss"],
            [[r.depth, r.skip, r.grad_ratio_first_last, r.final_relative_loss] for r in result.rows],
        )
    )


def print_norm(summary: NormSummary) -> None:
    result = summary.result
    print(f"\nnorm: depth-6 ReLU MLP on digits, GD eta = {result.eta:.4g} (0.05 on the mean loss)")
    print(
        format_table(
            [
                "normalization",
                "sharpness start",
                "sharpness end",
                "grad norm start",
                "grad norm end",
                "largest stable step (bisection)",
                "2 / sharpness at init",
            ],
            [
                [
                    r.normalization,
                    float(r.sharpness[0]),
                    float(r.sharpness[-1]),
                    float(r.grad_norm[0]),
                    float(r.grad_norm[-1]),
                    r.largest_stable_step,
                    r.two_over_sharpness0,
                ]
                for r in result.rows
            ],
        )
    )


def print_optim(summary: OptimSummary) -> None:
    c, result = summary.config, summary.result
    print("\noptim: GD with eta = 2/(L+mu) on quadratics")
    print(
        format_table(
            ["kappa", "predicted rate (k-1)/(k+1)", "measured rate"],
            [[q.kappa, q.predicted, q.measured] for q in result.quadratic],
        )
    )
    for task, runs in result.runs.items():
        print(f"  {task}, {c.optim_steps} steps:")
        print(format_table(["optimizer", "final loss", "seconds"], [[r.optimizer, r.final, r.seconds] for r in runs]))


def print_eos(summary: EosSummary) -> None:
    r = summary.result
    print(
        f"\neos: GD with eta = {r.eta} (2/eta = {2 / r.eta:.4g}); "
        f"sharpness from {r.sharpness[0]:.4g} to "
        f"{r.sharpness[-1]:.4g}; reaches 2/eta at step {r.first_edge}; loss rose on "
        f"{r.loss_increases} steps (first at {r.first_increase}); descent lemma failed on "
        f"{r.descent_violations} steps (first at {r.first_violation}); loss {r.initial_loss:.4g} -> "
        f"{r.final_loss:.4g}"
    )


def print_lottery(summary: LotterySummary) -> None:
    c, result = summary.config, summary.result
    print(f"\nlottery: test accuracy (digits odd vs even), mean +- sd over {c.lottery_seeds} seeds")
    print(
        format_table(
            ["sparsity", "winning ticket (rewound)", "same mask, random init"],
            [
                [
                    lv.sparsity,
                    f"{lv.ticket_mean:.3f} +- {lv.ticket_sd:.3f}",
                    f"{lv.random_mean:.3f} +- {lv.random_sd:.3f}",
                ]
                for lv in result.levels
            ],
        )
    )


# each study: its runner, its summary record and its printed table
RUNS = {
    "init": (study_init, InitSummary, print_init),
    "skip": (study_skip, SkipSummary, print_skip),
    "norm": (study_norm, NormSummary, print_norm),
    "optim": (study_optim, OptimSummary, print_optim),
    "eos": (study_eos, EosSummary, print_eos),
    "lottery": (study_lottery, LotterySummary, print_lottery),
}


def main(argv=None) -> DeepTrainingSummaries:
    c = parse_args(argv)
    set_precision(c.x64)
    from experiments.plotting.deep_training import PLOTS  # here: matplotlib is heavy and --help skips it

    studies = STUDIES if c.study == "all" else (c.study,)
    results = {}
    for name in progress(studies, desc=NAME, unit="study"):
        run, record, report = RUNS[name]
        summary = record(experiment=f"{NAME}/{name}", config=c, result=run(c))
        report(summary)
        results[name] = finish(summary, PLOTS[name], c.out, f"{NAME}_{name}")
    return DeepTrainingSummaries(**results)


if __name__ == "__main__":
    run_main(main)
