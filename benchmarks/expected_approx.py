"""Expected-F decisions: the Taylor approximation against the exact expectation, and speed.

Part 1, for n = 10^2 .. 10^6 independent probabilities (three shapes:
Beta(0.5, 3), about 14% positives; Beta(0.1, 5), about 2%; Beta(0.05, 50), about
0.1%): median time of the exact top-k sweep (`topk_expected_fbeta(method="exact")`,
up to 10^5) and of the approximation (`method="approx"`), the largest error of the
approximation over every k, its error at the k it chooses, and the regret of that
choice (exact E[F] of the exact optimum minus exact E[F] of the approximate choice).
At 10^6 the exact sweep is not run; the exact E[F] of the chosen prediction comes
from `expected_fbeta` (the double sum over the two Poisson-binomials).

Part 2, decision speed through the public class: ExpectedF1 (binary) on n = 10^5
(auto: the approximation), n = 2 * 10^4 (auto: exact) and n = 10^5 with rare
positives (auto: exact); ExpectedF1 (samples) on n = 10^4 rows of L = 100 labels
and on 10^3 sparse rows of L = 983 labels (about 20 positives per row, as in
delicious); the general GFM on 10^3 rows of a (L, L) = (100, 100) matrix.

    .venv/bin/python benchmarks/expected_approx.py [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import median_time  # benchmarks/ is on sys.path when run as a script

from f1opt.expected import (
    EXACT_MAX_WORK,
    ExpectedF1,
    _bernstein_window,
    expected_fbeta,
    joint_size_matrix,
    topk_expected_fbeta,
)


def approximation_table(sizes, repeats, exact_max):
    print("## Approximation error and speed (F1, zero_division=0)\n")
    print(
        "| p ~ | n | exact (s) | approx (s) | max err over k | err at chosen k "
        "| regret of approx choice | k exact / k approx |"
    )
    print("|---|---|---|---|---|---|---|---|")
    shapes = {"Beta(0.5,3)": (0.5, 3.0), "Beta(0.1,5)": (0.1, 5.0), "Beta(0.05,50)": (0.05, 50.0)}
    for name, (a, b) in shapes.items():
        for n in sizes:
            p = np.random.default_rng(n).beta(a, b, n)
            t_approx, approx = median_time(
                lambda p=p: topk_expected_fbeta(p, method="approx"), repeats
            )
            k_approx = int(np.argmax(approx))
            if n <= exact_max:
                t_exact, exact = median_time(
                    lambda p=p: topk_expected_fbeta(p, method="exact"),
                    repeats if n <= 10**4 else max(1, repeats // 2),
                )
                k_exact = int(np.argmax(exact))
                max_err = f"{np.abs(approx - exact).max():.1e}"
                err_at = abs(approx[k_approx] - exact[k_approx])
                regret = f"{exact[k_exact] - exact[k_approx]:.1e}"
                exact_time = f"{t_exact:.3f}"
                ks = f"{k_exact} / {k_approx}"
            else:
                order = np.argsort(-p, kind="stable")
                prediction = np.zeros(n, dtype=np.int8)
                prediction[order[:k_approx]] = 1
                err_at = abs(approx[k_approx] - expected_fbeta(p, prediction))
                max_err = regret = exact_time = "not run"
                ks = f"- / {k_approx}"
            print(
                f"| {name} | {n:.0e} | {exact_time} | {t_approx:.4f} | {max_err} | "
                f"{err_at:.1e} | {regret} | {ks} |",
                flush=True,
            )


def speed_table(repeats, quick):
    print("\n## Decision speed (median of runs)\n")
    print("| task | shape | method | time (s) |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n, (a, b) in ((10**5, (0.5, 3.0)), (2 * 10**4, (0.5, 3.0)), (10**5, (0.05, 50.0))):
        p = rng.beta(a, b, n)
        t, _ = median_time(lambda p=p: ExpectedF1().predict(p), repeats)
        lo, hi = _bernstein_window(np.sort(p))
        method = "exact" if n * (hi - lo + 2) <= EXACT_MAX_WORK else "approx"
        shape = f"n = {n}, p ~ Beta({a}, {b})"
        print(f"| ExpectedF1 binary | {shape} | auto ({method}) | {t:.3f} |", flush=True)
    rows = 2000 if quick else 10**4
    P = rng.beta(0.3, 3.0, (rows, 100))
    t, _ = median_time(lambda: ExpectedF1(average="samples").predict(P), max(1, repeats // 2))
    print(f"| ExpectedF1 samples | n = {rows}, L = 100 | GFM, independent | {t:.2f} |", flush=True)
    sparse = rng.beta(0.05, 2.5, (1000, 983))  # about 20 of 983 labels per row
    t, _ = median_time(lambda: ExpectedF1(average="samples").predict(sparse), max(1, repeats // 2))
    print(f"| ExpectedF1 samples | n = 1000, L = 983, sparse | GFM, independent | {t:.2f} |")
    matrix, p_empty = joint_size_matrix(P[:1000])
    t, _ = median_time(
        lambda: ExpectedF1(average="samples").predict(matrix, p_empty=p_empty),
        max(1, repeats // 2),
    )
    print(f"| ExpectedF1 samples | n = 1000, (L, L) = (100, 100) | GFM, matrix | {t:.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="n up to 10^4 only")
    args = parser.parse_args(argv)
    sizes = [10**2, 10**3, 10**4] if args.quick else [10**2, 10**3, 10**4, 10**5, 10**6]
    approximation_table(sizes, args.repeats, exact_max=10**5)
    speed_table(args.repeats, args.quick)


if __name__ == "__main__":
    main()
