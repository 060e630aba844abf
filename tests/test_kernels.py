"""Kernel layout, sample weights, pos_label, dtypes, exact ties, F-beta curves, fold means."""

import ast
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score, precision_score, recall_score

import f1opt
from f1opt.thresholds import fold_mean_threshold

BETAS = [0.5, 1.0, 2.0]
AVERAGES = ["micro", "macro", "weighted", "samples"]
SRC = Path(f1opt.__file__).parent


# ---------------------------------------------------------------- import cycles


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str, known: set) -> set:
    """Every f1opt module imported anywhere in the file (function level too)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()

    def add(target):
        # a name imported from a package may be a submodule: keep the longest known prefix
        while target and target not in known:
            target = target.rsplit(".", 1)[0] if "." in target else ""
        if target and target != name:
            found.add(target)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("f1opt"):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("f1opt"):
                continue
            for alias in node.names:
                add(f"{module}.{alias.name}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "import_module":
            # lazy imports in __init__: import_module(f".{_LAZY[name]}", __name__)
            for lazy in _lazy_targets(tree):
                add(f"f1opt.{lazy}")
    return found


def _lazy_targets(tree) -> set:
    # the lazy names of f1opt/__init__ are built from the method table: read them as built
    import f1opt

    return set(f1opt._LAZY.values())


def import_graph() -> dict:
    files = [p for p in SRC.rglob("*.py")]
    names = {_module_name(p): p for p in files}
    known = set(names)
    return {name: _imports(path, name, known) for name, path in names.items()}


def find_cycle(graph: dict):
    """A cycle as a list of modules, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _without_package(graph):
    # the package __init__ reaches everything by design; cycles among the modules are the bug
    return {k: {m for m in v if m != "f1opt"} for k, v in graph.items() if k != "f1opt"}


def test_no_import_cycle_among_package_modules():
    graph = import_graph()
    assert "f1opt.kernels.cuts" in graph and "f1opt._engine" in graph
    # the graph sees function-level and lazy imports
    assert "f1opt.kernels.dask" in graph["f1opt._engine"]
    assert "f1opt.estimator" in graph["f1opt"]
    inner = _without_package(graph)
    assert find_cycle(inner) is None, " -> ".join(find_cycle(inner))


def test_no_import_cycle_at_all():
    cycle = find_cycle(_without_package(import_graph()))
    assert cycle is None, " -> ".join(cycle)


def test_threshold_modules_have_no_cycle_and_kernels_import_no_decider():
    graph = import_graph()
    ours = {
        "f1opt.thresholds",
        "f1opt._engine",
        "f1opt.deciders",
        "f1opt.distributed",
        "f1opt.metrics",
        "f1opt._validation",
        *(n for n in graph if n.startswith("f1opt.kernels")),
    }
    sub = {k: {m for m in graph[k] if m in ours} for k in ours}
    assert find_cycle(sub) is None
    for name in ours:
        if name.startswith("f1opt.kernels"):
            assert not graph[name] & {"f1opt.deciders", "f1opt._engine", "f1opt.thresholds"}
    assert "f1opt.distributed" not in graph["f1opt.deciders"]
    assert "f1opt.kernels.dask" not in graph["f1opt.deciders"]


def test_settings_are_immutable():
    from dataclasses import FrozenInstanceError

    from f1opt import _engine

    with pytest.raises(FrozenInstanceError):
        _engine.SETTINGS.use_numba = False
    assert _engine.SETTINGS.bits(10**7) == 18 and _engine.SETTINGS.bits(100) == 8


# ---------------------------------------------------------------- sample weights


def sk(y, pred, beta, average="binary", w=None, zero_division=0.0):
    return fbeta_score(
        y, pred, beta=beta, average=average, sample_weight=w, zero_division=zero_division
    )


def brute_binary(y, s, beta, w):
    cuts = np.append(np.unique(s), np.inf)
    return max(sk(y, (s >= t).astype(int), beta, w=w) for t in cuts)


def brute_global(Y, S, beta, average, w, zero_division=0.0):
    cuts = np.append(np.unique(S), np.inf)
    return max(sk(Y, (S >= t).astype(int), beta, average, w, zero_division) for t in cuts)


@pytest.mark.parametrize("seed", range(20))
def test_weighted_binary_matches_sklearn_and_repeated_rows(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    s = rng.integers(0, 6, n) / 5.0
    y = rng.integers(0, 2, n)
    y[0] = 1
    w = rng.integers(0, 4, n).astype(float)
    w[0] = 1.0
    beta = BETAS[seed % 3]
    result = f1opt.optimal_threshold(y, s, beta, sample_weight=w)
    assert result.score == pytest.approx(brute_binary(y, s, beta, w), abs=1e-12)
    assert result.score == pytest.approx(sk(y, s >= result.threshold, beta, w=w), abs=1e-12)
    repeated = f1opt.optimal_threshold(
        np.repeat(y, w.astype(int)), np.repeat(s, w.astype(int)), beta
    )
    assert result.threshold == repeated.threshold
    assert result.score == repeated.score
    assert result.n_predicted == repeated.n_predicted


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),
            st.booleans(),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=25,
    ),
    beta=st.sampled_from(BETAS),
)
def test_integer_weights_equal_repeated_rows(data, beta):
    s = np.array([d[0] for d in data])
    y = np.array([int(d[1]) for d in data])
    w = np.array([d[2] for d in data], dtype=float)
    if not (w[y == 1] > 0).any():
        return
    got = f1opt.optimal_threshold(y, s, beta, sample_weight=w)
    rep = f1opt.optimal_threshold(np.repeat(y, w.astype(int)), np.repeat(s, w.astype(int)), beta)
    assert (got.threshold, got.score) == (rep.threshold, rep.score)
    # the same rule for every decider and average, too
    S = np.column_stack([s, s[::-1]])
    Y = np.column_stack([y, y[::-1]])
    Sr, Yr = np.repeat(S, w.astype(int), axis=0), np.repeat(Y, w.astype(int), axis=0)
    for average in AVERAGES:
        a = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y, sample_weight=w)
        b = f1opt.GlobalThreshold(beta=beta, average=average).fit(Sr, Yr)
        assert a.threshold_ == b.threshold_
        assert a.best_score_ == pytest.approx(b.best_score_, abs=1e-12)
        if average != "samples":
            a = f1opt.PerClassThreshold(beta=beta, average=average).fit(S, Y, sample_weight=w)
            b = f1opt.PerClassThreshold(beta=beta, average=average).fit(Sr, Yr)
            np.testing.assert_array_equal(a.thresholds_, b.thresholds_)


def test_zero_weight_rows_neither_create_cuts_nor_split_ties():
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    y = np.array([1, 0, 1, 0, 0])
    base = f1opt.optimal_threshold(y, s)
    # zero-weight rows anywhere, tied with real rows or between them, any label
    s2 = np.concatenate([s, [0.85, 0.7, 0.65, 0.95, 0.1]])
    y2 = np.concatenate([y, [1, 0, 1, 1, 0]])
    w2 = np.concatenate([np.ones(5), np.zeros(5)])
    got = f1opt.optimal_threshold(y2, s2, sample_weight=w2)
    assert (got.threshold, got.score) == (base.threshold, base.score)
    assert got.n_predicted == base.n_predicted
    # the curve has no cut at a zero-weight score
    _, _, _, t = f1opt.fbeta_curve(y2, s2, sample_weight=w2)
    np.testing.assert_array_equal(t, np.sort(s))


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("seed", range(6))
def test_weighted_global_and_per_class_match_brute_force(average, seed):
    rng = np.random.default_rng(seed)
    n, L = int(rng.integers(2, 9)), int(rng.integers(2, 4))  # (n, 1) is binary to sklearn
    S = rng.integers(0, 4, (n, L)) / 3.0
    Y = rng.integers(0, 2, (n, L))
    w = rng.random(n) * 3
    w[rng.random(n) < 0.2] = 0.0
    w[0] = 1.0
    beta = BETAS[seed % 3]
    d = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y, sample_weight=w)
    assert d.best_score_ == pytest.approx(brute_global(Y, S, beta, average, w), abs=1e-9)
    assert d.score(S, Y, sample_weight=w) == pytest.approx(
        sk(Y, d.predict(S), beta, average, w), abs=1e-12
    )
    if average == "samples":
        return
    d = f1opt.PerClassThreshold(beta=beta, average=average).fit(S, Y, sample_weight=w)
    cuts = [np.append(np.unique(S[:, j]), np.inf) for j in range(L)]
    best = max(
        sk(Y, (S >= np.array(c)).astype(int), beta, average, w) for c in itertools.product(*cuts)
    )
    assert d.best_score_ == pytest.approx(best, abs=1e-9)
    assert d.best_score_ == pytest.approx(sk(Y, d.predict(S), beta, average, w), abs=1e-12)


def test_bad_weights_are_named():
    for w, message in [
        ([1.0, -1.0], "non-negative"),
        ([1.0, np.nan], "finite"),
        ([1.0], "one weight per row"),
        ([0.0, 0.0], "zero for every sample"),
    ]:
        with pytest.raises(ValueError, match=message):
            f1opt.optimal_threshold([0, 1], [0.1, 0.2], sample_weight=w)
    with pytest.raises(ValueError, match="no positive"):
        f1opt.optimal_threshold([0, 1], [0.1, 0.2], sample_weight=[1.0, 0.0])


# ---------------------------------------------------------------- pos_label, (n, 2)


def test_pos_label_with_string_classes():
    y = np.array(["stay", "churn", "stay", "churn", "stay", "stay"])
    s = np.array([0.2, 0.9, 0.4, 0.35, 0.1, 0.5])
    result = f1opt.optimal_threshold(y, s, pos_label="churn")
    pred = np.where(s >= result.threshold, "churn", "stay")
    assert result.score == pytest.approx(fbeta_score(y, pred, beta=1.0, pos_label="churn"))
    with pytest.raises(ValueError, match=r"\{'churn', 'stay'\}.*pos_label"):
        f1opt.optimal_threshold(y, s)
    with pytest.raises(ValueError, match="not a valid label"):
        f1opt.optimal_threshold(y, s, pos_label="gone")
    d = f1opt.GlobalThreshold(pos_label="churn").fit(s, y)
    assert d.threshold_ == result.threshold
    assert d.score(s, y) == pytest.approx(result.score)
    with pytest.raises(ValueError, match="pos_label"):
        f1opt.GlobalThreshold().fit(s, y)


def test_minus_one_one_and_bool_labels_need_no_pos_label():
    s = np.array([0.1, 0.6, 0.4, 0.8])
    a = f1opt.optimal_threshold([-1, 1, -1, 1], s)
    b = f1opt.optimal_threshold([False, True, False, True], s)
    c = f1opt.optimal_threshold([0, 1, 0, 1], s)
    assert a == b == c
    assert f1opt.optimal_threshold([0, 1, 0, 1], s, pos_label=0) == f1opt.optimal_threshold(
        [1, 0, 1, 0], s
    )


def test_binary_probabilities_use_the_positive_column():
    rng = np.random.default_rng(0)
    p = rng.random(50)
    P = np.column_stack([1 - p, p])
    y = (rng.random(50) < p).astype(int)
    assert f1opt.optimal_threshold(y, P) == f1opt.optimal_threshold(y, p)
    d = f1opt.GlobalThreshold().fit(P, y)
    assert d.average_ == "binary" and d.n_labels_ == 0
    np.testing.assert_array_equal(d.predict(P), d.predict(p))
    # pos_label=0: the first column is that class's probability
    d0 = f1opt.GlobalThreshold(pos_label=0).fit(P, y)
    assert d0.threshold_ == f1opt.optimal_threshold(1 - y, 1 - p).threshold
    np.testing.assert_array_equal(d0.predict(P), (1 - p >= d0.threshold_).astype(np.int8))


# ---------------------------------------------------------------- fbeta_curve


@pytest.mark.parametrize("seed", range(8))
def test_fbeta_curve_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    s = rng.integers(0, 8, n) / 7.0
    y = rng.integers(0, 2, n)
    y[0] = 1
    w = rng.random(n) if seed % 2 else None
    beta = BETAS[seed % 3]
    precision, recall, f, t = f1opt.fbeta_curve(y, s, beta=beta, sample_weight=w)
    np.testing.assert_array_equal(t, np.unique(s))
    for i, ti in enumerate(t):
        pred = (s >= ti).astype(int)
        assert precision[i] == pytest.approx(precision_score(y, pred, sample_weight=w))
        assert recall[i] == pytest.approx(recall_score(y, pred, sample_weight=w))
        assert f[i] == pytest.approx(sk(y, pred, beta, w=w))
    best = f1opt.optimal_threshold(y, s, beta, sample_weight=w)
    assert f.max() == pytest.approx(best.score)


def test_fbeta_curve_pos_label_and_errors():
    y = ["b", "a", "a", "b"]
    s = [0.9, 0.2, 0.4, 0.6]
    _, _, f, t = f1opt.fbeta_curve(y, s, pos_label="b")
    assert f[-1] == pytest.approx(fbeta_score(y, ["b", "a", "a", "a"], beta=1, pos_label="b"))
    with pytest.raises(ValueError, match="no positive"):
        f1opt.fbeta_curve([0, 0], [0.1, 0.2])


# ---------------------------------------------------------------- fold means


@pytest.mark.parametrize("seed", range(15))
def test_fold_mean_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    s = rng.integers(0, 6, n) / 5.0
    y = rng.integers(0, 2, n)
    folds = rng.integers(0, 3, n)
    beta = BETAS[seed % 3]
    zd = float(seed % 2)
    w = rng.integers(0, 3, n).astype(float) if seed % 3 == 0 else None
    if w is not None and not w.any():
        w[0] = 1.0
    t = fold_mean_threshold(s, y, folds, beta, zd, sample_weight=w)
    keep = np.ones(n, bool) if w is None else w > 0

    def mean_at(th):
        vals = []
        for f in np.unique(folds[keep]):
            m = (folds == f) & keep
            vals.append(
                sk(y[m], (s[m] >= th).astype(int), beta, w=None if w is None else w[m],
                   zero_division=zd)
            )  # fmt: skip
        return np.mean(vals)

    best = max(mean_at(c) for c in np.append(np.unique(s[keep]), np.inf))
    assert mean_at(t) == pytest.approx(best, abs=1e-12)
    # fewest positives among cuts as good
    as_good = [c for c in np.append(np.unique(s[keep]), np.inf) if mean_at(c) >= best - 1e-12]
    assert (s[keep] >= t).sum() == min((s[keep] >= c).sum() for c in as_good)


# ---------------------------------------------------------------- dtypes and exact ties


def test_float16_threshold_decides_the_same_in_float16():
    s = np.array([0.5, 0.50048828125], np.float16)
    result = f1opt.optimal_threshold([0, 1], s)
    assert result.score == 1.0
    np.testing.assert_array_equal(s >= result.threshold, [False, True])
    assert np.float16(result.threshold) == result.threshold


def test_integer_scores_beyond_2_53_are_refused():
    s = np.array([2**60, 2**60 + 1], dtype=np.int64)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        f1opt.optimal_threshold([0, 1], s)
    ok = np.array([2**52, 2**52 + 1], dtype=np.int64)
    result = f1opt.optimal_threshold([0, 1], ok)
    np.testing.assert_array_equal(ok >= result.threshold, [False, True])


DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8]


def _values(dtype):
    if np.dtype(dtype).kind == "f":
        info = np.finfo(dtype)
        one = dtype(1)
        return [
            dtype(0.0), dtype(-0.0), info.smallest_subnormal, -info.smallest_subnormal,
            info.tiny, one, np.nextafter(one, dtype(2)), np.nextafter(one, dtype(0)),
            dtype(0.5), np.nextafter(dtype(0.5), dtype(1)), dtype(-2.5), info.max, -info.max,
        ]  # fmt: skip
    info = np.iinfo(dtype)
    lo, hi = max(int(info.min), -(2**53)), min(int(info.max), 2**53)  # beyond: refused
    return [lo, lo + 1, 0, 1, 2, hi - 1, hi]


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), beta=st.sampled_from(BETAS))
def test_thresholds_decide_in_the_scores_dtype(data, dtype, beta):
    pool = _values(dtype)
    n = data.draw(st.integers(1, 12))
    s = np.array([data.draw(st.sampled_from(pool)) for _ in range(n)], dtype=dtype)
    y = np.array([data.draw(st.integers(0, 1)) for _ in range(n)])
    if not y.any():
        y[0] = 1
    result = f1opt.optimal_threshold(y, s, beta)
    pred = s >= result.threshold  # numpy's comparison in the scores' own dtype
    assert result.score == pytest.approx(sk(y, pred.astype(int), beta), abs=1e-12)
    assert result.score == pytest.approx(brute_binary(y, s, beta, None), abs=1e-12)
    d = f1opt.GlobalThreshold(beta=beta).fit(s, y)
    np.testing.assert_array_equal(d.predict(s), pred.astype(np.int8))
    S, Y = np.column_stack([s, s[::-1]]), np.column_stack([y, y[::-1]])
    for average in ("micro", "macro"):
        g = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y)
        np.testing.assert_array_equal(g.predict(S), (S >= g.threshold_).astype(np.int8))
        assert g.best_score_ == pytest.approx(
            sk(Y, (S >= g.threshold_).astype(int), beta, average), abs=1e-12
        )


def test_issue_example_samples_ties_predict_fewest_positives():
    S = [[0.6, 0.6, 0.7], [0.2, 0.2, 0.7], [0.4, 0.5, 0.7]]
    Y = [[0, 0, 1], [0, 1, 0], [0, 0, 0]]
    d = f1opt.GlobalThreshold(average="samples").fit(S, Y)
    assert d.predict(S).sum() == 3


def exact_global(Y, S, t, beta, average):
    """Exact F (as a Fraction) of S >= t."""
    b2 = Fraction(beta) ** 2
    P = S >= t
    tp, k, p = (Y & P), P, Y

    def f(tp, k, p):
        den = b2 * p + k
        return Fraction(0) if den == 0 else (1 + b2) * tp / den

    if average == "samples":
        vals = [f(int(tp[i].sum()), int(k[i].sum()), int(p[i].sum())) for i in range(len(Y))]
        return sum(vals) / len(vals)
    vals = [
        f(int(tp[:, j].sum()), int(k[:, j].sum()), int(p[:, j].sum())) for j in range(Y.shape[1])
    ]
    if average == "macro":
        return sum(vals) / len(vals)
    total = int(Y.sum())
    return sum(Fraction(int(Y[:, j].sum()), total) * v for j, v in enumerate(vals)) if total else 0


@pytest.mark.parametrize("average", ["macro", "weighted", "samples"])
@pytest.mark.parametrize("seed", range(25))
def test_global_ties_are_exact_and_take_fewest_positives(average, seed):
    rng = np.random.default_rng(seed)
    n, L = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    S = rng.integers(0, 4, (n, L)) / 4.0
    Y = rng.integers(0, 2, (n, L))
    if average == "weighted" and Y.sum() == 0:
        Y[0, 0] = 1
    beta = BETAS[seed % 3]
    d = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y)
    cuts = np.append(np.unique(S), np.inf)
    exact = {t: exact_global(Y, S, t, beta, average) for t in cuts}
    best = max(exact.values())
    assert exact_global(Y, S, d.threshold_, beta, average) == best
    fewest = min(int((S >= t).sum()) for t, v in exact.items() if v == best)
    assert int((S >= d.threshold_).sum()) == fewest


def test_group_then_descending_order_of_float32_matches_lexsort():
    from f1opt.kernels.cuts import _by_group_then_descending

    rng = np.random.default_rng(0)
    values = rng.choice(
        np.array([-np.inf, -2.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 0.5, 3.0, np.inf], np.float32),
        size=5000,
    )
    values[:2000] = rng.standard_normal(2000).astype(np.float32)
    groups = rng.integers(0, 37, values.size)
    order = _by_group_then_descending(values, groups, 37)
    want = np.lexsort((-values.astype(np.float64), groups))
    np.testing.assert_array_equal(groups[order], groups[want])
    np.testing.assert_array_equal(values[order], values[want])  # equal as numbers (-0.0 == 0.0)
    assert sorted(order) == list(range(values.size))
