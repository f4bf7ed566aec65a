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
import numpy as np

from ntk_proofs.data import check_fits_in_memory, check_matrix, check_positive_int
from ntk_proofs.models.two_layer import DU_NET, Params

Array = jax.Array


def gram_infinity(X: Array) -> Array:
    """H^inf of Du et al. (2019), eq. (6), for any nonzero rows X (n, d): (n, n).

        H^inf_ij = E_w[x_i . x_j 1{w . x_i >= 0, w . x_j >= 0}] = x_i . x_j (pi - theta_ij) / (2 pi),

    with theta_ij the angle between x_i and x_j: for Gaussian w, P(w . x_i >= 0, w . x_j >= 0) =
    (pi - theta_ij) / (2 pi) depends on the directions only (Cho & Saul 2009, arc-cosine kernel of degree 0).
    The cosine is taken between normalized rows and the diagonal angle is exactly 0, so
    gram_infinity(c X) = c^2 gram_infinity(X) and H^inf_ii = ||x_i||^2 / 2 exactly (arccos near 1 would lose half
    the digits there). Pairs whose cosine is within ``PARALLEL_ULPS`` ulps of +-1 are parallel to round-off
    (their angle, below sqrt(2 * 64 eps), cannot be resolved from a Gram matrix) and get angle 0 or pi exactly,
    so duplicate inputs x_i = x_j give equal rows: exactly, but for H_ii = ||x_i||^2 / 2 against H_ji = x_j . x_i / 2,
    which can differ in the last bit (norm against dot product). H^inf is then singular, a correct result.

    Args:
      X: (n, d) inputs with nonzero rows (booleans and integers become floats).

    Returns:
      H^inf, (n, n), in X's dtype.

    Raises:
      ValueError: X is not a finite 2-D array with n, d >= 1, has a zero row (no direction), or has an n whose
        (n, n) H^inf could not fit in the device's memory (refused before anything is allocated).
    """
    X = check_matrix(X, "X")
    check_gram_fits(X.shape[0], X.dtype, "H^inf")
    norms = jnp.linalg.norm(X, axis=1)
    if not bool(jnp.all(norms > 0)):
        bad = int(np.flatnonzero(np.asarray(norms) == 0)[0])
        raise ValueError(
            f"X[{bad}] is the zero vector: H^inf needs a direction for every input (Du et al. 2019, eq. (6))."
        )
    return _gram_infinity(X, norms)


PARALLEL_ULPS = 64


def check_gram_fits(n: int, dtype, what: str) -> None:
    """Refuse, before anything is allocated, an X of n rows whose (n, n) Gram matrix ``what`` exceeds the device's
    memory."""
    check_fits_in_memory(
        n * n * jnp.dtype(dtype).itemsize,
        f"X must have few enough rows for {what} to fit in memory; got n = {n} rows, whose ({n}, {n}) "
        f"{jnp.dtype(dtype).name} matrix",
    )


def gram_infinity_of_rows(X, norms):
    """The traceable core of ``gram_infinity``: H^inf of Du et al. (2019), eq. (6), from X and its row norms."""
    G = X @ X.T
    cos = G / (norms[:, None] * norms[None, :])
    edge = 1.0 - PARALLEL_ULPS * jnp.finfo(X.dtype).eps  # the snap also clips round-off beyond +-1
    cos = jnp.where(cos >= edge, 1.0, jnp.where(cos <= -edge, -1.0, cos))
    theta = jnp.arccos(cos)  # 0 on the diagonal (cos snaps to 1), which the exact ||x_i||^2 / 2 replaces anyway
    H = G * (jnp.pi - theta) / (2 * jnp.pi)
    return jnp.where(jnp.eye(X.shape[0], dtype=bool), norms[:, None] ** 2 / 2, H)


def gram_infinity_float64(X) -> np.ndarray:
    """``gram_infinity`` in float64 on the host (NumPy), whatever the dtype of X: the matrix whose spectrum the
    theorem's constants use (lambda_0, lambda_max), so that float32 and float64 runs of one problem share them."""
    X = np.asarray(X, np.float64)
    norms = np.linalg.norm(X, axis=1)
    if not np.all(norms > 0):
        raise ValueError(f"X[{int(np.flatnonzero(norms == 0)[0])}] is the zero vector: H^inf needs a direction.")
    G = X @ X.T
    cos = G / np.outer(norms, norms)
    edge = 1.0 - PARALLEL_ULPS * np.finfo(np.float64).eps  # within a few ulps of +-1 (or beyond, by round-off): +-1
    theta = np.arccos(np.where(cos >= edge, 1.0, np.where(cos <= -edge, -1.0, cos)))
    H = G * (np.pi - theta) / (2 * np.pi)  # the diagonal is set exactly below
    np.fill_diagonal(H, norms**2 / 2)
    return H


def gram_from_pattern(pattern: Array, inputs_gram: Array) -> Array:
    """H_ij = x_i.x_j (1/m) sum_r P_ir P_jr (Du et al. eq. (5)) from the (n, m) pattern P and X X^T (n, n)."""
    return inputs_gram * coactivation_counts(pattern, inputs_gram.dtype) / pattern.shape[1]


def coactivation_counts(pattern: Array, dtype=None) -> Array:
    """P P^T for an (n, m) activation pattern: the number of neurons active on both x_i and x_j (exact integers)."""
    P = pattern.astype(dtype if dtype is not None else jnp.result_type(float))
    return P @ P.T


@functools.partial(jax.jit, static_argnames=("budget", "chunk"))
def update_coactivation_counts(
    counts: Array, old: Array, new: Array, *, budget: int | None = None, chunk: int = 2048
) -> Array:
    """P' P'^T from P P^T (``counts``) and the entries of the (n, m) pattern that flipped from P to P'.

    H(k) of Du et al. (2019), eq. (5), is (X X^T) * P P^T / m; between GD steps few entries of P flip
    (Lemma 3.2 bounds their number by O(n m R)), so updating P P^T costs O(n) per flipped entry instead of
    the O(n^2 m) product. With D = P' - P (entries in {-1, 0, 1}),

        P' P'^T - P P^T = D P^T + P D^T + D D^T = (T + T^T) / 2,   T = D (P + P')^T,

    and row i of T sums D_ir (P + P')[:, r]^T over the flipped entries (i, r). The flips are listed from the
    bit-packed patterns (``pack_pattern``; no sort and no scatter over the n m entries) and added ``chunk`` at
    a time. When more than ``budget`` entries flipped (default n m / 32) the dense product is cheaper and is
    used instead. Exact: every count is an integer, exactly represented in the float dtype of ``counts``
    (float32 up to m = 2^24).
    """
    if old.shape != new.shape or old.ndim != 2 or counts.shape != (old.shape[0],) * 2:
        raise ValueError(
            f"patterns must be (n, m) of one shape and counts (n, n); got {old.shape}, {new.shape} and {counts.shape}."
        )
    return update_coactivation_counts_packed(counts, pack_pattern(old), pack_pattern(new), budget=budget, chunk=chunk)


def update_coactivation_counts_packed(
    counts: Array, old: Array, new: Array, *, budget: int | None = None, chunk: int = 2048
) -> Array:
    """``update_coactivation_counts`` on patterns packed by ``pack_pattern``, (ceil(n / 32), m) uint32.

    Traceable; ``train_gd`` carries the packed pattern of the last record (1 bit per entry) and calls this.
    """
    n = counts.shape[0]
    groups, m = old.shape
    budget = max(1, n * m // 32) if budget is None else budget
    flipped = old ^ new  # bit b of word (g, r): entry (32 g + b, r) flipped
    per_word = jax.lax.population_count(flipped).astype(jnp.int32)
    through = jax.lax.associative_scan(jnp.add, per_word, axis=1)  # flips in word row g, neurons 0..r
    ends = jnp.cumsum(through[:, -1])  # flips in word rows 0..g
    total = ends[-1]

    def sparse(_):
        def add_chunk(c, T):
            f = c * chunk + jnp.arange(chunk, dtype=jnp.int32)  # positions in the list of flips
            valid = f < total
            g = jnp.minimum(jnp.searchsorted(ends, f, side="right"), groups - 1)  # the flip's word row
            k = f - (ends[g] - through[g, -1])  # its rank within word row g
            r = _first_above(through, g, k)  # its neuron
            word = flipped[g, r]
            rank = k - (through[g, r] - per_word[g, r])  # its rank among the word's set bits
            for drop in range(31):  # clear the `rank` lowest set bits
                word = jnp.where(drop < rank, word & (word - jnp.uint32(1)), word)
            bit = jax.lax.population_count((word & (~word + jnp.uint32(1))) - jnp.uint32(1))
            i = jnp.minimum(32 * g + bit.astype(jnp.int32), n - 1)  # its data point
            now_on = (new[g, r] >> bit) & jnp.uint32(1)
            sign = jnp.where(valid, 2 * now_on.astype(jnp.int32) - 1, 0)  # D_ir = +1 switched on, -1 off
            both = _unpack(old[:, r].T, n) + _unpack(new[:, r].T, n)  # (chunk, n): (P + P')[:, r]^T
            return T + jax.ops.segment_sum((sign[:, None] * both).astype(counts.dtype), i, num_segments=n)

        # accumulate onto the counts themselves: with C symmetric, (C + T + (C + T)^T) / 2 = C + (T + T^T) / 2,
        # exactly (integers; T + T^T = 2 (P'P'^T - P P^T) is even), without a zero (n, n) array and one pass less
        S = jax.lax.fori_loop(0, (total + chunk - 1) // chunk, add_chunk, counts)
        return (S + S.T) / 2

    def dense(_):
        return coactivation_counts(unpack_pattern(new, n), counts.dtype)

    return jax.lax.cond(total <= budget, sparse, dense, None)


def pack_pattern(pattern: Array) -> Array:
    """The (n, m) boolean pattern, 32 data points to a word: (ceil(n / 32), m) uint32, bit b of (g, r) = P[32 g + b, r].

    One bit per entry (32x less than float32), and a neuron's column of the pattern is a contiguous gather.
    """
    groups = -(-pattern.shape[0] // 32)
    words = jnp.zeros((groups, pattern.shape[1]), jnp.uint32)
    for b in range(32):  # an elementwise or of strided row slices, contiguous along m: fuses with the producer
        rows = pattern[b::32].astype(jnp.uint32) << jnp.uint32(b)  # of the pattern (a reduce is slower)
        words = words | jnp.pad(rows, ((0, groups - rows.shape[0]), (0, 0)))
    return words


def unpack_pattern(words: Array, n: int) -> Array:
    """Inverse of ``pack_pattern``: the (n, m) boolean pattern."""
    return _unpack(words.T, n).T.astype(bool)


def flip_count(a: Array, b: Array) -> Array:
    """Number of entries in which two packed patterns (``pack_pattern``) differ."""
    return jnp.sum(jax.lax.population_count(a ^ b).astype(jnp.int32))


def _first_above(through: Array, g: Array, k: Array) -> Array:
    """For each (g, k), the first r with through[g, r] > k (rows of ``through`` are non-decreasing)."""
    lo, hi = jnp.zeros_like(k), jnp.full_like(k, through.shape[1] - 1)
    for _ in range(max(1, int(through.shape[1] - 1).bit_length())):
        mid = (lo + hi) // 2
        above = through[g, mid] > k
        lo, hi = jnp.where(above, lo, mid + 1), jnp.where(above, mid, hi)
    return lo


def _unpack(words: Array, n: int) -> Array:
    """Bits of the last axis: (..., w) uint32 -> (..., n) int32 of 0/1, bit b of word j at position 32 j + b."""
    bits = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32).reshape((1,) * words.ndim + (32,))) & jnp.uint32(1)
    return bits.reshape(*words.shape[:-1], -1)[..., :n].astype(jnp.int32)


def gram_matrix(W: Array, X: Array) -> Array:
    """Finite-width Gram matrix H(W) of Du et al. (2019), eq. (5), for W (m, d) and X (n, d); (n, n).

    H = J J^T with J the Jacobian of the network outputs u (n,) with respect to W. Under ``jit`` only the shapes are
    checked.

    Args:
      W: (m, d) first-layer weights.
      X: (n, d) inputs.

    Returns:
      H(W), (n, n), in the result type of W and X.

    Raises:
      ValueError: W or X is not a finite 2-D array with at least one row and one column (booleans and integers
        become floats), their d differ, or the (n, n) result and (n, m) pattern would not fit in the device's
        memory (refused before anything is allocated).
    """
    X = check_matrix(X, "X")
    W = check_matrix(W, "W", shape="(m, d)")
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"W must have the d = {X.shape[1]} columns of X; got W of shape {W.shape}.")
    n, m = X.shape[0], W.shape[0]
    dtype = jnp.result_type(W, X)
    check_fits_in_memory(
        (n * n + n * m) * dtype.itemsize,
        f"X must have few enough rows for H(W) to fit in memory; got n = {n} rows, whose ({n}, {n}) "
        f"{dtype.name} matrix and ({n}, {m}) pattern",
    )
    return _gram_matrix(W, X)


def gram_matrix_of(W: Array, X: Array) -> Array:
    """The traceable core of ``gram_matrix``: the Du et al. net's ``TwoLayerFamily.gram``, (X X^T) * P P^T / m with P
    the (n, m) pattern 1{w_r . x_i >= 0} (a_r^2 = 1, so H does not depend on the signs)."""
    return DU_NET.gram(Params(W, jnp.ones((W.shape[0],), W.dtype)), X)


def gram_infinity_mc(key: Array, X: Array, samples: int, *, chunk: int = 4096) -> Array:
    """Monte Carlo estimate of H^inf: H(W) with W of ``samples`` rows drawn from N(0, I).

    Each entry is an average of ``samples`` i.i.d. terms in [-1, 1] with variance at most 1/4, so its
    standard error is at most 1 / (2 sqrt(samples)). Memory is O(n * chunk), whatever ``samples``.

    Args:
      key: the PRNG key of the sampled neurons.
      X: (n, d) inputs.
      samples: the number of neurons, a positive integer.
      chunk: neurons drawn per piece.

    Returns:
      The estimate, (n, n), in X's dtype.

    Raises:
      ValueError: ``samples`` is not a positive integer.
    """
    check_positive_int(samples, "samples")
    X = jnp.asarray(X)
    n, d = X.shape
    chunk = int(min(chunk, samples))
    full, rest = divmod(samples, chunk)
    keys = jax.random.split(key, full + 1)
    return _gram_mc(keys, X, chunk, full, rest)


def gram_mc_sum(keys, X, chunk, full, rest):
    """The traceable core of ``gram_infinity_mc``: (X X^T) * P P^T averaged over the sampled neurons."""
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


# Compiled here rather than with a decorator: mutation testing (mutmut) does not reach decorated functions,
# and these hold the formulas its runs must mutate.
_gram_infinity = jax.jit(gram_infinity_of_rows)
_gram_matrix = jax.jit(gram_matrix_of)
_gram_mc = jax.jit(gram_mc_sum, static_argnums=(2, 3, 4))
