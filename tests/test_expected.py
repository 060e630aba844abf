"""ExpectedF1 and the expected-F kernels against brute-force enumeration.

The oracle enumerates every label vector (2^n) and every prediction (2^n); its
table of F values is checked against sklearn.metrics.fbeta_score.
"""

import functools
import itertools
import json

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.base import clone

try:  # scikit-learn's private Platt fit, the reference of f1opt.expected.platt_sigmoid
    from sklearn.calibration import _SigmoidCalibration
except ImportError:  # pragma: no cover - renamed in a later scikit-learn
    _SigmoidCalibration = None
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import fbeta_score as sk_fbeta_score

import f1opt
from f1opt.expected import (
    EXACT_MAX_WORK,
    ExpectedF1,
    _bernstein_window,
    batch_decision,
    expected_fbeta,
    gfm,
    gfm_independent,
    joint_size_matrix,
    poisson_binomial_pmf,
    topk_expected_fbeta,
)
from f1opt.metrics import fbeta_from_counts

BETAS = (0.5, 1.0, 2.0)
ZERO_DIVISIONS = (0.0, 1.0)


# ----------------------------------------------------------------------------- oracle


def all_vectors(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int64).reshape(-1, n)


@functools.lru_cache(maxsize=64)
def f_table(n, beta, zero_division):
    """F[h, y] for every prediction h and truth y of length n (rows of all_vectors)."""
    v = all_vectors(n)
    tp = v @ v.T
    k = v.sum(axis=1)[:, None]
    p = v.sum(axis=1)[None, :]
    table = fbeta_from_counts(tp, k, p, beta, zero_division)
    table.flags.writeable = False  # cached: shared between tests
    return table


def truth_probabilities(p):
    """P(y) of every label vector y under independence."""
    v = all_vectors(len(p))
    return np.prod(np.where(v == 1, p, 1.0 - p), axis=1)


def brute_expected(p, beta, zero_division):
    """Expected F of every prediction (rows of all_vectors), by enumeration."""
    return f_table(len(p), beta, zero_division) @ truth_probabilities(np.asarray(p))


def random_probabilities(rng, n):
    """Mixed probabilities with exact 0s, 1s and ties, as real models give them."""
    p = rng.random(n) ** rng.choice([0.5, 1.0, 3.0])
    if n >= 4:
        p[rng.integers(n)] = 0.0
        p[rng.integers(n)] = 1.0
        p[rng.integers(n)] = p[rng.integers(n)]
    return p


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_oracle_f_table_equals_sklearn(beta, zero_division):
    rng = np.random.default_rng(0)
    pairs = [(3, h, y) for h, y in itertools.product(range(8), repeat=2) if (h + y) % 3 == 0]
    pairs += [(8, int(h), int(y)) for h, y in rng.integers(0, 256, (15, 2))]
    pairs += [(8, 0, 0), (8, 0, 5), (8, 5, 0)]
    for n, h, y in pairs:
        v = all_vectors(n)
        expected = sk_fbeta_score(v[y], v[h], beta=beta, zero_division=zero_division)
        assert f_table(n, beta, zero_division)[h, y] == pytest.approx(expected, abs=1e-15)


# ------------------------------------------------------------------- batch (binary)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 10])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_batch_decision_is_the_brute_force_maximum(n, beta, zero_division):
    rng = np.random.default_rng(n * 100 + int(beta * 10) + int(zero_division))
    p = random_probabilities(rng, n)
    table = brute_expected(p, beta, zero_division)
    prediction, value = batch_decision(p, beta, zero_division, method="exact")
    assert value == pytest.approx(table.max(), abs=1e-12)
    index = int(prediction @ (1 << np.arange(n)[::-1]))  # row of all_vectors
    assert table[index] == pytest.approx(table.max(), abs=1e-12)
    assert expected_fbeta(p, prediction, beta, zero_division) == pytest.approx(value, abs=1e-12)
    decider = ExpectedF1(beta=beta, zero_division=zero_division)
    np.testing.assert_array_equal(decider.predict(p), prediction)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_topk_expectations_for_every_k_match_enumeration(beta, zero_division):
    p = random_probabilities(np.random.default_rng(3), 9)
    table = brute_expected(p, beta, zero_division)
    order = np.argsort(-p, kind="stable")
    expected = topk_expected_fbeta(p, beta, zero_division, method="exact")
    for k in range(p.size + 1):
        h = np.zeros(p.size, dtype=np.int64)
        h[order[:k]] = 1
        assert expected[k] == pytest.approx(table[int(h @ (1 << np.arange(9)[::-1]))], abs=1e-12)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_expected_fbeta_of_every_prediction(beta, zero_division):
    p = random_probabilities(np.random.default_rng(4), 7)
    table = brute_expected(p, beta, zero_division)
    for index, h in enumerate(all_vectors(7)):
        assert expected_fbeta(p, h, beta, zero_division) == pytest.approx(table[index], abs=1e-12)


def test_expected_fbeta_rows_is_the_mean_of_row_expectations():
    rng = np.random.default_rng(5)
    P = np.vstack([random_probabilities(rng, 5) for _ in range(6)])
    H = rng.integers(0, 2, P.shape)
    H[0] = 0
    rows = [brute_expected(P[i], 2.0, 1.0)[int(H[i] @ (1 << np.arange(5)[::-1]))] for i in range(6)]
    assert expected_fbeta(P, H, 2.0, 1.0) == pytest.approx(np.mean(rows), abs=1e-12)


def test_large_batch_exact_agrees_with_the_independent_expectation():
    rng = np.random.default_rng(6)
    p = rng.beta(0.5, 4.0, 3000)  # long enough for the FFT product of the pmf
    prediction, value = batch_decision(p, method="exact")
    assert expected_fbeta(p, prediction) == pytest.approx(value, abs=1e-12)
    order = np.argsort(-p, kind="stable")
    expected = topk_expected_fbeta(p, method="exact")
    for k in (1, 17, int(prediction.sum()) + 5, 2999):
        h = np.zeros(p.size, dtype=np.int8)
        h[order[:k]] = 1
        assert expected_fbeta(p, h) == pytest.approx(expected[k], abs=1e-12)


def test_approximation_is_close_and_auto_switches_at_the_bound(monkeypatch):
    rng = np.random.default_rng(7)
    p = rng.beta(0.5, 3.0, 4000)
    exact = topk_expected_fbeta(p, method="exact")
    approx = topk_expected_fbeta(p, method="approx")
    assert approx[0] == exact[0]
    assert np.abs(approx - exact)[1:].max() < 1e-6
    assert exact[np.argmax(exact)] - exact[np.argmax(approx)] < 1e-9
    np.testing.assert_array_equal(topk_expected_fbeta(p), exact)
    monkeypatch.setattr("f1opt.expected.EXACT_MAX_WORK", 10_000)
    np.testing.assert_array_equal(topk_expected_fbeta(p), approx)


def test_auto_is_exact_up_to_20000_and_for_rare_positives():
    lo, hi = _bernstein_window(np.full(20_000, 0.5))  # the widest window at this n
    assert 20_000 * (hi - lo + 2) <= EXACT_MAX_WORK
    rare = np.random.default_rng(8).beta(0.05, 100.0, 50_000)  # about 25 positives
    lo, hi = _bernstein_window(rare)
    assert rare.size * (hi - lo + 2) <= EXACT_MAX_WORK


# ------------------------------------------------------------------ samples (GFM)


@pytest.mark.parametrize("n_labels", [1, 3, 6, 8])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_gfm_independent_is_the_brute_force_maximum(n_labels, beta, zero_division):
    rng = np.random.default_rng(n_labels * 7 + int(beta * 4) + int(zero_division))
    P = np.vstack([random_probabilities(rng, n_labels) for _ in range(4)])
    P = np.vstack([P, np.full(n_labels, 0.01), np.zeros(n_labels), np.ones(n_labels)])
    prediction, values = gfm_independent(P, beta, zero_division)
    weights = 1 << np.arange(n_labels)[::-1]
    for i, p in enumerate(P):
        table = brute_expected(p, beta, zero_division)
        assert values[i] == pytest.approx(table.max(), abs=1e-12)
        assert table[int(prediction[i] @ weights)] == pytest.approx(table.max(), abs=1e-12)
    assert expected_fbeta(P, prediction, beta, zero_division) == pytest.approx(
        values.mean(), abs=1e-12
    )
    decider = ExpectedF1(beta=beta, average="samples", zero_division=zero_division)
    np.testing.assert_array_equal(decider.predict(P), prediction)
    # the matrix route (joint_size_matrix, then general GFM) reaches the same optimum
    matrix, p_empty = joint_size_matrix(P)
    _, general = gfm(matrix, p_empty, beta, zero_division)
    np.testing.assert_allclose(general, values, atol=1e-12)


def joint_from_distribution(probabilities, n_labels):
    """P(y_l = 1, |y| = s) and P(y = 0) of an explicit distribution over label vectors."""
    v = all_vectors(n_labels)
    sizes = v.sum(axis=1)
    matrix = np.zeros((n_labels, n_labels))
    for s in range(1, n_labels + 1):
        matrix[:, s - 1] = (probabilities[sizes == s, None] * v[sizes == s]).sum(axis=0)
    return matrix, probabilities[sizes == 0].sum()


@pytest.mark.parametrize("n_labels", [2, 4, 6])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_gfm_is_optimal_for_dependent_labels(n_labels, beta, zero_division):
    rng = np.random.default_rng(n_labels + int(beta * 8) + int(zero_division))
    distributions = rng.dirichlet(np.full(2**n_labels, 0.3), size=5)
    distributions[0] = np.eye(2**n_labels)[0]  # surely empty
    parts = [joint_from_distribution(d, n_labels) for d in distributions]
    matrix = np.stack([m for m, _ in parts])
    p_empty = np.array([e for _, e in parts])
    prediction, values = gfm(matrix, p_empty, beta, zero_division)
    table = f_table(n_labels, beta, zero_division)
    weights = 1 << np.arange(n_labels)[::-1]
    for i, d in enumerate(distributions):
        expected = table @ d
        assert values[i] == pytest.approx(expected.max(), abs=1e-12)
        assert expected[int(prediction[i] @ weights)] == pytest.approx(expected.max(), abs=1e-12)
    decider = ExpectedF1(beta=beta, average="samples", zero_division=zero_division)
    np.testing.assert_array_equal(decider.predict(matrix, p_empty=p_empty), prediction)


def test_joint_size_matrix_matches_enumeration():
    p = random_probabilities(np.random.default_rng(8), 6)
    matrix, p_empty = joint_size_matrix(p[None])
    expected_matrix, expected_empty = joint_from_distribution(truth_probabilities(p), 6)
    np.testing.assert_allclose(matrix[0], expected_matrix, atol=1e-15)
    assert p_empty[0] == pytest.approx(expected_empty, abs=1e-15)


def test_a_batch_of_rows_is_decided_as_row_by_row():
    rng = np.random.default_rng(9)
    P = np.round(rng.random((300, 12)) ** 2, 2)  # many ties
    P[:5] = 0.5
    decider = ExpectedF1(average="samples", beta=2.0)
    batch = decider.predict(P)
    for i in range(P.shape[0]):
        np.testing.assert_array_equal(decider.predict(P[i : i + 1])[0], batch[i])
    matrix, p_empty = joint_size_matrix(P[:40])
    batch = decider.predict(matrix, p_empty=p_empty)
    for i in range(40):
        row = decider.predict(matrix[i : i + 1], p_empty=p_empty[i : i + 1])
        np.testing.assert_array_equal(row[0], batch[i])


# ----------------------------------------------------------------- property test


@pytest.mark.property
def test_property_kernels_match_enumeration():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    probability = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))

    @hypothesis.settings(max_examples=50, deadline=None)
    @hypothesis.given(
        p=st.lists(probability, min_size=1, max_size=8),
        beta=st.sampled_from(BETAS),
        zero_division=st.sampled_from(ZERO_DIVISIONS),
    )
    def check(p, beta, zero_division):
        p = np.array(p)
        table = brute_expected(p, beta, zero_division)
        prediction, value = batch_decision(p, beta, zero_division, method="exact")
        assert value == pytest.approx(table.max(), abs=1e-12)
        assert expected_fbeta(p, prediction, beta, zero_division) == pytest.approx(value, abs=1e-12)
        _, rows = gfm_independent(p[None], beta, zero_division)
        assert rows[0] == pytest.approx(table.max(), abs=1e-12)
        _, general = gfm(*joint_size_matrix(p[None]), beta, zero_division)
        assert general[0] == pytest.approx(table.max(), abs=1e-12)

    check()


# ------------------------------------------------------------- realised F = sklearn


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_realised_f_equals_sklearn(beta, zero_division):
    rng = np.random.default_rng(10)
    p = rng.random(500) ** 3
    y = (rng.random(500) < p).astype(int)
    decider = ExpectedF1(beta=beta, zero_division=zero_division)
    prediction = decider.predict(p)
    assert decider.score(p, y) == pytest.approx(
        sk_fbeta_score(y, prediction, beta=beta, zero_division=zero_division), abs=1e-15
    )
    P = rng.random((200, 6)) ** 3
    P[:10] = 0.0
    P[10:20] = 0.02
    Y = (rng.random((200, 6)) < P).astype(int)
    decider = ExpectedF1(beta=beta, average="samples", zero_division=zero_division)
    prediction = decider.predict(P)
    empty = (prediction.sum(axis=1) == 0) & (Y.sum(axis=1) == 0)
    assert empty.any()  # rows where truth and prediction are empty: zero_division counts
    assert decider.score(P, Y) == pytest.approx(
        sk_fbeta_score(Y, prediction, beta=beta, average="samples", zero_division=zero_division),
        abs=1e-15,
    )


def test_poisson_binomial_pmf():
    rng = np.random.default_rng(11)
    p = rng.random(2000)
    long = poisson_binomial_pmf(p)  # FFT product of exact blocks
    direct = poisson_binomial_pmf(p[None])[0]  # direct recursion
    np.testing.assert_allclose(long, direct, atol=1e-15)
    np.testing.assert_allclose(
        poisson_binomial_pmf(np.full(1000, 0.3)), binom.pmf(np.arange(1001), 1000, 0.3), atol=1e-15
    )


# ---------------------------------------------------------------- calibration, I/O


def make_scores(rng, shape):
    p = rng.random(shape)
    y = (rng.random(shape) < p).astype(int)
    return 4.0 * p - 1.0, y  # scores are not probabilities


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
def test_calibrators_are_scikit_learns(calibration):
    scores, y = make_scores(np.random.default_rng(12), (400, 3))
    decider = ExpectedF1(average="samples", calibration=calibration).fit(scores, y)
    calibrated = decider.calibrate(scores)
    for j in range(3):
        if calibration == "isotonic":
            reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        elif _SigmoidCalibration is None:
            pytest.skip("scikit-learn no longer has _SigmoidCalibration (optimality is tested)")
        else:
            reference = _SigmoidCalibration()
        reference.fit(scores[:, j], y[:, j])
        # sigmoid: our own Platt fit, the same optimum up to the optimisers' tolerances
        atol = 1e-12 if calibration == "isotonic" else 1e-4
        np.testing.assert_allclose(calibrated[:, j], reference.predict(scores[:, j]), atol=atol)
    assert 0.0 <= calibrated.min() and calibrated.max() <= 1.0


@pytest.mark.parametrize("calibration", [None, "isotonic", "sigmoid"])
@pytest.mark.parametrize("average", ["binary", "samples"])
def test_save_load_round_trip(calibration, average, tmp_path):
    rng = np.random.default_rng(13)
    shape = (300,) if average == "binary" else (300, 4)
    scores, y = make_scores(rng, shape)
    if calibration is None:
        scores = (scores + 1.0) / 4.0
    decider = ExpectedF1(beta=2.0, average=average, calibration=calibration, zero_division=1.0).fit(
        scores, y
    )
    path = decider.save(tmp_path / "expected.json")
    document = json.loads(path.read_text())
    assert document["class"] == "ExpectedF1"
    loaded = f1opt.load(path)
    assert type(loaded) is ExpectedF1
    assert loaded.get_params() == decider.get_params()
    np.testing.assert_array_equal(loaded.predict(scores), decider.predict(scores))
    new_scores = scores[::-1] * 1.01
    if calibration is None:
        new_scores = np.clip(new_scores, 0, 1)
    np.testing.assert_array_equal(loaded.predict(new_scores), decider.predict(new_scores))
    assert loaded.score(scores, y) == decider.score(scores, y)
    assert [p.name for p in tmp_path.iterdir()] == ["expected.json"]


def test_unfitted_decider_without_calibration_saves_and_predicts(tmp_path):
    decider = ExpectedF1(average="samples")
    loaded = f1opt.load(decider.save(tmp_path / "e.json"))
    P = np.random.default_rng(14).random((5, 3))
    np.testing.assert_array_equal(loaded.predict(P), decider.predict(P))
    assert clone(decider).get_params() == decider.get_params()


def test_lazy_public_names():
    assert f1opt.ExpectedF1 is ExpectedF1
    assert f1opt.expected_fbeta is expected_fbeta


def test_malformed_file_is_a_clear_error(tmp_path):
    scores, y = make_scores(np.random.default_rng(15), (100, 2))
    path = (
        ExpectedF1(average="samples", calibration="isotonic")
        .fit(scores, y)
        .save(tmp_path / "e.json")
    )
    document = json.loads(path.read_text())
    document["fitted"]["calibrators_"] = document["fitted"]["calibrators_"][:1]
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="malformed ExpectedF1.*calibrators"):
        f1opt.load(path)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ExpectedF1().predict([0.2, 1.5]), r"probabilities in \[0, 1\]"),
        (lambda: ExpectedF1().predict([0.2, -0.1]), r"probabilities in \[0, 1\]"),
        (lambda: ExpectedF1().predict([0.2, np.nan]), "NaN"),
        (lambda: ExpectedF1().predict([[0.2, 0.3]]), "must be 1-D"),
        (lambda: ExpectedF1(average="samples").predict([0.2, 0.3]), "must be 2-D"),
        (lambda: ExpectedF1().predict([]), "empty"),
        (lambda: ExpectedF1(average="fancy").predict([0.2]), "`average` must be one of"),
        (lambda: ExpectedF1(calibration="beta").predict([0.2]), "`calibration` must be"),
        (lambda: ExpectedF1(beta=0).predict([0.2]), "`beta`"),
        (lambda: ExpectedF1(zero_division=2).predict([0.2]), "`zero_division`"),
        (lambda: expected_fbeta([0.2, 0.3], [1, 0, 1]), "same shape"),
        (lambda: expected_fbeta([0.2, 0.3], [1, 2]), "only 0 and 1"),
        (lambda: topk_expected_fbeta([0.2], method="fast"), "`method`"),
        (lambda: gfm(np.zeros((2, 3, 2)), np.zeros(2)), r"\(n_samples, n_labels, n_labels\)"),
        (lambda: gfm(np.zeros((2, 3, 3)), np.zeros(3)), "one P\\(y = 0\\) per row"),
        (
            lambda: ExpectedF1(average="samples").predict(np.zeros((2, 3, 3))),
            "needs `p_empty`",
        ),
        (
            lambda: ExpectedF1(average="samples").predict(np.zeros((2, 3)), p_empty=[1, 1]),
            "only used with a 3-D",
        ),
        (
            lambda: ExpectedF1(average="samples").fit(np.zeros((4, 2)), np.zeros((4, 3))),
            "same shape",
        ),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_calibration_needs_fit_and_matching_width():
    with pytest.raises(NotFittedError):
        ExpectedF1(calibration="sigmoid").predict([0.2, 3.0])
    scores, y = make_scores(np.random.default_rng(16), (50, 3))
    decider = ExpectedF1(average="samples", calibration="sigmoid").fit(scores, y)
    with pytest.raises(ValueError, match="fitted on 3 label columns"):
        decider.predict(scores[:, :2])
    with pytest.raises(ValueError, match="cannot be calibrated"):
        decider.predict(np.zeros((2, 3, 3)), p_empty=[1.0, 1.0])


def test_real_multilabel_set_beats_the_default(shared_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with np.load(shared_data / "multilabel" / "emotions.npz", allow_pickle=False) as data:
        X, Y = data["X_train"], data["Y_train"].astype(int)
        X_test, Y_test = data["X_test"], data["Y_test"].astype(int)
    model = OneVsRestClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, solver="liblinear"))
    )
    oof = cross_val_predict(model, X, Y, cv=3, method="predict_proba")
    proba = model.fit(X, Y).predict_proba(X_test)
    decider = ExpectedF1(average="samples", calibration="isotonic").fit(oof, Y)
    prediction = decider.predict(proba)
    score = sk_fbeta_score(Y_test, prediction, beta=1.0, average="samples", zero_division=0.0)
    assert decider.score(proba, Y_test) == pytest.approx(score, abs=1e-15)
    default = sk_fbeta_score(Y_test, (proba >= 0.5).astype(int), beta=1.0, average="samples")
    assert score > default + 0.03


def test_many_labels_use_a_window_and_stay_exact():
    rng = np.random.default_rng(17)
    P = rng.beta(0.05, 3.0, (60, 150)) * rng.random((60, 1))  # sparse rows of mixed density
    P[0, :3] = [0.99, 0.6, 0.5]
    lo, hi = _bernstein_window(P)
    assert (hi - lo + 1 < 150).all()  # the window is narrower than the support
    prediction, values = gfm_independent(P, 2.0, 1.0)
    _, general = gfm(*joint_size_matrix(P), 2.0, 1.0)  # full support, general GFM
    np.testing.assert_allclose(values, general, atol=1e-12)
    np.testing.assert_allclose(values.mean(), expected_fbeta(P, prediction, 2.0, 1.0), atol=1e-12)
    for i in range(0, 60, 7):
        row, row_value = gfm_independent(P[i : i + 1], 2.0, 1.0)
        np.testing.assert_array_equal(row[0], prediction[i])
        assert row_value[0] == values[i]


@pytest.mark.parametrize("n", [12, 400])
def test_platt_sigmoid_is_the_smoothed_likelihood_maximum(n):
    from scipy.special import expit

    from f1opt.expected import platt_sigmoid

    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.3).astype(int)
    y[:2] = [0, 1]
    s = rng.normal(1.5 * y, 1.0)
    a, b = platt_sigmoid(s, y)
    n_pos, n_neg = y.sum(), n - y.sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def nll(a, b):
        p = expit(-(a * s + b))
        return -np.sum(t * np.log(p) + (1 - t) * np.log1p(-p))

    best = nll(a, b)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        assert nll(a + da, b + db) >= best - 1e-9
    if _SigmoidCalibration is None:
        return
    reference = _SigmoidCalibration().fit(s, y)
    assert a == pytest.approx(reference.a_, abs=1e-3)
    assert b == pytest.approx(reference.b_, abs=1e-3)
