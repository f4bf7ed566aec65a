"""What the tests of the two-layer family share: a small data set and the family's members."""

import jax

import ntk_proofs as nt
from ntk_proofs.models.two_layer import TwoLayerFamily

VARIANTS = [
    TwoLayerFamily(),
    TwoLayerFamily(train_a=True),
    TwoLayerFamily(activation="erf"),
    TwoLayerFamily(activation="erf", train_a=True),
    TwoLayerFamily(alpha=3.0, gamma=1.0, activation="erf", train_a=True),
]


def data(seed, n, d):
    """n points on the unit sphere in R^d and Gaussian labels, from one seed."""
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return nt.unit_sphere(kx, n, d), nt.gaussian_labels(ky, n)
