"""Case: a small width sweep, sequential train_gd calls against one train_gd_batched per width."""

from __future__ import annotations

from benchmarks.harness import median_and_spread, median_ratio, side_by_side, wall


def sweep_comparison(repeats, n: int = 200, widths=(64, 256, 1024), seeds: int = 3, steps: int = 50):
    """A small width sweep (n = d, ``widths`` x ``seeds``), sequential train_gd calls vs one train_gd_batched per
    width, side by side (``sequential_over_batched``: median per-round ratio)."""
    import jax
    import jax.numpy as jnp

    import ntk_proofs as nt

    d = n
    data = [
        (nt.unit_sphere(jax.random.PRNGKey(s), n, d), nt.gaussian_labels(jax.random.PRNGKey(100 + s), n))
        for s in range(seeds)
    ]
    params = {m: [nt.init_params(jax.random.PRNGKey(1000 * m + s), m, d) for s in range(seeds)] for m in widths}

    def sequential():
        for m in widths:
            for s in range(seeds):
                jax.block_until_ready(nt.train_gd(params[m][s], *data[s], eta=0.8, steps=steps).loss)

    def batched():
        X = jnp.stack([x for x, _ in data])
        y = jnp.stack([t for _, t in data])
        for m in widths:
            P = nt.Params(jnp.stack([q.W for q in params[m]]), jnp.stack([q.a for q in params[m]]))
            jax.block_until_ready(nt.train_gd_batched(P, X, y, eta=0.8, steps=steps).loss)

    rounds = side_by_side(dict(sequential=wall(sequential), batched=wall(batched)), max(1, repeats // 2))
    return dict(
        config=dict(n=n, d=d, widths=list(widths), seeds=seeds, steps=steps),
        sequential=median_and_spread(rounds["sequential"]),
        batched=median_and_spread(rounds["batched"]),
        sequential_over_batched=median_ratio(rounds, "sequential", "batched"),
    )
