"""python -m experiments.deep_width: end to end on tiny flags (figure, JSON, its record, resume, claims), and its
claims on counterfeit summaries, built by hand, where the paper's statements are false."""

import json

import pytest

from experiments import deep_width
from experiments.store import from_jsonable, to_jsonable
from ntk_proofs.claims import counterfeit


@pytest.mark.slow
def test_deep_width_writes_figure_and_json_round_trips_and_resumes(tmp_path):
    flags = ["--quick", "--seeds", "3", "--max-steps", "100", "--m-max", "8", "--out", str(tmp_path / "dw")]
    summary = deep_width.main(flags)
    for suffix in ("png", "pdf", "json"):
        assert (tmp_path / "dw" / f"deep_width.{suffix}").stat().st_size > 1000
    saved = json.loads((tmp_path / "dw" / "deep_width.json").read_text())
    record = from_jsonable(deep_width.SUMMARY, saved)
    assert isinstance(record, deep_width.DeepWidthSummary) and isinstance(record.config, deep_width.DeepWidthConfig)
    assert to_jsonable(record) == saved  # the saved format is the record's fields
    assert len(record.units) == 4 and len(record.kernels) == 2  # (fc, resnet) x H = 1, 2; a curve per architecture
    twin = next(u for u in record.units if u.architecture == "resnet" and u.depth == 1)
    assert twin.same_as == "sphere_n6_fc_H1"  # a depth-1 ResNet is the depth-1 fully-connected net
    for u in record.units:
        assert u.lambda0 > 0 and u.eta > 0 and u.required_width > 0 and len(u.drift.layer_drift[0]) == u.depth
        for c in u.criteria.values():
            assert c.censored in ("", "below", "above") and len(c.holds) == len(c.widths)
            assert c.m_star is None or c.m_star in c.widths
    again = deep_width.main(flags)
    assert again.reused_units == 6 and again.units == summary.units  # 4 searches and 2 curves read back
    rows = deep_width.claims(record, "cmd")
    assert rows and all(r.hypotheses == "inside" or r.hypotheses.startswith("outside: ") for r in rows)
    for row in rows:
        assert counterfeit(row, "violate").verdict == "not held"
        assert counterfeit(row, "noisy").verdict == "inconclusive"


DEPTHS = (1, 2, 3, 4, 6)


def _criterion(m_star, ratio=0.5, seeds=10):
    widths = [m_star // 2, m_star, 2 * m_star]
    return deep_width.CriterionResult(
        m_star=m_star,
        censored="",
        bracket=[m_star // 2, m_star],
        widths=widths,
        hold_fraction=[0.0, 1.0, 1.0],
        holds=[[False] * seeds, [True] * seeds, [True] * seeds],
        monotone=True,
        violations=[],
        converged_fraction=[1.0, 1.0, 1.0],
        median_end_step=[100.0] * 3,
        worst_floor_ratio=[[ratio] * seeds] * 3,
        bootstrap=[float(m_star)] * 50,
    )


def _unit(architecture, depth, m_star, required, ratio=0.5):
    return deep_width.DeepWidthUnit(
        dataset="sphere",
        n=8,
        d=8,
        architecture=architecture,
        depth=depth,
        lambda0=1e-3,
        eta=0.1,
        lambda_max_full=10.0,
        theorem_step=1e-6,
        required_width=required,
        seconds=1.0,
        widths_run=[m_star],
        criteria={"trajectory": _criterion(m_star, ratio), "linear": _criterion(m_star, ratio)},
        drift=deep_width.Drift(m_star, [[0.1] * depth] * 10, None),
    )


def _summary(fc_law, resnet_law, required_degree=4.0, ratio=0.5):
    config = deep_width.parse_args(["--depths", *map(str, DEPTHS), "--ns", "8", "--bootstrap", "50"])
    units = [
        _unit(arch, h, int(round(law(h))), 1e6 * h**required_degree, ratio)
        for arch, law in (("fc", fc_law), ("resnet", resnet_law))
        for h in DEPTHS
    ]
    return deep_width.summarize(config, [], units)


def test_the_claims_hold_where_the_paper_is_right_and_fail_where_it_is_not():
    # the paper's picture: fully connected 4 * 2^H (exponential), ResNet 8 H^2 (below Thm 6.1's degree 4), floor held
    right = deep_width.claims(_summary(lambda h: 4 * 2.0**h, lambda h: 8 * h**2), "cmd")
    fc, resnet = (r for r in right if "Thm 5.1:" in r.paper), (r for r in right if "Thm 6.1:" in r.paper)
    assert [r.verdict for r in fc] == ["held"] * 2 and [r.verdict for r in resnet] == ["held"] * 2  # both criteria
    assert all(r.verdict == "held" for r in right if "Condition A.1" in r.paper)
    assert all(r.hypotheses.startswith("outside: m is") and "the step it allows" in r.hypotheses for r in right)
    # the counterfeit: fully connected polynomial (8 H^2), ResNet growing as H^6 (faster than degree 4), floor broken
    wrong = deep_width.claims(_summary(lambda h: 8 * h**2, lambda h: 4 * h**6, ratio=3.0), "cmd")
    assert [r.verdict for r in wrong if "Thm 5.1:" in r.paper] == ["not held"] * 2
    assert [r.verdict for r in wrong if "Thm 6.1:" in r.paper] == ["not held"] * 2
    assert [r.verdict for r in wrong if "Condition A.1" in r.paper] == ["not held", "not held"]
    for row in right + wrong:
        assert counterfeit(row, "violate").verdict == "not held"
        assert counterfeit(row, "noisy").verdict == "inconclusive"
        assert counterfeit(row, "satisfy").verdict == "held"


def test_censored_widths_leave_the_growth_claims_inconclusive():
    summary = _summary(lambda h: 4 * 2.0**h, lambda h: 8 * h**2)
    units = [
        u._replace(criteria={k: v._replace(m_star=None, censored="above") for k, v in u.criteria.items()})
        for u in summary.units
    ]
    rows = deep_width.claims(deep_width.summarize(summary.config, [], units), "cmd")
    growth = [r for r in rows if "Thm 5.1:" in r.paper or "Thm 6.1:" in r.paper]
    assert len(growth) == 4 and all(r.verdict == "inconclusive" for r in growth)


def test_flag_errors():
    for bad in (
        ["--ns", "1"],
        ["--m-max", "2", "--m-min", "4"],
        ["--delta", "1"],
        ["--c-res", "1.5"],
        ["--depths", "0"],
    ):
        with pytest.raises(SystemExit):
            deep_width.parse_args(bad)
