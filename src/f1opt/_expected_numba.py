"""Optional compiled (numba) block coordinate ascent of :mod:`f1opt.expected`.

Imported lazily; when numba is missing (or fails to compile) the numpy version
in :mod:`f1opt.expected` runs the same steps (the same choice in every row; a
sum may round differently, so a near-tie between two choices of a row can in
principle go the other way).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _top_k(values, m, k, top_g, top_t):  # pragma: no cover - compiled
    """The ``k < m`` largest of ``values[:m]`` into ``top_g`` / ``top_t``, by one scan.

    Descending; on ties the first index (a value enters only when it beats the
    current k-th; it goes after the equal ones already kept).
    """
    cnt = 0
    for t in range(m):
        g = values[t]
        if cnt < k:
            pos = cnt
            cnt += 1
        elif g > top_g[k - 1]:
            pos = k - 1
        else:
            continue
        while pos > 0 and top_g[pos - 1] < g:
            top_g[pos] = top_g[pos - 1]
            top_t[pos] = top_t[pos - 1]
            pos -= 1
        top_g[pos] = g
        top_t[pos] = t


@numba.njit(cache=True, nogil=True, inline="always")
def _set_slopes(c, A, K, P, w, c1, b2, slope):  # pragma: no cover - compiled
    """Gains of label ``c`` as ``alpha * p + gamma``, for an entry off (0, 1) and on (2, 3)."""
    d = b2 * P[c] + K[c]
    wc = w[c] * c1
    slope[c, 0] = wc / (d + 1.0)
    slope[c, 1] = -wc * A[c] / (d * (d + 1.0))
    if d > 1.0:  # else no entry of this label is on (d = b^2 P + K > 1 when one is)
        slope[c, 2] = wc / (d - 1.0)
        slope[c, 3] = -wc * A[c] / (d * (d - 1.0))


@numba.njit(cache=True, nogil=True)
def bca_passes(starts, sizes, active, col, val, x, A, K, P, w, b2, k, at_most, max_iter, tol):
    """Passes of exact row steps on the expected-confusion-matrix macro / weighted F-beta.

    Row ``i`` holds the entries ``starts[i] .. starts[i] + sizes[i]`` (label
    ``col``, probability ``val``, current choice ``x`` in {0, 1}); ``A``, ``K``
    are the expected true positives and predicted counts per label (updated in
    place), ``P`` the expected positives, ``w`` the label weights. Given the
    other rows, each label's term of a row is its own: the gain of an entry is
    ``alpha_c p + gamma_c`` with per-label slopes kept up to date, so a pass
    costs one multiply-add per entry and one scan for the row's top ``k``. A
    row takes the ``k`` largest gains (first index on ties; only positive ones
    when ``at_most``) when they beat its current choice by more than ``tol``
    times the sum of its absolute gains. Passes stop when no row changes.

    Rows that cannot change are skipped, with the same steps as without: a row
    holding its top ``k`` remembers its margin (k-th gain minus the next one;
    with ``at_most`` also its smallest kept ``|gain|``), and every change of a
    label's slopes adds to a running drift a bound on how much any gain of
    that label moved (``p <= 1``). While twice the drift since a row's last
    scan stays below its margin, its top ``k`` (hence its choice) is the same.
    Returns the number of passes.
    """  # pragma: no cover - compiled
    n_labels = A.size
    c1 = 1.0 + b2
    slope = np.zeros((n_labels, 4))
    for c in range(n_labels):
        if P[c] > 0.0:
            _set_slopes(c, A, K, P, w, c1, b2, slope)
    max_m = 0
    for i in active:
        max_m = max(max_m, sizes[i])
    gain = np.empty(max_m)
    new = np.zeros(max_m, dtype=np.bool_)
    top_g = np.empty(k + 1)
    top_t = np.empty(k + 1, dtype=np.int64)
    margin = np.full(starts.size, -1.0)
    stamp = np.zeros(starts.size)
    drift = 0.0
    n_iter = 0
    for it in range(max_iter):
        n_iter = it + 1
        changed = False
        for i in active:
            if margin[i] > 2.0 * (drift - stamp[i]):
                continue  # its top k cannot have changed since its last scan
            s = starts[i]
            m = sizes[i]
            scale = 0.0
            old_sum = 0.0
            for t in range(m):
                e = s + t
                c = col[e]
                if x[e] > 0.0:
                    g = slope[c, 2] * val[e] + slope[c, 3]
                    old_sum += g
                else:
                    g = slope[c, 0] * val[e] + slope[c, 1]
                gain[t] = g
                scale += abs(g)
            new_sum = 0.0
            row_margin = np.inf
            if k >= m:
                for t in range(m):
                    if at_most:
                        row_margin = min(row_margin, abs(gain[t]))
                    if not (at_most and gain[t] <= 0.0):
                        new[t] = True
                        new_sum += gain[t]
            else:
                if k <= 16:
                    _top_k(gain, m, k + 1, top_g, top_t)
                else:
                    order = np.argsort(-gain[:m], kind="mergesort")
                    for r in range(k + 1):
                        top_t[r] = order[r]
                        top_g[r] = gain[order[r]]
                row_margin = top_g[k - 1] - top_g[k]
                for r in range(k):
                    if at_most:
                        row_margin = min(row_margin, abs(top_g[r]))
                    if not (at_most and top_g[r] <= 0.0):
                        new[top_t[r]] = True
                        new_sum += top_g[r]
            same = True
            if new_sum - old_sum > tol * (scale + 1e-300):
                for t in range(m):
                    e = s + t
                    target = 1.0 if new[t] else 0.0
                    if target != x[e]:
                        c = col[e]
                        A[c] += val[e] * (target - x[e])
                        K[c] += target - x[e]
                        x[e] = target
                        o0, o1, o2, o3 = slope[c, 0], slope[c, 1], slope[c, 2], slope[c, 3]
                        _set_slopes(c, A, K, P, w, c1, b2, slope)
                        drift += max(
                            abs(slope[c, 0] - o0) + abs(slope[c, 1] - o1),
                            abs(slope[c, 2] - o2) + abs(slope[c, 3] - o3),
                        )
                changed = True
            else:
                for t in range(m):
                    if new[t] != (x[s + t] > 0.0):
                        same = False
            for t in range(m):  # reset (cheaper than tracking the marked ones)
                new[t] = False
            # a margin only for a row holding its top k; rounding of the gains: 1e-12 of the scale
            margin[i] = row_margin - 1e-12 * scale if same else -1.0
            stamp[i] = drift
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
    top_g = np.empty(max(k, 1))
    top_t = np.empty(max(k, 1), dtype=np.int64)
    for i in range(starts.size):
        s = starts[i]
        m = sizes[i]
        if m <= k:
            for t in range(m):
                x[s + t] = 1.0
        elif k <= 16:
            _top_k(score[s : s + m], m, k, top_g, top_t)
            for r in range(k):
                x[s + top_t[r]] = 1.0
        else:
            order = np.argsort(-score[s : s + m], kind="mergesort")
            for r in range(k):
                x[s + order[r]] = 1.0
        if positive_only:
            for t in range(m):
                if score[s + t] <= 0.0:
                    x[s + t] = 0.0
    return x


@numba.njit(cache=True, nogil=True)
def row_top_linear(starts, sizes, col, val, alpha, gamma, k, positive_only):
    """:func:`row_top` of the scores ``alpha[col] * val + gamma[col]`` (never stored)."""
    # pragma: no cover - compiled
    max_m = 0
    for i in range(starts.size):
        max_m = max(max_m, sizes[i])
    score = np.empty(max_m)
    x = np.zeros(val.size)
    top_g = np.empty(max(k, 1))
    top_t = np.empty(max(k, 1), dtype=np.int64)
    for i in range(starts.size):
        s = starts[i]
        m = sizes[i]
        for t in range(m):
            c = col[s + t]
            score[t] = alpha[c] * val[s + t] + gamma[c]
        if m <= k:
            for t in range(m):
                x[s + t] = 1.0
        elif k <= 16:
            _top_k(score, m, k, top_g, top_t)
            for r in range(k):
                x[s + top_t[r]] = 1.0
        else:
            order = np.argsort(-score[:m], kind="mergesort")
            for r in range(k):
                x[s + order[r]] = 1.0
        if positive_only:
            for t in range(m):
                if score[t] <= 0.0:
                    x[s + t] = 0.0
    return x


@numba.njit(cache=True, nogil=True)
def label_dual(first, sizes, labels, top, bottom, kappa, ratio, mu, nu, a_star, k_star):
    """The label part of the Lagrangian dual: ``sum_j h_j``, and each label's maximiser.

    Label ``labels[q]`` holds the candidates ``first[q] .. first[q] + sizes[q]``
    (``kappa`` predicted, ``a`` the sum of the ``kappa`` largest or smallest
    probabilities); ``h_j`` is the largest ``(ratio - mu_j) a - nu_j kappa``,
    0 (nothing predicted) included; ``a_star``, ``k_star`` get the first
    maximiser. The same values as the numpy expression in ``_Dual``.
    """
    # pragma: no cover - compiled
    total = 0.0
    for q in range(labels.size):
        j = labels[q]
        best = 0.0
        best_a = 0.0
        best_k = 0.0
        for e in range(first[q], first[q] + sizes[q]):
            coef = ratio[e] - mu[j]
            a = top[e] if coef > 0.0 else bottom[e]
            term = coef * a - nu[j] * kappa[e]
            if term > best:
                best = term
                best_a = a
                best_k = kappa[e]
        a_star[j] = best_a
        k_star[j] = best_k
        total += best
    return total
