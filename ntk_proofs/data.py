"""Inputs on the unit sphere, labels, and the input checks the theorems assume.

Du et al. (2019), Section 3: inputs satisfy ||x_i|| = 1, labels |y_i| = O(1), and no two inputs are
parallel (Assumption 3.1 / Theorem 3.1: this makes lambda_0 = lambda_min(H^inf) > 0).
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

Array = jax.Array


class AssumptionError(ValueError):
    """A theorem's assumption fails for the given inputs (e.g. parallel inputs, lambda_0 ~ 0)."""


def unit_sphere(key: Array, n: int, d: int, dtype=None) -> Array:
    """n points uniform on the unit sphere S^{d-1} of R^d: normalized standard Gaussians.

    Du et al. (2019), Section 6 (Figure 1): "n = 1000 points uniformly generated from a d-dimensional
    unit sphere". One problem in every precision: the Gaussians are drawn in float32 (``standard_normal``) and
    normalized in float64 whatever ``dtype``, so a float32 run and a float64 run of one seed solve the same
    problem (the float32 inputs are the rounding of the float64 ones).

    Args:
      key: a PRNG key.
      n: the number of points, >= 1.
      d: the dimension, >= 1.
      dtype (DTypeLike | None): the result's dtype (default: JAX's default float, float64 under JAX_ENABLE_X64=1).

    Returns:
      X of shape (n, d) with ||X[i]|| = 1.

    Raises:
      ValueError: n or d is not a positive integer.
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

    Each check's error names the argument and says what to fix. With ``distinct=True`` no two rows may point the
    same way (x_i . x_j = 1 makes H^inf singular, so lambda_0 = 0 and Theorem 4.1 says nothing).

    Args:
      X (ArrayLike): a finite (n, d) matrix with n, d >= 1 and rows of unit norm (to within sqrt(eps) of its
        dtype); booleans and integers become floats.
      y (ArrayLike | None): None, or a finite vector of n labels.
      normalize: project the rows of X onto the sphere instead of requiring unit norms.
      distinct: refuse two rows that point the same way (``check_distinct_directions``).

    Returns:
      (X, y) as JAX arrays, y cast to X's dtype (None when not given).

    Raises:
      ValueError: X or y is not real, of the wrong shape, not finite, or a row of X is off the sphere (or zero,
        with ``normalize``).
      AssumptionError: with ``distinct``, two rows of X are parallel.
    """
    X = as_real_array(X, "X")
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
        y = as_real_array(y, "y").astype(X.dtype)
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
    n = int(np.shape(X)[0])
    check_fits_in_memory(
        8 * n * n,
        f"X must have few enough rows for the check that no two are parallel (their (n, n) float64 Gram matrix, on "
        f"the host) to fit in memory; got n = {n} rows, whose Gram matrix",
        host=True,
    )
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


def as_real_array(A, name: str, dtype=None) -> Array:
    """``A`` as a JAX array of floats, or a ValueError naming ``name``: booleans and integers become floats
    (``dtype``, default JAX's default float), complex, string and object arrays are refused."""
    try:
        A = jnp.asarray(A)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of real numbers; got a {type(A).__name__} ({error}).") from None
    if A.dtype == jnp.bool_ or jnp.issubdtype(A.dtype, jnp.integer):
        return A.astype(float_dtype(dtype))
    if not jnp.issubdtype(A.dtype, jnp.floating):
        raise ValueError(f"{name} must hold real numbers; got dtype {A.dtype}.")
    return A


def traced(value) -> bool:
    """Whether ``value`` is a tracer (inside ``jit``, ``vmap`` or a transformation), whose entries are not known."""
    return isinstance(value, Tracer)


def check_finite(A, name: str) -> None:
    """Raise ValueError naming ``name`` and its first non-finite entry unless every entry of A is finite. Inside
    ``jit`` nothing is checked (a traced value's entries are not known)."""
    finite = jnp.all(jnp.isfinite(A))
    if traced(finite) or bool(finite):  # a tracer: inside jit (A itself may be a constant)
        return
    values = np.asarray(A)
    bad = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
    where = f"{name}[{', '.join(map(str, bad))}]" if bad else name
    raise ValueError(f"{name} must be finite; got {values[bad]} at {where}.")


def check_matrix(A, name: str, *, square: bool = False, shape: str = "(n, d)", dtype=None) -> Array:
    """``A`` as a finite 2-D JAX float array with at least one row and one column (square with ``square=True``), or
    a ValueError naming ``name``. Booleans and integers become floats (``as_real_array``). Under ``jit`` only the
    shape is checked."""
    A = as_real_array(A, name, dtype)
    if square:
        shape = "(n, n)"
    if A.ndim != 2 or (square and A.shape[0] != A.shape[1]):
        raise ValueError(
            f"{name} must be a {'square' if square else '2-D'} array of shape {shape}; got shape {A.shape}."
        )
    if A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column; got shape {A.shape}.")
    check_finite(A, name)
    return A


def check_parameters(params, name: str = "params") -> None:
    """Raise ValueError naming the leaf unless ``params`` is a pytree of floating-point arrays, with at least one
    entry in all, every entry finite (derivatives are taken with respect to every leaf). Traced leaves are checked
    for their dtype only."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    for path, leaf in leaves:
        where = name + jax.tree_util.keystr(path)
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{where} must be a floating-point array (it is differentiated); got dtype {dtype}.")
        check_finite(jnp.asarray(leaf), where)
    if sum(int(np.size(leaf)) for _, leaf in leaves) == 0:
        raise ValueError(f"{name} must hold at least one parameter; got a pytree with none.")


def host_memory_bytes() -> int:
    """The host's physical memory in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))


def device_memory() -> tuple[int, str]:
    """The memory of JAX's first device and its name: the device's ``bytes_limit`` where it reports one (GPUs),
    else the host's physical memory (a CPU device allocates from the host)."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"]), f"device {device}"
    return host_memory_bytes(), "this host"


def format_bytes(nbytes: float) -> str:
    """A byte count in decimal units: 1.28 TB."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} B"


def check_fits_in_memory(nbytes: int, message: str, *, host: bool = False) -> None:
    """Raise ValueError before anything is allocated when an array of ``nbytes`` bytes exceeds the memory of the
    device (of the host with ``host=True``). ``message`` says which argument asks for which array; the sizes are
    appended: "<message> needs 1.28 TB, more than the 25.3 GB of memory of this host." """
    limit, where = (host_memory_bytes(), "this host") if host else device_memory()
    if nbytes > limit:
        raise ValueError(
            f"{message} needs {format_bytes(nbytes)}, more than the {format_bytes(limit)} of memory of {where}."
        )


def prepare_inputs(x, *, center: bool = True, dedupe: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Flatten samples, optionally subtract the mean sample, project onto the unit sphere.

    Rows that are zero (after centering) have no direction and are dropped; with ``dedupe`` rows whose direction
    repeats an earlier row are dropped too (parallel inputs make lambda_0 = 0, Du et al. 2019, Theorem 3.1).

    Args:
      x (ArrayLike): (n, ...) samples of real numbers (booleans and integers are converted), flattened to (n, d).
      center: subtract the mean sample first.
      dedupe: drop rows whose direction (rounded to 12 decimals) repeats an earlier row.

    Returns:
      The pair (X, keep), X (n_kept, d) float64 NumPy with unit rows, and the indices into ``x`` of the rows kept.

    Raises:
      ValueError: x is not real, has no sample or no feature, has a non-finite entry, or has no nonzero sample
        (after centering).
    """
    try:
        x = np.asarray(x)
    except ValueError as error:  # ragged nested sequences
        raise ValueError(f"x must be an array of shape (n, ...); got a {type(x).__name__} ({error}).") from None
    if x.dtype.kind not in "biuf":
        raise ValueError(f"x must hold real numbers; got dtype {x.dtype}.")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x must hold n >= 1 samples along its first axis; got shape {x.shape}.")
    shape = x.shape
    x = x.astype(np.float64).reshape(x.shape[0], -1)
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least one feature per sample; got shape {shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite entries.")
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1)
    keep = np.flatnonzero(norms > 0)
    if keep.size == 0:
        raise ValueError(
            f"x must hold at least one sample that is nonzero{' after centering' if center else ''}; got {shape[0]} "
            "sample(s), all zero" + (" (a single sample, or identical ones, center to zero)." if center else ".")
        )
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

    Images are flattened to 64 features, centered (optional), projected onto the unit sphere and deduplicated by
    direction (``prepare_inputs``).

    Args:
      classes (tuple[int, int] | str): a pair of digits (label +1 for the second) or "parity" (odd = +1 vs
        even = -1, all 1797 images).
      center: subtract the mean image first.
      dtype (DTypeLike | None): the dtype of the results (default: JAX's default float).

    Returns:
      The pair (X, y), X (n, 64) with unit rows and y (n,) in {-1, +1}.

    Raises:
      ValueError: ``classes`` is neither "parity" nor two different digits 0-9.
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
    onto the unit sphere and deduplicated (``prepare_inputs``). Nothing is ever unpickled (``allow_pickle=False``).

    Args:
      path (str | os.PathLike): the ``.npz`` file.
      center: subtract the mean sample first.
      dtype (DTypeLike | None): the dtype of the results (default: JAX's default float).

    Returns:
      The pair (X, y), X (n_kept, d) with unit rows and y (n_kept,) in {-1, +1}; the two label values map to -1
        and +1 (larger value = +1).

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: naming the file and the array, for a file that is not an ``.npz`` archive (a pickle, a single
        ``.npy``, anything else), a missing key, arrays of Python objects, arrays too large for the host's memory
        (read from the ``.npy`` headers, before any data is loaded), an ``x`` that ``prepare_inputs`` refuses, a
        ``y`` without one finite label per sample or with other than two values.
    """
    with open(path, "rb") as handle:  # a missing file: FileNotFoundError, as open() says it
        if not zipfile.is_zipfile(handle):
            raise ValueError(
                f"{path} must be an .npz archive (numpy.savez) holding arrays 'x' and 'y'; got a file that is not a "
                "zip archive (a pickle or a single .npy is refused, and nothing is ever unpickled)."
            )
    headers = npz_headers(path)
    missing = {"x", "y"} - set(headers)
    if missing:
        raise ValueError(f"{path} lacks the key(s) {sorted(missing)}; it must hold arrays 'x' and 'y'.")
    for name, (shape, dt) in headers.items():
        if dt.hasobject:
            raise ValueError(
                f"{path}: array '{name}' must hold numbers or strings; got dtype object (Python objects, which "
                "load_npz never unpickles). Save a numeric array."
            )
        check_fits_in_memory(
            math.prod(shape) * max(dt.itemsize, 8),
            f"{path}: array '{name}' must fit in memory (as float64); got shape {shape} of {dt}, which",
            host=True,
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: cannot read its arrays 'x' and 'y' ({error}).") from None
    try:
        X, keep = prepare_inputs(x, center=center)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    n = x.shape[0]
    y = np.asarray(y)
    if y.dtype.kind not in "biufUS":
        raise ValueError(f"{path}: y must hold numbers or strings; got dtype {y.dtype}.")
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{path}: x has {n} samples but y has {y.shape[0]} labels.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{path}: y must be finite; got NaN or infinite labels.")
    values = np.unique(y)
    if values.size != 2:
        raise ValueError(
            f"{path}: y must take exactly two values for a +-1 task; got {values.size} distinct values "
            f"({values[:10].tolist()}...). Select two classes first."
        )
    labels = binary_labels(y)
    return jnp.asarray(X, dtype=dtype), jnp.asarray(labels[keep], dtype=dtype)


def npz_headers(path, names=("x", "y")) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype of the arrays ``names`` of an ``.npz`` archive (those it holds), from their ``.npy`` headers
    alone (no data is read, nothing is unpickled). ValueError, naming the member, for one that is not an ``.npy``
    array."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            name = member[:-4] if member.endswith(".npy") else member
            if name not in names:
                continue
            try:
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, dt = np.lib.format.read_array_header_1_0(handle)
                    elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
                        shape, _, dt = np.lib.format.read_array_header_2_0(handle)
                    else:
                        raise ValueError(f"unknown .npy format version {version}")
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
                raise ValueError(
                    f"{path}: member '{member}' must be an .npy array; got one that is not ({error})."
                ) from None
            headers[name] = (tuple(int(k) for k in shape), np.dtype(dt))
    return headers


def corrupt_labels(key: Array, y: Array, p: float) -> Array:
    """Replace a fraction p of the labels, chosen uniformly without replacement, by random signs.

    Arora et al. (2019), Section 6: p = 0 keeps the true labels, p = 1 gives fully random labels
    (a replaced label is wrong with probability 1/2).

    Args:
      key: a PRNG key.
      y: (n,) labels.
      p: the fraction in [0, 1]; round(p n) labels are replaced.

    Returns:
      y with the chosen labels replaced by +-1 (same shape and dtype).

    Raises:
      ValueError: p outside [0, 1].
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
    """A seeded random split: (X_train, y_train, X_test, y_test) with n_test test points.

    Raises:
      ValueError: n_test is not strictly between 0 and n = X.shape[0].
    """
    n = X.shape[0]
    if not 0 < n_test < n:
        raise ValueError(f"n_test must lie strictly between 0 and n = {n}; got {n_test}.")
    perm = jax.random.permutation(key, n)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], y[train], X[test], y[test]


def digits_split(key: Array, n_train: int, n_test: int, classes="parity", *, dtype=None):
    """The bundled digits task of the suite's studies (``load_digits_binary``; odd vs even by default), split
    with ``key``.

    Args:
      key: the PRNG key of the split.
      n_train: how many training points to keep.
      n_test: how many test points (0: empty test arrays).
      classes (tuple[int, int] | str): as in ``load_digits_binary``.
      dtype (DTypeLike | None): the dtype of the results (default: JAX's default float).

    Returns:
      (tuple[Array, Array, Array, Array]): (X_train, y_train, X_test, y_test) of shapes (n_train, 64),
        (n_train,), (n_test, 64), (n_test,).

    Raises:
      ValueError: n_train + n_test exceeds the digits available, or ``classes`` is refused.
    """
    X, y = load_digits_binary(classes, dtype=dtype)
    if n_train + n_test > X.shape[0]:
        raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {X.shape[0]} digits available.")
    if n_test == 0:
        keep = jax.random.permutation(key, X.shape[0])[:n_train]
        return X[keep], y[keep], X[:0], y[:0]
    Xtr, ytr, Xte, yte = train_test_split(key, X, y, n_test)
    return Xtr[:n_train], ytr[:n_train], Xte, yte
