"""The multilayer perceptron (ntk_proofs.models.mlp): its normalization layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from tests.tolerances import tol


@pytest.mark.parametrize("kind,axis", [("batch", 0), ("layer", 1)])
def test_normalization_standardizes_hidden_preactivations(kind, axis):
    X = nt.unit_sphere(jax.random.PRNGKey(0), 40, 5)
    net = nt.MLP((5, 32, 32, 1), normalization=kind)
    _, pre = net.forward(net.init(jax.random.PRNGKey(0)), X)
    for z in pre[:-1]:
        np.testing.assert_allclose(np.asarray(jnp.mean(z, axis=axis)), 0.0, **tol(z))
        # var / (var + 1e-5), the normalization's epsilon: 1e-3 covers a pre-activation variance down to 1e-2
        np.testing.assert_allclose(np.asarray(jnp.var(z, axis=axis)), 1.0, rtol=1e-3)
    with pytest.raises(ValueError, match="normalization"):
        nt.MLP((2, 3, 1), normalization="group")
