"""Lazy, catapult and divergent runs and their boundaries (ntk_proofs.regimes.phases; Lewkowycz et al. 2020)."""

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.models.two_layer import TwoLayerFamily
from ntk_proofs.regimes.phases import (
    CATAPULT,
    DIVERGENT,
    LAZY,
    classify_runs,
    initializations,
    phase_boundaries,
    phase_grid,
    tangent_sharpness,
)
from ntk_proofs.regimes.training import train_family_batched
from tests.regimes.helpers import data as _data


def test_catapult_just_above_two_over_lambda_max_at_large_width():
    X, y = _data(5, 12, 12)
    family = TwoLayerFamily(train_a=True)
    params = initializations(jax.random.PRNGKey(7), 2048, 12, 1)
    lam = float(tangent_sharpness(family, params, X)[0])
    ratios = np.array([0.8, 1.3, 10.0])  # lazy, catapult, far beyond divergence
    etas = 2 * ratios / lam
    batch = jax.tree.map(lambda v: jnp.repeat(v, 3, axis=0), params)
    run = train_family_batched(batch, X, y, family=family, etas=etas, steps=200, record_every=1)
    codes = classify_runs(run, etas, family)
    np.testing.assert_array_equal(codes, [LAZY, CATAPULT, DIVERGENT])
    loss = np.asarray(run.loss)
    assert loss[1].max() > 2 * loss[1, 0]  # the loss rises ...
    assert loss[1, -1] < 1e-3 * loss[1, 0]  # ... and converges
    assert float(run.records.lambda_max[1, -1]) * etas[1] < 2  # with lambda_max(Theta) below 2 / eta
    assert float(run.records.lambda_max[1, 0]) * etas[1] > 2  # from above it
    assert np.all(np.diff(loss[0]) <= 1e-6 * loss[0, 0])  # below 2/lambda_max the loss falls monotonically
    assert int(run.diverged_step[2]) >= 0 and int(run.diverged_step[:2].max()) == -1  # a flag, not an exception


def test_phase_boundaries_bracket_the_predictions():
    X, y = _data(6, 8, 8)
    b = phase_boundaries(X, y, m=1024, seeds=3, steps=200, key=jax.random.PRNGKey(8), iterations=6)
    assert b.rise.bracketed.all() and b.divergence.bracketed.all()
    assert 0.95 <= b.rise.mean <= 1.25  # the loss starts to rise at eta ~ 2 / lambda_max(Theta(0))
    assert b.divergence.mean > b.rise.mean * 1.3  # and GD still converges well beyond it
    assert b.rise.ci_low <= b.rise.mean <= b.rise.ci_high
    grid = phase_grid(X, y, widths=[256], ratios=[0.7, 1.5, 12.0], seeds=2, steps=200, key=jax.random.PRNGKey(8))
    assert grid.regime.shape == (1, 3, 2)
    np.testing.assert_array_equal(grid.regime[0, 0], [LAZY, LAZY])
    np.testing.assert_array_equal(grid.regime[0, 2], [DIVERGENT, DIVERGENT])
