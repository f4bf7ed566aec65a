"""Pruning (ntk_proofs.pruning): magnitude masks, masked training, lottery tickets (Frankle & Carbin 2019)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ntk_proofs as nt


def _task(n=40, d=5):
    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d)
    return X, nt.gaussian_labels(jax.random.PRNGKey(1), n)


def test_mask_keeps_pruned_weights_at_zero_and_magnitude_mask_prunes_the_smallest():
    X, y = _task()
    net = nt.MLP((5, 16, 1))
    p0 = net.init(jax.random.PRNGKey(3))
    mask = nt.magnitude_mask(p0, jax.tree.map(jnp.ones_like, p0), 0.5)
    # not round-off: each layer prunes round(fraction * alive) weights, so an odd layer size moves the total by up
    # to half a weight per layer (0.02 covers that for any sizes of this net; here it happens to be exact)
    assert nt.sparsity(mask) == pytest.approx(0.5, abs=0.02)
    W, M = np.asarray(p0[0].W), np.asarray(mask[0].W)
    assert np.abs(W[M == 0]).max() <= np.abs(W[M == 1]).min()
    assert float(jnp.min(mask[0].b)) == 1.0  # biases never pruned
    run = nt.gd_trajectory(net.apply, p0, X, y, optimizer=optax.adam(1e-2), steps=20, mask=mask)
    assert float(jnp.max(jnp.abs(run.params[0].W * (1 - mask[0].W)))) == 0.0
    again = nt.magnitude_mask(p0, mask, 0.5)
    assert nt.sparsity(again) == pytest.approx(0.75, abs=0.02)  # the same per-layer rounding margin


def test_lottery_ticket_reports_each_sparsity_level():
    X, y = _task(60, 5)
    net = nt.MLP((5, 16, 1), bias_var=0.1)
    acc = lambda p: float(jnp.mean(jnp.sign(net.apply(p, X)) == jnp.sign(y)))  # noqa: E731
    tickets = nt.lottery_ticket(
        net.apply,
        net.init,
        acc,
        X,
        y,
        key=jax.random.PRNGKey(0),
        rounds=2,
        fraction=0.5,
        optimizer=optax.adam(1e-2),
        steps=30,
    )
    assert [round(t.sparsity, 2) for t in tickets] == [0.0, 0.5, 0.75]
    # round 0 is plain training of the dense net from its init: recompute it independently
    k0, _ = jax.random.split(jax.random.PRNGKey(0))
    dense = nt.gd_trajectory(net.apply, net.init(k0), X, y, optimizer=optax.adam(1e-2), steps=30, record_every=0).params
    assert tickets[0].rewound_accuracy == acc(dense)
    # and round 1 prunes half of its weights by magnitude
    expected = nt.magnitude_mask(dense, jax.tree.map(jnp.ones_like, dense), 0.5)
    for a, b in zip(jax.tree.leaves(tickets[1].mask), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(a, b)
