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
):
    """A measurement of the marginal per-step time of ``ntk_proofs.train_gd``, (t(long) - t(short)) / (long - short),
    so that per-call set-up (input checks, the end-of-run record) does not count. Compiles both lengths first.
    ``certify`` asks for the Cholesky certificate at a level below lambda_min(H) here, so that each factorization
    runs to completion as in a real run."""
    import ntk_proofs as nt

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
                certify_lambda0=2e-3 if certify else None,
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
