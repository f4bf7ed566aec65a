"""The one gradient-descent driver: every training loop of the suite is ``run`` (or its traceable body ``scan``).

    params(k+1) = params(k) + optimizer.update(grad L(params(k)))        k = 0, ..., steps - 1

run as a single jitted ``lax.scan``, for any loss over any pytree of parameters, with plain GD (``eta``) or any
optax optimizer (``optimizer``). What a study measures along the way is a *recorder* plugged into the driver,
never a second loop:

- the loss L(k) is kept at every step k = 0..steps (before each step, and after the last);
- a recorder runs at the recorded steps 0, r, 2r, ... and at the end (``record_every = r``; 0 = only the end),
  on the same forward pass as the step it records (its ``aux``), and may carry a state between records
  (the Du et al. diagnostics carry the last co-activation counts and a Ritz vector);
- divergence (a non-finite loss, or one above ``divergence_factor * L(0)``) is detected inside the scan and
  reported as the first step where it happened, never as a NaN three calls later. One policy serves every
  driver and wrapper of the suite: the result always carries ``diverged_step`` (-1 if none), and the caller
  chooses ``on_divergence="raise"`` (``GradientDescentDiverged``, the default of single runs) or ``"report"``
  (the default of batches). The training wrappers use the one default factor ``DIVERGENCE_FACTOR``.

The loss convention. Objectives are whatever the caller minimizes; the squared error of the suite is the
summed one of Du et al. (2019), eq. (2): ``L = 0.5 ||f(X) - y||^2`` (``SquaredError``). A mean-squared loss
is the same problem with the step divided by n.

The two seams are the protocols ``Objective`` and ``Recorder``. Implementations are small frozen dataclasses
(hashable by their fields), so ``jit`` compiles once per objective, recorder and shape; arrays travel in ``data``
and are traced. Optimizers get the optax extra
arguments ``value``, ``grad`` and ``value_fn`` (``optax.GradientTransformationExtraArgs``), so line searches
and the saddle-escape rules of ``ntk_proofs.saddles`` are optimizers too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array

OnDivergence = Literal["raise", "report"]
ON_DIVERGENCE = ("raise", "report")
DIVERGENCE_FACTOR = 1e6
"""The suite's one default divergence threshold: a loss above ``DIVERGENCE_FACTOR * L(0)`` (or a non-finite one)
is divergence. Large, because the catapult phase (Lewkowycz et al. 2020) lets a loss grow by orders of magnitude
before it falls; a diverging GD run grows geometrically and crosses it a few steps after any smaller threshold."""


@runtime_checkable
class Objective(Protocol):
    """What the driver minimizes. ``aux`` is whatever the forward pass computed that a recorder may reuse.

    Methods:
      value(params, data) -> (value, aux): the scalar objective and its aux.
      value_and_grad(params, data) -> ((value, aux), grad): the same, with ``grad`` a pytree like ``params``.
    """

    def value(self, params: Any, data: Any, /) -> tuple[Array, Any]: ...

    def value_and_grad(self, params: Any, data: Any, /) -> tuple[tuple[Array, Any], Any]: ...


@runtime_checkable
class Recorder(Protocol):
    """What a study measures along a run, at the recorded steps, from the step's own forward pass.

    Methods:
      init(params, aux, data, key) -> state: the carried state (any pytree, or None) from the initial forward
        pass; ``key`` is a PRNG key split from the run's key, or None.
      record(state, params, aux, data) -> (state, values): the measurement at one recorded step; ``values`` is a
        pytree of arrays of fixed shapes (a leaf may be None: a switched-off field is absent). The driver stacks
        them along a leading axis of length R = len(recorded_steps(steps, record_every)).
    """

    def init(self, params: Any, aux: Any, data: Any, key: Any, /) -> Any: ...

    def record(self, state: Any, params: Any, aux: Any, data: Any, /) -> tuple[Any, Any]: ...


class GradientDescentDiverged(FloatingPointError):
    """GD's loss became non-finite or grew past ``divergence_factor * L(0)``.

    Attributes:
      step: the first diverged step.
    """

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class GDRun(NamedTuple):
    """The result of every run of the driver (a batch of runs: every field gains a leading batch axis).

    Attributes:
      loss: (steps + 1,) the loss before each step and after the last.
      params: the final parameters.
      record_steps: (R,) the steps recorded (``recorded_steps``).
      records: the recorder's values, a pytree whose leaves have a leading axis R (None without a recorder).
      grad_norm_sq: (steps,) ||grad L(k)||^2 of each step taken, when asked for (else None).
      diverged_step: the first step whose loss was non-finite or above ``divergence_factor * L(0)``, or -1
        (an int; a (B,) array for a batch).
    """

    loss: Array
    params: Any
    record_steps: np.ndarray
    records: Any
    grad_norm_sq: Array | None
    diverged_step: Any


class ScanResult(NamedTuple):
    """What the traceable ``scan`` returns (arrays only, so that it can be vmapped).

    Attributes:
      loss: (steps + 1,) the loss before each step and after the last.
      params: the final parameters.
      records: the recorder's values with leading axis R, or None.
      grad_norm_sq: (steps,) ||grad L(k)||^2, or None.
      diverged_step: int32 scalar, the first diverged step or -1.
    """

    loss: Array
    params: Any
    records: Any
    grad_norm_sq: Array | None
    diverged_step: Array


def check_on_divergence(on_divergence: str) -> None:
    """``on_divergence`` must be "raise" or "report"."""
    if on_divergence not in ON_DIVERGENCE:
        raise ValueError(f"on_divergence must be one of {ON_DIVERGENCE}; got {on_divergence!r}.")


def check_divergence_factor(divergence_factor) -> None:
    """A divergence factor must exceed 1 (or be None: only a non-finite loss is divergence)."""
    if divergence_factor is not None and not divergence_factor > 1:
        raise ValueError(f"divergence_factor must exceed 1; got {divergence_factor!r}.")


def resolve_on_divergence(on_divergence: str | None, raise_on_divergence: bool | None, default: str) -> str:
    """The policy from ``on_divergence`` or its boolean alias ``raise_on_divergence``."""
    if raise_on_divergence is not None:
        if on_divergence is not None and on_divergence != ("raise" if raise_on_divergence else "report"):
            raise ValueError("on_divergence and raise_on_divergence disagree; give only on_divergence.")
        on_divergence = "raise" if raise_on_divergence else "report"
    on_divergence = default if on_divergence is None else on_divergence
    check_on_divergence(on_divergence)
    return on_divergence


def check_run_options(
    steps, record_every, divergence_factor, on_divergence: str | None, default: str, raise_on_divergence=None
) -> str:
    """The checks every driver and wrapper shares: the counts, the divergence factor and the policy (resolved from
    ``on_divergence``, its boolean alias ``raise_on_divergence``, or ``default``). Returns the policy."""
    check_count(steps, "steps")
    check_count(record_every, "record_every")
    check_divergence_factor(divergence_factor)
    return resolve_on_divergence(on_divergence, raise_on_divergence, default)


def handle_divergence(loss, diverged_step, on_divergence: str, advice: str = "Lower the step size.") -> None:
    """Raise ``GradientDescentDiverged`` for the first diverged run when ``on_divergence == "raise"``.

    ``loss`` is (steps + 1,) or (B, steps + 1) and ``diverged_step`` an int or (B,) array (-1: no divergence).
    """
    steps = np.atleast_1d(np.asarray(diverged_step))
    if on_divergence != "raise" or not np.any(steps >= 0):
        return
    losses = np.asarray(loss).reshape(steps.size, -1)
    run = int(np.argmax(steps >= 0))
    step = int(steps[run])
    which = f"run {run} of the batch " if steps.size > 1 else ""
    raise GradientDescentDiverged(
        f"Gradient descent {which}diverged at step {step}: the loss went from {float(losses[run, 0]):.4g} to "
        f"{float(losses[run, step]):.4g}. {advice}",
        step=step,
    )


@dataclass(frozen=True)
class Loss:
    """An objective from a plain function ``fn(params, *data) -> scalar`` (differentiated by ``jax.grad``)."""

    fn: Callable

    def value(self, params, data):
        return self.fn(params, *data), None

    def value_and_grad(self, params, data):
        value, grad = jax.value_and_grad(self.fn)(params, *data)
        return (value, None), grad


class RegressionData(NamedTuple):
    """Inputs X (n, ...), targets y (n,) or (n, k), and points X_eval where a recorder may evaluate the model."""

    X: Array
    y: Array
    X_eval: Array | None = None


@dataclass(frozen=True)
class SquaredError:
    """L(params) = 0.5 ||f(params, X) - y||^2 on ``RegressionData`` (Du et al. 2019, eq. (2)): the suite's
    convention."""

    f: Callable

    def value(self, params, data: RegressionData):
        r = self.f(params, data.X) - data.y
        return 0.5 * jnp.vdot(r, r), None

    def value_and_grad(self, params, data: RegressionData):
        (value, _), grad = jax.value_and_grad(lambda p: self.value(p, data), has_aux=True)(params)
        return (value, None), grad


@dataclass(frozen=True)
class Outputs:
    """Recorder: the model's outputs f(params, X_eval) at each recorded step (``RegressionData.X_eval``)."""

    f: Callable

    def init(self, params, aux, data, key):
        return None

    def record(self, state, params, aux, data):
        return state, self.f(params, data.X_eval)


@dataclass(frozen=True)
class Norm:
    """Recorder: the Euclidean norm of all parameters, sqrt(sum of squares over every leaf)."""

    def init(self, params, aux, data, key):
        return None

    def record(self, state, params, aux, data):
        return state, jnp.sqrt(sum_of_squares(params))


def minibatches(batch_size: int):
    """A ``sample`` rule for ``run``: ``batch_size`` rows of ``RegressionData`` drawn without replacement."""
    return _Minibatch(int(batch_size))


@dataclass(frozen=True)
class _Minibatch:
    batch_size: int

    def __call__(self, data: RegressionData, key: Array) -> RegressionData:
        idx = jax.random.choice(key, data.X.shape[0], (self.batch_size,), replace=False)
        return RegressionData(data.X[idx], data.y[idx], data.X_eval)


def recorded_steps(steps: int, record_every: int) -> np.ndarray:
    """Steps at which the driver records: 0, r, 2r, ... below ``steps``, then ``steps``; r = 0 records only the end."""
    if record_every == 0:
        return np.array([steps])
    return np.unique(np.append(np.arange(0, steps, record_every), steps))


def check_step_size(eta) -> None:
    """A step size must be a positive finite number."""
    if isinstance(eta, bool) or not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a positive finite step size; got {eta!r}.")


def check_count(value, name: str) -> None:
    """A count (steps, record_every) must be a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")


def run(
    objective: Any,
    params: Any,
    data: Any = (),
    *,
    steps: int,
    eta: float | None = None,
    optimizer: optax.GradientTransformation | None = None,
    record_every: int = 0,
    recorder: Any = None,
    key: Array | None = None,
    sample: Callable | None = None,
    mask: Any = None,
    grad_norms: bool = False,
    divergence_factor: float | None = None,
    on_divergence: OnDivergence | None = None,
    raise_on_divergence: bool | None = None,
) -> GDRun:
    """Full-batch GD (``eta``) or an optax ``optimizer`` on ``objective`` for ``steps`` steps; see the module doc.

    Args:
      objective: a function ``loss(params, *data) -> scalar`` or an ``Objective``.
      params: any pytree of arrays.
      data: a pytree of arrays the objective and recorder read (traced).
      steps: the number of steps.
      eta: the constant step of plain GD, ``optax.sgd(eta)``.
      optimizer: instead of ``eta``, any optax transformation.
      record_every: the recorder runs at ``recorded_steps(steps, record_every)``.
      recorder: a ``Recorder``, or None.
      key: the PRNG key of a stochastic run; a recorder gets its own key split from it (random Lanczos starts).
      sample: with ``key``, step k differentiates the objective on ``sample(data, fold_in(key, k))`` (e.g.
        ``minibatches(32)``), while the recorded loss is the full objective on ``data``.
      mask: a 0/1 pytree like ``params``; parameters where it is 0 stay at 0 (pruning).
      grad_norms: also return ||grad L(k)||^2 of every step.
      divergence_factor: a loss above ``divergence_factor * L(0)`` counts as divergence (a non-finite one always);
        None (the driver's default): only a non-finite loss. The training wrappers pass ``DIVERGENCE_FACTOR``.
      on_divergence: "raise" (default): raise ``GradientDescentDiverged`` naming the step; "report": return the
        run with ``diverged_step >= 0`` (its numbers after that step are meaningless).
      raise_on_divergence: a boolean alias of ``on_divergence`` (True = "raise", False = "report").

    Returns:
      A ``GDRun``.

    Raises:
      ValueError: for a bad count, step size, factor or policy.
      GradientDescentDiverged: on divergence, with ``on_divergence="raise"``.
    """
    policy = check_run_options(steps, record_every, divergence_factor, on_divergence, "raise", raise_on_divergence)
    if (eta is None) == (optimizer is None):
        raise ValueError("Give exactly one of eta (plain GD) and optimizer (an optax transformation).")
    if eta is not None:
        check_step_size(eta)
    if sample is not None and key is None:
        raise ValueError("sample needs a key: sample(data, key) draws each step's batch.")
    if recorder is not None and not isinstance(recorder, Recorder):
        raise TypeError(f"recorder must implement gd.Recorder (init and record); got {type(recorder).__name__}.")
    objective = objective if isinstance(objective, Objective) else Loss(objective)
    dtype = jnp.result_type(*jax.tree.leaves(params)) if jax.tree.leaves(params) else jnp.result_type(float)
    factor = jnp.asarray(np.inf if divergence_factor is None else divergence_factor, dtype)
    step_size = jnp.asarray(0.0 if eta is None else eta, dtype)
    out = _run(
        objective,
        optimizer,
        recorder,
        sample,
        params,
        data,
        step_size,
        factor,
        key,
        mask,
        steps=int(steps),
        record_every=int(record_every),
        grad_norms=bool(grad_norms),
    )
    diverged = int(out.diverged_step)
    handle_divergence(out.loss, diverged, policy)
    return GDRun(out.loss, out.params, recorded_steps(steps, record_every), out.records, out.grad_norm_sq, diverged)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), static_argnames=("steps", "record_every", "grad_norms"))
def _run(
    objective,
    optimizer,
    recorder,
    sample,
    params,
    data,
    eta,
    divergence_factor,
    key,
    mask,
    *,
    steps,
    record_every,
    grad_norms,
):
    tx = optax.sgd(eta) if optimizer is None else optimizer
    return scan(
        objective,
        tx,
        params,
        data,
        steps=steps,
        record_every=record_every,
        recorder=recorder,
        key=key,
        sample=sample,
        mask=mask,
        grad_norms=grad_norms,
        divergence_factor=divergence_factor,
    )


class _Carry(NamedTuple):
    params: Any
    opt_state: Any
    step: Array
    diverged_step: Array
    record_state: Any


def scan(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    params,
    data,
    *,
    steps: int,
    record_every: int = 0,
    recorder: Recorder | None = None,
    key=None,
    sample=None,
    mask=None,
    grad_norms: bool = False,
    divergence_factor=None,
) -> ScanResult:
    """The traceable driver (for use inside ``jit`` or ``vmap``): ``run`` without the checks.

    Returns a ``ScanResult``; never raises (divergence is its ``diverged_step``). The loop is blocks of ``record_every``
    steps whose first step is recorded from its own forward pass, a shorter block for the rest, and the final
    evaluation.
    """
    tx = optax.with_extra_args_support(optimizer)
    value0, aux0 = objective.value(params, data)
    threshold = (jnp.inf if divergence_factor is None else divergence_factor) * value0
    key_sample, key_record = (None, None) if key is None else jax.random.split(key)
    record_state = None if recorder is None else recorder.init(params, aux0, data, key_record)
    value_fn = lambda p: objective.value(p, data)[0]  # noqa: E731
    # traced and lowered once per run, however many places call it (the recorded step of every block, the record
    # of a shorter last block, the final record): jit calls with the same shapes share one trace (a quarter to a
    # third of a --paper width's tracing time)
    record = None if recorder is None else jax.jit(recorder.record)

    def bad(value):
        return ~jnp.isfinite(value) | (value > threshold)

    def step(carry: _Carry, with_record: bool):
        p = carry.params
        if sample is None:
            (value, aux), grad = objective.value_and_grad(p, data)
        else:
            assert key_sample is not None  # run() refuses a sample rule without a key
            _, grad = objective.value_and_grad(p, sample(data, jax.random.fold_in(key_sample, carry.step)))
            value, aux = objective.value(p, data)
        record_state, values = carry.record_state, None
        if with_record and record is not None:
            record_state, values = record(record_state, p, aux, data)
            p = after(values, p)  # the record reads p before the update overwrites it in place
        updates, opt_state = tx.update(grad, carry.opt_state, p, value=value, grad=grad, value_fn=value_fn)
        new = optax.apply_updates(p, updates)
        if mask is not None:
            new = jax.tree.map(lambda q, m: q * m, new, mask)
        diverged = jnp.where((carry.diverged_step < 0) & bad(value), carry.step, carry.diverged_step)
        gsq = sum_of_squares(grad) if grad_norms else None
        return _Carry(new, opt_state, carry.step + 1, diverged, record_state), (value, gsq, values)

    def bare_steps(carry, length):
        return jax.lax.scan(lambda c, _: (lambda r: (r[0], r[1][:2]))(step(c, False)), carry, None, length=length)

    def block(carry, length):
        """One recorded step followed by length - 1 bare steps."""
        carry, (value, gsq, values) = step(carry, True)
        carry, (values_rest, gsq_rest) = bare_steps(carry, length - 1)
        gsq = None if gsq is None or gsq_rest is None else jnp.concatenate([gsq[None], gsq_rest])
        return carry, (jnp.concatenate([value[None], values_rest]), gsq, values)

    start = params if mask is None else jax.tree.map(lambda q, m: q * m, params, mask)
    carry = _Carry(start, tx.init(start), jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32), record_state)
    losses, norms, records = [], [], []
    if record_every == 0:
        carry, (block_losses, block_norms) = bare_steps(carry, steps)
        losses.append(block_losses)
        norms.append(block_norms)
    else:
        full, rest = divmod(steps, record_every)
        if full:
            carry, (block_losses, block_norms, block_records) = jax.lax.scan(
                lambda c, _: block(c, record_every), carry, None, length=full
            )
            losses.append(block_losses.reshape(-1))
            norms.append(None if block_norms is None else block_norms.reshape(-1))
            records.append(block_records)
        if rest:
            carry, (block_losses, block_norms, values) = block(carry, rest)
            losses.append(block_losses)
            norms.append(block_norms)
            records.append(jax.tree.map(lambda v: v[None], values))
    final_value, final_aux = objective.value(carry.params, data)
    diverged = jnp.where((carry.diverged_step < 0) & bad(final_value), carry.step, carry.diverged_step)
    if record is not None:
        _, values = record(carry.record_state, carry.params, final_aux, data)
        records.append(jax.tree.map(lambda v: v[None], values))
        records = jax.tree.map(lambda *parts: jnp.concatenate(parts), *records)
    else:
        records = None
    loss = jnp.concatenate(losses + [final_value[None]])
    gsq = jnp.concatenate(norms + [jnp.zeros((0,), loss.dtype)]) if grad_norms else None
    return ScanResult(loss, carry.params, records, gsq, diverged)


def after(values, params):
    """``params`` plus an exact zero computed from ``values`` (the step's record): the same numbers (x + 0 = x;
    -0.0 may become +0.0), now ordered after the record in the compiled program.

    A recorder reads the parameters (the drift ||w_r(k) - w_r(0)|| reads W(k), or C(k)) while the update rewrites
    them. XLA updates a loop-carried array in place only where every read of the old value is ordered before the
    write; a read it cannot order (the record does not feed the update) makes it copy the whole array at every
    recorded step (at (n, m) = (1000, 8192) a 32 MB copy, about a third of the recording's cost). The zero is
    ``where(isfinite(v), v, 0) * 0`` summed over the record's floating leaves (exactly +-0 whatever the record
    holds, NaN and inf included), so the update depends on the whole record and no copy is needed.
    """
    zeros = [
        jnp.sum(jnp.where(jnp.isfinite(v), v, 0) * 0)
        for v in jax.tree.leaves(values)
        if jnp.issubdtype(jnp.result_type(v), jnp.floating)
    ]
    if not zeros:
        return params
    zero = functools.reduce(jnp.add, zeros)
    return jax.tree.map(lambda q: q + zero.astype(q.dtype) if jnp.issubdtype(q.dtype, jnp.floating) else q, params)


def sum_of_squares(tree) -> Array:
    """sum over the leaves of ``tree`` of their squared entries, as a scalar array."""
    leaves = jax.tree.leaves(tree)
    total = jnp.vdot(leaves[0], leaves[0])
    for leaf in leaves[1:]:
        total = total + jnp.vdot(leaf, leaf)
    return total


def gd_trajectory(
    f: Callable,
    params,
    X: Array,
    y: Array,
    *,
    steps: int,
    eta: float | None = None,
    optimizer: optax.GradientTransformation | None = None,
    X_eval: Array | None = None,
    record_every: int = 1,
    batch_size: int | None = None,
    key: Array | None = None,
    mask=None,
) -> GDRun:
    """GD on the suite's squared error 0.5 ||f(params, X) - y||^2 for any model ``f(params, x)`` (``SquaredError``).

    The model is any pure function of a parameter pytree (an ``MLP.apply``, a ``linearize``d model, the Du et al.
    net); the run is ``run`` with the ``Outputs`` recorder.

    Args:
      f: the model, ``f(params, X) -> outputs`` of shape (n,) or (n, k), like ``y``.
      params (Any): the initial parameters, any pytree of arrays.
      X: (n, ...) inputs.
      y: targets, shaped like ``f(params, X)``.
      steps: the number of steps.
      eta: the constant step of plain GD (give exactly one of ``eta`` and ``optimizer``).
      optimizer: instead of ``eta``, any optax transformation.
      X_eval: where the recorder evaluates f (default X).
      record_every: f is recorded at ``recorded_steps(steps, record_every)`` (default: every step).
      batch_size: with ``key``, each step's gradient comes from ``batch_size`` rows drawn without replacement,
        while ``loss`` stays the full-batch loss.
      key: the PRNG key of the minibatches (read only with ``batch_size``).
      mask (Any): a 0/1 pytree like ``params``; pruned parameters stay at zero.

    Returns:
      A ``GDRun`` whose ``records`` holds f on ``X_eval`` at the recorded steps, shape (steps + 1, n_eval) by
        default.

    Raises:
      ValueError: ``batch_size`` outside [1, n], ``batch_size`` without ``key``, or a bad count, step size or
        optimizer choice (``run``).
      GradientDescentDiverged: the loss became non-finite.
    """
    sample = None
    if batch_size is not None:
        if isinstance(batch_size, bool) or not 1 <= batch_size <= X.shape[0]:
            raise ValueError(f"batch_size must lie in [1, {X.shape[0]}]; got {batch_size}.")
        if key is None:
            raise ValueError("batch_size needs a key to draw the minibatches.")
        sample = minibatches(batch_size)
    data = RegressionData(X, y, X if X_eval is None else X_eval)
    return run(
        SquaredError(f),
        params,
        data,
        steps=steps,
        eta=eta,
        optimizer=optimizer,
        record_every=record_every,
        recorder=Outputs(f),
        key=key if sample is not None else None,
        sample=sample,
        mask=mask,
    )


def squared_error(f: Callable, X: Array, y: Array) -> Callable:
    """The loss ``params -> 0.5 ||f(params, X) - y||^2`` (the suite's convention, Du et al. 2019, eq. (2))."""
    objective, data = SquaredError(f), RegressionData(X, y)
    return lambda params: objective.value(params, data)[0]


def half_stable_step(kernel: Array) -> float:
    """eta = 1 / lambda_max(K): half the largest stable step 2 / lambda_max(K) of GD on the linearized dynamics
    u(k+1) = u(k) - eta K (u(k) - y) of a kernel K (H^inf, an empirical NTK); every mode then contracts."""
    from ntk_proofs.linalg import lambda_max

    return 1.0 / float(lambda_max(kernel))
