"""The demo and the examples run and agree with plaintext (so they cannot rot)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from mpcstats.stats.analysis import ANALYSES

ROOT = Path(__file__).resolve().parent.parent


def test_demo_command_agrees_with_plaintext() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mpcstats", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "mean length of stay" in completed.stdout and "plaintext" in completed.stdout


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registered = dict(ANALYSES)  # an example may define an analysis of its own
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        ANALYSES.clear()
        ANALYSES.update(registered)
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if " secure " in line and "plaintext" in line]
    assert rows, out
    for row in rows:
        secure, plain = float(row[row.index("secure") + 1]), float(row[row.index("plaintext") + 1])
        assert abs(secure - plain) <= 1e-5 * max(1.0, abs(plain)), row
