"""Each experiment's summary is a typed record: the committed figures/<name>.json loads into the record its module
names ``SUMMARY``, and writing that record gives back the same JSON (the same keys and values), so the saved format
has not changed."""

import importlib
import json
from pathlib import Path

import pytest

from experiments.store import from_jsonable, to_jsonable

FIGURES = Path(__file__).resolve().parent.parent / "figures"


@pytest.mark.parametrize("name", ["fine_grained", "linearization", "landscape", "hessian"])
def test_the_committed_summary_loads_into_its_record_and_writes_back_the_same_json(name):
    module = importlib.import_module(f"experiments.{name}")
    data = json.loads((FIGURES / f"{name}.json").read_text())
    summary = from_jsonable(module.SUMMARY, data)
    assert isinstance(summary, module.SUMMARY) and isinstance(summary.config, type(module.parse_args([])))
    assert to_jsonable(summary) == data
