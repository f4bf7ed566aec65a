"""Training dynamics beyond two layers (Sun 2020, "Optimization for Deep Learning: An Overview", Secs. 4-6).

    python -m experiments.dynamics --study init    # signal propagation vs initialization scale, depth 50
    python -m experiments.dynamics --study skip    # gradient norms and trainability with and without skips
    python -m experiments.dynamics --study eos     # sharpness vs 2 / eta during full-batch GD (edge of stability)
    python -m experiments.dynamics --study all

Each study writes <out>/dynamics_<study>.{png,pdf,json} and prints its table. (Normalization, optimizers and
lottery tickets are not implemented yet.)
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STUDIES = ("init", "skip", "eos")


@dataclass(frozen=True)
class DynamicsConfig:
    study: str = "all"
    depth: int = 50
    width: int = 256
    seeds: int = 3
    skip_depths: tuple[int, ...] = (4, 16, 48)
    skip_steps: int = 300
    skip_weight_var: float = 1.0
    eos_eta: float = 2.0
    eos_steps: int = 1500
    eos_every: int = 25
    seed: int = 0
    out: str = "figures"


def parse_args(argv=None) -> DynamicsConfig:
    d = DynamicsConfig()
    p = argparse.ArgumentParser(prog="python -m experiments.dynamics", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--study", choices=STUDIES + ("all",), default=d.study, help="which study to run")
    p.add_argument("--depth", type=int, default=d.depth, help="hidden layers for the init study")
    p.add_argument("--width", type=int, default=d.width, help="hidden width for the init study")
    p.add_argument("--seeds", type=int, default=d.seeds, help="random inits per configuration (init study)")
    p.add_argument("--skip-depths", type=int, nargs="+", default=list(d.skip_depths), help="depths for the skip study")
    p.add_argument("--skip-steps", type=int, default=d.skip_steps, help="Adam steps per depth in the skip study")
    p.add_argument("--skip-weight-var", type=float, default=d.skip_weight_var,
                   help="s_w of the skip study (1 = LeCun: the plain ReLU stack's gradients vanish as 0.5^depth)")
    p.add_argument("--eos-eta", type=float, default=d.eos_eta, help="GD step of the edge-of-stability study")
    p.add_argument("--eos-steps", type=int, default=d.eos_steps, help="GD steps of the edge-of-stability study")
    p.add_argument("--eos-every", type=int, default=d.eos_every, help="steps between sharpness measurements")
    p.add_argument("--seed", type=int, default=d.seed, help="seed")
    p.add_argument("--out", default=d.out, help="output folder")
    a = p.parse_args(argv)
    values = {f.name: getattr(a, f.name) for f in dataclasses.fields(DynamicsConfig)}
    values["skip_depths"] = tuple(values["skip_depths"])
    c = DynamicsConfig(**values)
    if min(c.depth, c.width, c.seeds, c.skip_steps, c.eos_steps, c.eos_every, min(c.skip_depths)) < 1 or c.eos_eta <= 0:
        p.error("sizes, counts and --eos-eta must be positive.")
    return c


def study_init(c: DynamicsConfig) -> dict:
    """Per-layer forward variance and backward gradient norm at init, for several init scales, vs the recursion."""
    import jax
    import ntk_proofs as nt

    d = 32
    X = nt.unit_sphere(jax.random.PRNGKey(c.seed), 64, d)
    configs = [("ReLU, LeCun (s_w = 1)", "relu", 1.0), ("ReLU, He (s_w = 2)", "relu", 2.0),
               ("ReLU, 2x He (s_w = 4)", "relu", 4.0), ("tanh, Xavier (s_w = 1)", "tanh", 1.0)]
    rows = []
    for label, act, wv in configs:
        net = nt.MLP((d,) + (c.width,) * c.depth + (1,), activation=act, weight_var=wv)
        fwd, bwd = [], []
        for s in range(c.seeds):
            st = nt.layer_statistics(net, net.init(jax.random.PRNGKey(1000 + s)), X, key=jax.random.PRNGKey(s))
            fwd.append(st.forward_variance[:-1])
            bwd.append(st.backward_norm[:-1] ** 2)
        fwd, bwd = np.exp(np.mean(np.log(fwd), 0)), np.exp(np.mean(np.log(bwd), 0))
        pred = nt.predicted_variances(c.depth - 1, 1.0 / d, weight_var=wv, activation=act)
        rows.append(dict(label=label, activation=act, weight_var=wv, forward=fwd, backward_sq=bwd, predicted=pred,
                         forward_growth=nt.growth_factor(fwd), predicted_growth=nt.growth_factor(pred),
                         backward_growth=nt.growth_factor(bwd),
                         predicted_backward_growth=(2 / wv if act == "relu" else None)))
    return dict(rows=rows, depth=c.depth, width=c.width, seeds=c.seeds)


def study_skip(c: DynamicsConfig) -> dict:
    """Gradient norms per layer at init and training loss after Adam, vs depth, with and without skips."""
    import jax
    import jax.numpy as jnp
    import optax
    import ntk_proofs as nt

    X, y = nt.load_digits_binary("parity")
    X, y = X[:200], y[:200]
    rows = []
    for depth in c.skip_depths:
        for skip in (False, True):
            net = nt.MLP((X.shape[1],) + (64,) * depth + (1,), skip=skip, residual_scale=1.0 / np.sqrt(depth),
                         weight_var=c.skip_weight_var)
            params = net.init(jax.random.PRNGKey(c.seed + depth))
            st = nt.layer_statistics(net, params, X, key=jax.random.PRNGKey(c.seed))
            traj = nt.gd_trajectory(net.apply, params, X, y, steps=c.skip_steps, optimizer=optax.adam(1e-3))
            loss0 = float(traj.loss[0])
            rows.append(dict(depth=depth, skip=skip, backward_norm=st.backward_norm[:-1],
                             grad_ratio_first_last=float(st.backward_norm[0] / st.backward_norm[-2]),
                             loss=traj.loss, final_relative_loss=float(traj.loss[-1]) / loss0))
    return dict(rows=rows, steps=c.skip_steps)


def study_eos(c: DynamicsConfig) -> dict:
    """Sharpness along full-batch GD vs 2 / eta (Cohen et al. 2021), and descent-lemma violations."""
    import jax
    import jax.numpy as jnp
    import ntk_proofs as nt

    X, y = nt.load_digits_binary("parity")
    X, y = X[:200], y[:200]
    net = nt.MLP((X.shape[1], 64, 64, 1), activation="tanh", weight_var=1.0, bias_var=0.1)

    def loss(p):
        return 0.5 * jnp.mean((net.apply(p, X) - y) ** 2)

    run = nt.sharpness_trajectory(loss, net.init(jax.random.PRNGKey(c.seed)), eta=c.eos_eta, steps=c.eos_steps,
                                  every=c.eos_every, key=jax.random.PRNGKey(c.seed + 1))
    per_step = np.repeat(run.sharpness[:-1], c.eos_every)[: run.loss.size - 1]
    violations = nt.descent_lemma_violations(run.loss, run.grad_norm_sq, c.eos_eta, per_step)
    increases = np.flatnonzero(np.diff(run.loss) > 0)
    return dict(eta=c.eos_eta, steps=run.steps, sharpness=run.sharpness, loss=run.loss, first_edge=run.first_edge,
                loss_increases=int(increases.size), first_increase=int(increases[0]) if increases.size else -1,
                descent_violations=int(violations.size), first_violation=int(violations[0]) if violations.size else -1,
                final_loss=float(run.loss[-1]), initial_loss=float(run.loss[0]))


def main(argv=None) -> dict:
    c = parse_args(argv)
    from experiments.plotting.dynamics import PLOTS
    from experiments.plotting.style import save_figure
    from experiments.report import format_table, versions, write_json

    studies = STUDIES if c.study == "all" else (c.study,)
    runners = {"init": study_init, "skip": study_skip, "eos": study_eos}
    results = {}
    from tqdm.auto import tqdm

    for name in tqdm(studies, desc="dynamics", unit="study"):
        result = runners[name](c)
        summary = dict(experiment=f"dynamics/{name}", config=dataclasses.asdict(c), result=result, versions=versions())
        json_path = write_json(Path(c.out) / f"dynamics_{name}.json", summary)
        paths = save_figure(PLOTS[name](summary), c.out, f"dynamics_{name}")
        results[name] = summary
        if name == "init":
            print(f"\ninit: depth {c.depth}, width {c.width}, {c.seeds} seeds; per-layer growth factors (hidden layers)")
            print(format_table(["init", "forward measured", "forward predicted", "backward measured (norm^2)",
                                "backward predicted (2/s_w)"],
                               [[r["label"], r["forward_growth"], r["predicted_growth"], r["backward_growth"],
                                 r["predicted_backward_growth"] if r["predicted_backward_growth"] else "-"]
                                for r in result["rows"]]))
        elif name == "skip":
            print(f"\nskip: gradient norm first/last hidden layer at init, loss after {c.skip_steps} Adam steps / initial")
            print(format_table(["depth", "skip", "grad norm layer 1 / layer L", "final / initial loss"],
                               [[r["depth"], r["skip"], r["grad_ratio_first_last"], r["final_relative_loss"]]
                                for r in result["rows"]]))
        else:
            r = result
            print(f"\neos: GD with eta = {r['eta']} (2/eta = {2 / r['eta']:.4g}); sharpness from {r['sharpness'][0]:.4g} to "
                  f"{r['sharpness'][-1]:.4g}; reaches 2/eta at step {r['first_edge']}; loss rose on "
                  f"{r['loss_increases']} steps (first at {r['first_increase']}); descent lemma failed on "
                  f"{r['descent_violations']} steps (first at {r['first_violation']}); loss {r['initial_loss']:.4g} -> "
                  f"{r['final_loss']:.4g}")
        print("wrote " + ", ".join(str(p) for p in [*paths, json_path]))
    return results


if __name__ == "__main__":
    main()
