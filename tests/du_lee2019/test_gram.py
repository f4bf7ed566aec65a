import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du_lee2019.gram import gram_deep
from ntk_proofs.du_lee2019.models import DeepNet, init_deep, predict
from tests.du_lee2019 import reference
from tests.tolerances import TOLERANCES


def _last_layer_jacobian_gram(params, X, net):
    """G^(H)_ij = <du_i/dW^(H), du_j/dW^(H)> by autodiff: jax.jacobian of u in W^(H) alone, contracted."""

    def outputs(last):
        return predict(params._replace(W=params.W[:-1] + (last,)), X, net)

    J = jax.jacobian(outputs)(params.W[-1])  # (n, m, m_in)
    return jnp.einsum("iab,jab->ij", J, J)


@pytest.mark.parametrize(
    "architecture,depth,activation,dtype",
    [
        ("fc", 1, "relu", jnp.float32),
        ("resnet", 1, "relu", jnp.float64),
        ("fc", 2, "softplus", jnp.float32),
        ("resnet", 2, "softplus", jnp.float64),
        ("fc", 3, "erf", jnp.float64),
        ("resnet", 3, "erf", jnp.float32),
    ],
)
def test_gram_is_the_jacobian_contraction_of_the_last_hidden_layer(architecture, depth, activation, dtype):
    """Eq. (13) / (14) from explicit features against jax.jacobian restricted to W^(H)."""
    net = DeepNet(architecture, depth, activation)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 6, 4, dtype)
    params = init_deep(jax.random.PRNGKey(1), net, 12, 4, dtype)
    G = gram_deep(params, X, net)
    assert G.shape == (6, 6) and G.dtype == dtype
    tol = TOLERANCES[jnp.dtype(dtype).name]
    np.testing.assert_allclose(np.asarray(G), np.asarray(_last_layer_jacobian_gram(params, X, net)), **tol)


def test_gram_is_the_empirical_ntk_of_the_last_hidden_layer():
    """The same against ``nt.empirical_ntk`` of the model as a function of W^(H) only."""
    net = DeepNet("resnet", 3)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 4)
    params = init_deep(jax.random.PRNGKey(2), net, 10, 4)

    def f(last, x):
        return predict(params._replace(W=params.W[:-1] + (last,)), x, net)

    ntk = nt.empirical_ntk(f, params.W[-1], X)
    np.testing.assert_allclose(np.asarray(gram_deep(params, X, net)), np.asarray(ntk), **TOLERANCES["float64"])


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
@pytest.mark.parametrize("activation", ["softplus", "tanh"])
def test_gram_matches_the_neuron_by_neuron_float64_reference_and_is_symmetric_psd(architecture, activation):
    net = DeepNet(architecture, 3, activation)
    X = nt.unit_sphere(jax.random.PRNGKey(3), 7, 5)
    params = init_deep(jax.random.PRNGKey(4), net, 20, 5)
    G = np.asarray(gram_deep(params, X, net))
    ref = reference.gram(params, X, architecture, activation, c_res=net.c_res)
    np.testing.assert_allclose(G, ref, **TOLERANCES["float64"])
    np.testing.assert_array_equal(G, G.T)
    # PSD up to eigvalsh's round-off: a few hundred ulps of the largest eigenvalue
    assert np.linalg.eigvalsh(G)[0] >= -TOLERANCES["float64"]["atol"] * np.linalg.eigvalsh(G)[-1]


def test_depth_one_resnet_gram_is_the_fc_one():
    X = nt.unit_sphere(jax.random.PRNGKey(7), 5, 3)
    params = init_deep(jax.random.PRNGKey(8), DeepNet("fc", 1), 11, 3)
    np.testing.assert_array_equal(
        np.asarray(gram_deep(params, X, DeepNet("fc", 1))), np.asarray(gram_deep(params, X, DeepNet("resnet", 1)))
    )
