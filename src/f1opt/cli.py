"""The ``f1opt`` command line: fit, apply, evaluate, compare and demo.

Results go to stdout, messages and progress bars to stderr. Exit status 0 on
success, 2 on bad usage or bad input (with a one-line reason and no
traceback), 1 on an unexpected internal error (``F1OPT_DEBUG=1`` shows its
traceback). Outputs are written under a temporary name and renamed; an
existing output is kept unless ``--force``; inputs are never written.

``main(argv)`` takes a list of arguments, so tests and scripts can call it
without starting a process.

Examples
--------
>>> from f1opt.cli import main
>>> main(["fit", "--method", "nonsense"])
2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .compare import N_REPEATS, candidates_for, check_has_positive, compare, f_score, fit_rule
from .io import (
    TableInfo,
    check_output_path,
    encode_target,
    is_sparse_npz,
    positive_column,
    read_scores_and_labels,
    read_table,
    save_rule,
    split_columns,
    write_table,
)
from .methods import (
    METHOD_NAMES,
    check_method_name,
    is_batch_dependent,
    make_decider,
    method_reason,
    rule_summary,
)
from .metrics import AVERAGES

__all__ = [
    "main",
    "Task",
    "load_task",
    "make_task",
    "run_comparison",
    "default_predictions",
]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2
_AVERAGES = {
    "binary": ("binary",),
    "multilabel": ("micro", "macro", "weighted", "samples"),
    "multiclass": ("macro", "weighted", "micro"),
}
_DEFAULT_AVERAGE = {"binary": "binary", "multilabel": "micro", "multiclass": "macro"}

log = logging.getLogger("f1opt.cli")


class UsageError(ValueError):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------
# tasks: scores + labels, checked together


@dataclass
class Task:
    """Validated scores and labels and what kind of problem they make.

    Attributes
    ----------
    kind : {"binary", "multilabel", "multiclass"}
    scores : ndarray of shape (n,) or (n, L) or (n, K)
    y : ndarray of shape (n,) 0/1, (n, L) 0/1, or (n,) class ids in 0..K-1
    n_columns : int
        1 for binary, L or K otherwise.
    info : TableInfo or None
        How the score file looked.
    """

    kind: str
    scores: np.ndarray
    y: np.ndarray
    n_columns: int
    info: TableInfo | None = None
    source: str = ""

    def describe(self) -> str:
        """One line: kind, rows and columns."""
        what = {"binary": "binary", "multilabel": "labels", "multiclass": "classes"}[self.kind]
        columns = "" if self.kind == "binary" else f", {self.n_columns} {what}"
        return f"{self.kind}{columns}, {self.scores.shape[0]} rows"


def _squeeze(array: np.ndarray) -> np.ndarray:
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def check_score_array(scores: np.ndarray, source: str) -> np.ndarray:
    """Scores as a 1-D or 2-D finite float array (ValueError naming ``source``)."""
    from ._validation import check_scores

    try:
        return check_scores(_squeeze(np.asarray(scores)), name="scores")
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def make_task(scores, labels, *, scores_source="scores", labels_source="labels") -> Task:
    """Check scores and labels together and decide binary, multilabel or multiclass.

    Binary: one score column and one label column of 0/1. Multilabel: L score
    columns and an L-column 0/1 indicator matrix. Multiclass: K >= 2 score
    columns (probabilities) and one label column of class ids in 0..K-1.
    """
    from ._validation import check_binary_labels, check_indicator_labels

    scores = check_score_array(scores, scores_source)
    labels = _squeeze(np.asarray(labels))
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(
            f"rows do not match: {scores_source} has {scores.shape[0]} rows, "
            f"{labels_source} has {labels.shape[0]}"
        )
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError(f"{labels_source}: labels contain NaN or infinite values")
    try:
        if scores.ndim == 1:
            if labels.ndim != 1:
                raise ValueError(
                    f"{scores_source} has one score column but {labels_source} has "
                    f"{labels.shape[1]} label columns"
                )
            y = check_binary_labels(labels, name="labels")
            return Task("binary", scores, y, 1, source=scores_source)
        n_columns = scores.shape[1]
        if labels.ndim == 2:
            if labels.shape[1] != n_columns:
                raise ValueError(
                    f"{scores_source} has {n_columns} score columns but {labels_source} has "
                    f"{labels.shape[1]} label columns"
                )
            y = check_indicator_labels(labels, name="labels")
            return Task("multilabel", scores, y, n_columns, source=scores_source)
    except ValueError as exc:
        if str(exc).startswith("`labels`"):
            raise ValueError(f"{labels_source}: {exc}") from None
        raise
    # one label column with several score columns: class ids
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{labels_source}: class ids must be integers")
    if not np.array_equal(labels, np.round(labels)):
        raise ValueError(
            f"{labels_source}: one label column with {n_columns} score columns must hold "
            "integer class ids, but it holds fractions"
        )
    low, high = labels.min(), labels.max()
    if low < 0 or high >= n_columns:
        raise ValueError(
            f"{labels_source}: class ids must lie in 0..{n_columns - 1} (one per score "
            f"column), but they range over {low:g}..{high:g}"
        )
    return Task("multiclass", scores, labels.astype(np.int64), n_columns, source=scores_source)


def load_task(
    scores_path,
    labels_path=None,
    *,
    key=None,
    label_key=None,
    id_column=None,
    score_columns=None,
    label_columns=None,
    pos_label=None,
    header=True,
) -> Task:
    """Read a score file and a label file and check them together.

    When ``labels_path`` is None the labels are read from the score file
    (``label_columns`` must then name them, and the scores are the other
    columns). Text labels, ``pos_label`` and two probability columns of a
    binary problem are handled by :func:`f1opt.io.encode_target`; the names
    behind the numbers land in ``task.info.classes`` and ``task.info.positive``.
    """
    from dataclasses import replace

    if labels_path is None and label_columns is None:
        raise UsageError("--labels is required (or --label-columns to read them from --scores)")
    scores, labels, info, label_info = read_scores_and_labels(
        scores_path,
        labels_path,
        key=key,
        label_key=label_key,
        id_column=id_column,
        score_columns=score_columns,
        label_columns=label_columns,
        header=header,
    )
    labels_path = scores_path if labels_path is None else labels_path
    target = encode_target(
        scores,
        labels,
        score_names=info.columns,
        label_names=label_info.columns,
        pos_label=pos_label,
        scores_source=str(scores_path),
        labels_source=str(labels_path),
    )
    task = make_task(
        target.scores,
        target.y,
        scores_source=str(scores_path),
        labels_source=str(labels_path),
    )
    task.info = replace(
        info, classes=target.classes, positive=target.positive, class_names=target.class_names
    )
    return task


# ---------------------------------------------------------------------------
# methods (the table is f1opt.methods, the comparison f1opt.compare)


def _method_arg(value: str) -> str:
    """The type of --method: a name of the method table, or "auto"."""
    if value == "auto":
        return value
    try:
        return check_method_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def default_predictions(kind: str, scores: np.ndarray) -> np.ndarray:
    """The decision without f1opt: ``scores >= 0.5``, or the argmax for multiclass."""
    rule = make_decider("default", average=_DEFAULT_AVERAGE[kind], target=kind)
    return rule.fit(scores).predict(scores)


@contextlib.contextmanager
def _progress(total: int, desc: str, quiet: bool):
    from ._progress import progress_bar

    with progress_bar(total, desc=desc, enabled=False if quiet else None, unit="fold") as bar:
        yield bar


def run_comparison(
    task: Task,
    *,
    average: str,
    beta: float = 1.0,
    methods="auto",
    n_folds=5,
    seed=0,
    test: Task | None = None,
    quiet=False,
    desc="cross-validation",
    options=None,
    n_repeats=N_REPEATS,
):
    """:func:`f1opt.compare.compare` on a task, with a progress bar on stderr.

    Returns
    -------
    comparison : f1opt.compare.Comparison
    """
    if isinstance(n_folds, bool) or n_folds < 2:
        raise UsageError(f"--cv must be at least 2, but got {n_folds}")
    if n_folds > task.scores.shape[0]:
        raise ValueError(
            f"--cv {n_folds} needs at least {n_folds} rows, but there are {task.scores.shape[0]}"
        )
    if isinstance(n_repeats, bool) or n_repeats < 1:
        raise UsageError(f"--repeats must be at least 1, but got {n_repeats}")
    candidates = candidates_for(task.kind, average, methods=methods)
    with _progress(len(candidates) * n_folds * n_repeats, desc, quiet) as bar:

        def step(name, split):
            bar.set_postfix_str(name)
            bar.update(1)

        comparison = compare(
            task.scores,
            task.y,
            target=task.kind,
            average=average,
            beta=beta,
            methods=methods,
            cv=n_folds,
            n_repeats=n_repeats,
            random_state=seed,
            options=options,
            test=None if test is None else (test.scores, test.y),
            n_columns=task.n_columns,
            progress=step,
        )
    for c in comparison.candidates:
        if c.error is not None:
            log.warning("method %s skipped: %s", c.name, c.error)
    return comparison


# ---------------------------------------------------------------------------
# commands


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    text = " ".join(text.split())
    return text or type(exc).__name__


def _resolve_average(kind: str, average: str | None) -> str:
    if average is None:
        return _DEFAULT_AVERAGE[kind]
    if average not in _AVERAGES[kind]:
        allowed = ", ".join(_AVERAGES[kind])
        raise UsageError(f"--average {average} does not fit {kind} labels (use one of: {allowed})")
    return average


def _check_beta(beta) -> float:
    from ._validation import check_beta

    try:
        return check_beta(beta)
    except ValueError:
        raise UsageError(
            f"--beta must be a finite number larger than 0, but got {beta!r}"
        ) from None


def _task_from_args(args, scores=None, labels=None) -> Task:
    return load_task(
        scores if scores is not None else args.scores,
        labels if labels is not None else args.labels,
        key=args.key,
        label_key=args.label_key,
        id_column=args.id_column,
        score_columns=split_columns(args.score_columns),
        label_columns=split_columns(args.label_columns),
        pos_label=getattr(args, "pos_label", None),
        header=not getattr(args, "no_header", False),
    )


def _inputs(args) -> list:
    return [
        getattr(args, name, None)
        for name in ("scores", "labels", "test_scores", "test_labels", "rule")
    ]


def _cmd_fit(args) -> int:
    beta = _check_beta(args.beta)
    options = _options(args)
    if args.calibration is not None:
        if args.method != "expected":
            raise UsageError("--calibration is an option of --method expected")
        options["expected"] = {"calibration": args.calibration}
    output = check_output_path(args.output, force=args.force, inputs=_inputs(args))
    if args.engine == "dask":
        return _fit_dask(args, beta, output)
    if is_sparse_npz(args.scores):
        return _fit_sparse(args, beta, output)
    if args.method == "stretcher":  # its weights beside the JSON: refuse before training
        check_output_path(
            output.with_name(
                (output.stem if output.suffix == ".json" else output.name) + ".safetensors"
            ),
            force=args.force,
            inputs=_inputs(args),
            what=f"the weights of the rule {output.name}",
        )
    task = _task_from_args(args)
    average = _resolve_average(task.kind, args.average)
    method = args.method or "auto"
    log.info("%s: %s", args.scores, task.describe())
    check_has_positive(task.kind, task.y, average)
    if method == "auto":
        comparison = run_comparison(
            task,
            average=average,
            beta=beta,
            n_folds=args.cv,
            n_repeats=args.repeats,
            seed=args.seed,
            quiet=args.quiet,
            options=options,
        )
        best = comparison.chosen
        if best is None or best.decider is None:
            raise ValueError("no method could be fitted on these data (see the messages above)")
        print(comparison.format_table())
        decider, chosen = best.decider, best.name
    else:
        reason = method_reason(method, task.kind, average)
        if reason is not None:
            raise UsageError(
                f"method {method!r} does not apply to {task.kind} data with average "
                f"{average!r}: {reason}"
            )
        decider = fit_rule(  # the rule compare refits as this candidate
            method,
            task.scores,
            task.y,
            target=task.kind,
            average=average,
            beta=beta,
            cv=args.cv,
            random_state=args.seed,
            objective=args.objective,
            options=_method_options(method, options, quiet=args.quiet),
        )
        chosen = method
    score = f_score(
        task.kind,
        task.y,
        decider.predict(task.scores),
        beta=beta,
        average=average,
        n_columns=task.n_columns,
    )
    names = task.info.class_names if task.kind in ("multiclass", "binary") and task.info else None
    save_rule(decider, output, force=args.force, inputs=_inputs(args), class_names=names)
    print(
        f"method: {chosen} ({type(decider).__name__}), {average} F{beta:g} on the fitted data: "
        f"{score:.4f}"
    )
    summary = rule_summary(decider)
    if summary:
        print(summary)
    print(f"rule written to {output}")
    if is_batch_dependent(decider):
        log.warning(
            "this rule decides each row depending on the other rows of its batch; "
            "apply it with --batch to a file that is the whole batch"
        )
    return EXIT_OK


def _method_options(method: str, options: dict, *, quiet: bool) -> dict:
    extra = dict(options.get(method, {}))
    if method == "stretcher":
        extra.setdefault("verbose", not quiet)
    return extra


def _options(args) -> dict:
    epochs = getattr(args, "epochs", None)
    if epochs is None:
        return {}
    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, but got {epochs}")
    return {"stretcher": {"epochs": epochs}}


def _fit_dask(args, beta: float, output: Path) -> int:
    from .distributed import fit_parquet

    scores_cols = split_columns(args.score_columns)
    label_cols = split_columns(args.label_columns)
    if not scores_cols or not label_cols:
        raise UsageError("--engine dask needs --score-columns and --label-columns")
    method = args.method or "global"
    if method not in ("global", "per_class"):
        raise UsageError(f"--engine dask fits methods global and per_class, not {method!r}")
    average = args.average or ("binary" if len(scores_cols) == 1 else "micro")
    if method == "per_class" and average not in ("micro", "macro", "weighted"):
        raise UsageError("method 'per_class' needs --average micro, macro or weighted")
    if method == "global" and average == "samples" and len(scores_cols) < 2:
        raise UsageError("--average samples needs two or more score columns (one per label)")
    if len(scores_cols) > 1 and average == "binary":
        raise UsageError(f"--average binary takes one score column, but got {len(scores_cols)}")
    decider = fit_parquet(
        args.scores,
        scores_cols,
        label_cols,
        method=method,
        average=average,
        beta=beta,
    )
    save_rule(decider, output, force=args.force, inputs=_inputs(args))
    print(
        f"method: {method} ({type(decider).__name__}) on Dask, {average} F{beta:g} on the "
        f"fitted data: {float(decider.best_score_):.4f}"
    )
    print(rule_summary(decider))
    print(f"rule written to {output}")
    return EXIT_OK


def _fit_sparse(args, beta: float, output: Path) -> int:
    """Fit on scores written by scipy.sparse.save_npz (an unstored entry is never positive)."""
    from .deciders import GlobalThreshold, PerClassThreshold
    from .thresholds import read_sparse_scores

    if args.labels is None:
        raise UsageError("--labels is required with sparse (scipy.sparse.save_npz) scores")
    method = args.method or "global"
    if method not in ("global", "per_class"):
        raise UsageError(f"sparse scores fit methods global and per_class, not {method!r}")
    average = args.average or "micro"
    scores = read_sparse_scores(args.scores)
    if is_sparse_npz(args.labels):
        labels = read_sparse_scores(args.labels)
    else:
        labels, _ = read_table(args.labels, key=args.label_key)
    cls = GlobalThreshold if method == "global" else PerClassThreshold
    decider = cls(beta=beta, average=average).fit(scores, labels)
    save_rule(decider, output, force=args.force, inputs=_inputs(args))
    print(
        f"method: {method} ({type(decider).__name__}) on sparse scores {scores.shape} "
        f"({scores.nnz} stored), {average} F{beta:g} on the fitted data: "
        f"{float(decider.best_score_):.4f}"
    )
    print(rule_summary(decider))
    print(f"rule written to {output}")
    return EXIT_OK


def _load_rule(path):
    from ._io import load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"rule file {str(path)!r} does not exist")
    try:
        return load(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"rule file: {_one_line(exc)}") from None


def _predict_rule(rule, scores):
    try:
        return np.asarray(rule.predict(scores))
    except ValueError as exc:
        raise ValueError(f"the rule does not fit these scores: {_one_line(exc)}") from None


def _check_batch_rule(rule, args) -> None:
    """A batch-dependent rule is applied only with --batch, and says so."""
    if not is_batch_dependent(rule):
        return
    name = type(rule).__name__
    if not getattr(args, "batch", False):
        raise UsageError(
            f"{args.rule} holds a batch rule ({name}, average "
            f"{getattr(rule, 'average_', '?')!r}): its decision for a row depends on the "
            "other rows of the file; pass --batch to decide the whole file as one batch"
        )
    print(
        f"f1opt: note: {name} is a batch rule: every row is decided together with the "
        "other rows of this file (--batch)",
        file=sys.stderr,
    )


def _cmd_apply(args) -> int:
    output = check_output_path(args.output, force=args.force, inputs=_inputs(args))
    rule = _load_rule(args.rule)
    _check_batch_rule(rule, args)
    data, info = read_table(
        args.scores,
        key=args.key,
        id_column=args.id_column,
        columns=split_columns(args.score_columns),
        require_id=True,
        header=not args.no_header,
    )
    scores = check_score_array(data, str(args.scores))
    if (
        scores.ndim == 2
        and scores.shape[1] == 2
        and getattr(rule, "n_labels_", None) == 0  # a binary rule: one score per row
    ):
        j = positive_column(info.columns, args.pos_label)
        log.info(
            "%s: 2 probability columns, binary rule: column %s is the positive class's "
            "(--pos-label chooses the other)",
            args.scores,
            repr(info.columns[j]) if info.columns is not None else j + 1,
        )
        scores = scores[:, j]
    elif args.pos_label is not None:
        raise UsageError(
            "--pos-label in apply chooses one of two probability columns for a binary rule"
        )
    pred = _predict_rule(rule, scores)
    if pred.shape[0] != scores.shape[0]:
        raise ValueError(
            f"the rule returned {pred.shape[0]} predictions for {scores.shape[0]} rows"
        )
    names = getattr(rule, "class_names_", None)
    multiclass = pred.ndim == 1 and scores.ndim == 2
    if pred.ndim == 1 and names is not None:  # the rule was fitted on named classes
        write_table(output, np.asarray(names, dtype=str)[pred.astype(np.int64)], like=info)
        kind = "class names"
    else:
        write_table(output, pred.astype(np.int64), like=info)
        kind = "class ids" if multiclass else "0/1 predictions"
    width = "" if pred.ndim == 1 else f" x {pred.shape[1]} labels"
    print(f"{pred.shape[0]} rows{width} of {kind} written to {output}")
    return EXIT_OK


def _cmd_evaluate(args) -> int:
    task = _task_from_args(args)
    rule = _load_rule(args.rule) if args.rule else None
    beta = args.beta
    if beta is None:
        beta = float(getattr(rule, "beta", 1.0)) if rule is not None else 1.0
    beta = _check_beta(beta)
    averages = (
        (_resolve_average(task.kind, args.average),) if args.average else _AVERAGES[task.kind]
    )
    default = default_predictions(task.kind, task.scores)
    pred = _predict_rule(rule, task.scores) if rule is not None else None
    fname = "F1" if beta == 1 else f"F{beta:g}"
    base_name = "argmax" if task.kind == "multiclass" else "0.5 default"
    print(f"{fname} on {args.scores} ({task.describe()})")
    header = f"{'average':10s} {base_name:>12s}"
    if rule is not None:
        header += f" {'rule':>12s}   ({type(rule).__name__} from {args.rule})"
    print(header)
    for average in averages:
        kw = dict(beta=beta, average=average, n_columns=task.n_columns)
        line = f"{average:10s} {f_score(task.kind, task.y, default, **kw):12.4f}"
        if pred is not None:
            line += f" {f_score(task.kind, task.y, pred, **kw):12.4f}"
        print(line)
    return EXIT_OK


def _check_report_dir(path, force: bool, replace_own: bool = False) -> Path:
    from .report import check_report_dir

    return check_report_dir(path, force=force, replace_own=replace_own)


def _cmd_compare(args) -> int:
    beta = _check_beta(args.beta)
    options = _options(args)
    report_dir = _check_report_dir(args.report, args.force) if args.report else None
    task = _task_from_args(args)
    average = _resolve_average(task.kind, args.average)
    test = None
    if (args.test_scores is None) != (args.test_labels is None):
        raise UsageError("--test-scores and --test-labels go together")
    if args.test_scores is not None:
        test = _task_from_args(args, args.test_scores, args.test_labels)
        if (test.kind, test.n_columns) != (task.kind, task.n_columns):
            raise ValueError(
                f"the test files make a {test.describe()} problem, but the validation files "
                f"a {task.describe()} one"
            )
    methods = "auto"
    if args.methods:
        methods = split_columns(args.methods)
        for m in methods:
            try:
                check_method_name(m)
            except ValueError as exc:
                raise UsageError(f"--methods: {exc}") from None
            reason = method_reason(m, task.kind, average)
            if reason:
                raise UsageError(f"method {m!r} does not apply: {reason}")
    log.info("%s: %s", args.scores, task.describe())
    check_has_positive(task.kind, task.y, average)
    comparison = run_comparison(
        task,
        average=average,
        beta=beta,
        methods=methods,
        n_folds=args.cv,
        n_repeats=args.repeats,
        seed=args.seed,
        test=test,
        quiet=args.quiet,
        options=options,
    )
    print(comparison.format_table(with_test=test is not None))
    if report_dir is not None:
        from .report import Section, write_report

        section = Section(
            title=f"{Path(args.scores).name}: {task.describe()}",
            comparison=comparison,
            scores=task.scores,
            y=task.y,
            description=task.describe(),
            test_description=test.describe() if test is not None else "",
            label_names=_label_names(task),
            fit_args=_fit_data_args(args),
        )
        index = write_report(report_dir, [section], title="f1opt comparison", force=args.force)
        log.info("report written to %s", index)
    return EXIT_OK


def _label_names(task: Task) -> list | None:
    """Label or class names as in the files (binary: the positive class), for the report."""
    info = task.info
    if info is None:
        return None
    if task.kind == "binary":
        return [info.positive] if info.positive is not None else None
    names = info.classes if info.classes is not None else info.columns
    return list(names) if names is not None and len(names) == task.n_columns else None


def _fit_data_args(args) -> str:
    """The data options of this command, as ``f1opt fit`` takes them (for the report)."""
    import shlex

    parts = []
    for option, name in (
        ("--scores", "scores"),
        ("--labels", "labels"),
        ("--key", "key"),
        ("--label-key", "label_key"),
        ("--id-column", "id_column"),
        ("--score-columns", "score_columns"),
        ("--label-columns", "label_columns"),
        ("--pos-label", "pos_label"),
    ):
        value = getattr(args, name, None)
        if value is not None:
            parts.append(f"{option} {shlex.quote(str(value))}")
    if getattr(args, "no_header", False):
        parts.append("--no-header")
    if getattr(args, "epochs", None) is not None:
        parts.append(f"--epochs {args.epochs}")
    return " ".join(parts)


def _cmd_demo(args) -> int:
    from .demo import run_from_args

    return run_from_args(args)


# ---------------------------------------------------------------------------
# the parser


def _add_data_args(
    p, labels=True, key_help="NPZ array of the scores, when the archive holds several"
):
    p.add_argument(
        "--scores",
        required=True,
        metavar="FILE",
        help="scores: CSV/TSV (also .gz), NPY, NPZ or Parquet; 1 column (binary), 2 "
        "probability columns of a binary predict_proba, L columns (multilabel) or K class "
        "probabilities (multiclass)",
    )
    if labels:
        p.add_argument(
            "--labels",
            metavar="FILE",
            help="labels: one column of 0/1, True/False, two classes with --pos-label, "
            "class ids or class names; or an indicator matrix (default: --label-columns "
            "of --scores)",
        )
        p.add_argument(
            "--label-key",
            metavar="NAME",
            help="NPZ array of the labels, when --labels (or --scores) holds several arrays",
        )
        p.add_argument(
            "--label-columns",
            metavar="A,B",
            help="CSV/Parquet label columns; without --labels they are read from --scores, "
            "whose other columns are then the scores (default: all but the id column)",
        )
    p.add_argument("--key", metavar="NAME", help=key_help)
    p.add_argument(
        "--id-column",
        metavar="NAME",
        help="CSV/Parquet column of row ids, never read as numbers and written back beside "
        "the predictions (a 0-based number without header). Without it, pandas' unnamed "
        "index column, a column named id or index, or a first column of text are the ids",
    )
    p.add_argument(
        "--score-columns",
        metavar="A,B",
        help="CSV/Parquet score columns, in this order (default: all but the ids and the "
        "label columns)",
    )
    p.add_argument(
        "--no-header",
        action="store_true",
        help="the CSV files have no header row: the first row is data (default: the first "
        "row names the columns, unless it holds a number that is not an integer)",
    )
    p.add_argument(
        "--pos-label",
        metavar="LABEL",
        help="the positive class of a binary target: a label value (e.g. yes) or, for two "
        "probability columns, a column name (default: 1 or True; the second column)",
    )


def _add_common(p):
    p.add_argument("-q", "--quiet", action="store_true", help="no messages or progress bars")


_EXAMPLES = {
    "f1opt": """examples:
  f1opt fit --scores val_scores.csv --labels val_labels.csv -o rule.json
  f1opt apply --rule rule.json --scores new_scores.csv -o predictions.csv
  f1opt compare --scores val_scores.csv --labels val_labels.csv --report report
  f1opt demo
Run 'f1opt COMMAND --help' for the options of a command.""",
    "fit": """examples:
  # choose a rule by cross-validation (method auto) and save it
  f1opt fit --scores val_scores.csv --labels val_labels.csv -o rule.json
  # one global threshold for F2, labels in a column of the score file
  f1opt fit --scores val.parquet --label-columns y --method global --beta 2 -o rule.json
  # class weights for multiclass macro-F1 from predict_proba saved with numpy
  f1opt fit --scores proba.npy --labels y.npy --method weights --average macro -o rule.json""",
    "apply": """examples:
  f1opt apply --rule rule.json --scores new_scores.csv -o predictions.csv
  # two probability columns of a binary predict_proba; 'yes' is the positive column
  f1opt apply --rule rule.json --scores proba.csv --pos-label yes -o predictions.csv
  # a batch rule (expected F over the batch): the whole file is one batch
  f1opt apply --rule expected.json --scores batch.parquet --batch -o decisions.parquet""",
    "evaluate": """examples:
  f1opt evaluate --scores test_scores.csv --labels test_labels.csv --rule rule.json
  f1opt evaluate --scores test.npz --key scores --label-key labels --average macro""",
    "compare": """examples:
  f1opt compare --scores val_scores.csv --labels val_labels.csv \\
      --test-scores test_scores.csv --test-labels test_labels.csv --report report
  f1opt compare --scores val.npz --key scores --label-key labels \\
      --methods global,per_class --cv 10 --repeats 2 --seed 1""",
    "demo": """examples:
  f1opt demo
  f1opt demo --report /tmp/f1opt-report --cv 5 --quiet""",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``f1opt``."""
    from ._version import __version__

    parser = _Parser(
        prog="f1opt",
        description="F1/F-beta-optimal decisions from classifier scores.",
        epilog=_EXAMPLES["f1opt"]
        + "\n\nExit status: 0 success, 2 bad usage or input, 1 internal error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"f1opt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "fit",
        help="fit a decision rule and save it as JSON",
        description="Fit a decision rule on validation scores and labels.",
        epilog=_EXAMPLES["fit"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_args(p)
    p.add_argument(
        "--method",
        type=_method_arg,
        default=None,
        metavar="{" + ",".join(("auto", *METHOD_NAMES)) + "}",
        help="default: auto (cross-validate the default decision and the applicable "
        "methods on shared folds; a method replaces a simpler one only when it wins by more "
        "than one standard error of the paired fold differences; global with --engine dask)",
    )
    p.add_argument(
        "--average",
        choices=AVERAGES,
        help="default: binary, micro (multilabel) or macro (multiclass)",
    )
    p.add_argument("--beta", type=float, default=1.0, help="F-beta weight of recall (default 1)")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="RULE.json",
        help="where to save the rule (JSON; the stretcher's weights go beside it)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument(
        "--cv",
        type=int,
        default=5,
        help="folds of --method auto and of a binary global rule's fold-mean threshold (default 5)",
    )
    p.add_argument(
        "--objective",
        choices=("pooled", "fold_mean"),
        default="pooled",
        help="--method global on binary scores: the threshold best on all the scores (pooled, "
        "default, as GlobalThreshold().fit) or the exact maximiser of the mean F over --cv "
        "shuffled folds seeded by --seed (fold_mean, what --method auto uses)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=N_REPEATS,
        help=f"rounds of shuffled folds for auto (default {N_REPEATS})",
    )
    p.add_argument("--epochs", type=int, help="stretcher: most training epochs (default 200)")
    p.add_argument(
        "--calibration",
        choices=("isotonic", "sigmoid"),
        help="expected: calibrate the scores into probabilities first (default: none for "
        "probabilities)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the folds and the stretcher (default 0)"
    )
    p.add_argument(
        "--engine",
        choices=("memory", "dask"),
        default="memory",
        help="dask: --scores is a Parquet glob read out of core",
    )
    _add_common(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "apply",
        help="apply a saved rule to scores",
        description="Write predictions in the input's format family.",
        epilog=_EXAMPLES["apply"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rule", required=True, metavar="RULE.json", help="a rule saved by f1opt fit")
    _add_data_args(p, labels=False)
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="its suffix chooses the format; an unknown one keeps the input's",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument(
        "--batch",
        action="store_true",
        help="allow a batch rule (expected-F over a batch): the whole file is one batch",
    )
    _add_common(p)
    p.set_defaults(func=_cmd_apply)

    p = sub.add_parser(
        "evaluate",
        help="F-beta of a rule and of the 0.5 default",
        description="F-beta with the rule and with the 0.5 default (argmax for multiclass).",
        epilog=_EXAMPLES["evaluate"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_args(p)
    p.add_argument(
        "--rule",
        metavar="RULE.json",
        help="a rule saved by f1opt fit (default: only the 0.5 default or argmax)",
    )
    p.add_argument(
        "--average",
        choices=AVERAGES,
        help="default: every average that fits the labels",
    )
    p.add_argument("--beta", type=float, default=None, help="default: the rule's beta, or 1")
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "compare",
        help="compare every applicable method",
        description="Cross-validate every applicable method on the validation "
        "files, score it on the test files, write a report.",
        epilog=_EXAMPLES["compare"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_args(p)
    p.add_argument(
        "--test-scores",
        metavar="FILE",
        help="held-out scores on which every refitted rule is scored (with --test-labels)",
    )
    p.add_argument(
        "--test-labels", metavar="FILE", help="the labels of --test-scores (same format rules)"
    )
    p.add_argument(
        "--average",
        choices=AVERAGES,
        help="the F-beta compared (default: binary, micro (multilabel) or macro (multiclass))",
    )
    p.add_argument("--beta", type=float, default=1.0, help="F-beta weight of recall (default 1)")
    p.add_argument(
        "--methods",
        metavar="A,B",
        help=f"methods among {', '.join(METHOD_NAMES)} (default: those of --method auto)",
    )
    p.add_argument("--cv", type=int, default=5, help="folds (default 5)")
    p.add_argument(
        "--repeats",
        type=int,
        default=N_REPEATS,
        help=f"rounds of shuffled folds (default {N_REPEATS}; the stretcher trains once per split)",
    )
    p.add_argument("--epochs", type=int, help="stretcher: most training epochs (default 200)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the folds, the bootstrap and the stretcher (default 0)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="write the HTML report (index.html and its figures) into DIR",
    )
    p.add_argument("--force", action="store_true", help="replace an existing report")
    _add_common(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "demo",
        help="every method on built-in data, with a report",
        description="The stretcher toy, the bundled emotions data set and scikit-learn's "
        "digits: every method side by side, report in ./f1opt-report/.",
        epilog=_EXAMPLES["demo"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .demo import add_arguments as add_demo_arguments

    add_demo_arguments(p)
    p.set_defaults(func=_cmd_demo)
    return parser


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger("f1opt")
    for handler in list(logger.handlers):
        if getattr(handler, "_f1opt_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._f1opt_cli = True
    handler.setFormatter(logging.Formatter("f1opt: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False


_INPUT_ERRORS = (
    ValueError,
    OSError,
    LookupError,
    ImportError,
    json.JSONDecodeError,
    zipfile.BadZipFile,
    UnicodeError,
)


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 success, 2 bad usage or input, 1 internal error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"f1opt: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    _setup_logging(getattr(args, "quiet", False))
    try:
        return args.func(args)
    except _INPUT_ERRORS as exc:
        if os.environ.get("F1OPT_DEBUG"):
            raise
        print(f"f1opt: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("f1opt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a bare traceback
        if os.environ.get("F1OPT_DEBUG"):
            raise
        print(
            f"f1opt: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(set F1OPT_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
