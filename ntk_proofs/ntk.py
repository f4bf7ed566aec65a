"""Neural tangent kernels: empirical (any JAX model), infinite-width ReLU MLPs, and the linearized network.

Empirical NTK (Jacot et al. 2018, eq. (2)): Theta(x, x') = sum_p df(x)/dp . df(x')/dp = J(x) J(x')^T.
Infinite width (Jacot et al. 2018, Theorem 1; Cho & Saul 2009 arc-cosine kernels; Lee et al. 2019, eq. (4)):
    Sigma^1 = s_1 x.x'/d + b,   Sigma^{l+1} = s_{l+1} E[phi(u) phi(v)] + b,   dSigma^{l+1} = s_{l+1} E[phi'(u) phi'(v)],
    Theta^1 = Sigma^1,          Theta^{l+1} = Theta^l dSigma^{l+1} + Sigma^{l+1},
with (u, v) ~ N(0, Sigma^l restricted to {x, x'}), s_l the weight variance of layer l, b the bias variance.
Linearization (Lee et al. 2019, eq. (5)): f_lin(p, x) = f(p0, x) + J(p0)(x) (p - p0).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs.data import check_finite, check_fits_in_memory, check_parameters, traced
from ntk_proofs.du2019.gram import PARALLEL_ULPS

Array = jax.Array


# ---------------------------------------------------------------------------------------------------------
# Empirical NTK
# ---------------------------------------------------------------------------------------------------------


def empirical_ntk(
    f: Callable,
    params,
    x1: Array,
    x2: Array | None = None,
    *,
    method: str = "jacobian",
    batch_size: int | str | None = None,
    trace_axes: tuple[int, ...] = (-1,),
    memory_budget: int | None = None,
) -> Array:
    """Theta_ij = sum over parameters of df(x1_i)/dp . df(x2_j)/dp, for any ``f(params, x)`` with pytree params.

    Jacot et al. (2018), eq. (2). ``trace_axes`` follows neural-tangents. Each block is reduced over ``trace_axes``
    as soon as it is computed, so the full (n1, n2, k, k) array is never held unless asked for.

    Args:
      f: the model, ``f(params, x)`` mapping (n, ...) inputs to (n,) or (n, k) outputs.
      params (Any): a pytree of finite floating-point arrays holding at least one parameter.
      x1: (n1, ...) inputs, finite.
      x2: (n2, ...) inputs (default x1).
      method: "jacobian": contract the Jacobians J(x1) and J(x2), leaf by leaf; "ntvp": NTK-vector products,
        column j = J(x1) (J(x2)^T e_j) as a jvp of a vjp, never storing J.
      batch_size: split x1 and x2 into blocks of this many inputs, so memory stays O(batch_size * parameters);
        "auto": the largest block whose compiled program XLA says fits ``memory_budget`` bytes
        (``ntk_batch_size``); None: one block.
      trace_axes: ``(-1,)`` (default) traces the output axis out by its *mean*, Theta_ij = (1/k) sum_a
        df_a(x1_i)/dp . df_a(x2_j)/dp (for one output this is the plain NTK); ``()`` keeps the full block
        Theta_ij^{ab} = df_a(x1_i)/dp . df_b(x2_j)/dp.
      memory_budget: bytes for ``batch_size="auto"`` (default: half the device's memory, or 2 GiB on CPU).

    Returns:
      The kernel, (n1, n2), or (n1, n2, k, k) with ``trace_axes=()``.

    Raises:
      ValueError: naming the argument, for a bad method, trace_axes or batch_size, params that are not finite
        floating-point arrays (or hold no parameter), x1 or x2 without n >= 1 inputs along a first axis or with
        non-finite entries, inputs that ``f`` cannot be evaluated on (by ``jax.eval_shape``, before anything
        runs), a kernel (with "jacobian", and one block's two Jacobians) too large for the device's memory (from
        the shapes, before anything is allocated), and a kernel that comes out non-finite (f's derivatives at
        params are not finite there, e.g. a log at 0).
    """
    if method not in ("jacobian", "ntvp"):
        raise ValueError(f"method must be 'jacobian' or 'ntvp'; got {method!r}.")
    trace_axes = tuple(trace_axes)
    if trace_axes not in ((-1,), (1,), ()):
        raise ValueError(
            f"trace_axes must be (-1,) (mean over the outputs) or () (the full block); got {trace_axes!r}."
        )
    same = x2 is None
    check_parameters(params)
    x1, k = check_ntk_inputs(f, params, x1, "x1")
    x2, _ = (x1, k) if same else check_ntk_inputs(f, params, x2, "x2")
    n1, n2 = x1.shape[0], x2.shape[0]
    if batch_size not in ("auto", None) and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or 'auto'; got {batch_size!r}.")
    dtype = jnp.result_type(*jax.tree.leaves(params))
    size = jnp.dtype(dtype).itemsize
    kernel_bytes = n1 * n2 * (1 if trace_axes else k * k) * size
    check_fits_in_memory(
        kernel_bytes,
        f"x1 and x2 must be few enough for the NTK to fit in memory; got n1 = {n1} and n2 = {n2} inputs, whose "
        f"({n1}, {n2}{'' if trace_axes else f', {k}, {k}'}) {jnp.dtype(dtype).name} kernel",
    )
    if batch_size == "auto":
        batch_size = ntk_batch_size(f, params, x1, method=method, memory_budget=memory_budget)
    elif batch_size is None:
        batch_size = max(n1, n2)
    if method == "jacobian":  # the two Jacobians of one block, (b, k, parameters) each
        b = min(int(batch_size), max(n1, n2))
        parameters = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))
        check_fits_in_memory(
            kernel_bytes + 2 * b * k * parameters * size,
            f"x1 and x2 must be few enough for the NTK and one block's Jacobians to fit in memory; got n1 = {n1} and "
            f"n2 = {n2} inputs in blocks of {b}, whose kernel and two ({b}, {k}, {parameters}) Jacobians",
        )
    block = _ntk_block_jacobian if method == "jacobian" else _ntk_block_ntvp
    rows = []
    for i in range(0, n1, batch_size):
        cols = []
        for j in range(0, n2, batch_size):
            cols.append(block(f, params, x1[i : i + batch_size], x2[j : j + batch_size], bool(trace_axes)))
        rows.append(jnp.concatenate(cols, axis=1))
    ntk = jnp.concatenate(rows, axis=0)
    finite = jnp.all(jnp.isfinite(ntk))
    if not traced(finite) and not bool(finite):  # (inside jit nothing is known)
        raise ValueError(
            "f must have finite derivatives at params on x1 and x2; got a kernel with non-finite entries (f's "
            "Jacobian is NaN or infinite there, e.g. a log or a square root at 0)."
        )
    return ntk


def check_ntk_inputs(f: Callable, params, x, name: str) -> tuple[Array, int]:
    """``x`` as a JAX array of n >= 1 inputs along its first axis, finite where it holds floats, on which ``f(params,
    x)`` evaluates (by ``jax.eval_shape``: nothing runs) to an array with n rows; returns it with k, the number of
    outputs per input. ValueError naming ``name`` otherwise."""
    try:
        x = jnp.asarray(x)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of inputs; got a {type(x).__name__} ({error}).") from None
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must hold n >= 1 inputs along its first axis; got shape {x.shape}.")
    if jnp.issubdtype(x.dtype, jnp.inexact):
        check_finite(x, name)
    try:
        out = jax.eval_shape(f, params, x)
    except (TypeError, ValueError, IndexError) as error:
        raise ValueError(
            f"{name} must be inputs that f(params, {name}) accepts; got shape {x.shape} and dtype {x.dtype}, on which "
            f"f raised {type(error).__name__}: {error}"
        ) from None
    if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim < 1 or out.shape[0] != x.shape[0]:
        shape = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise ValueError(
            f"f(params, {name}) must return one row of outputs per input, shape ({x.shape[0]},) or ({x.shape[0]}, k); "
            f"got {shape}."
        )
    return x, int(np.prod(out.shape[1:], dtype=np.int64))


def ntk_batch_size(
    f: Callable, params, x: Array, *, method: str = "jacobian", memory_budget: int | None = None, traced: bool = True
) -> int:
    """The largest block size b (at most len(x)) whose compiled ``empirical_ntk`` block program needs at most
    ``memory_budget`` bytes by XLA's own memory analysis (arguments + temporaries + output), found by bisection
    over b (one compile per probe, nothing is run; on a GPU the probes skip XLA's autotuning, which would run
    candidate kernels of blocks that may be far too big). The default budget is half the device memory that JAX
    reports (``memory_stats()["bytes_limit"]``), or 2 GiB where it reports none (CPU)."""
    if memory_budget is None:
        stats = jax.local_devices()[0].memory_stats() or {}
        memory_budget = int(stats["bytes_limit"]) // 2 if "bytes_limit" in stats else 2 * 2**30
    block = _ntk_block_jacobian if method == "jacobian" else _ntk_block_ntvp
    leaves = jax.tree.leaves(params)
    # a GPU compiler autotunes by running candidate kernels, which for a probe never run wastes minutes and memory
    options: Any = {"xla_gpu_autotune_level": 0} if jax.local_devices()[0].platform in ("gpu", "cuda", "rocm") else None

    def needed(b):
        spec = jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype)
        try:
            analysis = block.lower(f, params, spec, spec, traced).compile(options).memory_analysis()
        except jax.errors.JaxRuntimeError as error:  # a GPU compiler may run candidates: too big to even compile
            if "RESOURCE_EXHAUSTED" in str(error) or "out of memory" in str(error).lower():
                return float("inf")
            raise
        if analysis is None:  # a backend without the analysis: count the Jacobians and the block themselves
            return 4 * b * sum(np.size(v) for v in leaves) * 10 + 4 * b * b * 100
        return analysis.argument_size_in_bytes + analysis.temp_size_in_bytes + analysis.output_size_in_bytes

    low, high = 1, x.shape[0]
    if needed(high) <= memory_budget:
        return high
    if needed(low) > memory_budget:
        raise MemoryError(f"even one input per block needs {needed(low)} bytes, over the budget of {memory_budget}.")
    while high - low > 1:  # needed(low) fits, needed(high) does not
        mid = (low + high) // 2
        if needed(mid) <= memory_budget:
            low = mid
        else:
            high = mid
    return low


def ntk_block_jacobian(f, params, xa, xb, traced):
    """One NTK block J(xa) J(xb)^T by contracting Jacobians (traceable; ``empirical_ntk`` with "jacobian")."""

    def jac(x):
        return jax.jacrev(lambda p: _as_matrix(f(p, x)))(params)  # leaves: (n, k, *param_shape)

    ja, jb = jac(xa), jac(xb)

    def contract(a, b):
        a = a.reshape(a.shape[0], a.shape[1], -1)
        b = b.reshape(b.shape[0], b.shape[1], -1)
        return jnp.einsum("ikp,jkp->ij", a, b) / a.shape[1] if traced else jnp.einsum("ikp,jlp->ijkl", a, b)

    return sum(jax.tree.leaves(jax.tree.map(contract, ja, jb)))


def ntk_block_ntvp(f, params, xa, xb, traced):
    """One NTK block as NTK-vector products, a jvp of a vjp per column (traceable; ``empirical_ntk`` "ntvp")."""
    out_b, vjp_b = jax.vjp(lambda p: _as_matrix(f(p, xb)), params)
    nb, k = out_b.shape

    def column(cotangent):  # J(xa) J(xb)^T cotangent: the kernel against one (point, output) of xb
        (tangent,) = vjp_b(cotangent)
        _, col = jax.jvp(lambda p: _as_matrix(f(p, xa)), (params,), (tangent,))
        return col  # (na, k)

    basis = jnp.eye(nb * k, dtype=out_b.dtype).reshape(nb * k, nb, k)
    cols = jax.lax.map(column, basis).reshape(nb, k, -1, k)  # index (j, l), then (i, k)
    if traced:
        return jnp.einsum("jkik->ij", cols) / k
    return jnp.einsum("jlik->ijkl", cols)


def _as_matrix(out):
    return out[:, None] if out.ndim == 1 else out.reshape(out.shape[0], -1)


# ---------------------------------------------------------------------------------------------------------
# Infinite-width kernels of ReLU MLPs
# ---------------------------------------------------------------------------------------------------------


class InfiniteWidthKernels(NamedTuple):
    """NNGP Sigma^{L+1}, NTK Theta^{L+1}, and the NTK's split by layer.

    Attributes:
      nngp: (n1, n2) the NNGP covariance Sigma^{L+1}.
      ntk: (n1, n2) the NTK Theta^{L+1}.
      terms: depth + 1 arrays (n1, n2); terms[l] is the part of the NTK from layer l+1's parameters, and
        sum(terms) == ntk. For the Du et al. net (depth 1, no bias, weight_var = (d, 1)) terms[0] is H^inf.
    """

    nngp: Array
    ntk: Array
    terms: tuple[Array, ...]


def infinite_width_kernels(
    x1: Array,
    x2: Array | None = None,
    depth: int = 1,
    *,
    weight_var: float | Sequence[float] = 2.0,
    bias_var: float = 0.0,
) -> InfiniteWidthKernels:
    """NNGP and NTK of an infinitely wide ReLU MLP with ``depth`` hidden layers, NTK parameterization.

    The network is ``MLP(sizes=(d, n, ..., n, 1), parameterization="ntk", weight_var, bias_var)`` as every
    hidden width n -> infinity (Jacot et al. 2018, Theorem 1; Lee et al. 2019, eq. (4)); the ReLU
    expectations are the arc-cosine kernels of Cho & Saul (2009):
        E[relu(u) relu(v)] = sqrt(s s') (sin t + (pi - t) cos t) / (2 pi),  E[1{u>0} 1{v>0}] = (pi - t) / (2 pi),
    with cos t = c / sqrt(s s').

    Args:
      x1: (n1, d) inputs.
      x2: (n2, d) inputs (default x1).
      depth: the number of hidden layers, a positive integer.
      weight_var: the weight variance, one positive value for every layer or depth + 1 values (layer 1 first;
        the input layer's is divided by d).
      bias_var: the bias variance, >= 0.

    Returns:
      ``InfiniteWidthKernels`` of (n1, n2) arrays.

    Raises:
      ValueError: a bad depth, weight_var or bias_var, or x1, x2 not (n, d) with the same d.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be a positive integer (hidden layers); got {depth!r}.")
    spec: Any = weight_var
    variances = (float(spec),) * (depth + 1) if np.ndim(spec) == 0 else tuple(float(v) for v in spec)
    if len(variances) != depth + 1 or min(variances) <= 0:
        raise ValueError(
            f"weight_var must be positive, one value or depth + 1 = {depth + 1} values; got {weight_var!r}."
        )
    if bias_var < 0:
        raise ValueError(f"bias_var must be non-negative; got {bias_var}.")
    x2 = x1 if x2 is None else x2
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must be (n, d) with the same d; got {x1.shape} and {x2.shape}.")
    return _infinite_width(x1, x2, variances, float(bias_var))


def infinite_width_recursion(x1, x2, variances, bias_var):
    """The NNGP / NTK recursion of ``infinite_width_kernels`` (Jacot et al. 2018, Thm 1; Lee et al. 2019, eq. (4)),
    traceable, with the arguments already checked."""
    d = x1.shape[1]
    s = variances[0] / d
    cross = s * (x1 @ x2.T) + bias_var
    diag1 = s * jnp.sum(x1 * x1, axis=1) + bias_var
    diag2 = s * jnp.sum(x2 * x2, axis=1) + bias_var
    ntk = cross
    terms = [cross]  # layer 1's parameters, before the later derivative factors
    for var in variances[1:]:
        norm = jnp.sqrt(diag1[:, None] * diag2[None, :])
        cos = cross / norm
        # within PARALLEL_ULPS ulps of +-1 the angle is below what round-off resolves (arccos near 1 loses half the
        # digits): snap it, so that K(x, x) is exact and parallel inputs give equal rows (as ``gram_infinity`` does);
        # the snap also clips round-off beyond +-1
        edge = 1.0 - PARALLEL_ULPS * jnp.finfo(cos.dtype).eps
        cos = jnp.where(cos >= edge, 1.0, jnp.where(cos <= -edge, -1.0, cos))
        t = jnp.arccos(cos)
        dot_sigma = var * (jnp.pi - t) / (2 * jnp.pi)
        cross = var * norm * (jnp.sin(t) + (jnp.pi - t) * cos) / (2 * jnp.pi) + bias_var
        diag1 = var * diag1 / 2 + bias_var
        diag2 = var * diag2 / 2 + bias_var
        terms = [term * dot_sigma for term in terms] + [cross]
        ntk = ntk * dot_sigma + cross
    return InfiniteWidthKernels(nngp=cross, ntk=ntk, terms=tuple(terms))


def infinite_width_ntk(x1: Array, x2: Array | None = None, depth: int = 1, **kwargs) -> Array:
    """NTK Theta^{L+1} of an infinitely wide ReLU MLP; see ``infinite_width_kernels``."""
    return infinite_width_kernels(x1, x2, depth, **kwargs).ntk


def infinite_width_nngp(x1: Array, x2: Array | None = None, depth: int = 1, **kwargs) -> Array:
    """NNGP covariance Sigma^{L+1} of an infinitely wide ReLU MLP; see ``infinite_width_kernels``."""
    return infinite_width_kernels(x1, x2, depth, **kwargs).nngp


# ---------------------------------------------------------------------------------------------------------
# Linearized network and its closed-form dynamics
# ---------------------------------------------------------------------------------------------------------


def linearize(f: Callable, params0) -> Callable:
    """f_lin(params, x) = f(params0, x) + J(params0)(x) (params - params0), Lee et al. (2019), eq. (5).

    Computed with one jvp per call, so the Jacobian is never materialized.
    """

    def f_lin(params, x):
        delta = jax.tree.map(lambda p, p0: p - p0, params, params0)
        out0, tangent_out = jax.jvp(lambda p: f(p, x), (params0,), (delta,))
        return out0 + tangent_out

    return f_lin


class LinearDynamics(NamedTuple):
    """Closed-form outputs of the linearized model (``linear_dynamics``).

    Attributes:
      train: (steps + 1, n) the outputs on the training points.
      test: (steps + 1, n_test) the outputs on the test points, or None.
    """

    train: Array
    test: Array | None


def linear_dynamics(
    ntk_train: Array,
    y: Array,
    u0: Array,
    eta: float,
    steps: int,
    *,
    ntk_test_train: Array | None = None,
    u0_test: Array | None = None,
    flow: bool = False,
) -> LinearDynamics:
    """Outputs of the linearized network under GD on 0.5 ||u - y||^2, in closed form (Lee et al. 2019, eqs. (8)-(9)).

    With Theta = V diag(lambda) V^T (train x train):
      GD:   u(k) = y + V (1 - eta lambda)^k V^T (u(0) - y)
      flow: u(t) = y + V exp(-eta lambda t) V^T (u(0) - y)              (t = k, continuous time in units of steps)
      test: u_test(k) = u_test(0) + Theta_test,train V [(1 - decay) / lambda] V^T (y - u(0)).

    Args:
      ntk_train: (n, n) the NTK on the training points.
      y: (n,) the targets.
      u0: (n,) the initial outputs on the training points.
      eta: the step size.
      steps: the last step k (or time t, with ``flow``).
      ntk_test_train: (n_test, n) the NTK between test and training points (optional).
      u0_test: (n_test,) the initial outputs on the test points (needed with ``ntk_test_train``).
      flow: gradient flow instead of GD.

    Returns:
      ``LinearDynamics`` with arrays of shape (steps + 1, n) and (steps + 1, n_test) (test None without
        ``ntk_test_train``).

    Raises:
      ValueError: ``ntk_test_train`` without ``u0_test``.
    """
    lam, V = jnp.linalg.eigh(ntk_train)
    k = jnp.arange(steps + 1, dtype=lam.dtype)[:, None]
    decay = jnp.exp(-eta * lam[None, :] * k) if flow else jnp.power(1.0 - eta * lam[None, :], k)
    coeff = V.T @ (u0 - y)  # (n,)
    train = y[None, :] + (decay * coeff[None, :]) @ V.T
    test = None
    if ntk_test_train is not None:
        if u0_test is None:
            raise ValueError("u0_test is needed with ntk_test_train.")
        safe = jnp.where(lam > 0, lam, 1.0)
        growth = jnp.where(lam[None, :] > 0, (1.0 - decay) / safe[None, :], eta * k)  # limit lambda -> 0
        test = u0_test[None, :] + (growth * (-coeff)[None, :]) @ (ntk_test_train @ V).T
    return LinearDynamics(train, test)


# Compiled here rather than with a decorator: mutation testing (mutmut) does not reach decorated functions,
# and these hold the formulas its runs must mutate.
_ntk_block_jacobian = jax.jit(ntk_block_jacobian, static_argnums=(0, 4))
_ntk_block_ntvp = jax.jit(ntk_block_ntvp, static_argnums=(0, 4))
_infinite_width = jax.jit(infinite_width_recursion, static_argnums=(2, 3))
