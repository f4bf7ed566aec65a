"""The API reference and the gallery build with warnings as errors (mkdocs --strict), from the docstrings."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "du2019" / "index.html").read_text()
    assert "train_gd" in api and "DuDiagnostics" in api
    assert (tmp_path / "site" / "index.html").stat().st_size > 10000  # the gallery


def test_architecture_page_is_the_repository_file():
    assert (ROOT / "docs" / "architecture.md").read_text() == (ROOT / "ARCHITECTURE.md").read_text()
