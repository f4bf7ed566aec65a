"""Full-batch GD on the deep nets of Du, Lee, Li, Wang & Zhai (ICML 2019), on the one driver ``ntk_proofs.gd``, with
the quantities its proofs track and a monitor of the theorems' conclusions.

Every layer is trained, the output layer a included (Section 3.3):
W^(h)(k) = W^(h)(k-1) - eta dL/dW^(h), a(k) = a(k-1) - eta dL/da, on L = 0.5 ||u - y||^2 (Eq. (1)). The objective is
``DeepObjective`` (the gradient by ``jax.value_and_grad``); the recorder ``DeepDiagnostics`` measures at each
recorded step, from the step's own forward pass:
- the loss;
- lambda_min(G^(H)(k)) (dense ``eigvalsh``; G^(H) of Eq. (13) or (14), ``gram.gram_from_features``);
- whether lambda_min(G^(H)(k)) >= lambda_0 / 2 is proved, by a Cholesky factorization of G^(H)(k) - (lambda_0/2 + mu) I
  with its rounding allowance (``ntk_proofs.du2019.certificate.factor_proof``, the (C2) proof of the two-layer
  suite, at every recorded step);
- the drift ||W^(h)(k) - W^(h)(0)||_F of every layer h = 1..H, and ||a(k) - a(0)||_2 of the output layer.

Theorems 5.1 and 6.1 conclude L(k) <= (1 - eta lambda_0 / 2)^k L(0); their proofs (Appendix A, Condition A.1)
go through lambda_min(G^(H)(k)) >= lambda_0 / 2 and the weights staying in a ball around their initialization.
``deep_theorem_monitor`` checks these along a run. What the certificate proves is about the computed G^(H)(k) (as the
two-layer certificate's is about the computed H(k)): the rounding of forming G^(H)(k) from the weights is not bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntk_proofs import gd
from ntk_proofs.data import check_inputs, check_positive_int
from ntk_proofs.du2019.bounds import MonitorCheck, check_upper_bound, linear_rate_envelope
from ntk_proofs.du2019.certificate import factor_proof
from ntk_proofs.du_lee2019.bounds import paper_radius
from ntk_proofs.du_lee2019.gram import gram_from_features
from ntk_proofs.du_lee2019.kernels import check_net, lambda_zero_deep
from ntk_proofs.du_lee2019.models import DeepNet, DeepParams, forward, init_deep
from ntk_proofs.gd import DIVERGENCE_FACTOR, OnDivergence
from ntk_proofs.linalg import eigvalsh, single_threaded_lapack

Array = jax.Array


class DeepData(NamedTuple):
    """What the objective and the recorder read: inputs X (n, d), labels y (n,), the initial parameters, and the
    floor lambda_0 / 2 the certificate proves; for a width-m net padded to width M (``du_lee2019.sweep``), the
    ``mask`` (M,) of its neurons and its ``width`` m (``models.forward``)."""

    X: Array
    y: Array
    initial: DeepParams
    floor: Array
    mask: Array | None = None
    width: Array | None = None


class DeepAux(NamedTuple):
    """What a forward pass hands the recorder: the loss, x^(H-1) (n, m_in) and W^(H) x^(H-1) (n, m)."""

    loss: Array
    previous: Array
    preactivation: Array


class DeepHistory(NamedTuple):
    """What ``DeepDiagnostics`` records, at the R recorded steps of a run.

    Attributes:
      step: (R,) the recorded steps (``gd.recorded_steps``); None inside the scan, filled in by ``train_deep``.
      loss: (R,) L(k) = 0.5 ||u(k) - y||^2.
      lambda_min: (R,) lambda_min(G^(H)(k)) (dense eigvalsh).
      certified: (R,) lambda_min(G^(H)(k)) >= lambda_0 / 2 is proved by a Cholesky factorization with its rounding
        allowance (``du2019.certificate.factor_proof``).
      margin: (R,) the proved lower bound on lambda_min(G^(H)(k)) - lambda_0 / 2 (-inf where nothing is proved).
      layer_drift: (R, H) ||W^(h)(k) - W^(h)(0)||_F for h = 1..H.
      output_drift: (R,) ||a(k) - a(0)||_2.
    """

    step: Array | None
    loss: Array
    lambda_min: Array
    certified: Array
    margin: Array
    layer_drift: Array
    output_drift: Array


class DeepTrainResult(NamedTuple):
    """One GD run of a deep net: the driver's fields (``gd.GDRun``) with the diagnostics named.

    Attributes:
      loss: (steps + 1,) the loss before each step and after the last.
      params: the final ``DeepParams``.
      record_steps: (R,) the recorded steps.
      history: the ``DeepHistory`` at the recorded steps.
      diverged_step: the first step whose loss was non-finite or above ``divergence_factor * L(0)``, or -1.
      initial_params: the ``DeepParams`` at step 0.
      lambda0: lambda_0 = lambda_min(K^(H)) the certificate's floor lambda_0 / 2 came from.
      net: the ``DeepNet``.
      n: the number of training points.
    """

    loss: Array
    params: DeepParams
    record_steps: np.ndarray
    history: DeepHistory
    diverged_step: int
    initial_params: DeepParams
    lambda0: float
    net: DeepNet
    n: int


@dataclass(frozen=True)
class DeepObjective:
    """L = 0.5 ||u - y||^2 (Eq. (1)) of the net ``net`` on ``DeepData``, every layer and a trained (Section 3.3);
    ``aux`` is the ``DeepAux`` of the step's forward pass."""

    net: DeepNet

    def value(self, params: DeepParams, data: DeepData):
        fwd = forward(params, data.X, self.net, data.mask, data.width)
        r = fwd.outputs - data.y
        value = 0.5 * jnp.vdot(r, r)
        return value, DeepAux(value, fwd.features[-2], fwd.preactivations[-1])

    def value_and_grad(self, params: DeepParams, data: DeepData):
        return jax.value_and_grad(lambda p: self.value(p, data), has_aux=True)(params)


@dataclass(frozen=True)
class DeepDiagnostics:
    """Recorder (``gd.Recorder``) of what the proofs of Theorems 5.1 / 6.1 track: the ``DeepHistory`` fields, from
    the step's own forward pass (``DeepAux``). No carried state."""

    net: DeepNet

    def init(self, params, aux, data, key=None):
        return None

    def record(self, state, params: DeepParams, aux: DeepAux, data: DeepData):
        if data.mask is None:
            G = gram_from_features(aux.previous, aux.preactivation, params.a, self.net)
        else:  # a masked to the m neurons, and the width-M scale turned into the width-m one (both scales squared
            # are proportional to 1 / width)
            assert data.width is not None
            G = gram_from_features(aux.previous, aux.preactivation, params.a * data.mask, self.net)
            G = G * (params.a.shape[0] / data.width.astype(G.dtype))
        lam = eigvalsh(G)[0]
        held, margin = factor_proof(G, data.floor, lam)
        drift = jnp.stack([jnp.linalg.norm(W - W0) for W, W0 in zip(params.W, data.initial.W)])
        output = jnp.linalg.norm(params.a - data.initial.a)
        return state, DeepHistory(None, aux.loss, lam, held, margin, drift, output)


def check_params(params, net: DeepNet, d: int) -> DeepParams:
    """``params`` must be a ``DeepParams`` of ``net``'s depth on d inputs: W^(1) (m, d), W^(h) (m, m), a (m,),
    finite floats of one dtype. ValueError naming the field otherwise."""
    if not isinstance(params, DeepParams):
        raise ValueError(f"params must be a DeepParams (W, a) or a PRNG key; got {type(params).__name__}.")
    W = tuple(jnp.asarray(w) for w in params.W)
    a = jnp.asarray(params.a)
    if len(W) != net.depth:
        raise ValueError(f"params.W must hold depth = {net.depth} matrices; got {len(W)}.")
    if a.ndim != 1 or a.shape[0] < 1:
        raise ValueError(f"params.a must be a vector of m >= 1 output weights; got shape {a.shape}.")
    m = a.shape[0]
    for h, w in enumerate(W, start=1):
        want = (m, d if h == 1 else m)
        if w.shape != want:
            raise ValueError(f"params.W[{h - 1}] (W^({h})) must have shape {want}; got {w.shape}.")
    leaves = (*W, a)
    if not all(jnp.issubdtype(x.dtype, jnp.floating) for x in leaves) or len({x.dtype for x in leaves}) != 1:
        raise ValueError(
            f"params must be floating-point arrays of one dtype; got {sorted({str(x.dtype) for x in leaves})}."
        )
    if not all(bool(jnp.all(jnp.isfinite(x))) for x in leaves):
        raise ValueError("params contain NaN or infinite entries.")
    return DeepParams(W, a)


def train_deep(
    key_or_params: Array | DeepParams,
    X: Array,
    y,
    net: DeepNet,
    m: int | None,
    eta: float,
    steps: int,
    record_every: int = 1,
    lambda0: float | None = None,
    *,
    dtype: Any = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
    on_divergence: OnDivergence | None = None,
) -> DeepTrainResult:
    """Full-batch GD on a deep net of Du, Lee, Li, Wang & Zhai (2019) (Theorem 5.1: "fc"; Theorem 6.1: "resnet"),
    every layer trained, with the ``DeepDiagnostics`` recorder on the driver ``gd.run``.

    Args:
      key_or_params: a PRNG key (the parameters are then ``init_deep(key, net, m, d, dtype)``) or ``DeepParams``.
      X: (n, d) inputs with unit-norm rows, no two parallel; y: (n,) labels.
      net: the ``DeepNet``.
      m: the width (with a key; with params, None or their width).
      eta: the constant step size (> 0).
      steps: the number of GD steps.
      record_every: steps between records (0: only the end).
      lambda0: lambda_0 of the certificate's floor lambda_0 / 2; default ``lambda_zero_deep(X, net)`` (float64).
      dtype: the dtype of the parameters drawn from a key (default X's); with params, theirs. X and y are cast to it.
      divergence_factor: a loss above ``divergence_factor * L(0)`` (or non-finite) is divergence (``gd``'s policy).
      on_divergence: "raise" (default) or "report".

    Returns:
      A ``DeepTrainResult``.

    Raises:
      ValueError: naming the argument, for inputs off the unit sphere, mismatched shapes, a bad net, width, step,
        count, lambda0 or params; ``AssumptionError`` when lambda_0 is not positive.
      GradientDescentDiverged: on divergence, with ``on_divergence="raise"``.
    """
    net = check_net(net)
    X, y = check_inputs(X, y)
    n, d = X.shape
    if isinstance(key_or_params, DeepParams):
        params = check_params(key_or_params, net, d)
        if m is not None and m != params.a.shape[0]:
            raise ValueError(f"m = {m!r} does not match the width {params.a.shape[0]} of params.")
    else:
        if m is None:
            raise ValueError("m (the width) is required when the parameters are drawn from a key.")
        check_positive_int(m, "m")
        params = init_deep(key_or_params, net, m, d, X.dtype if dtype is None else dtype)
    gd.check_step_size(eta)
    lam = lambda_zero_deep(X, net) if lambda0 is None else lambda0
    if isinstance(lam, bool) or not (math.isfinite(float(lam)) and float(lam) > 0):
        raise ValueError(f"lambda0 must be a positive finite number; got {lambda0!r}.")
    dt = params.a.dtype
    data = DeepData(X.astype(dt), y.astype(dt), params, jnp.asarray(float(lam) / 2, dt))
    with single_threaded_lapack():  # the scan calls LAPACK (eigh, Cholesky): see ntk_proofs.linalg
        run = gd.run(
            DeepObjective(net),
            params,
            data,
            steps=steps,
            eta=eta,
            record_every=record_every,
            recorder=DeepDiagnostics(net),
            divergence_factor=divergence_factor,
            on_divergence=on_divergence,
        )
    history = run.records._replace(step=jnp.asarray(run.record_steps))
    return DeepTrainResult(
        run.loss, run.params, run.record_steps, history, run.diverged_step, params, float(lam), net, int(n)
    )


class DeepTheoremMonitor(NamedTuple):
    """The conclusions of Theorems 5.1 / 6.1 of Du, Lee, Li, Wang & Zhai (2019) and their proofs' invariants, along
    one run (``deep_theorem_monitor``).

    Attributes:
      loss_envelope: L(k) <= (1 - eta lambda_0 / 2)^k L(0) at every step k >= 1 (the theorems' conclusion).
      lambda_min_floor: lambda_min(G^(H)(k)) >= lambda_0 / 2 at the recorded steps, held where the Cholesky
        certificate proved it; worst_ratio = max (lambda_0 / 2) / lambda_min(G^(H)(k)).
      layer_drift: per layer h = 1..H, ||W^(h)(k) - W^(h)(0)||_F / sqrt(m) <= radius at the recorded steps; None
        where no radius is pinned down (the fully-connected net: only the measured drift is reported).
      max_layer_drift: (H,) the largest ||W^(h)(k) - W^(h)(0)||_F over the recorded steps (not divided by sqrt(m)).
      max_output_drift: the largest ||a(k) - a(0)||_2 over the recorded steps.
      radius: the radius the drift was compared with (``bounds.paper_radius`` by default), or None.
      activation_within_hypotheses: whether the activation meets Conditions 3.1 and 3.2 (False for ReLU: the
        theorems then promise nothing, and the checks are measurements outside their hypotheses).
    """

    loss_envelope: MonitorCheck
    lambda_min_floor: MonitorCheck
    layer_drift: tuple[MonitorCheck, ...] | None
    max_layer_drift: np.ndarray
    max_output_drift: float
    radius: float | None
    activation_within_hypotheses: bool

    @property
    def held(self) -> bool:
        """Every check that was made held."""
        checks = [self.loss_envelope, self.lambda_min_floor, *(self.layer_drift or ())]
        return all(check.held for check in checks)


def deep_theorem_monitor(
    result: DeepTrainResult,
    lambda0: float,
    eta: float,
    *,
    radius: float | str | None = "paper",
    rtol: float | None = None,
) -> DeepTheoremMonitor:
    """Held / first failure / worst ratio of the conclusions of Theorems 5.1 / 6.1 (Du, Lee, Li, Wang & Zhai 2019)
    along a ``train_deep`` run, each by ``du2019.bounds.check_upper_bound``.

    Args:
      result: a ``DeepTrainResult``.
      lambda0: lambda_0 = lambda_min(K^(H)) of the envelope and the floor lambda_0 / 2.
      eta: the run's step size.
      radius: "paper" (default): ``bounds.paper_radius`` (the ResNet's Lemma C.4 with its constant dropped; None for
        the fully-connected net, whose radius the transcription does not give); a number: that radius, against
        ||W^(h)(k) - W^(h)(0)||_F / sqrt(m); None: no drift check (the measured drift is still reported).
      rtol: round-off allowed in the comparisons (default 10 machine epsilons of the run's dtype).

    Returns:
      A ``DeepTheoremMonitor``. The floor's verdict at a recorded step is the run's certificate there; if the
      run's floor was not lambda0 / 2 (another ``lambda0`` given to ``train_deep``), the verdict is the eigenvalue's
      comparison instead.
    """
    loss = np.asarray(result.loss)
    if rtol is None:
        rtol = 10 * float(np.finfo(loss.dtype).eps)
    h = result.history
    steps = np.arange(loss.size)
    envelope = linear_rate_envelope(loss[0], eta, lambda0, loss.size - 1)
    lam = np.asarray(h.lambda_min, np.float64)
    record_steps = np.asarray(result.record_steps)
    floor = check_upper_bound(record_steps, np.full_like(lam, float(lambda0) / 2), lam, rtol)
    if float(lambda0) == float(result.lambda0):
        failed = np.flatnonzero(~np.asarray(h.certified, bool))
        floor = MonitorCheck(
            held=bool(failed.size == 0),
            first_failure=int(record_steps[failed[0]]) if failed.size else -1,
            worst_ratio=floor.worst_ratio,
        )
    if isinstance(radius, str):
        if radius != "paper":
            raise ValueError(f"radius must be 'paper', a number or None; got {radius!r}.")
        radius = paper_radius(result.net, result.n, lambda0)
    drift = np.asarray(h.layer_drift, np.float64)
    m = int(np.shape(result.params.a)[0])
    checks = None
    if radius is not None:
        checks = tuple(
            check_upper_bound(record_steps, drift[:, layer] / math.sqrt(m), float(radius), rtol)
            for layer in range(drift.shape[1])
        )
    return DeepTheoremMonitor(
        loss_envelope=check_upper_bound(steps[1:], loss[1:], envelope[1:], rtol),
        lambda_min_floor=floor,
        layer_drift=checks,
        max_layer_drift=drift.max(axis=0),
        max_output_drift=float(np.max(np.asarray(h.output_drift))),
        radius=None if radius is None else float(radius),
        activation_within_hypotheses=result.net.within_hypotheses,
    )
