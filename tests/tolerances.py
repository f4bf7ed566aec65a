"""Every numerical tolerance of the test suite, with the reason for its size."""

import numpy as np

# The per-dtype table: every assert_allclose states rtol and atol. rtol bounds the relative error of a
# quantity computed in that dtype from a few hundred terms (a few hundred ulps); atol only guards entries
# that are exactly zero in exact arithmetic (a few hundred ulps of the O(1) scale of the problem).
TOLERANCES = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-6)}
RTOL_F64 = TOLERANCES["float64"]["rtol"]
RTOL_F32 = TOLERANCES["float32"]["rtol"]
# float64 round-off on O(1) quantities built from a few hundred terms, as an absolute bound: a few hundred ulps.
F64 = 1e-10
# The stated agreement of train_gd (x64) with an independent float64 reference.
REFERENCE_F64 = 1e-8
# float32 results against a float64 reference: sqrt(n) ulps of float32 at n ~ 100.
F32 = 1e-4
# Monte Carlo: an average of S terms in [-1, 1] with variance <= 1/4 has standard error <= 1 / (2 sqrt(S)).
# Six standard errors bound the largest of the n(n+1)/2 entries with failure probability < 1e-6 per entry.
MC_SIGMAS = 6.0


def mc_tolerance(samples: int) -> float:
    return MC_SIGMAS * 0.5 / np.sqrt(samples)


# Log-log slopes from a handful of widths and seeds: +-0.15 around the theoretical exponent.
SLOPE = 0.15
# Angular quadrature of H^inf in d = 2 on a grid of 2^16 angles: indicator error <= 2 cells / grid.
QUADRATURE = 1e-4
