"""Smoke tests: the seed benchmark scripts run in --quick mode and print their tables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _run(script, *args, timeout=300):
    env = dict(os.environ, F1OPT_NO_PROGRESS="1")
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _table_rows(out, first_column):
    """The numbers of one table row, as floats (means only)."""
    for line in out.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_column:
            return [float(c.split(" ± ")[0]) for c in cells[1:] if c != "n/a"]
    raise AssertionError(f"row {first_column!r} missing from:\n{out}")


def test_seed_imbalanced_cnn_quick():
    pytest.importorskip("torch")
    out = _run("seed_imbalanced_cnn.py")
    for column in ("70/30", "90/10", "99/1"):
        assert column in out
    for method in ("plain CE at 0.5", "CE + threshold tuned on training data"):
        values = _table_rows(out, method)
        assert len(values) == 3 and all(0 <= v <= 1 for v in values)
    assert "MetaCost" in out


def test_seed_imbalanced_tabular_quick(shared_data):
    out = _run("seed_imbalanced_tabular.py")
    values = _table_rows(out, "threshold tuned out-of-fold (5-fold)")
    assert len(values) == 2 and all(0 <= v <= 1 for v in values)
    assert "TunedThresholdClassifierCV (5-fold)" in out


def test_seed_stretcher_quick(shared_data, tmp_path):
    pytest.importorskip("torch")
    out = _run("seed_stretcher.py", "--out", str(tmp_path / "seeds.md"))
    assert (tmp_path / "seeds.md").read_text().strip() in out
    # on the toy, exact per-label thresholds separate the hidden thresholds
    micro, macro, samples = _table_rows(out, "PerClassThreshold (micro)")[:3]
    assert micro > 0.98
    assert "emotions" in out
