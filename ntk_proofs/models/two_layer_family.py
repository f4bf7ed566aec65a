"""The two-layer family lives with the Du et al. net it generalizes, in ``ntk_proofs.models.two_layer``; this
module keeps the old import path."""

from ntk_proofs.models.two_layer import ACTIVATIONS, SCALINGS, TwoLayerFamily, init_family

__all__ = ["ACTIVATIONS", "SCALINGS", "TwoLayerFamily", "init_family"]
