"""Every numerical tolerance of the test suite, with the reason for its size.

An assertion takes its rtol and atol from the per-dtype table through ``tol(dtype)`` (or ``approx`` for
``pytest.approx``); a tolerance that is not round-off (Monte Carlo, a fitted slope, quadrature, an ODE solver) is
a named constant below with the reason for its size, and a literal one left in a test carries a comment saying why.
"""

import numpy as np
import pytest

# The per-dtype table: every assert_allclose states rtol and atol. rtol bounds the relative error of a
# quantity computed in that dtype from a few hundred terms (a few hundred ulps); atol only guards entries
# that are exactly zero in exact arithmetic (a few hundred ulps of the O(1) scale of the problem).
TOLERANCES = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-6)}
RTOL_F64 = TOLERANCES["float64"]["rtol"]
RTOL_F32 = TOLERANCES["float32"]["rtol"]


def tol(dtype=np.float64) -> dict:
    """The table's ``dict(rtol=..., atol=...)`` for ``dtype`` (a dtype, a scalar type such as ``jnp.float32``, or
    an array): ``np.testing.assert_allclose(got, want, **tol(dtype))``."""
    if not isinstance(dtype, type):  # an array, or a dtype object
        dtype = getattr(dtype, "dtype", dtype)
    return dict(TOLERANCES[np.dtype(dtype).name])


def rel(dtype=np.float64) -> dict:
    """The table's rtol for ``dtype`` with atol = 0: for quantities bounded away from zero, where an atol would only
    loosen the check (the assertions that stated atol=0 before the table)."""
    return dict(rtol=tol(dtype)["rtol"], atol=0.0)


def approx(expected, dtype=np.float64):
    """``pytest.approx(expected)`` with the table's rtol and atol for ``dtype``."""
    t = tol(dtype)
    return pytest.approx(expected, rel=t["rtol"], abs=t["atol"])


# float64 round-off on O(1) quantities built from a few hundred terms, as an absolute bound: a few hundred ulps.
# (The table's float64 atol guards exact zeros; F64 is where a quantity of size O(1) is compared with an absolute
# bound, or where the table's atol of 1e-12 was found too tight for an entry that cancels to zero.)
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
# A float64 result with no cancellation and no transcendental function (a sum of squares halved, a product of
# rounded inputs): a few ulps, 1e-15, far tighter than the table's rtol.
ULPS_F64 = dict(rtol=1e-15, atol=0.0)
# The same float64 computation done twice in a different order (vmapped or not, chunked or not, recorded every
# step or every tenth): a handful of reordered sums, tens of ulps, 100 times tighter than the table's rtol.
REORDERED_F64 = dict(rtol=1e-12, atol=1e-14)
# A converged Ritz pair of a Gram matrix of O(1) entries: its residual ||H v - theta v|| (which bounds the Ritz
# value's distance to an eigenvalue) below 1e-8, the square root of float64's epsilon that Lanczos attains.
RITZ = 1e-8
# diffrax's adaptive solver: its rtol and atol for the gradient flow (not a test tolerance, the solver's accuracy;
# GD's O(eta) distance to the flow, eta >= 0.025 on O(1) outputs, is far above it).
FLOW_SOLVER = dict(rtol=1e-6, atol=1e-8)
