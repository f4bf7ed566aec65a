"""Full-batch GD on the Du et al. (2019) net, with the quantities its proof tracks, on the one driver ``gd.scan``.

``train_gd`` runs W(k+1) = W(k) - eta dL/dW(k) (Du et al. 2019, eq. (3); Theorem 4.1). The net is the objective
``DuObjective``; what the proof tracks is the recorder ``DuDiagnostics``, which at each recorded step measures,
from the same forward pass as the step: lambda_min(H(k)) (Lemma 3.2 / Theorem 4.1 need >= lambda_0 / 2), the
fraction of activation patterns 1{w_r . x_i >= 0} that differ from initialization (Section 6, Figure 1b), and
max_r ||w_r(k) - w_r(0)|| (Lemma 3.3 / Theorem 4.1 bound it by R', Figure 1c).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntk_proofs import gd
from ntk_proofs.data import check_inputs
from ntk_proofs.du2019.certificate import (
    FACTORIZATION,
    NOT_PROVED,
    StepProof,
    WeylState,
    factor_proof,
    initial_state,
    inputs_allowance,
    prove_step,
    refuted_by,
)
from ntk_proofs.du2019.gram import (
    coactivation_counts,
    flip_count,
    gram_matrix,
    pack_pattern,
    update_coactivation_counts_packed,
)
from ntk_proofs.gd import (
    DIVERGENCE_FACTOR,
    OnDivergence,
    check_count,
    check_run_options,
    check_step_size,
    handle_divergence,
    recorded_steps,
)
from ntk_proofs.linalg import eigh, kernel_motion, lambda_max, lambda_min, single_threaded_lapack, smallest_ritz_pair
from ntk_proofs.models.two_layer import Forward, Params, forward_from_preactivations, gradient_coefficients

Array = jax.Array


class TrainHistory(NamedTuple):
    """The diagnostics of Du et al. (2019), Theorem 4.1, at the recorded steps of a run: what ``DuDiagnostics``
    records. Each field has shape (R,) (a batch: (B, R)); a switched-off field is None.

    Attributes:
      step: the recorded steps (``gd.recorded_steps``); None inside the scan, filled in by ``train_gd``.
      lambda_min: lambda_min(H(k)) (eigh), or its Lanczos Ritz value, an upper bound on it.
      flip_fraction: (1 / nm) sum_{i,r} 1{pattern_ir(k) != pattern_ir(0)} (Figure 1b).
      max_drift: max_r ||w_r(k) - w_r(0)|| (Lemma 3.3, Figure 1c).
      lambda_min_residual: ||H v - theta v|| of the Ritz pair (lambda_min_method "lanczos"; else None).
      certified: the Cholesky factorization of H(k) - (lambda_0 / 2) I succeeded (with ``certify_lambda0``).
      lambda_max: lambda_max(H(k)), the kernel's sharpness (with ``track_kernel``).
      kernel_change: ||H(k) - H(0)||_F / ||H(0)||_F (with ``track_kernel``).
    """

    step: Array | None
    lambda_min: Array
    flip_fraction: Array
    max_drift: Array
    lambda_min_residual: Array | None = None
    certified: Array | None = None
    lambda_max: Array | None = None
    kernel_change: Array | None = None


class FloorCertificate(NamedTuple):
    """The proof of (C2) lambda_min(H(k)) >= lambda_0 / 2 at every certified step of a run (``certify_every``),
    from ``ntk_proofs.du2019.certificate.prove_step``. Each field has shape (K,) (a batch: (B, K)).

    Attributes:
      step: the certified steps (``gd.recorded_steps(steps, certify_every)``).
      held: (C2) is proved at the step.
      source: ``certificate.FACTORIZATION`` (1, a Cholesky factorization there), ``certificate.WEYL`` (2, the last
        factorization and Weyl's inequality) or ``certificate.NOT_PROVED`` (0).
      margin: a proved lower bound on lambda_min(H(k)) - lambda_0 / 2 (-inf where not proved).
      distance: the bound on ||H(k) - H(j)||_F to the last factorization (0 at a factorization).
      inputs_allowance: the bound on how far H(k) formed from the computed X X^T can be from the one of the exact
        inner products (``certificate.inputs_allowance``): margin > inputs_allowance proves (C2) for the latter.
    """

    step: Array | None
    held: Array
    source: Array
    margin: Array
    distance: Array
    inputs_allowance: float | None = None

    @property
    def factorizations(self) -> int:
        """How many Cholesky factorizations the proof took (per run, summed over a batch)."""
        return int(np.sum(np.asarray(self.source) == FACTORIZATION))


class TrainResult(NamedTuple):
    """A Du et al. run: the driver's run (``gd.GDRun``: loss, params, diverged step) with its diagnostics named.

    Attributes:
      loss: (steps + 1,) the loss before each step and after the last.
      params: the final ``Params``.
      history: the ``TrainHistory`` at every recorded step (the driver's ``records``, with their steps).
      diverged_step: the first step whose loss was non-finite or above ``divergence_factor * L(0)``, or -1.
      certificate: the proof of (C2) at every certified step (``FloorCertificate``; with ``certify_lambda0``).

    A batch (``train_gd_batched``) gives every field a leading batch axis. ``record_steps``, and the final
    ``flip_fraction``, ``max_drift`` and ``lambda_min``, are read from ``history``.
    """

    loss: Array
    params: Params
    history: TrainHistory
    diverged_step: int | np.ndarray
    certificate: FloorCertificate | None = None

    @property
    def record_steps(self) -> Array:
        """The recorded steps (R,)."""
        step = self.history.step
        if step is None:
            raise ValueError("this history has no recorded steps (a record from inside the scan).")
        return step if step.ndim == 1 else step[0]

    @property
    def flip_fraction(self) -> Array:
        """The flip fraction after the last step."""
        return self.history.flip_fraction[..., -1]

    @property
    def max_drift(self) -> Array:
        """max_r ||w_r - w_r(0)|| after the last step."""
        return self.history.max_drift[..., -1]

    @property
    def lambda_min(self) -> Array:
        """lambda_min(H) (or its Ritz upper bound) after the last step."""
        return self.history.lambda_min[..., -1]


def with_steps(history: TrainHistory, steps) -> TrainHistory:
    """The recorder's ``TrainHistory`` with its recorded steps filled in (broadcast to a batch's shape)."""
    return history._replace(step=jnp.broadcast_to(jnp.asarray(steps), history.lambda_min.shape))


def resolve_lambda_min_method(method: str, n: int) -> str:
    """Check ``lambda_min_method`` and resolve "auto": dense eigh for n <= 512 points, warm-started Lanczos above."""
    if method not in ("auto", "eigh", "lanczos"):
        raise ValueError(f"lambda_min_method must be 'auto', 'eigh' or 'lanczos'; got {method!r}.")
    if method == "auto":
        return "eigh" if n <= 512 else "lanczos"
    return method


def resolve_step_form(form: str, n: int, d: int, optimizer) -> str:
    """Check ``step_form`` and resolve "auto": the kernel form for plain GD when it takes fewer flops (n < 2 d)."""
    if form not in ("auto", "weights", "kernel"):
        raise ValueError(f"step_form must be 'auto', 'weights' or 'kernel'; got {form!r}.")
    if form == "kernel" and optimizer is not None:
        raise ValueError("step_form='kernel' runs plain GD only; pass optimizer=None or step_form='weights'.")
    if form == "auto":
        return "kernel" if optimizer is None and n < 2 * d else "weights"
    return form


def train_gd(
    params: Params,
    X: Array,
    y: Array,
    *,
    eta: float,
    steps: int,
    record_every: int = 1,
    optimizer: optax.GradientTransformation | None = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
    on_divergence: OnDivergence | None = None,
    raise_on_divergence: bool | None = None,
    lambda_min_method: str = "auto",
    flip_budget: int | None = None,
    step_form: str = "auto",
    certify_lambda0: float | None = None,
    mesh: jax.sharding.Mesh | None = None,
    track_kernel: bool = False,
    certify_every: int | None = None,
) -> TrainResult:
    """Full-batch GD on L(W) = 0.5 ||u - y||^2 with the second layer a fixed (Du et al. 2019, Thm 4.1).

    Args:
      params: initial Params(W (m, d), a (m,)), e.g. from ``init_params``.
      X: (n, d) inputs of unit norm.
      y: (n,) labels.
      eta: constant step size (``optax.sgd(eta)``); must be positive.
      steps: number of GD steps (>= 0).
      record_every: steps between recorded diagnostics (lambda_min(H(k)), flip fraction, drift);
        0 records only the end (densely, with eigvalsh). The loss is recorded at every step regardless.
      optimizer: an optax transformation to use instead of ``optax.sgd(eta)``.
      divergence_factor: a loss above ``divergence_factor * L(0)``, or a non-finite one, is divergence
        (default ``gd.DIVERGENCE_FACTOR``).
      on_divergence: "raise" (default): raise ``GradientDescentDiverged`` naming the step; "report": return the
        result with ``diverged_step >= 0`` (its numbers after that step are meaningless).
      raise_on_divergence: a boolean alias of ``on_divergence`` (True = "raise", False = "report").
      lambda_min_method: "eigh" (dense, exact), "lanczos" (32 Lanczos steps warm-started at the previous
        Ritz vector: an upper bound on lambda_min, O(n^2) per record), or "auto" = eigh for n <= 512.
      flip_budget: how many pattern entries may flip between records before H(k) is recomputed densely
        (O(n^2 m)) instead of updated from the flipped entries (O(n) each; ``update_coactivation_counts``).
        Default n m / 32.
      step_form: "weights" (W is the optimized variable; two (n, d, m) products per step), "kernel" (the same
        GD iteration in the row space of X, W(k) = W(0) + C(k)^T X, with X W^T carried and updated by one
        (n, n, m) product per step; plain GD only) or "auto" = kernel for plain GD when n < 2 d (fewer flops).
        The two agree to float round-off (tests/du2019/test_training.py).
      certify_lambda0: lambda_0 of the data; conclusion (C2) lambda_min(H(k)) >= lambda_0 / 2 is then proved at
        every ``certify_every``-th step (``ntk_proofs.du2019.certificate``: a Cholesky factorization where needed,
        Weyl's inequality from it in between, rounding accounted for). The per-step proof is ``result.certificate``
        (a ``FloorCertificate``); ``history.certified`` is its verdict at the recorded steps.
      certify_every: steps between proofs of (C2) (default ``record_every``); it must divide ``record_every``
        (``certify_every=1, record_every=10`` proves (C2) at every step and measures every 10 steps).
      mesh: a ``jax.sharding.Mesh`` (e.g. ``width_mesh()``) whose first axis shards the neurons: W, a, the
        preactivations, the activation patterns and the per-neuron drift are split along the width over its
        devices, X and y are replicated, and XLA's collectives reduce the outputs u, the gradient's products and
        H(k) across them. One wide net then spans several devices' memory; the numbers are those of the
        unsharded run up to the order of float sums. m must be a multiple of the axis size.
      track_kernel: also record lambda_max(H(k)) (the kernel's sharpness, against 2 / eta) and the relative kernel
        change ||H(k) - H(0)||_F / ||H(0)||_F at every recorded step (``history.lambda_max``,
        ``history.kernel_change``), from the same H(k) as lambda_min: the lazy picture's own measurements
        (``ntk_proofs.regimes`` tracks the same for the whole two-layer family).

    Returns:
      A ``TrainResult``.

    Raises:
      ValueError: for inputs off the unit sphere, mismatched shapes, non-finite weights or a bad option.
      GradientDescentDiverged: on divergence, with ``on_divergence="raise"``.
    """
    policy = check_run_options(steps, record_every, divergence_factor, on_divergence, "raise", raise_on_divergence)
    W0, a = params
    X, y = check_inputs(X, y)
    W0, a = jnp.asarray(W0), jnp.asarray(a)
    if W0.ndim != 2 or a.shape != (W0.shape[0],):
        raise ValueError(f"params must hold W of shape (m, d) and a of shape (m,); got {W0.shape} and {a.shape}.")
    if W0.shape[0] < 1:
        raise ValueError("params.W must hold at least one neuron (m >= 1); got m = 0.")
    if not (jnp.issubdtype(W0.dtype, jnp.floating) and jnp.issubdtype(a.dtype, jnp.floating)):
        raise ValueError(f"params.W and params.a must be floating-point arrays; got {W0.dtype} and {a.dtype}.")
    if not bool(jnp.all(jnp.isfinite(a))):
        raise ValueError("params.a contains NaN or infinite entries.")
    if W0.shape[1] != X.shape[1]:
        raise ValueError(f"W has d = {W0.shape[1]} columns but X has d = {X.shape[1]}.")
    check_step_size(eta)
    if not bool(jnp.all(jnp.isfinite(W0))):
        raise ValueError("params.W contains NaN or infinite entries.")
    lambda_min_method = resolve_lambda_min_method(lambda_min_method, X.shape[0])
    step_form = resolve_step_form(step_form, X.shape[0], X.shape[1], optimizer)
    X, y = X.astype(W0.dtype), y.astype(W0.dtype)
    if mesh is not None:
        W0, a, X, y = shard_over_width(mesh, W0, a, X, y)
    certify = certify_lambda0 is not None
    certify_every = check_certify_every(certify_every, record_every, certify)
    floor = jnp.asarray(float(certify_lambda0) / 2 if certify else 0.0, W0.dtype)
    with single_threaded_lapack():  # the scan calls LAPACK (Cholesky, eigh): see ntk_proofs.linalg
        out = trajectory(
            W0,
            a,
            X,
            y,
            jnp.asarray(eta, W0.dtype),
            jnp.asarray(divergence_factor, W0.dtype),
            floor,
            steps=int(steps),
            record_every=int(record_every),
            optimizer=optimizer,
            lambda_method=lambda_min_method,
            flip_budget=None if flip_budget is None else int(flip_budget),
            step_form=step_form,
            certify=certify,
            track_kernel=bool(track_kernel),
            certify_every=certify_every,
        )
        loss, W, diag, proof, diverged = jax.block_until_ready(out)
    diverged = int(diverged)
    if diverged >= 0 and policy == "raise":
        handle_divergence(loss, diverged, policy, step_size_advice(eta, W0, X))
    history = with_steps(diag, recorded_steps(steps, record_every))
    certificate = with_proof_steps(proof, steps, record_every, certify_every, X.shape)
    return TrainResult(loss, Params(W, a), history, diverged, certificate)


def check_certify_every(certify_every, record_every: int, certify: bool) -> int | None:
    """``certify_every``: None (= ``record_every``), or a count that divides ``record_every`` (0 only with it)."""
    if certify_every is None:
        return None
    if not certify:
        raise ValueError("certify_every needs certify_lambda0: pass lambda_0 to prove (C2) with.")
    check_count(certify_every, "certify_every")
    if record_every and (certify_every == 0 or record_every % certify_every):
        raise ValueError(
            f"certify_every = {certify_every} must divide record_every = {record_every} (the recorded steps are "
            "then certified steps too)."
        )
    return int(certify_every)


def with_proof_steps(proof, steps: int, record_every: int, certify_every: int | None, shape) -> FloorCertificate | None:
    """The recorder's ``FloorCertificate`` rows with their steps and the inputs' allowance filled in."""
    if proof is None:
        return None
    every = record_every if certify_every is None else certify_every
    allowance = inputs_allowance(shape[-2], shape[-1], proof.margin.dtype)
    return proof._replace(
        step=jnp.broadcast_to(jnp.asarray(recorded_steps(steps, every)), proof.held.shape), inputs_allowance=allowance
    )


def step_size_advice(eta: float, W0: Array, X: Array) -> str:
    """What a diverged Du et al. run should change: the stability limit 2 / lambda_max(H(0)) and the theorem's step."""
    limit = 2.0 / float(lambda_max(gram_matrix(W0, X)))
    return (
        f"With eta = {eta:g}, the step must stay below about 2 / lambda_max(H(0)) = {limit:.4g} for GD to be "
        "stable; Theorem 4.1 of Du et al. (2019) assumes eta = O(lambda_0 / n^2) (see ntk_proofs.max_step_size)."
    )


def width_mesh(devices=None, axis: str = "width") -> jax.sharding.Mesh:
    """A 1-D mesh over ``devices`` (default: this process's devices) whose axis shards a net's neurons."""
    devices = jax.local_devices() if devices is None else list(devices)
    return jax.sharding.Mesh(np.array(devices), (axis,))


def shard_over_width(mesh: jax.sharding.Mesh, W: Array, a: Array, X: Array, y: Array):
    """Place W (m, d) and a (m,) split along the width over the first axis of ``mesh``, X and y replicated."""
    from jax.sharding import NamedSharding, PartitionSpec

    axis = mesh.axis_names[0]
    size = mesh.shape[axis]
    if W.shape[0] % size:
        raise ValueError(
            f"the width m = {W.shape[0]} must be a multiple of the {size} devices of mesh axis "
            f"{axis!r} to shard the neurons evenly."
        )
    rows, replicated = NamedSharding(mesh, PartitionSpec(axis)), NamedSharding(mesh, PartitionSpec())
    return (
        jax.device_put(W, rows),
        jax.device_put(a, rows),
        jax.device_put(X, replicated),
        jax.device_put(y, replicated),
    )


class KernelCoordinates(NamedTuple):
    """The "kernel" form's GD variable: W = W(0) + C^T X with C (n, m). Each step forms the pre-activations afresh,
    Z = Z(0) + X X^T C (``DuObjective``)."""

    C: Array


class DuAux(NamedTuple):
    """What a ``DuObjective`` step hands its recorder: the net's ``Forward`` (pattern, residual, loss) and, in the
    kernel form, shift = X X^T C = X (W - W(0))^T (None in the weights form), which the drift reads."""

    fwd: Forward
    shift: Array | None = None


def live_pattern(pattern: Array, live: Array | None) -> Array:
    """The (n, m) pattern with the padding neurons (``live`` False) off; the pattern itself when ``live`` is None."""
    return pattern if live is None else pattern & live[None, :]


class DuData(NamedTuple):
    """What the Du et al. objective and recorder read: the data, the fixed signs, the start and its products."""

    X: Array  # (n, d) unit rows
    y: Array  # (n,)
    a: Array  # (m,) fixed output signs
    W0: Array  # (m, d) initialization
    XXt: Array  # (n, n) X X^T
    Z0: Array  # (n, m) X W(0)^T
    pattern0: Array  # the initial pattern, bit-packed (``pack_pattern``)
    floor: Array | float = 0.0  # lambda_0 / 2, the level the Cholesky certificate of (C2) checks
    H0: Array | None = None  # H(0), when the recorder tracks the kernel's change
    live: Array | None = None  # (m,) bool: the net's own neurons, the rest padding with a_r = 0 (None: all live)
    width: Array | None = None  # () the net's width m, the number of live neurons (None: W's m)

    def net_width(self):
        """The m of the net (a traced scalar for a padded batch, else W's number of rows)."""
        return self.Z0.shape[1] if self.width is None else self.width

    def live_pattern(self, pattern: Array) -> Array:
        """The activation pattern of the live neurons: padding neurons (whose 1{z >= 0} means nothing, a_r = 0)
        count as off, so that co-activation counts, H(k) and flips are those of the width-m net."""
        return live_pattern(pattern, self.live)


@dataclass(frozen=True)
class DuObjective:
    """L = 0.5 ||u - y||^2 of the Du et al. (2019) net (eq. (2)) with the paper's gradient (eq. (3)).

    Two forms of the same iteration W(k+1) = W(k) - eta D(k)^T X (``gradient_coefficients``):
    - "weights": the variable is W; each step computes Z = X W^T (n d m flops) and D^T X (n m d).
    - "kernel": every W(k) - W(0) lies in the row space of X, so the variable is ``KernelCoordinates`` C with
      W = W(0) + C^T X and gradient direction D: the same GD step on W for any optimizer linear in the gradient
      (plain GD here). Each step forms Z(k) = Z(0) + X X^T C(k) by one (n n m) product instead of two (n d m)
      ones (half the flops when n = d); C is then the only (n, m) array the step carries and rewrites, which
      XLA updates in place (an accumulated X X^T C carried beside it cost three more passes over (n, m) arrays
      per step: its update, and a copy XLA made to update it in place).
    ``aux`` is the step's ``DuAux`` (the ``Forward``, and X X^T C in the kernel form).
    """

    form: str

    def forward(self, params, data: DuData) -> DuAux:
        if self.form == "kernel":
            shift = data.XXt @ params.C
            return DuAux(forward_from_preactivations(data.Z0 + shift, data.a, data.y, data.width), shift)
        return DuAux(forward_from_preactivations(data.X @ params.T, data.a, data.y, data.width))

    def value(self, params, data: DuData):
        aux = self.forward(params, data)
        return aux.fwd.loss, aux

    def value_and_grad(self, params, data: DuData):
        aux = self.forward(params, data)
        D = gradient_coefficients(data.a, aux.fwd, data.width)
        grad = KernelCoordinates(D) if self.form == "kernel" else D.T @ data.X
        return (aux.fwd.loss, aux), grad


class _DiagState(NamedTuple):
    counts: Array  # (n, n) P P^T of the last pattern seen: co-activation counts, exact integers in float
    pattern: Array  # the last pattern seen, bit-packed (``pack_pattern``): (ceil(n / 32), m) uint32
    vector: Array  # (n,) Ritz vector of lambda_min(H) at the last full record (warm start)
    call: Array  # () int32: how many times the recorder has been called
    estimate: Array  # () lambda_min(H) (or its Ritz value) at the last full record: chooses the certificate's margin
    weyl: WeylState | None = None  # the certificate's last factorization (with ``certify``)


DENSE_COUNTS_MAX_N = 64  # up to this many points, H(k)'s counts P P^T are recomputed at each record


@dataclass(frozen=True)
class DuDiagnostics:
    """Recorder of the quantities of Du et al. (2019), Theorem 4.1, at the recorded steps of a ``DuObjective`` run.

    H(k) = (X X^T) * (P P^T) / m (eq. (5)) is updated from the pattern entries flipped since the last call
    (``update_coactivation_counts``, O(n) per flip; dense above ``flip_budget`` flips, and always for n <=
    ``DENSE_COUNTS_MAX_N``, where the dense P P^T is cheaper to compile and to run). lambda_min(H(k)) comes
    from ``eigvalsh`` ("eigh") or from ``lanczos_steps`` Lanczos steps warm-started at the previous Ritz vector
    ("lanczos": an upper bound on lambda_min). Without a carried state (``record_every = 0``) the single record
    is dense and exact. The drift reuses the step's own variables: in the kernel form
    ||w_r - w_r(0)||^2 = c_r^T X X^T c_r, a column sum of C * shift.

    With ``certify``, every call also proves (C2) lambda_min(H(k)) >= floor (floor = lambda_0 / 2) by
    ``certificate.prove_step``: Weyl's inequality from the last Cholesky factorization while its margin lasts, a
    new factorization when it runs out, with the rounding of both accounted for (see ``certificate``). A success
    is a proof; unlike a Ritz value, the certificate cannot err on the optimistic side. The recorder is then called
    every ``certify_every`` steps and measures lambda_min, flips and drift only at every ``record_ratio``-th call
    (and the last, ``last_call``): the proof runs at every call, the measurements at the recorded steps.
    ``batch_axis`` names the ``vmap`` axis of a batch of runs, so that a factorization runs only where some run
    needs one.

    With ``track_kernel``, each record also measures the kernel as it moves, from the same H(k): lambda_max(H(k))
    (its sharpness; GD on the linearized dynamics is stable while eta < 2 / lambda_max, Lewkowycz et al. 2020) and
    ||H(k) - H(0)||_F / ||H(0)||_F (small in the lazy regime; Chizat, Oyallon & Bach 2019).
    """

    form: str
    lambda_method: str = "eigh"
    lanczos_steps: int = 32
    flip_budget: int | None = None
    incremental: bool = True  # False: one dense record at the end (record_every = 0), no state
    certify: bool = False
    track_kernel: bool = False
    record_ratio: int = 1  # record_every / certify_every (0: only the last call is a full record)
    last_call: int = 0  # the index of the last call (the end of the run)
    batch_axis: str | None = None

    def init(self, params, aux: DuAux, data: DuData, key=None) -> _DiagState | None:
        if not self.incremental:
            return None
        n, m = data.Z0.shape[0], data.net_width()
        pattern = data.live_pattern(aux.fwd.pattern)
        counts0 = coactivation_counts(pattern, data.X.dtype)
        if self.lambda_method == "eigh":
            start = jnp.zeros((n,), data.X.dtype)
        else:  # one exact solve at init; Lanczos then follows the slowly moving eigenvector
            start = eigh(data.XXt * counts0 / m)[1][:, 0]
        weyl = initial_state(counts0) if self.certify else None
        nan = jnp.asarray(jnp.nan, data.X.dtype)
        return _DiagState(counts0, pack_pattern(pattern), start, jnp.asarray(0, jnp.int32), nan, weyl)

    def max_drift(self, params, aux: DuAux, data: DuData) -> Array:
        if self.form == "kernel":  # ||w_r - w_r(0)||^2 = c_r^T X X^T c_r, a column sum of C * (X X^T C)
            assert aux.shift is not None
            return jnp.sqrt(jnp.maximum(jnp.max(jnp.sum(params.C * aux.shift, axis=0)), 0))
        return jnp.max(jnp.linalg.norm(params - data.W0, axis=1))

    def record(self, state, params, aux: DuAux, data: DuData):
        n, m = data.Z0.shape[0], data.net_width()
        pattern = data.live_pattern(aux.fwd.pattern)
        packed = pack_pattern(pattern)
        if state is None:  # the single record of record_every = 0: dense and exact, no state to carry
            H = data.XXt * coactivation_counts(pattern, data.X.dtype) / m
            lam = lambda_min(H)
            flips = flip_count(packed, data.pattern0).astype(data.X.dtype) / (n * m)
            proof = None
            if self.certify:
                held, margin = factor_proof(H, data.floor, lam, self.batch_axis, fresh=True)
                source = jnp.where(held, FACTORIZATION, NOT_PROVED).astype(jnp.int32)
                proof = StepProof(held, source, margin, jnp.zeros_like(margin))
            history = self.history(lam, flips, self.max_drift(params, aux, data), None, H, data, proof)
            return None, (history, self.step_proof(proof))
        if n <= DENSE_COUNTS_MAX_N:  # the same integer counts; for few points the dense product is cheaper to
            counts = coactivation_counts(pattern, data.X.dtype)  # compile and to run
        else:
            counts = update_coactivation_counts_packed(state.counts, state.pattern, packed, budget=self.flip_budget)
        H = data.XXt * counts / m

        def measure():
            drift = self.max_drift(params, aux, data)
            flips = flip_count(packed, data.pattern0).astype(data.X.dtype) / (n * m)
            if self.lambda_method == "eigh":
                lam, vector = lambda_min(H), state.vector
                residual = jnp.zeros((), H.dtype)
            else:
                lam, vector = smallest_ritz_pair(lambda v: H @ v, state.vector, min(self.lanczos_steps, n))
                residual = jnp.linalg.norm(H @ vector - lam * vector)
            return (lam, flips, drift, residual, vector, *self.kernel_measures(H, data))

        if self.record_ratio == 1:  # every call is a full record
            measured = measure()
        else:
            full = state.call == self.last_call
            if self.record_ratio > 1:
                full = full | (state.call % self.record_ratio == 0)
            nan = jnp.full((), jnp.nan, H.dtype)
            skipped = lambda: (nan, nan, nan, nan, state.vector) + (nan, nan) * self.track_kernel  # noqa: E731
            measured = jax.lax.cond(full, measure, skipped)
        lam, flips, drift, residual, vector, *extra = measured
        estimate = lam if self.record_ratio == 1 else jnp.where(jnp.isfinite(lam), lam, state.estimate)
        weyl, proof = state.weyl, None
        if self.certify:
            assert weyl is not None
            refuted = refuted_by(H, lam, data.floor)  # lam is NaN at a call that measured nothing
            fresh = jnp.isfinite(lam)  # lam was measured on this step's own H
            weyl, proof = prove_step(
                weyl, H, data.XXt, counts, m, data.floor, estimate, self.batch_axis, refuted, fresh
            )
        residual = None if self.lambda_method == "eigh" else residual
        history = self.history(lam, flips, drift, residual, H, data, proof, extra)
        new_state = _DiagState(counts, packed, vector, state.call + 1, estimate, weyl)
        return new_state, (history, self.step_proof(proof))

    def history(self, lam, flips, drift, residual, H, data: DuData, proof, extra=None) -> TrainHistory:
        """One record: the switched-off fields (certificate, kernel tracking) absent."""
        certified = None if proof is None else proof.held
        if not self.track_kernel:
            return TrainHistory(None, lam, flips, drift, residual, certified)
        if extra is None:
            extra = self.kernel_measures(H, data)
        return TrainHistory(None, lam, flips, drift, residual, certified, *extra)

    def kernel_measures(self, H, data: DuData) -> tuple:
        """(lambda_max(H(k)), ||H(k) - H(0)||_F / ||H(0)||_F) with ``track_kernel``, else (): the family's kernel
        tracking measurement (``linalg.kernel_motion``, as ``regimes.training.KernelTracking`` records it)."""
        if not self.track_kernel:
            return ()
        assert data.H0 is not None  # ``trajectory`` forms H(0) when it tracks the kernel
        top, _, change = kernel_motion(H, data.H0)
        return top, change

    @staticmethod
    def step_proof(proof: StepProof | None) -> FloorCertificate | None:
        """A call's proof as a ``FloorCertificate`` row (its step filled in by ``train_gd``)."""
        if proof is None:
            return None
        return FloorCertificate(None, proof.held, proof.source, proof.margin, proof.distance)


@functools.partial(
    jax.jit,
    static_argnames=(
        "steps",
        "record_every",
        "optimizer",
        "lambda_method",
        "lanczos_steps",
        "flip_budget",
        "step_form",
        "certify",
        "track_kernel",
        "certify_every",
        "batch_axis",
    ),
)
def trajectory(
    W0,
    a,
    X,
    y,
    eta,
    divergence_factor,
    floor=0.0,
    *,
    steps,
    record_every,
    optimizer=None,
    lambda_method="eigh",
    lanczos_steps=32,
    flip_budget=None,
    step_form="weights",
    certify=False,
    track_kernel=False,
    certify_every=None,
    batch_axis=None,
    live_width=None,
):
    """The jitted Du et al. run on the driver: ``gd.scan`` of ``DuObjective`` with the ``DuDiagnostics`` recorder.

    No input checks (``train_gd`` makes them); traceable under ``vmap`` (``train_gd_batched``, which names its
    axis ``batch_axis``). ``live_width`` (a traced integer scalar, or None): the net is the first ``live_width``
    neurons of W and a, the rest padding with a_r = 0; the objective scales by live_width^{-1/2} and the
    recorder counts the live neurons only, so one compiled program serves every width up to W's m. With
    ``certify``, the recorder runs every ``certify_every`` steps (default ``record_every``; it must divide
    ``record_every``) and measures at the recorded steps only. Returns
    (loss (steps + 1,), final W (m, d), ``TrainHistory`` of (R,) arrays without its steps, ``FloorCertificate``
    of (K,) arrays without its steps or None, diverged step).
    """
    every = record_every if not certify or certify_every is None else certify_every
    calls = recorded_steps(steps, every)
    full = np.flatnonzero(np.isin(calls, recorded_steps(steps, record_every)))
    ratio = 1 if every == record_every else (record_every // every if record_every else 0)
    tx = optax.sgd(eta) if optimizer is None else optimizer
    Z0 = X @ W0.T
    XXt = X @ X.T
    XXt = (
        XXt + XXt.T
    ) / 2  # exactly symmetric, so that every H(k) is (a matmul's (i, j) and (j, i) may differ in an ulp)
    if live_width is None:
        live, width, m = None, None, W0.shape[0]
    else:
        live = jnp.arange(W0.shape[0]) < live_width
        width = m = jnp.asarray(live_width, X.dtype)
    pattern0 = live_pattern(Z0 >= 0, live)
    H0 = XXt * coactivation_counts(pattern0, X.dtype) / m if track_kernel else None
    data = DuData(X, y, a, W0, XXt, Z0, pack_pattern(pattern0), jnp.asarray(floor, X.dtype), H0, live, width)
    kernel = step_form == "kernel"
    params0 = KernelCoordinates(jnp.zeros_like(Z0)) if kernel else W0
    recorder = DuDiagnostics(
        step_form,
        lambda_method,
        lanczos_steps,
        flip_budget,
        incremental=every > 0,
        certify=certify,
        track_kernel=track_kernel,
        record_ratio=ratio,
        last_call=len(calls) - 1,
        batch_axis=batch_axis,
    )
    out = gd.scan(
        DuObjective(step_form),
        tx,
        params0,
        data,
        steps=steps,
        record_every=every,
        recorder=recorder,
        divergence_factor=divergence_factor,
    )
    W = W0 + out.params.C.T @ X if kernel else out.params
    history, proof = out.records
    if ratio != 1:  # the measurements of the recorded steps only
        history = jax.tree.map(lambda v: v[full], history)
    return out.loss, W, history, proof, out.diverged_step


@dataclass(frozen=True)
class PatternChanges:
    """Recorder: how many entries of the activation pattern flipped since the previous record (Du et al. 2019,
    Lemma 3.2 bounds the flips; the incremental H(k) update costs O(n) per flip)."""

    def init(self, params, aux: DuAux, data: DuData, key=None):
        return pack_pattern(aux.fwd.pattern)

    def record(self, previous, params, aux: DuAux, data: DuData):
        packed = pack_pattern(aux.fwd.pattern)
        return packed, flip_count(packed, previous)


def flips_per_step(params: Params, X: Array, y: Array, *, eta: float, steps: int) -> np.ndarray:
    """The number of activation-pattern entries that flip at each GD step of the Du et al. net, (steps,)."""
    W0, a = params
    X, y = check_inputs(X, y)
    check_step_size(eta)
    Z0 = X @ W0.T
    data = DuData(X, y, a, W0, X @ X.T, Z0, pack_pattern(Z0 >= 0))
    run = gd.run(DuObjective("weights"), W0, data, steps=steps, eta=eta, record_every=1, recorder=PatternChanges())
    return np.asarray(run.records)[1:]
