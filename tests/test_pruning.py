"""Training loops, stable-step bisection, quadratic rates, pruning masks, normalization layers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ntk_proofs as nt
from ntk_proofs.stability import quadratic_gd_errors
from tests.tolerances import RTOL_F64


def _task(n=40, d=5):
    X = nt.unit_sphere(jax.random.PRNGKey(0), n, d)
    return X, nt.gaussian_labels(jax.random.PRNGKey(1), n)


def test_full_batch_train_with_sgd_equals_gd_trajectory():
    X, y = _task()
    net = nt.MLP((5, 16, 1), bias_var=0.1)
    p0 = net.init(jax.random.PRNGKey(2))
    a = nt.gd_trajectory(net.apply, p0, X, y, optimizer=optax.sgd(0.1), steps=15)
    # the summed loss 0.5 ||f - y||^2 with eta is the mean loss with eta * n: the same path
    b = nt.gd_trajectory(
        lambda p, x: net.apply(p, x) / np.sqrt(X.shape[0]),
        p0,
        X,
        y / np.sqrt(X.shape[0]),
        eta=0.1 * X.shape[0],
        steps=15,
    )
    np.testing.assert_allclose(a.loss, b.loss * X.shape[0], rtol=1e-10)


def test_mask_keeps_pruned_weights_at_zero_and_magnitude_mask_prunes_the_smallest():
    X, y = _task()
    net = nt.MLP((5, 16, 1))
    p0 = net.init(jax.random.PRNGKey(3))
    mask = nt.magnitude_mask(p0, jax.tree.map(jnp.ones_like, p0), 0.5)
    assert nt.sparsity(mask) == pytest.approx(0.5, abs=0.02)
    W, M = np.asarray(p0[0].W), np.asarray(mask[0].W)
    assert np.abs(W[M == 0]).max() <= np.abs(W[M == 1]).min()
    assert float(jnp.min(mask[0].b)) == 1.0  # biases never pruned
    run = nt.gd_trajectory(net.apply, p0, X, y, optimizer=optax.adam(1e-2), steps=20, mask=mask)
    assert float(jnp.max(jnp.abs(run.params[0].W * (1 - mask[0].W)))) == 0.0
    again = nt.magnitude_mask(p0, mask, 0.5)
    assert nt.sparsity(again) == pytest.approx(0.75, abs=0.02)


def test_largest_stable_step_on_a_quadratic_is_two_over_curvature():
    """GD on 0.5 * 4 x^2: stable (loss never above twice its start, ending lower) iff eta < 2/4 = 0.5."""

    def run(eta):
        x, losses = 1.0, []
        for _ in range(50):
            losses.append(2.0 * x * x)
            x = x - eta * 4.0 * x
        losses.append(2.0 * x * x)
        return np.asarray(losses)

    eta = nt.largest_stable_step(run, 1e-3, 10.0, iterations=30)
    assert eta == pytest.approx(0.5, rel=1e-3) and eta < 0.5


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_gd_rate_on_quadratic_matches_closed_form(kappa):
    A = jnp.diag(jnp.array([1.0, kappa]))
    x = jnp.array([1.0, 1.0])
    eta, norms = 2.0 / (1.0 + kappa), []
    for _ in range(30):
        norms.append(float(jnp.linalg.norm(x)))
        x = x - eta * (A @ x)
    assert nt.measured_rate(norms) == pytest.approx(nt.quadratic_gd_rate(kappa), rel=1e-9)
    # the driver's run of the same GD gives the same error history
    driven = quadratic_gd_errors(A, jnp.array([1.0, 1.0]), eta=eta, steps=29)
    np.testing.assert_allclose(driven, norms, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind,axis", [("batch", 0), ("layer", 1)])
def test_normalization_standardizes_hidden_preactivations(kind, axis):
    X, _ = _task()
    net = nt.MLP((5, 32, 32, 1), normalization=kind)
    _, pre = net.forward(net.init(jax.random.PRNGKey(0)), X)
    for z in pre[:-1]:
        np.testing.assert_allclose(np.asarray(jnp.mean(z, axis=axis)), 0.0, rtol=RTOL_F64, atol=1e-10)
        np.testing.assert_allclose(np.asarray(jnp.var(z, axis=axis)), 1.0, rtol=1e-3)
    with pytest.raises(ValueError, match="normalization"):
        nt.MLP((2, 3, 1), normalization="group")


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
