"""Loss landscapes: certified non-convexity, filter-normalized surfaces, mode connectivity.

    python -m experiments.landscape

1. Non-convexity certificates along 1-D slices (a float64-checked violated chord): a sigmoid MLP with
   cross-entropy, the deep-linear model, permutation symmetry of a trained MLP; convex controls (least squares,
   logistic regression) where none may exist and the Hessian is PSD at every sampled point.
2. 2-D filter-normalized loss surfaces (Li et al. 2018) of ReLU MLPs on digits, two depths, with and without
   skip connections.
3. Mode connectivity (Garipov et al. 2018): two minima from different seeds, the loss barrier along the
   straight line and along a fitted quadratic Bezier curve.
Writes <out>/landscape.{png,pdf,json}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from experiments.cli import Common, format_table, option, parse_config, progress, run_main, set_precision
from experiments.store import finish

if TYPE_CHECKING:  # the claims' type only: importing ntk_proofs imports JAX, which --help must not pay
    from ntk_proofs.claims import Claim

NAME = "landscape"
QUICK = dict(width=8, depths=(1, 3), n_train=60, train_steps=20, grid=5, bezier_steps=20, grid_points=41)


@dataclass(frozen=True)
class LandscapeConfig(Common):
    width: int = option(32, "hidden width of the digits MLPs")
    depths: tuple[int, ...] = option((2, 8), "hidden layers of the MLPs whose surfaces are drawn")
    n_train: int = option(500, "digits (odd vs even) used for training")
    train_steps: int = option(400, "Adam steps to reach each minimum")
    learning_rate: float = option(3e-3, "Adam learning rate")
    grid: int = option(25, "points per axis of the 2-D surfaces")
    span: float = option(1.0, "surfaces cover [-span, span]^2 in filter-normalized units")
    bezier_steps: int = option(600, "Adam steps fitting the Bezier bend")
    grid_points: int = option(401, "grid of the certificate search on each slice")


class Chord(NamedTuple):
    """A violated chord on a slice (``ntk_proofs.landscape.Certificate`` as saved, the same fields in the same order):
    f(alpha a1 + (1 - alpha) a2) - alpha f(a1) - (1 - alpha) f(a2) = gap > roundoff > 0, evaluated in float64.

    Attributes:
      a1: one end of the chord (a coordinate a along the slice).
      a2: its other end.
      alpha: the weight of a1 at the chord's interior point (1/2).
      gap: how far the loss at the interior point lies above the chord (loss units).
      roundoff: the bound on the float64 round-off error of the gap (loss units).
    """

    a1: float
    a2: float
    alpha: float
    gap: float
    roundoff: float


class ChordSearch(NamedTuple):
    """How hard the search for a violated chord looked (``ntk_proofs.landscape.CertificateSearch`` as saved).

    Attributes:
      grid_points: points of the grid over the slice's interval.
      chords: chords tried.
      evaluations: evaluations of the loss.
      best_gap: the largest float64 gap seen (loss units; <= 0 where no chord is violated).
    """

    grid_points: int
    chords: int
    evaluations: int
    best_gap: float


SLICE_EXTRAS = ("loss_minimum", "loss_permuted", "min_hessian_eigenvalue")  # the fields only some slices have


class _SliceFields(NamedTuple):
    """The fields of ``Slice``."""

    example: str
    interval: list[float]
    certificate: Chord | None
    search: ChordSearch
    expected: str
    note: str
    slice_a: list[float]
    slice_loss: list[float]
    loss_minimum: float | None = None
    loss_permuted: float | None = None
    min_hessian_eigenvalue: float | None = None


class Slice(_SliceFields):
    """A 1-D slice a -> L(theta + a d) and the search for a violated chord on it (a certificate of non-convexity).

    Attributes:
      example: the model and loss, in words.
      interval: [lo, hi], the range of a searched.
      certificate: the violated chord found, or None.
      search: how hard the search looked.
      expected: "found" where the loss is non-convex along the slice, "none" for a convex control.
      note: how the base point and direction were chosen, in words ("" if nothing to say).
      slice_a: 201 values of a evenly spaced over the interval.
      slice_loss: the loss at them, evaluated in float64, (201,).
      loss_minimum: the permutation slice only (else None): L(theta*) at the trained MLP's minimum (mean squared
        error).
      loss_permuted: the permutation slice only: L at that minimum with two hidden units swapped (the same, up to
        round-off).
      min_hessian_eigenvalue: the convex controls only: the smallest Hessian eigenvalue over 21 points along the
        slice (>= 0: convex there).

    The extras a slice does not have are None here and absent from its JSON.
    """

    __slots__ = ()

    def _asdict(self) -> dict[str, Any]:
        """The fields by name without the extras (``SLICE_EXTRAS``) this slice does not have: its JSON's keys."""
        return {k: v for k, v in super()._asdict().items() if v is not None or k not in SLICE_EXTRAS}


class Surface(NamedTuple):
    """A 2-D filter-normalized loss surface around a trained MLP's minimum (Li et al. 2018).

    Attributes:
      depth: hidden layers of the MLP.
      skip: whether it has skip connections.
      axis: the grid of both directions' coefficients, in filter-normalized units, (grid,).
      loss: the loss at theta* + alpha d1 + beta d2, (grid, grid), indexed [alpha, beta].
      minimum_loss: the loss at theta* (mean squared error).
    """

    depth: int
    skip: bool
    axis: list[float]
    loss: list[list[float]]
    minimum_loss: float


class ModeConnectivity(NamedTuple):
    """Two minima of depth-2 MLPs from different seeds, joined by the straight line and by a fitted quadratic Bezier
    curve (Garipov et al. 2018).

    Attributes:
      ts: the path parameter t in [0, 1], (101,).
      line: the loss along the straight line at ts, (101,).
      curve: the loss along the Bezier curve at ts, (101,).
      line_barrier: max_t of the line's loss above the chord of its endpoints' losses.
      curve_barrier: the same along the curve.
      fit_objective: the curve's mean loss over a fixed t grid, before each Adam step and after the last,
        (bezier_steps + 1,).
      endpoint_losses: the losses of the two minima.
    """

    ts: list[float]
    line: list[float]
    curve: list[float]
    line_barrier: float
    curve_barrier: float
    fit_objective: list[float]
    endpoint_losses: list[float]


class LandscapeSummary(NamedTuple):
    """Everything landscape.json holds: what the printout, the claims and the figure are made from.

    Attributes:
      experiment: "landscape".
      paper: the papers whose results are checked.
      config: the run's flags.
      certificates: the 1-D slices: sigmoid MLP, deep linear, permutation, and two convex controls, in that order.
      surfaces: one surface per depth of ``--depths``, without then with skip connections.
      mode_connectivity: the line and the curve between two minima.
      versions: the versions of Python, JAX and the numerical stack (``experiments.store.versions``).
      git_commit: the commit of the code that made the result (None outside git).
      git_dirty: whether that code had uncommitted changes (None outside git).
    """

    experiment: str
    paper: str
    config: LandscapeConfig
    certificates: list[Slice]
    surfaces: list[Surface]
    mode_connectivity: ModeConnectivity
    versions: dict[str, Any] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


SUMMARY = LandscapeSummary  # the record <out>/landscape.json loads into (``experiments.all``)


def parse_args(argv=None) -> LandscapeConfig:
    return parse_config(
        LandscapeConfig,
        argv,
        prog="python -m experiments.landscape",
        description=__doc__.split("\n\n")[0],
        presets=dict(quick=QUICK),
        validate=_problems,
    )


def _problems(c: LandscapeConfig) -> str | None:
    """The first usage error in a config, or None."""
    if min(c.width, min(c.depths), c.n_train, c.train_steps, c.bezier_steps) < 1 or c.grid < 3 or c.grid_points < 3:
        return "sizes must be >= 1, --grid and --grid-points >= 3."
    if not (c.span > 0 and c.learning_rate > 0):
        return "--span and --learning-rate must be positive."
    return None


def _digits(c: LandscapeConfig):
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt

    return nt.digits_split(jax.random.PRNGKey(c.seed), c.n_train, 0)[:2]


def train_mlp(c: LandscapeConfig, depth: int, skip: bool, seed: int):
    """An MLP trained to a minimum of the squared loss 0.5 ||f - y||^2 on digits with Adam; returns (loss, params)."""
    import jax  # JAX, optax and ntk_proofs here, not at the top: --help must not pay for importing them
    import optax

    import ntk_proofs as nt

    X, y = _digits(c)
    net = nt.MLP((X.shape[1],) + (c.width,) * depth + (1,), skip=skip, bias_var=0.1)
    params = net.init(jax.random.PRNGKey(seed))
    trained = nt.gd_trajectory(
        net.apply, params, X, y, steps=c.train_steps, optimizer=optax.adam(c.learning_rate), record_every=0
    ).params
    return nt.gd.squared_error(net.apply, X, y), trained


def certificates(c: LandscapeConfig) -> list[Slice]:
    """The five slices of the study, each searched for a violated chord (``LandscapeSummary.certificates``)."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them
    import jax.numpy as jnp

    import ntk_proofs as nt

    def search(name, f, lo, hi, expect, note) -> Slice:
        cert, searched = nt.convexity_certificate(f, lo, hi, grid_points=c.grid_points, return_search=True)
        xs = np.linspace(lo, hi, 201)
        with jax.enable_x64(True):
            ys = np.asarray(jax.vmap(f)(jnp.asarray(xs)))
        return Slice(
            example=name,
            interval=[lo, hi],
            certificate=None if cert is None else Chord(*cert),
            search=ChordSearch(*searched),
            expected=expect,
            note=note,
            slice_a=xs,
            slice_loss=ys,
        )

    key = jax.random.PRNGKey(c.seed)
    loss, p, d = nt.sigmoid_mlp_example(key)
    sigmoid = search(
        "sigmoid MLP 784-100-1, cross-entropy, random data",
        nt.slice_1d(loss, p, d),
        -1.0,
        3.0,
        "found",
        "random base point and direction, U[-0.5, 0.5]",
    )
    loss, origin, d = nt.deep_linear_example(jax.random.fold_in(key, 1))
    deep_linear = search(
        "deep linear 2-3-1 (identity activations)",
        nt.slice_1d(loss, origin, d),
        -2.0,
        2.0,
        "found",
        "line through the saddle W = 0; convex in W2 W1, not in (W1, W2)",
    )
    mse, minimum = train_mlp(c, 1, False, c.seed)
    swapped = nt.permutation_example(mse, minimum, 0, 1)
    direction = jax.tree.map(lambda a, b: b - a, minimum, swapped)
    loss_minimum, loss_permuted = float(mse(minimum)), float(mse(swapped))
    permutation = search(
        "permutation symmetry, trained ReLU MLP 64-32-1",
        nt.slice_1d(mse, minimum, direction),
        0.0,
        1.0,
        "found",
        f"L(theta*) = {loss_minimum:.6g}, L(swap units 0,1) = {loss_permuted:.6g}",
    )._replace(loss_minimum=loss_minimum, loss_permuted=loss_permuted)
    kx, ky, kw, kd = jax.random.split(jax.random.fold_in(key, 2), 4)
    Xc = jax.random.normal(kx, (40, 6))
    yc = jax.random.normal(ky, (40,))
    w0 = jax.random.normal(kw, (6,))
    dc = jax.random.normal(kd, (6,))
    lsq = lambda w: nt.least_squares_loss(w, Xc, yc)  # noqa: E731
    logi = lambda w: nt.logistic_loss(w, Xc, (yc > 0).astype(Xc.dtype))  # noqa: E731
    controls = []
    for name, f in (("convex control: linear least squares", lsq), ("convex control: logistic regression", logi)):
        row = search(name, nt.slice_1d(f, w0, dc), -5.0, 5.0, "none", "")
        # the Hessian is PSD at every sampled point
        points = w0[None, :] + jnp.linspace(-5, 5, 21)[:, None] * dc[None, :]
        smallest = float(min(np.linalg.eigvalsh(np.asarray(jax.hessian(f)(w)))[0] for w in points))
        controls.append(row._replace(min_hessian_eigenvalue=smallest))
    return [sigmoid, deep_linear, permutation, *controls]


def surfaces(c: LandscapeConfig, bar) -> list[Surface]:
    """The filter-normalized surfaces of the MLPs of ``--depths``, each without then with skip connections."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them
    import jax.numpy as jnp

    import ntk_proofs as nt

    out = []
    axis = jnp.linspace(-c.span, c.span, c.grid)
    for depth in c.depths:
        for skip in (False, True):
            loss, params = train_mlp(c, depth, skip, c.seed)
            d1, d2 = nt.filter_normalized_directions(jax.random.PRNGKey(c.seed + 11), params, 2)
            Z = nt.loss_surface_2d(loss, params, d1, d2, axis, axis)
            out.append(Surface(depth=depth, skip=skip, axis=axis, loss=Z, minimum_loss=float(loss(params))))
            bar.update(1)
    return out


def mode_connectivity(c: LandscapeConfig) -> ModeConnectivity:
    """The barriers along the line and along a fitted Bezier curve between two minima of depth-2 MLPs."""
    import jax  # JAX and ntk_proofs here, not at the top: --help must not pay for importing them

    import ntk_proofs as nt

    loss, a = train_mlp(c, 2, False, c.seed + 100)
    _, b = train_mlp(c, 2, False, c.seed + 200)
    line = nt.path_barrier(loss, a, b)
    fit = nt.fit_bezier(loss, a, b, key=jax.random.PRNGKey(c.seed + 5), steps=c.bezier_steps)
    curve = nt.path_barrier(loss, a, b, fit.bend)
    return ModeConnectivity(
        ts=line.ts,
        line=line.losses,
        curve=curve.losses,
        line_barrier=line.height,
        curve_barrier=curve.height,
        fit_objective=fit.objective,
        endpoint_losses=[float(line.losses[0]), float(line.losses[-1])],
    )


def claims(summary: LandscapeSummary, command: str) -> list[Claim]:
    """A certificate of non-convexity where the loss is non-convex (the chord gap exceeds its round-off bound),
    none on the convex controls (the best gap the search found stays within it); a Bezier curve between two minima
    has a lower barrier than the straight line (Garipov et al. 2018)."""
    from ntk_proofs.claims import claim  # here: importing ntk_proofs imports JAX, which --help must not pay

    rows = []
    for r in summary.certificates:
        found = r.certificate is not None
        gap = r.certificate.gap if found else r.search.best_gap
        roundoff = r.certificate.roundoff if found else 0.0
        expected = r.expected == "found"
        rows.append(
            claim(
                "Goodfellow et al. (2015); Li et al. (2018)",
                f"{r.example}: chord gap above its round-off bound (float64)"
                if expected
                else f"{r.example}: no chord violated (float64 search)",
                gap,
                "at_least" if expected else "at_most",
                roundoff,
                command,
                measured=f"gap {gap:.3g}" + (f" (round-off {roundoff:.2g})" if found else ""),
            )
        )
    m = summary.mode_connectivity
    rows.append(
        claim(
            "Garipov et al. (2018)",
            "Bezier curve barrier below the straight line's: line - curve (1 pair of minima)",
            m.line_barrier - m.curve_barrier,
            "at_least",
            0.0,
            command,
            measured=f"{m.curve_barrier:.3g} vs {m.line_barrier:.3g}",
        )
    )
    return rows


def print_summary(summary: LandscapeSummary) -> None:
    """The tables this experiment prints."""
    print("\nNon-convexity certificates on 1-D slices (gap re-evaluated in float64):")
    rows = []
    for r in summary.certificates:
        cert = r.certificate
        rows.append(
            [
                r.example,
                "yes" if cert else "none",
                f"[{cert.a1:.3g}, {cert.a2:.3g}]" if cert else "-",
                cert.gap if cert else r.search.best_gap,
                cert.roundoff if cert else "-",
                r.search.chords,
            ]
        )
    print(
        format_table(
            [
                "example",
                "certificate",
                "[a1, a2], alpha=1/2",
                "gap (best gap if none)",
                "round-off bound",
                "chords searched",
            ],
            rows,
        )
    )
    for r in summary.certificates[-2:]:
        print(f"  {r.example}: smallest Hessian eigenvalue over 21 sampled points = {r.min_hessian_eigenvalue:.3g}")
    modes = summary.mode_connectivity
    print(
        f"\nMode connectivity (depth-2 MLPs, endpoint losses {modes.endpoint_losses[0]:.4g}, "
        f"{modes.endpoint_losses[1]:.4g}): barrier along the line {modes.line_barrier:.4g}, "
        f"along the Bezier curve {modes.curve_barrier:.4g}"
    )


def main(argv=None) -> LandscapeSummary:
    c = parse_args(argv)
    set_precision(c.x64)
    from experiments.plotting.landscape import plot_landscape  # here: matplotlib is heavy; --help must not pay

    with progress(total=2 + 2 * len(c.depths), desc="landscape", unit="task") as bar:
        certs = certificates(c)
        bar.update(1)
        surf = surfaces(c, bar)
        modes = mode_connectivity(c)
        bar.update(1)
    summary = LandscapeSummary(
        experiment=NAME,
        paper="Goodfellow et al. (2015); Li et al. (2018); Garipov et al. (2018); Draxler et al. (2018)",
        config=c,
        certificates=certs,
        surfaces=surf,
        mode_connectivity=modes,
    )
    print_summary(summary)
    return finish(summary, plot_landscape, c.out, NAME)


if __name__ == "__main__":
    run_main(main)
