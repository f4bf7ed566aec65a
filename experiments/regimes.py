"""From gradient flow to the catapult: where the lazy picture of Du et al. (2019) holds, and where it stops.

    python -m experiments.regimes            # default: about 3 minutes on 2 CPU cores
    python -m experiments.regimes --quick    # seconds (the test preset)

Four studies of the two-layer family u = alpha m^-gamma sum_r a_r sigma(w_r . x) (ntk_proofs.models.two_layer_family):

1. **Gradient flow** (Du et al. 2019, Theorem 3.2): the flow dW/dt = -grad L is integrated with diffrax (adaptive
   Tsit5); L(t) <= exp(-lambda_0 t) L(0), lambda_min(H(t)) >= lambda_0 / 2 and ||w_r(t) - w_r(0)|| <= R' are checked
   along it, and GD's distance to the flow, max_k ||u_GD(k) - u_flow(k eta)||, is fitted as eta^p (theory p = 1).
2. **Step-size phase diagram** (Lewkowycz et al. 2020): width m against x = eta lambda_max(Theta(0)) / 2; every run is
   lazy, catapult, divergent or unresolved (ntk_proofs.regimes.phases); the lazy/catapult and divergence boundaries
   of the widest net are bisected per initialization, with CIs, beside the predictions x = 1 and x = 2.
3. **Catapult trajectories**: the loss and eta lambda_max(Theta(k)) / 2 against k for step sizes on both sides.
4. **Lazy vs rich** (Chizat, Oyallon & Bach 2019): the weight drift, the kernel change and the test accuracy on the
   bundled digits (odd vs even) against alpha and against m, for the NTK and mean-field scalings and for ReLU and
   erf, with the exponents fitted beside the predicted ones.

Writes <out>/regimes.{png,pdf,json}; one JSON per finished unit in <out>/regimes_runs/ lets a run resume, and the
units split across processes with --coordinator/--distributed like the other sweeps.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from experiments.cli import Cluster, format_table, option, parse_config, run_main, set_precision
from experiments.cluster import cluster_problem, run_sweep, start_processes
from experiments.store import unit_config

NAME = "regimes"
ACTIVATIONS = ("relu", "erf")


@dataclass(frozen=True)
class RegimesConfig(Cluster):
    n: int = option(16, "training points on the unit sphere (flow and phase studies)")
    d: int = option(16, "input dimension of those points")
    flow_m: int = option(1024, "width of the gradient-flow study")
    flow_time: float = option(30.0, "time span over which Theorem 3.2's conclusions are checked along the flow")
    flow_span: float = option(4.0, "time span of the GD-to-flow comparison")
    flow_etas: tuple[float, ...] = option(
        (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4), "GD step sizes compared with the flow (whole multiples of the smallest)"
    )
    flow_seeds: int = option(2, "initializations of the GD-to-flow comparison")
    flow_rtol: float = option(1e-6, "relative tolerance of the flow solver (atol = rtol / 100)")
    phase_widths: tuple[int, ...] = option((64, 256, 1024, 4096), "widths of the phase diagram")
    phase_ratios: int = option(13, "step-size ratios x = eta lambda_max(Theta(0)) / 2 per width, log-spaced")
    ratio_min: float = option(0.5, "smallest ratio x of the phase diagram")
    ratio_max: float = option(8.0, "largest ratio x of the phase diagram")
    phase_seeds: int = option(4, "initializations per cell of the phase diagram")
    phase_steps: int = option(300, "GD steps of each phase-diagram run")
    fixed_a: bool = option(
        False,
        "keep the output layer a fixed in the phase study (the Du et al. net); by default "
        "both layers are trained, Lewkowycz et al.'s setting (the flow and lazy studies "
        "keep a fixed as Du et al.)",
    )
    boundary_seeds: int = option(8, "initializations whose boundaries are bisected, at every phase width")
    boundary_iterations: int = option(10, "bisection steps in log x")
    catapult_ratios: tuple[float, ...] = option((0.8, 1.2, 1.6, 2.0, 2.4), "ratios x of the catapult trajectories")
    lazy_alphas: tuple[float, ...] = option((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), "output scales alpha")
    lazy_widths: tuple[int, ...] = option((64, 128, 256, 512, 1024, 2048), "widths of the lazy-vs-rich study")
    lazy_width: int = option(512, "the width at which alpha varies")
    alpha_fit_min: float = option(8.0, "the alpha-exponents are fitted on alpha >= this (the lazy end)")
    lazy_seeds: int = option(3, "initializations per point of the lazy-vs-rich study")
    lazy_steps: int = option(300, "GD steps of each lazy-vs-rich run, at eta = 1 / lambda_max(Theta(0))")
    n_train: int = option(128, "digits training points of the lazy-vs-rich study")
    n_test: int = option(400, "digits test points")
    activations: tuple[str, ...] = option(ACTIVATIONS, "activations of the lazy-vs-rich study", choices=ACTIVATIONS)


QUICK = dict(
    n=8,
    d=8,
    flow_m=128,
    flow_time=10.0,
    flow_span=1.0,
    flow_etas=(0.05, 0.1, 0.2),
    flow_seeds=1,
    flow_rtol=1e-5,
    phase_widths=(64, 256),
    phase_ratios=5,
    phase_seeds=2,
    phase_steps=150,
    boundary_seeds=3,
    boundary_iterations=5,
    catapult_ratios=(0.8, 1.6),
    lazy_alphas=(1.0, 8.0, 32.0),
    lazy_widths=(64, 256),
    lazy_width=128,
    lazy_seeds=2,
    lazy_steps=100,
    n_train=48,
    n_test=100,
    activations=("erf",),
)


def parse_args(argv: list[str] | None = None) -> RegimesConfig:
    return parse_config(
        RegimesConfig,
        argv,
        prog="python -m experiments.regimes",
        description="Gradient flow (Du et al. 2019, Theorem 3.2) and GD's convergence to it, the step-size phase "
        "diagram and the catapult (Lewkowycz et al. 2020), and lazy vs rich training (Chizat et al. 2019).",
        presets=dict(quick=QUICK),
        sort=("phase_widths", "lazy_widths", "lazy_alphas", "flow_etas", "catapult_ratios"),
        validate=_problems,
        resumable=True,
    )


def _problems(c: RegimesConfig) -> str | None:
    for name in (
        "n",
        "d",
        "flow_m",
        "flow_seeds",
        "phase_ratios",
        "phase_seeds",
        "phase_steps",
        "boundary_seeds",
        "boundary_iterations",
        "lazy_width",
        "lazy_seeds",
        "lazy_steps",
        "n_train",
        "n_test",
    ):
        if getattr(c, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1; got {getattr(c, name)}."
    if c.n < 2:
        return f"--n must be at least 2; got {c.n}."
    if min(c.phase_widths) < 1 or min(c.lazy_widths) < 2:
        return "widths must be positive (lazy widths at least 2: the symmetric initialization pairs neurons)."
    if any(m % 2 for m in (*c.lazy_widths, c.lazy_width)):
        return "the lazy-vs-rich widths must be even (the symmetric initialization pairs neurons)."
    if not 0 < c.ratio_min < c.ratio_max:
        return f"need 0 < --ratio-min < --ratio-max; got {c.ratio_min} and {c.ratio_max}."
    if len(c.flow_etas) < 2 or min(c.flow_etas) <= 0:
        return "--flow-etas needs at least two positive step sizes."
    steps = np.asarray(c.flow_etas) / min(c.flow_etas)
    if (
        np.any(np.abs(steps - np.rint(steps)) > 1e-9)
        or abs(c.flow_span / min(c.flow_etas) - round(c.flow_span / min(c.flow_etas))) > 1e-9
    ):
        return "--flow-etas must be whole multiples of the smallest, which must divide --flow-span."
    if c.flow_time <= 0 or c.flow_span <= 0 or not 0 < c.flow_rtol < 1:
        return "--flow-time and --flow-span must be positive and 0 < --flow-rtol < 1."
    if min(c.lazy_alphas) <= 0 or min(c.catapult_ratios) <= 0:
        return "--lazy-alphas and --catapult-ratios must be positive."
    return cluster_problem(c)


def sphere_data(config: RegimesConfig):
    import jax

    import ntk_proofs as nt

    kx, ky = jax.random.split(jax.random.PRNGKey(config.seed))
    return nt.unit_sphere(kx, config.n, config.d), nt.gaussian_labels(ky, config.n)


def phase_family(config: RegimesConfig):
    from ntk_proofs.models.two_layer_family import TwoLayerFamily

    return TwoLayerFamily(train_a=not config.fixed_a)


def flow_unit(config: RegimesConfig) -> dict:
    """Theorem 3.2 along the flow of the Du et al. net, and GD's distance to the flow against eta."""
    import jax

    import ntk_proofs as nt
    from ntk_proofs.du2019.bounds import flow_drift_radius, flow_envelope
    from ntk_proofs.regimes.flow import flow_monitor, gd_flow_distance, gradient_flow

    X, y = sphere_data(config)
    key = jax.random.PRNGKey(config.seed + 1)
    params = [nt.init_params(jax.random.fold_in(key, s), config.flow_m, config.d) for s in range(config.flow_seeds)]
    lambda0 = nt.lambda_zero(X)
    clock = time.perf_counter()
    flow = gradient_flow(
        params[0], X, y, t_max=config.flow_time, saves=301, rtol=config.flow_rtol, atol=config.flow_rtol / 100
    )
    seconds = time.perf_counter() - clock
    monitor = flow_monitor(flow, lambda0=lambda0, n=config.n, m=config.flow_m)
    loss = np.asarray(flow.loss, np.float64)
    conv = gd_flow_distance(
        params, X, y, etas=config.flow_etas, t_max=config.flow_span, rtol=config.flow_rtol, atol=config.flow_rtol / 100
    )
    return dict(
        lambda0=lambda0,
        t=flow.t,
        loss=loss,
        envelope=flow_envelope(loss[0], lambda0, flow.t),
        lambda_min=flow.lambda_min,
        max_drift=flow.max_drift,
        drift_bound=flow_drift_radius(config.n, float(np.sqrt(2 * loss[0])), config.flow_m, lambda0),
        monitor=monitor._asdict(),
        held=monitor.held,
        solver=dict(
            method="Tsit5 (diffrax), PID step-size controller",
            rtol=flow.rtol,
            atol=flow.atol,
            accepted_steps=flow.accepted_steps,
            rejected_steps=flow.rejected_steps,
            seconds=seconds,
        ),
        etas=conv.etas,
        errors=conv.errors,
        flow_error=conv.flow_error,
        fitted=conv.fitted,
        order=conv.fit._asdict(),
    )


def phase_unit(config: RegimesConfig, m: int) -> dict:
    import jax

    from ntk_proofs.regimes.phases import phase_grid

    X, y = sphere_data(config)
    ratios = np.geomspace(config.ratio_min, config.ratio_max, config.phase_ratios)
    grid = phase_grid(
        X,
        y,
        widths=[m],
        ratios=ratios,
        seeds=config.phase_seeds,
        steps=config.phase_steps,
        key=jax.random.PRNGKey(config.seed + 2),
        family=phase_family(config),
    )
    return dict(
        m=m,
        ratios=ratios,
        regime=grid.regime[0],
        sharpness0=grid.sharpness0[0],
        peak=grid.peak[0],
        sharpness_end=grid.sharpness_end[0],
        kernel_change=grid.kernel_change[0],
    )


def boundary_unit(config: RegimesConfig, m: int) -> dict:
    import jax

    from ntk_proofs.regimes.phases import phase_boundaries

    X, y = sphere_data(config)
    b = phase_boundaries(
        X,
        y,
        m=m,
        seeds=config.boundary_seeds,
        steps=config.phase_steps,
        key=jax.random.PRNGKey(config.seed + 2),
        family=phase_family(config),
        lo=config.ratio_min,
        hi=config.ratio_max * 2,
        iterations=config.boundary_iterations,
    )
    return dict(m=m, rise=b.rise._asdict(), divergence=b.divergence._asdict(), sharpness0=b.sharpness0)


def catapult_unit(config: RegimesConfig) -> dict:
    """Loss and eta lambda_max(Theta(k)) / 2 at every step, for one initialization of the widest net."""
    import jax
    import jax.numpy as jnp

    from ntk_proofs.regimes.phases import REGIMES, classify_runs, initializations, tangent_sharpness
    from ntk_proofs.regimes.training import train_family_batched

    X, y = sphere_data(config)
    m = max(config.phase_widths)
    family = phase_family(config)
    params = initializations(jax.random.fold_in(jax.random.PRNGKey(config.seed + 2), m), m, config.d, 1)
    lam = float(tangent_sharpness(family, params, X)[0])
    ratios = np.asarray(config.catapult_ratios)
    etas = 2 * ratios / lam
    batch = jax.tree.map(lambda v: jnp.repeat(v, ratios.size, axis=0), params)
    run = train_family_batched(batch, X, y, family=family, etas=etas, steps=config.phase_steps, record_every=1)
    codes = classify_runs(run, etas, family)
    sharp = np.asarray(run.records.lambda_max, np.float64) * family.kernel_scale(m) * etas[:, None] / 2
    return dict(
        m=m,
        ratios=ratios,
        etas=etas,
        sharpness0=lam,
        loss=np.asarray(run.loss, np.float64),
        sharpness=sharp,
        kernel_change=np.asarray(run.records.kernel_change, np.float64),
        regime=[REGIMES[c] for c in codes],
    )


def lazy_unit(config: RegimesConfig, activation: str, gamma: float) -> dict:
    import jax

    import ntk_proofs as nt
    from ntk_proofs.models.two_layer_family import TwoLayerFamily
    from ntk_proofs.regimes.lazy import laziness

    Xtr, ytr, Xte, yte = nt.digits_split(jax.random.PRNGKey(config.seed), config.n_train, config.n_test)
    key = jax.random.PRNGKey(config.seed + 3)

    def point(alpha, m):
        r = laziness(
            Xtr,
            ytr,
            Xte,
            yte,
            family=TwoLayerFamily(alpha=alpha, gamma=gamma, activation=activation),
            m=m,
            seeds=config.lazy_seeds,
            steps=config.lazy_steps,
            key=key,
        )
        return r._asdict()

    return dict(
        activation=activation,
        gamma=gamma,
        by_alpha=[point(a, config.lazy_width) for a in config.lazy_alphas],
        by_width=[point(1.0, m) for m in config.lazy_widths],
    )


def lazy_fits(config: RegimesConfig, unit: dict) -> dict:
    """Log-log fits of the drift and the kernel change against alpha (alpha >= --alpha-fit-min) and against m, each
    beside the exponent ``ntk_proofs.regimes.lazy.predicted_exponent`` gives."""
    import ntk_proofs as nt
    from ntk_proofs.models.two_layer_family import TwoLayerFamily
    from ntk_proofs.regimes.lazy import predicted_exponent

    family = TwoLayerFamily(gamma=unit["gamma"], activation=unit["activation"])

    fits = {}
    for quantity in ("drift", "kernel_change"):
        alphas = np.array([p["alpha"] for p in unit["by_alpha"]])
        keep = alphas >= config.alpha_fit_min
        xa = np.repeat(alphas[keep], config.lazy_seeds)
        ya = np.concatenate([p[quantity] for p, k in zip(unit["by_alpha"], keep) if k]) if keep.any() else []
        widths = np.array([p["m"] for p in unit["by_width"]])
        xm = np.repeat(widths, config.lazy_seeds)
        ym = np.concatenate([p[quantity] for p in unit["by_width"]])
        for axis, x, yv in (("alpha", xa, ya), ("width", xm, ym)):
            fit = nt.loglog_slope(x, yv)._asdict() if len(x) >= 3 else None
            fits[f"{quantity}_vs_{axis}"] = dict(fit=fit, predicted=predicted_exponent(quantity, axis, family))
    # the typical neuron's drift against m, on the widths where the finite-width correction is small
    by_width = [p for p in unit["by_width"] if p["m"] >= TYPICAL_FIT_MIN_WIDTH and "rms_drift" in p]
    xm = np.repeat([p["m"] for p in by_width], config.lazy_seeds)
    ym = np.concatenate([p["rms_drift"] for p in by_width]) if by_width else []
    fit = nt.loglog_slope(xm, ym)._asdict() if len({*xm}) >= 2 and len(xm) >= 3 else None
    fits["rms_drift_vs_width"] = dict(fit=fit, predicted=predicted_exponent("rms_drift", "width", family))
    return fits


# the typical-neuron drift exponent is fitted on m >= 256 (claims issue, item 5)
TYPICAL_FIT_MIN_WIDTH = 256


def summarize(config: RegimesConfig, units: dict) -> dict:
    from ntk_proofs.regimes.phases import REGIMES

    phases = [units[f"phase_m{m}"] for m in config.phase_widths]
    counts = {
        REGIMES[c]: int(sum(int(np.sum(np.asarray(p["regime"]) == c)) for p in phases)) for c in range(len(REGIMES))
    }
    boundaries = [units[f"boundary_m{m}"] for m in config.phase_widths]
    boundary = boundaries[-1]  # the widest net
    lazy = {}
    for act in config.activations:
        for gamma in (0.5, 1.0):
            u = units[f"lazy_{act}_g{gamma:g}"]
            lazy[f"{act}_g{gamma:g}"] = dict(u, fits=lazy_fits(config, u))
    flow = units["flow"]
    return dict(
        experiment=NAME,
        paper="Du, Zhai, Poczos & Singh (ICLR 2019), Theorem 3.2; Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari "
        "(2020); Chizat, Oyallon & Bach (NeurIPS 2019)",
        config=dataclasses.asdict(config),
        flow=flow,
        phases=phases,
        regime_counts=counts,
        regimes=list(REGIMES),
        boundaries=boundaries,
        boundary=dict(
            boundary, predicted_rise=1.0, predicted_divergence_linear_model=2.0, reported_divergence_relu=6.0
        ),
        catapult=units["catapult"],
        lazy=lazy,
    )


def print_summary(summary: dict) -> None:

    f = summary["flow"]
    mon = f["monitor"]
    s = f["solver"]
    o = f["order"]
    print(
        f"\nGradient flow (Du et al. 2019, Thm 3.2), n = {summary['config']['n']}, m = {summary['config']['flow_m']}, "
        f"lambda_0 = {f['lambda0']:.4f}; {s['method']}, rtol {s['rtol']:g}, atol {s['atol']:g}, "
        f"{s['accepted_steps']} accepted / {s['rejected_steps']} rejected steps"
    )
    print(
        format_table(
            ["conclusion", "held", "worst ratio (<= 1 holds)"],
            [[k, v["held"], v["worst_ratio"]] for k, v in mon.items()],
        )
    )
    print(
        f"GD -> flow: max_k ||u_GD(k) - u_flow(k eta)|| ~ eta^p, p = {o['slope']:.3f} "
        f"[{o['ci_low']:.3f}, {o['ci_high']:.3f}] (theory 1); flow's own error {f['flow_error']:.2e}"
    )
    print(
        f"\nPhase boundaries (x = eta lambda_max(Theta(0)) / 2; {summary['config']['boundary_seeds']} "
        "initializations per width, mean and 95% CI); predicted: the loss rises from x = 1 (eta = 2/lambda_max), "
        "divergence from x = 2 (linear model, eta = 4/lambda_max), about 6 for ReLU nets (Lewkowycz et al.)"
    )
    print(
        format_table(
            ["width m", "loss rises at x", "95% CI", "diverges at x", "95% CI"],
            [
                [e["m"], e["rise"]["mean"], _ci(e["rise"]), e["divergence"]["mean"], _ci(e["divergence"])]
                for e in summary["boundaries"]
            ],
        )
    )
    print("runs per phase:", summary["regime_counts"])
    rows = []
    for name, e in summary["lazy"].items():
        for key, fit in e["fits"].items():
            ft = fit["fit"]
            rows.append(
                [
                    name,
                    key,
                    "n/a" if ft is None else f"{ft['slope']:.2f} [{ft['ci_low']:.2f}, {ft['ci_high']:.2f}]",
                    fit["predicted"],
                ]
            )
    print(
        "\nLazy vs rich: fitted exponents (alpha >= "
        f"{summary['config']['alpha_fit_min']:g}; widths at alpha = 1) beside the predicted ones"
    )
    print(format_table(["family", "quantity vs axis", "exponent [95% CI]", "predicted"], rows))


def _ci(e: dict) -> str:
    return "n/a" if e["ci_low"] is None else f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


# pre-registered margins of the regimes claims (never tuned on the result):
# Euler's global error is eta^1 up to O(eta^2) terms; over the step grid used, their relative size stays below 0.1
EULER_ORDER_MARGIN = 0.1
# Lewkowycz et al. give the thresholds 2/lambda_max and 4/lambda_max at infinite width; 10% allows finite m
THRESHOLD_MARGIN = 0.1
# drift ~ alpha^-1: the next term is O(alpha^-2), a relative correction 1/alpha <= 1/8 at alpha >= alpha_fit_min;
# its effect on a fitted slope over alpha in [8, 64] stays below 0.1
ALPHA_EXPONENT_MARGIN = 0.1
# the typical neuron's drift against m (m >= 256): finite-width corrections below 0.05 in the float64 replica
WIDTH_EXPONENT_MARGIN = 0.05


def claims(summary: dict, command: str) -> list:
    """Theorem 3.2 along the gradient flow; Euler's order; the Lewkowycz thresholds; Chizat's alpha^-1 and the
    typical neuron's m^-1/2 (NTK) or m^0 (mean-field) drift."""
    from ntk_proofs.claims import (  # here: importing ntk_proofs imports JAX, which --help must not pay
        Estimate,
        bound_claim,
        claim,
        exponent_claim,
    )

    rows = []
    f = summary["flow"]
    m_flow = summary["config"]["flow_m"]
    narrow = f"outside: m = {m_flow}, far below the Omega(n^6 / (lambda_0^4 delta^3)) width Thm 3.2 assumes"
    names = {
        "loss_envelope": "L(t) <= exp(-lambda_0 t) L(0)",
        "lambda_min_floor": "lambda_min(H(t)) >= lambda_0/2",
        "drift_radius": "||w_r(t) - w_r(0)|| <= R'",
    }
    for k, v in f["monitor"].items():
        rows.append(
            bound_claim(
                "Du et al. (2019), Thm 3.2",
                f"gradient flow: {names[k]}, every solver step",
                v["worst_ratio"],
                command,
                hypotheses=narrow,
            )
        )
    rows.append(
        exponent_claim(
            "Euler's method (GD) on the flow",
            "max_k ||u_GD(k) - u_flow(k eta)|| ~ eta^p",
            f["order"],
            1.0,
            command,
            margin=EULER_ORDER_MARGIN,
        )
    )
    b = summary["boundary"]
    finite = f"outside: m = {b['m']}, the thresholds are infinite-width results"
    rows.append(
        claim(
            "Lewkowycz et al. (2020)",
            f"the loss starts to rise at eta = x 2/lambda_max(Theta(0)), x = 1 (m = {b['m']})",
            Estimate(b["rise"]["mean"], b["rise"]["ci_low"], b["rise"]["ci_high"]),
            "equals",
            1.0,
            command,
            margin=THRESHOLD_MARGIN,
            hypotheses=finite,
        )
    )
    rows.append(
        claim(
            "Lewkowycz et al. (2020)",
            "GD converges beyond 2/lambda_max, up to at least the linear model's 4/lambda_max (x >= 2)",
            Estimate(b["divergence"]["mean"], b["divergence"]["ci_low"], b["divergence"]["ci_high"]),
            "at_least",
            2.0,
            command,
            margin=THRESHOLD_MARGIN * 2,
            hypotheses=finite,
        )
    )
    for name, e in summary["lazy"].items():
        fit = e["fits"]["drift_vs_alpha"]
        if fit["fit"] is not None:
            rows.append(
                exponent_claim(
                    "Chizat, Oyallon & Bach (2019), Thm 2.3",
                    f"weight drift ~ alpha^{fit['predicted']:g} ({name})",
                    fit["fit"],
                    fit["predicted"],
                    command,
                    margin=ALPHA_EXPONENT_MARGIN,
                    hypotheses="outside: finite alpha (the theorem is the alpha -> infinity limit)",
                )
            )
        fit = e["fits"].get("rms_drift_vs_width")
        if fit is not None and fit["fit"] is not None:
            rows.append(
                exponent_claim(
                    "Du et al. (2019), Lemma 3.3 (NTK); mean-field (gamma = 1)",
                    f"typical (RMS) weight drift ~ m^{fit['predicted']:g}, m >= {TYPICAL_FIT_MIN_WIDTH} ({name})",
                    fit["fit"],
                    fit["predicted"],
                    command,
                    margin=WIDTH_EXPONENT_MARGIN,
                    hypotheses="outside: digits data, a step 2 x 0.5 / lambda_max, not Thm 4.1's",
                )
            )
    return rows


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    set_precision(config.x64)

    from experiments.plotting.regimes import plot_regimes

    process = start_processes(config)
    base = unit_config(config, set())
    jobs = [("flow", base, lambda: flow_unit(config))]
    jobs += [(f"phase_m{m}", base, lambda m=m: phase_unit(config, m)) for m in config.phase_widths]
    jobs += [(f"boundary_m{m}", base, lambda m=m: boundary_unit(config, m)) for m in config.phase_widths]
    jobs += [("catapult", base, lambda: catapult_unit(config))]
    jobs += [
        (f"lazy_{act}_g{gamma:g}", base, lambda act=act, gamma=gamma: lazy_unit(config, act, gamma))
        for act in config.activations
        for gamma in (0.5, 1.0)
    ]
    return run_sweep(
        config,
        NAME,
        process,
        jobs,
        desc="regimes",
        report=print_summary,
        plot=plot_regimes,
        summarize=lambda results: summarize(config, {name: r for (name, _, _), r in zip(jobs, results)}),
    )


if __name__ == "__main__":
    run_main(main)
