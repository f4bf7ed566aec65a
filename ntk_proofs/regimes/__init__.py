"""Where the lazy picture of Du et al. (2019) stops: the two-layer family, gradient flow, the catapult, lazy vs rich."""
