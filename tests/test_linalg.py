"""ntk_proofs.linalg: dense extreme eigenvalues in either dtype, and batched runs never hand LAPACK a batch of
matrices (see ``ntk_proofs.linalg.eigh``).

jaxlib's CPU LAPACK kernels run a batch above about 2e5 flops by scheduling its chunks on XLA's intra-op thread
pool and blocking the calling pool thread; two such calls at once deadlock a 2-thread pool. The critical-width
experiment hung this way. The tests: (1) the compiled batched GD programs call LAPACK on single (n, n) matrices
only; (2) the pattern that hung (a vmapped scan with an eigh and a Cholesky side by side, 20 x (64, 64), float32)
compiles to single-matrix LAPACK calls, where jnp.linalg's own calls are batched: the deadlock is detected from
the compiled HLO alone, with no time limit that a busy machine could hit.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs import linalg
from ntk_proofs.du2019 import sweep
from ntk_proofs.regimes import training as family_training
from tests.tolerances import F64, tol

LAPACK_CALL = re.compile(r"= \(([^)]*)\) custom-call\([^)]*\), custom_call_target=\"lapack_\w+\"")


def lapack_operand_shapes(hlo: str) -> list[str]:
    """The first result shape of every LAPACK custom call in compiled HLO text (the factored matrix)."""
    return [re.match(r"\w+\[[^\]]*\]", m.group(1)).group(0) for m in LAPACK_CALL.finditer(hlo)]


def test_lapack_operand_shapes_parses_a_batched_call():
    """The parser finds a batched call (so the tests below could fail): plain jnp under vmap is batched."""
    A = jnp.broadcast_to(jnp.eye(8), (3, 8, 8))
    hlo = jax.jit(jax.vmap(jnp.linalg.cholesky)).lower(A).compile().as_text()
    assert lapack_operand_shapes(hlo) == ["f64[3,8,8]"]
    hlo = jax.jit(jax.vmap(linalg.cholesky)).lower(A).compile().as_text()
    assert lapack_operand_shapes(hlo) == ["f64[8,8]"]


@pytest.mark.parametrize("method", ["eigh", "lanczos"])
def test_batched_gd_program_factors_one_matrix_at_a_time(method):
    B, n, m = 4, 12, 16
    X = jnp.broadcast_to(nt.unit_sphere(jax.random.PRNGKey(0), n, n), (B, n, n))
    W = jax.random.normal(jax.random.PRNGKey(1), (B, m, n))
    hlo = (
        sweep._batched.lower(
            W,
            jnp.ones((B, m)),
            X,
            jnp.ones((B, n)),
            jnp.zeros(B),
            jnp.asarray(0.1),
            jnp.asarray(1e6),
            steps=3,
            record_every=1,
            lambda_method=method,
            step_form="kernel",
            certify=True,
        )
        .compile()
        .as_text()
    )
    shapes = lapack_operand_shapes(hlo)
    assert any("potrf" in line for line in hlo.splitlines() if "custom-call" in line)  # the certificate is there
    assert shapes and all(s.count(",") == 1 for s in shapes), shapes


def test_batched_family_program_factors_one_matrix_at_a_time():
    B, n, m = 3, 10, 16
    X = nt.unit_sphere(jax.random.PRNGKey(0), n, n)
    W = jax.random.normal(jax.random.PRNGKey(1), (B, m, n))
    hlo = (
        family_training._batched.lower(
            W,
            jnp.ones((B, m)),
            X,
            jnp.ones(n),
            jnp.full(B, 0.1),
            jnp.asarray(1e4),
            family=nt.TwoLayerFamily(train_a=True),
            steps=3,
            record_every=1,
        )
        .compile()
        .as_text()
    )
    shapes = lapack_operand_shapes(hlo)
    assert shapes and all(s.count(",") == 1 for s in shapes), shapes


def _hanging_pattern(eigh, cholesky):
    """The program that deadlocked a 2-thread pool with jnp.linalg: a vmapped scan with an eigh and a Cholesky side
    by side (two factorizations XLA may run at the same time), 20 x (64, 64) and 20 x (32, 32), float32."""
    B, n = 20, 64

    def step(carry, _):
        H, T = carry
        w, v = eigh(T)
        c = cholesky(H)
        return (H + 1e-7 * w[0] + 0 * c[0, 0], T + 1e-7 * v[0, 0]), w[0]

    run = jax.jit(lambda H, T: jax.vmap(lambda H, T: jax.lax.scan(step, (H, T), None, length=64))(H, T))
    H = jax.ShapeDtypeStruct((B, n, n), jnp.float32)
    T = jax.ShapeDtypeStruct((B, 32, 32), jnp.float32)
    return run.lower(H, T).compile().as_text()


def test_the_pattern_that_deadlocked_calls_lapack_on_single_matrices():
    """Detected from the compiled program alone (no timer): with jnp.linalg the two factorizations are batched
    LAPACK calls (the deadlock's precondition), with ntk_proofs.linalg every call factors one matrix."""
    batched = lapack_operand_shapes(_hanging_pattern(jnp.linalg.eigh, jnp.linalg.cholesky))
    assert batched and all(s.count(",") == 2 for s in batched), batched  # (20, n, n): the check can fail
    single = lapack_operand_shapes(_hanging_pattern(linalg.eigh, linalg.cholesky))
    assert sorted(single) == ["f32[32,32]", "f32[64,64]"], single


def test_sequential_factorizations_equal_jnp():
    """The wrappers give jnp.linalg's numbers, matrix by matrix, batched or not."""
    A = jax.random.normal(jax.random.PRNGKey(3), (5, 9, 9))
    S = A @ A.transpose(0, 2, 1) + 9 * jnp.eye(9)[None]
    lam, V = jax.vmap(linalg.eigh)(S)
    for b in range(5):
        ref_lam, ref_V = jnp.linalg.eigh(S[b])
        np.testing.assert_array_equal(lam[b], ref_lam)
        np.testing.assert_array_equal(jnp.abs(V[b]), jnp.abs(ref_V))
        np.testing.assert_array_equal(jax.vmap(linalg.eigvalsh)(S)[b], jnp.linalg.eigvalsh(S[b]))
        np.testing.assert_array_equal(jax.vmap(linalg.cholesky)(S)[b], jnp.linalg.cholesky(S[b]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_lambda_min_and_max_match_numpy(dtype):
    """The extreme eigenvalues of a symmetric matrix in either dtype against NumPy's float64 eigvalsh of the same
    (rounded) matrix."""
    A = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (9, 9)))
    S = np.asarray((A + A.T).astype(dtype), np.float64)
    ev = np.linalg.eigvalsh(S)
    lo, hi = nt.lambda_min(jnp.asarray(S, dtype)), nt.lambda_max(jnp.asarray(S, dtype))
    assert lo.dtype == hi.dtype == dtype
    np.testing.assert_allclose([float(lo), float(hi)], [ev[0], ev[-1]], **tol(dtype))
    if dtype == jnp.float64:  # the tighter absolute bound this test had before the table (|ev| ~ 5: rtol 2e-11)
        assert abs(float(lo) - ev[0]) < F64 and abs(float(hi) - ev[-1]) < F64
