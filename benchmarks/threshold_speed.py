"""Speed of the exact binary search beside its anchors, in one run.

For n = 10^5, 10^6, 10^7 float32 scores (10% positives) prints the median time
of f1opt.optimal_threshold (input checks included; compiled engine where numba
is installed, both cores) and of the numpy fallback (engine "buckets") beside
np.sort on the same array, one compiled counting pass over it (a 2^16-bucket
histogram of negatives and positives, one thread: the floor any exact search
that reads every score once pays), precision_recall_curve + argmax of F1, and
TunedThresholdClassifierCV (cv="prefit", its 100-point grid; up to 10^6), with
ratios. On AMD Zen 4 run it with NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"
(see ``_common.numpy_sort_note``; the script prints which sort numpy runs).

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" \
        .venv/bin/python benchmarks/threshold_speed.py [--quick] [--repeats R]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import median_time, numpy_sort_note  # benchmarks/ is on sys.path as a script
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score, precision_recall_curve
from sklearn.model_selection import TunedThresholdClassifierCV

import f1opt
from f1opt import _engine


class ScoresAsProbabilities(ClassifierMixin, BaseEstimator):
    """A 'fitted' classifier whose positive-class probability is column 0 of X."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (np.asarray(X)[:, 0] >= 0.5).astype(int)


def pr_curve_argmax(y, s):
    precision, recall, thresholds = precision_recall_curve(y, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    best = int(np.argmax(f[:-1]))
    return thresholds[best], f[best]


def tuned_threshold(y, s):
    model = TunedThresholdClassifierCV(
        ScoresAsProbabilities().fit(None, None), scoring="f1", cv="prefit", refit=False
    )
    model.fit(s[:, None], y)
    return model.best_threshold_, model.best_score_


def one_counting_pass(s, y):
    """One compiled pass: negatives and positives in 2^16 buckets of the key (one thread)."""
    from f1opt.kernels import buckets

    compiled = _engine.compiled_kernels()
    return buckets.range_histogram(s, y, 0, buckets.KEY_MAX, 16, None, compiled)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10^5 only")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [10**4, 10**5] if args.quick else [10**5, 10**6, 10**7]
    rng = np.random.default_rng(0)
    print(numpy_sort_note())
    numba = _engine.compiled_kernels() is not None
    print(f"f1opt threads: {_engine.SETTINGS.n_threads}; numba: {numba}")
    header = (
        f"{'n':>9s} {'f1opt s':>9s} {'numpy s':>9s} {'np.sort s':>9s} {'1 pass s':>9s} "
        f"{'PR-curve s':>10s} {'Tuned s':>9s} {'f1opt/sort':>10s} {'numpy/sort':>10s} "
        f"{'f1opt/pass':>10s} {'PR/f1opt':>9s} {'Tuned/f1opt':>11s} {'F1 f1opt':>9s} "
        f"{'F1 PR':>8s} {'F1 Tuned':>9s}"
    )
    print(header)
    for n in sizes:
        y = (rng.random(n) < 0.1).astype(np.int8)
        s = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1).astype(np.float32)
        repeats = args.repeats if n < 10**7 else max(3, args.repeats // 2)
        f1opt.optimal_threshold(y[:100_000], s[:100_000])  # compile, warm up
        t_f1opt, result = median_time(f1opt.optimal_threshold, repeats, y, s)
        engine = "buckets" if n >= 2**16 else "sort"
        t_numpy, res_numpy = median_time(
            lambda s=s, y=y, e=engine: _engine.binary(s, y, engine=e), repeats
        )
        assert res_numpy[0] == result.threshold
        t_sort, _ = median_time(np.sort, repeats, s)
        if _engine.compiled_kernels() is not None:
            one_counting_pass(s[:1000], y[:1000])  # compile
            t_pass, _ = median_time(one_counting_pass, repeats, s, y)
        else:
            t_pass = float("nan")
        t_pr, (_, f_pr) = median_time(pr_curve_argmax, max(1, repeats // 2), y, s)
        f_exact = f1_score(y, s >= result.threshold)
        assert abs(f_exact - result.score) < 1e-9
        if n <= 10**6:
            t_tuned, (thr_tuned, _) = median_time(tuned_threshold, 1, y, s)
            f_tuned = f1_score(y, s >= thr_tuned)
            tuned_cols = f"{t_tuned:9.3f}", f"{t_tuned / t_f1opt:11.0f}", f"{f_tuned:9.5f}"
        else:
            tuned_cols = f"{'-':>9s}", f"{'-':>11s}", f"{'-':>9s}"
        print(
            f"{n:9d} {t_f1opt:9.4f} {t_numpy:9.4f} {t_sort:9.4f} {t_pass:9.4f} {t_pr:10.3f} "
            f"{tuned_cols[0]} {t_f1opt / t_sort:10.2f} {t_numpy / t_sort:10.2f} "
            f"{t_f1opt / t_pass:10.2f} {t_pr / t_f1opt:9.1f} {tuned_cols[1]} "
            f"{result.score:9.5f} {f_pr:8.5f} {tuned_cols[2]}"
        )


if __name__ == "__main__":
    main()
