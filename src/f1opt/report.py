"""The HTML report: one self-contained ``index.html`` with PNG figures beside it.

It is drawn from a :class:`f1opt.compare.Comparison` (the rules cross-validated
on shared folds). For each compared data set (a :class:`Section`) it shows

* what was chosen and why: the chosen rule's pooled out-of-fold F-beta with
  its 95% bootstrap interval, a note when the default decision wins or when a
  margin is within the noise of the paired fold differences, and the command
  line and the Python lines that refit the chosen rule;
* the cross-validated F-beta of every rule: one point per split and the pooled
  out-of-fold F-beta with its interval;
* F-beta against one global threshold, out of fold: one curve per held-out
  part (or their band), their mean, and the threshold fitted on the other
  folds of every split at its held-out F-beta (multiclass: F-beta per class);
* the (micro-pooled) precision-recall curve with iso-F lines and the point of
  every refitted rule;
* the per-label thresholds with their per-split spread, or the class weights
  and offsets on a scale normalised so that they can be read;
* the comparison table.

Every method has one colour and one marker in every figure (:func:`method_style`,
in the order of the method table :data:`f1opt.methods.METHODS`); the chosen rule
is drawn with a gold halo and "(chosen)" in every legend. Label and class names
come from the input files when the caller passes them (``Section.label_names``).

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

from .compare import paired_gain
from .methods import METHOD_NAMES, rule_summary

__all__ = [
    "Section",
    "write_report",
    "check_report_dir",
    "f_by_threshold",
    "fold_curves",
    "method_style",
    "MARKER",
]

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
        Validation scores: the ones the comparison was run on (the
        out-of-fold curves use its splits on them).
    y : ndarray
        Their labels: 0/1 (binary, multilabel) or class ids (multiclass).
    description : str
        One line about the validation data.
    test_description : str
        One line about the test data ("" without).
    notes : list of str
        Free text shown under the table (HTML-escaped).
    label_names : list of str, optional
        Names of the label columns (multilabel) or classes (multiclass) as in
        the input files, or ``[positive class]`` for a binary target; figures
        use them instead of indices.
    fit_args : str, default=""
        The data options of ``f1opt fit`` that read these scores and labels
        (e.g. ``"--scores val.csv --labels y.csv"``); "" shows placeholders.
    """

    title: str
    comparison: object
    scores: np.ndarray
    y: np.ndarray
    description: str = ""
    test_description: str = ""
    notes: list = field(default_factory=list)
    label_names: list | None = None
    fit_args: str = ""

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

    def names(self) -> list[str]:
        """One name per label or class column: ``label_names`` or "label j" / "class k"."""
        n = self.n_columns
        given = self.label_names
        if given is not None and len(given) == n and self.kind != "binary":
            return [str(x) for x in given]
        word = "class" if self.kind == "multiclass" else "label"
        return [f"{word} {j}" for j in range(n)]


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
    """(name, 0/1 predictions as a matrix) for every rule, and whether they are out of fold.

    The held-out predictions of the comparison's first round when it kept them
    (``CandidateResult.oof_predictions``) for every rule, else the rules
    refitted on all the validation rows (in-sample).
    """
    rows = [r for r in section.rows if r.error is None]
    oof = [getattr(r, "oof_predictions", None) for r in rows]
    out_of_fold = bool(rows) and all(p is not None for p in oof)
    out = []
    for row, held in zip(rows, oof, strict=True):
        if out_of_fold:
            pred = np.asarray(held)[0]
        else:
            if row.decider is None:
                continue
            try:
                pred = np.asarray(row.decider.predict(section.scores))
            except Exception:  # a rule that cannot predict is left out of the figure
                continue
        if section.kind == "multiclass":
            pred = _one_hot(pred, section.n_columns)
        out.append((row.name, pred))
    return out, out_of_fold


def fold_curves(section, grid):
    """Held-out F-beta against one global threshold, one curve per split of the comparison.

    For every split ``(train, held)`` of ``section.comparison.splits`` the
    F-beta (the comparison's average) of ``scores[held] >= t`` against
    ``y[held]`` at every ``t`` of ``grid``. No rule is fitted: these are the
    curves on which each split's threshold is judged out of fold.

    Parameters
    ----------
    section : Section
        Binary or multilabel.
    grid : ndarray of shape (G,)

    Returns
    -------
    curves : ndarray of shape (n_splits, G)
    """
    s, y = np.asarray(section.scores), np.asarray(section.y)
    return np.array(
        [
            f_by_threshold(s[held], y[held], grid, beta=section.beta, average=section.average)
            for _, held in section.comparison.splits
        ]
    ).reshape(len(section.comparison.splits), -1)


# ---------------------------------------------------------------------------
# one colour and one marker per method, from the method table

_PALETTE = ("#595959", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#d62728", "#8c564b", "#17becf")
_MARKERS = ("s", "o", "^", "D", "P", "X", "v", "h")
_HALO = "#f2b705"  # the chosen rule's halo, in every figure
_FILLS = ("full", "none", "left", "right", "bottom", "top")  # variants of one method


def method_style(method: str) -> dict:
    """Colour and marker of ``method`` in every figure of the report.

    The i-th method of :data:`f1opt.methods.METHODS` gets the i-th colour and
    marker, so a method looks the same in every figure and every report.

    Returns
    -------
    style : dict
        ``{"color": hex string, "marker": matplotlib marker}``.
    """
    names = list(METHOD_NAMES)
    i = names.index(method) if method in names else len(names) + abs(hash(method)) % 2
    return {"color": _PALETTE[i % len(_PALETTE)], "marker": _MARKERS[i % len(_MARKERS)]}


def _styles(section) -> dict:
    """Candidate name -> (colour, marker, fillstyle): variants of one method differ in fill."""
    seen: dict = {}
    out = {}
    for row in section.rows:
        k = seen.get(row.method, 0)
        seen[row.method] = k + 1
        style = method_style(row.method)
        out[row.name] = (style["color"], style["marker"], _FILLS[k % len(_FILLS)])
    return out


def _label(section, row) -> str:
    return row.name + (" (chosen)" if row.chosen else "")


def _point(ax, section, row, x, y, *, ms=9, label=None, zorder=4):
    """One rule's marker (with the gold halo when it is the chosen rule)."""
    color, marker, fill = _styles(section)[row.name]
    if row.chosen:
        ax.plot([x], [y], "o", ms=ms * 2.1, color=_HALO, alpha=0.85, zorder=zorder - 1)
    ax.plot(
        [x],
        [y],
        marker,
        ms=ms * (1.25 if row.chosen else 1.0),
        color=color,
        fillstyle=fill,
        markeredgecolor="black" if row.chosen else color,
        markeredgewidth=1.2,
        ls="none",
        label=label,
        zorder=zorder,
    )


def _hline(ax, section, row, y, label):
    color, _, fill = _styles(section)[row.name]
    dashes = {"full": "--", "none": ":", "left": "-.", "right": (0, (5, 1))}.get(fill, "--")
    if row.chosen:
        ax.axhline(y, color=_HALO, lw=5, alpha=0.7, zorder=1)
    ax.axhline(y, color=color, ls=dashes, lw=2 if row.chosen else 1.2, label=label, zorder=2)


# ---------------------------------------------------------------------------
# figures (each returns the caption shown under it)


def _figure(width=6.4, height=4.2, ncols=1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, (axes[0] if ncols == 1 else axes)


def _fname(beta):
    return "F1" if beta == 1 else f"F{beta:g}"


def _ran(section):
    return [r for r in section.rows if r.error is None and r.split_scores.size]


def _plot_cv(section, path) -> str:
    """Per-split F-beta and the pooled out-of-fold F-beta (95% interval) of every rule."""
    rows = _ran(section)
    fname = _fname(section.beta)
    fig, ax = _figure(6.4, 1.2 + 0.45 * max(2, len(rows)))
    rng = np.random.default_rng(0)
    labels = []
    for i, row in enumerate(rows):
        yy = len(rows) - 1 - i
        color, _, _ = _styles(section)[row.name]
        jitter = rng.uniform(-0.15, 0.15, row.split_scores.size)
        ax.plot(row.split_scores, yy + jitter, ".", color=color, alpha=0.45, ms=5, zorder=2)
        lo, hi = row.interval
        if np.isfinite(lo):
            ax.plot([lo, hi], [yy, yy], "-", color=color, lw=2.2, zorder=3)
        _point(ax, section, row, row.oof_score, yy)
        text = row.name
        if row.chosen:
            text += " (chosen)"
        if row.batch_dependent:
            text += " (batch rule)"
        labels.append(text)
    default = section.comparison.default
    if default.error is None and np.isfinite(default.oof_score):
        ax.axvline(default.oof_score, color=method_style("default")["color"], ls=":", lw=1)
    ax.set_yticks(range(len(rows)), labels[::-1])
    for tick, row in zip(ax.get_yticklabels(), rows[::-1], strict=True):
        if row.chosen:
            tick.set_fontweight("bold")
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"{section.average} {fname}, out of fold ({section.comparison.folds_text})")
    ax.set_title(f"cross-validated {fname} of every rule")
    ax.grid(axis="x", color="0.92")
    fig.savefig(path)
    return (
        f"Small dots: the {fname} of each rule on the held-out part of each of the "
        f"{section.comparison.n_splits} shared splits (fitted on the rest). Large marker: the "
        f"{fname} of all the held-out predictions pooled, with its 95% bootstrap interval as a "
        "bar. Dotted line: the default decision. The chosen rule has the gold halo."
    )


def _threshold_grid(scores, extra):
    s = np.asarray(scores, dtype=np.float64).ravel()
    lo, hi = float(np.min(s)), float(np.max(s))
    grid = np.concatenate([np.quantile(s, np.linspace(0, 1, 161)), np.linspace(lo, hi, 41)])
    extra = np.asarray([t for t in extra if t is not None and np.isfinite(t)], dtype=np.float64)
    return np.unique(np.concatenate([grid, extra[(extra >= lo) & (extra <= hi)]]))


def _plot_f_threshold(section, path) -> str:
    if section.kind == "multiclass":
        return _plot_per_class_f(section, path)
    fig, ax = _figure()
    fname = _fname(section.beta)
    rows = {r.name: r for r in section.rows}
    glob = rows.get("global")
    default = section.comparison.default
    cut = 0.5 if section.comparison.response == "predict_proba" else 0.0
    split_t = []
    if glob is not None and glob.error is None:
        split_t = [t if isinstance(t, float) else None for t in glob.split_thresholds]
    refit_t = None
    if glob is not None and glob.decider is not None:
        refit_t = float(getattr(glob.decider, "threshold_", np.nan))
    grid = _threshold_grid(section.scores, [cut, refit_t, *split_t])
    curves = fold_curves(section, grid)
    mean = curves.mean(axis=0)
    k = curves.shape[0]
    gcolor = method_style("global")["color"]
    ax.fill_between(grid, curves.min(0), curves.max(0), color=gcolor, alpha=0.15, lw=0)
    if k <= 10:
        for c in curves:
            ax.plot(grid, c, color=gcolor, lw=0.6, alpha=0.45)
    ax.plot(grid, mean, color=gcolor, lw=1.8, label=f"held-out {fname}, mean of {k} splits")
    if glob is not None and glob.error is None:
        pts = [(t, f) for t, f in zip(split_t, glob.split_scores, strict=False) if t is not None]
        if pts:
            tt, ff = np.array(pts).T
            ax.plot(
                tt,
                ff,
                "|",
                color="black",
                ms=10,
                mew=1.2,
                label="threshold fitted on the other folds, at its held-out F",
                zorder=5,
            )
        if refit_t is not None and np.isfinite(refit_t):
            ax.axvline(refit_t, color=gcolor, lw=1, ls="--")
            f_at = float(np.interp(refit_t, grid, mean))
            _point(
                ax,
                section,
                glob,
                refit_t,
                f_at,
                label=f"{_label(section, glob)}: t={refit_t:.3g}, out-of-fold {glob.oof_score:.3f}",
            )
    if default.error is None and np.isfinite(default.oof_score):
        _point(
            ax,
            section,
            default,
            cut,
            float(np.interp(cut, grid, mean)),
            label=f"{_label(section, default)}: t={cut:g}, out-of-fold {default.oof_score:.3f}",
        )
    for row in section.rows:
        if row.name in ("global", default.name) or row.error is not None:
            continue
        if np.isfinite(row.oof_score):
            _hline(ax, section, row, row.oof_score, f"{_label(section, row)}: {row.oof_score:.3f}")
    ax.set_xlabel("threshold t (predict positive iff score >= t)")
    ax.set_ylabel(f"{section.average} {fname} on the held-out parts")
    ax.set_title(f"{fname} against one global threshold, out of fold")
    top = float(np.nanmax(curves)) if curves.size else 1.0
    ax.set_ylim(0, min(1.02, top + 0.25))
    ax.legend(fontsize=7, loc="lower center")
    fig.savefig(path)
    band = "min-max band and one thin line per split" if k <= 10 else "min-max band"
    return (
        f"Out of fold: the {fname} of one global threshold on the held-out part of each of the "
        f"{k} shared splits ({band}) and their mean. Each black tick is the threshold fitted "
        "on the other folds of one split, placed at the F it reached on its held-out part "
        "(these are the split scores of 'global'). The dashed line is the threshold refitted "
        "on all the validation rows. Rules without one global threshold are horizontal lines "
        "at their pooled out-of-fold F."
    )


def _plot_per_class_f(section, path) -> str:
    from sklearn.metrics import fbeta_score

    fig, ax = _figure(max(6.4, 0.5 * section.n_columns + 2), 4.2)
    fname = _fname(section.beta)
    preds, out_of_fold = _rule_predictions(section)
    classes = np.arange(section.n_columns)
    width = 0.8 / max(1, len(preds))
    styles = _styles(section)
    rows = {r.name: r for r in section.rows}
    for i, (name, pred) in enumerate(preds):
        f = fbeta_score(
            _one_hot(section.y, section.n_columns),
            pred,
            beta=section.beta,
            average=None,
            zero_division=0,
        )
        row = rows[name]
        color, _, fill = styles[name]
        ax.bar(
            classes + (i - (len(preds) - 1) / 2) * width,
            f,
            width=width,
            color=color,
            alpha=1.0 if fill == "full" else 0.5,
            edgecolor="black" if row.chosen else color,
            linewidth=1.2 if row.chosen else 0.5,
            label=_label(section, row),
        )
    ax.set_xticks(classes, section.names(), rotation=45 if section.n_columns > 8 else 0)
    ax.set_ylabel(f"{fname} per class")
    where = "out of fold" if out_of_fold else "refitted, in-sample"
    ax.set_title(f"per-class {fname} of every rule ({where})")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8, ncols=min(4, max(1, len(preds))), loc="upper center")
    fig.savefig(path)
    return (
        f"The {fname} of each class under each rule: "
        + (
            "the held-out predictions of the cross-validation (every row predicted by a rule "
            "fitted without it)."
            if out_of_fold
            else "the rules refitted on all the validation rows (in-sample; the "
            "cross-validated figure above is the out-of-fold view)."
        )
        + " The chosen "
        "rule's bars have black edges."
    )


def _plot_pr(section, path) -> str:
    from sklearn.metrics import precision_recall_curve

    beta2 = section.beta**2
    fig, ax = _figure(5.6, 5.0)
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
    ax.plot(recall, precision, color="0.45", lw=1.2, label="pooled PR curve (validation)")
    rows = {r.name: r for r in section.rows}
    preds, out_of_fold = _rule_predictions(section)
    for name, pred in preds:
        rec, pre = _pooled_pr(pred, y_pooled.reshape(pred.shape))
        _point(ax, section, rows[name], rec, pre, label=_label(section, rows[name]))
    ax.set_xlim(0, 1.03)
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("recall (pooled over labels)")
    ax.set_ylabel("precision (pooled over labels)")
    ax.set_title(f"precision-recall with iso-{_fname(section.beta)} lines")
    ax.legend(fontsize=8, loc="lower left")
    fig.savefig(path)
    return (
        "Precision and recall, pooled over every label (one-hot classes for multiclass), of "
        + (
            "each rule's held-out predictions (out of fold), "
            if out_of_fold
            else "each rule refitted on all the validation rows (in-sample), "
        )
        + "on the pooled "
        "precision-recall curve of the scores. Grey lines: equal F."
    )


def _name_ticks(ax, section, index):
    names = section.names()
    if len(names) <= 40:
        long = max(len(n) for n in names) > 4 or len(names) > 12
        ax.set_xticks(index, names, rotation=45 if long else 0, ha="right" if long else "center")
    ax.set_xlabel("label" if section.kind != "multiclass" else "class")


def _plot_thresholds(section, path) -> str | None:
    rows = {r.name: r for r in section.rows}
    per_class = rows.get("per_class")
    if per_class is not None and per_class.decider is not None:
        return _plot_per_label(section, per_class, rows.get("global"), path)
    weights = rows.get("weights")
    if weights is not None and hasattr(weights.decider, "weights_"):
        return _plot_weights(section, weights, path)
    return None


def _plot_per_label(section, row, glob, path) -> str:
    t = np.asarray(row.decider.thresholds_, dtype=np.float64)
    n = t.size
    fig, ax = _figure(max(6.4, min(14.0, 0.35 * n + 2)), 4.4)
    index = np.arange(n)
    color, _, _ = _styles(section)[row.name]
    split = np.array(
        [np.asarray(s, dtype=np.float64) for s in row.split_thresholds if s is not None]
    )
    finite_all = t[np.isfinite(t)]
    if split.size:
        ok = np.isfinite(split)
        finite_all = np.concatenate([finite_all, split[ok]])
        xs = np.broadcast_to(index, split.shape)
        ax.plot(
            xs[ok],
            split[ok],
            "_",
            color=color,
            alpha=0.7,
            ms=9,
            mew=1.5,
            zorder=5,
            label=f"fitted on each of {split.shape[0]} splits",
        )
    finite = np.isfinite(t)
    if row.chosen:
        ax.plot(index[finite], t[finite], "o", color=_HALO, ms=10, alpha=0.5, zorder=3)
    ax.plot(
        index[finite],
        t[finite],
        _styles(section)[row.name][1],
        color=color,
        markeredgecolor="black" if row.chosen else color,
        ms=6,
        ls="none",
        zorder=4,
        label=f"{_label(section, row)}: refitted on all rows",
    )
    top = float(np.max(finite_all)) if finite_all.size else 1.0
    if (~finite).any():
        ax.plot(
            index[~finite],
            np.full((~finite).sum(), top),
            "x",
            color="black",
            label="predicts nothing (threshold +inf)",
        )
    if glob is not None and glob.decider is not None:
        g = float(glob.decider.threshold_)
        if np.isfinite(g):
            gcolor = method_style("global")["color"]
            ax.axhline(g, color=gcolor, ls="--", lw=1, label=f"{_label(section, glob)}: {g:.3g}")
    default = section.comparison.default
    if section.comparison.response == "predict_proba" and default.error is None:
        ax.axhline(
            0.5,
            color=method_style("default")["color"],
            ls=":",
            lw=2 if default.chosen else 1,
            label=f"{_label(section, default)}: 0.5",
        )
    _name_ticks(ax, section, index)
    ax.set_ylabel("threshold")
    ax.set_title("per-label thresholds")
    ax.legend(fontsize=7)
    fig.savefig(path)
    return (
        "One threshold per label: the markers are the rule refitted on all the validation rows, "
        "the short dashes the thresholds fitted on each cross-validation split (their spread "
        "shows how firmly the data set each threshold). The dashed line is the global "
        "threshold."
    )


def _normalised_weights(w, c):
    """Weights over their geometric mean; offsets shifted to median 0, on the same scale.

    ``argmax_k (w_k p_k + c_k)`` is unchanged when every weight and offset is
    multiplied by one positive number and when one number is added to every
    offset, so only these ratios and differences mean anything.
    """
    w, c = np.asarray(w, dtype=np.float64), np.asarray(c, dtype=np.float64)
    positive = w[w > 0]
    scale = float(np.exp(np.mean(np.log(positive)))) if positive.size else 1.0
    return w / scale, (c - np.median(c)) / scale


def _plot_weights(section, row, path) -> str:
    w, c = _normalised_weights(row.decider.weights_, row.decider.offsets_)
    n = w.size
    fig, (left, right) = _figure(max(9.0, 0.7 * n + 3), 4.2, ncols=2)
    color, _, _ = _styles(section)[row.name]
    index = np.arange(n)
    edge = "black" if row.chosen else color
    if np.all(w > 0):
        left.bar(index, np.log10(w), color=color, edgecolor=edge)
        left.axhline(0, color="0.3", lw=0.8)
        left.set_ylabel("log10(w_k / geometric mean of w)")
        span = float(np.log10(w.max() / w.min()))
        left.set_title(f"class weights: {span:.1f} decades from least to most")
    else:
        left.bar(index, w, color=color, edgecolor=edge)
        left.set_ylabel("w_k / geometric mean of the positive w")
        left.set_title("class weights (some are 0 or negative)")
    with np.errstate(divide="ignore"):
        big = np.max(np.abs(c)) if c.size else 0.0
    right.bar(index, c, color=color, edgecolor=edge, alpha=0.7)
    right.axhline(0, color="0.3", lw=0.8)
    if big > 100 * max(1e-12, np.median(np.abs(c[c != 0])) if np.any(c != 0) else 1.0):
        right.set_yscale("symlog", linthresh=max(1e-6, float(np.median(np.abs(c[c != 0])))))
        right.set_title("class offsets (symmetric log scale)")
    else:
        right.set_title("class offsets")
    right.set_ylabel("(c_k - median c) / geometric mean of w")
    for ax in (left, right):
        _name_ticks(ax, section, index)
    fig.suptitle(f"{_label(section, row)}: argmax_k (w_k p_k + c_k)", fontsize=10)
    fig.savefig(path)
    return (
        "The class-weight rule predicts argmax_k (w_k p_k + c_k). Its decisions do not change "
        "when every weight and offset is multiplied by one positive number, or when one number "
        "is added to every offset, so the weights are shown divided by their geometric mean on "
        "a log10 scale (0 = a typical weight, 1 = ten times it) and the offsets, on the same "
        "scale, less their median. A large weight lifts a class that the raw probabilities "
        "rarely put first."
    )


# ---------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th:first-child, td:first-child, td.note { text-align: left; }
tr.chosen { background: #fff4d6; font-weight: 600; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em;
          border-radius: 2px; vertical-align: baseline; }
.decision { background: #f6f8fa; border-left: 4px solid #f2b705; padding: 0.6em 1em; }
.warn { color: #8a4b00; }
pre { background: #f6f8fa; padding: 0.6em 1em; overflow-x: auto; font-size: 0.88em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.2em; }
figure { margin: 0; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; max-width: 640px; }
.small { color: #666; font-size: 0.85em; }
"""


def _num(x, digits=4):
    return "&ndash;" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _swatch(section, row) -> str:
    color = _styles(section)[row.name][0]
    return f'<span class="swatch" style="background:{color}"></span>'


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
            f"<tr{cls}><td>{_swatch(section, r)}{html.escape(r.name)}</td>"
            f"<td>{_num(r.mean if ran else None)}</td>"
            f"<td>{_num(r.std if ran else None)}</td><td>{_num(r.oof_score if ran else None)}</td>"
            f"<td>{interval}</td><td>{_num(r.fit_score)}</td>"
            + (f"<td>{_num(r.test_score)}</td>" if with_test else "")
            + f'<td>{_num(r.fit_time, 2)}</td><td class="note">{html.escape(r.note)}</td></tr>'
        )
    return "<table>\n" + head + "\n" + "\n".join(body) + "\n</table>"


def _decision_notes(section) -> list[str]:
    """Plain-text sentences: what was chosen, its interval, the default and noise notes."""
    comparison = section.comparison
    chosen, default = comparison.chosen, comparison.default
    fname = _fname(section.beta)
    if chosen is None:
        return ["No rule could be fitted on these data (see the notes in the table)."]
    lo, hi = chosen.interval
    interval = f", 95% bootstrap interval [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else ""
    out = [f"Chosen: {chosen.name}, pooled out-of-fold {fname} {chosen.oof_score:.4f}{interval}."]
    eligible = [r for r in comparison.candidates if r.eligible and np.isfinite(r.oof_score)]
    best = max(eligible, key=lambda r: r.oof_score) if eligible else chosen
    if chosen is default:
        if best is not default:
            m, se = paired_gain(best, default)
            if np.isfinite(se) and m > se:  # beyond one standard error (e.g. asked for)
                out.append(
                    f"The default decision is chosen although {best.name} does better out of "
                    f"fold ({best.oof_score:.4f}; paired gain {m:+.4f} per split, standard "
                    f"error {se:.4f})."
                )
                return out
            out.append(
                f"The default decision wins: the best other rule, {best.name} "
                f"({best.oof_score:.4f}), gains {m:+.4f} per split on average over the default, "
                f"within one standard error of the paired split differences ({se:.4f}); moving "
                "the decision is not worth it on these data."
            )
        else:
            others = [r for r in eligible if r is not default]
            runner = max(others, key=lambda r: r.oof_score) if others else None
            tail = (
                f" (the best other, {runner.name}, has {runner.oof_score:.4f})"
                if runner is not None
                else ""
            )
            out.append(f"The default decision wins: no rule does better out of fold{tail}.")
        return out
    if best is not chosen:
        m, se = paired_gain(best, chosen)
        if np.isfinite(se) and m > se:  # beyond one standard error (e.g. asked for)
            out.append(
                f"{chosen.name} is chosen although {best.name} does better out of fold "
                f"({best.oof_score:.4f}; paired gain {m:+.4f} per split, standard error "
                f"{se:.4f})."
            )
            return out
        out.append(
            f"{best.name} has a higher pooled out-of-fold {fname} ({best.oof_score:.4f}), but "
            f"its mean paired gain over {chosen.name} ({m:+.4f} per split) is within one "
            f"standard error ({se:.4f}), so the simpler rule is kept."
        )
    if default.error is None and chosen.split_scores.size == default.split_scores.size:
        m, se = paired_gain(chosen, default)
        gain = chosen.oof_score - default.oof_score
        text = (
            f"Gain over the default decision ({default.oof_score:.4f}): {gain:+.4f} pooled, "
            f"{m:+.4f} &plusmn; {se:.4f} (mean &plusmn; standard error of the paired split "
            "differences)."
        )
        if np.isfinite(se) and m <= 2 * se:
            text += (
                " The margin is within two standard errors: it is within the noise of "
                "these splits and may not hold on new data."
            )
        elif np.isfinite(lo) and lo <= default.oof_score:
            text += (
                " The chosen rule's 95% interval contains the default's F, but the paired "
                "split differences (same rows for both) favour it."
            )
        out.append(text)
    if chosen.batch_dependent:
        out.append("The chosen rule decides each row depending on its batch.")
    return out


def _command_lines(section) -> tuple[str, str]:
    """The ``f1opt fit`` command and the Python lines that refit the chosen rule."""
    import f1opt

    row = section.comparison.chosen
    decider = row.decider
    data = section.fit_args or "--scores SCORES --labels LABELS"
    parts = ["f1opt fit", data, f"--method {row.method}", f"--average {section.average}"]
    if section.beta != 1:
        parts.append(f"--beta {section.beta:g}")
    calibration = getattr(decider, "calibration", None)
    if row.method == "expected" and calibration is not None:
        parts.append(f"--calibration {calibration}")
    comparison = section.comparison
    fold_mean = row.candidate.objective == "fold_mean" and comparison.target == "binary"
    folds = comparison.n_splits // max(1, comparison.n_repeats)
    seed = comparison.random_state
    if fold_mean:  # the threshold depends on the folds: name them
        parts.append(f"--objective fold_mean --cv {folds} --seed {seed}")
    parts.append("-o rule.json")
    command = " ".join(parts)
    about = f"# scores: the validation scores, shape {np.shape(section.scores)}; y: their labels\n"
    tail = 'y_pred = rule.predict(new_scores)\nrule.save("rule.json")  # f1opt.load reads it back'
    if fold_mean:
        python = (
            "from f1opt.compare import fit_rule\n"
            + about
            + f'rule = fit_rule("global", scores, y, target="binary", average="binary", '
            f"beta={section.beta:g}, cv={folds}, random_state={seed})\n" + tail
        )
        return command, python
    name = type(decider).__name__
    where = "f1opt" if name in getattr(f1opt, "__all__", ()) else type(decider).__module__
    rep = " ".join(repr(decider).split())
    python = f"from {where} import {name}\n" + about + f"rule = {rep}.fit(scores, y)\n" + tail
    return command, python


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
    positive = ""
    if section.kind == "binary" and section.label_names:
        positive = f" Positive class: {html.escape(str(section.label_names[0]))}."
    parts.append(
        f"<p>{html.escape(desc + test)}. Target: {html.escape(section.average)} "
        f"{_fname(section.beta)}; every rule cross-validated on the same splits "
        f"({section.comparison.folds_text}) of the validation data ({rule}), then refitted "
        f"on all of it (<em>fit</em>: in-sample; <em>test</em>: held-out).{positive}</p>"
    )
    notes = _decision_notes(section)
    box = [f"<p><strong>{html.escape(notes[0])}</strong></p>"]
    for note in notes[1:]:
        warn = "noise" in note or "default decision wins" in note
        box.append(f'<p class="{"warn" if warn else ""}">{note}</p>')
    chosen = section.comparison.chosen
    if chosen is not None and chosen.decider is not None:
        summary = rule_summary(chosen.decider, shown=10)
        if summary:
            end = "" if summary.endswith(".") else "."
            box.append(f"<p>Refitted on all the validation rows: {html.escape(summary)}{end}</p>")
        command, python = _command_lines(section)
        box.append("<h3>Reproduce the chosen rule</h3>")
        box.append(f"<pre>{html.escape(command)}</pre>")
        if not section.fit_args:
            box.append(
                '<p class="small">SCORES and LABELS stand for files holding these validation '
                "scores and labels (CSV, NPY, NPZ or Parquet).</p>"
            )
        box.append(f"<pre>{html.escape(python)}</pre>")
    parts.append('<div class="decision">' + "\n".join(box) + "</div>")
    parts.append(_table_html(section))
    for note in section.notes:
        parts.append(f'<p class="small">{html.escape(note)}</p>')
    parts.append('<div class="figures">')
    for name, alt, caption in figures:
        parts.append(
            f'<figure><img src="{html.escape(name)}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def _write_contents(directory: Path, sections, title: str) -> Path:
    from ._version import __version__

    blocks = []
    for i, section in enumerate(sections, start=1):
        figures = []
        for suffix, plot, alt in (
            ("cv", _plot_cv, "cross-validated F of every rule"),
            ("f-threshold", _plot_f_threshold, "F against the threshold, out of fold"),
            ("pr", _plot_pr, "precision-recall curve with iso-F lines"),
            ("thresholds", _plot_thresholds, "per-label thresholds or class weights"),
        ):
            name = f"s{i}-{suffix}.png"
            caption = plot(section, directory / name)
            if caption is not None:
                figures.append((name, alt, caption))
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
