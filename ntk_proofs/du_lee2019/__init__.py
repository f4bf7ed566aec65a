"""Du, Lee, Li, Wang & Zhai (ICML 2019), "Gradient Descent Finds Global Minima of Deep Neural Networks": the deep
fully-connected net (Section 5) and the ResNet (Section 6). The paper's statements are transcribed, with their
numbers, in docs/research/du_lee_2019_deep.md.

- ``activations``: softplus, erf, tanh (Conditions 3.1 / 3.2) and ReLU (outside them), c_sigma, Gauss-Hermite.
- ``models``: the nets of Eqs. (2) and (3), the paper's initialization, ``predict`` and the loss of Eq. (1).
- ``kernels``: the infinite-width K^(H) of Definitions 5.1 / 6.1 (Eqs. (7) / (8)) and lambda_0 = lambda_min(K^(H)).
- ``gram``: the finite-width G^(H)(k) of Eqs. (13) / (14) that the proofs track.
- ``bounds``: the width and step requirements of Theorems 5.1 and 6.1 (constants dropped) and the ResNet's radius.
- ``training``: ``train_deep`` (GD on ``ntk_proofs.gd`` with the ``DeepDiagnostics`` recorder) and the monitor.
- ``sweep``: ``train_deep_batched`` (seeds vmapped, widths padded so that one program serves many) and the criteria of
  the critical width on deep nets (``deep_outcomes``).
"""
