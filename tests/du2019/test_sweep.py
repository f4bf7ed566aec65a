"""Batched and sharded sweeps give the same numbers as single runs; the fast diagnostics agree with the exact ones."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from tests.tolerances import F64, rel


def _batch(S=3, n=10, d=6, m=48):
    keys = jax.random.split(jax.random.PRNGKey(0), S)
    X = jnp.stack([nt.unit_sphere(k, n, d) for k in keys])
    y = jnp.stack([nt.gaussian_labels(jax.random.fold_in(k, 1), n) for k in keys])
    ps = [nt.init_params(jax.random.fold_in(k, 2), m, d) for k in keys]
    return X, y, ps, nt.Params(jnp.stack([p.W for p in ps]), jnp.stack([p.a for p in ps]))


def test_batched_runs_equal_single_runs():
    X, y, ps, P = _batch()
    res = nt.train_gd_batched(P, X, y, eta=0.5, steps=15, record_every=4)
    for i, p in enumerate(ps):
        single = nt.train_gd(p, X[i], y[i], eta=0.5, steps=15, record_every=4)
        # vmapped against single: the same float64 program; loss and drift to 1e-12 (tighter than the table, kept
        # from before it), lambda_min (a Lanczos / eigh result) to the table's rtol
        np.testing.assert_allclose(res.loss[i], single.loss, rtol=1e-12)
        np.testing.assert_allclose(res.history.lambda_min[i], single.history.lambda_min, **rel(np.float64))
        np.testing.assert_allclose(res.history.max_drift[i], single.history.max_drift, rtol=1e-12)
        np.testing.assert_array_equal(res.history.step[i], single.history.step)
    assert np.all(np.asarray(res.diverged_step) == -1)


@pytest.mark.slow
def test_sharded_sweep_on_four_cpu_devices_gives_the_single_device_numbers(tmp_path):
    """Run in a fresh process with XLA_FLAGS forcing 4 host devices; compare with this (1-device) process."""
    X, y, ps, P = _batch(S=6)
    here = nt.train_gd_batched(P, X, y, eta=0.5, steps=12, record_every=3)
    script = textwrap.dedent(f"""
        import jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        import sys; sys.path.insert(0, {os.getcwd()!r})
        from tests.du2019.test_sweep import _batch
        import ntk_proofs as nt
        assert len(jax.devices()) == 4, jax.devices()
        X, y, ps, P = _batch(S=6)
        r = nt.train_gd_batched(P, X, y, eta=0.5, steps=12, record_every=3)
        np.savez({str(tmp_path / "out.npz")!r}, loss=np.asarray(r.loss), lam=np.asarray(r.history.lambda_min))
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=os.getcwd())
    out = np.load(tmp_path / "out.npz")
    # four devices against one: as in test_batched_runs_equal_single_runs
    np.testing.assert_allclose(out["loss"], np.asarray(here.loss), rtol=1e-12)
    np.testing.assert_allclose(out["lam"], np.asarray(here.history.lambda_min), **rel(np.float64))


def test_lanczos_lambda_min_tracks_eigvalsh_and_dense_fallback_is_exact(monkeypatch):
    from ntk_proofs.du2019 import training

    n, d, m = 40, 20, 256
    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), n)
    p = nt.init_params(jax.random.PRNGKey(2), m, d)
    exact = nt.train_gd(p, X, y, eta=0.5, steps=30, lambda_min_method="eigh")
    fast = nt.train_gd(p, X, y, eta=0.5, steps=30, lambda_min_method="lanczos")
    # a Ritz value bounds lambda_min from above; warm-started it stays within 1e-6 relative here
    lam_e, lam_f = np.asarray(exact.history.lambda_min), np.asarray(fast.history.lambda_min)
    # a Ritz value bounds lambda_min from above (Courant-Fischer), to round-off; 1e-6 relative is Lanczos' converged gap
    assert np.all(lam_f >= lam_e - F64) and np.max((lam_f - lam_e) / lam_e) < 1e-6
    # H(k) recomputed densely at every record (n <= DENSE_COUNTS_MAX_N), vs updated from the flipped entries
    # (budget n m) or densely past the budget (budget 0) when that shortcut is off
    dense_small_n = nt.train_gd(p, X, y, eta=0.5, steps=30, lambda_min_method="eigh")
    monkeypatch.setattr(training, "DENSE_COUNTS_MAX_N", 0)
    sparse = nt.train_gd(p, X, y, eta=0.5, steps=30, lambda_min_method="eigh", flip_budget=n * m)
    dense = nt.train_gd(p, X, y, eta=0.5, steps=30, lambda_min_method="eigh", flip_budget=0)
    # H(k) by counts updated or recomputed: integer counts, so the same matrix; eigh's ulps, tighter than the table
    np.testing.assert_allclose(sparse.history.lambda_min, dense.history.lambda_min, rtol=1e-12)
    np.testing.assert_allclose(dense_small_n.history.lambda_min, dense.history.lambda_min, rtol=1e-12)
    assert float(dense.history.lambda_min[0]) == pytest.approx(float(nt.lambda_min(nt.gram_matrix(p.W, X))), rel=1e-12)
    with pytest.raises(ValueError, match="lambda_min_method"):
        nt.train_gd(p, X, y, eta=0.5, steps=3, lambda_min_method="power")


def test_batched_input_errors():
    X, y, ps, P = _batch()
    with pytest.raises(ValueError, match="leading batch"):
        nt.train_gd_batched(P, X[:2], y, eta=0.5, steps=3)
    with pytest.raises(ValueError, match="Expected"):
        nt.train_gd_batched(ps[0], X, y, eta=0.5, steps=3)


SHARDED = r"""
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import jax, numpy as np, ntk_proofs as nt
assert len(jax.devices()) == 4
n, d, m = 12, 8, 128
X = nt.unit_sphere(jax.random.PRNGKey(0), n, d)
y = nt.gaussian_labels(jax.random.PRNGKey(1), n)
p = nt.init_params(jax.random.PRNGKey(2), m, d)
lam0 = nt.lambda_zero(X)
for form in ("weights", "kernel"):
    kw = dict(eta=0.5, steps=15, certify_lambda0=lam0, step_form=form)
    one = nt.train_gd(p, X, y, **kw)
    four = nt.train_gd(p, X, y, mesh=nt.width_mesh(), **kw)
    assert four.params.W.sharding.shard_shape((m, d)) == (m // 4, d), four.params.W.sharding
    # float32 rtol 1e-6 on the loss; the others with atol on their own scale (sums in another order)
    np.testing.assert_allclose(four.loss, one.loss, rtol=1e-6, atol=1e-7 * float(one.loss[0]))
    W1 = np.asarray(one.params.W)
    np.testing.assert_allclose(four.params.W, W1, rtol=1e-6, atol=1e-6 * np.abs(W1).max())
    h1, h4 = one.history, four.history
    np.testing.assert_allclose(h4.lambda_min, h1.lambda_min, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(h4.flip_fraction, h1.flip_fraction)
    np.testing.assert_allclose(h4.max_drift, h1.max_drift, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(h4.certified, h1.certified)
try:
    nt.train_gd(nt.init_params(jax.random.PRNGKey(2), 130, d), X, y, eta=0.5, steps=2, mesh=nt.width_mesh())
except ValueError as e:
    assert "multiple of the 4 devices" in str(e)
else:
    raise AssertionError("an uneven width was accepted")
print("ok")
"""


@pytest.mark.slow
def test_one_wide_net_sharded_over_four_devices_matches_the_single_device_run():
    """train_gd with the neurons split over 4 CPU devices (a subprocess: the device count is fixed at start-up)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)  # float32, the precision the tolerance is stated for
    done = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr
