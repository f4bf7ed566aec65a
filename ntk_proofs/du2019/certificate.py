"""A proof of (C2) lambda_min(H(k)) >= lambda_0 / 2 at every step of a run, for about the cost of one elementwise
pass over an (n, n) matrix per step: a Cholesky factorization where it is needed, Weyl's inequality in between.

Du et al. (2019), Theorem 4.1 (with Lemma 3.2) needs lambda_min(H(k)) >= lambda_0 / 2 at every step k, where
H(k) = (X X^T) * C(k) / m (eq. (5)) and C(k) = P(k) P(k)^T counts the neurons active on both points of a pair.

1. At a step j, factor A = H(j) - (floor + mu) I by Cholesky (floor = lambda_0 / 2, mu > 0 a margin chosen from
   the current estimate of lambda_min). Success proves lambda_min(H(j)) >= floor + mu - delta_j, where delta_j
   bounds the rounding of the factorization and of H(j)'s entries (``factorization_allowance``). The proved
   margin is mu_j = mu - delta_j.
2. At a later step k, Weyl's inequality for symmetric matrices (Horn & Johnson, Matrix Analysis, Thm 4.3.1),
   |lambda_min(A) - lambda_min(B)| <= ||A - B||_2 <= ||A - B||_F, gives
   lambda_min(H(k)) >= floor + mu_j - ||H(k) - H(j)||_F, and ||H(k) - H(j)||_F = ||(X X^T) * (C(k) - C(j))||_F / m
   is one O(n^2) pass over the count difference (exact integers). ``frobenius_upper`` bounds it from above
   with its rounding. While mu_j - ||H(k) - H(j)||_F > 0 (with the subtraction's rounding), (C2) is proved at k.
3. When Weyl runs out, or nothing is proved yet, factor again at the current step (``prove_step``); if the
   factorization at floor + mu fails, a second one at the smallest provable shift decides.
4. No factorization is tried where the step's own measurement refutes (C2) (``refuted_by``): a measured
   lambda_min (eigvalsh, or a Ritz value, an upper bound on lambda_min) below the floor by more than its rounding
   means lambda_min(H(k)) < floor, so no sound factorization could succeed there; the step is "not proved", as
   a failed factorization would leave it, at the cost of one O(n^2) norm.

What is proved is exact for H(k) formed from the computed (and symmetrized) Gram matrix X X^T of the stored
inputs, with integer counts (exact in floating point while m < 2^24 in float32). The error of the computed X X^T
against the exact inner products is a separate term, ``inputs_allowance`` = gamma_d n (by Schur's product
theorem, ||E * C/m||_2 <= max_i C_ii / m ||E||_2 <= ||E||_2 <= gamma_d || |X| |X|^T ||_2 <= gamma_d ||X||_F^2):
below 1e-10 in float64 at n = d = 1000, but 0.06 in float32 there, so a float32 proof is a proof about the computed
Gram matrix only. ``gamma_k = k u / (1 - k u)`` with u the unit roundoff of the working dtype (Higham, Accuracy
and Stability of Numerical Algorithms, 2nd ed., Sec. 3.1). The bounds assume floating-point arithmetic with
round-to-nearest and no fast (Strassen-like or reduced-precision, e.g. TF32) products inside the factorization.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.linalg import cholesky

Array = jax.Array

# the source of a step's proof (``StepProof.source``)
NOT_PROVED, FACTORIZATION, WEYL = 0, 1, 2
# at a factorization, mu = MARGIN_FRACTION * (estimate - floor): half the gap above the floor the estimate shows,
# for an estimate carried from an earlier step (lambda_min may have fallen since); FRESH_MARGIN_FRACTION of it for
# an estimate measured on this step's own H (eigvalsh, or a Ritz value, which overestimates lambda_min by far less
# than a tenth of the gap): a larger proved margin lasts more steps of Weyl's inequality before the next
# factorization (in the --paper sweep at m = 1000, 10 factorizations per 100 steps instead of 97)
MARGIN_FRACTION = 0.5
FRESH_MARGIN_FRACTION = 0.9


class WeylState(NamedTuple):
    """What the certificate carries between steps: the counts C(j) at the last successful factorization and the
    margin it proved, lambda_min(H(j)) >= floor + margin (-inf: nothing proved yet, so the next step factors)."""

    counts: Array  # (n, n)
    margin: Array  # ()


class StepProof(NamedTuple):
    """The certificate of (C2) at one step.

    Attributes:
      held: lambda_min(H(k)) >= floor is proved at this step.
      source: ``FACTORIZATION`` (a Cholesky factorization at this step), ``WEYL`` (the last factorization plus
        Weyl's inequality) or ``NOT_PROVED`` (both factorizations failed: lambda_min(H(k)) is below the floor, or
        above it by less than the factorization's allowance).
      margin: a proved lower bound on lambda_min(H(k)) - floor (-inf where nothing is proved).
      distance: the upper bound on ||H(k) - H(j)||_F to the last factorization's H(j) (0 at a factorization).
    """

    held: Array
    source: Array
    margin: Array
    distance: Array


def unit_roundoff(dtype) -> float:
    """u = eps / 2 of a floating dtype (round to nearest)."""
    return float(np.finfo(dtype).eps) / 2


def gamma(k: int, u: float) -> float:
    """gamma_k = k u / (1 - k u) (Higham 2002, Lemma 3.1); +inf where k u >= 1 (no bound)."""
    return k * u / (1 - k * u) if k * u < 1 else float("inf")


def inputs_allowance(n: int, d: int, dtype) -> float:
    """An upper bound on ||(X X^T - fl(X X^T)) * C / m||_2 for unit rows: gamma_d n (+ u for the symmetrization),
    the error of the certified H(k) against the one of the exact inner products (see the module docstring)."""
    u = unit_roundoff(dtype)
    return gamma(d, u) * n + gamma(1, u)


def frobenius_upper(D: Array, entry_roundings: int = 2) -> Array:
    """An upper bound on ||D_exact||_F from the computed D, whose entries each carry at most ``entry_roundings``
    relative roundings (D = (X X^T) * (C(k) - C(j)) / m: one product, one division).

    The squares are summed row by row, then over the rows: for non-negative terms a computed sum of N terms, in
    any order, is within gamma_{N-1} of the exact one (Higham 2002, eq. (4.4)), so
    ||D_exact||_F^2 <= (1 + gamma_r)^2 / (1 - u) * S / (1 - gamma_{n-1})^2 for the computed S, and the computed square
    root adds one more rounding. Underflow of a square adds at most n^2 tiny to S. The product of these factors
    is below 1 + gamma_{n + r + 3}; the bound multiplies by 1 + 2 gamma_{n + r + 4} for the rounding of that product.
    """
    n = D.shape[-1]
    u = unit_roundoff(D.dtype)
    factor = 1.0 + 2.0 * gamma(n + entry_roundings + 4, u)
    tiny = float(np.finfo(D.dtype).tiny)
    squares = jnp.sum(jnp.sum(D * D, axis=-1), axis=-1)
    return (jnp.sqrt(squares) + n * float(np.sqrt(tiny))) * jnp.asarray(factor, D.dtype)


def factorization_allowance(L: Array, H: Array, shift: Array) -> Array:
    """delta with lambda_min(H_exact) >= shift - delta when the Cholesky factorization L of fl(H - shift I) succeeded.

    Three terms, in the 2-norm:
    - the factorization's backward error: L L^T = A + E with |E| <= gamma_{n+1} |L| |L^T| (Higham 2002, Thm 10.3;
      its proof bounds each entry's inner product, whatever the order of its sums, so a blocked LAPACK potrf is
      covered), hence ||E||_2 <= gamma_{n+1} || |L| ||_2^2 <= gamma_{n+1} ||L||_F^2, with ||L||_F^2 computed
      (bounded as in ``frobenius_upper``);
    - forming A = H - shift I: one rounding per diagonal entry, at most gamma_1 max_i |A_ii|;
    - forming H = (X X^T) * C / m from the computed Gram matrix: two roundings per entry, at most
      gamma_2 ||H||_F (``frobenius_upper`` of H).
    L L^T is positive semidefinite, so lambda_min(A) >= -||E||_2, and Weyl's inequality adds the other two.
    """
    n = H.shape[-1]
    u = unit_roundoff(H.dtype)
    factor_sq = jnp.square(frobenius_upper(L, entry_roundings=0))
    diagonal = jnp.max(jnp.abs(jnp.diagonal(H) - shift))
    backward = gamma(n + 1, u) * factor_sq
    return backward + gamma(1, u) * diagonal + gamma(2, u) * frobenius_upper(H, entry_roundings=2)


def allowance_estimate(H: Array, floor: Array | float) -> Array:
    """The smallest margin mu a factorization at floor + mu can prove, with a quarter to spare: 1.25 times the
    allowance ``factorization_allowance`` gives there, bounded before the factor exists. ||L||_F^2 = trace(L L^T)
    = trace(A + E) <= trace(A) / (1 - n gamma_{n+1}) and trace(A) = trace(H) - n (floor + mu) <= trace(H) - n floor;
    the quarter covers the 1 / (1 - n gamma_{n+1}) and the Frobenius norm's own rounding."""
    n = H.shape[-1]
    u = unit_roundoff(H.dtype)
    trace = jnp.maximum(jnp.trace(H) - n * floor, 0.0)
    diagonal = jnp.max(jnp.abs(jnp.diagonal(H) - floor))
    once = gamma(n + 1, u) * trace + gamma(1, u) * diagonal + gamma(2, u) * frobenius_upper(H, 2)
    return 1.25 * once


def _somewhere(need: Array, batch_axis: str | None) -> Array:
    """``need`` on this run, or on any run of the batch (``vmap(..., axis_name=batch_axis)``): an unbatched
    predicate, so that a ``lax.cond`` on it stays a branch under ``vmap`` instead of computing both sides."""
    if batch_axis is None:
        return need
    return jax.lax.psum(need.astype(jnp.int32), batch_axis) > 0


def factor_at(H: Array, floor: Array | float, mu: Array) -> tuple[Array, Array]:
    """Factor H - (floor + mu) I. Returns (succeeded, proved margin: lambda_min(H) - floor >= margin)."""
    shift = floor + mu
    A = H - shift * jnp.eye(H.shape[-1], dtype=H.dtype)
    L = cholesky(A)
    ok = jnp.all(jnp.isfinite(L))
    delta = factorization_allowance(jnp.where(ok, L, 0), H, shift)
    u = unit_roundoff(H.dtype)
    # shift = fl(floor + mu) is within u (floor + mu) of floor + mu; the subtraction below rounds once more
    margin = mu - delta - 4 * u * (jnp.abs(floor) + jnp.abs(mu) + delta)
    return ok & (margin > 0), jnp.where(ok & (margin > 0), margin, -jnp.inf)


def factor_proof(
    H: Array, floor: Array | float, estimate: Array, batch_axis: str | None = None, fresh: Array | bool = False
) -> tuple[Array, Array]:
    """Prove lambda_min(H) >= floor with a margin: factor at floor + mu, mu = f (estimate - floor) with f =
    ``FRESH_MARGIN_FRACTION`` where ``fresh`` (the estimate was measured on this H) and ``MARGIN_FRACTION`` where it
    was carried from an earlier step (a Ritz value, or a stale estimate, may overestimate, so that attempt may fail);
    where it fails, factor at the smallest shift the rounding allows proving anything with, floor +
    ``allowance_estimate``. Returns (held, proved margin or -inf). The choice of mu moves only the margin proved
    (how long Weyl's inequality lasts), never whether a proof is sound."""
    gap = jnp.where(jnp.isfinite(estimate), estimate - floor, 0.0)
    minimal = allowance_estimate(H, floor)
    fraction = jnp.where(jnp.asarray(fresh), FRESH_MARGIN_FRACTION, MARGIN_FRACTION)
    mu = jnp.maximum(fraction * gap, minimal)
    ok, margin = factor_at(H, floor, mu)
    retry = ~ok & (mu > minimal)
    return jax.lax.cond(
        _somewhere(retry, batch_axis),
        lambda: tuple(jnp.where(retry, new, old) for new, old in zip(factor_at(H, floor, minimal), (ok, margin))),
        lambda: (ok, margin),
    )


def initial_state(counts: Array) -> WeylState:
    """Nothing proved yet: the first ``prove_step`` factors."""
    return WeylState(jnp.zeros_like(counts), jnp.asarray(-jnp.inf, counts.dtype))


def refuted_by(H: Array, measured: Array, floor: Array | float) -> Array:
    """Whether a measurement of lambda_min(H) taken at this step refutes lambda_min(H) >= floor: ``measured`` (from
    ``eigvalsh``, backward stable, or a Lanczos Ritz value, a Rayleigh quotient and so an upper bound on
    lambda_min in exact arithmetic) lies below the floor by more than 8 n u ||H||_F, which bounds the rounding
    of either (Golub & Van Loan, Matrix Computations, 4th ed., Sec. 8.3-8.4 and 10.1: errors of O(n u ||H||_2)).
    Then lambda_min(H) < floor and no sound proof exists. A NaN measurement (a step not measured) refutes
    nothing."""
    n = H.shape[-1]
    slack = 8.0 * n * unit_roundoff(H.dtype) * jnp.linalg.norm(H)
    return jnp.isfinite(measured) & (measured + slack < floor)


def prove_step(
    state: WeylState,
    H: Array,
    XXt: Array,
    counts: Array,
    m: int | Array,
    floor: Array | float,
    estimate: Array,
    batch_axis: str | None = None,
    refuted: Array | bool = False,
    fresh: Array | bool = False,
) -> tuple[WeylState, StepProof]:
    """(C2) at one step: by Weyl's inequality from the last factorization while its margin lasts, else by a new
    factorization (``factor_proof``, with ``estimate`` of lambda_min(H) choosing its margin, larger where the
    estimate is ``fresh``: measured on this H), unless ``refuted``
    (``refuted_by``: this step's measurement shows lambda_min(H) < floor, so the step is not proved without one).

    H = (X X^T) * counts / m as the recorder formed it (m: the net's width, a traced scalar for a padded batch);
    XXt the (symmetrized) Gram matrix it came from; counts the integer co-activation counts C(k). Under
    ``vmap(..., axis_name=batch_axis)`` a factorization runs where any run of the batch needs one (and is used only
    by those).
    """
    u = unit_roundoff(H.dtype)
    distance = frobenius_upper(XXt * (counts - state.counts) / m, entry_roundings=2)
    left = state.margin - distance - 2 * u * (jnp.abs(state.margin) + distance)  # with the subtraction's rounding
    weyl = left > 0
    need = ~weyl & ~jnp.asarray(refuted)

    def factor():
        return factor_proof(H, floor, estimate, batch_axis, fresh)

    def skip():
        return jnp.asarray(False), jnp.asarray(-jnp.inf, H.dtype)

    ok, margin = jax.lax.cond(_somewhere(need, batch_axis), factor, skip)
    factored = need & ok
    held = weyl | factored
    moved = ~weyl  # a factorization, or a refuted step: the next proof starts afresh from this step's counts
    new_state = WeylState(
        jnp.where(moved, counts, state.counts), jnp.where(moved, jnp.where(factored, margin, -jnp.inf), state.margin)
    )
    proof = StepProof(
        held=held,
        source=jnp.where(weyl, WEYL, jnp.where(factored, FACTORIZATION, NOT_PROVED)).astype(jnp.int32),
        margin=jnp.where(weyl, left, jnp.where(factored, margin, -jnp.inf)),
        distance=jnp.where(weyl, distance, 0.0),
    )
    return new_state, proof
