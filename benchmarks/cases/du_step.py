"""Case: one GD step of the Du et al. net (both step forms of ``ntk_proofs.train_gd``) against the machine's matmul
limit, NumPy and PyTorch; the cost of the diagnostics."""

from __future__ import annotations

import functools
import os

import numpy as np

from benchmarks.harness import marginal, wall

ETA = 0.5  # the step size every timed run uses (stable at the bench's shapes)


def problem(n, d, m, dtype="float32"):
    """Inputs on the sphere, Gaussian labels and a Gaussian init, from fixed keys."""
    import jax

    import ntk_proofs as nt

    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d, dtype=dtype)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), n, dtype=dtype)
    p = nt.init_params(jax.random.PRNGKey(2), m, d, dtype=dtype)
    return X, y, p


def default_step_form(n: int, d: int) -> str:
    """The form ``train_gd(step_form="auto")`` takes for plain GD: "kernel" when n < 2 d (fewer flops)."""
    return "kernel" if n < 2 * d else "weights"


def project_step(
    X,
    y,
    p,
    lengths=(4, 12),
    record_every=0,
    step_form="kernel",
    lambda_method="lanczos",
    flip_budget=None,
    certify=False,
    certify_every=None,
    lambda0=None,
):
    """A measurement of the marginal per-step time of ``ntk_proofs.train_gd``, (t(long) - t(short)) / (long - short),
    so that per-call set-up (input checks, the end-of-run record) does not count. Compiles both lengths first.
    ``certify`` proves (C2) at the data's own ``lambda0`` (every ``certify_every`` steps), as a real run does: the
    margin above lambda_0 / 2, and so how often the certificate factors, is the run's own."""
    import ntk_proofs as nt

    if certify and lambda0 is None:
        raise ValueError("certify needs the data's lambda0")

    def run(steps):
        def call():
            result = nt.train_gd(
                p,
                X,
                y,
                eta=ETA,
                steps=steps,
                record_every=record_every,
                lambda_min_method=lambda_method,
                flip_budget=flip_budget,
                step_form=step_form,
                certify_lambda0=lambda0 if certify else None,
                certify_every=certify_every if certify else None,
                divergence_factor=1e4,
                on_divergence="report",
            )
            assert result.diverged_step < 0, "a timed run diverged"
            return result

        return call

    return marginal(run, lengths)


def matmul_limit(X, p, lengths=(4, 12)):
    """A measurement of the machine's limit for the weights-form step: its two matmuls alone, forward Z = X W^T
    (n, m) and the gradient product Z^T X (m, d), as the marginal per-iteration time of a compiled scan (like
    the project's steps, so call overhead and output allocation do not count)."""
    import jax

    def run(steps):
        def body(W, _):
            Z = X @ W.T
            return W - 1e-9 * (Z.T @ X), None  # a dependency, so XLA cannot hoist either product

        scan = jax.jit(lambda W: jax.lax.scan(body, W, None, length=steps)[0])
        return lambda: jax.block_until_ready(scan(p.W))

    return marginal(run, lengths)


def kernel_product(n: int, m: int, lengths=(4, 12)):
    """A measurement of the kernel-form step's one product, (n, n) @ (n, m), as the marginal per-iteration time of a
    compiled scan (the "products" a width sweep cannot avoid)."""
    import jax
    import jax.numpy as jnp

    K = jnp.eye(n, dtype=jnp.float32) * 0.5
    C0 = jnp.ones((n, m), jnp.float32)

    def run(steps):
        scan = jax.jit(lambda C: jax.lax.scan(lambda C, _: (C - 1e-9 * (K @ C), None), C, None, length=steps)[0])
        return lambda: jax.block_until_ready(scan(C0))

    return marginal(run, lengths)


def baseline_steps(X, y, p, use_torch) -> dict:
    """Measurements of the plain NumPy step (float32 and float64) and the PyTorch CPU step (float32)."""
    from benchmarks.baselines import numpy_step, torch_available, torch_step

    out = {}
    for name, dtype in (("numpy_float32", np.float32), ("numpy_float64", np.float64)):
        W, a, Xn, yn = (np.array(v, dtype=dtype) for v in (p.W, p.a, X, y))
        out[name] = wall(functools.partial(numpy_step, W, a, Xn, yn, dtype(ETA)))
    if use_torch and torch_available():
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        W, a, Xt, yt = (torch.from_numpy(np.array(v, dtype=np.float32)) for v in (p.W, p.a, X, y))
        out["torch_float32"] = wall(functools.partial(torch_step, W, a, Xt, yt, ETA))
    return out


def flips_per_step(X, y, p, steps):
    """Pattern entries that flip at each of the first ``steps`` GD steps (at the timed step size)."""
    from ntk_proofs.du2019.training import flips_per_step as count

    return [int(c) for c in count(p, X, y, eta=ETA, steps=steps)]


def lanczos_vs_eigvalsh(X, y, p, steps) -> float:
    """Max relative error of train_gd's warm-started Lanczos lambda_min(H(k)) against eigvalsh along one run."""
    import ntk_proofs as nt

    ref = nt.train_gd(p, X, y, eta=0.8, steps=steps, lambda_min_method="eigh")
    fast = nt.train_gd(p, X, y, eta=0.8, steps=steps, lambda_min_method="lanczos")
    exact = np.asarray(ref.history.lambda_min)
    return float(np.max(np.abs(np.asarray(fast.history.lambda_min) - exact) / exact))


def factorizations_per_100_steps(X, y, p, steps, lambda0, **kwargs) -> float:
    """How many Cholesky factorizations the (C2) certificate takes per 100 steps of ``train_gd`` at the timed step."""
    import ntk_proofs as nt

    run = nt.train_gd(p, X, y, eta=ETA, steps=steps, certify_lambda0=lambda0, **kwargs)
    assert run.certificate is not None
    return 100.0 * run.certificate.factorizations / len(np.asarray(run.certificate.step))


def critical_width_steps(n=256, d=256, m=64, seeds=8, lengths=(8, 24), repeats=3) -> dict:
    """The per-step time of the critical-width search's runs (``train_gd_batched`` as the ``trajectory`` criterion
    calls it: every step recorded with warm-started Lanczos) with and without the (C2) certificate, side by side,
    and how often the certificate factored."""
    import jax
    import jax.numpy as jnp

    import ntk_proofs as nt
    from benchmarks.harness import median_and_spread, median_ratio, side_by_side

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    X = jnp.stack([nt.unit_sphere(k, n, d, dtype="float32") for k in keys])
    y = jnp.stack([nt.gaussian_labels(jax.random.fold_in(k, 1), n, dtype="float32") for k in keys])
    ps = [nt.init_params(jax.random.fold_in(k, 2), m, d, dtype="float32") for k in keys]
    batch = nt.Params(jnp.stack([q.W for q in ps]), jnp.stack([q.a for q in ps]))
    lambda0 = np.array([float(nt.lambda_zero(x)) for x in X])
    eta = float(np.min([nt.max_step_size(1, lam) for lam in lambda0]))  # a small stable step: lambda_0 / 4

    def run(certify):
        def at(steps):
            def call():
                return nt.train_gd_batched(
                    batch,
                    X,
                    y,
                    eta=eta,
                    steps=steps,
                    record_every=1,
                    lambda_min_method="lanczos",
                    certify_lambda0=lambda0 if certify else None,
                )

            return call

        return at

    measurements = {name: marginal(run(name == "certified"), lengths) for name in ("bare", "certified")}
    rounds = side_by_side(measurements, repeats, warm_up=False)
    proof = run(True)(lengths[1])().certificate
    assert proof is not None
    return dict(
        shape=[n, d, m],
        seeds=seeds,
        eta=eta,
        **{k: median_and_spread(v)[0] for k, v in rounds.items()},
        overhead=median_ratio(rounds, "certified", "bare") - 1,
        factorizations_per_100_steps=100.0 * proof.factorizations / proof.source.size,
    )
