"""Every row of figures/CLAIMS.md, rebuilt from the committed summaries by its experiment's own ``claims``: each one
can come out not held and inconclusive, so none holds by default."""

import importlib
from pathlib import Path

import pytest

from experiments.all import EXPERIMENTS, LARGER_RUNS, saved_summary
from ntk_proofs.claims import Claim, counterfeit

FIGURES = Path(__file__).resolve().parent.parent / "figures"


def _rows(name):
    module = importlib.import_module(f"experiments.{name}")
    return module.claims(saved_summary(name, FIGURES), f"python -m experiments.{name}")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_committed_claim_can_fail_and_can_be_inconclusive(name):
    rows = _rows(name)
    assert rows, name
    for row in rows:
        assert isinstance(row, Claim)
        assert row.hypotheses == "inside" or row.hypotheses.startswith("outside: ")
        assert counterfeit(row, "violate").verdict == "not held", row
        assert counterfeit(row, "noisy").verdict == "inconclusive", row
        assert counterfeit(row, "satisfy").verdict == "held", row


@pytest.mark.parametrize("name, folder, command", LARGER_RUNS)
def test_every_committed_claim_of_a_larger_run_can_fail_and_can_be_inconclusive(name, folder, command):
    """The rows CLAIMS.md takes from the committed larger runs (``experiments.all.LARGER_RUNS``), as above."""
    if not (FIGURES / folder / f"{name}.json").exists():
        pytest.skip(f"no committed {folder}/{name}.json")
    rows = importlib.import_module(f"experiments.{name}").claims(saved_summary(name, FIGURES / folder), command)
    assert rows, name
    for row in rows:
        assert row.hypotheses == "inside" or row.hypotheses.startswith("outside: ")
        assert counterfeit(row, "violate").verdict == "not held", row
        assert counterfeit(row, "noisy").verdict == "inconclusive", row
        assert counterfeit(row, "satisfy").verdict == "held", row


def test_the_width_sweep_rows_say_they_run_outside_theorem_4_1s_hypotheses():
    rows = [r for r in _rows("width_sweep") if "practical widths" in r.paper]
    assert len(rows) >= 4
    assert all(r.hypotheses.startswith("outside: m = ") and "x the step it allows" in r.hypotheses for r in rows)
