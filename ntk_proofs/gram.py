"""Gram matrices of Du et al. (2019): the infinite-width H^inf and the finite-width H(k).

    H^inf_ij = E_{w ~ N(0, I)}[x_i . x_j 1{w . x_i >= 0, w . x_j >= 0}]
             = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi)                        (Section 3, eq. (6))
    H(k)_ij  = x_i . x_j (1/m) sum_r 1{w_r(k) . x_i >= 0, w_r(k) . x_j >= 0}        (eq. (5))

lambda_0 = lambda_min(H^inf) > 0 when no two inputs are parallel (Theorem 3.1).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ntk_proofs.data import _check_positive_int

Array = jax.Array


@jax.jit
def gram_infinity(X: Array) -> Array:
    """Closed form of H^inf for unit-norm rows X (n, d): x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi).

    Du et al. (2019), eq. (6); the angular identity P(w.x_i >= 0, w.x_j >= 0) = (pi - theta_ij) / (2 pi)
    for Gaussian w (Cho & Saul 2009, arc-cosine kernel of degree 0). Returns (n, n), diagonal 1/2.
    """
    G = X @ X.T
    cos = jnp.clip(G, -1.0, 1.0)
    return G * (jnp.pi - jnp.arccos(cos)) / (2 * jnp.pi)


def gram_from_pattern(pattern: Array, inputs_gram: Array) -> Array:
    """H_ij = x_i.x_j (1/m) sum_r P_ir P_jr (Du et al. eq. (5)) from the (n, m) pattern P and X X^T (n, n)."""
    return inputs_gram * coactivation_counts(pattern, inputs_gram.dtype) / pattern.shape[1]


def coactivation_counts(pattern: Array, dtype=None) -> Array:
    """P P^T for an (n, m) activation pattern: the number of neurons active on both x_i and x_j (exact integers)."""
    P = pattern.astype(dtype if dtype is not None else jnp.result_type(float))
    return P @ P.T


@functools.partial(jax.jit, static_argnames=("budget", "chunk"))
def update_coactivation_counts(counts: Array, old: Array, new: Array, *, budget: int | None = None,
                               chunk: int = 2048) -> Array:
    """P' P'^T from P P^T (``counts``) and the entries of the (n, m) pattern that flipped from P to P'.

    H(k) of Du et al. (2019), eq. (5), is (X X^T) * P P^T / m; between GD steps few entries of P flip
    (Lemma 3.2 bounds their number by O(n m R)), so updating P P^T costs O(n) per flipped entry instead of
    the O(n^2 m) product. With D = P' - P (entries in {-1, 0, 1}),

        P' P'^T - P P^T = D P^T + P D^T + D D^T = (T + T^T) / 2,   T = D (P + P')^T,

    and row i of T sums D_ir (P + P')[:, r]^T over the flipped entries (i, r) of row i. The flips are listed
    in row-major order from bit-packed masks (no sort, no scatter over the n m entries) and added ``chunk``
    at a time. When more than ``budget`` entries flipped (default n m / 32) the dense product is cheaper and
    is used instead. Exact: every count is an integer, exactly represented in the float dtype of ``counts``
    (float32 up to m = 2^24).
    """
    if old.shape != new.shape or old.ndim != 2 or counts.shape != (old.shape[0],) * 2:
        raise ValueError(f"patterns must be (n, m) of one shape and counts (n, n); got {old.shape}, {new.shape} "
                         f"and {counts.shape}.")
    n, m = old.shape
    budget = max(1, n * m // 32) if budget is None else budget
    words = _packed_flips(old, new)  # (n, w) uint32: bit b of word j marks a flip at neuron 32 j + b
    per_word = jax.lax.population_count(words).astype(jnp.int32)
    through = jax.lax.associative_scan(jnp.add, per_word, axis=1)  # flips of point i in words 0..j
    ends = jnp.cumsum(through[:, -1])  # flips in rows 0..i
    total = ends[-1]

    def sparse(_):
        # P and P' with 32 data points to a uint32 word, (ceil(n / 32), m): one column gathered per flip.
        old_cols, new_cols = _packed_columns(old), _packed_columns(new)

        def add_chunk(c, T):
            f = c * chunk + jnp.arange(chunk, dtype=jnp.int32)  # positions in the row-major list of flips
            valid = f < total
            i = jnp.minimum(jnp.searchsorted(ends, f, side="right"), n - 1)  # the flip's data point
            k = f - (ends[i] - through[i, -1])  # its rank among the flips of point i
            j = _first_above(through, i, k)  # the word holding it
            word = words[i, j]
            rank = k - (through[i, j] - per_word[i, j])  # its rank among the word's set bits
            for drop in range(31):  # clear the `rank` lowest set bits
                word = jnp.where(drop < rank, word & (word - jnp.uint32(1)), word)
            bit = jax.lax.population_count((word & (~word + jnp.uint32(1))) - jnp.uint32(1)).astype(jnp.int32)
            r = jnp.minimum(32 * j + bit, m - 1)
            sign = jnp.where(valid, new[i, r].astype(jnp.int32) - old[i, r].astype(jnp.int32), 0)
            both = _unpack(old_cols[:, r].T, n) + _unpack(new_cols[:, r].T, n)  # (chunk, n): (P + P')[:, r]^T
            rows = (sign[:, None] * both).astype(counts.dtype)
            return T + jax.ops.segment_sum(rows, i, num_segments=n, indices_are_sorted=True)

        T = jax.lax.fori_loop(0, (total + chunk - 1) // chunk, add_chunk, jnp.zeros_like(counts))
        return counts + (T + T.T) / 2

    def dense(_):
        return coactivation_counts(new, counts.dtype)

    return jax.lax.cond(total <= budget, sparse, dense, None)


def _first_above(through: Array, i: Array, k: Array) -> Array:
    """For each (i, k), the first j with through[i, j] > k (rows of ``through`` are non-decreasing)."""
    lo, hi = jnp.zeros_like(k), jnp.full_like(k, through.shape[1] - 1)
    for _ in range(max(1, int(through.shape[1] - 1).bit_length())):
        mid = (lo + hi) // 2
        above = through[i, mid] > k
        lo, hi = jnp.where(above, lo, mid + 1), jnp.where(above, mid, hi)
    return lo


def _packed_columns(pattern: Array) -> Array:
    """The (n, m) pattern packed along n: (ceil(n / 32), m) uint32 with bit b of word (g, r) = P[32 g + b, r]."""
    n, m = pattern.shape
    w = -(-n // 32)
    bits = jnp.pad(pattern, ((0, 32 * w - n), (0, 0))).reshape(w, 32, m).astype(jnp.uint32)
    return jnp.sum(bits << jnp.arange(32, dtype=jnp.uint32)[None, :, None], axis=1, dtype=jnp.uint32)


def _unpack(words: Array, n: int) -> Array:
    """Inverse of the packing along the last axis: (..., w) uint32 -> (..., n) int32 of 0/1."""
    bits = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32).reshape((1,) * words.ndim + (32,))) & jnp.uint32(1)
    return bits.reshape(*words.shape[:-1], -1)[..., :n].astype(jnp.int32)


def _packed_flips(old: Array, new: Array) -> Array:
    """The (n, m) mask old != new packed 32 neurons to a uint32 word (zero-padded to a multiple of 32): (n, w)."""
    n, m = old.shape
    w = -(-m // 32)
    mask = jnp.pad(old != new, ((0, 0), (0, 32 * w - m)))
    bits = mask.reshape(n, w, 32).astype(jnp.uint32) << jnp.arange(32, dtype=jnp.uint32)[None, None, :]
    return jnp.sum(bits, axis=-1, dtype=jnp.uint32)  # disjoint bits: the sum is the bitwise or


@jax.jit
def gram_matrix(W: Array, X: Array) -> Array:
    """Finite-width Gram matrix H(W) of Du et al. (2019), eq. (5), for W (m, d) and X (n, d); (n, n).

    H = J J^T with J the Jacobian of the network outputs u (n,) with respect to W.
    """
    return gram_from_pattern(X @ W.T >= 0, X @ X.T)


def gram_infinity_mc(key: Array, X: Array, samples: int, *, chunk: int = 4096) -> Array:
    """Monte Carlo estimate of H^inf: H(W) with W of ``samples`` rows drawn from N(0, I).

    Each entry is an average of ``samples`` i.i.d. terms in [-1, 1] with variance at most 1/4, so its
    standard error is at most 1 / (2 sqrt(samples)). Memory is O(n * chunk), whatever ``samples``.
    """
    _check_positive_int(samples, "samples")
    X = jnp.asarray(X)
    n, d = X.shape
    chunk = int(min(chunk, samples))
    full, rest = divmod(samples, chunk)
    keys = jax.random.split(key, full + 1)
    return _gram_mc(keys, X, chunk, full, rest)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _gram_mc(keys, X, chunk, full, rest):
    n, d = X.shape

    def counts(key, size):
        P = (X @ jax.random.normal(key, (d, size), dtype=X.dtype) >= 0).astype(X.dtype)
        return P @ P.T

    def body(acc, key):
        return acc + counts(key, chunk), None

    acc, _ = jax.lax.scan(body, jnp.zeros((n, n), X.dtype), keys[:full])
    if rest:
        acc = acc + counts(keys[full], rest)
    return (X @ X.T) * acc / (full * chunk + rest)


@jax.jit
def lambda_min(H: Array) -> Array:
    """Least eigenvalue of a symmetric matrix H (e.g. lambda_0 = lambda_min(H^inf), Du et al. Thm 3.1)."""
    return jnp.linalg.eigvalsh(H)[0]


@jax.jit
def lambda_max(H: Array) -> Array:
    """Largest eigenvalue of a symmetric matrix H; 2 / lambda_max(H) bounds the stable GD step."""
    return jnp.linalg.eigvalsh(H)[-1]
