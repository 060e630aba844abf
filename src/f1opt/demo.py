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

Every method is cross-validated on the same folds of the validation scores,
refitted on all of them and scored on the test scores.
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


def _sections(n_train: int, seed: int):
    from .cli import make_task
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
    val_task = make_task(val, Y_train, scores_source="emotions out-of-fold")
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
        make_task(val[:, rare], Y_train[:, rare], scores_source="emotions out-of-fold"),
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
    from .cli import best_method, compare_methods, format_table
    from .report import Section, check_report_dir, write_report

    start = time.perf_counter()
    if report:
        check_report_dir(report, force=force, replace_own=True)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"--epochs must be a positive integer, but got {epochs!r}")
    options = {"stretcher": {"epochs": epochs}}
    sections = []
    for title, task, test, average, notes in _sections(n_train, seed):
        log.info("%s", title)
        with warnings.catch_warnings():
            # the class-weight line searches divide by tiny probabilities of naive Bayes;
            # the overflow to inf is a breakpoint never reached, so it is harmless here
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="f1opt.weights")
            rows = compare_methods(
                task,
                average=average,
                beta=1.0,
                n_folds=n_folds,
                seed=seed,
                test=test,
                quiet=quiet,
                desc=title.split(":")[0],
                options=options,
            )
        if any(r.method == "stretcher" for r in rows):
            notes = [*notes, f"The stretcher trains for at most {epochs} epochs here (--epochs)."]
        best = best_method(rows)
        chosen = best.method if best else None
        print(title)
        print(
            format_table(
                rows, average=average, beta=1.0, n_folds=n_folds, chosen=chosen, with_test=True
            )
        )
        print()
        sys.stdout.flush()
        sections.append(
            Section(
                title=title,
                task=task,
                test=test,
                average=average,
                beta=1.0,
                rows=rows,
                n_folds=n_folds,
                chosen=chosen,
                notes=notes,
            )
        )
    if report:
        index = write_report(report, sections, title="f1opt demo", force=force, replace_own=True)
        print(f"report: {index}")
    print(f"demo time: {time.perf_counter() - start:.1f} s")
    return 0


def main(argv=None) -> int:
    """``python -m f1opt.demo [options]``: the same as ``f1opt demo [options]``."""
    from .cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
