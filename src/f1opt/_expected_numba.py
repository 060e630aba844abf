"""Optional compiled (numba) block coordinate ascent of :mod:`f1opt.expected`.

Imported lazily; when numba is missing (or fails to compile) the numpy version
in :mod:`f1opt.expected` runs the same steps (the same choice in every row; a
sum may round differently, so a near-tie between two choices of a row can in
principle go the other way).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def bca_passes(starts, sizes, active, col, val, x, A, K, P, w, b2, k, at_most, max_iter, tol):
    """Passes of exact row steps on the expected-confusion-matrix macro / weighted F-beta.

    Row ``i`` holds the entries ``starts[i] .. starts[i] + sizes[i]`` (label
    ``col``, probability ``val``, current choice ``x`` in {0, 1}); ``A``, ``K``
    are the expected true positives and predicted counts per label (updated in
    place), ``P`` the expected positives, ``w`` the label weights. A row takes
    the ``k`` largest gains (first index on ties; only positive ones when
    ``at_most``) when they beat its current choice by more than ``tol`` times
    the sum of its absolute gains. Returns the number of passes.
    """  # pragma: no cover - compiled
    max_m = 0
    for i in active:
        max_m = max(max_m, sizes[i])
    gain = np.empty(max_m)
    new = np.zeros(max_m, dtype=np.bool_)
    c1 = 1.0 + b2
    n_iter = 0
    for it in range(max_iter):
        n_iter = it + 1
        changed = False
        for i in active:
            s = starts[i]
            m = sizes[i]
            scale = 0.0
            for t in range(m):
                e = s + t
                c = col[e]
                v = val[e]
                a = A[c] - v * x[e]
                kk = K[c] - x[e]
                d = b2 * P[c] + kk
                g = w[c] * (c1 * (a + v) / (d + 1.0) - c1 * a / d)
                gain[t] = g
                scale += abs(g)
                new[t] = k >= m
            if k < m:
                if k <= 16:
                    for _ in range(k):
                        best = -1
                        for t in range(m):
                            if not new[t] and (best < 0 or gain[t] > gain[best]):
                                best = t
                        new[best] = True
                else:
                    order = np.argsort(-gain[:m], kind="mergesort")
                    for r in range(k):
                        new[order[r]] = True
            improvement = 0.0
            for t in range(m):
                if at_most and gain[t] <= 0.0:
                    new[t] = False
                if new[t]:
                    improvement += gain[t]
                if x[s + t] > 0.0:
                    improvement -= gain[t]
            if improvement > tol * (scale + 1e-300):
                for t in range(m):
                    e = s + t
                    target = 1.0 if new[t] else 0.0
                    if target != x[e]:
                        c = col[e]
                        A[c] += val[e] * (target - x[e])
                        K[c] += target - x[e]
                        x[e] = target
                changed = True
        if not changed:
            break
    return n_iter


@numba.njit(cache=True, nogil=True)
def row_top(starts, sizes, score, k, positive_only):  # pragma: no cover - compiled
    """0/1 choice of each row's ``k`` largest scores (first index on ties).

    With ``positive_only`` a score must also be positive. The rows are the
    contiguous segments ``starts[i] .. starts[i] + sizes[i]``.
    """
    x = np.zeros(score.size)
    for i in range(starts.size):
        s = starts[i]
        m = sizes[i]
        if m <= k:
            for t in range(m):
                x[s + t] = 1.0
        elif k <= 16:
            for _ in range(k):
                best = -1
                for t in range(m):
                    if x[s + t] == 0.0 and (best < 0 or score[s + t] > score[s + best]):
                        best = t
                x[s + best] = 1.0
        else:
            order = np.argsort(-score[s : s + m], kind="mergesort")
            for r in range(k):
                x[s + order[r]] = 1.0
        if positive_only:
            for t in range(m):
                if score[s + t] <= 0.0:
                    x[s + t] = 0.0
    return x
