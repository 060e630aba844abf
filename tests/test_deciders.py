"""Deciders: save/load, sklearn conventions, and clear errors on bad input."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import fbeta_score as sk_fbeta_score

import f1opt
from f1opt.metrics import fbeta_score


@pytest.fixture
def multilabel(rng):
    S = rng.random((200, 5))
    Y = (rng.random((200, 5)) < S).astype(int)
    return S, Y


@pytest.fixture
def binary(rng):
    s = rng.random(300)
    y = (rng.random(300) < s).astype(int)
    return s, y


FITTERS = [
    lambda: f1opt.GlobalThreshold(average="micro"),
    lambda: f1opt.GlobalThreshold(average="samples", beta=2.0),
    lambda: f1opt.GlobalThreshold(average="macro", zero_division=1.0),
    lambda: f1opt.PerClassThreshold(average="micro", beta=0.5),
    lambda: f1opt.PerClassThreshold(average="weighted"),
]


@pytest.mark.parametrize("make", FITTERS)
def test_save_load_round_trip(make, multilabel, tmp_path):
    S, Y = multilabel
    decider = make().fit(S, Y)
    path = decider.save(tmp_path / "rule.json")
    document = json.loads(path.read_text())
    assert document["format"] == "f1opt-decider"
    assert document["format_version"] == 1
    loaded = f1opt.load(path)
    assert type(loaded) is type(decider)
    assert loaded.get_params() == decider.get_params()
    np.testing.assert_array_equal(loaded.predict(S), decider.predict(S))
    assert loaded.best_score_ == decider.best_score_
    assert [p.name for p in tmp_path.iterdir()] == ["rule.json"]  # no temporary left


def test_binary_round_trip_with_infinite_threshold(tmp_path):
    decider = f1opt.GlobalThreshold().fit([0.2, 0.5], [1, 1])
    assert decider.threshold_ == -np.inf
    path = decider.save(tmp_path / "r.json")
    assert "-inf" in path.read_text()
    json.loads(path.read_text())  # strict JSON: no bare Infinity
    assert f1opt.load(path).threshold_ == -np.inf


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "not valid JSON"),
        ("[1, 2, 3]", "not an f1opt decider"),
        ('{"format": "something-else"}', "not an f1opt decider"),
        (
            '{"format": "f1opt-decider", "format_version": 99, "class": "GlobalThreshold"}',
            "format_version 99",
        ),
        (
            '{"format": "f1opt-decider", "format_version": 1, "class": "os.system",'
            ' "params": {}, "fitted": {}}',
            "unknown decider class",
        ),
        (
            '{"format": "f1opt-decider", "format_version": 1, "class": "GlobalThreshold",'
            ' "params": {}, "fitted": {}}',
            "missing fitted attributes",
        ),
        (
            '{"format": "f1opt-decider", "format_version": 1, "class": "GlobalThreshold",'
            ' "params": {"bogus": 1}, "fitted": {}}',
            "malformed",
        ),
        (
            '{"format": "f1opt-decider", "format_version": 1, "class": "PerClassThreshold",'
            ' "params": {}, "fitted": {"thresholds_": "abc", "best_score_": 1, "n_iter_": 1,'
            ' "average_": "micro"}}',
            "malformed",
        ),
    ],
)
def test_load_rejects_malformed_or_foreign_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        f1opt.load(path)


def test_load_rejects_binary_file_and_missing_file(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\x80\x04\x95 pickle-ish \xff")
    with pytest.raises(ValueError, match="not"):
        f1opt.load(path)
    with pytest.raises(FileNotFoundError):
        f1opt.load(tmp_path / "missing.json")


def test_save_into_missing_directory_writes_nothing(tmp_path, multilabel):
    S, Y = multilabel
    decider = f1opt.PerClassThreshold().fit(S, Y)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        decider.save(tmp_path / "nope" / "rule.json")
    assert list(tmp_path.iterdir()) == []


def test_clone_and_params(multilabel):
    S, Y = multilabel
    decider = f1opt.PerClassThreshold(beta=2.0, average="macro")
    fitted = decider.fit(S, Y)
    cloned = clone(fitted)
    assert cloned.get_params() == {"beta": 2.0, "average": "macro", "zero_division": 0.0}
    assert not hasattr(cloned, "thresholds_")
    assert "PerClassThreshold(average='macro', beta=2.0)" in repr(decider)


def test_unfitted_raises_not_fitted(multilabel):
    S, _ = multilabel
    for decider in (f1opt.GlobalThreshold(), f1opt.PerClassThreshold()):
        with pytest.raises(NotFittedError):
            decider.predict(S)
        with pytest.raises(NotFittedError):
            decider.save("never.json")


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
def test_score_equals_sklearn(average, multilabel):
    S, Y = multilabel
    decider = f1opt.GlobalThreshold(average=average, beta=0.5).fit(S, Y)
    pred = decider.predict(S)
    assert decider.score(S, Y) == pytest.approx(
        sk_fbeta_score(Y, pred, beta=0.5, average=average, zero_division=0.0), abs=1e-12
    )


# ---------------------------------------------------------------- errors

BAD_BINARY = [
    ([0, 1, 1], [0.1, np.nan, 0.3], "NaN"),
    ([0, 1, 1], [0.1, np.inf, 0.3], "infinite"),
    ([0, 1], [0.1, 0.2, 0.3], "same shape"),
    ([0, 2, 1], [0.1, 0.2, 0.3], "at most two"),
    ([0, 2, 2], [0.1, 0.2, 0.3], "pos_label"),
    (["a", "b", "b"], [0.1, 0.2, 0.3], r"\{'a', 'b'\} and `pos_label`"),
    ([], [], "empty"),
    ([0, 0, 0], [0.1, 0.2, 0.3], "no positive"),
    ([[0, 1], [1, 0]], [[0.1, 0.2], [0.3, 0.4]], "must be 1-D"),
    ([0, 1, 1], ["a", "b", "c"], "numbers"),
    ([0, 1, 1], [0.1, 0.2, 0.3 + 1j], "real"),
]


@pytest.mark.parametrize("y, s, message", BAD_BINARY)
def test_optimal_threshold_errors(y, s, message):
    with pytest.raises(ValueError, match=message):
        f1opt.optimal_threshold(y, s)


def test_beta_errors():
    for beta in (0, -1, np.nan, "1", True):
        with pytest.raises(ValueError, match="beta"):
            f1opt.optimal_threshold([0, 1], [0.1, 0.2], beta=beta)


def test_decider_errors(multilabel):
    S, Y = multilabel
    with pytest.raises(ValueError, match="average"):
        f1opt.GlobalThreshold(average="bogus").fit(S, Y)
    with pytest.raises(ValueError, match="average"):
        f1opt.PerClassThreshold(average="samples").fit(S, Y)
    with pytest.raises(ValueError, match="2-D"):
        f1opt.PerClassThreshold().fit(S[:, 0], Y[:, 0])
    with pytest.raises(ValueError, match="same shape"):
        f1opt.PerClassThreshold().fit(S, Y[:, :3])
    with pytest.raises(ValueError, match="zero_division"):
        f1opt.GlobalThreshold(average="macro", zero_division=2).fit(S, Y)
    decider = f1opt.PerClassThreshold().fit(S, Y)
    with pytest.raises(ValueError, match="5 label columns"):
        decider.predict(S[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        decider.predict(np.full((2, 5), np.nan))
    binary = f1opt.GlobalThreshold().fit(S[:, 0], Y[:, 0])
    with pytest.raises(ValueError, match="1-D scores"):
        binary.predict(S)


def test_binary_average_on_multilabel_is_an_error(multilabel):
    S, Y = multilabel
    with pytest.raises(ValueError, match="1-D"):
        f1opt.GlobalThreshold(average="binary").fit(S, Y)


def test_pandas_and_bool_input(binary):
    pd = pytest.importorskip("pandas")
    s, y = binary
    result = f1opt.optimal_threshold(pd.Series(y.astype(bool)), pd.Series(s))
    assert result.score == f1opt.optimal_threshold(y, s).score


def test_fbeta_score_matches_sklearn(rng):
    y = rng.integers(0, 2, (50, 4))
    p = rng.integers(0, 2, (50, 4))
    y[:, 0] = 0
    p[:, 0] = 0
    for average in ("micro", "macro", "weighted", "samples"):
        for zd in (0.0, 1.0):
            assert fbeta_score(y, p, beta=2.0, average=average, zero_division=zd) == pytest.approx(
                sk_fbeta_score(y, p, beta=2.0, average=average, zero_division=zd)
            )
    assert fbeta_score(y[:, 1], p[:, 1]) == pytest.approx(sk_fbeta_score(y[:, 1], p[:, 1], beta=1))


def test_saved_file_has_the_usual_mode_of_a_new_file(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        decider = f1opt.GlobalThreshold().fit([0.1, 0.9, 0.4], [0, 1, 0])
        decider.save(tmp_path / "rule.json")
        assert (tmp_path / "rule.json").stat().st_mode & 0o777 == 0o644
        assert [p.name for p in tmp_path.iterdir()] == ["rule.json"]  # no temporary left
    finally:
        os.umask(mask)
