"""The segfault of the whole suite in one process (``pytest -n 0``), replayed: a process that holds its kernel's cap of
memory maps (vm.max_map_count) crashes in XLA's compiler; ``release_compiled_programs`` between units of work keeps
it alive (ntk_proofs.runtime)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt

# A process that has used up all but HEADROOM maps, then compiles PROGRAMS programs (3 maps each, held alive as a
# test suite's module-level functions are): without the release it needs 3 x PROGRAMS > HEADROOM maps.
HEADROOM, PROGRAMS = 180, 90
REPLAY = textwrap.dedent(
    """
    import ctypes, mmap, sys
    import jax, jax.numpy as jnp
    from ntk_proofs.runtime import memory_maps, release_compiled_programs

    release = sys.argv[1] == "release"
    jnp.ones(3).block_until_ready()
    # use up the process's maps but {headroom}: one anonymous mapping, split into one map per page by making every
    # other page read-only (the kernel cannot merge neighbours of different protections)
    count, limit = memory_maps()
    pages = limit - {headroom} - count
    page = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    base = libc.mmap(None, pages * page, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    for p in range(1, pages, 2):
        libc.mprotect(base + p * page, page, mmap.PROT_READ)
    assert memory_maps()[0] >= limit - {headroom} - 2, memory_maps()
    programs, total = [], 0.0
    fraction = (limit - {headroom} // 2) / limit  # release when half the headroom is gone (the suite: half the cap)
    for i in range({programs}):
        if release:
            release_compiled_programs(fraction)
        program = jax.jit(lambda x, i=i: x * x + i)
        programs.append(program)
        total += float(program(jnp.float32(2.0)))
    print("done", total)
    """
).format(headroom=HEADROOM, programs=PROGRAMS)


def _replay(mode: str, tmp_path) -> subprocess.CompletedProcess:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, JAX_PLATFORMS="cpu", NTK_PROOFS_JAX_CACHE="off", PYTHONPATH=root)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the replay compiles; nothing is read from or written to a cache
    return subprocess.run(
        [sys.executable, "-c", REPLAY, mode], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )


def _cap_is_replayable() -> bool:
    usage = nt.memory_maps()
    return usage is not None and usage[1] <= 262_144  # filling a larger cap takes too long for the suite


@pytest.mark.skipif(not _cap_is_replayable(), reason="needs Linux's /proc and a memory-map cap of at most 262144")
def test_at_the_memory_map_cap_xla_crashes_and_releasing_compiled_programs_prevents_it(tmp_path):
    """Without the release the process dies in XLA's compiler (a segmentation fault, or LLVM's "Cannot allocate
    memory" when the failure surfaces as an error); with it the same programs compile and give their numbers."""
    crashed = _replay("keep", tmp_path)
    assert crashed.returncode != 0 and "done" not in crashed.stdout
    assert (
        "Cannot allocate memory" in crashed.stderr or crashed.returncode < 0 or "Segmentation fault" in crashed.stderr
    )
    fine = _replay("release", tmp_path)
    assert fine.returncode == 0, fine.stderr[-2000:]
    assert fine.stdout.split() == ["done", str(float(sum(4.0 + i for i in range(PROGRAMS))))]


def test_release_compiled_programs_clears_only_above_its_fraction_and_keeps_the_numbers():
    f = jax.jit(lambda x: jnp.sin(x) * 3.0)
    before = np.asarray(f(jnp.arange(4.0)))
    assert not nt.release_compiled_programs(fraction=0.999999)
    usage = nt.memory_maps()
    if usage is None:
        pytest.skip("no /proc here")
    assert usage[0] > 0 and usage[1] > usage[0]
    assert nt.release_compiled_programs(fraction=1e-9)
    np.testing.assert_array_equal(np.asarray(f(jnp.arange(4.0))), before)  # recompiled, the same numbers


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 2.0])
def test_release_compiled_programs_refuses_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction"):
        nt.release_compiled_programs(fraction=fraction)


CACHED_RUN = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import ntk_proofs as nt
    from experiments.cli import use_compilation_cache

    use_compilation_cache()  # the experiments' own set-up of JAX's persistent cache (NTK_PROOFS_JAX_CACHE)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 6, 4)
    run = nt.train_gd(nt.init_params(jax.random.PRNGKey(1), 32, 4), X, jnp.ones(6), eta=0.1, steps=5)
    print(repr(float(run.loss[-1])))
    """
)


def test_a_corrupt_compilation_cache_is_recompiled_not_crashed_on(tmp_path):
    """A process killed mid-write leaves a truncated cache entry; a disk or another program may leave garbage. Every
    entry of a filled cache is damaged, four ways in turn (truncated, random bytes, a valid zlib stream of random
    bytes, a valid zlib stream of half the program): the next run warns, recompiles and prints the same loss."""
    import zlib

    root = str(Path(__file__).resolve().parents[1])
    cache = tmp_path / "cache"
    env = dict(os.environ, JAX_PLATFORMS="cpu", NTK_PROOFS_JAX_CACHE=str(cache), PYTHONPATH=root)
    for key in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        env.pop(key, None)

    def run():
        return subprocess.run(
            [sys.executable, "-c", CACHED_RUN], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
        )

    first = run()
    assert first.returncode == 0, first.stderr[-2000:]
    entries = sorted(p for p in cache.iterdir() if p.is_file())
    assert len(entries) >= 4, "the run should have cached several programs"
    rng = np.random.default_rng(0)
    damage = (
        lambda b: b[: len(b) // 2],
        lambda b: rng.bytes(len(b)),
        lambda b: zlib.compress(rng.bytes(len(b))),
        lambda b: zlib.compress(zlib.decompress(b)[: len(zlib.decompress(b)) // 2]),
    )
    for i, entry in enumerate(entries):
        entry.write_bytes(damage[i % 4](entry.read_bytes()))
    second = run()
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout == first.stdout
    assert "Error reading persistent compilation cache entry" in second.stderr
