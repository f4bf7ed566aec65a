"""H^inf of every member of the two-layer family (ntk_proofs.regimes.kernels): Monte Carlo and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.regimes.kernels import (
    erf_output_kernel,
    gram_infinity_family,
    gram_infinity_family_mc,
    relu_output_kernel,
)
from tests.regimes.helpers import VARIANTS
from tests.regimes.helpers import data as _data
from tests.tolerances import F64, MC_SIGMAS, tol


@pytest.mark.parametrize("family", VARIANTS[:4], ids=str)
def test_each_variants_h_infinity_matches_monte_carlo_within_its_standard_error(family):
    X, _ = _data(2, 6, 3)
    mc = gram_infinity_family_mc(jax.random.PRNGKey(4), X, family, samples=40_000)
    H = gram_infinity_family(X, family)
    # six standard errors per entry: a false failure has probability < 1e-6 per entry (tests/tolerances.py); F64
    # absolute for the round-off of entries whose standard error is 0 (the diagonal of the ReLU members)
    assert np.all(np.abs(np.asarray(H - mc.mean)) <= MC_SIGMAS * np.asarray(mc.stderr) + F64)
    assert float(jnp.max(mc.stderr)) < 0.02  # the check has teeth: errors of 2% of an O(1) entry are caught
    np.testing.assert_allclose(H, H.T, **tol(np.float64))
    assert float(jnp.linalg.eigvalsh(H)[0]) > 0


def test_output_kernels_closed_forms_on_known_angles():
    X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    K = relu_output_kernel(X)
    # theta = 0: 1/2; theta = pi/2: 1/(2 pi); theta = pi: 0
    np.testing.assert_allclose(
        K,
        [[0.5, 1 / (2 * np.pi), 0], [1 / (2 * np.pi), 0.5, 1 / (2 * np.pi)], [0, 1 / (2 * np.pi), 0.5]],
        **tol(np.float64),
    )
    E = erf_output_kernel(X)
    np.testing.assert_allclose(E[0, 0], 2 / np.pi * np.arcsin(2 / 3), **tol(np.float64))
    np.testing.assert_allclose(E[0, 1], 0.0, **tol(np.float64))
    np.testing.assert_allclose(E[0, 2], -E[0, 0], **tol(np.float64))
    np.testing.assert_allclose(gram_infinity_family(X), nt.gram_infinity(X), **tol(np.float64))
