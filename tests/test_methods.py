"""The method table: one spelling everywhere, builders, the default decision, batch flags."""

import importlib.util

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import fbeta_score as sk_fbeta
from sklearn.utils._param_validation import InvalidParameterError

import f1opt
from f1opt import F1OptimalClassifier
from f1opt.cli import build_parser, main
from f1opt.methods import (
    METHOD_NAMES,
    METHODS,
    DefaultDecision,
    applicable_methods,
    auto_methods,
    check_method_name,
    decider_modules,
    is_batch_dependent,
    make_decider,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_the_six_names():
    assert METHOD_NAMES == ("default", "global", "per_class", "weights", "expected", "stretcher")
    assert f1opt.METHOD_NAMES == METHOD_NAMES
    ranks = {name: METHODS[name].complexity for name in METHOD_NAMES}
    assert ranks["default"] < ranks["global"] < ranks["per_class"] < ranks["stretcher"]
    assert ranks["per_class"] == ranks["weights"] == ranks["expected"]


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_name_is_accepted_by_python_and_the_cli(name):
    # Python: the estimator's parameter validation and the table's builder
    clf = F1OptimalClassifier(LogisticRegression(), method=name)
    clf._validate_params()  # raises InvalidParameterError for an unknown name
    assert check_method_name(name) == name
    # the command line: fit --method NAME parses, compare --methods NAME is validated alike
    args = build_parser().parse_args(
        ["fit", "--scores", "s.csv", "--labels", "l.csv", "-o", "r.json", "--method", name]
    )
    assert args.method == name
    row = METHODS[name]
    if name == "stretcher" and not HAS_TORCH:
        with pytest.raises(ImportError, match="torch"):
            make_decider(name)
        return
    target = next(iter(row.serves))
    decider = make_decider(name, average=row.serves[target][0], target=target)
    assert type(decider).__name__ == row.class_name


def test_old_spelling_gives_one_line_naming_the_new_one(capsys):
    assert main(["fit", "--scores", "s", "--labels", "l", "-o", "r.json", "--method", "per-class"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'per_class'" in err
    with pytest.raises(ValueError, match="spelled 'per_class'"):
        check_method_name("per-class")
    with pytest.raises(InvalidParameterError, match="per_class"):
        F1OptimalClassifier(LogisticRegression(), method="per-class")._validate_params()


def test_auto_never_includes_batch_rules_or_the_stretcher():
    assert auto_methods("binary", "binary") == ["default", "global"]
    assert "expected" in applicable_methods("binary", "binary")
    assert auto_methods("multilabel", "samples") == ["default", "global", "expected"]
    assert auto_methods("multilabel", "micro") == ["default", "global", "per_class"]
    assert auto_methods("multiclass", "macro") == ["default", "weights"]
    assert auto_methods("multiclass", "weighted") == ["default"]
    for target, averages in METHODS["default"].serves.items():
        for average in averages:
            assert "stretcher" not in auto_methods(target, average)


def test_batch_dependence():
    from f1opt.expected import ExpectedF1

    assert is_batch_dependent(ExpectedF1(average="binary"))
    assert not is_batch_dependent(ExpectedF1(average="samples"))
    assert not is_batch_dependent(f1opt.GlobalThreshold())
    assert not is_batch_dependent(DefaultDecision())

    class Budget:
        batch_dependent = True

    assert is_batch_dependent(Budget())
    assert METHODS["expected"].batch_dependent("binary")
    assert not METHODS["expected"].batch_dependent("samples")


def test_load_registrations_come_from_the_table():
    assert set(decider_modules()) >= {"methods", "deciders", "weights", "expected", "stretch"}


@pytest.mark.parametrize(
    ("kwargs", "scores", "want"),
    [
        ({}, [0.2, 0.5, 0.7], [0, 1, 1]),
        ({"threshold": 0.0}, [-1.0, 0.0, 2.0], [0, 1, 1]),
        ({"multiclass": True}, [[0.2, 0.8], [0.6, 0.4]], [1, 0]),
    ],
)
def test_default_decision(kwargs, scores, want, tmp_path):
    rule = DefaultDecision(**kwargs).fit(scores)
    np.testing.assert_array_equal(rule.predict(scores), want)
    path = rule.save(tmp_path / "rule.json")
    again = f1opt.load(path)
    assert isinstance(again, DefaultDecision)
    np.testing.assert_array_equal(again.predict(scores), want)


def test_default_decision_score_is_sklearns(rng):
    s = rng.random((50, 3))
    y = (rng.random((50, 3)) < 0.4).astype(int)
    w = rng.random(50)
    for average in ("micro", "macro", "weighted", "samples"):
        rule = DefaultDecision(beta=2.0, average=average).fit(s)
        want = sk_fbeta(y, s >= 0.5, beta=2.0, average=average, zero_division=0, sample_weight=w)
        assert rule.score(s, y, sample_weight=w) == pytest.approx(want, abs=1e-12)
    k = rng.choice(3, 50)
    rule = DefaultDecision(multiclass=True).fit(s)
    want = sk_fbeta(k, s.argmax(1), beta=1, average="macro", labels=range(3), zero_division=0)
    assert rule.score(s, k) == pytest.approx(want, abs=1e-12)


def _data(target, rng, n=200):
    if target == "binary":
        y = (rng.random(n) < 0.3).astype(int)
        return np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1), y
    if target == "multilabel":
        y = (rng.random((n, 3)) < 0.35).astype(int)
        return np.clip(0.35 * y + 0.65 * rng.random((n, 3)), 0, 1), y
    y = rng.choice(3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True), y


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_cli_fit_with_every_name_is_the_python_rule(name, rng, tmp_path, capsys):
    if name == "stretcher" and not HAS_TORCH:
        pytest.skip("the stretcher needs torch")
    row = METHODS[name]
    target = "multilabel" if "multilabel" in row.serves else next(iter(row.serves))
    average = row.serves[target][0]
    scores, y = _data(target, rng)
    np.save(tmp_path / "s.npy", scores)
    np.save(tmp_path / "y.npy", y)
    argv = ["fit", "--scores", str(tmp_path / "s.npy"), "--labels", str(tmp_path / "y.npy")]
    argv += ["--method", name, "--average", average, "-o", str(tmp_path / "r.json"), "-q"]
    if name == "stretcher":
        argv += ["--epochs", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    rule = f1opt.load(tmp_path / "r.json")
    assert type(rule).__name__ == row.class_name
    if name == "stretcher":
        return  # a network: its weights are checked by its own tests
    python = make_decider(name, average=average, target=target).fit(scores, y)
    np.testing.assert_array_equal(rule.predict(scores), python.predict(scores))
