"""Reference implementations of one full-batch GD step of the Du et al. net, for the benchmark only.

A plain NumPy step (what most reference scripts do) and a PyTorch CPU step, at the dtype of their inputs.
Both compute exactly what ``ntk_proofs.train_gd`` computes per step: Z = X W^T, u = relu(Z) a / sqrt(m),
G = ((u - y) * 1{Z >= 0} * a / sqrt(m))^T X, W <- W - eta G.
"""

from __future__ import annotations

import numpy as np


def numpy_step(W, a, X, y, eta):
    m = W.shape[0]
    Z = X @ W.T
    scale = a / np.sqrt(m).astype(W.dtype)
    r = np.maximum(Z, 0) @ scale - y
    G = ((Z >= 0) * r[:, None] * scale[None, :]).T @ X
    W -= eta * G
    return W


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_step(W, a, X, y, eta):
    import torch

    with torch.inference_mode():
        m = W.shape[0]
        Z = X @ W.T
        scale = a / m**0.5
        r = torch.clamp_min(Z, 0) @ scale - y
        G = ((Z >= 0) * r[:, None] * scale[None, :]).T @ X
        W.sub_(eta * G)
    return W
