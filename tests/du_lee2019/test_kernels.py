import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_proofs as nt
from ntk_proofs.du_lee2019.activations import c_sigma
from ntk_proofs.du_lee2019.gram import gram_deep
from ntk_proofs.du_lee2019.kernels import deep_kernels, gram_infinity_deep, kernel_map, lambda_zero_deep
from ntk_proofs.du_lee2019.models import DeepNet, forward, init_deep
from tests.tolerances import MC_SIGMAS, TOLERANCES

F64 = TOLERANCES["float64"]


def _data(n=6, d=4, seed=0):
    return nt.unit_sphere(jax.random.PRNGKey(seed), n, d)


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
@pytest.mark.parametrize("activation", ["softplus", "relu"])
def test_recursion_against_monte_carlo_of_wide_random_nets(architecture, activation):
    """Every K^(h), h = 1..H-1, is the limit of x^(h)_i . x^(h)_j at initialization, b^(h) (ResNet) that of
    sum_r x^(h)_{i,r} / sqrt(m), and K^(H) that of G^(H)(0) (Definitions 5.1 / 6.1). The mean over D independent
    nets of width m must lie within MC_SIGMAS standard errors (sample std / sqrt(D), per entry) of the recursion.
    The finite-width bias is O(1/m) ~ 1e-3 of the entries, below the standard errors O(1/sqrt(D m)) ~ 8e-3."""
    X = _data()
    net = DeepNet(architecture, 3, activation)
    k = deep_kernels(X, net)
    m, draws = 1024, 16
    layers, means, grams = [], [], []
    for s in range(draws):
        p = init_deep(jax.random.PRNGKey(1000 + s), net, m, X.shape[1])
        fwd = forward(p, X, net)
        layers.append([np.asarray(x @ x.T) for x in fwd.features[1:-1]])
        means.append([np.asarray(x.sum(axis=1)) / np.sqrt(m) for x in fwd.features[1:-1]])
        grams.append(np.asarray(gram_deep(p, X, net)))
    for estimate, exact in [(np.array(layers), k.layers[1:]), (np.array(grams), k.gram)]:
        mean, se = estimate.mean(0), estimate.std(0, ddof=1) / np.sqrt(draws)
        assert np.all(np.abs(mean - exact) <= MC_SIGMAS * se + 1e-12), np.max(np.abs(mean - exact) / se)
    if architecture == "resnet":
        estimate = np.array(means)
        mean, se = estimate.mean(0), estimate.std(0, ddof=1) / np.sqrt(draws)
        assert k.means is not None
        assert np.all(np.abs(mean - k.means) <= MC_SIGMAS * se), np.max(np.abs(mean - k.means) / se)


def test_monte_carlo_separates_the_two_readings_of_the_last_covariance():
    """The K^(H) line of Eq. (7) is printed with A^(H-1) (from K^(H-2)); the module reads A^(H), from K^(H-1)
    (the transcription's note). At H = 2 the two differ by K^(0) = X X^T against K^(1) in the sigma' expectation:
    the Monte Carlo mean of G^(2)(0) lies within MC_SIGMAS standard errors of the reading implemented and, at the
    same sample size, beyond 2 MC_SIGMAS of the literal one (measured: 1.1 against 17.7 standard errors)."""
    X = _data()
    net = DeepNet("fc", 2)
    k = deep_kernels(X, net)
    literal = net.c_sigma * k.layers[1] * kernel_map(k.layers[0], net.activation, True, "quadrature", 64)
    draws = 16
    grams = np.array(
        [np.asarray(gram_deep(init_deep(jax.random.PRNGKey(1000 + s), net, 1024, 4), X, net)) for s in range(draws)]
    )
    mean, se = grams.mean(0), grams.std(0, ddof=1) / np.sqrt(draws)
    assert np.max(np.abs(mean - k.gram) / se) < MC_SIGMAS
    assert np.max(np.abs(mean - literal) / se) > 2 * MC_SIGMAS


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
def test_quadrature_equals_the_closed_forms_for_erf(architecture):
    """erf: Williams' arcsine kernel and its Price derivative against the 2-D Gauss-Hermite grid (analytic
    integrands: the grid converges to round-off)."""
    X = _data()
    net = DeepNet(architecture, 4, "erf")
    closed, quad = deep_kernels(X, net, method="closed_form"), deep_kernels(X, net, method="quadrature")
    np.testing.assert_allclose(quad.layers, closed.layers, **F64)
    np.testing.assert_allclose(quad.gram, closed.gram, rtol=F64["rtol"], atol=F64["atol"])


@pytest.mark.parametrize("architecture", ["fc", "resnet"])
def test_quadrature_approaches_the_arc_cosine_closed_forms_for_relu(architecture):
    """ReLU: the grid converges slowly (sigma' is a step, sigma has a kink), so the check is a convergence one: the
    error falls from 50 to 200 nodes and is below 5e-2 of the largest entry at 200 nodes (measured: 2.2e-2 FC,
    9e-3 ResNet)."""
    X = _data()
    net = DeepNet(architecture, 3, "relu")
    closed = deep_kernels(X, net, method="closed_form")
    errors = [np.max(np.abs(deep_kernels(X, net, method="quadrature", nodes=q).gram - closed.gram)) for q in (50, 200)]
    assert errors[1] < errors[0]
    assert errors[1] < 5e-2 * np.max(np.abs(closed.gram))


def test_tanh_and_softplus_quadrature_converge():
    """Doubling the default nodes changes K^(H) by round-off only (1e-10 relative: tanh converges geometrically but
    slowest of the smooth activations, 5e-13 at its default 160 nodes)."""
    X = _data()
    for activation in ("softplus", "tanh"):
        net = DeepNet("resnet", 3, activation)
        coarse, fine = gram_infinity_deep(X, net), gram_infinity_deep(X, net, nodes=300)
        np.testing.assert_allclose(coarse, fine, rtol=1e-10, atol=1e-10 * np.max(np.abs(fine)))


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_depth_one_is_c_sigma_times_the_two_layer_kernel_with_a_fixed(activation):
    """H = 1: K^(1)_ij = c_sigma x_i . x_j E[sigma'(w . x_i) sigma'(w . x_j)] = c_sigma H^inf of the two-layer
    family with a fixed (``gram_infinity_family(X, TwoLayerFamily(activation=..., train_a=False))``; for ReLU that is
    Du et al.'s ``gram_infinity``, so K^(1) = 2 H^inf). G^(H) is the last hidden layer's Gram matrix, so the output
    layer's term of a trained a does not enter it. Both architectures (a depth-1 ResNet is the FC net)."""
    X = _data(n=9, d=5)
    family = nt.gram_infinity_family(X, nt.TwoLayerFamily(activation=activation, train_a=False))
    for architecture in ("fc", "resnet"):
        K1 = gram_infinity_deep(X, DeepNet(architecture, 1, activation))
        np.testing.assert_allclose(K1, c_sigma(activation) * np.asarray(family), **F64)
    if activation == "relu":
        np.testing.assert_allclose(K1, 2 * np.asarray(nt.gram_infinity(X)), **F64)


def test_kernels_are_symmetric_psd_with_the_papers_diagonals():
    """FC: K^(h)_ii = 1 for h < H (c_sigma normalizes); ResNet: K^(h)_ii equal for every unit input and growing."""
    X = _data(n=8, d=5)
    fc = deep_kernels(X, DeepNet("fc", 4))
    np.testing.assert_allclose(np.diagonal(fc.layers, axis1=1, axis2=2), 1.0, **F64)
    res = deep_kernels(X, DeepNet("resnet", 4))
    diag = np.diagonal(res.layers, axis1=1, axis2=2)
    np.testing.assert_allclose(diag, diag[:, :1] * np.ones_like(diag), **F64)
    assert np.all(np.diff(diag[1:, 0]) > 0)
    for K in (fc.gram, res.gram):
        np.testing.assert_array_equal(K, K.T)
        assert np.linalg.eigvalsh(K)[0] > 0


def test_resnet_lambda_zero_decays_no_faster_than_one_over_h_squared():
    """Proposition F.2: lambda_min(K^(H)) >= c_H kappa with c_H = c_res^2 / H^2 and kappa free of H, so H^2 lambda_0
    cannot tend to 0; it must not fall by more than a factor 2 from H = 4 to H = 16 (measured: it rises by 2%)."""
    X = _data(n=8, d=5)
    scaled = [H**2 * lambda_zero_deep(X, DeepNet("resnet", H)) for H in (4, 16)]
    assert scaled[1] > 0.5 * scaled[0]


def test_permuting_the_inputs_permutes_the_kernel():
    X = _data(n=7, d=4)
    perm = np.array([3, 0, 6, 1, 5, 2, 4])
    net = DeepNet("resnet", 3)
    K = gram_infinity_deep(X, net)
    np.testing.assert_allclose(gram_infinity_deep(X[perm], net), K[np.ix_(perm, perm)], **F64)


def test_the_kernel_does_not_depend_on_the_dtype_of_the_inputs():
    X = _data()
    net = DeepNet("fc", 2)
    K64 = gram_infinity_deep(X, net)
    K32 = gram_infinity_deep(X.astype(jnp.float32), net)
    assert K32.dtype == np.float64
    # the float32 inputs are the rounding of the float64 ones: K moves by ~ its Lipschitz constant times 1e-7
    np.testing.assert_allclose(K32, K64, **TOLERANCES["float32"])


def test_bad_inputs_raise_naming_the_argument():
    X = np.asarray(_data())
    with pytest.raises(ValueError, match="norm"):
        gram_infinity_deep(2 * X, DeepNet())
    with pytest.raises(ValueError, match="net"):
        gram_infinity_deep(X, "fc")
    with pytest.raises(ValueError, match="method"):
        gram_infinity_deep(X, DeepNet(), method="monte_carlo")
    with pytest.raises(ValueError, match="closed_form"):
        gram_infinity_deep(X, DeepNet(activation="softplus"), method="closed_form")
    with pytest.raises(ValueError, match="nodes"):
        gram_infinity_deep(X, DeepNet(), nodes=1)
    with pytest.raises(nt.AssumptionError, match="lambda_0"):
        lambda_zero_deep(np.concatenate([X, X[:1]]), DeepNet())
