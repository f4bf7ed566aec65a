"""Inputs on the unit sphere, labels, and the input checks the theorems assume.

Du et al. (2019), Section 3: inputs satisfy ||x_i|| = 1, labels |y_i| = O(1), and no two inputs are
parallel (Assumption 3.1 / Theorem 3.1: this makes lambda_0 = lambda_min(H^inf) > 0).
"""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


class AssumptionError(ValueError):
    """A theorem's assumption fails for the given inputs (e.g. parallel inputs, lambda_0 ~ 0)."""


def unit_sphere(key: Array, n: int, d: int, dtype=None) -> Array:
    """n points uniform on the unit sphere S^{d-1} of R^d: normalized standard Gaussians.

    Du et al. (2019), Section 6 (Figure 1): "n = 1000 points uniformly generated from a d-dimensional
    unit sphere". Returns X of shape (n, d) with ||X[i]|| = 1 in ``dtype`` (default: JAX's default float,
    float64 under JAX_ENABLE_X64=1). One problem in every precision: the Gaussians are drawn in float32
    (``standard_normal``) and normalized in float64 whatever ``dtype``, so a float32 run and a float64 run of
    one seed solve the same problem (the float32 inputs are the rounding of the float64 ones).
    """
    check_positive_int(n, "n")
    check_positive_int(d, "d")
    g = np.asarray(standard_normal(key, (n, d)), np.float64)
    return jnp.asarray(g / np.linalg.norm(g, axis=1, keepdims=True), dtype=float_dtype(dtype))


def standard_normal(key: Array, shape, dtype=None) -> Array:
    """N(0, 1) draws made in float32 and cast to ``dtype``: the same numbers in every precision for one key."""
    return jax.random.normal(key, shape, dtype=jnp.float32).astype(float_dtype(dtype))


def float_dtype(dtype=None):
    """``dtype``, or JAX's default float (float32, or float64 under JAX_ENABLE_X64=1)."""
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def gaussian_labels(key: Array, n: int, dtype=None) -> Array:
    """Labels y_i ~ N(0, 1), as in Du et al. (2019), Section 6. Shape (n,); drawn in float32 and cast to
    ``dtype`` (``standard_normal``), so every precision gets the same labels."""
    check_positive_int(n, "n")
    return standard_normal(key, (n,), dtype)


def normalize_rows(X) -> Array:
    """Project each row of X onto the unit sphere: x_i / ||x_i||. Rows of norm 0 are an error."""
    X = jnp.asarray(X)
    norms = jnp.linalg.norm(X, axis=1, keepdims=True)
    if bool(jnp.any(norms == 0)):
        bad = int(np.flatnonzero(np.asarray(norms[:, 0]) == 0)[0])
        raise ValueError(f"X[{bad}] is the zero vector and cannot be normalized onto the unit sphere.")
    return X / norms


def unit_norm_tolerance(dtype) -> float:
    """sqrt(machine epsilon) of dtype: how far ||x_i|| may sit from 1 and still count as on the sphere."""
    return float(np.sqrt(np.finfo(np.dtype(dtype)).eps))


@overload
def check_inputs(X, y: None = None, *, normalize: bool = False, distinct: bool = True) -> tuple[Array, None]: ...


@overload
def check_inputs(X, y: Any, *, normalize: bool = False, distinct: bool = True) -> tuple[Array, Array]: ...


def check_inputs(X, y=None, *, normalize: bool = False, distinct: bool = True) -> tuple[Array, Array | None]:
    """Validate the inputs of the Du et al. (2019) setting and return them as JAX arrays.

    Checks, each with an error that names the argument and says what to fix:
    X is a finite (n, d) matrix with n, d >= 1; each row has unit norm (or, with ``normalize=True``,
    is projected onto the sphere); y, if given, is a finite vector of n labels; with ``distinct=True``
    no two rows point the same way (x_i . x_j = 1 makes H^inf singular, so lambda_0 = 0 and
    Theorem 4.1 says nothing).
    """
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.result_type(float))
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of shape (n, d); got shape {X.shape}.")
    n, d = X.shape
    if n < 1 or d < 1:
        raise ValueError(f"X must have n >= 1 rows and d >= 1 columns; got shape {X.shape}.")
    if not bool(jnp.all(jnp.isfinite(X))):
        raise ValueError("X contains NaN or infinite entries.")
    if normalize:
        X = normalize_rows(X)
    else:
        norms = np.asarray(jnp.linalg.norm(X, axis=1))
        tol = unit_norm_tolerance(X.dtype)
        off = np.abs(norms - 1.0)
        if off.max() > tol:
            i = int(off.argmax())
            raise ValueError(
                f"Row X[{i}] has norm {norms[i]:.6g}, but Du et al. (2019) assume inputs on the unit sphere "
                f"(|norm - 1| <= {tol:.1e}). Normalize the rows (ntk_proofs.normalize_rows) or pass normalize=True."
            )
    if distinct and n > 1:
        check_distinct_directions(X)
    if y is not None:
        y = jnp.asarray(y, dtype=X.dtype)
        if y.ndim != 1:
            raise ValueError(f"y must be a vector of n labels; got shape {y.shape}.")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {y.shape[0]} labels.")
        if not bool(jnp.all(jnp.isfinite(y))):
            raise ValueError("y contains NaN or infinite labels.")
    return X, y


def check_distinct_directions(X, *, tol: float | None = None) -> None:
    """Raise AssumptionError if two unit rows are (numerically) parallel: x_i . x_j >= 1 - tol.

    Du et al. (2019), Theorem 3.1: if no two inputs are parallel, lambda_0 > 0. Two rows pointing the
    same way give two identical rows of H^inf, so lambda_0 = 0 and no width makes GD provably converge
    (with different labels on the pair, zero loss is impossible). Rows pointing in opposite directions
    keep H^inf positive definite (H^inf_ij = 0 for x_j = -x_i), so only same-direction pairs are refused.
    """
    Xn = np.asarray(X, dtype=np.float64)
    tol = float(10 * np.finfo(np.asarray(X).dtype).eps ** 0.5) if tol is None else float(tol)
    G = Xn @ Xn.T
    norms = np.sqrt(np.clip(np.diag(G), 1e-300, None))
    C = G / norms[:, None] / norms[None, :]
    np.fill_diagonal(C, -np.inf)
    i, j = np.unravel_index(int(np.argmax(C)), C.shape)
    if C[i, j] >= 1.0 - tol:
        raise AssumptionError(
            f"Inputs X[{min(i, j)}] and X[{max(i, j)}] are parallel (cosine {C[i, j]:.8f}): H^inf is singular, "
            "lambda_0 = 0, and the assumption of Du et al. (2019, Theorem 3.1) fails. Remove duplicate inputs."
        )


def check_positive_int(value, name: str) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an integer >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def prepare_inputs(x, *, center: bool = True, dedupe: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Flatten samples, optionally subtract the mean sample, project onto the unit sphere.

    Returns (X (n, d) float64 NumPy, kept row indices). With ``dedupe`` rows whose direction repeats an
    earlier row are dropped (parallel inputs make lambda_0 = 0, Du et al. 2019, Theorem 3.1).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x must hold n >= 1 samples along its first axis; got shape {x.shape}.")
    x = x.reshape(x.shape[0], -1)
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite entries.")
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1)
    keep = np.flatnonzero(norms > 0)
    X = x[keep] / norms[keep, None]
    if dedupe:
        _, first = np.unique(np.round(X, 12), axis=0, return_index=True)
        first = np.sort(first)
        X, keep = X[first], keep[first]
    return X, keep


def binary_labels(labels, positive=None) -> np.ndarray:
    """Map a vector with two distinct values (or a boolean ``positive`` mask) to labels in {-1, +1}."""
    labels = np.asarray(labels)
    if positive is not None:
        return np.where(np.asarray(positive, bool), 1.0, -1.0)
    values = np.unique(labels)
    if values.size != 2:
        raise ValueError(
            f"Labels must take exactly two values for a +-1 task; got {values.size} distinct values "
            f"({values[:10].tolist()}...). Select two classes first."
        )
    return np.where(labels == values[1], 1.0, -1.0)


def load_digits_binary(classes=(0, 1), *, center: bool = True, dtype=None) -> tuple[Array, Array]:
    """A two-class task from scikit-learn's bundled 8x8 handwritten digits (shipped in the package, no download).

    ``classes`` is a pair of digits (label +1 for the second) or "parity" (odd = +1 vs even = -1, all 1797
    images). Images are flattened to 64 features, centered (optional), projected onto the unit sphere
    and deduplicated by direction. Returns X (n, 64) and y (n,) in {-1, +1}.
    """
    from sklearn.datasets import load_digits

    digits: Any = load_digits()  # a scikit-learn Bunch (its stubs type it as a tuple)
    if isinstance(classes, str):
        if classes != "parity":
            raise ValueError(f"classes must be a pair of digits or 'parity'; got {classes!r}.")
        rows = np.arange(digits.target.size)
        labels = binary_labels(None, positive=digits.target % 2 == 1)
    else:
        a, b = (int(c) for c in classes)
        if a == b or not {a, b} <= set(range(10)):
            raise ValueError(f"classes must be two different digits 0-9; got {classes!r}.")
        rows = np.flatnonzero(np.isin(digits.target, [a, b]))
        labels = np.where(digits.target[rows] == b, 1.0, -1.0)
    X, keep = prepare_inputs(digits.data[rows], center=center)
    return jnp.asarray(X, dtype=dtype), jnp.asarray(labels[keep], dtype=dtype)


def load_npz(path, *, center: bool = True, dtype=None) -> tuple[Array, Array]:
    """A user's own data set from an ``.npz`` with keys ``x`` (n, ...) and ``y`` (n,) of two classes.

    For MNIST or CIFAR subsets too large to ship. Samples are flattened, centered (optional), projected
    onto the unit sphere and deduplicated; the two label values map to -1 and +1 (larger value = +1).
    """
    with np.load(path) as data:
        missing = {"x", "y"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks the key(s) {sorted(missing)}; it must hold arrays 'x' and 'y'.")
        x, y = data["x"], data["y"]
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != np.asarray(x).shape[0]:
        raise ValueError(f"{path}: x has {np.asarray(x).shape[0]} samples but y has {y.shape[0]} labels.")
    labels = binary_labels(y)
    X, keep = prepare_inputs(x, center=center)
    return jnp.asarray(X, dtype=dtype), jnp.asarray(labels[keep], dtype=dtype)


def corrupt_labels(key: Array, y: Array, p: float) -> Array:
    """Replace a fraction p of the labels, chosen uniformly without replacement, by random signs.

    Arora et al. (2019), Section 6: p = 0 keeps the true labels, p = 1 gives fully random labels
    (a replaced label is wrong with probability 1/2). round(p n) labels are replaced.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1]; got {p!r}.")
    y = jnp.asarray(y)
    n = y.shape[0]
    k_pick, k_sign = jax.random.split(key)
    count = int(round(p * n))
    picked = jax.random.permutation(k_pick, n)[:count]
    signs = jax.random.rademacher(k_sign, (count,), dtype=y.dtype)
    return y.at[picked].set(signs)


def train_test_split(key: Array, X: Array, y: Array, n_test: int) -> tuple[Array, Array, Array, Array]:
    """A seeded random split: (X_train, y_train, X_test, y_test) with n_test test points."""
    n = X.shape[0]
    if not 0 < n_test < n:
        raise ValueError(f"n_test must lie strictly between 0 and n = {n}; got {n_test}.")
    perm = jax.random.permutation(key, n)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], y[train], X[test], y[test]


def digits_split(key: Array, n_train: int, n_test: int, classes="parity", *, dtype=None):
    """The bundled digits task of the suite's studies (``load_digits_binary``; odd vs even by default), split
    with ``key`` into (X_train[:n_train], y_train[:n_train], X_test, y_test) with n_test test points."""
    X, y = load_digits_binary(classes, dtype=dtype)
    if n_train + n_test > X.shape[0]:
        raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {X.shape[0]} digits available.")
    if n_test == 0:
        keep = jax.random.permutation(key, X.shape[0])[:n_train]
        return X[keep], y[keep], X[:0], y[:0]
    Xtr, ytr, Xte, yte = train_test_split(key, X, y, n_test)
    return Xtr[:n_train], ytr[:n_train], Xte, yte
