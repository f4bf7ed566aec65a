import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests.tolerances import MC_SIGMAS, rel


@given(n=st.sampled_from([1, 2, 40]), d=st.sampled_from([1, 3, 40]), seed=st.integers(0, 2**31 - 1))
def test_unit_sphere_rows_have_unit_norm(n, d, seed):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, d)
    assert X.shape == (n, d) and X.dtype == jnp.float64
    np.testing.assert_allclose(np.linalg.norm(np.asarray(X), axis=1), 1.0, **rel(X))


def test_unit_sphere_is_rotation_invariant_in_distribution():
    # Uniform on the sphere: E[x] = 0 and E[x x^T] = I / d; checked with 6-sigma Monte Carlo bounds.
    n, d = 20000, 5
    X = np.asarray(nt.unit_sphere(jax.random.PRNGKey(1), n, d))
    assert np.abs(X.mean(0)).max() < MC_SIGMAS * np.sqrt(1 / d / n)
    np.testing.assert_allclose(X.T @ X / n, np.eye(d) / d, rtol=0, atol=MC_SIGMAS * np.sqrt(2 / d**2 / n))


@pytest.mark.parametrize("n,d", [(0, 3), (3, 0), (-1, 2)])
def test_sizes_below_one_are_refused(n, d):
    with pytest.raises(ValueError, match="positive integer"):
        nt.unit_sphere(jax.random.PRNGKey(0), n, d)


def test_check_inputs_refuses_rows_off_the_sphere_and_can_normalize():
    X = 2.0 * nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    with pytest.raises(ValueError, match="unit sphere"):
        nt.check_inputs(X)
    Xn, _ = nt.check_inputs(X, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(Xn), axis=1), 1.0, **rel(Xn))


def test_check_inputs_names_shape_mismatches_and_bad_values():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 3)
    with pytest.raises(ValueError, match="5 rows but y has 4 labels"):
        nt.check_inputs(X, jnp.zeros(4))
    with pytest.raises(ValueError, match="vector of n labels"):
        nt.check_inputs(X, jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match="2-D"):
        nt.check_inputs(X[0])
    with pytest.raises(ValueError, match="n >= 1"):
        nt.check_inputs(jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        nt.check_inputs(X.at[1, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="NaN"):
        nt.check_inputs(X, jnp.array([0.0, 1.0, jnp.inf, 0.0, 0.0]))
    with pytest.raises(ValueError, match="zero vector"):
        nt.normalize_rows(X.at[2].set(0.0))


def test_duplicate_inputs_are_refused_with_the_pair_named():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 6, 4)
    X = X.at[4].set(X[1])
    with pytest.raises(nt.AssumptionError, match=r"X\[1\] and X\[4\] are parallel"):
        nt.check_inputs(X)
    with pytest.raises(nt.AssumptionError, match="lambda_0"):
        nt.lambda_zero(X)


def test_opposite_inputs_are_allowed_since_lambda0_stays_positive():
    # x and -x: H^inf_ij = -1 * (pi - pi) / (2 pi) = 0, so H^inf stays positive definite.
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 4)
    X = X.at[3].set(-X[0])
    nt.check_inputs(X)
    assert nt.lambda_zero(X) > 0.01
