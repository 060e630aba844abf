import html
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


# ---------------------------------------------------------------------------
# what the report shows, built on the comparison


def _capture_figures(monkeypatch):
    """Keep every figure the report draws (the Agg figures are otherwise dropped)."""
    figures = []
    original = report._figure

    def keep(*args, **kwargs):
        fig, axes = original(*args, **kwargs)
        figures.append(fig)
        return fig, axes

    monkeypatch.setattr(report, "_figure", keep)
    return figures


def _legend_texts(fig):
    out = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            out.extend(t.get_text() for t in legend.get_texts())
    return out


def test_one_colour_and_one_marker_per_method():
    from f1opt.methods import METHOD_NAMES

    styles = [report.method_style(m) for m in METHOD_NAMES]
    assert len({s["color"] for s in styles}) == len(METHOD_NAMES)
    assert len({s["marker"] for s in styles}) == len(METHOD_NAMES)
    assert report.method_style("global") == report.method_style("global")


def test_variants_share_their_method_style(rng):
    n = 90
    Y = (rng.random((n, 3)) < 0.4).astype(int)
    S = np.clip(0.3 * Y + rng.random((n, 3)) * 0.7, 0, 1)
    c = compare(S, Y, target="multilabel", average="samples", cv=2, n_bootstrap=0, refit=False)
    section = Section("s", c, S, Y)
    styles = report._styles(section)
    expected = [r.name for r in c.candidates if r.method == "expected"]
    assert len(expected) == 3
    assert {styles[name][:2] for name in expected} == {
        tuple(report.method_style("expected").values())
    }
    assert len({styles[name][2] for name in expected}) == 3  # told apart by the fill only


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_fold_curves_are_the_held_out_f(rng, kind):
    section = _section(kind, rng)
    grid = np.array([0.1, 0.35, 0.5, 0.8])
    curves = report.fold_curves(section, grid)
    assert curves.shape == (section.comparison.n_splits, grid.size)
    for (_, held), curve in zip(section.comparison.splits, curves, strict=True):
        for t, f in zip(grid, curve, strict=True):
            want = sk_fbeta(
                section.y[held],
                (section.scores[held] >= t).astype(int),
                beta=1,
                average=section.average,
                zero_division=0,
            )
            assert f == pytest.approx(want, abs=1e-12)


def test_the_fitted_split_thresholds_sit_on_their_held_out_curves(rng):
    section = _section("binary", rng)
    glob = section.comparison["global"]
    for i, (t, f) in enumerate(zip(glob.split_thresholds, glob.split_scores, strict=True)):
        curve = report.fold_curves(section, np.array([t]))
        assert curve[i, 0] == pytest.approx(f, abs=1e-12)  # the tick drawn at (t_i, F_i)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("winner", ["default", "last"])
def test_the_chosen_rule_is_drawn_as_chosen_in_every_figure(
    rng, tmp_path, monkeypatch, kind, winner
):
    section = _section(kind, rng)
    rows = section.comparison.candidates
    chosen = rows[0] if winner == "default" else rows[-1]
    for r in rows:
        r.chosen = r is chosen
    figures = _capture_figures(monkeypatch)
    write_report(tmp_path / "rep", [section])
    assert len(figures) >= 3
    for fig in figures:
        texts = (
            _legend_texts(fig)
            + [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
            + [fig._suptitle.get_text() if fig._suptitle is not None else ""]
        )
        marked = [t for t in texts if "(chosen)" in t]
        only_weights = texts[-1].startswith("weights")  # the figure of one rule
        assert marked or (only_weights and chosen.name != "weights"), texts
        assert all(t.startswith(chosen.name + " (chosen)") for t in marked), marked
    text = (tmp_path / "rep" / "index.html").read_text()
    assert f"Chosen: {html.escape(chosen.name)}," in text
    assert f"--method {chosen.method} " in text
    if winner == "default":
        assert "The default decision" in text


def test_one_method_keeps_its_colour_across_figures(rng, tmp_path, monkeypatch):
    from matplotlib.colors import to_hex

    section = _section("multilabel", rng)
    figures = _capture_figures(monkeypatch)
    write_report(tmp_path / "rep", [section])
    seen = 0
    for fig in figures:
        for ax in fig.axes:
            for line in ax.get_lines():
                label = line.get_label().removesuffix(" (chosen)")
                name = label.split(":")[0].removesuffix(" (chosen)")
                row = next((r for r in section.rows if r.name == name), None)
                if row is None:
                    continue
                assert to_hex(line.get_color()) == report.method_style(row.method)["color"]
                seen += 1
    assert seen >= 6


def test_label_names_from_the_files_are_the_ticks(rng, tmp_path, monkeypatch):
    section = _section("multilabel", rng)
    section.label_names = ["joy", "fear", "calm"]
    figures = _capture_figures(monkeypatch)
    write_report(tmp_path / "rep", [section])
    ticks = {t.get_text() for fig in figures for ax in fig.axes for t in ax.get_xticklabels()}
    assert {"joy", "fear", "calm"} <= ticks
    section.label_names = ["only", "two"]  # does not fit: indices, not a wrong name
    assert section.names() == ["label 0", "label 1", "label 2"]


def test_notes_default_wins_and_margin_within_noise(rng):
    section = _section("binary", rng)
    rows = section.comparison.candidates
    default, glob = rows[0], section.comparison["global"]
    k = section.comparison.n_splits
    # the default decision best by a clear margin
    default.split_scores, glob.split_scores = np.full(k, 0.8), np.full(k, 0.7)
    default.oof_score, glob.oof_score = 0.8, 0.7
    for r in rows:
        r.chosen = r is default
    notes = " ".join(report._decision_notes(section))
    assert "The default decision wins" in notes and "global" in notes
    # a rule chosen with a gain within the noise of the splits
    glob.split_scores = default.split_scores + np.resize([0.05, -0.04], k)
    glob.oof_score = 0.805
    for r in rows:
        r.chosen = r is glob
    notes = " ".join(report._decision_notes(section))
    assert "Chosen: global" in notes and "within the noise" in notes
    # a clear gain: no noise warning
    glob.split_scores = default.split_scores + 0.1 + np.resize([0.001, -0.001], k)
    assert "within the noise" not in " ".join(report._decision_notes(section))


def test_the_python_lines_reproduce_the_chosen_rule(rng, tmp_path, monkeypatch):
    for kind in ("binary", "multilabel", "multiclass"):
        section = _section(kind, rng)
        chosen = section.comparison.chosen
        command, python = report._command_lines(section)
        assert command.startswith("f1opt fit --scores SCORES --labels LABELS --method ")
        monkeypatch.chdir(tmp_path)
        namespace = {"scores": section.scores, "y": section.y, "new_scores": section.scores}
        exec(python, namespace)  # the lines as printed in the report
        np.testing.assert_array_equal(namespace["y_pred"], chosen.decider.predict(section.scores))
        assert (tmp_path / "rule.json").is_file()


def test_class_weights_shown_normalised_keep_the_rule(rng):
    from f1opt.weights import predict_class_weights

    P = rng.dirichlet(np.ones(4), size=200)
    w = np.array([1e-9, 3.0, 2e4, 7e12])
    c = np.array([0.0, 5.0, -3e3, 1e11])
    w2, c2 = report._normalised_weights(w, c)
    np.testing.assert_array_equal(predict_class_weights(P, w2, c2), predict_class_weights(P, w, c))
    assert np.exp(np.mean(np.log(w2))) == pytest.approx(1.0)
    assert np.median(c2) == 0


def test_out_of_fold_predictions_are_used_when_the_comparison_keeps_them(rng, tmp_path):
    section = _section("multiclass", rng)
    _, out_of_fold = report._rule_predictions(section)
    assert out_of_fold  # compare keeps each round's held-out predictions
    for r in section.rows:
        r.oof_predictions = None
    _, out_of_fold = report._rule_predictions(section)
    assert not out_of_fold  # without them: in-sample, said in the caption
    for r in section.rows:
        r.oof_predictions = np.zeros((1, section.y.size), dtype=np.int64)
    preds, out_of_fold = report._rule_predictions(section)
    assert out_of_fold and all(p[:, 0].all() and p[:, 1:].sum() == 0 for _, p in preds)
    write_report(tmp_path / "rep", [section])
    assert "held-out predictions" in (tmp_path / "rep" / "index.html").read_text()
