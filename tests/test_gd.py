"""The one gradient-descent driver (ntk_proofs.gd): against explicit loops, and its recorders, minibatches,
masks, divergence detection and optax extra arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs import gd
from ntk_proofs.du2019.training import flips_per_step
from ntk_proofs.models.two_layer import activation_pattern
from tests.tolerances import ULPS_F64, rel, tol


def _quadratic(seed, dim=5):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    A = jnp.asarray(Q @ np.diag(rng.uniform(0.5, 3.0, dim)) @ Q.T)
    b = jnp.asarray(rng.normal(size=dim))
    return A, b, lambda x: 0.5 * x @ (A @ x) - b @ x


@given(seed=st.integers(0, 10**6), steps=st.integers(0, 9), every=st.integers(0, 4))
def test_driver_equals_an_explicit_loop_and_records_at_the_stated_steps(seed, steps, every):
    A, b, loss = _quadratic(seed)
    x0 = jnp.zeros(5)
    run = gd.run(loss, x0, steps=steps, eta=0.2, record_every=every, recorder=gd.Norm(), grad_norms=True)
    x, losses, norms, gsq = x0, [], [], []
    for _ in range(steps):
        g = A @ x - b
        losses.append(float(loss(x)))
        norms.append(float(jnp.linalg.norm(x)))
        gsq.append(float(g @ g))
        x = x - 0.2 * g
    losses.append(float(loss(x)))
    norms.append(float(jnp.linalg.norm(x)))
    np.testing.assert_allclose(run.loss, losses, **tol(np.float64))
    np.testing.assert_allclose(run.params, x, **tol(np.float64))
    np.testing.assert_allclose(run.grad_norm_sq, gsq, **tol(np.float64))
    expected = [0, *range(every, steps, every), steps] if every else [steps]
    np.testing.assert_array_equal(run.record_steps, sorted(set(expected)))
    np.testing.assert_allclose(run.records, np.asarray(norms)[run.record_steps], **tol(np.float64))
    assert run.diverged_step == -1


def test_a_minibatch_of_every_point_is_full_batch_gd_and_smaller_batches_differ():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 24, 4)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 24)
    net = nt.MLP((4, 8, 1))
    p0 = net.init(jax.random.PRNGKey(2))
    full = nt.gd_trajectory(net.apply, p0, X, y, eta=0.05, steps=10)
    every = nt.gd_trajectory(net.apply, p0, X, y, eta=0.05, steps=10, batch_size=24, key=jax.random.PRNGKey(3))
    half = nt.gd_trajectory(net.apply, p0, X, y, eta=0.05, steps=10, batch_size=12, key=jax.random.PRNGKey(3))
    np.testing.assert_allclose(every.loss, full.loss, **tol(np.float64))  # a permutation of the same sum
    assert not np.allclose(half.loss[1:], full.loss[1:], rtol=1e-6)  # a difference far above round-off: 1e-6
    # the recorded loss is the full-batch loss of the minibatch iterate
    np.testing.assert_allclose(half.loss[-1], nt.gd.squared_error(net.apply, X, y)(half.params), **tol(np.float64))
    with pytest.raises(ValueError, match="key"):
        nt.gd_trajectory(net.apply, p0, X, y, eta=0.05, steps=1, batch_size=12)


def test_divergence_is_reported_with_its_step_never_as_nan():
    loss = lambda x: 2.0 * x @ x  # noqa: E731  curvature 4: GD is stable iff eta < 0.5
    with pytest.raises(nt.GradientDescentDiverged) as info:
        gd.run(loss, jnp.ones(3), steps=2000, eta=0.6)
    assert info.value.step > 0
    run = gd.run(loss, jnp.ones(3), steps=30, eta=0.6, divergence_factor=100.0, on_divergence="report")
    # |1 - 4 eta| = 1.4 per step, loss x 1.96: above 100 L(0) first at k = 7 (1.96^7 = 111)
    assert run.diverged_step == 7
    assert gd.run(loss, jnp.ones(3), steps=30, eta=0.4).diverged_step == -1
    with pytest.raises(TypeError, match="Recorder"):
        gd.run(loss, jnp.ones(3), steps=3, eta=0.4, recorder=object())


def test_objective_and_recorder_protocols_are_the_seams():
    """The dataclasses of the suite implement the protocols; scan returns a named result."""
    assert isinstance(gd.SquaredError(lambda p, x: x @ p), gd.Objective)
    assert isinstance(gd.Loss(lambda p: p @ p), gd.Objective)
    assert isinstance(gd.Norm(), gd.Recorder) and isinstance(gd.Outputs(lambda p, x: x), gd.Recorder)
    assert not isinstance(lambda p: p @ p, gd.Objective)
    out = gd.scan(
        gd.Loss(lambda x: x @ x), optax.sgd(0.1), jnp.ones(2), (), steps=3, recorder=gd.Norm(), record_every=1
    )
    assert isinstance(out, gd.ScanResult) and out.loss.shape == (4,) and out.records.shape == (4,)
    assert int(out.diverged_step) == -1


def test_optax_extra_arguments_reach_the_optimizer_so_a_line_search_works():
    A, b, loss = _quadratic(7)
    tx = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=30))
    run = gd.run(loss, jnp.zeros(5), steps=200, optimizer=tx)
    assert np.all(np.diff(np.asarray(run.loss)) <= tol(run.loss)["atol"])  # Armijo: never up, to round-off
    # 200 line-search steps from 0 on a condition number <= 6: converged to 1e-6, not to round-off
    np.testing.assert_allclose(run.params, jnp.linalg.solve(A, b), rtol=1e-6, atol=1e-6)


def test_bad_arguments_say_what_to_fix():
    with pytest.raises(ValueError, match="exactly one"):
        gd.run(lambda x: x @ x, jnp.ones(2), steps=1)
    with pytest.raises(ValueError, match="eta"):
        gd.run(lambda x: x @ x, jnp.ones(2), steps=1, eta=-1.0)
    with pytest.raises(ValueError, match="steps"):
        gd.run(lambda x: x @ x, jnp.ones(2), steps=-1, eta=0.1)
    with pytest.raises(ValueError, match="sample needs a key"):
        gd.run(lambda x: x @ x, jnp.ones(2), steps=1, eta=0.1, sample=gd.minibatches(1))


def test_flips_per_step_counts_the_pattern_changes_of_an_explicit_gd_loop():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 20, 10)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 20)
    p = nt.init_params(jax.random.PRNGKey(2), 64, 10)
    W, old, expected = p.W, np.asarray(activation_pattern(p.W, X)), []
    for _ in range(6):
        W = W - 0.5 * nt.loss_gradient(nt.Params(W, p.a), X, y)
        new = np.asarray(activation_pattern(W, X))
        expected.append(int((new != old).sum()))
        old = new
    np.testing.assert_array_equal(flips_per_step(p, X, y, eta=0.5, steps=6), expected)
    assert sum(expected) > 0


def test_single_threaded_lapack_limits_openblas_inside_and_restores_it_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from ntk_proofs.linalg import single_threaded_lapack

    jnp.linalg.cholesky(jnp.eye(3)).block_until_ready()  # LAPACK (OpenBLAS) is loaded
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with single_threaded_lapack():
        inside = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        np.testing.assert_allclose(jnp.linalg.cholesky(4 * jnp.eye(2)), 2 * np.eye(2), **ULPS_F64)
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert all(t == 1 for t in inside) and after == before


def test_full_batch_train_with_sgd_equals_gd_trajectory():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 40, 5)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 40)
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
    np.testing.assert_allclose(a.loss, b.loss * X.shape[0], **rel(a.loss))


@given(
    record=st.lists(st.sampled_from([0.0, -0.0, 1.5, -2.0, 3e38, -3e38, np.inf, -np.inf, np.nan]), max_size=4),
    param=st.sampled_from([0.0, -1.25, 7.0, 1e-30, np.inf, -np.inf]),
)
def test_ordering_params_after_the_record_leaves_every_parameter_as_it_was(record, param):
    # gd.after adds an exact zero (from the record) to the parameters, whatever the record holds; NaN only where the
    # parameter itself is NaN. Integer leaves pass through untouched.
    values = (jnp.asarray(record, jnp.float32), jnp.asarray(3, jnp.int32))
    params = (jnp.full((2,), param, jnp.float32), jnp.arange(2))
    out = jax.jit(gd.after)(values, params)
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(params[0]))  # == as floats: -0.0 may become +0.0
    assert out[1].dtype == params[1].dtype
    np.testing.assert_array_equal(np.asarray(out[1]), np.asarray(params[1]))


@pytest.mark.parametrize("step_form", ["kernel", "weights"])
def test_a_recorded_step_updates_the_weights_in_place_without_a_copy(step_form):
    # The record reads W(k) (or C(k)) for the drift while the update rewrites it: with the record ordered before
    # the update (gd.after) XLA needs no copy of the (n, m) / (m, d) variable inside the loop. Before gd.after the
    # CPU program copied it at every recorded step (the copy the benchmark's per-step overhead paid for).
    from ntk_proofs.du2019.training import trajectory

    n, d, m = 40, 48, 56
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(0), 3)
    X, y = nt.unit_sphere(kx, n, d), nt.gaussian_labels(ky, n)
    p = nt.init_params(kw, m, d)
    f = p.W.dtype.type
    compiled = trajectory.lower(
        p.W, p.a, X, y, f(0.1), f(10.0), f(0.1), steps=6, record_every=1, optimizer=None, lambda_method="lanczos",
        flip_budget=None, step_form=step_form, certify=True, track_kernel=False, certify_every=1,
    ).compile()  # fmt: skip
    shape = ("f64" if p.W.dtype == jnp.float64 else "f32") + ("[40,56]" if step_form == "kernel" else "[56,48]")
    lines = compiled.as_text().splitlines()
    # a copy of a loop-carried value (a get-tuple-element of the loop's state); the initial weights, which the
    # caller keeps, may be copied once outside the loop
    carried = [line for line in lines if f"= {shape}" in line and " copy(%get-tuple-element" in line]
    assert not carried, carried
