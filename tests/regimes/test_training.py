"""train_family (ntk_proofs.regimes.training): the default member is the Du et al. run, the KernelTracking
recorder, argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.models.two_layer import Params, TwoLayerFamily, init_family
from ntk_proofs.regimes.training import train_family, train_family_batched
from tests.regimes.helpers import data as _data
from tests.tolerances import tol


def test_the_default_member_is_the_du_et_al_net_bit_for_bit():
    X, y = _data(0, 8, 5)
    p = nt.init_params(jax.random.PRNGKey(2), 64, 5)
    assert TwoLayerFamily().is_du and not TwoLayerFamily(train_a=True).is_du
    np.testing.assert_array_equal(TwoLayerFamily().predict(p, X), nt.predict(p, X))
    np.testing.assert_allclose(
        TwoLayerFamily().value_and_grad(p, X, y)[1].W, nt.loss_gradient(p, X, y), **tol(np.float64)
    )  # eager against jitted: equal up to the order of float sums
    du = nt.train_gd(p, X, y, eta=0.5, steps=20, step_form="weights")
    fam = train_family(p, X, y, eta=0.5, steps=20)
    np.testing.assert_array_equal(fam.loss, du.loss)
    np.testing.assert_array_equal(fam.params.W, du.params.W)
    np.testing.assert_array_equal(fam.params.a, p.a)  # a stays fixed
    # the kernel recorder's lambda_min and drift are the Du et al. diagnostics'
    np.testing.assert_allclose(fam.records.lambda_min, du.history.lambda_min, **tol(np.float64))
    np.testing.assert_allclose(fam.records.max_drift, du.history.max_drift, **tol(np.float64))
    np.testing.assert_allclose(fam.records.flip_fraction, du.history.flip_fraction, **tol(np.float64))
    # train_gd's own recorder tracks the kernel too (track_kernel): the same sharpness and change
    tracked = nt.train_gd(p, X, y, eta=0.5, steps=20, step_form="weights", track_kernel=True)
    assert du.history.lambda_max is None and du.history.kernel_change is None
    np.testing.assert_allclose(tracked.history.lambda_max, fam.records.lambda_max, **tol(np.float64))
    np.testing.assert_allclose(tracked.history.kernel_change, fam.records.kernel_change, **tol(np.float64))
    H = nt.gram_matrix(tracked.params.W, X)
    H0 = nt.gram_matrix(p.W, X)
    np.testing.assert_allclose(tracked.history.lambda_max[-1], jnp.linalg.eigvalsh(H)[-1], **tol(np.float64))
    np.testing.assert_allclose(
        tracked.history.kernel_change[-1], jnp.linalg.norm(H - H0) / jnp.linalg.norm(H0), **tol(np.float64)
    )
    assert float(tracked.history.kernel_change[-1]) > 0
    # and the same initialization for the same key
    np.testing.assert_array_equal(init_family(jax.random.PRNGKey(2), 64, 5).W, p.W)


def test_family_arguments_are_checked():
    with pytest.raises(ValueError, match="activation"):
        TwoLayerFamily(activation="tanh")
    with pytest.raises(ValueError, match="gamma"):
        TwoLayerFamily(gamma=0.7)
    with pytest.raises(ValueError, match="alpha"):
        TwoLayerFamily(alpha=0.0)
    with pytest.raises(ValueError, match="even"):
        init_family(jax.random.PRNGKey(0), 5, 3, symmetric=True)
    X, y = _data(0, 4, 3)
    p = nt.init_params(jax.random.PRNGKey(0), 8, 3)
    with pytest.raises(ValueError, match="step size"):
        train_family_batched(Params(p.W[None], p.a[None]), X, y, etas=[-1.0], steps=3)
    with pytest.raises(ValueError, match="columns"):
        train_family(nt.init_params(jax.random.PRNGKey(0), 8, 5), X, y, eta=0.1, steps=3)


def test_kernel_tracking_starts_at_h0_and_measures_the_motion():
    X, y = _data(3, 6, 4)
    family = TwoLayerFamily(activation="erf", train_a=True)
    p = nt.init_params(jax.random.PRNGKey(5), 48, 4)
    run = train_family(p, X, y, family=family, eta=0.3, steps=12, record_every=4)
    H0 = family.gram(p, X)
    eig = np.linalg.eigvalsh(np.asarray(H0))
    np.testing.assert_allclose(run.records.lambda_max[0], eig[-1], **tol(np.float64))
    np.testing.assert_allclose(run.records.lambda_min[0], eig[0], **tol(np.float64))
    assert float(run.records.kernel_change[0]) == 0 and float(run.records.max_drift[0]) == 0
    H = family.gram(run.params, X)
    np.testing.assert_allclose(
        run.records.kernel_change[-1], jnp.linalg.norm(H - H0) / jnp.linalg.norm(H0), **tol(np.float64)
    )
    np.testing.assert_allclose(
        run.records.max_drift[-1], jnp.max(jnp.linalg.norm(run.params.W - p.W, axis=1)), **tol(np.float64)
    )
    np.testing.assert_allclose(run.records.output_drift[-1], jnp.max(jnp.abs(run.params.a - p.a)), **tol(np.float64))
    assert float(run.records.output_drift[-1]) > 0  # a is trained
    np.testing.assert_array_equal(run.record_steps, [0, 4, 8, 12])
