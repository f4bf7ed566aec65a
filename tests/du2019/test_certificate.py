"""The proof of (C2) at every step (ntk_proofs.du2019.certificate): every certified step's lambda_min(H(k)),
computed independently in float64 (numpy eigvalsh), is above the floor by at least the margin the proof claims;
failures are reported at the step they happen; factorizations run only when Weyl's inequality runs out."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.du2019 import certificate as cert
from tests.tolerances import REORDERED_F64, tol

# An independent float64 eigvalsh of a matrix of n <= 40 O(1) entries is exact to ~1e-14; the proofs below are
# compared with it with this much slack (far below every margin the tests produce).
EIG_F64 = 1e-12


def _sequence(seed: int, n: int, d: int, m: int, steps: int, flips: int):
    """A pattern sequence P(0), ..., P(steps) with ``flips`` random entries flipped per step, and its Gram
    matrices H(k) = (X X^T) * P P^T / m for unit rows X: (XXt, counts (steps + 1, n, n), H (steps + 1, n, n))."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    XXt = X @ X.T
    XXt = (XXt + XXt.T) / 2
    P = rng.random((n, m)) < 0.5
    counts = []
    for _ in range(steps + 1):
        Pf = P.astype(float)
        counts.append(Pf @ Pf.T)
        idx = rng.integers(0, n * m, size=flips)
        P.flat[idx] = ~P.flat[idx]
    counts = np.asarray(counts)
    return XXt, counts, XXt[None] * counts / m


def _prove(XXt, counts, m, floor, estimates, dtype=jnp.float64, fresh=False):
    """Run ``prove_step`` along a sequence (as the recorder does; ``fresh``: the estimates were measured on each
    step's own H); returns the StepProofs stacked."""
    XXt = jnp.asarray(XXt, dtype)
    state = cert.initial_state(jnp.asarray(counts[0], dtype))
    proofs = []
    for C, est in zip(counts, estimates):
        C = jnp.asarray(C, dtype)
        H = XXt * C / m
        floor_, est_ = jnp.asarray(floor, dtype), jnp.asarray(est, dtype)
        state, proof = cert.prove_step(state, H, XXt, C, m, floor_, est_, None, False, fresh)
        proofs.append(proof)
    return jax.tree.map(lambda *v: np.stack([np.asarray(x) for x in v]), *proofs)


def _true_lambda_min(H):
    return np.array([np.linalg.eigvalsh(h)[0] for h in np.asarray(H, np.float64)])


@given(
    seed=st.integers(0, 10**6),
    n=st.sampled_from([3, 8, 20]),
    m=st.sampled_from([16, 64, 512]),
    flips=st.sampled_from([1, 4, 32]),
    level=st.floats(0.2, 1.3),
    fresh=st.booleans(),
)
def test_no_step_is_proved_whose_true_lambda_min_is_below_the_floor(seed, n, m, flips, level, fresh):
    """Random pattern sequences, floors from well below to above lambda_min(H(0)), either margin rule: wherever the
    certificate says held, the float64 eigvalsh of H(k) is >= floor + margin (the claimed margin is a lower
    bound)."""
    XXt, counts, H = _sequence(seed, n, n + 2, m, steps=12, flips=flips)
    lam = _true_lambda_min(H)
    floor = level * lam[0]
    proofs = _prove(XXt, counts, m, floor, lam, fresh=fresh)
    held = proofs.held
    assert np.all(lam[held] - floor >= proofs.margin[held] - EIG_F64)
    assert np.all(proofs.margin[held] > 0) and np.all(np.isneginf(proofs.margin[~held]))
    assert not np.any(held & (lam < floor))
    # a step is proved by exactly one source, and Weyl only after a factorization
    assert set(np.unique(proofs.source)) <= {cert.NOT_PROVED, cert.FACTORIZATION, cert.WEYL}
    assert np.array_equal(held, proofs.source != cert.NOT_PROVED)


def test_a_floor_crossing_is_reported_at_the_step_it_happens_and_refactors():
    """Point 0 loses its active neurons one block per step, so H(k)_00 and lambda_min(H(k)) fall steadily; the floor
    sits between two consecutive steps' lambda_min. The proof holds up to that step, fails from it on, and its
    last proof before the crossing comes from a factorization (Weyl ran out)."""
    n, m = 6, 240
    rng = np.random.default_rng(3)
    X = np.eye(n) + 0.1 * rng.normal(size=(n, n))  # nearly orthogonal rows: lambda_min(H) follows H_00
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    XXt = (X @ X.T + (X @ X.T).T) / 2
    P = rng.random((n, m)) < 0.95
    P[0] = True
    counts = []
    for k in range(12):
        Q = P.copy()
        Q[0, : 20 * k] = False
        counts.append(Q.astype(float) @ Q.astype(float).T)
    counts = np.asarray(counts)
    H = XXt[None] * counts / m
    lam = _true_lambda_min(H)
    assert np.all(np.diff(lam[2:]) < 0), "the construction should lower lambda_min at every step from step 2"
    cross = 7
    floor = (lam[cross - 1] + lam[cross]) / 2
    proofs = _prove(XXt, counts, m, floor, lam)
    assert proofs.held[:cross].all() and not proofs.held[cross:].any()
    assert np.flatnonzero(~proofs.held)[0] == cross
    assert proofs.source[cross - 1] == cert.FACTORIZATION  # the margin ran out as lambda_min approached the floor
    assert np.all(lam[:cross] - floor >= proofs.margin[:cross] - EIG_F64)


def test_a_sequence_that_stays_above_the_floor_factors_once():
    """One flip per step at m = 4096 moves H(k) by ~1e-4 in Frobenius norm, far less than the margin: one
    factorization at the first step, Weyl's inequality at every later one, its margin the first one less the
    distance to H(0)."""
    XXt, counts, H = _sequence(0, 10, 12, 4096, steps=40, flips=1)
    lam = _true_lambda_min(H)
    proofs = _prove(XXt, counts, 4096, lam.min() / 2, lam)
    assert proofs.held.all()
    assert proofs.source[0] == cert.FACTORIZATION and np.all(proofs.source[1:] == cert.WEYL)
    # one subtraction per step: ulps of the margin (atol 1e-15 for a margin that cancels), tighter than the table
    np.testing.assert_allclose(proofs.margin[1:], proofs.margin[0] - proofs.distance[1:], rtol=1e-12, atol=1e-15)


def test_an_estimate_measured_on_this_step_proves_a_larger_margin_and_factors_less():
    """The margin rule moves only how long a proof lasts: with the estimate measured on each step's own H (as
    every full record measures it), the factorization proves FRESH_MARGIN_FRACTION of the gap instead of
    MARGIN_FRACTION, Weyl's inequality then lasts more steps, and the verdicts are the same step by step."""
    XXt, counts, H = _sequence(2, 10, 12, 256, steps=30, flips=12)
    lam = _true_lambda_min(H)
    floor = lam.min() / 2
    carried, fresh = (_prove(XXt, counts, 256, floor, lam, fresh=f) for f in (False, True))
    assert carried.held.all() and fresh.held.all()
    factored = [int(np.sum(p.source == cert.FACTORIZATION)) for p in (carried, fresh)]
    assert factored[1] < factored[0] and factored[0] >= 3, factored
    first = (lam[0] - floor) * np.array([cert.MARGIN_FRACTION, cert.FRESH_MARGIN_FRACTION])
    allowance = float(cert.allowance_estimate(jnp.asarray(H[0]), floor))
    np.testing.assert_allclose([carried.margin[0], fresh.margin[0]], first, rtol=0, atol=allowance)
    for p in (carried, fresh):
        assert np.all(lam - floor >= p.margin - EIG_F64)


def test_the_rounding_allowance_is_needed_float32_cholesky_succeeds_on_indefinite_matrices():
    """In float32, Cholesky can run to completion on a matrix whose exact lambda_min (float64 eigvalsh of the same
    float32 entries) is below zero: a certificate that took success as proof would prove a false (C2). With its
    allowance the certificate refuses every such case (the factorization at the same shift)."""
    fooled = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
        H32 = ((Q * np.linspace(1e-6, 4.0, 30)) @ Q.T).astype(np.float32)
        H32 = (H32 + H32.T) / 2  # exactly symmetric float32 entries
        exact = np.linalg.eigvalsh(H32.astype(np.float64))[0]
        for above in (1e-8, 3e-8):  # the shift lies above the exact lambda_min by less than float32 resolves
            shift = np.float32(exact + above)
            floor, mu = np.float32(shift - np.float32(1e-8)), np.float32(1e-8)
            A = H32 - (floor + mu) * np.eye(30, dtype=np.float32)
            if np.linalg.eigvalsh(A.astype(np.float64))[0] >= 0:
                continue
            fooled += bool(np.all(np.isfinite(np.asarray(nt.linalg.cholesky(jnp.asarray(A))))))
            held, margin = cert.factor_at(jnp.asarray(H32), jnp.asarray(floor), jnp.asarray(mu))
            assert not bool(held) and np.isneginf(float(margin))
    assert fooled > 0, "no float32 factorization succeeded on an indefinite matrix: the test shows nothing"


def test_an_overestimated_lambda_min_falls_back_to_the_smallest_provable_margin():
    """A Ritz value can overestimate lambda_min; the factorization at floor + mu then fails, and the second one at
    the smallest provable shift (``allowance_estimate``) proves (C2) wherever the gap exceeds it a little, in
    float32 as in float64."""
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    for dtype in (np.float32, np.float64):
        H = ((Q * np.linspace(0.3, 4.0, 40)) @ Q.T).astype(dtype)
        H = (H + H.T) / 2
        exact = np.linalg.eigvalsh(H.astype(np.float64))[0]
        floor = dtype(exact - 2 * float(cert.allowance_estimate(jnp.asarray(H), dtype(exact))))
        held, margin = cert.factor_proof(jnp.asarray(H), jnp.asarray(floor), jnp.asarray(dtype(exact + 1.0)))
        assert bool(held) and 0 < float(margin) <= exact - floor


def test_frobenius_upper_is_an_upper_bound_and_tight():
    """Against the float64 norm of the float32 entries: above it, by at most a few gamma_n."""
    rng = np.random.default_rng(1)
    for n in (3, 50, 400):
        D = rng.normal(size=(n, n)).astype(np.float32)
        exact = np.linalg.norm(D.astype(np.float64))
        bound = float(cert.frobenius_upper(jnp.asarray(D), entry_roundings=0))
        assert exact <= bound <= exact * (1 + 4 * cert.gamma(n + 4, cert.unit_roundoff(np.float32)))


def test_train_gd_proves_every_step_and_measures_every_tenth():
    """``certify_every=1, record_every=10``: a proof at each of the 61 steps, the measurements at the 7 recorded
    ones equal to a run that records every 10 steps; the verdicts equal the float64 eigvalsh of H(k) >= lambda_0/2
    wherever that is decided by more than the proof's margin."""
    X = nt.unit_sphere(jax.random.PRNGKey(0), 16, 10)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 16)
    lambda0 = float(nt.lambda_zero(X))
    p = nt.init_params(jax.random.PRNGKey(2), 512, 10)
    every = nt.train_gd(p, X, y, eta=0.3, steps=60, record_every=10, certify_lambda0=lambda0, certify_every=1)
    tenth = nt.train_gd(p, X, y, eta=0.3, steps=60, record_every=10, certify_lambda0=lambda0)
    dense = nt.train_gd(p, X, y, eta=0.3, steps=60, record_every=1, lambda_min_method="eigh")
    c = every.certificate
    assert c is not None and tenth.certificate is not None
    assert np.array_equal(c.step, np.arange(61)) and np.array_equal(tenth.certificate.step, np.arange(0, 61, 10))
    for field in ("lambda_min", "flip_fraction", "max_drift"):
        np.testing.assert_allclose(getattr(every.history, field), getattr(tenth.history, field), **REORDERED_F64)
    lam = np.asarray(dense.history.lambda_min)
    assert np.array_equal(np.asarray(c.held), lam >= lambda0 / 2)
    assert np.all(lam[c.held] - lambda0 / 2 >= np.asarray(c.margin)[c.held] - EIG_F64)
    assert 1 <= c.factorizations < 61
    assert np.array_equal(every.history.certified, np.asarray(c.held)[::10])


def test_the_narrow_net_fails_c2_and_the_monitor_reports_the_first_failing_step():
    """At m = 8 lambda_min(H(k)) falls below lambda_0/2: the certificate reports it at the first step the
    float64 eigvalsh does, and the monitor's (C2) names that step."""
    X = nt.unit_sphere(jax.random.PRNGKey(4), 8, 5)
    y = nt.gaussian_labels(jax.random.PRNGKey(5), 8)
    lambda0 = float(nt.lambda_zero(X))
    p = nt.init_params(jax.random.PRNGKey(6), 8, 5)
    run = nt.train_gd(p, X, y, eta=0.5, steps=30, record_every=5, certify_lambda0=lambda0, certify_every=1)
    dense = nt.train_gd(p, X, y, eta=0.5, steps=30, record_every=1, lambda_min_method="eigh")
    lam = np.asarray(dense.history.lambda_min)
    below = lam < lambda0 / 2
    assert below.any(), "the narrow net should violate (C2) here"
    assert run.certificate is not None
    assert np.array_equal(np.asarray(run.certificate.held), ~below)
    monitor = nt.theorem_monitor(run, eta=0.5, lambda0=lambda0, drift_bound=np.inf)
    assert not monitor.lambda_min_floor.held and monitor.lambda_min_floor.first_failure == int(np.flatnonzero(below)[0])


def test_the_batch_proves_each_run_as_alone():
    """``train_gd_batched``: the same proofs (source, margin) and measurements as each run on its own."""
    from ntk_proofs.du2019.sweep import train_gd_batched

    keys = range(3)
    X = jnp.stack([nt.unit_sphere(jax.random.PRNGKey(k), 12, 8) for k in keys])
    y = jnp.stack([nt.gaussian_labels(jax.random.PRNGKey(10 + k), 12) for k in keys])
    lambda0 = np.array([float(nt.lambda_zero(x)) for x in X])
    ps = [nt.init_params(jax.random.PRNGKey(20 + k), 64 * 4**k, 8) for k in (0, 0, 0)]
    batch = nt.Params(jnp.stack([q.W for q in ps]), jnp.stack([q.a for q in ps]))
    run = train_gd_batched(batch, X, y, eta=0.3, steps=24, record_every=6, certify_lambda0=lambda0, certify_every=2)
    assert run.certificate is not None
    for b in keys:
        alone = nt.train_gd(
            ps[b], X[b], y[b], eta=0.3, steps=24, record_every=6, certify_lambda0=lambda0[b], certify_every=2
        )
        assert alone.certificate is not None
        assert np.array_equal(alone.certificate.source, run.certificate.source[b])
        # batched against single: the table's atol; rtol 1e-9, ten times the table's, kept from before it (not
        # re-measured): the margin and lambda_min come from eigensolves that vmap reorders
        tolerance = dict(tol(np.float64), rtol=1e-9)
        np.testing.assert_allclose(alone.certificate.margin, run.certificate.margin[b], **tolerance)
        np.testing.assert_allclose(alone.history.lambda_min, run.history.lambda_min[b], **tolerance)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(certify_every=1), "needs certify_lambda0"),
        (dict(certify_every=3, record_every=10, certify_lambda0=0.1), "must divide"),
        (dict(certify_every=0, record_every=10, certify_lambda0=0.1), "must divide"),
        (dict(certify_every=-1, record_every=10, certify_lambda0=0.1), "certify_every"),
    ],
)
def test_bad_certify_every_is_refused(kwargs, message):
    X = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    p = nt.init_params(jax.random.PRNGKey(1), 8, 3)
    kwargs = dict(dict(record_every=1), **kwargs)
    with pytest.raises(ValueError, match=message):
        nt.train_gd(p, X, jnp.ones(4), eta=0.1, steps=10, **kwargs)


@given(seed=st.integers(0, 10**6), n=st.sampled_from([3, 8, 20]), dtype=st.sampled_from(["float32", "float64"]))
def test_a_refuting_measurement_is_never_wrong(seed, n, dtype):
    """``refuted_by`` says lambda_min(H) < floor only when the float64 eigvalsh agrees, for floors drawn around the
    measured lambda_min (within a few times the slack of either sign), in float32 and float64."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    H = jnp.asarray((B @ B.T) / n, dtype)
    measured = jnp.linalg.eigvalsh(H)[0]
    exact = np.linalg.eigvalsh(np.asarray(H, np.float64))[0]
    scale = 8.0 * n * np.finfo(dtype).eps / 2 * float(np.linalg.norm(np.asarray(H, np.float64)))
    floors = [jnp.asarray(exact + offset, dtype) for offset in rng.uniform(-4.0, 4.0, size=16) * scale]
    # and the floor just above the measurement: where eigvalsh underestimated lambda_min by an ulp or more, only the
    # slack keeps the measurement from refuting a floor the exact lambda_min clears
    floors.append(jnp.nextafter(measured, jnp.asarray(np.inf, dtype)))
    for floor in floors:
        if bool(cert.refuted_by(H, measured, floor)):
            assert exact < float(floor)
    assert not bool(cert.refuted_by(H, jnp.asarray(jnp.nan, dtype), jnp.asarray(exact + 1.0, dtype)))


def test_a_refuted_step_is_not_proved_without_a_factorization_and_the_verdicts_stay():
    """Steps whose measured lambda_min is below the floor are not proved and run no factorization (counted with
    the factorization replaced by a counter, outside jit); every verdict equals the one without the shortcut."""
    XXt, counts, H = _sequence(3, 8, 5, 64, 12, 24)
    m = 64
    lam = _true_lambda_min(H)
    floor = float(np.median(lam))  # about half the steps above the floor, half below
    calls = []
    original = cert.factor_proof

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    def run(refute: bool):
        calls.clear()
        state = cert.initial_state(jnp.asarray(counts[0]))
        held = []
        for C, Hk, est in zip(counts, H, lam):
            C, Hk = jnp.asarray(C), jnp.asarray(Hk)
            refuted = cert.refuted_by(Hk, jnp.asarray(est), floor) if refute else False
            state, proof = cert.prove_step(state, Hk, jnp.asarray(XXt), C, m, floor, jnp.asarray(est), None, refuted)
            held.append(bool(proof.held))
        return np.array(held), len(calls)

    cert.factor_proof = counted
    try:
        with jax.disable_jit():
            held_plain, factored_plain = run(False)
            held_skip, factored_skip = run(True)
    finally:
        cert.factor_proof = original
    below = int(np.sum(lam < floor))
    np.testing.assert_array_equal(held_skip, held_plain)
    np.testing.assert_array_equal(held_skip[lam < floor], False)
    assert below >= 3 and factored_skip <= factored_plain - below
