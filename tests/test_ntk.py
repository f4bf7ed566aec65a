"""NTKs: methods agree, match the Du et al. Gram matrix and the infinite-width recursion; linearization is exact."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_proofs as nt
from tests import reference
from tests.tolerances import F64, RTOL_F64, tol


def _du(seed, n=6, d=5, m=40, dtype=None):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), n, d, dtype=dtype)
    p = nt.init_params(jax.random.PRNGKey(seed + 1), m, d, dtype=dtype)
    return X, p, (lambda W, x: nt.predict(nt.Params(W, p.a), x))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@given(seed=st.integers(0, 10**6), batch=st.sampled_from([None, 1, 4]))
def test_both_methods_equal_du_gram_matrix(dtype, seed, batch):
    """For the Du et al. net with only W trained, Theta = J J^T = H(W) (Du et al. eq. (5)): both methods in either
    dtype, against the library's H(W) and the float64 NumPy loop of eq. (5)."""
    X, p, f = _du(seed, dtype=dtype)
    H = np.asarray(nt.gram_matrix(p.W, X))
    for method in ("jacobian", "ntvp"):
        K = nt.empirical_ntk(f, p.W, X, method=method, batch_size=batch)
        assert K.dtype == dtype
        np.testing.assert_allclose(K, H, **tol(dtype))
        np.testing.assert_allclose(K, reference.gram(p.W, X), **tol(dtype))


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_methods_agree_on_mlp_with_vector_outputs_and_cross_kernels(parameterization):
    net = nt.MLP((5, 32, 16, 3), parameterization=parameterization, bias_var=0.2)
    params = net.init(jax.random.PRNGKey(0))
    x1 = nt.unit_sphere(jax.random.PRNGKey(1), 7, 5)
    x2 = nt.unit_sphere(jax.random.PRNGKey(2), 4, 5)
    a = nt.empirical_ntk(net.apply, params, x1, x2)
    b = nt.empirical_ntk(net.apply, params, x1, x2, method="ntvp", batch_size=3)
    assert a.shape == (7, 4)
    np.testing.assert_allclose(a, b, **tol(np.float64))
    # independent: flatten the parameters and build J explicitly with jax.jacobian. neural-tangents' convention:
    # trace_axes=(-1,) (the default) averages the k = 3 output blocks, trace_axes=() keeps the (n1, n2, k, k) block
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    J1 = jax.jacobian(lambda v: net.apply(unravel(v), x1))(flat)  # (7, 3, P)
    J2 = jax.jacobian(lambda v: net.apply(unravel(v), x2))(flat)
    full = np.einsum("iap,jbp->ijab", J1, J2)
    np.testing.assert_allclose(a, np.einsum("ijaa->ij", full) / 3, **tol(np.float64))
    for method in ("jacobian", "ntvp"):
        block = nt.empirical_ntk(net.apply, params, x1, x2, method=method, batch_size=3, trace_axes=())
        assert block.shape == (7, 4, 3, 3)
        np.testing.assert_allclose(block, full, **tol(np.float64))
    with pytest.raises(ValueError, match="trace_axes"):
        nt.empirical_ntk(net.apply, params, x1, trace_axes=(0,))
    traced_blocks = nt.empirical_ntk(net.apply, params, x1, x2, method="ntvp", batch_size=2)
    np.testing.assert_allclose(traced_blocks, a, **tol(np.float64))


@pytest.mark.parametrize("method", ["jacobian", "ntvp"])
def test_automatic_batch_size_fits_the_memory_budget_and_changes_nothing(method):
    from ntk_proofs.ntk import ntk_batch_size

    net = nt.MLP((5, 64, 64, 4), bias_var=0.1)
    params = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 24, 5)
    whole = nt.empirical_ntk(net.apply, params, x, method=method)
    assert ntk_batch_size(net.apply, params, x, method=method, memory_budget=2**40) == 24
    budget = 2**22 if method == "jacobian" else 2**18  # a few inputs a block (XLA: 15.6 MB and 0.35 MB for all 24)
    small = ntk_batch_size(net.apply, params, x, method=method, memory_budget=budget)
    assert 1 <= small < 24
    over = ntk_batch_size(net.apply, params, x[: small + 1], method=method, memory_budget=2**40)
    assert over == small + 1  # (the search is over block sizes; the budget, not the data, limits it)
    auto = nt.empirical_ntk(net.apply, params, x, method=method, batch_size="auto", memory_budget=budget)
    np.testing.assert_allclose(auto, whole, **tol(np.float64))
    with pytest.raises(MemoryError):
        ntk_batch_size(net.apply, params, x, method=method, memory_budget=1000)
    with pytest.raises(ValueError, match="batch_size"):
        nt.empirical_ntk(net.apply, params, x, batch_size=0)


def _block_bytes(f, params, x, b, method):
    """XLA's memory analysis of one (b x b) NTK block program, computed here independently of ntk_batch_size."""
    from ntk_proofs import ntk

    block = getattr(ntk, "_ntk_block_" + method)  # noqa: SLF001 (the test reads the program it sizes)
    spec = jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype)
    a = block.lower(f, params, spec, spec, True).compile().memory_analysis()
    return a.argument_size_in_bytes + a.temp_size_in_bytes + a.output_size_in_bytes


@pytest.mark.parametrize("method", ["jacobian", "ntvp"])
def test_automatic_batch_size_is_the_largest_block_within_the_budget(method, monkeypatch):
    """For budgets between consecutive block sizes' needs, the answer is exactly the largest block that fits."""
    from ntk_proofs.ntk import ntk_batch_size

    net = nt.MLP((3, 16, 2))
    params = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 9, 3)
    need = {b: _block_bytes(net.apply, params, x, b, method) for b in range(1, 10)}
    assert all(need[b] <= need[b + 1] for b in range(1, 9))
    for b in (1, 2, 4, 7, 8):
        assert ntk_batch_size(net.apply, params, x, method=method, memory_budget=need[b]) == max(
            c for c in need if need[c] <= need[b]
        )
    # the default budget on a device that reports no limit is 2 GiB: everything fits at this size
    assert ntk_batch_size(net.apply, params, x, method=method) == 9
    with pytest.raises(MemoryError, match=f"needs {need[1]} bytes, over the budget of {need[1] - 1}"):
        ntk_batch_size(net.apply, params, x, method=method, memory_budget=need[1] - 1)
    # a backend without a memory analysis: the count of Jacobian entries and of the block, 4 bytes each
    monkeypatch.setattr(jax.stages.Compiled, "memory_analysis", lambda self: None)
    leaves = sum(np.size(v) for v in jax.tree.leaves(params))
    fallback = {b: 40 * b * leaves + 400 * b * b for b in range(1, 10)}
    assert ntk_batch_size(net.apply, params, x, method=method, memory_budget=fallback[5]) == 5
    assert ntk_batch_size(net.apply, params, x, method=method, memory_budget=fallback[5] - 1) == 4


def test_automatic_batch_size_treats_a_compile_out_of_memory_as_not_fitting(monkeypatch):
    from ntk_proofs import ntk

    net = nt.MLP((3, 8, 1))
    params = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 12, 3)
    real = ntk._ntk_block_jacobian.lower  # noqa: SLF001

    class Refusing:
        def __init__(self, message):
            self.message = message

        def lower(self, f, params, xa, xb, traced):
            if xa.shape[0] > 5:
                raise jax.errors.JaxRuntimeError(self.message)
            return real(f, params, xa, xb, traced)

    monkeypatch.setattr(ntk, "_ntk_block_jacobian", Refusing("RESOURCE_EXHAUSTED: too big"))
    assert ntk.ntk_batch_size(net.apply, params, x, memory_budget=2**40) == 5
    monkeypatch.setattr(ntk, "_ntk_block_jacobian", Refusing("Out of memory while compiling"))
    assert ntk.ntk_batch_size(net.apply, params, x, memory_budget=2**40) == 5
    monkeypatch.setattr(ntk, "_ntk_block_jacobian", Refusing("INTERNAL: something else"))
    with pytest.raises(jax.errors.JaxRuntimeError, match="something else"):
        ntk.ntk_batch_size(net.apply, params, x, memory_budget=2**40)


def test_first_layer_term_of_infinite_ntk_is_h_infinity():
    """Depth 1, no bias, w ~ N(0, I) (weight_var d for layer 1, 1 for the output): layer-1 term = H^inf.

    Tolerance 1e-7: arccos near cos = 1 amplifies a 1e-16 round-off to sqrt(1e-16) / pi on the diagonal.
    """
    X = nt.unit_sphere(jax.random.PRNGKey(0), 9, 5)
    k = nt.infinite_width_kernels(X, depth=1, weight_var=(5.0, 1.0), bias_var=0.0)
    np.testing.assert_allclose(k.terms[0], nt.gram_infinity(X), rtol=RTOL_F64, atol=1e-7)  # see the docstring
    np.testing.assert_allclose(sum(k.terms), k.ntk, **tol(np.float64))


def _mc_agrees(samples, predicted, width, sigmas=4.0):
    """Monte Carlo mean within ``sigmas`` standard errors (the sample sd over draws / sqrt(draws)) plus the
    O(1/width) finite-width bias (2 / width relative) of the prediction, entry by entry."""
    tol = sigmas * samples.std(0, ddof=1) / np.sqrt(samples.shape[0]) + 2.0 / width * np.abs(predicted)
    return bool(np.all(np.abs(samples.mean(0) - predicted) <= tol))


@pytest.mark.parametrize("depth", [1, 3])
def test_infinite_width_ntk_and_nngp_match_wide_networks_in_monte_carlo(depth):
    """Average the empirical NTK, and the NNGP given the last hidden layer, over random inits at a large width.

    The NNGP estimator is E[f(x) f(x') | h] = s_w h(x).h(x') / n + s_b over the output layer (Rao-Blackwellized:
    relative sd ~ sqrt(2 / (width * inits))), so the tolerance (4 standard errors + 2 / width) is a few percent.
    The test has power: a 5% error in either kernel's scale, or a dropped bias term, fails the same check.
    """
    X = nt.unit_sphere(jax.random.PRNGKey(0), 5, 4)
    width, inits = 1024, (48 if depth == 1 else 72)
    net = nt.MLP((4,) + (width,) * depth + (1,), weight_var=2.0, bias_var=0.1)

    @jax.jit  # one program for every init: the empirical NTK and the conditional NNGP
    def kernels_at(key):
        p = net.init(key)
        h = jax.nn.relu(net.forward(p, X)[1][-2])
        return nt.empirical_ntk(net.apply, p, X), 2.0 * h @ h.T / width + 0.1

    ks, nngps = (np.stack(k) for k in zip(*(jax.device_get(kernels_at(jax.random.PRNGKey(s))) for s in range(inits))))
    kernels = nt.infinite_width_kernels(X, depth=depth, weight_var=2.0, bias_var=0.1)
    no_bias = nt.infinite_width_kernels(X, depth=depth, weight_var=2.0, bias_var=0.0)
    for samples, predicted, dropped in ((ks, kernels.ntk, no_bias.ntk), (nngps, kernels.nngp, no_bias.nngp)):
        predicted, dropped = np.asarray(predicted), np.asarray(dropped)
        assert _mc_agrees(samples, predicted, width)
        assert not _mc_agrees(samples, 1.05 * predicted, width)  # a 5% scale error is caught
        assert not _mc_agrees(samples, 0.95 * predicted, width)
        assert not _mc_agrees(samples, dropped, width)  # so is a dropped bias


@given(seed=st.integers(0, 10**6))
def test_infinite_kernels_are_symmetric_psd(seed):
    X = nt.unit_sphere(jax.random.PRNGKey(seed), 8, 3)
    k = nt.infinite_width_kernels(X, depth=2, weight_var=1.7, bias_var=0.3)
    for K in (k.nngp, k.ntk):
        K = np.asarray(K)
        np.testing.assert_allclose(K, K.T, **tol(np.float64))
        assert np.linalg.eigvalsh(K)[0] >= -F64  # PSD up to an absolute round-off floor (an eigenvalue may be 0)


def test_linearize_is_exact_at_first_order_and_for_linear_models():
    net = nt.MLP((4, 16, 16, 1), bias_var=0.1)
    p0 = net.init(jax.random.PRNGKey(0))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 5, 4)
    f_lin = nt.linearize(net.apply, p0)
    np.testing.assert_allclose(f_lin(p0, x), net.apply(p0, x), **tol(np.float64))
    v = jax.tree.map(lambda a: jax.random.normal(jax.random.PRNGKey(2), a.shape), p0)
    step = lambda t: jax.tree.map(lambda a, b: a + t * b, p0, v)  # noqa: E731
    for t in (1e-3, 1e-4):  # the Taylor remainder is O(t^2)
        # a bound, not round-off: the remainder is (t^2 / 2) v' D^2 f v, and 50 bounds that curvature here
        assert float(jnp.max(jnp.abs(f_lin(step(t), x) - net.apply(step(t), x)))) < 50 * t**2
    # a model linear in its parameters is its own linearization
    lin_model = nt.MLP((4, 1), activation="identity")
    q0 = lin_model.init(jax.random.PRNGKey(3))
    q1 = jax.tree.map(lambda a: a + 1.0, q0)
    np.testing.assert_allclose(nt.linearize(lin_model.apply, q0)(q1, x), lin_model.apply(q1, x), **tol(np.float64))


def test_gd_on_linearized_model_equals_closed_form_dynamics():
    net = nt.MLP((5, 64, 1), bias_var=0.1)
    p0 = net.init(jax.random.PRNGKey(0))
    X = nt.unit_sphere(jax.random.PRNGKey(1), 10, 5)
    Xt = nt.unit_sphere(jax.random.PRNGKey(2), 6, 5)
    y = nt.gaussian_labels(jax.random.PRNGKey(3), 10)
    K = nt.empirical_ntk(net.apply, p0, X)
    Kt = nt.empirical_ntk(net.apply, p0, Xt, X)
    eta = 0.5 / float(nt.lambda_max(K))
    traj = nt.gd_trajectory(nt.linearize(net.apply, p0), p0, X, y, eta=eta, steps=30, X_eval=Xt)
    closed = nt.linear_dynamics(K, y, net.apply(p0, X), eta, 30, ntk_test_train=Kt, u0_test=net.apply(p0, Xt))
    np.testing.assert_allclose(traj.records, closed.test, **tol(np.float64))
    np.testing.assert_allclose(
        traj.loss, 0.5 * np.sum((np.asarray(closed.train) - np.asarray(y)) ** 2, 1), **tol(np.float64)
    )
    flow = nt.linear_dynamics(K, y, net.apply(p0, X), eta, 30, flow=True)
    lam, V = np.linalg.eigh(np.asarray(K))  # independent: expm of -eta K t through scipy
    from scipy.linalg import expm

    u0 = np.asarray(net.apply(p0, X))
    np.testing.assert_allclose(
        flow.train[7], np.asarray(y) + expm(-eta * np.asarray(K) * 7) @ (u0 - np.asarray(y)), **tol(np.float64)
    )


def test_wider_networks_stay_closer_to_their_linearization():
    """Lee et al. (2019), Thm 2.1: sup_t |f - f_lin| = O(m^-1/2). Three inits per width (one draw is too noisy
    for a slope): the mean gap falls with m and the fitted exponent over all (width, init) runs is below -0.3."""
    X = nt.unit_sphere(jax.random.PRNGKey(0), 12, 6)
    y = nt.gaussian_labels(jax.random.PRNGKey(1), 12)
    widths, gaps = [], []
    for seed in range(3):
        for m in (16, 128, 1024):
            net = nt.MLP((6, m, m, 1), bias_var=0.1)
            p0 = net.init(jax.random.PRNGKey(m + 7919 * seed))
            eta = 0.5 / float(nt.lambda_max(nt.empirical_ntk(net.apply, p0, X)))
            a = nt.gd_trajectory(net.apply, p0, X, y, eta=eta, steps=40)
            b = nt.gd_trajectory(nt.linearize(net.apply, p0), p0, X, y, eta=eta, steps=40)
            widths.append(m)
            gaps.append(float(jnp.max(jnp.abs(a.records - b.records))))
    mean = np.asarray(gaps).reshape(3, 3).mean(0)
    assert mean[0] > mean[1] > mean[2], mean
    assert nt.loglog_slope(widths, gaps).slope < -0.3


def test_bad_arguments():
    X = nt.unit_sphere(jax.random.PRNGKey(0), 3, 2)
    with pytest.raises(ValueError, match="method"):
        nt.empirical_ntk(lambda p, x: x[:, 0] * p, 1.0, X, method="magic")
    with pytest.raises(ValueError, match="depth"):
        nt.infinite_width_ntk(X, depth=0)
    with pytest.raises(ValueError, match="weight_var"):
        nt.infinite_width_ntk(X, depth=2, weight_var=(1.0, 2.0))
    with pytest.raises(ValueError, match="parameterization"):
        nt.MLP((2, 3, 1), parameterization="mean-field")


def test_infinite_width_defaults_cross_kernels_and_argument_checks():
    x1 = nt.unit_sphere(jax.random.PRNGKey(0), 4, 3)
    x2 = nt.unit_sphere(jax.random.PRNGKey(1), 3, 3)
    both = jnp.concatenate([x1, x2])
    explicit = nt.infinite_width_kernels(x1, x1, 1, weight_var=2.0, bias_var=0.0)
    default = nt.infinite_width_kernels(x1)
    np.testing.assert_array_equal(default.ntk, explicit.ntk)
    np.testing.assert_array_equal(default.nngp, explicit.nngp)
    joint = nt.infinite_width_kernels(both, depth=2, bias_var=0.1)
    cross = nt.infinite_width_kernels(x1, x2, 2, bias_var=0.1)  # the off-diagonal block of the joint kernel
    np.testing.assert_allclose(cross.ntk, joint.ntk[:4, 4:], **tol(np.float64))
    np.testing.assert_allclose(cross.nngp, joint.nngp[:4, 4:], **tol(np.float64))
    np.testing.assert_allclose(nt.infinite_width_ntk(x1, x2), nt.infinite_width_kernels(x1, x2).ntk, **tol(np.float64))
    np.testing.assert_allclose(nt.infinite_width_nngp(x1, x2, 2, bias_var=0.1), cross.nngp, **tol(np.float64))
    assert nt.infinite_width_ntk(x1, x2).shape == (4, 3) and nt.infinite_width_nngp(x1).shape == (4, 4)
    for depth in (True, 2.0, 0):
        with pytest.raises(ValueError, match="depth must be a positive integer"):
            nt.infinite_width_kernels(x1, depth=depth)
    with pytest.raises(ValueError, match=r"depth \+ 1 = 3 values"):
        nt.infinite_width_kernels(x1, depth=2, weight_var=(1.0, 2.0))
    with pytest.raises(ValueError, match="weight_var must be positive"):
        nt.infinite_width_kernels(x1, weight_var=0.0)
    with pytest.raises(ValueError, match="bias_var must be non-negative"):
        nt.infinite_width_kernels(x1, bias_var=-0.1)
    for a, b in ((x1[0], x2), (x1, x2[:, :2]), (x1, x2[0])):
        with pytest.raises(ValueError, match="the same d"):
            nt.infinite_width_kernels(a, b)


def test_linear_dynamics_equals_iterated_gd_even_with_a_zero_eigenvalue():
    """u(k+1) = u(k) - eta K (u(k) - y), u_test(k+1) = u_test(k) - eta K_test (u(k) - y), iterated directly, with a
    singular K (a mode with lambda = 0, where the closed form's (1 - decay) / lambda has the limit eta k)."""
    K = jnp.diag(jnp.array([0.0, 1.0, 2.5]))
    Kt = jnp.array([[0.3, 0.2, 0.1], [-0.4, 0.5, 0.2]])
    y, u0, u0t = jnp.array([1.0, -1.0, 0.5]), jnp.array([0.2, 0.1, -0.3]), jnp.array([0.05, -0.1])
    eta, steps = 0.3, 6
    closed = nt.linear_dynamics(K, y, u0, eta, steps, ntk_test_train=Kt, u0_test=u0t)
    u, ut = np.asarray(u0), np.asarray(u0t)
    for k in range(steps + 1):
        np.testing.assert_allclose(closed.train[k], u, **tol(np.float64))
        np.testing.assert_allclose(closed.test[k], ut, **tol(np.float64))
        r = u - np.asarray(y)
        u, ut = u - eta * np.asarray(K) @ r, ut - eta * np.asarray(Kt) @ r
    assert nt.linear_dynamics(K, y, u0, eta, steps).test is None
    with pytest.raises(ValueError, match="^u0_test is needed with ntk_test_train"):
        nt.linear_dynamics(K, y, u0, eta, steps, ntk_test_train=Kt)


def test_infinite_width_kernels_are_homogeneous_and_finite_for_antiparallel_inputs():
    """Without bias, ReLU kernels are homogeneous of degree 2: K(c x, c x') = c^2 K(x, x') (the input layer's
    variance enters through x . x' and ||x||^2 alike); antiparallel inputs of different norms keep every entry
    finite (their cosine may round below -1)."""
    x = nt.unit_sphere(jax.random.PRNGKey(2), 5, 4)
    for depth in (1, 3):
        base = nt.infinite_width_kernels(x, depth=depth)
        scaled = nt.infinite_width_kernels(2.5 * x, depth=depth)
        np.testing.assert_allclose(scaled.ntk, 2.5**2 * base.ntk, **tol(np.float64))
        np.testing.assert_allclose(scaled.nngp, 2.5**2 * base.nngp, **tol(np.float64))
    np.testing.assert_allclose(
        nt.infinite_width_nngp(x, x[:2]), nt.infinite_width_kernels(x, x[:2], 1).nngp, **tol(np.float64)
    )
    for c in (0.3, 1.7, 3.1, 10.0):
        k = nt.infinite_width_kernels(x, -c * x, depth=2, bias_var=0.0)
        assert np.all(np.isfinite(np.asarray(k.ntk))) and np.all(np.isfinite(np.asarray(k.nngp)))


def test_ntvp_method_on_a_float32_network_under_x64():
    """The NTK-vector products' cotangent basis takes the network's dtype: a float32 net works under x64 and gives
    the jacobian method's float32 kernel."""
    net = nt.MLP((3, 8, 2))
    params = jax.tree.map(lambda v: v.astype(jnp.float32), net.init(jax.random.PRNGKey(0)))
    x = nt.unit_sphere(jax.random.PRNGKey(1), 4, 3).astype(jnp.float32)
    a = nt.empirical_ntk(net.apply, params, x, method="ntvp")
    b = nt.empirical_ntk(net.apply, params, x, method="jacobian")
    assert a.dtype == b.dtype == jnp.float32
    # two float32 orders of one sum of 8 * 3 + 8 * 2 products: rtol 1e-5, tighter than the float32 table, kept from
    # before it
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=tol(jnp.float32)["atol"])
