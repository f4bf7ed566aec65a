"""Strict numerics for the tests: float64 everywhere (exactness tests compare to 1e-8 and below) and
implicit rank promotion raising, so that a broadcasting slip in the library fails loudly."""

import os

import jax
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
# JAX's persistent compilation cache: a second run of the suite on one machine skips most XLA compiles.
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("NTK_PROOFS_JAX_CACHE", os.path.expanduser("~/.cache/ntk_proofs/jax")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)

# Small, bounded property searches: the whole suite must stay within minutes on two CPU cores.
settings.register_profile(
    "ntk", max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ntk")
