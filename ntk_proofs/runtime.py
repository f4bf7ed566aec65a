"""The process JAX runs in: keep a long session (a test suite, ``experiments.all``, a notebook) from running out of
memory maps.

Every program XLA compiles for the CPU is JIT-linked by LLVM into memory of its own, about 3 memory maps per program,
and JAX keeps every compiled program alive in its caches. Linux caps a process at ``vm.max_map_count`` maps
(65530 by default). A process that compiles about 20,000 programs (a whole test suite can, in one process)
reaches the cap: LLVM's next allocation fails ("LLVM compilation error: Cannot allocate memory") and XLA
then crashes with a segmentation fault, while it compiles or while it loads a program from the persistent
compilation cache (which needs the same maps). ``jax.clear_caches()`` releases them.
``release_compiled_programs`` does that when the process holds more than a fraction of its cap.
"""

from __future__ import annotations

import gc
from pathlib import Path

import jax

# above this fraction of vm.max_map_count, ``release_compiled_programs`` clears JAX's caches: far from the cap
# (thousands of programs of headroom), and high enough that a long session crosses it seldom
MAP_FRACTION = 0.5


def memory_maps() -> tuple[int, int] | None:
    """(memory maps this process holds, the kernel's cap ``vm.max_map_count``), or None where Linux's /proc is not
    there to say (macOS, Windows)."""
    try:
        count = Path("/proc/self/maps").read_bytes().count(b"\n")
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return None
    return count, limit


def release_compiled_programs(fraction: float = MAP_FRACTION) -> bool:
    """Clear JAX's caches of compiled programs (``jax.clear_caches()``) when this process holds more than ``fraction``
    of its memory-map cap. Programs compile again on their next call (or load from the persistent compilation
    cache); numbers do not change. Call it between units of work that compile many programs: the test suite calls
    it before every test, ``experiments.all`` between experiments.

    Args:
      fraction: the share of ``vm.max_map_count``, in (0, 1), above which the caches are cleared.

    Returns:
      Whether it cleared them (False where ``memory_maps`` cannot tell).

    Raises:
      ValueError: fraction outside (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1); got {fraction!r}.")
    usage = memory_maps()
    if usage is None or usage[0] <= fraction * usage[1]:
        return False
    jax.clear_caches()
    gc.collect()
    return True
