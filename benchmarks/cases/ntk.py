"""Case: the empirical NTK of a wide MLP by both methods, with the block size chosen from the memory budget."""

from __future__ import annotations

from benchmarks.harness import median_and_spread, median_ratio, side_by_side, wall


def ntk_memory(n: int, hidden: int, outputs: int = 10, budget: int | None = None, repeats: int = 1) -> dict:
    """The empirical NTK of an MLP (64 -> hidden -> hidden -> outputs: about 1M parameters at hidden = 1000) on n
    digits-sized inputs by both methods, ``empirical_ntk(..., batch_size="auto")``: the block size chosen by
    ``ntk_batch_size`` from the memory budget (default: half the device's memory, or 2 GiB on CPU) and the time
    of choosing it, then the kernel with that block, both methods side by side (``repeats`` rounds after a
    warm-up round; ``ntvp_over_jacobian``: median per-round ratio), and the device's own peak over both where
    JAX reports it."""
    import time

    import jax

    import ntk_proofs as nt
    from ntk_proofs.ntk import ntk_batch_size

    net = nt.MLP((64, hidden, hidden, outputs), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), n, 64)
    size = int(sum(v.size for v in jax.tree.leaves(params)))
    out = dict(n=n, sizes=list(net.sizes), parameters=size, full_jacobian_bytes=4 * n * outputs * size)
    kernels, measurements = {}, {}
    for method in ("jacobian", "ntvp"):
        t = time.perf_counter()
        b = ntk_batch_size(net.apply, params, x, method=method, memory_budget=budget)
        out[method] = dict(batch_size=b, choose_seconds=time.perf_counter() - t)

        def call(method=method, b=b):
            kernels[method] = jax.block_until_ready(nt.empirical_ntk(net.apply, params, x, method=method, batch_size=b))

        measurements[method] = wall(call)
    rounds = side_by_side(measurements, max(1, repeats))
    for method in ("jacobian", "ntvp"):
        out[method]["seconds"] = median_and_spread(rounds[method])[0]
    out["device_peak_bytes"] = (jax.local_devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
    out["ntvp_over_jacobian"] = median_ratio(rounds, "ntvp", "jacobian")
    out["max_relative_difference"] = float(
        abs(kernels["jacobian"] - kernels["ntvp"]).max() / abs(kernels["jacobian"]).max()
    )
    return out
