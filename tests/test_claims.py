"""``ntk_proofs.claims``: the rows of figures/CLAIMS.md, and when a scaling claim counts as held."""

import pytest

from ntk_proofs.claims import claim, claims_table, slope_claim


def _fit(slope, low, high):
    return {"slope": slope, "ci_low": low, "ci_high": high}


@pytest.mark.parametrize("exponent, held", [(-0.5, True), (-0.61, False), (-0.39, False)])
def test_a_predicted_exponent_holds_only_inside_the_interval(exponent, held):
    row = slope_claim("paper", "y ~ m^p", _fit(-0.5, -0.6, -0.4), exponent, "cmd")
    assert row["held"] is held
    assert row["measured"] == "-0.500 [-0.600, -0.400]"


def test_a_fit_without_an_interval_never_holds():
    assert slope_claim("paper", "y ~ m^p", _fit(-0.5, None, None), -0.5, "cmd")["held"] is False


def test_the_table_marks_failures_and_escapes_pipes():
    rows = [claim("P", "a | b", 1.5, "<= 2", True, "python -m x"), claim("Q", "c", 3.0, "<= 2", False, "y")]
    table = claims_table(rows).splitlines()
    assert table[0].startswith("| paper | claim |") and len(table) == 4
    assert "a \\| b" in table[2] and table[2].endswith("| yes | `python -m x` |")
    assert "| **no** |" in table[3]
