import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du_lee2019 import activations
from ntk_proofs.du_lee2019.models import DeepNet, forward, init_deep, loss, predict
from tests.du_lee2019 import reference
from tests.tolerances import TOLERANCES


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_c_sigma_by_quadrature_equals_the_closed_form(activation):
    """ReLU: E[relu(z)^2] = 1/2, c_sigma = 2; erf: E[erf(z)^2] = (2/pi) arcsin(2/3) (Williams 1997)."""
    closed = {"relu": 2.0, "erf": 1.0 / ((2 / np.pi) * np.arcsin(2 / 3))}[activation]
    quad = activations.c_sigma(activation, method="quadrature")
    np.testing.assert_allclose(quad, closed, **TOLERANCES["float64"])
    np.testing.assert_allclose(activations.c_sigma(activation, method="closed_form"), closed, rtol=0, atol=0)


@pytest.mark.parametrize("activation", ["softplus", "tanh", "relu", "erf"])
def test_c_sigma_against_adaptive_integration(activation):
    """Gauss-Hermite against scipy's adaptive quad of sigma(z)^2 phi(z), an independent integrator."""
    np.testing.assert_allclose(
        activations.c_sigma(activation, method="quadrature"), reference.c_sigma(activation), **TOLERANCES["float64"]
    )


def test_only_relu_is_outside_the_hypotheses():
    assert [DeepNet(activation=a).within_hypotheses for a in activations.ACTIVATIONS] == [True, True, True, False]


@pytest.mark.parametrize(
    "activation,architecture,dtype",
    [
        ("softplus", "fc", jnp.float32),
        ("softplus", "fc", jnp.float64),
        ("softplus", "resnet", jnp.float32),
        ("softplus", "resnet", jnp.float64),
        ("relu", "fc", jnp.float64),
        ("erf", "resnet", jnp.float64),
        ("tanh", "resnet", jnp.float32),
        ("tanh", "fc", jnp.float64),
    ],
)
def test_predict_matches_the_float64_reference_of_eqs_2_and_3(activation, architecture, dtype):
    net = DeepNet(architecture, 3, activation, c_res=0.3)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 7, 5, dtype)
    params = init_deep(jax.random.PRNGKey(1), net, 16, 5, dtype)
    u = predict(params, X, net)
    assert u.shape == (7,) and u.dtype == dtype
    ref = reference.predict(params, X, architecture, activation, c_res=0.3)
    np.testing.assert_allclose(np.asarray(u), ref, **TOLERANCES[jnp.dtype(dtype).name])
    y = jnp.arange(7, dtype=dtype) / 7
    np.testing.assert_allclose(
        float(loss(params, X, y, net)), 0.5 * np.sum((ref - np.asarray(y)) ** 2), **TOLERANCES[jnp.dtype(dtype).name]
    )


def test_init_is_standard_normal_with_the_papers_shapes_and_one_draw_per_precision():
    net = DeepNet("fc", 4)
    p64 = init_deep(jax.random.PRNGKey(3), net, 300, 6, jnp.float64)
    p32 = init_deep(jax.random.PRNGKey(3), net, 300, 6, jnp.float32)
    assert [w.shape for w in p64.W] == [(300, 6), (300, 300), (300, 300), (300, 300)] and p64.a.shape == (300,)
    np.testing.assert_array_equal(np.asarray(p32.W[1], np.float64), np.asarray(p64.W[1]))
    entries = np.concatenate([np.asarray(w).ravel() for w in p64.W])
    # 271,800 N(0, 1) draws: mean within 6 / sqrt(N) ~ 0.012 and variance within 6 sqrt(2 / N) ~ 0.016
    assert abs(entries.mean()) < 6 / np.sqrt(entries.size)
    assert abs(entries.var() - 1) < 6 * np.sqrt(2 / entries.size)


def test_depth_one_resnet_is_the_depth_one_fc_net():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 3)
    fc, res = DeepNet("fc", 1), DeepNet("resnet", 1)
    p = init_deep(jax.random.PRNGKey(1), fc, 9, 3)
    np.testing.assert_array_equal(np.asarray(predict(p, X, fc)), np.asarray(predict(p, X, res)))


def test_forward_keeps_every_layer():
    net = DeepNet("resnet", 3)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    p = init_deep(jax.random.PRNGKey(1), net, 8, 3)
    fwd = forward(p, X, net)
    assert len(fwd.features) == 4 and len(fwd.preactivations) == 3
    np.testing.assert_array_equal(np.asarray(fwd.features[0]), np.asarray(X))
    np.testing.assert_allclose(np.asarray(fwd.preactivations[2]), np.asarray(fwd.features[2] @ p.W[2].T), rtol=0)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(depth=0), "depth"),
        (dict(depth=2.5), "depth"),
        (dict(activation="gelu"), "activation"),
        (dict(architecture="cnn"), "architecture"),
        (dict(architecture="resnet", c_res=1.5), "c_res"),
        (dict(architecture="resnet", c_res=0.0), "c_res"),
    ],
)
def test_bad_architecture_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DeepNet(**kwargs)


def test_bad_widths_and_methods_raise_naming_the_argument():
    with pytest.raises(ValueError, match="m must"):
        init_deep(jax.random.PRNGKey(0), DeepNet(), 0, 3)
    with pytest.raises(ValueError, match="method"):
        activations.c_sigma("softplus", method="closed_form")
    with pytest.raises(ValueError, match="activation"):
        activations.c_sigma("swish")
    with pytest.raises(ValueError, match="nodes"):
        activations.gauss_hermite(400)
