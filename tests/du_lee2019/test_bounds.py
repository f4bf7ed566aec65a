import math

import pytest

from ntk_proofs.du_lee2019.bounds import (
    fc_required_width,
    fc_step_size,
    paper_radius,
    required_width_deep,
    resnet_perturbation_radius,
    resnet_required_width,
    resnet_step_size,
    step_size_deep,
)
from ntk_proofs.du_lee2019.models import DeepNet
from tests.tolerances import RTOL_F64


def test_fc_width_is_theorem_5_1_with_its_exponential_factor_as_a_base():
    n, lam, delta = 10, 0.01, 0.1
    bracket = max(n**4 / lam**4, n / delta, n**2 * math.log(3 * n / delta) / lam**2)
    assert fc_required_width(n, lam, delta, 3) == pytest.approx(2.0**3 * bracket, rel=RTOL_F64)
    assert fc_required_width(n, lam, delta, 3, base=5.0) == pytest.approx(5.0**3 * bracket, rel=RTOL_F64)
    # the n^4 / lambda^4 term dominates here, so one more layer multiplies the width by the base exactly
    assert fc_required_width(n, lam, delta, 4) / fc_required_width(n, lam, delta, 3) == pytest.approx(2.0, rel=RTOL_F64)
    assert fc_step_size(n, lam, 3) == pytest.approx(lam / (n**2 * 8.0), rel=RTOL_F64)


def test_resnet_width_is_theorem_6_1_eq_9_with_h_in_the_denominators():
    n, lam, delta, H = 10, 0.01, 0.1, 4
    terms = (n**4 / (lam**4 * H**6), n**2 / (lam**2 * H**2), n / delta, n**2 * math.log(H * n / delta) / lam**2)
    assert resnet_required_width(n, lam, delta, H) == pytest.approx(max(terms), rel=RTOL_F64)
    assert resnet_step_size(n, lam, H) == pytest.approx(lam * H**2 / n**2, rel=RTOL_F64)
    # at fixed lambda_0 the dominant n^4 / (lambda^4 H^6) term falls with depth
    assert resnet_required_width(n, lam, delta, 8) < resnet_required_width(n, lam, delta, 4)


def test_dispatch_by_architecture_and_the_radius():
    fc, res = DeepNet("fc", 3), DeepNet("resnet", 3)
    assert required_width_deep(fc, 10, 0.05) == fc_required_width(10, 0.05, 0.1, 3)
    assert required_width_deep(res, 10, 0.05) == resnet_required_width(10, 0.05, 0.1, 3)
    assert step_size_deep(fc, 10, 0.05, base=3.0) == fc_step_size(10, 0.05, 3, base=3.0)
    assert step_size_deep(res, 10, 0.05) == resnet_step_size(10, 0.05, 3)
    assert paper_radius(fc, 10, 0.05) is None
    assert paper_radius(res, 10, 0.05) == resnet_perturbation_radius(10, 0.05, 3) == pytest.approx(0.05 * 9 / 10)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(n=0), "n must"),
        (dict(lambda0=0.0), "lambda0"),
        (dict(lambda0=float("nan")), "lambda0"),
        (dict(delta=1.0), "delta"),
        (dict(depth=0), "depth"),
        (dict(base=1.0), "base"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    args = dict(n=10, lambda0=0.1, delta=0.1, depth=2, base=2.0) | kwargs
    with pytest.raises(ValueError, match=name):
        fc_required_width(args["n"], args["lambda0"], args["delta"], args["depth"], base=args["base"])
