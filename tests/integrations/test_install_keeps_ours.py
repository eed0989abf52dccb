"""Installing dependents with their documented extras keeps this library (pip resolves, installs nothing).

`chonkie[semantic]` requires model2vec >= 0.3, `chonkie[model2vec]` >= 0.7 and `txtai[vectors]` pulls
chonkie's extra: with a version below those, pip would replace this library with PyPI's model2vec. The
check asks pip for its plan (`--dry-run --report`) in the environment where this library is installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import model2vec

pytestmark = pytest.mark.integrations

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "requirement", ["chonkie[semantic]==1.7.0", "chonkie[model2vec]==1.7.0", "txtai[vectors]==9.14.0"]
)
def test_pip_keeps_this_model2vec(requirement: str, tmp_path: Path) -> None:
    assert importlib.metadata.version("model2vec") == model2vec.__version__
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "-c",
            str(REPO / "constraints.txt"),
            requirement,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 and (
        "NewConnectionError" in result.stderr or "No matching distribution" in result.stderr
    ):
        pytest.skip(f"the package index is unreachable or lacks {requirement}: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr
    planned = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert "model2vec" not in planned, f"pip would replace this library with model2vec {planned['model2vec']}"
