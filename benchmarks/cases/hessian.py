"""Case: top Hessian eigenvalues by Lanczos (``ntk_proofs.lanczos`` on ``ntk_proofs.hvp``) against power iteration
with deflation (PyHessian's method), in Hessian-vector products to equal accuracy and in seconds side by side."""

from __future__ import annotations

import numpy as np

from benchmarks.harness import median_and_spread, median_ratio, side_by_side, wall


def hessian_methods(k: int = 5, tols=(1e-5, 1e-7), repeats: int = 3, sizes=(64, 32, 32, 1), n: int = 300) -> dict:
    """Top-k Hessian eigenvalues (largest magnitude, which is what power iteration finds) of a digits MLP on n
    points (``sizes`` 64 -> 32 -> 32 -> 1 by default, 3,169 parameters) by power iteration with deflation and by
    Lanczos, counted in Hessian-vector products: the smallest Lanczos run whose top-k error (max relative, against
    the dense Hessian's eigenvalues) is no larger than power iteration's. Then both runs are timed side by side
    (``repeats`` rounds; the search above was their warm-up): ``seconds`` medians and
    ``lanczos_over_power_seconds``, the median per-round ratio."""
    import jax
    from jax.flatten_util import ravel_pytree

    import ntk_proofs as nt
    from ntk_proofs.curvature import power_iteration_eigenvalues

    # the active precision (float32 unless JAX_ENABLE_X64=1): both methods see the same operator
    X, y = nt.digits_split(jax.random.PRNGKey(0), n, 0)[:2]
    net = nt.MLP(tuple(sizes), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(0))
    loss = nt.gd.squared_error(net.apply, X, y)
    spectrum = nt.hessian_spectrum(loss, params)
    exact = spectrum[np.argsort(-np.abs(spectrum))][:k]  # power iteration finds the largest |lambda|

    def error(values):
        values = np.asarray(values, np.float64)
        if values.size < k:
            return float("inf")
        return float(np.max(np.abs(values[np.argsort(-np.abs(values))][:k] - exact) / np.abs(exact)))

    flat, unravel = ravel_pytree(params)
    matvec = jax.jit(lambda v: ravel_pytree(nt.hvp(loss, params, unravel(v)))[0])
    v0 = jax.random.normal(jax.random.PRNGKey(2), flat.shape, flat.dtype)

    def lanczos_values(steps):  # the Ritz values, from both ends of the spectrum
        run = nt.lanczos(matvec, v0, steps)
        return nt.tridiagonal_eigh(run.alphas[: run.steps], run.betas[: run.steps - 1])[0]

    tried = {}

    def lanczos_error(steps):
        if steps not in tried:
            tried[steps] = error(lanczos_values(steps))
        return tried[steps]

    def power(tol):
        return power_iteration_eigenvalues(loss, params, k, key=jax.random.PRNGKey(1), tol=tol, max_iterations=5000)

    rows = []
    for tol in tols:
        found = power(tol)
        target = error(found.eigenvalues)
        low, high = k - 1, k
        while lanczos_error(high) > target and high < flat.size:
            low, high = high, min(2 * high, flat.size)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if lanczos_error(mid) <= target else (mid, high)
        rounds = side_by_side(
            dict(lanczos=wall(lambda: lanczos_values(high)), power=wall(lambda: power(tol))),
            max(1, repeats),
            warm_up=False,
        )
        rows.append(
            dict(
                tol=tol,
                power_eigenvalues=found.eigenvalues.tolist(),
                power_iterations=found.iterations.tolist(),
                power_products=found.matvecs,
                power_error=target,
                lanczos_products=high,  # one product per Krylov step
                lanczos_error=tried[high],
                lanczos_over_power=high / found.matvecs,
                seconds={name: median_and_spread(values)[0] for name, values in rounds.items()},
                lanczos_over_power_seconds=median_ratio(rounds, "lanczos", "power"),
            )
        )
    return dict(k=k, sizes=list(sizes), parameters=int(flat.size), exact_top=exact.tolist(), runs=rows)
