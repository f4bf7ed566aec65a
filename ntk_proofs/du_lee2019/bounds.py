"""The width, step size and radius requirements of Du, Lee, Li, Wang & Zhai (ICML 2019), Theorems 5.1 and 6.1,
as functions of (n, lambda_0, delta, H), constants dropped.

The theorems state orders of growth only: every Omega(.) and O(.) below is evaluated with its constant set to 1, so
these are the shapes of the requirements in n, lambda_0, delta and H, not sufficient widths. The fully-connected
theorem carries a factor 2^{O(H)}, whose constant in the exponent the paper does not give: it is ``base^H`` here,
``base`` a parameter (2 by default: 2^{c H} with c = 1). lambda_0 = lambda_min(K^(H)) (``kernels.lambda_zero_deep``).
The convolutional ResNet (Theorem 7.1, Eq. (11), with its unspecified poly(p)) is not implemented.
"""

from __future__ import annotations

import math

from ntk_proofs.data import check_positive_int
from ntk_proofs.du_lee2019.models import DeepNet


def check_theorem_arguments(n, lambda0, depth, delta=0.5, base=2.0) -> None:
    """n and depth positive integers, lambda0 > 0, 0 < delta < 1, base > 1: ValueError naming the argument."""
    check_positive_int(n, "n")
    check_positive_int(depth, "depth")
    if isinstance(lambda0, bool) or not (math.isfinite(float(lambda0)) and float(lambda0) > 0):
        raise ValueError(f"lambda0 must be a positive finite number (lambda_min(K^(H))); got {lambda0!r}.")
    if isinstance(delta, bool) or not 0 < float(delta) < 1:
        raise ValueError(f"delta (the failure probability) must lie in (0, 1); got {delta!r}.")
    if isinstance(base, bool) or not (math.isfinite(float(base)) and float(base) > 1):
        raise ValueError(f"base (of the 2^{{O(H)}} factor) must be a finite number > 1; got {base!r}.")


def fc_required_width(n: int, lambda0: float, delta: float, depth: int, *, base: float = 2.0) -> float:
    """Theorem 5.1 (fully connected), constants dropped:

        m = base^H max{ n^4 / lambda_0^4,  n / delta,  n^2 log(H n / delta) / lambda_0^2 },

    the paper's m = Omega(2^{O(H)} max{...}) with 2^{O(H)} read as ``base``^H (the constant in the exponent is not
    given). The three terms: the Gram matrix stays stable during training; the layers' outputs are normalized at
    initialization; the Gram matrix's perturbation at initialization is small.
    """
    check_theorem_arguments(n, lambda0, depth, delta, base)
    lam = float(lambda0)
    terms = (n**4 / lam**4, n / delta, n**2 * math.log(depth * n / delta) / lam**2)
    return float(base) ** depth * max(terms)


def fc_step_size(n: int, lambda0: float, depth: int, *, base: float = 2.0) -> float:
    """Theorem 5.1's step eta = O(lambda_0 / (n^2 2^{O(H)})), constants dropped: lambda_0 / (n^2 base^H)."""
    check_theorem_arguments(n, lambda0, depth, base=base)
    return float(lambda0) / (n**2 * float(base) ** depth)


def resnet_required_width(n: int, lambda0: float, delta: float, depth: int) -> float:
    """Theorem 6.1 (ResNet), Eq. (9), constants dropped:

        m = max{ n^4 / (lambda_0^4 H^6),  n^2 / (lambda_0^2 H^2),  n / delta,  n^2 log(H n / delta) / lambda_0^2 }.

    The first two terms keep the Gram matrix stable during training, the third normalizes the layers' outputs at
    initialization, the fourth bounds the Gram matrix's perturbation at initialization. With lambda_0 ~ kappa / H^2
    (Proposition F.2) the first is n^4 H^2 / kappa^4, the paper's "m >~ n^4 H^2".
    """
    check_theorem_arguments(n, lambda0, depth, delta)
    lam, H = float(lambda0), depth
    terms = (
        n**4 / (lam**4 * H**6),
        n**2 / (lam**2 * H**2),
        n / delta,
        n**2 * math.log(H * n / delta) / lam**2,
    )
    return max(terms)


def resnet_step_size(n: int, lambda0: float, depth: int) -> float:
    """Theorem 6.1's step eta = O(lambda_0 H^2 / n^2), constants dropped: lambda_0 H^2 / n^2."""
    check_theorem_arguments(n, lambda0, depth)
    return float(lambda0) * depth**2 / n**2


def required_width_deep(net: DeepNet, n: int, lambda0: float, delta: float = 0.1, *, base: float = 2.0) -> float:
    """The width requirement of ``net``'s theorem, constants dropped: ``fc_required_width`` (Theorem 5.1) for "fc",
    ``resnet_required_width`` (Theorem 6.1) for "resnet" (at every depth, H = 1 included, where the net itself is
    the depth-1 fully-connected one)."""
    if net.architecture == "resnet":
        return resnet_required_width(n, lambda0, delta, net.depth)
    return fc_required_width(n, lambda0, delta, net.depth, base=base)


def step_size_deep(net: DeepNet, n: int, lambda0: float, *, base: float = 2.0) -> float:
    """The step of ``net``'s theorem, constants dropped: ``fc_step_size`` (Theorem 5.1) or ``resnet_step_size``
    (Theorem 6.1)."""
    if net.architecture == "resnet":
        return resnet_step_size(n, lambda0, net.depth)
    return fc_step_size(n, lambda0, net.depth, base=base)


def resnet_perturbation_radius(n: int, lambda0: float, depth: int, *, constant: float = 1.0) -> float:
    """R = c lambda_0 H^2 / n, the ResNet's radius (Appendix C, Lemma C.4: R <= c lambda_0 H^2 n^{-1}), with the
    unspecified constant c = ``constant`` (1 by default: dropped).

    Not pinned down by the transcription: which norm R bounds. This suite compares it with the per-layer drift
    ||W^(h)(k) - W^(h)(0)||_F / sqrt(m), in units of sqrt(m), the size of ||W^(h)(0)||_2 for N(0, 1) entries; that
    unit is this module's reading, not a transcribed statement.
    """
    check_theorem_arguments(n, lambda0, depth)
    return float(constant) * float(lambda0) * depth**2 / n


def paper_radius(net: DeepNet, n: int, lambda0: float) -> float | None:
    """The drift radius the transcribed statements give for ``net``: ``resnet_perturbation_radius`` (Lemma C.4,
    constant dropped) for "resnet"; None for "fc", whose radius (Appendix B) the transcription does not state, so
    that only the measured drift is reported."""
    if net.architecture == "resnet":
        return resnet_perturbation_radius(n, lambda0, net.depth)
    return None
