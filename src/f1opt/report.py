"""The HTML report: one self-contained ``index.html`` with PNG figures beside it.

For each compared data set (a :class:`Section`) the report shows

* F-beta against one global threshold on the validation data, with the
  chosen threshold, the 0.5 default and the F of every other rule;
* the (micro-pooled) precision-recall curve with iso-F lines and the point of
  every rule;
* the per-label thresholds (or class weights), beside the global threshold;
* the comparison table.

The directory is written atomically: everything goes into a temporary
directory beside it, which is renamed into place at the end. Needs matplotlib
(``pip install 'f1opt[report]'``); figures use the Agg canvas directly and never
touch pyplot's global state.
"""

from __future__ import annotations

import contextlib
import html
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Section", "write_report", "check_report_dir", "f_by_threshold", "MARKER"]

MARKER = ".f1opt-report"


@dataclass
class Section:
    """One compared data set of the report.

    Attributes
    ----------
    title : str
    comparison : f1opt.compare.Comparison
        The comparison of the rules (its first candidate is the default decision).
    scores : ndarray of shape (n,), (n, L) or (n, K)
        Validation scores (the curves are drawn on them).
    y : ndarray
        Their labels: 0/1 (binary, multilabel) or class ids (multiclass).
    description : str
        One line about the validation data.
    test_description : str
        One line about the test data ("" without).
    notes : list of str
        Free text shown under the table (HTML-escaped).
    """

    title: str
    comparison: object
    scores: np.ndarray
    y: np.ndarray
    description: str = ""
    test_description: str = ""
    notes: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The target kind: binary, multilabel or multiclass."""
        return self.comparison.target

    @property
    def average(self) -> str:
        """The F-beta average compared."""
        return self.comparison.average

    @property
    def beta(self) -> float:
        """The beta of F-beta."""
        return self.comparison.beta

    @property
    def n_columns(self) -> int:
        """Label or class columns."""
        return self.comparison.n_columns

    @property
    def rows(self) -> list:
        """The compared candidates (f1opt.compare.CandidateResult)."""
        return self.comparison.candidates

    @property
    def chosen(self) -> str | None:
        """Name of the chosen candidate."""
        best = self.comparison.chosen
        return None if best is None else best.name


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("the report needs matplotlib: pip install 'f1opt[report]'") from None


def check_report_dir(path, *, force: bool = False, replace_own: bool = False) -> Path:
    """Refuse an existing report directory unless allowed.

    ``force`` allows any directory; ``replace_own`` allows an earlier f1opt
    report (one holding the ``.f1opt-report`` marker).

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(
            f"cannot write the report {str(path)!r}: directory {str(parent)!r} does not exist"
        )
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{str(path)!r} exists and is not a directory")
        own = (path / MARKER).is_file()
        if not (force or (replace_own and own)):
            hint = "an earlier f1opt report" if own else "not made by f1opt"
            raise ValueError(f"{str(path)!r} already exists ({hint}); use --force to replace it")
    return path


# ---------------------------------------------------------------------------
# numbers behind the figures


def _as_columns(scores: np.ndarray, y: np.ndarray):
    if scores.ndim == 1:
        return scores[:, None], y[:, None]
    return scores, y


def f_by_threshold(scores, y, thresholds, *, beta=1.0, average="micro"):
    """F-beta of ``scores >= t`` for every ``t`` in ``thresholds``.

    Parameters
    ----------
    scores : ndarray of shape (n,) or (n, L)
    y : ndarray of 0/1 of the same shape
    thresholds : ndarray of shape (G,)
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="micro"

    Returns
    -------
    f : ndarray of shape (G,)
        Equal to :func:`sklearn.metrics.fbeta_score` at every threshold.
    """
    from .metrics import average_fbeta, fbeta_from_counts

    s, yy = _as_columns(np.asarray(scores, dtype=np.float64), np.asarray(y))
    t = np.asarray(thresholds, dtype=np.float64)
    if average == "samples":
        p = yy.sum(axis=1)
        out = np.empty(t.size)
        for g, threshold in enumerate(t):
            pred = s >= threshold
            tp = (pred & (yy == 1)).sum(axis=1)
            out[g] = fbeta_from_counts(tp, pred.sum(axis=1), p, beta).mean()
        return out
    n, n_labels = s.shape
    tp = np.empty((t.size, n_labels))
    k = np.empty((t.size, n_labels))
    p = yy.sum(axis=0).astype(np.float64)
    for j in range(n_labels):
        column = np.sort(s[:, j])
        positives = np.sort(s[yy[:, j] == 1, j])
        k[:, j] = n - np.searchsorted(column, t, side="left")
        tp[:, j] = positives.size - np.searchsorted(positives, t, side="left")
    return np.asarray(average_fbeta(tp, k, p, beta=beta, average=average), dtype=np.float64)


def _pooled_pr(pred, y):
    pred, y = np.asarray(pred).astype(bool), np.asarray(y).astype(bool)
    tp = (pred & y).sum()
    k, p = pred.sum(), y.sum()
    return (tp / p if p else 0.0), (tp / k if k else 1.0)


def _one_hot(ids, n_columns):
    out = np.zeros((len(ids), n_columns), dtype=np.int8)
    out[np.arange(len(ids)), np.asarray(ids, dtype=np.int64)] = 1
    return out


def _rule_predictions(section):
    """(name, 0/1 predictions pooled as a matrix) for the default and every fitted rule."""
    out = []
    for row in section.rows:
        if row.decider is None:
            continue
        try:
            pred = np.asarray(row.decider.predict(section.scores))
        except Exception:  # a rule that cannot predict is left out of the figure
            continue
        if section.kind == "multiclass":
            pred = _one_hot(pred, section.n_columns)
        out.append((row.name, pred))
    return out


# ---------------------------------------------------------------------------
# figures


def _figure(width=6.4, height=4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fname(beta):
    return "F1" if beta == 1 else f"F{beta:g}"


def _plot_f_threshold(section, path):
    fig = _figure()
    ax = fig.add_subplot()
    fname = _fname(section.beta)
    if section.kind == "multiclass":
        from sklearn.metrics import fbeta_score

        classes = np.arange(section.n_columns)
        width = 0.8 / max(1, len(section.rows))
        for i, (name, pred) in enumerate(_rule_predictions(section)):
            f = fbeta_score(
                _one_hot(section.y, section.n_columns),
                pred,
                beta=section.beta,
                average=None,
                zero_division=0,
            )
            ax.bar(classes + i * width, f, width=width, label=name)
        ax.set_xlabel("class")
        ax.set_ylabel(f"{fname} per class (validation)")
        ax.set_title(f"per-class {fname}: argmax against the fitted rules")
        ax.legend(fontsize=8)
        fig.savefig(path)
        return
    s = section.scores
    lo, hi = float(np.min(s)), float(np.max(s))
    grid = np.unique(np.quantile(s, np.linspace(0, 1, 161)))
    grid = np.unique(
        np.concatenate([grid, np.linspace(lo, hi, 41), [0.5] if lo <= 0.5 <= hi else []])
    )
    chosen_t = None
    for row in section.rows:
        if row.name == "global" and row.decider is not None:
            chosen_t = float(row.decider.threshold_)
    if chosen_t is not None and np.isfinite(chosen_t):
        grid = np.unique(np.append(grid, chosen_t))
    f = f_by_threshold(s, section.y, grid, beta=section.beta, average=section.average)
    ax.plot(grid, f, color="C0", lw=1.5, label=f"one global threshold ({section.average})")
    if lo <= 0.5 <= hi:
        f05 = f_by_threshold(s, section.y, [0.5], beta=section.beta, average=section.average)[0]
        ax.plot([0.5], [f05], "s", color="C3", ms=7, label=f"0.5 default: {f05:.3f}")
    if chosen_t is not None and np.isfinite(chosen_t):
        fc = f_by_threshold(s, section.y, [chosen_t], beta=section.beta, average=section.average)[0]
        ax.plot(
            [chosen_t],
            [fc],
            "*",
            color="C1",
            ms=14,
            label=f"global threshold {chosen_t:.3g}: {fc:.3f}",
        )
    styles = iter(["--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1))])
    for row in section.rows:
        if row.name in ("global", "default"):
            continue
        if row.fit_score is not None:
            ax.axhline(
                row.fit_score,
                ls=next(styles, "--"),
                lw=1,
                color="0.35",
                label=f"{row.name}: {row.fit_score:.3f}",
            )
    ax.set_xlabel("threshold (predict positive iff score >= threshold)")
    ax.set_ylabel(f"{section.average} {fname} (validation)")
    ax.set_title(f"{fname} against the threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower center")
    fig.savefig(path)


def _plot_pr(section, path):
    from sklearn.metrics import precision_recall_curve

    beta2 = section.beta**2
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    r = np.linspace(1e-3, 1, 400)
    for level in (0.2, 0.4, 0.6, 0.8, 0.9):
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = level * r / ((1 + beta2) * r - beta2 * level)
        ok = (prec > 0) & (prec <= 1.0001)
        ax.plot(r[ok], prec[ok], color="0.8", lw=0.8)
        if ok.any():
            ax.annotate(
                f"F={level:g}",
                (r[ok][-1], prec[ok][-1]),
                fontsize=7,
                color="0.5",
                xytext=(-22, 3),
                textcoords="offset points",
            )
    if section.kind == "multiclass":
        y_pooled = _one_hot(section.y, section.n_columns).ravel()
    else:
        y_pooled = np.asarray(section.y).ravel()
    precision, recall, _ = precision_recall_curve(y_pooled, np.asarray(section.scores).ravel())
    ax.plot(recall, precision, color="C0", lw=1.5, label="pooled PR curve (validation)")
    markers = iter("so*^DvP<>")
    for name, pred in _rule_predictions(section):
        rec, pre = _pooled_pr(pred, y_pooled.reshape(pred.shape))
        ax.plot(
            [rec],
            [pre],
            next(markers, "o"),
            ms=11 if name == section.chosen else 8,
            label=f"{name}" + (" (chosen)" if name == section.chosen else ""),
        )
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("recall (pooled over labels)")
    ax.set_ylabel("precision (pooled over labels)")
    ax.set_title(f"precision-recall with iso-{_fname(section.beta)} lines")
    ax.legend(fontsize=8, loc="lower left")
    fig.savefig(path)


def _plot_thresholds(section, path) -> bool:
    deciders = {row.name: row.decider for row in section.rows if row.decider is not None}
    fig = _figure()
    ax = fig.add_subplot()
    drawn = False
    per_class = deciders.get("per_class")
    if per_class is not None and hasattr(per_class, "thresholds_"):
        t = np.asarray(per_class.thresholds_, dtype=np.float64)
        index = np.arange(t.size)
        finite = np.isfinite(t)
        ax.plot(
            index[finite],
            t[finite],
            "o",
            ms=4 if t.size > 30 else 6,
            color="C2",
            label="per-label thresholds",
        )
        if (~finite).any():
            ax.plot(
                index[~finite],
                np.full((~finite).sum(), np.nanmax(t[finite]) if finite.any() else 1.0),
                "x",
                color="C3",
                label="predicts nothing (+inf)",
            )
        ax.set_xlabel("label")
        drawn = True
    weights = deciders.get("weights")
    if not drawn and weights is not None and hasattr(weights, "weights_"):
        w = np.asarray(weights.weights_, dtype=np.float64).ravel()
        ax.bar(np.arange(w.size) - 0.2, w, width=0.4, label="class weights w_k")
        offsets = getattr(weights, "offsets_", None)
        if offsets is not None:
            c = np.asarray(offsets, dtype=np.float64).ravel()
            ax.bar(np.arange(c.size) + 0.2, c, width=0.4, label="class offsets c_k")
        ax.set_xlabel("class")
        ax.set_yscale("symlog", linthresh=1e-2)  # weights can span many decades
        drawn = True
    if not drawn:
        return False
    glob = deciders.get("global")
    if glob is not None and np.isfinite(float(glob.threshold_)):
        ax.axhline(
            float(glob.threshold_),
            color="C1",
            ls="--",
            lw=1,
            label=f"global threshold {float(glob.threshold_):.3g}",
        )
    if section.kind != "multiclass":
        ax.axhline(0.5, color="C3", ls=":", lw=1, label="0.5 default")
    ax.set_ylabel("threshold" if per_class is not None else "value (symmetric log scale)")
    ax.set_title("per-label thresholds" if per_class is not None else "class weights and offsets")
    ax.legend(fontsize=8)
    fig.savefig(path)
    return True


# ---------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th:first-child, td:first-child, td.note { text-align: left; }
tr.chosen { background: #fff4d6; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
.figures img { max-width: 100%; border: 1px solid #eee; }
.small { color: #666; font-size: 0.85em; }
"""


def _num(x, digits=4):
    return "&ndash;" if x is None else f"{x:.{digits}f}"


def _table_html(section) -> str:
    fname = _fname(section.beta)
    with_test = any(r.test_score is not None for r in section.rows)
    head = (
        f"<tr><th>candidate</th><th>{fname} cv mean</th><th>cv sd</th>"
        f"<th>out-of-fold {fname}</th><th>95% interval</th><th>{fname} fit</th>"
        + (f"<th>{fname} test</th>" if with_test else "")
        + "<th>cv s</th><th>note</th></tr>"
    )
    body = []
    for r in section.rows:
        cls = ' class="chosen"' if r.chosen else ""
        ran = r.error is None
        lo, hi = r.interval
        interval = f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "&ndash;"
        body.append(
            f"<tr{cls}><td>{html.escape(r.name)}</td><td>{_num(r.mean if ran else None)}</td>"
            f"<td>{_num(r.std if ran else None)}</td><td>{_num(r.oof_score if ran else None)}</td>"
            f"<td>{interval}</td><td>{_num(r.fit_score)}</td>"
            + (f"<td>{_num(r.test_score)}</td>" if with_test else "")
            + f'<td>{_num(r.fit_time, 2)}</td><td class="note">{html.escape(r.note)}</td></tr>'
        )
    return "<table>\n" + head + "\n" + "\n".join(body) + "\n</table>"


def _section_html(i, section, figures) -> str:
    parts = [f'<h2 id="s{i}">{html.escape(section.title)}</h2>']
    desc = section.description
    test = f"; test data: {section.test_description}" if section.test_description else ""
    rule = (
        "a more complex rule replaces a simpler one only when its mean gain over the folds "
        "exceeds one standard error of the paired fold differences"
        if section.comparison.selection == "noise"
        else "the best pooled out-of-fold F wins"
    )
    parts.append(
        f"<p>{html.escape(desc + test)}. Target: {html.escape(section.average)} "
        f"{_fname(section.beta)}; every rule cross-validated on the same splits "
        f"({section.comparison.folds_text}) of the validation data ({rule}), then refitted "
        "on all of it (<em>fit</em>: in-sample; <em>test</em>: held-out).</p>"
    )
    parts.append(_table_html(section))
    for note in section.notes:
        parts.append(f'<p class="small">{html.escape(note)}</p>')
    parts.append('<div class="figures">')
    for name, alt in figures:
        parts.append(f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">')
    parts.append("</div>")
    return "\n".join(parts)


def _write_contents(directory: Path, sections, title: str) -> Path:
    from . import __version__

    blocks = []
    for i, section in enumerate(sections, start=1):
        figures = []
        name = f"s{i}-f-threshold.png"
        _plot_f_threshold(section, directory / name)
        figures.append((name, "F against the threshold"))
        name = f"s{i}-pr.png"
        _plot_pr(section, directory / name)
        figures.append((name, "precision-recall curve with iso-F lines"))
        name = f"s{i}-thresholds.png"
        if _plot_thresholds(section, directory / name):
            figures.append((name, "per-label thresholds"))
        blocks.append(_section_html(i, section, figures))
    toc = "".join(
        f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections, 1)
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<ul>{toc}</ul>\n"
        + "\n".join(blocks)
        + f'\n<p class="small">Written by f1opt {__version__} on {stamp}.</p>\n</body>\n</html>\n'
    )
    index = directory / "index.html"
    index.write_text(document, encoding="utf-8")
    (directory / MARKER).write_text("written by f1opt; safe to replace\n", encoding="utf-8")
    return index


def write_report(
    directory, sections, *, title="f1opt report", force=False, replace_own=False
) -> Path:
    """Write ``index.html`` and its figures into ``directory``, atomically.

    Parameters
    ----------
    directory : str or path-like
        Created; an existing one is replaced only with ``force`` (or with
        ``replace_own`` when it is an earlier f1opt report).
    sections : list of Section
    title : str, default="f1opt report"
    force, replace_own : bool, default=False

    Returns
    -------
    index : pathlib.Path
        The HTML file.
    """
    _require_matplotlib()
    directory = check_report_dir(directory, force=force, replace_own=replace_own)
    parent = directory.parent if str(directory.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    old = None
    try:
        _write_contents(tmp, sections, title)
        os.chmod(tmp, 0o755)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=parent))
            os.rmdir(old)
            os.replace(directory, old)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not directory.exists():
            with contextlib.suppress(OSError):
                os.replace(old, directory)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory / "index.html"
