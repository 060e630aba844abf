"""Multilabel batch decisions (micro, macro, weighted, samples, budgets) against enumeration.

The oracle enumerates every truth matrix and every prediction matrix of a tiny
batch (n * L <= 8 entries); its F values are checked against sklearn.metrics.
"""

import functools
import itertools
import json
import zlib

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import fbeta_score as sk_fbeta_score

import f1opt
from f1opt.expected import (
    ExpectedF1,
    batch_decision,
    ecm_fbeta,
    expected_fbeta,
    gfm,
    joint_size_matrix,
    multilabel_decision,
)
from f1opt.metrics import fbeta_from_counts

ZERO_DIVISIONS = (0.0, 1.0)


def seed_of(*parts):
    """A seed from the test's parameters, the same in every process."""
    return zlib.crc32(repr(parts).encode())


def all_matrices(n, n_labels):
    flat = np.array(list(itertools.product([0, 1], repeat=n * n_labels)), dtype=np.int64)
    return flat.reshape(-1, n, n_labels)


@functools.lru_cache(maxsize=32)
def f_tables(n, n_labels, beta, zero_division):
    """F[h, y] of every prediction matrix h and truth matrix y, for each average."""
    M = all_matrices(n, n_labels)
    tp = np.einsum("hij,yij->hyj", M, M)  # per label
    k = M.sum(axis=1)[:, None, :]
    p = M.sum(axis=1)[None, :, :]
    per_label = fbeta_from_counts(tp, k, p, beta, zero_division)
    tables = {
        "macro": per_label.mean(axis=2),
        "micro": fbeta_from_counts(tp.sum(2), k.sum(2), p.sum(2), beta, zero_division),
    }
    support = np.broadcast_to(p, per_label.shape)
    total = support.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = (support * per_label).sum(axis=2) / total
    tables["weighted"] = np.where(total > 0, weighted, zero_division)
    # the expected-support weighted objective: sum_j S_j F_j (divided by E[S] later)
    tables["support_f"] = (support * per_label).sum(axis=2)
    tp_rows = np.einsum("hij,yij->hyi", M, M)
    tables["samples"] = fbeta_from_counts(
        tp_rows, M.sum(axis=2)[:, None, :], M.sum(axis=2)[None, :, :], beta, zero_division
    ).mean(axis=2)
    for table in tables.values():
        table.flags.writeable = False
    return M, tables


def truth_probabilities(P):
    M = all_matrices(*P.shape)
    return np.prod(np.where(M == 1, P, 1.0 - P), axis=(1, 2))


def brute(P, beta, zero_division, average):
    """Expected objective of every prediction matrix, by enumeration."""
    M, tables = f_tables(*P.shape, beta, zero_division)
    prob = truth_probabilities(P)
    if average == "weighted_objective":  # sum_j E[S_j F_j] / E[S]
        return M, tables["support_f"] @ prob / P.sum()
    return M, tables[average] @ prob


def brute_ecm(P, M, beta, zero_division, average):
    """F of the expected confusion matrix of every prediction matrix."""
    A = np.einsum("hij,ij->hj", M, P)
    K = M.sum(axis=1)
    S = P.sum(axis=0)
    if average == "micro":
        return fbeta_from_counts(A.sum(1), K.sum(1), S.sum(), beta, zero_division)
    f = fbeta_from_counts(A, K, S[None, :], beta, zero_division)
    if average == "macro":
        return f.mean(axis=1)
    return f @ (S / S.sum())


def feasible(M, P, k, budget):
    """Prediction matrices within the budget (probability-0 labels never predicted)."""
    if k == 0:
        return np.ones(len(M), dtype=bool)
    ok = ~np.any((M == 1) & (P[None] == 0), axis=(1, 2))
    sizes = M.sum(axis=2)
    if budget == "at_most":
        return ok & np.all(sizes <= k, axis=1)
    target = np.minimum(k, np.count_nonzero(P, axis=1))
    return ok & np.all(sizes == target[None, :], axis=1)


def index_of(M, prediction):
    prediction = prediction.toarray() if sparse.issparse(prediction) else prediction
    return int(np.flatnonzero(np.all(M == prediction[None], axis=(1, 2)))[0])


def random_matrix(rng, shape, zeros=False):
    P = rng.random(shape) ** rng.choice([0.5, 1.0, 2.0])
    P = np.clip(P, 0.01, 0.99)
    if zeros:
        P[rng.random(shape) < 0.2] = 0.0
    return P


SHAPES = [(2, 2), (2, 3), (3, 2), (4, 2), (2, 4)]
CASES = [(0, "exactly"), (1, "exactly"), (1, "at_most"), (2, "exactly"), (2, "at_most")]


def test_oracle_tables_equal_sklearn():
    M, tables = f_tables(2, 3, 1.0, 0.0)
    rng = np.random.default_rng(0)
    for h, y in rng.integers(0, len(M), (25, 2)):
        for average in ("macro", "micro", "weighted", "samples"):
            expected = sk_fbeta_score(M[y], M[h], beta=1.0, average=average, zero_division=0.0)
            assert tables[average][h, y] == pytest.approx(expected, abs=1e-15)


# ---------------------------------------------------------------------- exact averages


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_unbudgeted_exact_is_the_enumeration_maximum(shape, zero_division, average):
    rng = np.random.default_rng(seed_of(shape, zero_division, average))
    for beta in (0.5, 1.0, 2.0):
        P = random_matrix(rng, shape, zeros=bool(rng.integers(2)))
        target = "weighted_objective" if average == "weighted" else average
        M, values = brute(P, beta, zero_division, target)
        result = multilabel_decision(P, beta, average, zero_division=zero_division)
        assert result.method == "exact"
        assert result.objective == pytest.approx(values.max(), abs=1e-12)
        assert values[index_of(M, result.prediction)] == pytest.approx(values.max(), abs=1e-12)
        assert result.bound == result.objective
        own = expected_fbeta(P, result.prediction, beta, zero_division, average=average)
        assert own == pytest.approx(result.objective, abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("k", "budget"), CASES[1:])
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_budgeted_micro_exact_is_the_enumeration_maximum(shape, k, budget, zero_division):
    rng = np.random.default_rng(seed_of(shape, k, budget, zero_division))
    for beta in (0.5, 1.0, 2.0):
        P = random_matrix(rng, shape, zeros=bool(rng.integers(2)))
        M, values = brute(P, beta, zero_division, "micro")
        allowed = feasible(M, P, k, budget)
        result = multilabel_decision(
            P, beta, "micro", k=k, budget=budget, zero_division=zero_division
        )
        best = values[allowed].max()
        h = index_of(M, result.prediction)
        assert allowed[h]
        assert values[h] == pytest.approx(best, abs=1e-12)
        assert result.objective == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("n_labels", [2, 3, 4, 5])
@pytest.mark.parametrize(("k", "budget"), CASES)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_samples_with_budget_is_the_enumeration_maximum(n_labels, k, budget, zero_division):
    rng = np.random.default_rng(seed_of(n_labels, k, budget, zero_division))
    P = random_matrix(rng, (4, n_labels), zeros=True)
    for beta in (0.5, 2.0):
        result = multilabel_decision(
            P, beta, "samples", k=k, budget=budget, zero_division=zero_division
        )
        total = 0.0
        for i in range(P.shape[0]):  # rows are independent: enumerate each
            M, values = brute(P[i : i + 1], beta, zero_division, "samples")
            allowed = feasible(M, P[i : i + 1], k, budget)
            h = index_of(M, result.prediction[i : i + 1])
            assert allowed[h]
            assert values[h] == pytest.approx(values[allowed].max(), abs=1e-12)
            total += values[h]
        assert result.objective == pytest.approx(total / P.shape[0], abs=1e-12)
        decider = ExpectedF1(
            beta=beta, average="samples", k=k, budget=budget, zero_division=zero_division
        )
        np.testing.assert_array_equal(decider.predict(P), result.prediction)
        if n_labels <= 4:  # the 3-D GFM path with the same budget
            matrix, p_empty = joint_size_matrix(P)
            if budget == "exactly" and k:
                continue  # the 3-D matrix has no probability-0 rule: sizes are exactly k
            np.testing.assert_array_equal(
                gfm(matrix, p_empty, beta, zero_division, k=k, budget=budget)[0],
                result.prediction,
            )


@pytest.mark.parametrize(("k", "budget"), CASES)
def test_binary_batch_with_budget_is_the_enumeration_maximum(k, budget):
    rng = np.random.default_rng(k * 7 + len(budget))
    p = random_matrix(rng, (7,), zeros=True)
    M, values = brute(p[:, None], 1.0, 0.0, "micro")  # one label: micro F is binary F
    allowed = feasible(M.transpose(0, 2, 1), p[None, :], k, budget)
    prediction, value = batch_decision(p, k=k, budget=budget)
    assert value == pytest.approx(values[allowed].max(), abs=1e-12)
    assert allowed[index_of(M, prediction[:, None])]


# ---------------------------------------------------------------- expected confusion matrix


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("k", "budget"), CASES)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_micro_ecm_dinkelbach_is_the_global_optimum(shape, k, budget, zero_division):
    rng = np.random.default_rng(seed_of(shape, k, budget, zero_division, 1))
    for beta in (0.5, 1.0, 2.0):
        P = random_matrix(rng, shape, zeros=bool(rng.integers(2)))
        M = all_matrices(*shape)
        values = brute_ecm(P, M, beta, zero_division, "micro")
        allowed = feasible(M, P, k, budget)
        result = multilabel_decision(
            P, beta, "micro", k=k, budget=budget, objective="ecm", zero_division=zero_division
        )
        assert result.method == "ecm-dinkelbach"
        assert result.objective == pytest.approx(values[allowed].max(), abs=1e-12)
        h = index_of(M, result.prediction)
        assert allowed[h] and values[h] == pytest.approx(result.objective, abs=1e-12)
        assert ecm_fbeta(P, result.prediction, beta, "micro", zero_division) == pytest.approx(
            result.objective, abs=1e-12
        )


@pytest.mark.parametrize("seed", range(6))
def test_micro_ecm_over_per_label_top_k_choices(seed):
    """Without a budget the candidates are each label's top sets: (n + 1)^L choices."""
    rng = np.random.default_rng(seed)
    P = random_matrix(rng, (6, 3))
    order = np.argsort(-P, axis=0, kind="stable")
    best = -1.0
    for cuts in itertools.product(range(P.shape[0] + 1), repeat=P.shape[1]):
        H = np.zeros_like(P, dtype=int)
        for j, c in enumerate(cuts):
            H[order[:c, j], j] = 1
        best = max(best, ecm_fbeta(P, H, 1.0, "micro"))
    assert multilabel_decision(P, average="micro", objective="ecm").objective == pytest.approx(
        best, abs=1e-12
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_macro_ecm_scan_is_the_global_optimum(shape, average):
    rng = np.random.default_rng(seed_of(shape, average))
    P = random_matrix(rng, shape, zeros=True)
    M = all_matrices(*shape)
    values = brute_ecm(P, M, 1.0, 0.0, average)
    result = multilabel_decision(P, average=average, objective="ecm")
    assert result.method == "ecm-scan"
    assert result.objective == pytest.approx(values.max(), abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("k", "budget"), CASES[1:])
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_budgeted_macro_bca_is_a_certified_local_optimum(shape, k, budget, average):
    rng = np.random.default_rng(seed_of(shape, k, budget, average))
    P = random_matrix(rng, shape, zeros=True)
    M = all_matrices(*shape)
    values = brute_ecm(P, M, 1.0, 0.0, average)
    allowed = feasible(M, P, k, budget)
    result = multilabel_decision(P, average=average, k=k, budget=budget)
    assert result.method == "ecm-bca"
    h = index_of(M, result.prediction)
    assert allowed[h]
    assert values[h] == pytest.approx(result.objective, abs=1e-12)
    assert result.objective <= values[allowed].max() + 1e-12 <= result.bound + 2e-12
    # a fixed point: no single row can be re-chosen for a better objective
    rows_equal = np.all(M == M[h][None], axis=2)  # (matrices, rows)
    for i in range(shape[0]):
        others = np.all(np.delete(rows_equal, i, axis=1), axis=1) & allowed
        assert values[others].max() <= result.objective + 1e-12


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("k", "budget"), CASES[1:])
@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_lagrangian_dual_bounds_the_budgeted_optimum_for_any_multipliers(
    shape, k, budget, average, beta
):
    """Weak duality, checked against enumeration: every L(mu, nu) >= the best feasible ECM F."""
    import f1opt.expected as expected

    rng = np.random.default_rng(seed_of(shape, k, budget, average, beta))
    P = random_matrix(rng, shape, zeros=True)
    M = all_matrices(*shape)
    best = brute_ecm(P, M, beta, 0.0, average)[feasible(M, P, k, budget)].max()
    S = P.sum(axis=0)
    w = np.full(shape[1], 1.0 / shape[1]) if average == "macro" else S / S.sum()
    dual = expected._Dual(expected._entries(P), S, w, beta**2, k, budget == "at_most")
    thetas = [(np.zeros(shape[1]), np.zeros(shape[1]))]
    thetas += [(rng.normal(0, 0.5, shape[1]), rng.normal(0, 0.2, shape[1])) for _ in range(40)]
    values = []
    for mu, nu in thetas:
        value, g_mu, g_nu = dual(mu, nu)
        assert value >= best - 1e-12
        values.append((value, g_mu, g_nu))
    # the subgradient: L(theta') >= L(theta) + g . (theta' - theta) (L is convex)
    for (mu, nu), (value, g_mu, g_nu) in zip(thetas, values, strict=True):
        for (mu2, nu2), (value2, _, _) in zip(thetas[:10], values[:10], strict=True):
            assert value2 >= value + g_mu @ (mu2 - mu) + g_nu @ (nu2 - nu) - 1e-12


@pytest.mark.parametrize("budget", ["exactly", "at_most"])
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_budgeted_bound_is_tighter_than_the_unbudgeted_optimum(budget, average, monkeypatch):
    """Where the budget binds, the Lagrangian bound is below the unbudgeted optimum."""
    import f1opt.expected as expected

    rng = np.random.default_rng(5)
    P = rng.random((80, 6)) ** 0.7  # many likely labels per row: k = 1 binds
    unbudgeted = multilabel_decision(P, average=average, k=1, budget=budget, bound_iter=0)
    results = []
    for use in (True, False):
        monkeypatch.setattr(expected, "USE_NUMBA", use)
        results.append(multilabel_decision(P, average=average, k=1, budget=budget))
    result = results[0]
    assert unbudgeted.bound == pytest.approx(
        multilabel_decision(P, average=average, objective="ecm").objective, abs=1e-12
    )
    assert result.objective <= result.bound < unbudgeted.bound - 0.01
    assert result.bound - result.objective < 0.01  # measured: 1.3e-3 (unbudgeted: 0.38)
    assert results[1].bound == pytest.approx(result.bound, rel=1e-9)


def test_ecm_gap_to_the_exact_expectation_is_small_on_tiny_batches():
    """The documented gap: exact E[micro F] lost by the expected-confusion-matrix optimum."""
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(40):
        P = random_matrix(rng, (4, 2))
        M, exact = brute(P, 1.0, 0.0, "micro")
        ecm = multilabel_decision(P, average="micro", objective="ecm").prediction
        gaps.append(exact.max() - exact[index_of(M, ecm)])
    gaps = np.array(gaps)
    assert gaps.min() >= -1e-12
    assert gaps.max() < 0.05  # on these 8-entry batches; mean and max in the notes


# ------------------------------------------------------------------------ sparse input


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize(("k", "budget"), CASES)
@pytest.mark.parametrize("objective", ["auto", "ecm"])
def test_csr_equals_dense(average, k, budget, objective):
    if objective == "ecm" and average == "samples":
        pytest.skip("samples is exact per row")
    rng = np.random.default_rng(seed_of(average, k, budget, objective))
    P = rng.random((40, 7)) ** 2
    P[rng.random(P.shape) < 0.6] = 0.0
    P[3] = 0.0  # an empty row
    P[:, 2] = 0.0  # an empty label
    options = dict(average=average, k=k, budget=budget, objective=objective)
    dense = multilabel_decision(P, **options)
    for matrix in (sparse.csr_matrix(P), sparse.csr_array(P)):
        result = multilabel_decision(matrix, **options)
        assert sparse.issparse(result.prediction)
        assert result.prediction.dtype == np.int8
        np.testing.assert_array_equal(result.prediction.toarray(), dense.prediction)
        assert result.objective == pytest.approx(dense.objective, abs=1e-12)
    assert (dense.prediction[P == 0] == 0).all()
    if k:
        sizes = dense.prediction.sum(axis=1)
        if budget == "at_most":
            assert (sizes <= k).all()
        else:
            np.testing.assert_array_equal(sizes, np.minimum(k, np.count_nonzero(P, axis=1)))


def test_sparse_calibration_keeps_sparsity():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(200, 4))
    y = (rng.random((200, 4)) < 1 / (1 + np.exp(-2 * scores))).astype(int)
    scores[rng.random(scores.shape) < 0.5] = 0.0
    S = sparse.csr_matrix(scores)
    for calibration in ("isotonic", "sigmoid"):
        decider = ExpectedF1(average="macro", calibration=calibration).fit(S, y)
        calibrated = decider.calibrate(S)
        assert sparse.issparse(calibrated)
        assert calibrated.nnz == S.nnz
        dense = calibrated.toarray()
        assert (dense[scores == 0] == 0).all()
        stored = scores != 0  # the same calibrators as for dense scores, on the stored entries
        np.testing.assert_array_equal(dense[stored], decider.calibrate(scores)[stored])
        prediction = decider.predict(S)
        assert sparse.issparse(prediction)
        assert (prediction.toarray()[scores == 0] == 0).all()
        assert 0.0 <= decider.score(S, y) <= 1.0


# -------------------------------------------------------------------------- the decider


@pytest.mark.parametrize(
    ("average", "k", "expected"),
    [
        ("binary", 0, True),
        ("binary", 3, True),
        ("micro", 0, True),
        ("macro", 2, True),
        ("weighted", 0, True),
        ("samples", 0, False),
        ("samples", 3, False),
    ],
)
def test_batch_dependent(average, k, expected):
    decider = ExpectedF1(average=average, k=k)
    assert decider.batch_dependent is expected
    with pytest.raises(AttributeError):
        decider.batch_dependent = not expected


def test_batch_dependence_is_real():
    """A row is decided differently with other rows around it (macro), never for samples."""
    P = np.array([[0.3, 0.9]])
    others = np.array([[0.95, 0.9]] * 5)
    macro = ExpectedF1(average="macro")
    alone = macro.predict(P)
    together = macro.predict(np.vstack([P, others]))[:1]
    assert not np.array_equal(alone, together)
    samples = ExpectedF1(average="samples", k=1)
    np.testing.assert_array_equal(samples.predict(P), samples.predict(np.vstack([P, others]))[:1])


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize("calibration", [None, "sigmoid"])
def test_save_load_round_trip_of_the_new_parameters(average, calibration, tmp_path):
    rng = np.random.default_rng(21)
    scores = rng.random((120, 5))
    y = (rng.random((120, 5)) < scores).astype(int)
    decider = ExpectedF1(
        average=average, calibration=calibration, k=2, budget="at_most", zero_division=1.0
    )
    if average != "samples":
        decider.set_params(objective="ecm")
    decider.fit(scores, y)
    path = decider.save(tmp_path / "rule.json")
    assert "pickle" not in path.read_text()
    document = json.loads(path.read_text())
    assert document["params"]["k"] == 2 and document["params"]["budget"] == "at_most"
    loaded = f1opt.load(path)
    assert loaded.get_params() == decider.get_params()
    assert loaded.batch_dependent is decider.batch_dependent
    np.testing.assert_array_equal(loaded.predict(scores), decider.predict(scores))
    assert (loaded.predict(scores).sum(axis=1) <= 2).all()


def test_score_equals_sklearn_with_and_without_sample_weight():
    rng = np.random.default_rng(5)
    P = rng.random((60, 4))
    y = (rng.random((60, 4)) < P).astype(int)
    weight = rng.integers(0, 4, 60).astype(float)
    for average in ("micro", "macro", "weighted", "samples"):
        decider = ExpectedF1(average=average, k=2)
        prediction = decider.predict(P)
        for w in (None, weight):
            expected = sk_fbeta_score(
                y, prediction, beta=1.0, average=average, sample_weight=w, zero_division=0.0
            )
            assert decider.score(P, y, sample_weight=w) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("average", ["binary", "macro"])
def test_fit_sample_weight_equals_repeated_rows(calibration, average):
    rng = np.random.default_rng(8)
    shape = (80,) if average == "binary" else (80, 3)
    scores = rng.normal(size=shape)
    y = (rng.random(shape) < 1 / (1 + np.exp(-scores))).astype(int)
    weight = rng.integers(0, 4, 80)
    weighted = ExpectedF1(average=average, calibration=calibration).fit(
        scores, y, sample_weight=weight
    )
    repeated = ExpectedF1(average=average, calibration=calibration).fit(
        np.repeat(scores, weight, axis=0), np.repeat(y, weight, axis=0)
    )
    test = rng.normal(size=shape)
    np.testing.assert_allclose(weighted.calibrate(test), repeated.calibrate(test), atol=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ExpectedF1(average="macro", k=-1).predict([[0.2]]), "`k` must be"),
        (lambda: ExpectedF1(average="macro", k=1.5).predict([[0.2]]), "`k` must be"),
        (lambda: ExpectedF1(average="macro", budget="some").predict([[0.2]]), "`budget`"),
        (lambda: ExpectedF1(average="macro", objective="x").predict([[0.2]]), "`objective`"),
        (
            lambda: ExpectedF1(average="macro", k=2, objective="exact").predict([[0.2]]),
            "objective='ecm'",
        ),
        (lambda: multilabel_decision([[0.2, 1.2]]), r"probabilities in \[0, 1\]"),
        (lambda: multilabel_decision([0.2, 0.3]), "must be 2-D"),
        (lambda: ecm_fbeta([[0.2, 0.3]], [[1, 0, 1]]), "same shape"),
        (lambda: multilabel_decision([[0.2, 0.3]], k=1, bound_iter=-1), "`bound_iter` must"),
        (lambda: multilabel_decision([[0.2, 0.3]], k=1, bound_iter=2.5), "`bound_iter` must"),
        (lambda: expected_fbeta([[0.2, 0.3]], [[1, 0]], average="x"), "`average`"),
        (
            lambda: ExpectedF1(average="macro", calibration="sigmoid").fit(
                np.zeros((3, 2)), np.zeros((3, 2)), sample_weight=[1, -1, 1]
            ),
            "`sample_weight`",
        ),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("budget", ["exactly", "at_most"])
def test_compiled_and_numpy_block_coordinate_ascent_agree(budget, monkeypatch):
    import f1opt.expected as expected

    rng = np.random.default_rng(31)
    P = rng.random((150, 9)) ** 3
    results = []
    for use in (True, False):
        monkeypatch.setattr(expected, "USE_NUMBA", use)
        results.append(multilabel_decision(P, average="weighted", k=2, budget=budget))
    np.testing.assert_array_equal(results[0].prediction, results[1].prediction)
    assert results[0].objective == pytest.approx(results[1].objective, abs=1e-12)
    assert results[0].n_iter == results[1].n_iter
    assert results[0].objective <= results[0].bound


@pytest.mark.parametrize("matrix", [np.zeros((3, 4)), sparse.csr_matrix((3, 4))])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize(("k", "budget"), CASES[:3])
def test_all_zero_probabilities_predict_nothing(matrix, average, k, budget):
    result = multilabel_decision(matrix, average=average, k=k, budget=budget, zero_division=1.0)
    prediction = result.prediction
    prediction = prediction.toarray() if sparse.issparse(prediction) else prediction
    assert prediction.sum() == 0
    assert result.objective == 1.0  # every truth is empty: F = zero_division
