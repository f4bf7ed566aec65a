"""Strict numerics for the tests: float64 everywhere (exactness tests compare to 1e-8 and below) and
implicit rank promotion raising, so that a broadcasting slip in the library fails loudly."""

import jax
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

# Small, bounded property searches: the whole suite must stay within minutes on two CPU cores.
settings.register_profile(
    "ntk", max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ntk")
