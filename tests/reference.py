"""An independent float64 NumPy implementation of the Du et al. (2019) net and its GD, for cross-checks.

Written from the paper's equations with explicit loops over neurons where that is clearest; it shares
no code with ntk_proofs.
"""

import numpy as np


def predict(W, a, X):
    W, a, X = (np.asarray(v, np.float64) for v in (W, a, X))
    m = W.shape[0]
    u = np.zeros(X.shape[0])
    for r in range(m):
        u += a[r] * np.maximum(X @ W[r], 0.0)
    return u / np.sqrt(m)


def gradient(W, a, X, y):
    """eq. (3): dL/dw_r = m^-1/2 sum_i (u_i - y_i) a_r x_i 1{w_r . x_i >= 0}."""
    W, a, X, y = (np.asarray(v, np.float64) for v in (W, a, X, y))
    m = W.shape[0]
    res = predict(W, a, X) - y
    G = np.empty_like(W)
    for r in range(m):
        G[r] = a[r] / np.sqrt(m) * ((res * (X @ W[r] >= 0)) @ X)
    return G


def gram(W, X):
    """eq. (5): H_ij = x_i.x_j (1/m) sum_r 1{w_r.x_i >= 0} 1{w_r.x_j >= 0}."""
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    n, m = X.shape[0], W.shape[0]
    H = np.zeros((n, n))
    for r in range(m):
        on = (X @ W[r] >= 0).astype(float)
        H += np.outer(on, on)
    return (X @ X.T) * H / m


def gd(W0, a, X, y, eta, steps):
    """Plain GD; returns losses (steps+1,), final W, and per-step lambda_min(H), flip fraction, max drift."""
    W0, a, X, y = (np.asarray(v, np.float64) for v in (W0, a, X, y))
    W = W0.copy()
    P0 = X @ W0.T >= 0
    losses, lam, flips, drift = [], [], [], []
    for k in range(steps + 1):
        u = predict(W, a, X)
        losses.append(0.5 * np.sum((u - y) ** 2))
        lam.append(np.linalg.eigvalsh(gram(W, X))[0])
        flips.append(np.mean((X @ W.T >= 0) != P0))
        drift.append(np.max(np.linalg.norm(W - W0, axis=1)))
        if k < steps:
            W = W - eta * gradient(W, a, X, y)
    return dict(
        loss=np.array(losses), W=W, lambda_min=np.array(lam), flip_fraction=np.array(flips), max_drift=np.array(drift)
    )
