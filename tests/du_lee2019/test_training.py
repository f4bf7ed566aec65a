import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du_lee2019.bounds import resnet_perturbation_radius
from ntk_proofs.du_lee2019.models import DeepNet, init_deep
from ntk_proofs.du_lee2019.training import deep_theorem_monitor, train_deep
from tests.du_lee2019 import reference
from tests.tolerances import F32, F64, RTOL_F64

N, D, DEPTH, ETA, STEPS, EVERY = 8, 5, 2, 0.1, 60, 20


def _problem(dtype=jnp.float64):
    X = nt.unit_sphere(jax.random.PRNGKey(1), N, D, dtype)
    return X, nt.gaussian_labels(jax.random.PRNGKey(2), N, dtype)


@functools.lru_cache(maxsize=None)
def _run(architecture, m, dtype=jnp.float64):
    X, y = _problem(dtype)
    return train_deep(jax.random.PRNGKey(3), X, y, DeepNet(architecture, DEPTH), m, ETA, STEPS, EVERY)


def _numpy_lambda_min(params, architecture):
    X, _ = _problem()
    return np.linalg.eigvalsh(reference.gram(params, X, architecture, "softplus"))[0]


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
def test_gd_lowers_the_loss_and_records_what_the_proof_tracks(architecture):
    res = _run(architecture, 128)
    loss = np.asarray(res.loss)
    assert loss.shape == (STEPS + 1,) and res.diverged_step == -1
    assert loss[-1] < 0.5 * loss[0]
    h = res.history
    np.testing.assert_array_equal(np.asarray(h.step), [0, 20, 40, 60])
    np.testing.assert_allclose(np.asarray(h.loss), loss[[0, 20, 40, 60]], rtol=RTOL_F64, atol=0)
    # lambda_min(G^(H)) at the first and last records against float64 NumPy from the parameters alone
    lam = np.asarray(h.lambda_min)
    np.testing.assert_allclose(lam[0], _numpy_lambda_min(res.initial_params, architecture), rtol=0, atol=F64)
    np.testing.assert_allclose(lam[-1], _numpy_lambda_min(res.params, architecture), rtol=0, atol=F64)
    # the certificate is sound (a proof implies the inequality) and, with room to spare, complete
    floor = res.lambda0 / 2
    certified = np.asarray(h.certified)
    assert np.all(lam[certified] >= floor) and np.all(certified[lam > 1.1 * floor])
    assert np.all(np.asarray(h.margin)[certified] > 0) and np.all(np.isinf(np.asarray(h.margin)[~certified]))
    # drift per layer, and of a (trained: it moves)
    drift = [np.linalg.norm(np.asarray(w) - np.asarray(w0)) for w, w0 in zip(res.params.W, res.initial_params.W)]
    np.testing.assert_allclose(np.asarray(h.layer_drift)[-1], drift, rtol=RTOL_F64, atol=F64)
    np.testing.assert_array_equal(np.asarray(h.layer_drift)[0], 0.0)
    out = np.linalg.norm(np.asarray(res.params.a) - np.asarray(res.initial_params.a))
    assert out > 0 and abs(float(h.output_drift[-1]) - out) < F64


def test_the_monitor_reports_the_papers_conclusions_on_a_wide_run():
    fc, res = _run("fc", 128), _run("resnet", 128)
    for run in (fc, res):
        mon = deep_theorem_monitor(run, run.lambda0, ETA)
        assert mon.lambda_min_floor.held and mon.activation_within_hypotheses
        assert mon.max_layer_drift.shape == (DEPTH,)
    mon = deep_theorem_monitor(fc, fc.lambda0, ETA)
    assert mon.layer_drift is None and mon.radius is None  # no FC radius in the transcription
    mon = deep_theorem_monitor(res, res.lambda0, ETA)
    assert mon.radius == pytest.approx(resnet_perturbation_radius(N, res.lambda0, DEPTH))
    assert mon.layer_drift is not None and len(mon.layer_drift) == DEPTH
    assert deep_theorem_monitor(res, res.lambda0, ETA, radius=None).layer_drift is None


def test_the_monitor_names_the_first_failing_step_on_a_narrow_net():
    """m = 2: G^(H) = (P P^T) * (S S^T) has rank <= 4 < n = 8, so lambda_min(G^(H)(0)) = 0 < lambda_0 / 2 and the
    floor fails at step 0; the envelope's first failure is recomputed from the loss in NumPy."""
    run = _run("fc", 2)
    mon = deep_theorem_monitor(run, run.lambda0, ETA)
    assert _numpy_lambda_min(run.initial_params, "fc") < run.lambda0 / 2
    assert mon.lambda_min_floor.first_failure == 0 and not mon.lambda_min_floor.held and not mon.held
    loss = np.asarray(run.loss, np.float64)
    envelope = loss[0] * (1 - ETA * run.lambda0 / 2) ** np.arange(loss.size)
    above = np.flatnonzero(loss[1:] > envelope[1:] * (1 + 10 * np.finfo(np.float64).eps)) + 1
    assert mon.loss_envelope.first_failure == (int(above[0]) if above.size else -1)
    # lambda_0 = 1 / eta, far above the data's: the envelope 2^-k L(0) fails at step 1, and the floor (no longer the
    # run's certificate) where the eigenvalue is below it
    big = 1 / ETA
    strict = deep_theorem_monitor(_run("fc", 128), big, ETA)
    assert strict.loss_envelope.first_failure == 1
    lam = np.asarray(_run("fc", 128).history.lambda_min)
    below = np.flatnonzero(lam < big / 2)
    assert strict.lambda_min_floor.first_failure == (int(below[0]) * EVERY if below.size else -1)


def test_float32_run_starts_where_the_float64_run_does():
    r32, r64 = _run("fc", 128, jnp.float32), _run("fc", 128)
    assert r32.loss.dtype == jnp.float32 and r32.history.lambda_min.dtype == jnp.float32
    # lambda_0 is float64 whatever the run's dtype, from the float32 inputs (the rounding of the float64 ones)
    assert r32.lambda0 == pytest.approx(r64.lambda0, rel=F32)
    # eigenvalues of the same G^(H)(0) formed in float32 (entries O(1)): Weyl, ||dG||_2 <= n ulps ~ 1e-6 < F32
    np.testing.assert_allclose(float(r32.history.lambda_min[0]), float(r64.history.lambda_min[0]), rtol=0, atol=F32)
    assert float(r32.loss[-1]) < 0.5 * float(r32.loss[0])


def test_params_or_key_give_the_same_run_and_divergence_is_reported():
    X, y = _problem()
    net = DeepNet("fc", DEPTH)
    params = init_deep(jax.random.PRNGKey(3), net, 128, D)
    again = train_deep(params, X, y, net, None, ETA, STEPS, EVERY)
    np.testing.assert_array_equal(np.asarray(again.loss), np.asarray(_run("fc", 128).loss))
    with pytest.raises(nt.GradientDescentDiverged):
        train_deep(params, X, y, net, None, 1e3, STEPS, EVERY)
    report = train_deep(params, X, y, net, None, 1e3, STEPS, EVERY, on_divergence="report")
    assert report.diverged_step >= 0


def test_bad_inputs_raise_naming_the_argument():
    X, y = _problem()
    net = DeepNet("fc", DEPTH)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="norm"):
        train_deep(key, 2 * X, y, net, 8, ETA, 1)
    with pytest.raises(ValueError, match="m "):
        train_deep(key, X, y, net, None, ETA, 1)
    with pytest.raises(ValueError, match="depth"):
        train_deep(init_deep(key, DeepNet("fc", 3), 8, D), X, y, net, None, ETA, 1)
    with pytest.raises(ValueError, match="m = 16"):
        train_deep(init_deep(key, net, 8, D), X, y, net, 16, ETA, 1)
    with pytest.raises(ValueError, match="eta"):
        train_deep(key, X, y, net, 8, -1.0, 1)
    with pytest.raises(ValueError, match="lambda0"):
        train_deep(key, X, y, net, 8, ETA, 1, lambda0=-0.1)
    with pytest.raises(ValueError, match="net"):
        train_deep(key, X, y, "fc", 8, ETA, 1)
    with pytest.raises(ValueError, match="radius"):
        deep_theorem_monitor(_run("fc", 2), 0.1, ETA, radius="lemma")
