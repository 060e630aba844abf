"""How often does a random search over rules ``argmax_k (w_k p_k + c_k)`` beat ClassWeights?

On generated small cases (random scores, random labels, every class present),
ClassWeights is fitted and then ``--draws`` random rules of the same form
(weights ``w_k >= 0`` log-normal, offsets normal on the scale of the weighted
scores, plus random rules near the fitted one) are scored; a case counts as
"beaten" when one of them has a macro-F1 higher by more than 1e-9. With two
classes the fitted rule is the exact optimum, so the count must be 0.

Run::

    python benchmarks/class_weights_search.py --cases 200 --draws 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from f1opt.weights import ClassWeights, fit_class_weights, predict_class_weights


def macro_f(y, y_pred, n_classes):
    tp = np.bincount(y_pred[y_pred == y], minlength=n_classes)
    k = np.bincount(y_pred, minlength=n_classes)
    p = np.bincount(y, minlength=n_classes)
    d = p + k
    return (2.0 * tp / np.where(d > 0, d, 1)).mean()


def random_best(P, y, draws, rng, near):
    """Best macro-F1 over ``draws`` random rules (batched)."""
    n, K = P.shape
    best = -1.0
    batch = 500
    for start in range(0, draws, batch):
        m = min(batch, draws - start)
        w = np.exp(rng.normal(0.0, 1.0, (m, K)))
        spread = np.ptp(P[None] * w[:, None, :], axis=1).max(axis=1, keepdims=True)
        c = rng.normal(0.0, 0.6, (m, K)) * spread
        half = m // 2
        if near is not None:  # local perturbations of the fitted rule
            w0, c0 = near
            scale = np.exp(rng.normal(0.0, 0.3, (half, K)))
            w[:half] = w0 * scale
            c[:half] = c0 * scale + rng.normal(0.0, 0.05, (half, K)) * np.abs(w0).max()
        pred = np.argmax(P[None] * w[:, None, :] + c[:, None, :], axis=2)
        for row in pred:
            best = max(best, macro_f(y, row, K))
    return best


def case(rng, n_classes):
    n = int(rng.integers(4, 13))
    while True:
        P = np.round(rng.random((n, n_classes)), 1)  # coarse: ties, unnormalised rows
        y = rng.integers(0, n_classes, n)
        if np.unique(y).size == n_classes:
            return P, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{args.cases} cases per row, {args.draws} random rules per case, seed {args.seed}")
    print(
        "| classes | beaten by random search | mean margin when beaten | exact claimed "
        "| fit s/case |"
    )
    print("| --- | --- | --- | --- | --- |")
    for n_classes in (2, 3, 4):
        rng = np.random.default_rng([args.seed, n_classes])
        beaten, margins, exact_count, fit_time = 0, [], 0, 0.0
        for _ in range(args.cases):
            P, y = case(rng, n_classes)
            start = time.perf_counter()
            decider = ClassWeights().fit(P, y)
            fit_time += time.perf_counter() - start
            result = fit_class_weights(P, y)
            exact_count += bool(result[4]) if len(result) > 4 else 0  # older f1opt: no flag
            y_pred = predict_class_weights(P, decider.weights_, decider.offsets_)
            got = macro_f(y, y_pred, n_classes)
            found = random_best(P, y, args.draws, rng, (decider.weights_, decider.offsets_))
            if found > got + 1e-9:
                beaten += 1
                margins.append(found - got)
        margin = f"{np.mean(margins):.3f}" if margins else "-"
        print(
            f"| {n_classes} | {beaten} of {args.cases} ({100.0 * beaten / args.cases:.1f}%) "
            f"| {margin} | {exact_count} of {args.cases} | {fit_time / args.cases:.3f} |"
        )


if __name__ == "__main__":
    main()
