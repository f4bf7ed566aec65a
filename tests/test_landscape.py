"""Landscape: certificates that re-check in float64, convex controls, symmetry, filter normalization, Bezier curves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests.tolerances import approx, rel, tol


def _recheck(f, cert):
    """Independent float64 re-evaluation of a certificate's gap."""
    with jax.enable_x64(True):
        vals = [float(f(jnp.float64(a))) for a in (cert.a1, cert.a2, cert.alpha * cert.a1 + (1 - cert.alpha) * cert.a2)]
    return vals[2] - cert.alpha * vals[0] - (1 - cert.alpha) * vals[1]


def test_sigmoid_mlp_slice_has_a_certificate_that_rechecks():
    loss, p, d = nt.sigmoid_mlp_example(jax.random.PRNGKey(0))
    f = nt.slice_1d(loss, p, d)
    cert = nt.convexity_certificate(f, -1.0, 3.0)
    assert cert is not None and -1.0 <= cert.a1 < cert.a2 <= 3.0
    gap = _recheck(f, cert)
    assert gap == approx(cert.gap) and gap > cert.roundoff > 0


@given(seed=st.integers(0, 10**6))
def test_deep_linear_line_through_the_saddle_is_certified(seed):
    loss, origin, d = nt.deep_linear_example(jax.random.PRNGKey(seed))
    f = nt.slice_1d(loss, origin, d)
    cert = nt.convexity_certificate(f, -2.0, 2.0, grid_points=101)
    assert cert is not None and _recheck(f, cert) > cert.roundoff
    # closed form of the slice: ||Y||^2 - 2 a^2 <P, Y> + a^4 ||P||^2 with P = W2 W1 X^T, concave at 0 iff <P, Y> > 0
    second_derivative = jax.grad(jax.grad(f))(0.0)
    assert float(second_derivative) < 0


@given(seed=st.integers(0, 10**6), kind=st.sampled_from(["lsq", "logistic"]))
def test_convex_controls_never_yield_a_certificate_and_have_psd_hessians(seed, kind):
    kx, ky, kw, kd = jax.random.split(jax.random.PRNGKey(seed), 4)
    X = jax.random.normal(kx, (30, 4))
    y = jax.random.normal(ky, (30,))
    loss = (
        (lambda w: nt.least_squares_loss(w, X, y))
        if kind == "lsq"
        else (lambda w: nt.logistic_loss(w, X, (y > 0) * 1.0))
    )
    w0, d = jax.random.normal(kw, (4,)), jax.random.normal(kd, (4,))
    cert, search = nt.convexity_certificate(nt.slice_1d(loss, w0, d), -4.0, 4.0, grid_points=201, return_search=True)
    assert cert is None and search.chords == 100 * 100
    for t in np.linspace(-4, 4, 9):
        assert np.linalg.eigvalsh(np.asarray(jax.hessian(loss)(w0 + t * d)))[0] >= -1e-12


def test_permutation_symmetry_equal_losses_and_higher_midpoint():
    net = nt.MLP((5, 8, 1), bias_var=0.2)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 30, 5)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 30)
    loss = lambda p: 0.5 * jnp.mean((net.apply(p, X) - y) ** 2)  # noqa: E731
    trained = nt.gd_trajectory(net.apply, net.init(jax.random.PRNGKey(2)), X, y, eta=0.05, steps=300).params
    swapped = nt.permutation_example(loss, trained, 2, 5)
    # a permutation of hidden units reorders the output sums: the table's rtol, and an atol tighter than its 1e-12
    # (1e-13 on outputs, 1e-14 on the loss), kept from before it
    np.testing.assert_allclose(net.apply(swapped, X), net.apply(trained, X), **dict(tol(np.float64), atol=1e-13))
    assert float(loss(swapped)) == pytest.approx(float(loss(trained)), abs=1e-14)
    f = nt.slice_1d(loss, trained, jax.tree.map(lambda a, b: b - a, trained, swapped))
    cert = nt.convexity_certificate(f, 0.0, 1.0, grid_points=101)
    assert cert is not None and _recheck(f, cert) > cert.roundoff
    assert float(f(0.5)) > float(loss(trained))


@given(seed=st.integers(0, 10**6), bias=st.sampled_from(["zero", "keep"]))
def test_filter_normalized_directions_have_the_filters_norms(seed, bias):
    net = nt.MLP((6, 10, 7, 1), bias_var=0.3)
    params = net.init(jax.random.PRNGKey(seed))
    d1, d2 = nt.filter_normalized_directions(jax.random.PRNGKey(seed + 1), params, 2, bias=bias)
    for direction in (d1, d2):
        for layer, dl in zip(params, direction):
            np.testing.assert_allclose(
                np.linalg.norm(np.asarray(dl.W), axis=1), np.linalg.norm(np.asarray(layer.W), axis=1), **rel(layer.W)
            )
            if bias == "zero":
                assert float(jnp.max(jnp.abs(dl.b))) == 0.0
            else:
                assert float(jnp.linalg.norm(dl.b)) == approx(float(jnp.linalg.norm(layer.b)))
    assert not np.allclose(np.asarray(d1[0].W), np.asarray(d2[0].W))


def test_surface_and_interpolation_are_the_loss_at_the_right_points():
    net = nt.MLP((3, 5, 1))
    X = nt.unit_sphere(jax.random.PRNGKey(0), 8, 3)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 8)
    loss = lambda p: 0.5 * jnp.mean((net.apply(p, X) - y) ** 2)  # noqa: E731
    p, q = net.init(jax.random.PRNGKey(2)), net.init(jax.random.PRNGKey(3))
    d1, d2 = nt.filter_normalized_directions(jax.random.PRNGKey(4), p, 2)
    axis = jnp.linspace(-1, 1, 5)
    Z = np.asarray(nt.loss_surface_2d(loss, p, d1, d2, axis, axis))
    moved = jax.tree.map(lambda a, u, v: a + 0.5 * u - 1.0 * v, p, d1, d2)
    # the same loss at the same point, evaluated twice: 1e-12, tighter than the table, kept from before it
    assert Z.shape == (5, 5) and Z[3, 0] == pytest.approx(float(loss(moved)), rel=1e-12)
    ts, losses = nt.interpolate(loss, p, q, 11)
    assert float(losses[0]) == approx(float(loss(p))) and float(losses[-1]) == approx(float(loss(q)))


def test_bezier_curve_endpoints_are_the_minima_and_fitting_lowers_its_loss():
    net = nt.MLP((4, 16, 1), bias_var=0.1)
    X = nt.unit_sphere(jax.random.PRNGKey(0), 40, 4)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 40)
    loss = lambda p: 0.5 * jnp.mean((net.apply(p, X) - y) ** 2)  # noqa: E731
    a = nt.gd_trajectory(net.apply, net.init(jax.random.PRNGKey(2)), X, y, eta=0.02, steps=400).params
    b = nt.gd_trajectory(net.apply, net.init(jax.random.PRNGKey(3)), X, y, eta=0.02, steps=400).params
    fit = nt.fit_bezier(loss, a, b, key=jax.random.PRNGKey(4), steps=300)
    for t, end in ((0.0, a), (1.0, b)):
        for u, v in zip(jax.tree.leaves(nt.bezier_point(t, a, fit.bend, b)), jax.tree.leaves(end)):
            np.testing.assert_array_equal(u, v)
    line = nt.path_barrier(loss, a, b)
    curve = nt.path_barrier(loss, a, b, fit.bend)
    assert float(curve.losses[0]) == approx(float(loss(a))) and float(curve.losses[-1]) == approx(float(loss(b)))
    assert curve.height < line.height and float(jnp.mean(curve.losses)) < float(jnp.mean(line.losses))


def test_bad_arguments():
    with pytest.raises(ValueError, match="lo < hi"):
        nt.convexity_certificate(lambda a: a * a, 1.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        nt.convexity_certificate(lambda a: 1.0 / a, -1.0, 1.0, grid_points=5)
    with pytest.raises(ValueError, match="bias"):
        nt.filter_normalized_directions(
            jax.random.PRNGKey(0), nt.MLP((2, 3, 1)).init(jax.random.PRNGKey(0)), bias="scale"
        )
