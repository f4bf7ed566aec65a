"""Hostile inputs to the public functions that take arrays ("Never a crash", item 5).

One table, ``CASES``: each row is (function, kind of bad input, the bad input, how the call is built, the expected
outcome). The outcome is "ValueError" (a ValueError that is not an AssumptionError), "AssumptionError" (a theorem's
assumption fails; a ValueError subclass) or "result: <what is checked>"; an error's message must match the row's
pattern, which names the offending argument. Every result is also checked to hold no NaN or infinity. Where the
values can vary (how many NaNs and where, the shape of an empty or wrongly ranked array, which row is zero or
repeated), hypothesis draws them; a row without draws runs once. ``NOT_APPLICABLE`` says, for each (function, kind)
pair the table leaves out, why; ``test_every_function_meets_every_kind_of_bad_input`` checks that nothing is
missing. ``python -m tests.test_hostile_inputs`` prints the outcome table (markdown).

"Past memory" rows hand a function a shape whose float array would need far more than 1 TB (the inputs themselves
are a few tens of MB) and check that it refuses quickly, before allocating, with a ValueError that names the size.
"""

from __future__ import annotations

import itertools
import pathlib
import pickle
import re
import signal
import time
import zipfile
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests.tolerances import F64, RTOL_F64

KINDS = (
    "NaN",
    "+inf",
    "-inf",
    "0 rows",
    "0 columns",
    "1-D",
    "3-D",
    "int dtype",
    "bool dtype",
    "mismatched lengths",
    "zero row",
    "duplicate rows",
    "past memory",
)
FUNCTIONS = (
    "gram_infinity",
    "gram_matrix",
    "lambda_min",
    "train_gd",
    "critical_width",
    "empirical_ntk",
    "eigen_projections",
    "kernel_prediction",
    "top_eigenvalues",
    "hutchinson_trace",
    "load_npz",
    "prepare_inputs",
)
# Not numerical tolerances but wall-clock bounds (tests/tolerances.py holds the numerical ones): a refusal of a
# shape past memory must come from the shapes alone, in well under a second on two cores (5 s leaves room for a
# loaded machine); any call past HANG_SECONDS is a hang.
REFUSAL_SECONDS = 5.0
HANG_SECONDS = 120
# 4e6 rows: an (n, n) float64 matrix of 1.28e14 bytes (128 TB), while X (n, 1) takes 32 MB.
HUGE_N = 4_000_000

N, D, M = 5, 3, 8
KEY = jax.random.PRNGKey(0)
X0 = np.asarray(nt.unit_sphere(jax.random.PRNGKey(1), N, D))
Y0 = np.asarray(nt.gaussian_labels(jax.random.PRNGKey(2), N))
P0 = nt.init_params(jax.random.PRNGKey(3), M, D)
H0 = np.asarray(nt.gram_infinity(X0))
# Unit rows with integer entries (distinct directions; e_1 and -e_1 are antiparallel, which Du et al. allow) and the
# same directions as booleans (no -1): one (3, 3) shape for both, so the runs share a compiled program.
EYE_INT = np.eye(3, dtype=np.int64)
EYE_BOOL = np.eye(3, dtype=bool)
SMALL_P = nt.init_params(jax.random.PRNGKey(4), M, 3)
W_PARAMS = np.linspace(-1.0, 2.0, 12)  # parameters for the curvature functions (12 of them)


def diagonal_loss(w):
    """A loss of any pytree shape whose Hessian is diag(-cos w): Hutchinson's estimate is then exact (v^T H v =
    tr H for Rademacher v) and the top eigenvalue is max(-cos w)."""
    return jnp.sum(jnp.cos(w))


def log_loss(w):
    """sum(log w): its second derivatives -1 / w^2 are infinite at w = 0."""
    return jnp.sum(jnp.log(w))


class Call(NamedTuple):
    """One call to make: ``run()``; for an error, ``match`` adds a pattern its message must match; for a result,
    ``check(result)`` checks it."""

    run: Callable[[], Any]
    match: str = ""
    check: Callable[[Any], None] | None = None


class Case(NamedTuple):
    function: str
    kind: str
    bad_input: str
    build: Callable[[Callable, pathlib.Path], Call]  # (hypothesis draw, a folder for files) -> Call
    expected: str  # "ValueError", "AssumptionError" or "result: <what is checked>"
    match: str = ""  # a pattern the error message must match: the offending argument
    gap: str = ""  # a known gap (the library does not yet do `expected`): the row is a strict xfail


# ---------------------------------------------------------------------------------------------------------------
# Drawn bad values
# ---------------------------------------------------------------------------------------------------------------


def poisoned(draw, A, value, name: str = ""):
    """A float copy of A with ``value`` at 1-4 drawn positions; with ``name``, the pattern of the first one in C order
    as ``check_finite`` reports it ("X[1, 2]")."""
    A = np.array(A, dtype=np.float64)
    flat = sorted(draw(st.sets(st.integers(0, A.size - 1), min_size=1, max_size=min(4, A.size))))
    A.flat[flat] = value
    first = np.unravel_index(flat[0], A.shape)
    return A, re.escape(f"{name}[{', '.join(str(int(i)) for i in first)}]") if name else ""


def a_row(draw, n: int = N) -> int:
    return draw(st.integers(0, n - 1))


def two_rows(draw, n: int = N) -> tuple[int, int]:
    i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    return i, j


def with_zero_row(A, i):
    A = np.array(A, dtype=np.float64)
    A[i] = 0.0
    return A


def with_duplicate(A, i, j):
    A = np.array(A)
    A[j] = A[i]
    return A


def empty_rows(draw, d_max: int = 4):
    return np.zeros((0, draw(st.integers(1, d_max))))


def empty_columns(draw, n_max: int = 8):
    return np.zeros((draw(st.integers(1, n_max)), 0))


def one_d(draw):
    return np.ones(draw(st.integers(1, 8))) / np.sqrt(2.0)


def three_d(draw):
    return np.ones((draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 3))))


def gram_of(X):
    """X X^T in float64 NumPy: a symmetric PSD matrix with the structure of X's rows."""
    X = np.asarray(X, np.float64)
    return X @ X.T


# ---------------------------------------------------------------------------------------------------------------
# Result checks
# ---------------------------------------------------------------------------------------------------------------


def assert_same_as_float(result, reference):
    np.testing.assert_allclose(np.asarray(result), np.asarray(reference), rtol=RTOL_F64, atol=F64)


def check_duplicate_gram(i, j):
    """A Gram matrix of duplicate rows i, j: rows i and j of H agree (to round-off: H^inf's diagonal comes from the
    row norms, its other entries from X X^T, an ulp apart), so H is singular (lambda_min ~ 0)."""

    def check(H):
        H = np.asarray(H)
        np.testing.assert_allclose(H[i], H[j], rtol=RTOL_F64, atol=F64)
        assert abs(np.linalg.eigvalsh(H)[0]) <= F64

    return check


def check_zero_row_gram(i):
    def check(H):
        H = np.asarray(H)
        np.testing.assert_array_equal(H[i], 0.0)
        np.testing.assert_array_equal(H[:, i], 0.0)

    return check


def check_near_zero(value):
    assert abs(float(value)) <= F64, float(value)


def check_projections(H, y):
    """eigen_projections of a symmetric H: eigenvalues descending and equal to eigvalsh's, projections summing to
    ||y||^2 (the eigenvectors are orthonormal)."""

    def check(result):
        lam, proj = (np.asarray(a) for a in result)
        np.testing.assert_allclose(lam, np.linalg.eigvalsh(np.asarray(H, np.float64))[::-1], rtol=RTOL_F64, atol=F64)
        np.testing.assert_allclose(proj.sum(), np.sum(np.asarray(y, np.float64) ** 2), rtol=RTOL_F64, atol=F64)

    return check


def check_kernel_loss(H, r, eta, steps):
    """kernel_prediction against its formula from a float64 eigendecomposition of H."""

    def check(losses):
        lam, V = np.linalg.eigh(np.asarray(H, np.float64))
        proj = (V.T @ np.asarray(r, np.float64)) ** 2
        k = np.arange(steps + 1)[:, None]
        expected = 0.5 * np.sum((1.0 - eta * lam[None, :]) ** (2 * k) * proj[None, :], axis=1)
        np.testing.assert_allclose(np.asarray(losses), expected, rtol=RTOL_F64, atol=F64)

    return check


def check_train_result(result):
    assert result.loss.shape == (3,) and result.diverged_step == -1


def check_critical_width(result):
    assert result.widths.tolist() == [1] and result.holds.shape == (1, 1) and result.lambda0 > 0


def check_ntk(n):
    """An NTK of n inputs: (n, n), symmetric and positive semi-definite."""

    def check(K):
        K = np.asarray(K)
        assert K.shape == (n, n)
        np.testing.assert_allclose(K, K.T, rtol=RTOL_F64, atol=F64)
        assert np.linalg.eigvalsh(K)[0] >= -F64 * max(1.0, np.abs(K).max())

    return check


def check_top_eigenvalue(w):
    """The top Ritz value of diag(-cos w) is max(-cos w), within its residual (Lanczos spans all 12 dimensions)."""

    def check(pairs):
        exact = float(np.max(-np.cos(np.asarray(w, np.float64))))
        assert abs(float(pairs.eigenvalues[0]) - exact) <= float(pairs.residuals[0]) + F64

    return check


def check_trace(w):
    """Hutchinson on diag(-cos w) is exact: every probe gives tr H = -sum cos w, so the standard error is 0."""

    def check(estimate):
        np.testing.assert_allclose(float(estimate.estimate), -np.sum(np.cos(np.asarray(w))), rtol=RTOL_F64, atol=F64)
        assert abs(float(estimate.stderr)) <= F64

    return check


def check_loaded(n_rows, labels=None):
    """load_npz's result: n_rows distinct unit rows (check_inputs passes) and labels in {-1, +1} (equal to
    ``labels`` where given)."""

    def check(result):
        X, y = result
        assert X.shape[0] == n_rows and y.shape == (n_rows,)
        nt.check_inputs(X, y)
        assert set(np.unique(np.asarray(y)).tolist()) <= {-1.0, 1.0}
        if labels is not None:
            np.testing.assert_array_equal(np.asarray(y), labels)

    return check


def check_prepared(n_rows, d, keep=None):
    def check(result):
        X, kept = result
        assert X.shape == (n_rows, d) and kept.shape == (n_rows,)
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=RTOL_F64, atol=F64)
        if keep is not None:
            np.testing.assert_array_equal(kept, keep)

    return check


# ---------------------------------------------------------------------------------------------------------------
# Files for load_npz
# ---------------------------------------------------------------------------------------------------------------

_FILES = itertools.count()
NPZ_X = np.random.default_rng(0).normal(size=(6, 2, 2))
NPZ_Y = np.array([3, 7, 3, 7, 7, 3])


def npz(folder: pathlib.Path, **arrays) -> pathlib.Path:
    path = folder / f"data{next(_FILES)}.npz"
    np.savez(path, **arrays)
    return path


class Tripwire:
    """Unpickling this object creates the file ``marker``: the proof that a loader unpickled."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def refused_without_unpickling(marker: pathlib.Path, run: Callable[[], Any]) -> Callable[[], Any]:
    """``run``, then a check that the tripwire's marker was not created (it only runs if ``run`` returns)."""

    def call():
        try:
            return run()
        finally:
            assert not marker.exists(), "load_npz unpickled the file"

    return call


def pickle_file(folder: pathlib.Path) -> Call:
    marker = folder / f"unpickled{next(_FILES)}"
    path = folder / f"data{next(_FILES)}.npz"
    path.write_bytes(pickle.dumps({"x": NPZ_X, "y": NPZ_Y, "trap": Tripwire(marker)}))
    return Call(refused_without_unpickling(marker, lambda: nt.load_npz(path)))


def object_array_npz(folder: pathlib.Path, key: str) -> Call:
    marker = folder / f"unpickled{next(_FILES)}"
    trap = np.array([Tripwire(marker)] * 6, dtype=object)
    arrays = {"x": NPZ_X, "y": NPZ_Y} | {key: trap}
    path = npz(folder, **arrays)
    return Call(refused_without_unpickling(marker, lambda: nt.load_npz(path)))


def huge_header_npz(folder: pathlib.Path) -> pathlib.Path:
    """An .npz of a few hundred bytes whose x header declares shape (10^7, 10^6) float64 (80 TB) and no data."""
    path = folder / f"huge{next(_FILES)}.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in (("x", (10**7, 10**6)), ("y", (10**7,))):
            with archive.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return path


# ---------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------


def train(X, y, params=P0):
    """train_gd for 2 steps (P0 by default: every refused call is refused before the params are used)."""
    return lambda: nt.train_gd(params, X, y, eta=0.1, steps=2)


def critical(X, y):
    return lambda: nt.critical_width(X, y, criterion="init", seeds=1, m_min=1, m_max=1, key=KEY, max_steps=1)


def ntk(x1, x2=None, params=P0):
    return lambda: nt.empirical_ntk(nt.predict, params, x1, x2)


def no_draw(make: Callable[[], Call]) -> Callable[[Callable, pathlib.Path], Call]:
    return lambda draw, folder: make()


def same(build_run: Callable[[Callable], Callable[[], Any]]) -> Callable[[Callable, pathlib.Path], Call]:
    """A row whose call (built from ``draw``) has no position-specific pattern or check."""
    return lambda draw, folder: Call(build_run(draw))


def nonfinite_cases(
    function: str, make: Callable[[np.ndarray], Callable[[], Any]], A, label: str, match: str, name: str = ""
):
    """The NaN, +inf and -inf rows of one array argument (``label``): the value at 1-4 drawn positions. With ``name``
    (the argument as the message names its first bad entry) the pattern also names that entry."""
    rows = []
    for kind, value in (("NaN", np.nan), ("+inf", np.inf), ("-inf", -np.inf)):

        def build(draw, folder, value=value):
            bad, where = poisoned(draw, A, value, name)
            return Call(make(bad), match=where)

        rows.append(Case(function, kind, f"{kind} in {label}", build, "ValueError", match))
    return rows


MEMORY = r"needs [0-9.]+ (TB|PB), more than the [0-9.]+ [kMGT]?B of memory"
NOT_UNIT = r"X\[{}\] has norm 0"


def cases() -> list[Case]:
    rows: list[Case] = []
    add = rows.append

    # --- gram_infinity(X) ---
    f = "gram_infinity"
    rows += nonfinite_cases(f, lambda A: lambda: nt.gram_infinity(A), X0, "X", r"^X must be finite", "X")
    add(
        Case(
            f,
            "0 rows",
            "X of shape (0, d)",
            same(lambda draw: lambda: nt.gram_infinity(empty_rows(draw))),
            "ValueError",
            r"^X must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "X of shape (n, 0)",
            same(lambda draw: lambda: nt.gram_infinity(empty_columns(draw))),
            "ValueError",
            r"^X must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "X of shape (d,)",
            same(lambda draw: lambda: nt.gram_infinity(one_d(draw))),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "X of shape (b, n, d)",
            same(lambda draw: lambda: nt.gram_infinity(three_d(draw))),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    for kind, E in (("int dtype", EYE_INT), ("bool dtype", EYE_BOOL)):
        add(
            Case(
                f,
                kind,
                f"X = I_3 as {E.dtype}",
                no_draw(
                    lambda E=E: Call(
                        lambda: nt.gram_infinity(E),
                        check=lambda H: assert_same_as_float(H, nt.gram_infinity(np.eye(3))),
                    )
                ),
                "result: equal to H^inf of the float64 matrix",
            )
        )

    def zero_row(draw, folder):
        i = a_row(draw)
        return Call(lambda: nt.gram_infinity(with_zero_row(X0, i)), match=rf"^X\[{i}\] is the zero vector")

    add(Case(f, "zero row", "X[i] = 0", zero_row, "ValueError", r"zero vector"))

    def duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(lambda: nt.gram_infinity(with_duplicate(X0, i, j)), check=check_duplicate_gram(i, j))

    add(
        Case(
            f,
            "duplicate rows",
            "X[j] = X[i]",
            duplicate,
            "result: rows i and j of H^inf equal (to F64), lambda_min(H^inf) ~ 0 (singular)",
        )
    )
    add(
        Case(
            f,
            "past memory",
            f"X of shape ({HUGE_N}, 1): H^inf of 128 TB",
            no_draw(lambda: Call(lambda: nt.gram_infinity(np.ones((HUGE_N, 1))))),
            "ValueError",
            rf"^X must have few enough rows for H\^inf to fit in memory; got n = {HUGE_N} .*{MEMORY}",
        )
    )

    # --- gram_matrix(W, X) ---
    f = "gram_matrix"
    W0 = np.asarray(P0.W)
    rows += nonfinite_cases(f, lambda A: lambda: nt.gram_matrix(W0, A), X0, "X", r"^X must be finite", "X")
    rows += nonfinite_cases(f, lambda A: lambda: nt.gram_matrix(A, X0), W0, "W", r"^W must be finite", "W")
    add(
        Case(
            f,
            "0 rows",
            "X of shape (0, d)",
            same(lambda draw: (lambda X: lambda: nt.gram_matrix(np.ones((M, X.shape[1])), X))(empty_rows(draw))),
            "ValueError",
            r"^X must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "0 rows",
            "W of shape (0, d) (width 0)",
            no_draw(lambda: Call(lambda: nt.gram_matrix(W0[:0], X0))),
            "ValueError",
            r"^W must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "X of shape (n, 0), W of shape (m, 0)",
            same(lambda draw: lambda: nt.gram_matrix(np.zeros((M, 0)), empty_columns(draw))),
            "ValueError",
            r"^X must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "X of shape (d,)",
            same(lambda draw: lambda: nt.gram_matrix(W0, one_d(draw))),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "X of shape (b, n, d)",
            same(lambda draw: lambda: nt.gram_matrix(W0, three_d(draw))),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    for kind, E in (("int dtype", EYE_INT), ("bool dtype", EYE_BOOL)):
        add(
            Case(
                f,
                kind,
                f"X = I_3 as {E.dtype}",
                no_draw(
                    lambda E=E: Call(
                        lambda: nt.gram_matrix(SMALL_P.W, E),
                        check=lambda H: assert_same_as_float(H, nt.gram_matrix(SMALL_P.W, np.eye(3))),
                    )
                ),
                "result: equal to H(W) of the float64 matrix",
            )
        )
    add(
        Case(
            f,
            "mismatched lengths",
            "W with d + 1 columns",
            no_draw(lambda: Call(lambda: nt.gram_matrix(np.ones((M, D + 1)), X0))),
            "ValueError",
            rf"^W must have the d = {D} columns of X; got W of shape \({M}, {D + 1}\)",
        )
    )

    def gm_zero_row(draw, folder):
        i = a_row(draw)
        return Call(lambda: nt.gram_matrix(W0, with_zero_row(X0, i)), check=check_zero_row_gram(i))

    add(Case(f, "zero row", "X[i] = 0", gm_zero_row, "result: row and column i of H(W) exactly 0 (x_i . x_j = 0)"))

    def gm_duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(lambda: nt.gram_matrix(W0, with_duplicate(X0, i, j)), check=check_duplicate_gram(i, j))

    add(
        Case(
            f,
            "duplicate rows",
            "X[j] = X[i]",
            gm_duplicate,
            "result: rows i and j of H(W) equal (to F64), lambda_min ~ 0 (singular)",
        )
    )
    add(
        Case(
            f,
            "past memory",
            f"X of shape ({HUGE_N}, 1): H(W) of 128 TB",
            no_draw(lambda: Call(lambda: nt.gram_matrix(np.ones((2, 1)), np.ones((HUGE_N, 1))))),
            "ValueError",
            rf"^X must have few enough rows for H\(W\) to fit in memory; got n = {HUGE_N} .*{MEMORY}",
        )
    )

    # --- lambda_min(H) ---
    f = "lambda_min"
    rows += nonfinite_cases(f, lambda A: lambda: nt.lambda_min(A), H0, "H", r"^H must be finite", "H")
    add(
        Case(
            f,
            "0 rows",
            "H of shape (0, 0)",
            no_draw(lambda: Call(lambda: nt.lambda_min(np.zeros((0, 0))))),
            "ValueError",
            r"^H must have at least one row and one column",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "H of shape (n, 0)",
            same(lambda draw: lambda: nt.lambda_min(empty_columns(draw))),
            "ValueError",
            r"^H must be a square array of shape \(n, n\)",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "H of shape (n,)",
            same(lambda draw: lambda: nt.lambda_min(one_d(draw))),
            "ValueError",
            r"^H must be a square array",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "H of shape (b, n, d)",
            same(lambda draw: lambda: nt.lambda_min(three_d(draw))),
            "ValueError",
            r"^H must be a square array",
        )
    )
    for kind, E in (("int dtype", 2 * EYE_INT + 1), ("bool dtype", EYE_BOOL)):
        add(
            Case(
                f,
                kind,
                f"H = {'2 I + 1 1^T' if kind == 'int dtype' else 'I'} as {E.dtype}",
                no_draw(
                    lambda E=E: Call(
                        lambda: nt.lambda_min(E),
                        check=lambda lam, E=E: assert_same_as_float(lam, np.linalg.eigvalsh(E.astype(float))[0]),
                    )
                ),
                "result: equal to eigvalsh of the float64 matrix",
            )
        )
    add(
        Case(
            f,
            "mismatched lengths",
            "H of shape (n, n + 1)",
            no_draw(lambda: Call(lambda: nt.lambda_min(np.ones((3, 4))))),
            "ValueError",
            r"^H must be a square array of shape \(n, n\); got shape \(3, 4\)",
        )
    )
    add(
        Case(
            f,
            "mismatched lengths",
            "H not symmetric",
            no_draw(lambda: Call(lambda: nt.lambda_min(np.triu(H0) + 1.0))),
            "ValueError",
            r"^H must be symmetric",
        )
    )

    def lm_zero_row(draw, folder):
        i = a_row(draw)
        return Call(lambda: nt.lambda_min(gram_of(with_zero_row(X0, i))), check=check_near_zero)

    add(Case(f, "zero row", "H = X X^T with X[i] = 0", lm_zero_row, "result: lambda_min ~ 0 (|lambda| <= F64)"))

    def lm_duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(lambda: nt.lambda_min(nt.gram_infinity(with_duplicate(X0, i, j))), check=check_near_zero)

    add(
        Case(
            f,
            "duplicate rows",
            "H = H^inf of X with X[j] = X[i]",
            lm_duplicate,
            "result: lambda_min ~ 0 (|lambda| <= F64)",
        )
    )

    # --- train_gd(params, X, y) ---
    f = "train_gd"
    rows += nonfinite_cases(f, lambda A: train(A, Y0, P0), X0, "X", r"^X contains NaN or infinite entries")
    rows += nonfinite_cases(f, lambda A: train(X0, A, P0), Y0, "y", r"^y contains NaN or infinite labels")
    rows += nonfinite_cases(
        f, lambda A: train(X0, Y0, P0._replace(W=A)), P0.W, "params.W", r"^params\.W contains NaN or infinite entries"
    )
    add(
        Case(
            f,
            "NaN",
            "NaN in params.a",
            no_draw(lambda: Call(train(X0, Y0, P0._replace(a=P0.a.at[0].set(jnp.nan))))),
            "ValueError",
            r"params\.a",
        )
    )
    add(
        Case(
            f,
            "0 rows",
            "X of shape (0, d), y of shape (0,)",
            same(lambda draw: (lambda X: train(X, np.zeros(0)))(empty_rows(draw))),
            "ValueError",
            r"^X must have n >= 1 rows and d >= 1 columns",
        )
    )
    add(
        Case(
            f,
            "0 rows",
            "params.W of shape (0, d) (width 0)",
            no_draw(lambda: Call(train(X0, Y0, nt.Params(P0.W[:0], P0.a[:0])))),
            "ValueError",
            r"params|width|\bm\b",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "X of shape (n, 0)",
            same(lambda draw: (lambda X: train(X, np.zeros(X.shape[0])))(empty_columns(draw))),
            "ValueError",
            r"^X must have n >= 1 rows and d >= 1 columns",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "X of shape (d,)",
            same(lambda draw: train(one_d(draw), Y0)),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "X of shape (b, n, d)",
            same(lambda draw: train(three_d(draw), Y0)),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "wrong shape",
            "y of shape (n, 1)",
            no_draw(lambda: Call(train(X0, Y0[:, None], P0))),
            "ValueError",
            r"^y must be a vector of n labels",
        )
    )
    add(
        Case(
            f,
            "int dtype",
            "X = I_3 as int64",
            no_draw(lambda: Call(train(EYE_INT, Y0[:3], SMALL_P), check=check_train_result)),
            "result: 2 steps, finite, not diverged",
        )
    )
    add(
        Case(
            f,
            "bool dtype",
            "X = I_3 as bool",
            no_draw(lambda: Call(train(EYE_BOOL, Y0[:3], SMALL_P), check=check_train_result)),
            "result: 2 steps, finite, not diverged",
        )
    )
    add(
        Case(
            f,
            "bool dtype",
            "y as bool (labels 0/1)",
            no_draw(lambda: Call(train(np.eye(3), Y0[:3] > 0, SMALL_P), check=check_train_result)),
            "result: 2 steps, finite, not diverged",
        )
    )
    add(
        Case(
            f,
            "int dtype",
            "params.W as int64",
            no_draw(lambda: Call(train(X0, Y0, nt.Params(np.ones((M, D), np.int64), np.ones(M))))),
            "ValueError",
            r"params\.W",
        )
    )

    def tg_short_y(draw, folder):
        k = draw(st.integers(0, N - 1))
        return Call(train(X0, Y0[:k], P0), match=rf"^X has {N} rows but y has {k} labels")

    add(Case(f, "mismatched lengths", "y with fewer labels than X has rows", tg_short_y, "ValueError", r"\by\b"))
    add(
        Case(
            f,
            "mismatched lengths",
            "params.W with d + 1 columns",
            no_draw(lambda: Call(train(X0, Y0, nt.Params(np.ones((M, D + 1)), np.ones(M))))),
            "ValueError",
            rf"^W has d = {D + 1} columns but X has d = {D}",
        )
    )

    def tg_zero_row(draw, folder):
        i = a_row(draw)
        return Call(train(with_zero_row(X0, i), Y0, P0), match=NOT_UNIT.format(i))

    add(Case(f, "zero row", "X[i] = 0", tg_zero_row, "ValueError", r"unit sphere"))

    def tg_duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(
            train(with_duplicate(X0, i, j), Y0, P0), match=rf"X\[{min(i, j)}\] and X\[{max(i, j)}\] are parallel"
        )

    add(Case(f, "duplicate rows", "X[j] = X[i]", tg_duplicate, "AssumptionError", r"lambda_0 = 0"))
    add(
        Case(
            f,
            "past memory",
            f"X of shape ({HUGE_N}, 1): an (n, n) check of 128 TB",
            no_draw(lambda: Call(train(np.ones((HUGE_N, 1)), np.zeros(HUGE_N), nt.init_params(KEY, 2, 1)))),
            "ValueError",
            rf"^X must have few enough rows .* got n = {HUGE_N} rows.*{MEMORY}",
        )
    )

    # --- critical_width(X, y) ---
    f = "critical_width"
    rows += nonfinite_cases(f, lambda A: critical(A, Y0), X0, "X", r"^X contains NaN or infinite entries")
    rows += nonfinite_cases(f, lambda A: critical(X0, A), Y0, "y", r"^y contains NaN or infinite labels")
    add(
        Case(
            f,
            "0 rows",
            "X of shape (0, d)",
            same(lambda draw: critical(empty_rows(draw), np.zeros(0))),
            "ValueError",
            r"^X must have n >= 1 rows and d >= 1 columns",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "X of shape (n, 0)",
            same(lambda draw: (lambda X: critical(X, np.zeros(X.shape[0])))(empty_columns(draw))),
            "ValueError",
            r"^X must have n >= 1 rows and d >= 1 columns",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "X of shape (d,)",
            same(lambda draw: critical(one_d(draw), Y0)),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "X of shape (b, n, d)",
            same(lambda draw: critical(three_d(draw), Y0)),
            "ValueError",
            r"^X must be a 2-D array",
        )
    )
    add(
        Case(
            f,
            "int dtype",
            "X = I_3 as int64",
            no_draw(lambda: Call(critical(EYE_INT, Y0[:3]), check=check_critical_width)),
            "result: one width (m = 1) tried, lambda_0 > 0",
        )
    )
    add(
        Case(
            f,
            "bool dtype",
            "X = I_3 as bool",
            no_draw(lambda: Call(critical(EYE_BOOL, Y0[:3]), check=check_critical_width)),
            "result: one width (m = 1) tried, lambda_0 > 0",
        )
    )

    def cw_short_y(draw, folder):
        k = draw(st.integers(0, N - 1))
        return Call(critical(X0, Y0[:k]), match=rf"^X has {N} rows but y has {k} labels")

    add(Case(f, "mismatched lengths", "y with fewer labels than X has rows", cw_short_y, "ValueError", r"\by\b"))

    def cw_zero_row(draw, folder):
        i = a_row(draw)
        return Call(critical(with_zero_row(X0, i), Y0), match=NOT_UNIT.format(i))

    add(Case(f, "zero row", "X[i] = 0", cw_zero_row, "ValueError", r"unit sphere"))

    def cw_duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(
            critical(with_duplicate(X0, i, j), Y0), match=rf"X\[{min(i, j)}\] and X\[{max(i, j)}\] are parallel"
        )

    add(Case(f, "duplicate rows", "X[j] = X[i]", cw_duplicate, "AssumptionError", r"lambda_0 = 0"))
    add(
        Case(
            f,
            "past memory",
            f"X of shape ({HUGE_N}, 1): an (n, n) check of 128 TB",
            no_draw(lambda: Call(critical(np.ones((HUGE_N, 1)), np.zeros(HUGE_N)))),
            "ValueError",
            rf"^X must have few enough rows .* got n = {HUGE_N} rows.*{MEMORY}",
        )
    )

    # --- empirical_ntk(f, params, x1, x2) with f = predict (the Du et al. net) ---
    f = "empirical_ntk"
    rows += nonfinite_cases(f, lambda A: ntk(A), X0, "x1", r"^x1 must be finite", "x1")
    rows += nonfinite_cases(f, lambda A: ntk(X0, A), X0[:2], "x2", r"^x2 must be finite", "x2")
    rows += nonfinite_cases(
        f, lambda A: ntk(X0, params=P0._replace(W=A)), P0.W, "params.W", r"^params\.W must be finite", "params.W"
    )
    add(
        Case(
            f,
            "0 rows",
            "x1 of shape (0, d)",
            no_draw(lambda: Call(ntk(X0[:0]))),
            "ValueError",
            r"^x1 must hold n >= 1 inputs along its first axis",
        )
    )
    add(
        Case(
            f,
            "0 rows",
            "x2 of shape (0, d)",
            no_draw(lambda: Call(ntk(X0, X0[:0]))),
            "ValueError",
            r"^x2 must hold n >= 1 inputs along its first axis",
        )
    )
    add(
        Case(
            f,
            "0 rows",
            "params with no entries (width 0)",
            no_draw(lambda: Call(ntk(X0, params=nt.Params(P0.W[:0], P0.a[:0])))),
            "ValueError",
            r"^params must hold at least one parameter",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "x1 of shape (n, 0) (f needs d = 3)",
            same(lambda draw: ntk(empty_columns(draw))),
            "ValueError",
            r"^x1 must be inputs that f\(params, x1\) accepts; got shape \(\d+, 0\)",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "x1 of shape (d,) (f returns one scalar)",
            no_draw(lambda: Call(ntk(X0[0]))),
            "ValueError",
            r"^f\(params, x1\) must return one row of outputs per input",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "x1 a scalar (no input axis)",
            no_draw(lambda: Call(ntk(np.float64(1.0)))),
            "ValueError",
            r"^x1 must hold n >= 1 inputs along its first axis; got shape \(\)",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "x1 of shape (1, 5, 3): f gives 5 outputs for its one input",
            no_draw(lambda: Call(ntk(X0[None]), check=check_ntk(1))),
            "result: (1, 1) NTK averaged over f's 5 outputs (f maps (n, ...) to (n, k), as documented)",
        )
    )
    for kind, E in (("int dtype", EYE_INT), ("bool dtype", EYE_BOOL)):
        add(
            Case(
                f,
                kind,
                f"x1 = I_3 as {E.dtype}",
                no_draw(
                    lambda E=E: Call(
                        ntk(E, params=SMALL_P),
                        check=lambda K: assert_same_as_float(K, nt.empirical_ntk(nt.predict, SMALL_P, np.eye(3))),
                    )
                ),
                "result: equal to the NTK of the float64 inputs",
            )
        )
    add(
        Case(
            f,
            "int dtype",
            "params.W as int64",
            no_draw(lambda: Call(ntk(X0, params=nt.Params(np.ones((M, D), np.int64), P0.a)))),
            "ValueError",
            r"^params\.W must be a floating-point array",
        )
    )
    add(
        Case(
            f,
            "mismatched lengths",
            "x2 with d + 1 features",
            no_draw(lambda: Call(ntk(X0, np.ones((2, D + 1))))),
            "ValueError",
            r"^x2 must be inputs that f\(params, x2\) accepts; got shape \(2, 4\)",
        )
    )

    def ntk_zero_row(draw, folder):
        i = a_row(draw)
        return Call(ntk(with_zero_row(X0, i)), check=check_zero_row_gram(i))

    add(
        Case(
            f,
            "zero row",
            "x1[i] = 0",
            ntk_zero_row,
            "result: row and column i exactly 0 (the net's gradient at x = 0 is 0)",
        )
    )

    def ntk_duplicate(draw, folder):
        i, j = two_rows(draw)
        return Call(ntk(with_duplicate(X0, i, j)), check=check_duplicate_gram(i, j))

    add(Case(f, "duplicate rows", "x1[j] = x1[i]", ntk_duplicate, "result: rows i and j equal (to F64), singular"))
    add(
        Case(
            f,
            "past memory",
            f"x1 of shape ({HUGE_N}, 1): a kernel of 128 TB",
            no_draw(lambda: Call(ntk(np.ones((HUGE_N, 1)), params=nt.init_params(KEY, 2, 1)))),
            "ValueError",
            rf"^x1 and x2 must be few enough for the NTK to fit in memory; got n1 = {HUGE_N} .*{MEMORY}",
        )
    )

    def kinked(params, x):
        """sqrt|w_r . x| units: infinitely steep where w_r . x = 0."""
        return jnp.sqrt(jnp.abs(x @ params.W.T)) @ params.a

    add(
        Case(
            f,
            "non-finite derivatives",
            "f = sqrt|W x| units, params.W[0] = 0",
            no_draw(lambda: Call(lambda: nt.empirical_ntk(kinked, P0._replace(W=P0.W.at[0].set(0.0)), X0))),
            "ValueError",
            r"^f must have finite derivatives at params on x1 and x2",
        )
    )

    # --- eigen_projections(H, y) and kernel_prediction(H, residual0, eta, steps) ---
    for f, call in (
        ("eigen_projections", lambda H, y: lambda: nt.eigen_projections(H, y)),
        ("kernel_prediction", lambda H, y: lambda: nt.kernel_prediction(H, y, eta=0.5, steps=2)),
    ):
        arg = "y" if f == "eigen_projections" else "residual0"

        def check(H, y, f=f):
            return check_projections(H, y) if f == "eigen_projections" else check_kernel_loss(H, y, 0.5, 2)

        rows += nonfinite_cases(f, lambda A, call=call: call(A, Y0), H0, "H", r"^H or y contains NaN or infinite")
        rows += nonfinite_cases(f, lambda A, call=call: call(H0, A), Y0, arg, r"^H or y contains NaN or infinite")
        add(
            Case(
                f,
                "0 rows",
                "H of shape (0, 0)",
                no_draw(lambda call=call: Call(call(np.zeros((0, 0)), np.zeros(0)))),
                "ValueError",
                r"^H must be a square \(n, n\) matrix with n >= 1",
            )
        )
        add(
            Case(
                f,
                "0 columns",
                "H of shape (n, 0)",
                same(lambda draw, call=call: (lambda H: call(H, np.zeros(H.shape[0])))(empty_columns(draw))),
                "ValueError",
                r"^H must be a square \(n, n\) matrix",
            )
        )
        add(
            Case(
                f,
                "1-D",
                "H of shape (n,)",
                same(lambda draw, call=call: call(one_d(draw), Y0)),
                "ValueError",
                r"^H must be a square \(n, n\) matrix",
            )
        )
        add(
            Case(
                f,
                "3-D",
                "H of shape (b, n, d)",
                same(lambda draw, call=call: call(three_d(draw), Y0)),
                "ValueError",
                r"^H must be a square \(n, n\) matrix",
            )
        )
        for kind, E in (("int dtype", 2 * EYE_INT + 1), ("bool dtype", EYE_BOOL)):
            add(
                Case(
                    f,
                    kind,
                    f"H = {'2 I + 1 1^T' if kind == 'int dtype' else 'I'} as {E.dtype}",
                    no_draw(lambda E=E, call=call, check=check: Call(call(E, Y0[:3]), check=check(E, Y0[:3]))),
                    "result: equal to the float64 matrix's (eigh in float64)",
                )
            )
        add(
            Case(
                f,
                "mismatched lengths",
                f"{arg} with n + 1 entries",
                no_draw(lambda call=call: Call(call(H0, np.ones(N + 1)))),
                "ValueError",
                rf"^H is {N} x {N} but y has shape \({N + 1},\)",
            )
        )
        add(
            Case(
                f,
                "mismatched lengths",
                "H not symmetric",
                no_draw(lambda call=call: Call(call(np.triu(H0) + 1.0, Y0))),
                "ValueError",
                r"^H must be symmetric",
            )
        )

        def zero_row_h(draw, folder, call=call, check=check):
            H = gram_of(with_zero_row(X0, a_row(draw)))
            return Call(call(H, Y0), check=check(H, Y0))

        add(
            Case(
                f,
                "zero row",
                "H = X X^T with X[i] = 0",
                zero_row_h,
                "result: as eigh in float64 predicts (an eigenvalue 0)",
            )
        )

        def duplicate_h(draw, folder, call=call, check=check):
            i, j = two_rows(draw)
            H = np.asarray(nt.gram_infinity(with_duplicate(X0, i, j)))
            return Call(call(H, Y0), check=check(H, Y0))

        add(
            Case(
                f,
                "duplicate rows",
                "H = H^inf of X with X[j] = X[i]",
                duplicate_h,
                "result: as eigh in float64 predicts (an eigenvalue ~0)",
            )
        )

    # --- top_eigenvalues(loss, params, k) and hutchinson_trace(loss, params) ---
    for f, call, check in (
        ("top_eigenvalues", lambda loss, w: lambda: nt.top_eigenvalues(loss, w, 1, key=KEY), check_top_eigenvalue),
        ("hutchinson_trace", lambda loss, w: lambda: nt.hutchinson_trace(loss, w, key=KEY, samples=2), check_trace),
    ):
        rows += nonfinite_cases(
            f,
            lambda A, call=call: call(diagonal_loss, jnp.asarray(A)),
            W_PARAMS,
            "params",
            r"^params must be finite",
            "params",
        )
        add(
            Case(
                f,
                "0 rows",
                "params of shape (0,)",
                no_draw(lambda call=call: Call(call(diagonal_loss, jnp.zeros(0)))),
                "ValueError",
                r"^params must hold at least one parameter",
            )
        )
        add(
            Case(
                f,
                "0 columns",
                "params of shape (n, 0)",
                same(lambda draw, call=call: call(diagonal_loss, jnp.asarray(empty_columns(draw)))),
                "ValueError",
                r"^params must hold at least one parameter",
            )
        )
        for kind, shape in (("1-D", (12,)), ("3-D", (2, 3, 2))):
            w = W_PARAMS.reshape(shape)
            add(
                Case(
                    f,
                    kind,
                    f"params of shape {shape}",
                    no_draw(
                        lambda w=w, call=call, check=check: Call(call(diagonal_loss, jnp.asarray(w)), check=check(w))
                    ),
                    "result: exact for diag(-cos w) (any pytree shape is valid)",
                )
            )
        for kind, dtype in (("int dtype", np.int64), ("bool dtype", bool)):
            add(
                Case(
                    f,
                    kind,
                    f"params as {np.dtype(dtype).name}",
                    no_draw(lambda dtype=dtype, call=call: Call(call(diagonal_loss, jnp.ones(12, dtype)))),
                    "ValueError",
                    rf"^params must be a floating-point array .*got dtype {np.dtype(dtype).name}",
                )
            )

        def zero_row_w(draw, folder, call=call, check=check):
            w = with_zero_row(W_PARAMS.reshape(4, 3), a_row(draw, 4))
            return Call(call(diagonal_loss, jnp.asarray(w)), check=check(w))

        add(Case(f, "zero row", "params (4, 3) with row i = 0", zero_row_w, "result: exact for diag(-cos w)"))

        def duplicate_w(draw, folder, call=call, check=check):
            i, j = two_rows(draw, 4)
            w = with_duplicate(W_PARAMS.reshape(4, 3), i, j)
            return Call(call(diagonal_loss, jnp.asarray(w)), check=check(w))

        add(
            Case(
                f,
                "duplicate rows",
                "params (4, 3) with row j = row i",
                duplicate_w,
                "result: exact for diag(-cos w) (repeated eigenvalues)",
            )
        )

        def infinite_curvature(draw, folder, call=call):
            w, _ = poisoned(draw, np.abs(W_PARAMS) + 0.5, 0.0)
            return Call(call(log_loss, jnp.asarray(w)))

        add(
            Case(
                f,
                "non-finite derivatives",
                "loss sum(log w) at params with w_i = 0",
                infinite_curvature,
                "ValueError",
                r"finite second derivatives at params",
            )
        )
    add(
        Case(
            "top_eigenvalues",
            "mismatched lengths",
            "k = 13 > the 12 parameters",
            no_draw(lambda: Call(lambda: nt.top_eigenvalues(diagonal_loss, jnp.asarray(W_PARAMS), 13, key=KEY))),
            "ValueError",
            r"^k must be an integer in \[1, 12\]",
        )
    )
    add(
        Case(
            "top_eigenvalues",
            "past memory",
            f"{HUGE_N} parameters, num_steps = {HUGE_N}: a basis of 128 TB",
            no_draw(
                lambda: Call(lambda: nt.top_eigenvalues(diagonal_loss, jnp.zeros(HUGE_N), 1, key=KEY, num_steps=HUGE_N))
            ),
            "ValueError",
            rf"^num_steps must be few enough for the Lanczos basis to fit in memory.*{MEMORY}",
        )
    )
    add(
        Case(
            "hutchinson_trace",
            "past memory",
            "10^6 parameters, samples = 10^7: probes of 80 TB",
            no_draw(lambda: Call(lambda: nt.hutchinson_trace(diagonal_loss, jnp.zeros(10**6), key=KEY, samples=10**7))),
            "ValueError",
            rf"^samples must be few enough for the Rademacher probes to fit in memory.*{MEMORY}",
        )
    )

    # --- load_npz(path) ---
    f = "load_npz"

    def load(**arrays):
        return lambda draw, folder: Call(lambda: nt.load_npz(npz(folder, **arrays)))

    for kind, value in (("NaN", np.nan), ("+inf", np.inf), ("-inf", -np.inf)):

        def bad_x(draw, folder, value=value):
            path = npz(folder, x=poisoned(draw, NPZ_X, value)[0], y=NPZ_Y)
            return Call(lambda: nt.load_npz(path))

        def bad_y(draw, folder, value=value):
            path = npz(folder, x=NPZ_X, y=poisoned(draw, NPZ_Y, value)[0])
            return Call(lambda: nt.load_npz(path))

        add(Case(f, kind, f"{kind} in x", bad_x, "ValueError", r"\.npz: x contains NaN or infinite entries"))
        add(Case(f, kind, f"{kind} in y", bad_y, "ValueError", r"\.npz: y must be finite"))
    add(
        Case(
            f,
            "0 rows",
            "x of shape (0, 3), y of shape (0,)",
            load(x=np.zeros((0, 3)), y=np.zeros(0)),
            "ValueError",
            r"\.npz: x must hold n >= 1 samples",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "x of shape (6, 0)",
            load(x=np.zeros((6, 0)), y=NPZ_Y),
            "ValueError",
            r"\.npz: x must have at least one feature per sample",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "x of shape (6,)",
            load(x=np.arange(6.0), y=NPZ_Y),
            "ValueError",
            r"\.npz: x must hold n >= 1 samples along its first axis; got shape \(6,\)",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "x a scalar (0-D)",
            load(x=np.float64(3.0), y=NPZ_Y),
            "ValueError",
            r"\.npz: x must hold n >= 1 samples along its first axis; got shape \(\)",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "x of shape (6, 2, 2) (images)",
            lambda draw, folder: Call(lambda: nt.load_npz(npz(folder, x=NPZ_X, y=NPZ_Y)), check=check_loaded(6)),
            "result: 6 flattened, centered unit rows, labels +-1",
        )
    )
    add(
        Case(
            f,
            "wrong shape",
            "y of shape (6, 2)",
            load(x=NPZ_X, y=np.stack([NPZ_Y, NPZ_Y], 1)),
            "ValueError",
            r"\.npz: x has 6 samples but y has 12 labels",
        )
    )
    add(
        Case(
            f,
            "wrong shape",
            "y of 3 classes",
            load(x=NPZ_X, y=np.arange(6) % 3),
            "ValueError",
            r"\.npz: y must take exactly two values",
        )
    )
    # 6 samples whose centered rows are distinct and nonzero: all 6 stay
    for kind, x in (
        ("int dtype", (10 * NPZ_X).astype(np.int64)),
        ("bool dtype", np.eye(6, dtype=bool).reshape(6, 2, 3)),
    ):
        add(
            Case(
                f,
                kind,
                f"x as {x.dtype}",
                lambda draw, folder, x=x: Call(lambda: nt.load_npz(npz(folder, x=x, y=NPZ_Y)), check=check_loaded(6)),
                "result: converted to float64, 6 unit rows, labels +-1",
            )
        )
    add(
        Case(
            f,
            "mismatched lengths",
            "y with 5 labels for 6 samples",
            load(x=NPZ_X, y=NPZ_Y[:5]),
            "ValueError",
            r"\.npz: x has 6 samples but y has 5 labels",
        )
    )

    def npz_zero_row(draw, folder):
        i = a_row(draw, 6)
        path = npz(folder, x=with_zero_row(NPZ_X, i), y=NPZ_Y)
        labels = np.where(np.delete(NPZ_Y, i) == 7, 1.0, -1.0)
        return Call(lambda: nt.load_npz(path, center=False), check=check_loaded(5, labels))

    add(
        Case(
            f,
            "zero row",
            "x[i] = 0 (center=False)",
            npz_zero_row,
            "result: the zero sample dropped (5 rows), its label with it",
        )
    )

    def npz_duplicate(draw, folder):
        i, j = two_rows(draw, 6)
        path = npz(folder, x=with_duplicate(NPZ_X, i, j), y=NPZ_Y)
        return Call(lambda: nt.load_npz(path), check=check_loaded(5))

    add(Case(f, "duplicate rows", "x[j] = x[i]", npz_duplicate, "result: the repeat dropped (5 distinct rows)"))
    add(
        Case(
            f,
            "object arrays",
            "x an object array (a pickle inside)",
            lambda draw, folder: object_array_npz(folder, "x"),
            "ValueError",
            r"\.npz: array 'x' must hold numbers or strings; got dtype object",
        )
    )
    add(
        Case(
            f,
            "object arrays",
            "y an object array (a pickle inside)",
            lambda draw, folder: object_array_npz(folder, "y"),
            "ValueError",
            r"\.npz: array 'y' must hold numbers or strings; got dtype object",
        )
    )
    add(
        Case(
            f,
            "pickle",
            "a pickle file named .npz",
            lambda draw, folder: pickle_file(folder),
            "ValueError",
            r"\.npz must be an \.npz archive .*not a zip archive",
        )
    )

    def single_npy(draw, folder):
        path = folder / f"data{next(_FILES)}.npy"
        np.save(path, NPZ_X)
        return Call(lambda: nt.load_npz(path))

    add(Case(f, "pickle", "a single .npy", single_npy, "ValueError", r"\.npy must be an \.npz archive"))

    def garbage(draw, folder):
        path = folder / f"data{next(_FILES)}.npz"
        path.write_bytes(bytes(draw(st.lists(st.integers(0, 255), min_size=0, max_size=64))))
        return Call(lambda: nt.load_npz(path))

    add(Case(f, "pickle", "random bytes", garbage, "ValueError", r"must be an \.npz archive"))

    def corrupt_member(draw, folder):
        path = folder / f"corrupt{next(_FILES)}.npz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x.npy", bytes(draw(st.lists(st.integers(0, 255), max_size=32))))
            archive.writestr("y.npy", b"")
        return Call(lambda: nt.load_npz(path))

    add(
        Case(
            f,
            "pickle",
            "a zip whose x.npy is random bytes",
            corrupt_member,
            "ValueError",
            r"\.npz: member 'x\.npy' must be an \.npy array",
        )
    )

    def extra_members(draw, folder):
        path = npz(folder, x=NPZ_X, y=NPZ_Y, notes=np.array(["a", "b"]))
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("README.txt", "not an array")
        return Call(lambda: nt.load_npz(path), check=check_loaded(6))

    add(
        Case(
            f,
            "extra members",
            "other arrays and a text file next to x and y",
            extra_members,
            "result: x and y loaded, the rest ignored",
        )
    )
    add(
        Case(
            f,
            "past memory",
            "x's header declares (10^7, 10^6) float64: 80 TB",
            lambda draw, folder: Call(lambda: nt.load_npz(huge_header_npz(folder))),
            "ValueError",
            rf"\.npz: array 'x' must fit in memory \(as float64\); got shape \(10000000, 1000000\).*{MEMORY}",
        )
    )

    # --- prepare_inputs(x) ---
    f = "prepare_inputs"
    rows += nonfinite_cases(f, lambda A: lambda: nt.prepare_inputs(A), NPZ_X, "x", r"^x contains NaN or infinite")
    add(
        Case(
            f,
            "0 rows",
            "x of shape (0, d)",
            same(lambda draw: lambda: nt.prepare_inputs(empty_rows(draw))),
            "ValueError",
            r"^x must hold n >= 1 samples along its first axis",
        )
    )
    add(
        Case(
            f,
            "0 columns",
            "x of shape (n, 0)",
            same(lambda draw: lambda: nt.prepare_inputs(empty_columns(draw))),
            "ValueError",
            r"^x must have at least one feature per sample",
        )
    )
    add(
        Case(
            f,
            "1-D",
            "x of shape (n,)",
            same(lambda draw: lambda: nt.prepare_inputs(one_d(draw))),
            "ValueError",
            r"^x must hold n >= 1 samples along its first axis",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "x of shape (6, 2, 2) (images)",
            no_draw(lambda: Call(lambda: nt.prepare_inputs(NPZ_X), check=check_prepared(6, 4, np.arange(6)))),
            "result: flattened to (6, 4), unit rows",
        )
    )
    add(
        Case(
            f,
            "3-D",
            "x of shape (1, n, d): one sample, zero after centering",
            same(lambda draw: lambda: nt.prepare_inputs(three_d(draw)[:1])),
            "ValueError",
            r"^x must hold at least one sample that is nonzero after centering",
        )
    )
    for kind, x in (("int dtype", EYE_INT), ("bool dtype", EYE_BOOL)):
        add(
            Case(
                f,
                kind,
                f"x = I_3 as {x.dtype}",
                no_draw(
                    lambda x=x: Call(
                        lambda: nt.prepare_inputs(x),
                        check=lambda r: assert_same_as_float(r[0], nt.prepare_inputs(np.eye(3))[0]),
                    )
                ),
                "result: equal to the float64 input's",
            )
        )
    for dtype, x in (("complex", NPZ_X + 1j), ("string", np.array([["a", "b"]])), ("object", np.array([[None]]))):
        add(
            Case(
                f,
                "not real",
                f"x of {dtype} dtype",
                no_draw(lambda x=x: Call(lambda: nt.prepare_inputs(x))),
                "ValueError",
                r"^x must hold real numbers; got dtype",
            )
        )

    def prep_zero_row(draw, folder):
        i = a_row(draw, 6)
        x = with_zero_row(NPZ_X, i)
        return Call(lambda: nt.prepare_inputs(x, center=False), check=check_prepared(5, 4, np.delete(np.arange(6), i)))

    add(Case(f, "zero row", "x[i] = 0 (center=False)", prep_zero_row, "result: row i dropped, kept = the others"))
    add(
        Case(
            f,
            "zero row",
            "every sample 0",
            same(lambda draw: lambda: nt.prepare_inputs(np.zeros((draw(st.integers(1, 6)), 3)))),
            "ValueError",
            r"^x must hold at least one sample that is nonzero",
        )
    )

    def prep_duplicate(draw, folder):
        i, j = two_rows(draw, 6)
        x = with_duplicate(NPZ_X, i, j)
        keep = np.delete(np.arange(6), max(i, j))  # np.unique keeps the first copy
        return Call(lambda: nt.prepare_inputs(x), check=check_prepared(5, 4, keep))

    add(Case(f, "duplicate rows", "x[j] = x[i]", prep_duplicate, "result: the later copy dropped"))
    return rows


CASES = cases()
# The (function, kind) pairs the table leaves out, and why.
NOT_APPLICABLE = {
    ("gram_infinity", "mismatched lengths"): "one array argument",
    ("lambda_min", "past memory"): "the input H is already the (n, n) array eigh works on; no larger one is made",
    ("eigen_projections", "past memory"): "the input H is already the (n, n) array; the work is O(n^2) memory",
    ("kernel_prediction", "past memory"): "the input H is already the (n, n) array; the output is (steps + 1,)",
    ("hutchinson_trace", "mismatched lengths"): "params is any pytree; no second array to mismatch",
    ("prepare_inputs", "mismatched lengths"): "one array argument",
    ("prepare_inputs", "past memory"): "its memory is O(size of x), which the caller already holds",
}


def outcome(case: Case) -> str:
    return f"{case.expected} (known gap: {case.gap})" if case.gap else case.expected


def outcome_table() -> str:
    """The table as markdown: function, kind, bad input, outcome, the pattern the error message must match (and the
    pairs not applicable, with their reason)."""
    lines = ["| function | kind | bad input | outcome | message matches |", "|---|---|---|---|---|"]
    for f in FUNCTIONS:
        for case in (c for c in CASES if c.function == f):
            pattern = f"`{case.match}`".replace("|", "\\|") if case.match else ""
            lines.append(f"| {f} | {case.kind} | {case.bad_input} | {outcome(case)} | {pattern} |")
        for (g, kind), why in NOT_APPLICABLE.items():
            if g == f:
                lines.append(f"| {f} | {kind} | - | not applicable: {why} | |")
    return "\n".join(lines)


@pytest.fixture
def no_hang():
    """A call that runs past HANG_SECONDS fails (SIGALRM) instead of hanging the suite."""

    def fail(signum, frame):
        raise TimeoutError(f"the call ran past {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(HANG_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def assert_no_nan(result) -> None:
    for leaf in jax.tree.leaves(result):
        if isinstance(leaf, (np.ndarray, jax.Array)) and np.issubdtype(np.asarray(leaf).dtype, np.inexact):
            assert np.all(np.isfinite(np.asarray(leaf))), "a non-finite entry in the result"


def run_case(case: Case, draw, folder: pathlib.Path) -> None:
    call = case.build(draw, folder)
    if case.expected.startswith("result:"):
        result = call.run()
        assert_no_nan(result)
        assert call.check is not None, "a result row must check its result"
        call.check(result)
        return
    error = nt.AssumptionError if case.expected == "AssumptionError" else ValueError
    start = time.perf_counter()
    with pytest.raises(error) as info:
        call.run()
    elapsed = time.perf_counter() - start
    if case.expected == "ValueError":
        assert not isinstance(info.value, nt.AssumptionError), info.value
    for pattern in (case.match, call.match):
        assert re.search(pattern, str(info.value)), f"{str(info.value)!r} does not match {pattern!r}"
    if case.kind == "past memory":
        assert elapsed < REFUSAL_SECONDS, f"the refusal took {elapsed:.1f} s"


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else []
    return pytest.param(case, id=f"{case.function}-{case.kind}-{case.bad_input}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
@given(data=st.data())
def test_hostile_input(case, data, tmp_path, no_hang):
    """The row's call ends in its expected outcome: the error (its message matching the row's pattern and, where the
    values were drawn, naming the first bad entry or row), or a result that passes the row's check and holds no NaN or
    infinity; a refusal of a shape past memory takes under REFUSAL_SECONDS."""
    run_case(case, data.draw, tmp_path)


def test_every_function_meets_every_kind_of_bad_input():
    """Each function of the issue against each kind of bad input: a row of the table, or a reason why not."""
    covered = {(c.function, c.kind) for c in CASES}
    missing = [(f, k) for f in FUNCTIONS for k in KINDS if (f, k) not in covered and (f, k) not in NOT_APPLICABLE]
    assert not missing, missing
    assert not covered & set(NOT_APPLICABLE), covered & set(NOT_APPLICABLE)
    assert set(FUNCTIONS) <= set(nt.__all__)


def test_load_npz_never_unpickles(tmp_path):
    """load_npz reads with allow_pickle=False (and refuses a non-zip file before NumPy sees it). The tripwires of the
    table's pickle rows are live: unpickling either file does create its marker, so their "no marker" checks mean
    something."""
    import inspect

    source = inspect.getsource(nt.load_npz)
    assert "allow_pickle=False" in source and "allow_pickle=True" not in source
    marker = tmp_path / "fired"
    path = tmp_path / "trap.pkl"
    path.write_bytes(pickle.dumps({"trap": Tripwire(marker)}))
    pickle.loads(path.read_bytes())
    assert marker.exists()
    marker.unlink()
    np.savez(tmp_path / "trap.npz", x=np.array([Tripwire(marker)], dtype=object), y=np.zeros(1))
    with np.load(tmp_path / "trap.npz", allow_pickle=True) as data:
        data["x"]
    assert marker.exists()


if __name__ == "__main__":
    print(outcome_table())
