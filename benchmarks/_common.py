"""Shared helpers of the seed benchmarks: data, repetitions, tables, progress bars.

Every F score is computed by :mod:`sklearn.metrics`; tables print mean +- std
over the repetitions as Markdown, ready for BENCHMARKS.md (section 7).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("F1OPT_SHARED_DATA", ROOT.parent / "shared" / "data"))

# methods whose module was missing when the script ran, with the reason
MISSING: dict[str, str] = {}


def median_time(fn, repeats: int, *args):
    """Median wall time of ``fn(*args)`` over ``repeats`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


#: what makes numpy sort with its AVX2 kernels instead of its AVX-512 ones
AVX2_SORT = "X86_V4 AVX512_ICL"


def numpy_sort_note() -> str:
    """Which SIMD kernels numpy's sort runs here, with a warning where they are the slow ones.

    On AMD Zen 4 numpy's AVX-512 sort (x86-simd-sort) uses the memory form of
    the compress instruction, which that CPU runs in microcode: np.sort of 10^7
    float32 takes about 0.47 s instead of 0.067 s with the AVX2 kernels. A
    ratio to that slow sort would flatter f1opt, so the benchmarks of np.sort
    ratios are run with ``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"``
    (numpy's fastest sort on this CPU; f1opt runs under the same setting).
    """
    from numpy._core._multiarray_umath import __cpu_features__ as features

    avx512 = features.get("AVX512_SKX", False)
    kernels = "AVX-512" if avx512 else "AVX2" if features.get("AVX2") else "baseline"
    disabled = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    note = f"numpy {np.__version__}: sort kernels {kernels} (NPY_DISABLE_CPU_FEATURES={disabled!r})"
    zen4 = False
    try:
        info = Path("/proc/cpuinfo").read_text()
        zen4 = "AuthenticAMD" in info and "\ncpu family\t: 25\n" in info and " avx512f" in info
    except OSError:
        pass
    if zen4 and avx512:
        note += (
            f"\nWARNING: AMD Zen 4 runs numpy's AVX-512 sort in microcode (about 7x slower than "
            f"its AVX2 sort): run with NPY_DISABLE_CPU_FEATURES={AVX2_SORT!r} for an honest "
            "np.sort reference"
        )
    return note


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every seed script shares."""
    p = argparse.ArgumentParser(
        description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke-test size (< 2 min)")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 5, quick 2)")
    p.add_argument("--seed", type=int, default=0, help="base seed; repetition r uses seed + r")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch / BLAS / OpenMP threads (1 is fastest on a busy machine)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm bars")
    p.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    return p


def setup(args, torch: bool = False) -> None:
    """Apply the shared options: thread caps (torch's too if asked) and progress bars."""
    if args.no_progress:
        os.environ["F1OPT_NO_PROGRESS"] = "1"
    if torch:
        import torch as _torch  # noqa: F401  (so that limit_threads caps it)
    limit_threads(args.threads)


def limit_threads(n: int) -> None:
    """Cap BLAS, OpenMP and torch threads (the machine is shared)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def progress(iterable=None, **kwargs):
    """A tqdm bar on stderr (silent with --no-progress or without tqdm)."""
    if os.environ.get("F1OPT_NO_PROGRESS"):
        kwargs["disable"] = True
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def optional(module: str, attr: str, method: str):
    """``module.attr`` or None; records why a method could not run."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        MISSING.setdefault(method, f"{module}.{attr} unavailable ({exc})")
        return None


def f1(y_true, y_pred, average: str = "binary") -> float:
    """F1 from scikit-learn, zero_division=0 as everywhere in f1opt."""
    return float(f1_score(y_true, y_pred, average=average, zero_division=0.0))


def load_binary(name: str):
    """X (float64), y (0/1 int) of ../shared/data/binary/<name>.npz."""
    with np.load(SHARED_DATA / "binary" / f"{name}.npz", allow_pickle=False) as data:
        return np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).astype(int)


def load_multilabel(name: str):
    """X_train, Y_train, X_test, Y_test of ../shared/data/multilabel/<name>.npz."""
    with np.load(SHARED_DATA / "multilabel" / f"{name}.npz", allow_pickle=False) as data:
        return (
            np.asarray(data["X_train"], dtype=np.float64),
            np.asarray(data["Y_train"]).astype(np.int8),
            np.asarray(data["X_test"], dtype=np.float64),
            np.asarray(data["Y_test"]).astype(np.int8),
        )


class Results:
    """Values collected per (table, row, column) over repetitions."""

    def __init__(self):
        self.values = defaultdict(list)
        self.rows: dict[str, list[str]] = defaultdict(list)
        self.cols: dict[str, list[str]] = defaultdict(list)

    def add(self, table: str, row: str, col: str, value: float) -> None:
        if row not in self.rows[table]:
            self.rows[table].append(row)
        if col not in self.cols[table]:
            self.cols[table].append(col)
        self.values[table, row, col].append(float(value))

    def mean(self, table: str, row: str, col: str) -> float:
        v = self.values.get((table, row, col))
        return float(np.mean(v)) if v else float("nan")

    def markdown(self, table: str, row_title: str = "method", bold_best: bool = True) -> str:
        """Markdown table of mean +- std (std over repetitions, ddof=1)."""
        rows, cols = self.rows[table], self.cols[table]
        best = {}
        for c in cols:
            if c.startswith("fit"):  # timings: no "best"
                best[c] = None
                continue
            means = [self.mean(table, r, c) for r in rows]
            finite = [m for m in means if np.isfinite(m)]
            best[c] = max(finite) if finite else None
        lines = [
            "| " + " | ".join([row_title, *cols]) + " |",
            "|" + "---|" * (len(cols) + 1),
        ]
        for r in rows:
            cells = []
            for c in cols:
                v = self.values.get((table, r, c))
                if not v:
                    cells.append("n/a")
                    continue
                m = float(np.mean(v))
                s = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                cell = f"{m:.3f} ± {s:.3f}"
                if bold_best and best[c] is not None and m >= best[c] - 1e-12:
                    cell = f"**{cell}**"
                cells.append(cell)
            lines.append("| " + " | ".join([r, *cells]) + " |")
        n = {len(v) for (t, _, _), v in self.values.items() if t == table}
        lines.append("")
        reps = "/".join(map(str, sorted(n)))
        lines.append(f"mean ± std over {reps} repetitions; best mean per column in bold.")
        return "\n".join(lines)


def machine() -> str:
    """One line: cores, CPU model, python and library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    import sklearn

    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    versions.append(f"scikit-learn {sklearn.__version__}")
    if "torch" in sys.modules:
        versions.append(f"torch {sys.modules['torch'].__version__}")
    return f"nproc {os.cpu_count()}, {cpu}; " + ", ".join(versions)


def report(title: str, results: Results, tables: list[tuple[str, str]], args, started) -> str:
    """Print (and with --out write) the tables, the command, the machine and what was missing."""
    parts = [f"## {title}", ""]
    parts.append("command: `.venv/bin/python " + " ".join([sys.argv[0], *sys.argv[1:]]) + "`")
    parts.append("")
    parts.append(f"machine: {machine()}; threads {args.threads}")
    parts.append("")
    wall = time.perf_counter() - started
    parts.append(
        f"wall time: {wall:.0f} s; CPU time of the process: {time.process_time():.0f} s "
        f"(load average at the end: {os.getloadavg()[0]:.1f})"
    )
    parts.append("")
    for table, caption in tables:
        if table not in results.rows:
            continue
        parts.append(f"### {caption}")
        parts.append("")
        parts.append(results.markdown(table))
        parts.append("")
    if MISSING:
        parts.append("not run (module missing):")
        parts.extend(f"- {m}: {why}" for m, why in MISSING.items())
        parts.append("")
    text = "\n".join(parts)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return text


def ovr_logistic():
    """The multilabel base model of the expected-F benchmarks (one scaled L2 logistic per label)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return OneVsRestClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, solver="liblinear"))
    )


def oof_and_test_proba(X_train, Y_train, X_test):
    """3-fold out-of-fold probabilities of :func:`ovr_logistic` on the training part,
    and its probabilities of the test part after a refit on all of the training part."""
    import warnings

    from sklearn.model_selection import KFold, cross_val_predict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels absent from a fold: a constant predictor
        oof = cross_val_predict(
            ovr_logistic(),
            X_train,
            Y_train,
            cv=KFold(3, shuffle=True, random_state=0),
            method="predict_proba",
        )
        proba = ovr_logistic().fit(X_train, Y_train).predict_proba(X_test)
    return oof, proba
