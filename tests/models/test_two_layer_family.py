"""The two-layer family (ntk_proofs.models.two_layer.TwoLayerFamily): alpha, gamma, erf, trained a; its closed-form
gradient and tangent kernel, its symmetric initialization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from ntk_proofs.models.two_layer import init_family
from tests.regimes.helpers import VARIANTS
from tests.regimes.helpers import data as _data
from tests.tolerances import tol


@pytest.mark.parametrize("family", VARIANTS, ids=str)
def test_closed_form_gradient_equals_autodiff_and_gram_equals_the_tangent_kernel(family):
    X, y = _data(1, 6, 4)
    p = nt.init_params(jax.random.PRNGKey(3), 32, 4)
    value, grad = family.value_and_grad(p, X, y)
    auto_value, auto = jax.value_and_grad(family.loss)(p, X, y)
    np.testing.assert_allclose(value, auto_value, **tol(np.float64))
    np.testing.assert_allclose(grad.W, auto.W, **tol(np.float64))
    np.testing.assert_allclose(grad.a, auto.a if family.train_a else 0 * auto.a, **tol(np.float64))
    # H(k) times kernel_scale(m) is J J^T / alpha^2, J the Jacobian of u in the trained parameters
    J = jax.jacobian(family.predict)(p, X)
    JJ = jnp.einsum("imd,jmd->ij", J.W, J.W) + (J.a @ J.a.T if family.train_a else 0)
    np.testing.assert_allclose(family.gram(p, X) * family.kernel_scale(32), JJ / family.alpha**2, **tol(np.float64))


@given(seed=st.integers(0, 10**6))
def test_symmetric_initialization_starts_at_zero_output(seed):
    X, _ = _data(seed, 5, 4)
    p = init_family(jax.random.PRNGKey(seed), 16, 4, symmetric=True)
    for family in VARIANTS:
        np.testing.assert_allclose(family.predict(p, X), 0.0, **tol(np.float64))
