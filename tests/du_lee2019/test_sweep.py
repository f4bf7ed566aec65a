"""Batched, width-padded GD runs of the deep nets (ntk_proofs.du_lee2019.sweep) against the single runs of
``train_deep`` on the unpadded nets, and the criteria of the critical width against the theorem monitor."""

import jax
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du_lee2019.models import DeepNet, forward
from ntk_proofs.du_lee2019.sweep import (
    deep_outcomes,
    init_deep_batched,
    padded_params,
    practical_step,
    train_deep_batched,
)
from ntk_proofs.du_lee2019.training import deep_theorem_monitor, train_deep
from tests.tolerances import tol

N, D, DEPTH, M, PAD, SEEDS, STEPS, ETA = 6, 4, 2, 8, 16, 3, 12, 0.1


def _problem():
    X = nt.unit_sphere(jax.random.PRNGKey(1), N, D)
    return X, nt.gaussian_labels(jax.random.PRNGKey(2), N)


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
def test_the_padded_net_is_the_net_of_its_first_m_neurons(architecture):
    X, _ = _problem()
    net = DeepNet(architecture, DEPTH)
    params = init_deep_batched(jax.random.PRNGKey(0), net, M, D, 1)
    one = jax.tree.map(lambda v: v[0], params)
    padded, mask = padded_params(one, PAD)
    got = forward(padded, X, net, mask, np.asarray(M))
    want = forward(one, X, net)
    np.testing.assert_allclose(np.asarray(got.outputs), np.asarray(want.outputs), **tol())
    for g, w in zip(got.features[1:], want.features[1:]):  # the padded neurons' features are exactly 0
        np.testing.assert_allclose(np.asarray(g)[:, :M], np.asarray(w), **tol())
        np.testing.assert_array_equal(np.asarray(g)[:, M:], 0.0)


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
def test_each_padded_batched_run_is_train_deep_on_its_own(architecture):
    X, y = _problem()
    net = DeepNet(architecture, DEPTH)
    lambda0 = nt.lambda_zero_deep(X, net)
    batch = init_deep_batched(jax.random.PRNGKey(0), net, M, D, SEEDS)
    padded, _ = padded_params(batch, PAD)
    run = train_deep_batched(padded, X, y, net, eta=ETA, steps=STEPS, lambda0=lambda0, width=M)
    for s in range(SEEDS):
        alone = train_deep(jax.tree.map(lambda v: v[s], batch), X, y, net, None, ETA, STEPS, 1, lambda0)
        np.testing.assert_allclose(np.asarray(run.loss[s]), np.asarray(alone.loss), **tol())
        for field in ("lambda_min", "layer_drift", "output_drift"):
            np.testing.assert_allclose(
                np.asarray(getattr(run.history, field)[s]), np.asarray(getattr(alone.history, field)), **tol()
            )
        np.testing.assert_array_equal(np.asarray(run.history.certified[s]), np.asarray(alone.history.certified))
        for w, w_alone in zip(run.params.W, alone.params.W):  # the padding never moves
            np.testing.assert_allclose(np.asarray(w[s])[:M, : w_alone.shape[1]], np.asarray(w_alone), **tol())
        np.testing.assert_array_equal(np.asarray(run.params.a[s])[M:], 0.0)


def test_the_criteria_agree_with_the_theorem_monitor_of_each_run():
    X, y = _problem()
    net = DeepNet("fc", DEPTH)
    lambda0 = nt.lambda_zero_deep(X, net)
    eta, top = practical_step(X, net, 32, key=jax.random.PRNGKey(5))
    assert eta == pytest.approx(1 / top) and top > 0
    key, steps = jax.random.PRNGKey(7), 150
    out = deep_outcomes(
        X,
        y,
        net,
        M,
        key=key,
        seeds=SEEDS,
        eta=eta,
        lambda0=lambda0,
        max_steps=steps,
        tol=1e-2,
        chunk=40,
        padded_width=PAD,
    )
    batch = init_deep_batched(key, net, M, D, SEEDS)
    for s in range(SEEDS):
        alone = train_deep(jax.tree.map(lambda v: v[s], batch), X, y, net, None, eta, steps, 1, lambda0)
        loss = np.asarray(alone.loss)
        below = np.flatnonzero(loss <= 1e-2 * loss[0])
        end = int(below[0]) if below.size else steps
        assert out.converged[s] == bool(below.size) and out.end_step[s] == end
        cut = alone._replace(
            loss=alone.loss[: end + 1],
            record_steps=alone.record_steps[: end + 1],
            history=jax.tree.map(lambda v: v[: end + 1], alone.history),
        )
        mon = deep_theorem_monitor(cut, lambda0, eta, radius=None)
        assert out.linear[s] == mon.loss_envelope.held
        assert out.trajectory[s] == (bool(below.size) and mon.lambda_min_floor.held)
        lam = np.asarray(alone.history.lambda_min)[: end + 1]
        assert out.min_ratio[s] == pytest.approx(lam.min() / (lambda0 / 2), rel=1e-9)
        drift = np.asarray(alone.history.layer_drift)[: end + 1].max(axis=0) / np.sqrt(M)
        np.testing.assert_allclose(out.layer_drift[s], drift, **tol())


def test_bad_arguments_raise_naming_them():
    X, y = _problem()
    net = DeepNet("fc", DEPTH)
    batch = init_deep_batched(jax.random.PRNGKey(0), net, M, D, 1)
    with pytest.raises(ValueError, match="padded width"):
        padded_params(batch, M - 1)
    with pytest.raises(ValueError, match="width"):
        train_deep_batched(batch, X, y, net, eta=ETA, steps=1, lambda0=0.1, width=M + 1)
    with pytest.raises(ValueError, match="lambda0"):
        train_deep_batched(batch, X, y, net, eta=ETA, steps=1, lambda0=-1.0)
    with pytest.raises(ValueError, match="tol"):
        deep_outcomes(X, y, net, M, key=jax.random.PRNGKey(0), seeds=1, eta=ETA, lambda0=0.1, max_steps=5, tol=2.0)
