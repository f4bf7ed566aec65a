"""The parts of one every-step diagnostics record at the bench's shape, each timed alone in a compiled loop.

    python -m benchmarks.diagnostics_profile

(n, d, m) = (1000, 1000, 8192), float32, the bench's problem and step size: the co-activation count
update from the pattern entries flipped by one GD step, lambda_min by 32 warm-started Lanczos steps, the Cholesky
certificate of H - floor I, the smaller parts (bit-packing the pattern, counting flips against the initial pattern,
the drift as a column sum of C * shift over two (n, m) arrays, H(k) = X X^T * counts / m), and, for scale, one
(n, n) @ (n, m) product. Each is a 20-iteration fori_loop of the library's own function for that part (public in
its module); all of them and the product run side by side (``benchmarks.harness.side_by_side``, 7 rounds after a
warm-up round), so each ratio to the product is a median of per-round ratios. LAPACK single-threaded as train_gd
runs it.
"""

import jax
import jax.numpy as jnp

import ntk_proofs as nt
from benchmarks.cases.du_step import ETA, problem
from benchmarks.harness import median_and_spread, median_ratio, side_by_side, wall
from ntk_proofs.du2019.gram import coactivation_counts, flip_count, pack_pattern, update_coactivation_counts_packed
from ntk_proofs.linalg import cholesky, single_threaded_lapack, smallest_ritz_pair

REPS = 20
PRODUCT = "product (n,n)@(n,m)"


def main(n: int = 1000, d: int = 1000, m: int = 8192) -> None:
    X, y, p = problem(n, d, m)
    W1 = nt.train_gd(p, X, y, eta=ETA, steps=1, record_every=0, step_form="kernel").params.W
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
    args = {
        "count update": (counts, old, new),
        "Lanczos (32 steps)": (H, v0),
        "Cholesky": (H,),
        "pack the pattern": (Z,),
        "count flips": (old, new),
        "drift": (C, shift),
        "H(k) from the counts": (XXt, counts),
    }
    product = jax.jit(
        lambda *a: jax.lax.fori_loop(0, REPS, lambda i, c: c + ((a[0] + c) @ a[1])[0, 0], jnp.zeros((), X.dtype))
    )
    parts[PRODUCT], args[PRODUCT] = product, (XXt, jnp.ones((n, m), X.dtype))
    measurements = {k: wall(lambda k=k: jax.block_until_ready(parts[k](*args[k]))) for k in parts}
    with single_threaded_lapack():
        rounds = side_by_side(measurements, 7)
    rounds["all parts"] = [sum(r) for r in zip(*(v for k, v in rounds.items() if k != PRODUCT))]
    print(f"(n, d, m) = ({n}, {d}, {m}), {flips} pattern entries flipped by the first step")
    for k, v in rounds.items():
        ms = 1e3 * median_and_spread(v)[0] / REPS
        print(f"  {k:22s} {ms:7.2f} ms  ({median_ratio(rounds, k, PRODUCT):.3f} x the product)")


if __name__ == "__main__":
    main()
