"""Lazy vs rich training (ntk_proofs.regimes.lazy; Chizat et al. 2019)."""

import jax
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.models.two_layer import TwoLayerFamily
from ntk_proofs.regimes.lazy import laziness


def test_lazy_limit_the_net_approaches_its_linearization_as_alpha_grows():
    """Chizat et al. (2019), Thms 2.3-2.4: drift and distance to the linearized model are O(1 / alpha)."""
    Xtr, ytr, Xte, yte = nt.digits_split(jax.random.PRNGKey(0), 40, 60)
    key = jax.random.PRNGKey(9)
    runs = [
        laziness(
            Xtr, ytr, Xte, yte, family=TwoLayerFamily(alpha=a, activation="erf"), m=128, seeds=2, steps=100, key=key
        )
        for a in (2.0, 8.0)
    ]
    small, large = runs
    ratio = large.drift / small.drift
    # drift ~ 1 / alpha: alpha x 4 divides it by 4; 20% is a margin for finite alpha and 2 seeds at m = 128, not
    # round-off
    np.testing.assert_allclose(ratio, 0.25, rtol=0.2, atol=0)
    assert np.all(large.kernel_gap <= small.kernel_gap / 4)  # at least as fast as O(1 / alpha)
    assert np.all(large.kernel_change < small.kernel_change / 4)
    assert np.all((small.test_accuracy > 0.5) & (small.test_accuracy <= 1))
    # u(0) = 0: the symmetric start; train loss fell
    assert np.all(large.train_loss < 0.5)
    with pytest.raises(ValueError, match="ratio"):
        laziness(Xtr, ytr, family=TwoLayerFamily(), m=8, seeds=1, steps=1, key=key, ratio=1.5)
