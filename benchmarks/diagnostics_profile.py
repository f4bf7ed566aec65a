"""The parts of one every-step diagnostics record at the bench's shape, each timed alone in a compiled loop.

    python benchmarks/diagnostics_profile.py

(n, d, m) = (1000, 1000, 8192), float32, the bench's problem and step size (eta = 0.5): the co-activation count
update from the pattern entries flipped by one GD step, lambda_min by 32 warm-started Lanczos steps, the Cholesky
certificate of H - floor I, the smaller parts (bit-packing the pattern, counting flips against the initial pattern,
the drift as a column sum of C * shift over two (n, m) arrays, H(k) = X X^T * counts / m), and, for scale, one
(n, n) @ (n, m) product. Medians of
7 timed calls of a 20-iteration fori_loop, after a warm-up call; LAPACK single-threaded as train_gd runs it.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench import problem
from ntk_proofs.du2019.gram import coactivation_counts, flip_count, pack_pattern, update_coactivation_counts_packed
from ntk_proofs.du2019.training import trajectory
from ntk_proofs.linalg import cholesky, single_threaded_lapack, smallest_ritz_pair

REPS = 20


def timed(fn, *args):
    fn(*args).block_until_ready()
    out = []
    for _ in range(7):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append((time.perf_counter() - t) / REPS)
    return float(np.median(out))


def main():
    n, d, m = 1000, 1000, 8192
    X, y, p = problem(n, d, m)
    eta = jnp.asarray(0.5, X.dtype)
    run = trajectory(p.W, p.a, X, y, eta, jnp.asarray(1e4, X.dtype), jnp.asarray(0.0, X.dtype), steps=1,
                     record_every=0, optimizer=None, lambda_method="lanczos", step_form="kernel")
    W1 = run[1]  # (loss, W, records, diverged)
    P0, P1 = (X @ p.W.T) >= 0, (X @ W1.T) >= 0
    old, new = pack_pattern(P0), pack_pattern(P1)
    flips = int(jnp.sum(P0 != P1))
    XXt = X @ X.T
    XXt = (XXt + XXt.T) / 2
    counts = coactivation_counts(P0, X.dtype)
    H = XXt * counts / m
    v0 = jnp.linalg.eigh(H)[1][:, 0]
    floor = jnp.asarray(0.1, X.dtype)
    eye = jnp.eye(n, dtype=X.dtype)
    loop = lambda body: jax.jit(lambda *a: jax.lax.fori_loop(0, REPS, lambda i, c: body(c, *a), jnp.zeros((), X.dtype)))  # noqa: E731
    Z = X @ p.W.T
    C = X @ (W1 - p.W).T  # an (n, m) array of the scale of the run's C, for the timing only
    shift = XXt @ C
    parts = {
        "count update": loop(lambda c, cnt, o, nw: c + update_coactivation_counts_packed(cnt + c, o, nw)[0, 0]),
        "Lanczos (32 steps)": loop(lambda c, H, v: c + smallest_ritz_pair(lambda u: (H + c) @ u, v, 32)[0]),
        "Cholesky": loop(lambda c, H: c + cholesky(H + c - floor * eye)[0, 0]),
        "pack the pattern": loop(lambda c, Z: c + pack_pattern((Z + c) >= 0)[0, 0].astype(X.dtype)),
        "count flips": loop(lambda c, a, b: c + flip_count(a + c.astype(a.dtype), b).astype(X.dtype)),
        "drift": loop(lambda c, C, s: c + jnp.max(jnp.sum((C + c) * s, axis=0))),
        "H(k) from the counts": loop(lambda c, K, cnt: c + jnp.sum(K * (cnt + c)) / m),
    }
    args = {"count update": (counts, old, new), "Lanczos (32 steps)": (H, v0), "Cholesky": (H,),
            "pack the pattern": (Z,), "count flips": (old, new), "drift": (C, shift), "H(k) from the counts": (XXt, counts)}
    product = jax.jit(lambda *a: jax.lax.fori_loop(0, REPS, lambda i, c: c + ((a[0] + c) @ a[1])[0, 0],
                                                   jnp.zeros((), X.dtype)))
    with single_threaded_lapack():
        rows = {k: timed(parts[k], *args[k]) for k in args}
        rows["product (n,n)@(n,m)"] = timed(product, XXt, jnp.ones((n, m), X.dtype))
    print(f"(n, d, m) = ({n}, {d}, {m}), {flips} pattern entries flipped by the first step")
    for k, v in rows.items():
        print(f"  {k:22s} {1e3 * v:7.2f} ms  ({v / rows['product (n,n)@(n,m)']:.3f} x the product)")
    parts_sum = sum(v for k, v in rows.items() if k != "product (n,n)@(n,m)")
    print(f"  {'all parts':22s} {1e3 * parts_sum:7.2f} ms  ({parts_sum / rows['product (n,n)@(n,m)']:.3f} x the product)")


if __name__ == "__main__":
    main()
