"""Independent float64 NumPy references for the deep nets of Du, Lee, Li, Wang & Zhai (2019): the forward pass of
Eqs. (2) / (3) neuron by neuron, G^(H) of Eqs. (13) / (14) as the explicit sum over neurons r, and c_sigma by adaptive
integration (scipy.integrate.quad), none of them calling the library's code."""

import math

import numpy as np
import scipy.integrate
import scipy.special


def sigma(activation, z):
    z = np.asarray(z, np.float64)
    if activation == "softplus":
        return np.where(z > 30, z, np.log1p(np.exp(np.minimum(z, 30))))
    if activation == "erf":
        return scipy.special.erf(z)
    if activation == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0.0)


def sigma_prime(activation, z):
    z = np.asarray(z, np.float64)
    if activation == "softplus":
        return 1.0 / (1.0 + np.exp(-z))
    if activation == "erf":
        return 2.0 / math.sqrt(math.pi) * np.exp(-z * z)
    if activation == "tanh":
        return 1.0 / np.cosh(z) ** 2
    return (z > 0).astype(np.float64)


def c_sigma(activation):
    """(E_{z ~ N(0,1)} sigma(z)^2)^{-1} by adaptive quadrature on the real line."""
    density = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    value, _ = scipy.integrate.quad(lambda z: float(sigma(activation, z)) ** 2 * density(z), -40, 40, limit=400)
    return 1.0 / value


def features(params, X, architecture, activation, c_res=0.5):
    """x^(h) for h = 0..H (rows), in float64, one layer at a time."""
    W = [np.asarray(w, np.float64) for w in params.W]
    H, m = len(W), W[0].shape[0]
    cs = c_sigma(activation)
    x = np.asarray(X, np.float64)
    out = [x]
    for h in range(1, H + 1):
        z = x @ W[h - 1].T
        if architecture == "resnet" and h >= 2:
            x = x + c_res / (H * math.sqrt(m)) * sigma(activation, z)
        else:
            x = math.sqrt(cs / m) * sigma(activation, z)
        out.append(x)
    return out


def predict(params, X, architecture, activation, c_res=0.5):
    return features(params, X, architecture, activation, c_res)[-1] @ np.asarray(params.a, np.float64)


def gram(params, X, architecture, activation, c_res=0.5):
    """G^(H)_ij = scale (x_i^(H-1) . x_j^(H-1)) sum_r a_r^2 sigma'(w_r . x_i^(H-1)) sigma'(w_r . x_j^(H-1)), the
    sum over neurons r written out (Eq. (13); Eq. (14) for a ResNet of depth >= 2)."""
    W = [np.asarray(w, np.float64) for w in params.W]
    a = np.asarray(params.a, np.float64)
    H, m = len(W), a.shape[0]
    prev = features(params, X, architecture, activation, c_res)[-2]
    scale = (c_res / H) ** 2 / m if architecture == "resnet" and H >= 2 else c_sigma(activation) / m
    n = prev.shape[0]
    G = np.zeros((n, n))
    for r in range(m):
        s = a[r] * sigma_prime(activation, prev @ W[-1][r])
        G += np.outer(s, s)
    return scale * (prev @ prev.T) * G
