"""The two-layer family lives with the Du et al. net it generalizes, in ``ntk_proofs.models.two_layer``; this
module re-exports it under the import path ``ntk_proofs.models.two_layer_family``."""

from ntk_proofs.models.two_layer import ACTIVATIONS, SCALINGS, TwoLayerFamily, init_family

__all__ = ["ACTIVATIONS", "SCALINGS", "TwoLayerFamily", "init_family"]
