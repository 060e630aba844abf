"""The comparison engine: shared folds, per-split scores and thresholds, the choice."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score as sk_fbeta

import f1opt
from f1opt.compare import (
    Candidate,
    CandidateResult,
    _choose,
    candidates_for,
    compare,
    f_score,
)


def _binary(rng, n=300, shift=0.35):
    y = (rng.random(n) < 0.3).astype(int)
    return np.clip(shift * y + (1 - shift) * rng.random(n), 0, 1), y


def _multilabel(rng, n=200, n_labels=4):
    y = (rng.random((n, n_labels)) < 0.35).astype(int)
    return np.clip(0.35 * y + 0.65 * rng.random((n, n_labels)), 0, 1), y


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    average=st.sampled_from(["micro", "macro", "weighted", "samples"]),
    beta=st.sampled_from([0.5, 1.0, 2.0]),
    weighted=st.booleans(),
)
def test_f_score_is_sklearns(seed, average, beta, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    y = (rng.random((n, 3)) < 0.3).astype(int)
    pred = (rng.random((n, 3)) < 0.4).astype(int)
    w = rng.integers(0, 4, n).astype(float) if weighted else None
    if w is not None and w.sum() == 0:
        w[0] = 1.0
    want = sk_fbeta(y, pred, beta=beta, average=average, zero_division=0, sample_weight=w)
    got = f_score("multilabel", y, pred, beta=beta, average=average, sample_weight=w)
    assert got == pytest.approx(want, abs=1e-12)
    # binary (first column) and multiclass (ids) too
    want = sk_fbeta(y[:, 0], pred[:, 0], beta=beta, zero_division=0, sample_weight=w)
    assert f_score("binary", y[:, 0], pred[:, 0], beta=beta, sample_weight=w) == pytest.approx(
        want, abs=1e-12
    )
    k, kp = rng.integers(0, 4, n), rng.integers(0, 4, n)
    for avg in ("macro", "weighted", "micro"):
        want = sk_fbeta(
            k, kp, beta=beta, average=avg, labels=range(4), zero_division=0, sample_weight=w
        )
        got = f_score("multiclass", k, kp, beta=beta, average=avg, n_columns=4, sample_weight=w)
        assert got == pytest.approx(want, abs=1e-12)


def test_splits_are_shared_and_scores_are_recomputable(rng):
    s, y = _binary(rng)
    result = compare(
        s,
        y,
        target="binary",
        average="binary",
        cv=4,
        random_state=3,
        n_repeats=1,
        objective="pooled",
    )
    assert [c.name for c in result.candidates] == ["default", "global"]
    glob = result["global"]
    pooled = np.zeros_like(y)
    for i, (train, held) in enumerate(result.splits):
        rule = f1opt.GlobalThreshold().fit(s[train], y[train])
        assert glob.split_thresholds[i] == rule.threshold_
        pred = rule.predict(s[held])
        pooled[held] = pred
        assert glob.split_scores[i] == pytest.approx(sk_fbeta(y[held], pred, beta=1), abs=1e-12)
        assert result.default.split_scores[i] == pytest.approx(
            sk_fbeta(y[held], s[held] >= 0.5, beta=1), abs=1e-12
        )
    assert glob.oof_score == pytest.approx(sk_fbeta(y, pooled, beta=1), abs=1e-12)
    assert glob.mean == pytest.approx(np.mean(glob.split_scores))
    assert glob.std == pytest.approx(np.std(glob.split_scores))
    cv = result.cv_results()
    assert list(cv["candidate"]) == ["default", "global"]
    assert cv["split0_threshold"][1] == glob.split_thresholds[0]
    assert cv["chosen"].sum() == 1


def test_bootstrap_interval_is_the_percentiles_of_resampled_f(rng):
    s, y = _binary(rng, n=120)
    result = compare(
        s,
        y,
        target="binary",
        average="binary",
        methods=["global"],
        n_bootstrap=30,
        cv=3,
        n_repeats=1,
        objective="pooled",
    )
    glob = result["global"]
    pooled = np.zeros_like(y)
    for train, held in result.splits:
        pooled[held] = f1opt.GlobalThreshold().fit(s[train], y[train]).predict(s[held])
    np.testing.assert_array_equal(glob.oof_predictions, pooled[None])
    seed = int(np.random.default_rng(0).integers(2**31))  # compare's seed for random_state=0
    idx = np.random.default_rng(seed).integers(0, y.size, size=(30, y.size))
    values = [sk_fbeta(y[i], pooled[i], beta=1, zero_division=0) for i in idx]
    low, high = np.percentile(values, [2.5, 97.5])
    assert glob.interval == pytest.approx((low, high), abs=1e-12)
    assert low <= glob.oof_score <= high


def _fake(name, method, scores, oof=None, batch=False):
    scores = np.asarray(scores, dtype=float)
    return CandidateResult(
        candidate=Candidate(name, method),
        split_scores=scores,
        split_thresholds=[None] * scores.size,
        oof_score=float(scores.mean() if oof is None else oof),
        interval=(np.nan, np.nan),
        batch_dependent=batch,
    )


def test_one_standard_error_rule():
    default = [0.80, 0.82, 0.78, 0.81, 0.79]
    # a noisy gain: mean 0.004, paired differences (+0.03, -0.02, ...) with SE above it
    noisy = _fake("global", "global", [0.83, 0.80, 0.80, 0.80, 0.79])
    assert _choose([_fake("default", "default", default), noisy], "noise").name == "default"
    assert _choose([_fake("default", "default", default), noisy], "best").name == "global"
    # a steady gain of 0.02 on every fold (SE 0) replaces the default
    steady = _fake("global", "global", np.add(default, 0.02))
    assert _choose([_fake("default", "default", default), steady], "noise").name == "global"
    # exact ties: the default
    same = _fake("global", "global", default)
    assert _choose([_fake("default", "default", default), same], "noise").name == "default"
    assert _choose([_fake("default", "default", default), same], "best").name == "default"
    # a batch rule is never chosen, however good
    batch = _fake("expected", "expected", np.add(default, 0.1), batch=True)
    for selection in ("noise", "best"):
        assert _choose([_fake("default", "default", default), batch], selection).name == "default"


def test_the_simpler_of_two_rules_within_noise_of_the_best():
    default = _fake("default", "default", [0.70, 0.72, 0.69, 0.71, 0.70])
    glob = _fake("global", "global", [0.76, 0.78, 0.75, 0.77, 0.76])
    per_class = _fake("per_class", "per_class", [0.77, 0.78, 0.76, 0.76, 0.77])  # +0.002
    assert _choose([default, glob, per_class], "noise").name == "global"
    assert _choose([default, glob, per_class], "best").name == "per_class"


def test_no_positive_is_an_error(rng):
    s = rng.random(50)
    with pytest.raises(ValueError, match="no positive"):
        compare(s, np.zeros(50, int), target="binary", average="binary")
    with pytest.raises(ValueError, match="no positive"):
        compare(rng.random((50, 3)), np.zeros((50, 3), int), target="multilabel", average="micro")


def test_samples_tries_three_calibrations(rng):
    s, y = _multilabel(rng)
    names = [c.name for c in candidates_for("multilabel", "samples")]
    assert names == ["default", "global", "expected", "expected[isotonic]", "expected[sigmoid]"]
    names = [c.name for c in candidates_for("multilabel", "samples", response="decision_function")]
    assert names == ["default", "global", "expected[isotonic]", "expected[sigmoid]"]
    result = compare(s, y, target="multilabel", average="samples", cv=3, n_bootstrap=0)
    calibrations = [c.decider.calibration for c in result.candidates if c.method == "expected"]
    assert calibrations == [None, "isotonic", "sigmoid"]
    assert all(not c.batch_dependent for c in result.candidates)


def test_explicit_batch_rule_is_compared_but_not_chosen(rng):
    s, y = _binary(rng, shift=0.6)
    result = compare(s, y, target="binary", average="binary", methods=["global", "expected"])
    assert result["expected"].batch_dependent and not result["expected"].chosen
    assert "batch rule" in result.format_table()
    forced = compare(
        s, y, target="binary", average="binary", methods=["expected"], choose="expected"
    )
    assert forced.chosen.name == "expected"


def test_a_split_without_positives_falls_back_to_the_default(rng):
    s = rng.random(40)
    y = np.zeros(40, int)
    y[:2] = 1
    folds = [(np.arange(2, 40), np.arange(2))]  # the training part has no positive
    result = compare(s, y, target="binary", average="binary", cv=folds, n_bootstrap=0)
    assert result["global"].n_fallback == 1
    assert result["global"].split_thresholds == [None]


def test_weighted_scores_are_sklearns(rng):
    s, y = _binary(rng)
    w = rng.integers(0, 3, y.size).astype(float)
    result = compare(s, y, target="binary", average="binary", methods=[], sample_weight=w, cv=3)
    for i, (_, held) in enumerate(result.splits):
        want = sk_fbeta(y[held], s[held] >= 0.5, beta=1, sample_weight=w[held], zero_division=0)
        assert result.default.split_scores[i] == pytest.approx(want, abs=1e-12)
    assert result.default.oof_score == pytest.approx(
        sk_fbeta(y, s >= 0.5, beta=1, sample_weight=w), abs=1e-12
    )


def test_integer_weights_fit_the_rule_of_repeated_rows(rng):
    s, y = _binary(rng, n=150)
    w = rng.integers(0, 4, y.size)
    result = compare(
        s,
        y,
        target="binary",
        average="binary",
        methods=["global"],
        sample_weight=w,
        objective="pooled",
    )
    repeated = f1opt.GlobalThreshold().fit(np.repeat(s, w), np.repeat(y, w))
    assert result["global"].decider.threshold_ == repeated.threshold_


def _fold_ids_of(result, n):
    fold_ids = np.empty(n, int)
    for i, (_, held) in enumerate(result.splits[: len(result.splits) // result.n_repeats]):
        fold_ids[held] = i
    return fold_ids


def test_fold_mean_is_the_default_objective_and_uses_the_kernel(rng):
    from f1opt.thresholds import fold_mean_threshold

    s, y = _binary(rng)
    result = compare(s, y, target="binary", average="binary", cv=4, n_bootstrap=0)
    assert [c.name for c in result.candidates] == ["default", "global"]
    want = fold_mean_threshold(s, y, _fold_ids_of(result, y.size))
    rule = result["global"].decider
    assert rule.threshold_ == want
    assert rule.best_score_ == pytest.approx(sk_fbeta(y, (s >= want).astype(int), beta=1.0))
    # each split's threshold is the fold-mean one of that split's training part
    train, _ = result.splits[0]
    ids = _fold_ids_of(result, y.size)
    assert result["global"].split_thresholds[0] == fold_mean_threshold(
        s[train], y[train], ids[train]
    )


def test_both_objectives_are_two_candidates(rng):
    from f1opt.thresholds import fold_mean_threshold, optimal_threshold

    s, y = _binary(rng)
    result = compare(s, y, target="binary", average="binary", objective="both", cv=4)
    assert [c.name for c in result.candidates] == ["default", "global[pooled]", "global[fold_mean]"]
    assert result["global[fold_mean]"].decider.threshold_ == fold_mean_threshold(
        s, y, _fold_ids_of(result, y.size)
    )
    assert result["global[pooled]"].decider.threshold_ == optimal_threshold(y, s).threshold


@pytest.mark.parametrize("target", ["binary", "multilabel", "multiclass"])
def test_fit_rule_is_the_rule_compare_refits(rng, target):
    from f1opt.compare import fit_rule

    if target == "binary":
        s, y = _binary(rng)
        method, average = "global", "binary"
    elif target == "multilabel":
        s, y = _multilabel(rng)
        method, average = "per_class", "macro"
    else:
        y = rng.integers(0, 3, 150)
        s = rng.dirichlet(np.ones(3), 150) + 0.4 * np.eye(3)[y]
        s /= s.sum(axis=1, keepdims=True)
        method, average = "weights", "macro"
    result = compare(
        s,
        y,
        target=target,
        average=average,
        methods=[method],
        cv=4,
        random_state=7,
        n_repeats=2,
        n_bootstrap=0,
    )
    rule = fit_rule(method, s, y, target=target, average=average, cv=4, random_state=7)
    np.testing.assert_array_equal(rule.predict(s), result[method].decider.predict(s))
    for name in ("threshold_", "thresholds_", "weights_", "offsets_"):
        if hasattr(rule, name):
            np.testing.assert_array_equal(
                getattr(rule, name), getattr(result[method].decider, name)
            )
