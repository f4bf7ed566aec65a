import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ntk_proofs as nt
from ntk_proofs.gd import recorded_steps
from tests import reference
from tests.tolerances import REFERENCE_F64, RTOL_F64, rel


def _problem(seed=0, n=10, d=6, m=40):
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(seed), 3)
    return nt.unit_sphere(kx, n, d), nt.gaussian_labels(ky, n), nt.init_params(kw, m, d)


@pytest.mark.parametrize("seed,m,n,d", [(0, 40, 10, 6), (1, 7, 10, 6), (2, 30, 12, 4)])
@pytest.mark.parametrize("form", ["weights", "kernel"])
def test_train_gd_matches_independent_float64_reference(seed, m, n, d, form):
    """Both step forms (W updated, or X W^T updated in the row space of X) are the reference's GD, n < or > 2d."""
    X, y, p = _problem(seed, n=n, d=d, m=m)
    eta, steps = 0.5, 25
    res = nt.train_gd(p, X, y, eta=eta, steps=steps, step_form=form)
    ref = reference.gd(p.W, p.a, X, y, eta, steps)
    assert res.loss.shape == (steps + 1,) and res.loss.dtype == jnp.float64
    np.testing.assert_allclose(res.loss, ref["loss"], rtol=REFERENCE_F64)
    np.testing.assert_allclose(res.params.W, ref["W"], rtol=REFERENCE_F64, atol=REFERENCE_F64)
    np.testing.assert_array_equal(res.params.a, p.a)
    np.testing.assert_array_equal(res.history.step, np.arange(steps + 1))
    np.testing.assert_allclose(res.history.lambda_min, ref["lambda_min"], rtol=RTOL_F64, atol=REFERENCE_F64)
    # flip fractions k / (n m), each correctly rounded by both codes: equal up to an ulp of 1, tighter than the table
    np.testing.assert_allclose(res.history.flip_fraction, ref["flip_fraction"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.history.max_drift, ref["max_drift"], rtol=REFERENCE_F64, atol=REFERENCE_F64)
    assert float(res.flip_fraction) == pytest.approx(ref["flip_fraction"][-1], abs=1e-15)
    assert abs(float(res.max_drift) - ref["max_drift"][-1]) < REFERENCE_F64
    assert abs(float(res.lambda_min) - ref["lambda_min"][-1]) < REFERENCE_F64
    assert res.diverged_step == -1


def test_float32_run_agrees_with_float64_reference():
    with jax.enable_x64(False):
        X, y, p = _problem(2)
        res = nt.train_gd(p, X, y, eta=0.5, steps=10)
        assert res.loss.dtype == jnp.float32 and res.params.W.dtype == jnp.float32
    ref = reference.gd(p.W, p.a, X, y, 0.5, 10)
    np.testing.assert_allclose(res.loss, ref["loss"], **rel(res.loss))  # the float32 table's rtol


@pytest.mark.parametrize("steps,every", [(10, 1), (10, 3), (10, 5), (10, 0), (7, 10), (0, 1)])
def test_record_every_changes_only_what_is_recorded(steps, every):
    X, y, p = _problem(3)
    full = nt.train_gd(p, X, y, eta=0.5, steps=steps, record_every=1)
    res = nt.train_gd(p, X, y, eta=0.5, steps=steps, record_every=every)
    expected = recorded_steps(steps, every)
    np.testing.assert_array_equal(res.history.step, expected)
    assert expected[-1] == steps and (every == 0 or expected[0] == 0)
    np.testing.assert_array_equal(res.loss, full.loss)
    np.testing.assert_array_equal(res.params.W, full.params.W)
    for field in ("lambda_min", "flip_fraction", "max_drift"):
        np.testing.assert_array_equal(getattr(res.history, field), getattr(full.history, field)[expected])


def test_same_seed_same_numbers():
    runs = [nt.train_gd(*_problem(4)[2:], *_problem(4)[:2], eta=0.3, steps=12) for _ in range(2)]
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        np.testing.assert_array_equal(a, b)


def test_explicit_optax_sgd_is_the_default_update():
    """The default (kernel form here, n < 2 d) and an explicit optax.sgd on W take the same steps."""
    X, y, p = _problem(5)
    a = nt.train_gd(p, X, y, eta=0.4, steps=8)
    b = nt.train_gd(p, X, y, eta=0.4, steps=8, optimizer=optax.sgd(0.4))
    # one program but for the update's form: the loss to 1e-14, W to 1e-13, drift 1e-12 (a square root of a sum),
    # all tighter than the table, kept from before it
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-14)
    np.testing.assert_allclose(a.params.W, b.params.W, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.history.max_drift, b.history.max_drift, rtol=1e-12)


def test_divergence_is_detected_and_the_step_reported():
    X, y, p = _problem(6)
    eta = 50.0 / float(nt.lambda_max(nt.gram_matrix(p.W, X)))
    with pytest.raises(nt.GradientDescentDiverged, match=r"diverged at step \d+") as info:
        nt.train_gd(p, X, y, eta=eta, steps=200)
    res = nt.train_gd(p, X, y, eta=eta, steps=200, on_divergence="report")
    k = res.diverged_step
    assert k == info.value.step and 0 < k < 200
    assert nt.train_gd(p, X, y, eta=eta, steps=200, raise_on_divergence=False).diverged_step == k  # the old flag
    loss, factor = np.asarray(res.loss), nt.gd.DIVERGENCE_FACTOR
    assert not (loss[k] <= factor * loss[0]) and np.all(loss[:k] <= factor * loss[0])
    # the one policy: a batch reports by default and raises on request, naming the same step
    batch = nt.Params(p.W[None], p.a[None])
    assert int(nt.train_gd_batched(batch, X[None], y[None], eta=eta, steps=200).diverged_step[0]) == k
    with pytest.raises(nt.GradientDescentDiverged, match=r"run 0 of the batch diverged|diverged at step") as info:
        nt.train_gd_batched(batch, X[None], y[None], eta=eta, steps=200, on_divergence="raise")
    assert info.value.step == k
    with pytest.raises(ValueError, match="on_divergence"):
        nt.train_gd(p, X, y, eta=eta, steps=2, on_divergence="ignore")


def test_bad_arguments_are_refused_with_a_clear_message():
    X, y, p = _problem(7)
    with pytest.raises(ValueError, match="positive finite step"):
        nt.train_gd(p, X, y, eta=0.0, steps=3)
    with pytest.raises(ValueError, match="positive finite step"):
        nt.train_gd(p, X, y, eta=float("nan"), steps=3)
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        nt.train_gd(p, X, y, eta=0.1, steps=-1)
    with pytest.raises(ValueError, match="d = 5 columns"):
        nt.train_gd(nt.init_params(jax.random.PRNGKey(0), 4, 5), X, y, eta=0.1, steps=3)
    with pytest.raises(ValueError, match="10 rows but y has 9"):
        nt.train_gd(p, X, y[:9], eta=0.1, steps=3)
    with pytest.raises(ValueError, match="unit sphere"):
        nt.train_gd(p, 3 * X, y, eta=0.1, steps=3)
    with pytest.raises(nt.AssumptionError, match="parallel"):
        nt.train_gd(p, X.at[1].set(X[0]), y, eta=0.1, steps=3)
    with pytest.raises(ValueError, match="NaN"):
        nt.train_gd(nt.Params(p.W.at[0, 0].set(jnp.nan), p.a), X, y, eta=0.1, steps=3)
    with pytest.raises(ValueError, match="plain GD only"):
        nt.train_gd(p, X, y, eta=0.1, steps=3, step_form="kernel", optimizer=optax.sgd(0.1, momentum=0.9))
    with pytest.raises(ValueError, match="step_form must be"):
        nt.train_gd(p, X, y, eta=0.1, steps=3, step_form="span")
