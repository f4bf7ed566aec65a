"""Strict numerics for the tests: float64 everywhere (exactness tests compare to 1e-8 and below) and
implicit rank promotion raising, so that a broadcasting slip in the library fails loudly."""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings


def compilation_cache_dir() -> str | None:
    """The suite's compilation-cache folder, as the experiments choose it (``experiments.cli.compilation_cache_dir``,
    restated here so that the library's tests do not import the experiments layer; tests/test_experiments.py
    checks that the two agree)."""
    where = os.environ.get("NTK_PROOFS_JAX_CACHE", os.path.expanduser("~/.cache/ntk_proofs/jax"))
    return None if where == "off" else where


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
# JAX's persistent compilation cache: the two xdist workers share their compiles, and a second run of the suite on
# one machine skips most of them. Through the environment, so that the experiments' subprocesses (the two-process
# sweep and its single-process reference run the same programs) use it too.
# The folder is the experiments' own (NTK_PROOFS_JAX_CACHE; "off" turns it off).
CACHE_DIR = compilation_cache_dir()
if CACHE_DIR is not None:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE_DIR)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # cache every compile: most take < 0.1 s
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"])
    )


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Before every test: clear JAX's compiled programs once the process holds half its memory-map cap. The whole
    suite in one process (``pytest -n 0``) compiles ~20,000 programs, 3 maps each; at the cap (vm.max_map_count)
    XLA segfaulted (ntk_proofs.runtime, tests/test_runtime.py)."""
    from ntk_proofs.runtime import release_compiled_programs  # after the config above: it imports the library

    release_compiled_programs()
    yield


# Small, bounded property searches: the whole suite must stay within minutes on two CPU cores.
settings.register_profile(
    "ntk",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ntk")


def pytest_collection_modifyitems(config, items):
    """The end-to-end experiment tests (10-35 s each, a third of the suite's work) first: with pytest-xdist's two
    workers both start on them and the short tests fill the end, instead of one worker finishing a long test
    while the other idles."""
    items.sort(key=lambda item: 0 if item.path.name == "test_experiments.py" else 1)
