"""``f1opt demo`` (and ``python -m f1opt.demo``): the main job on built-in data.

Two data sets, every applicable method side by side, and the HTML report:

* the stretcher write-up's toy problem (100 labels; uniform scores whose labels
  are set by hidden per-label thresholds), fitted on ``n_train`` rows and
  tested on 10 000;
* the bundled emotions data set (MULAN's official split, see
  ``f1opt/datasets/data/SOURCES.md``) with a one-vs-rest logistic regression
  as the base model: out-of-fold scores on the training part are the
  validation scores, the model refitted on all of it scores the test part.
  Once with micro-F1, once with samples-F1 (where the expected-F plug-in
  applies), and its rarest label alone as a binary problem;
* scikit-learn's digits (multiclass, 10 classes) with Gaussian naive Bayes
  probabilities, where class weights and offsets apply.

Every method of the table that serves the data (the stretcher and the
batch-dependent expected-F rule included, asked for explicitly; the latter is
never chosen) is cross-validated with :func:`f1opt.compare.compare` on the same
folds of the validation scores, refitted on all of them and scored on the test
scores.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings

import numpy as np

log = logging.getLogger("f1opt.demo")


def emotions_scores(seed: int = 0, n_folds: int = 5):
    """Validation (out-of-fold) and test scores of a one-vs-rest logistic regression.

    Returns
    -------
    val_scores : ndarray of shape (391, 6)
    Y_train : ndarray of int8 of shape (391, 6)
    test_scores : ndarray of shape (202, 6)
    Y_test : ndarray of int8 of shape (202, 6)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .datasets import load_emotions

    data = load_emotions()
    model = make_pipeline(
        StandardScaler(), OneVsRestClassifier(LogisticRegression(C=0.1, solver="liblinear"))
    )
    folds = KFold(n_folds, shuffle=True, random_state=seed)
    val = cross_val_predict(model, data.X_train, data.Y_train, cv=folds, method="predict_proba")
    model.fit(data.X_train, data.Y_train)
    test = model.predict_proba(data.X_test)
    return val, data.Y_train, test, data.Y_test


def digits_scores(seed: int = 0, n_folds: int = 5):
    """Out-of-fold and test class probabilities of Gaussian naive Bayes on digits.

    Returns
    -------
    val_scores : ndarray of shape (1078, 10)
    y_val : ndarray of shape (1078,)
    test_scores : ndarray of shape (719, 10)
    y_test : ndarray of shape (719,)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
    from sklearn.naive_bayes import GaussianNB

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=seed, stratify=y
    )
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    val = cross_val_predict(GaussianNB(), X_train, y_train, cv=folds, method="predict_proba")
    test = GaussianNB().fit(X_train, y_train).predict_proba(X_test)
    return val, y_train, test, y_test


class _Data:
    """Scores and labels of one part of a demo data set (built in, so already valid)."""

    def __init__(self, kind, scores, y, names=None):
        self.kind = kind
        self.names = names  # label or class names (binary: [positive]), for the report
        self.scores = np.asarray(scores, dtype=np.float64)
        self.y = np.asarray(y).astype(np.int64)
        self.n_columns = 1 if self.scores.ndim == 1 else self.scores.shape[1]

    def describe(self) -> str:
        what = {"binary": "binary", "multilabel": "labels", "multiclass": "classes"}[self.kind]
        columns = "" if self.kind == "binary" else f", {self.n_columns} {what}"
        return f"{self.kind}{columns}, {self.scores.shape[0]} rows"


def make_task(scores, y, *, scores_source="", names=None):
    """A demo data part: binary for 1-D scores, multilabel for a label matrix, else multiclass."""
    scores, y = np.asarray(scores), np.asarray(y)
    kind = "binary" if scores.ndim == 1 else ("multilabel" if y.ndim == 2 else "multiclass")
    return _Data(kind, scores, y, names)


def _sections(n_train: int, seed: int):
    from .datasets import load_emotions, make_stretcher_toy

    X_train, y_train, X_test, y_test = make_stretcher_toy(
        n_labels=100, n_train=n_train, n_test=10_000, random_state=seed
    )
    toy = (
        f"Stretcher toy: 100 labels, {n_train} train, 10000 test",
        make_task(X_train, y_train, scores_source="toy train"),
        make_task(X_test, y_test, scores_source="toy test"),
        "micro",
        [
            "Toy problem of the stretcher write-up (f1opt.datasets.make_stretcher_toy): "
            "uniform scores, label j positive iff its score exceeds a hidden threshold t_j. "
            "The write-up reports a best global threshold of micro-F1 0.79 (0.75 in a "
            "second draw) and 0.990 for the stretcher.",
        ],
    )
    yield toy
    val, Y_train, test, Y_test = emotions_scores(seed)
    meta = load_emotions().meta
    credit = (
        f"Data: emotions, {meta['split']}; {meta['citation']} Source: {meta['source']} @ "
        f"{meta['commit'][:12]}; licence: {meta['licence']}. Base model: standardised "
        "one-vs-rest logistic regression (C=0.1, liblinear); validation scores are its 5-fold "
        "out-of-fold probabilities on the 391 training rows, test scores come from the model "
        "refitted on them."
    )
    names = [str(x) for x in load_emotions().label_names]
    val_task = make_task(val, Y_train, scores_source="emotions out-of-fold", names=names)
    test_task = make_task(test, Y_test, scores_source="emotions test")
    for average in ("micro", "samples"):
        yield (
            f"emotions (bundled, real): 6 labels, 391 validation / 202 test, {average}-F1",
            val_task,
            test_task,
            average,
            [credit],
        )
    rare = int(np.argmin(Y_train.mean(axis=0)))
    name = str(load_emotions().label_names[rare])
    yield (
        f"emotions, label {name!r} alone: binary, 391 validation / 202 test",
        make_task(
            val[:, rare], Y_train[:, rare], scores_source="emotions out-of-fold", names=[name]
        ),
        make_task(test[:, rare], Y_test[:, rare], scores_source="emotions test"),
        "binary",
        [
            f"The rarest emotions label ({name}, {Y_train[:, rare].mean():.0%} positive in the "
            "training part) as a binary problem, same scores as above.",
            credit,
        ],
    )
    val, y_val, test, y_test = digits_scores(seed)
    yield (
        "digits (bundled with scikit-learn): 10 classes, Gaussian naive Bayes, macro-F1",
        make_task(val, y_val, scores_source="digits out-of-fold"),
        make_task(test, y_test, scores_source="digits test"),
        "macro",
        [
            "Data: the UCI optical recognition of handwritten digits test set as bundled with "
            "scikit-learn (sklearn.datasets.load_digits; E. Alpaydin, C. Kaynak, UCI 1998). "
            "Stratified 60/40 split; validation scores are 5-fold out-of-fold class "
            "probabilities of Gaussian naive Bayes (badly calibrated on purpose), test scores "
            "come from the model refitted on the 60%."
        ],
    )


def run(
    report="f1opt-report",
    *,
    force=False,
    quiet=False,
    seed=0,
    n_folds=3,
    n_train=20_000,
    epochs=10,
) -> int:
    """Run the demo: print the comparison tables and write the report.

    Returns
    -------
    status : int
        0 on success.
    """
    from .compare import compare
    from .methods import applicable_methods
    from .report import Section, check_report_dir, write_report

    start = time.perf_counter()
    if report:
        check_report_dir(report, force=force, replace_own=True)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"--epochs must be a positive integer, but got {epochs!r}")
    options = {"stretcher": {"epochs": epochs, "verbose": False}}
    sections = []
    for title, task, test, average, notes in _sections(n_train, seed):
        log.info("%s", title)
        methods = applicable_methods(task.kind, average)
        with warnings.catch_warnings():
            # the class-weight line searches divide by tiny probabilities of naive Bayes;
            # the overflow to inf is a breakpoint never reached, so it is harmless here
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="f1opt.weights")
            comparison = compare(
                task.scores,
                task.y,
                target=task.kind,
                average=average,
                methods=methods,
                cv=n_folds,
                n_repeats=1,  # one round: the stretcher trains once per fold, not 8 times
                random_state=seed,
                options=options,
                test=(test.scores, test.y),
                n_columns=task.n_columns,
            )
        for c in comparison.candidates:
            if c.error is not None and not quiet:
                log.warning("method %s skipped: %s", c.name, c.error)
        if "stretcher" in methods:
            notes = [*notes, f"The stretcher trains for at most {epochs} epochs here (--epochs)."]
        print(title)
        print(comparison.format_table(with_test=True))
        print()
        sys.stdout.flush()
        sections.append(
            Section(
                title=title,
                comparison=comparison,
                scores=task.scores,
                y=task.y,
                description=task.describe(),
                test_description=test.describe(),
                notes=notes,
                label_names=task.names,
            )
        )
    if report:
        index = write_report(report, sections, title="f1opt demo", force=force, replace_own=True)
        print(f"report: {index}")
    print(f"demo time: {time.perf_counter() - start:.1f} s")
    return 0


def add_arguments(p) -> None:
    """The options of ``f1opt demo`` (and ``python -m f1opt.demo``) on parser ``p``."""
    p.add_argument(
        "--report",
        metavar="DIR",
        default="f1opt-report",
        help="default ./f1opt-report (a previous demo report there is replaced)",
    )
    p.add_argument("--force", action="store_true", help="replace DIR even if f1opt did not make it")
    p.add_argument("--cv", type=int, default=3, help="folds (default 3)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the data, folds and models (default 0)"
    )
    p.add_argument("--n-train", type=int, default=20_000, help="toy training rows (default 20000)")
    p.add_argument("--epochs", type=int, default=10, help="stretcher epochs (default 10)")
    p.add_argument("-q", "--quiet", action="store_true", help="no messages or progress bars")


def run_from_args(args) -> int:
    """Run the demo with parsed options (see :func:`add_arguments`)."""
    return run(
        epochs=args.epochs,
        report=args.report,
        force=args.force,
        quiet=args.quiet,
        seed=args.seed,
        n_folds=args.cv,
        n_train=args.n_train,
    )


def main(argv=None) -> int:
    """``python -m f1opt.demo [options]``: the same as ``f1opt demo [options]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m f1opt.demo", description="f1opt demo: every method on built-in data."
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, or bad usage (already printed)
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.INFO, format="f1opt: %(message)s"
    )
    try:
        return run_from_args(args)
    except ValueError as exc:
        print(f"f1opt: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
