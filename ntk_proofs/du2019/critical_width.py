"""The critical width m*: the smallest width at which a conclusion of Du et al. (2019) holds on a fraction
1 - delta of random initializations, measured by a geometric bracket and bisection in log m.

Du et al. (2019), Theorem 4.1, proves the conclusions once m = Omega(n^6 / (lambda_0^4 delta^3)); later work
lowered the requirement to about n^4 (Du, Lee et al. 2019) and n^2 (Song & Yang 2019; Oymak &
Soltanolkotabi 2020). This module measures the width the conclusions actually need on given data.

A *criterion* is a yes/no property of one GD run from one initialization of width m (``CRITERIA``):

- "init": lambda_min(H(0)) >= lambda_0 / 2 (the concentration step, Lemma 3.1), certified by Cholesky;
- "trajectory": lambda_min(H(k)) >= lambda_0 / 2 at every step until convergence, certified by Cholesky;
- "linear": L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step until convergence (conclusion (C1));
- "kernel": |L(k) - L_kernel(k)| <= 0.1 L_kernel(k) at every step of the run (until it converges) above the
  round-off floor, with L_kernel the H^inf kernel prediction from the run's own start (the lazy regime; Arora et
  al. 2019, Theorem 4.1).

A run converges at the first step with L(k) <= ``tol`` L(0) and is cut at ``max_steps``; a run that hits the
cap does not hold "linear" or "trajectory".
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.arora2019 import kernel_prediction
from ntk_proofs.data import check_inputs, check_positive_int
from ntk_proofs.du2019.bounds import (check_upper_bound, infinite_width_spectrum, linear_rate_envelope,
                                      loss_floor)
from ntk_proofs.du2019.gram import gram_infinity_float64
from ntk_proofs.du2019.sweep import train_gd_batched
from ntk_proofs.models.two_layer import Params, init_params, predict

Array = jax.Array
CRITERIA = ("init", "trajectory", "linear", "kernel")
KERNEL_TOLERANCE = 0.1


class CriticalWidth(NamedTuple):
    """The outcome of ``critical_width``.

    m_star: the smallest width tried whose hold fraction is at least 1 - delta (None if none up to m_max).
    widths: every width tried, ascending; hold_fraction: the fraction of initializations that held, per width;
    holds: (widths, seeds) the yes/no outcome of every run. monotone: whether the hold fraction never falls as
    m grows over the widths tried; violations: the (smaller, larger) width pairs where it fell.
    bracket: the last failing and the first holding width of the search (their ratio is the resolution met).
    """

    m_star: int | None
    widths: np.ndarray
    hold_fraction: np.ndarray
    holds: np.ndarray
    monotone: bool
    violations: list
    bracket: tuple
    criterion: str
    delta: float
    seeds: int


def criterion_outcomes(X: Array, y: Array, m: int, *, key: Array, seeds: int, eta: float, lambda0: float,
                       max_steps: int = 2000, tol: float = 1e-4) -> dict[str, np.ndarray]:
    """Every criterion of ``CRITERIA`` on ``seeds`` initializations of width m, run as one batched program
    (``train_gd_batched``: vmapped, sharded over the local devices). Returns criterion -> (seeds,) bool."""
    n, d = X.shape
    keys = jax.random.split(key, seeds)
    params = [init_params(k, m, d, dtype=X.dtype) for k in keys]
    batch = Params(jnp.stack([p.W for p in params]), jnp.stack([p.a for p in params]))
    Xs, ys = jnp.broadcast_to(X, (seeds, n, d)), jnp.broadcast_to(y, (seeds, n))
    run = train_gd_batched(batch, Xs, ys, eta=eta, steps=max_steps, record_every=1, certify_lambda0=lambda0,
                           lambda_min_method="eigh")
    loss = np.asarray(run.loss, np.float64)
    certified = np.asarray(run.history.certified, bool)
    dtype = np.asarray(run.loss).dtype
    H = jnp.asarray(gram_infinity_float64(X), X.dtype)
    steps = np.arange(max_steps + 1)
    rtol = 10 * float(np.finfo(dtype).eps)  # the round-off margin of ``theorem_monitor``
    out = {name: np.zeros(seeds, bool) for name in CRITERIA}
    for s in range(seeds):
        below = np.flatnonzero(loss[s] <= tol * loss[s, 0])
        converged = below.size > 0 and int(run.diverged_step[s]) < 0
        end = int(below[0]) if below.size else max_steps
        out["init"][s] = certified[s, 0]
        out["trajectory"][s] = converged and bool(np.all(certified[s, : end + 1]))
        envelope = linear_rate_envelope(loss[s, 0], eta, lambda0, end)  # (C1)
        out["linear"][s] = converged and check_upper_bound(steps[: end + 1], loss[s, : end + 1], envelope, rtol).held
        residual0 = y - predict(params[s], X)
        predicted = np.asarray(kernel_prediction(H, residual0, eta=eta, steps=max_steps), np.float64)
        floor = loss_floor(loss[s, 0], dtype)
        clean = np.flatnonzero(~(loss[s] > floor))
        last = min(end + 1, int(clean[0]) if clean.size else max_steps + 1)  # the run's own steps, above the floor
        gap = np.abs(loss[s, :last] - predicted[:last]) <= KERNEL_TOLERANCE * predicted[:last]
        out["kernel"][s] = bool(np.all(gap))
    return out


def critical_width(X: Array, y: Array, *, criterion: str, delta: float = 0.1, seeds: int = 20, eta="auto",
                   key: Array, m_min: int = 8, m_max: int = 2**20, resolution: float = 2**0.25,
                   max_steps: int = 2000, tol: float = 1e-4,
                   hold: Callable[[int], np.ndarray] | None = None) -> CriticalWidth:
    """m*(criterion; X, y, delta): the smallest width m at which ``criterion`` holds on at least a fraction
    1 - delta of ``seeds`` initializations (see the module doc for the criteria).

    The search doubles m from ``m_min`` until the criterion holds (a geometric bracket), then bisects in log m
    between the last failing and the first holding width until their ratio is at most ``resolution``
    (2^(1/4) by default). ``eta="auto"`` is 1 / lambda_max(H^inf). Every width's initializations run as one
    batched program (``criterion_outcomes``); the initializations of width m come from ``fold_in(key, m)``.
    ``hold(m) -> (seeds,) bool`` replaces the GD runs (for tests, or a user's own criterion). The hold fraction
    is checked for monotonicity over all the widths tried; violations are returned, not hidden.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}.")
    check_positive_int(seeds, "seeds")
    check_positive_int(m_min, "m_min")
    if not (m_max >= m_min and resolution > 1):
        raise ValueError(f"Need m_max >= m_min and resolution > 1; got {m_max}, {m_min} and {resolution}.")
    if hold is None:
        X, y = check_inputs(X, y)
        spectrum = infinite_width_spectrum(X)
        lambda0 = float(spectrum[0])
        step = 1.0 / float(spectrum[-1]) if eta == "auto" else float(eta)

        steps = 0 if criterion == "init" else max_steps  # the concentration step needs no training

        def hold(m):
            return criterion_outcomes(X, y, m, key=jax.random.fold_in(key, m), seeds=seeds, eta=step,
                                      lambda0=lambda0, max_steps=steps, tol=tol)[criterion]

    tried: dict[int, np.ndarray] = {}

    def holds_at(m):
        if m not in tried:
            tried[m] = np.asarray(hold(m), bool).reshape(-1)
        return tried[m].mean() >= 1 - delta

    low, high, m = None, None, m_min
    while m <= m_max:
        if holds_at(m):
            high = m
            break
        low, m = m, 2 * m
    if high is not None and low is not None:
        while high / low > resolution:
            mid = int(round(math.sqrt(low * high)))
            if mid in (low, high):
                break
            if holds_at(mid):
                high = mid
            else:
                low = mid
    widths = np.array(sorted(tried))
    fraction = np.array([tried[w].mean() for w in widths])
    violations = [(int(widths[i]), int(widths[i + 1])) for i in range(len(widths) - 1) if fraction[i + 1] < fraction[i]]
    return CriticalWidth(m_star=high, widths=widths, hold_fraction=fraction,
                         holds=np.stack([tried[w] for w in widths]), monotone=not violations, violations=violations,
                         bracket=(low, high), criterion=criterion, delta=delta, seeds=seeds)
