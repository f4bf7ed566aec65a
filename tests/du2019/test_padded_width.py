"""A width-m net run inside arrays of M > m neurons (``train_gd_batched(live_width=m)``, padding with a_r = 0) gives
the width-m net's numbers: loss, lambda_min(H(k)), flips, drift and the (C2) proof; and one compiled program serves
every width of a bucket."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du2019.sweep import _batched
from tests.tolerances import rel, tol


def _problem(S=3, n=10, d=6, m=20, M=32, dtype=jnp.float64):
    """S runs at width m, and the same runs padded to M: padding rows of W drawn at random (they must not matter),
    a_r = 0 there."""
    keys = jax.random.split(jax.random.PRNGKey(3), S)
    X = jnp.stack([nt.unit_sphere(k, n, d, dtype=dtype) for k in keys])
    y = jnp.stack([nt.gaussian_labels(jax.random.fold_in(k, 1), n, dtype=dtype) for k in keys])
    ps = [nt.init_params(jax.random.fold_in(k, 2), m, d, dtype=dtype) for k in keys]
    P = nt.Params(jnp.stack([p.W for p in ps]), jnp.stack([p.a for p in ps]))
    junk = jax.random.normal(jax.random.PRNGKey(9), (S, M - m, d), dtype)
    padded = nt.Params(jnp.concatenate([P.W, junk], axis=1), jnp.concatenate([P.a, jnp.zeros((S, M - m), dtype)], 1))
    return X, y, P, padded


@pytest.mark.parametrize("step_form", ["kernel", "weights"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_a_padded_batch_gives_the_width_m_numbers(step_form, dtype):
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        pytest.skip("float64 needs JAX_ENABLE_X64")
    X, y, P, padded = _problem(dtype=dtype)
    m = P.W.shape[1]
    lambda0 = min(nt.lambda_zero(np.asarray(x, np.float64)) for x in X)
    kw = dict(eta=0.5, steps=18, record_every=1, step_form=step_form, certify_lambda0=lambda0, lambda_min_method="eigh")
    plain = nt.train_gd_batched(P, X, y, **kw)
    pad = nt.train_gd_batched(padded, X, y, live_width=m, **kw)
    # the same net up to the reassociation of float sums (zeros added to u's and H(k)'s sums): the table's rtol
    np.testing.assert_allclose(pad.loss, plain.loss, **tol(dtype))
    np.testing.assert_allclose(pad.history.lambda_min, plain.history.lambda_min, **tol(dtype))
    np.testing.assert_allclose(pad.history.max_drift, plain.history.max_drift, **tol(dtype))
    np.testing.assert_array_equal(pad.history.flip_fraction, plain.history.flip_fraction)
    np.testing.assert_array_equal(pad.certificate.held, plain.certificate.held)
    np.testing.assert_allclose(pad.params.W[:, :m], plain.params.W, **tol(dtype))
    np.testing.assert_array_equal(pad.params.W[:, m:], padded.W[:, m:])  # the padding never moves
    assert np.any(np.asarray(plain.history.flip_fraction) > 0)  # the pattern moved: the flip mask was exercised


def test_the_padded_h_k_is_the_width_m_gram_matrix():
    """lambda_min of the padded run's H(k) against float64 eigvalsh of X X^T * P P^T / m of the live neurons."""
    X, y, P, padded = _problem(S=1)
    m = P.W.shape[1]
    run = nt.train_gd_batched(padded, X, y, eta=0.5, steps=0, record_every=1, live_width=m, lambda_min_method="eigh")
    pattern = np.asarray(X[0] @ P.W[0].T) >= 0
    H = np.asarray(X[0] @ X[0].T) * (pattern.astype(float) @ pattern.T.astype(float)) / m
    np.testing.assert_allclose(run.history.lambda_min[0, 0], np.linalg.eigvalsh(H)[0], **rel(np.float64))


def test_one_compiled_program_serves_every_width_of_a_bucket():
    X, y, P, padded = _problem(S=2, m=20, M=32)
    kw = dict(eta=0.5, steps=3, record_every=1, lambda_min_method="eigh")
    nt.train_gd_batched(padded, X, y, live_width=20, **kw)
    before = _batched._cache_size()
    for m in (9, 17, 32):
        a = jnp.where(jnp.arange(32) < m, padded.a, 0.0)
        nt.train_gd_batched(nt.Params(padded.W, a), X, y, live_width=m, **kw)
    assert _batched._cache_size() == before


def test_bad_live_widths_are_refused():
    X, y, P, padded = _problem(S=1)
    kw = dict(eta=0.5, steps=2, record_every=1)
    for bad in (0, 33, 2.5, True):
        with pytest.raises(ValueError, match="live_width"):
            nt.train_gd_batched(padded, X, y, live_width=bad, **kw)
    with pytest.raises(ValueError, match="a_r = 0"):
        nt.train_gd_batched(padded, X, y, live_width=10, **kw)  # neurons 10..19 have a_r = +-1


def test_a_padded_search_finds_the_unpadded_m_star():
    """``critical_widths(pad=...)``: the same outcomes at every width tried, hence the same m*, as one program per
    width (float64: the reassociated sums change no verdict here)."""
    from ntk_proofs.du2019.critical_width import critical_widths, padded_width

    X = nt.unit_sphere(jax.random.PRNGKey(5), 8, 8)
    y = nt.gaussian_labels(jax.random.PRNGKey(6), 8)
    kw = dict(criteria=("init", "trajectory", "linear"), seeds=4, key=jax.random.PRNGKey(7), m_min=3, m_max=48)
    kw.update(resolution=2**0.5, max_steps=200)
    plain = critical_widths(X, y, **kw)
    padded = critical_widths(X, y, pad=lambda m: padded_width(m, 8), **kw)
    for c in kw["criteria"]:
        assert padded[c].m_star == plain[c].m_star
        np.testing.assert_array_equal(padded[c].widths, plain[c].widths)
        np.testing.assert_array_equal(padded[c].holds, plain[c].holds)
    tried = {int(w) for c in kw["criteria"] for w in plain[c].widths}
    assert any(padded_width(w, 8) > w for w in tried), tried  # some width ran padded


def test_padded_width_policy():
    from ntk_proofs.du2019.critical_width import PAD_MAX_N, padded_width

    assert [padded_width(m, 8) for m in (1, 2, 3, 5, 8, 9, 100)] == [1, 2, 4, 8, 8, 16, 128]
    # above PAD_MAX_N only widths up to n pad (there a step's cost is set by n); wider ones run as they are
    assert [padded_width(m, 2 * PAD_MAX_N) for m in (100, 2 * PAD_MAX_N, 2 * PAD_MAX_N + 1)] == [
        128,
        2 * PAD_MAX_N,
        2 * PAD_MAX_N + 1,
    ]


def test_a_wider_draw_starts_with_the_narrower_one():
    """What ``criterion_outcomes`` relies on to draw a padded batch at the bucket's width (one compiled program per
    bucket): with partitionable threefry, init_params(key, M, d)'s first m neurons are init_params(key, m, d)."""
    assert jax.config.jax_threefry_partitionable
    key = jax.random.PRNGKey(11)
    wide, narrow = nt.init_params(key, 32, 5), nt.init_params(key, 13, 5)
    np.testing.assert_array_equal(wide.W[:13], narrow.W)
    np.testing.assert_array_equal(wide.a[:13], narrow.a)


def test_padded_concentration_gaps_equal_the_unpadded_ones():
    """Lemma 3.1's ||H(0) - H^inf||_2 / lambda_0 from the live neurons of a padded draw: the same integer counts,
    hence the same float64 gaps, as the width-m draw."""
    from ntk_proofs.du2019.critical_width import concentration_gaps

    X = nt.unit_sphere(jax.random.PRNGKey(5), 8, 8)
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    narrow = jax.vmap(lambda k: nt.init_params(k, 37, 8))(keys)
    wide = jax.vmap(lambda k: nt.init_params(k, 64, 8))(keys)
    lambda0 = nt.lambda_zero(X)
    np.testing.assert_array_equal(
        concentration_gaps(X, wide.W, lambda0, width=37), concentration_gaps(X, narrow.W, lambda0)
    )
