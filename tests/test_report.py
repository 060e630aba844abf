import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import fbeta_score as sk_fbeta

pytest.importorskip("matplotlib")

from f1opt import report  # noqa: E402
from f1opt.compare import compare  # noqa: E402
from f1opt.report import MARKER, Section, f_by_threshold, write_report  # noqa: E402


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_f_by_threshold_matches_sklearn(rng, average, beta):
    scores = np.round(rng.random((40, 3)), 1)  # ties on purpose
    y = (rng.random((40, 3)) < 0.4).astype(int)
    grid = np.array([-1.0, 0.0, 0.2, 0.35, 0.5, 0.9, 1.0, 2.0])
    got = f_by_threshold(scores, y, grid, beta=beta, average=average)
    for g, t in zip(got, grid, strict=True):
        want = sk_fbeta(y, (scores >= t).astype(int), beta=beta, average=average, zero_division=0)
        assert g == pytest.approx(want, abs=1e-12)


def test_f_by_threshold_binary(rng):
    scores = np.round(rng.random(50), 1)
    y = (rng.random(50) < 0.3).astype(int)
    y[0] = 1
    grid = np.unique(scores)
    got = f_by_threshold(scores, y, grid, average="binary")
    want = [sk_fbeta(y, (scores >= t).astype(int), beta=1) for t in grid]
    np.testing.assert_allclose(got, want, atol=1e-12)


def _section(kind, rng, title="s"):
    n = 120
    if kind == "binary":
        y = (rng.random(n) < 0.3).astype(int)
        s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
        average, methods = "binary", ["global"]
    elif kind == "multilabel":
        y = (rng.random((n, 3)) < 0.4).astype(int)
        s = np.clip(0.3 * y + rng.random((n, 3)) * 0.7, 0, 1)
        average, methods = "micro", ["global", "per_class"]
    else:
        y = rng.choice(3, n)
        logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
        s = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        average, methods = "macro", ["weights"]
    comparison = compare(
        s, y, target=kind, average=average, methods=methods, cv=2, test=(s, y), n_bootstrap=50
    )
    return Section(
        title=title,
        comparison=comparison,
        scores=s,
        y=y,
        description=f"{kind}, {n} rows",
        test_description=f"{kind}, {n} rows",
        notes=["a <note> & credit"],
    )


def _referenced(index: Path):
    text = index.read_text()
    return re.findall(r'(?:src|href)="([^"#][^"]*)"', text)


def test_report_files_exist_and_are_png(rng, tmp_path):
    sections = [_section(kind, rng, kind) for kind in ("binary", "multilabel", "multiclass")]
    index = write_report(tmp_path / "rep", sections, title="t")
    refs = _referenced(index)
    assert len(refs) >= 7  # 3 figures for multilabel and multiclass, 2 for binary
    for ref in refs:
        path = index.parent / ref
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", ref
    text = index.read_text()
    assert "a &lt;note&gt; &amp; credit" in text  # escaped
    assert "<table>" in text and 'class="chosen"' in text
    assert "http" not in text.replace("charset", "")  # self-contained: nothing fetched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporaries


def test_existing_directory_is_kept_without_force(rng, tmp_path):
    target = tmp_path / "rep"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    section = _section("multilabel", rng)
    with pytest.raises(ValueError, match="already exists"):
        write_report(target, [section])
    with pytest.raises(ValueError, match="already exists"):
        write_report(target, [section], replace_own=True)  # not an f1opt report
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    write_report(target, [section], force=True)
    assert (target / "index.html").is_file() and not (target / "mine.txt").exists()
    assert (target / MARKER).is_file()
    write_report(target, [section], replace_own=True)  # an earlier report may be replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_failure_leaves_old_report_and_no_temporary(rng, tmp_path, monkeypatch):
    target = tmp_path / "rep"
    section = _section("multilabel", rng)
    write_report(target, [section])
    before = sorted(p.name for p in target.iterdir())

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "_write_contents", boom)
    with pytest.raises(RuntimeError):
        write_report(target, [section], force=True)
    assert sorted(p.name for p in target.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_missing_parent_directory(rng, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_report(tmp_path / "no" / "rep", [_section("binary", rng)])


def test_report_does_not_import_the_command_line():
    import subprocess
    import sys

    code = "import sys, f1opt.report, f1opt.demo, f1opt.compare; print('f1opt.cli' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
