"""Hostile rule files: every one ends in f1opt.RuleFileError naming the problem, and a
file of at most 1 kB cannot make load() allocate more than a few MB or run for long."""

import copy
import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

import f1opt
from f1opt import _io

S2 = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.4], [0.1, 0.8]])
Y2 = np.array([[1, 0], [1, 1], [0, 1], [0, 1]])
P3 = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
Y3 = np.array([0, 1, 2, 0])


def _document(decider, tmp_path, name):
    path = tmp_path / f"{name}.json"
    decider.save(path)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rules")
    return {
        "binary": _document(f1opt.GlobalThreshold().fit(S2[:, 0], Y2[:, 0]), tmp, "binary"),
        "global": _document(f1opt.GlobalThreshold(average="micro").fit(S2, Y2), tmp, "global"),
        "perclass": _document(f1opt.PerClassThreshold().fit(S2, Y2), tmp, "perclass"),
        "weights": _document(f1opt.ClassWeights().fit(P3, Y3), tmp, "weights"),
        "expected": _document(
            f1opt.ExpectedF1(calibration="sigmoid").fit(S2[:, 0], Y2[:, 0]), tmp, "expected"
        ),
    }


def _set(kind, dotted, value):
    def mutate(document):
        target = document
        keys = dotted.split(".")
        for key in keys[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        return document

    return kind, mutate


_DELETE = object()


def _array(data, dtype="<f8", shape=None):
    return {"__ndarray__": data, "dtype": dtype, "shape": [len(data)] if shape is None else shape}


# name -> (base document, mutation, expected message part)
HOSTILE_DOCUMENTS = {
    "nan-threshold": (*_set("binary", "fitted.threshold_", "nan"), "NaN"),
    "bool-threshold": (*_set("binary", "fitted.threshold_", True), "number"),
    "string-threshold": (*_set("binary", "fitted.threshold_", "low"), "number"),
    "list-threshold": (*_set("binary", "fitted.threshold_", [0.5]), "number"),
    "negative-n-labels": (*_set("global", "fitted.n_labels_", -3), "n_labels_"),
    "float-n-labels": (*_set("global", "fitted.n_labels_", 1.5), "n_labels_"),
    "bool-n-labels": (*_set("global", "fitted.n_labels_", True), "n_labels_"),
    "average-mismatch": (*_set("global", "fitted.average_", "macro"), "average_"),
    "average-unknown": (*_set("global", "fitted.average_", "mean"), "average_"),
    "binary-with-labels": (*_set("binary", "fitted.n_labels_", 2), "average_"),
    "version-bool": (*_set("global", "format_version", True), "format_version"),
    "version-string": (*_set("global", "format_version", "1"), "format_version"),
    "version-newer": (*_set("global", "format_version", 2), "format_version"),
    "version-float": (*_set("global", "format_version", 1.0), "format_version"),
    "no-format": (*_set("global", "format", _DELETE), "not an f1opt decider"),
    "unknown-class": (*_set("global", "class", "os.system"), "unknown decider class"),
    "class-list": (*_set("global", "class", ["GlobalThreshold"]), "unknown decider class"),
    "params-list": (*_set("global", "params", [1, 2]), "must be objects"),
    "missing-fitted": (*_set("global", "fitted.threshold_", _DELETE), "missing fitted"),
    "unknown-param": (*_set("global", "params.evil", 1), "evil"),
    "beta-negative": (*_set("global", "params.beta", -1.0), "beta"),
    "beta-bool": (*_set("global", "params.beta", True), "beta"),
    "beta-nan": (*_set("global", "params.beta", "nan"), "beta"),
    "zero-division-2": (*_set("global", "params.zero_division", 2), "zero_division"),
    "best-score-1.5": (*_set("global", "fitted.best_score_", 1.5), "best_score_"),
    "thresholds-nan": (*_set("perclass", "fitted.thresholds_", _array([0.5, "nan"])), "NaN"),
    "thresholds-empty": (*_set("perclass", "fitted.thresholds_", _array([])), "empty"),
    "thresholds-unicode": (
        *_set("perclass", "fitted.thresholds_", _array(["a"], dtype="<U1")),
        "dtype",
    ),
    "thresholds-object": (
        *_set("perclass", "fitted.thresholds_", _array([1], dtype="|O")),
        "dtype",
    ),
    "thresholds-shape-mismatch": (
        *_set("perclass", "fitted.thresholds_", _array([0.1, 0.2], shape=[3])),
        "shape",
    ),
    "thresholds-shape-negative": (
        *_set("perclass", "fitted.thresholds_", _array([], shape=[-1])),
        "shape",
    ),
    "thresholds-shape-huge": (
        *_set("perclass", "fitted.thresholds_", _array([], shape=[10**12])),
        "shape",
    ),
    "thresholds-bools": (*_set("perclass", "fitted.thresholds_", _array([True, False])), "numbers"),
    "thresholds-2d": (
        *_set("perclass", "fitted.thresholds_", _array([[0.1, 0.2]], shape=[1, 2])),
        "1-D",
    ),
    "int8-overflow": (
        *_set("perclass", "fitted.thresholds_", _array([1000, 1], dtype="|i1")),
        "do not fit",
    ),
    "float32-overflow": (
        *_set("perclass", "fitted.thresholds_", _array([1e300, 1], dtype="<f4")),
        "too large",
    ),
    "array-extra-key": (
        *_set("perclass", "fitted.thresholds_", {**_array([0.1, 0.2]), "code": "x"}),
        "unexpected keys",
    ),
    "weights-negative": (*_set("weights", "fitted.weights_", _array([1.0, -1.0, 1.0])), ">= 0"),
    "weights-shape": (*_set("weights", "fitted.weights_", _array([1.0, 1.0])), "shape"),
    "offsets-plus-inf": (*_set("weights", "fitted.offsets_", _array([0.0, "inf", 0.0])), r"\+inf"),
    "n-classes-huge": (*_set("weights", "fitted.n_classes_", 10**30), "n_classes_"),
    "max-iter-zero": (*_set("weights", "params.max_iter", 0), "max_iter"),
    "expected-average-mismatch": (*_set("expected", "fitted.average_", "samples"), "average"),
    "expected-calibrators-dict": (*_set("expected", "fitted.calibrators_", {"a": 1}), "list"),
    "expected-calibrator-nan": (
        *_set("expected", "fitted.calibrators_", [{"a": "nan", "b": 0}]),
        "finite",
    ),
}

HOSTILE_TEXTS = {
    "not-json": (b"{not json", "not valid JSON"),
    "not-utf8": (b"\xff\xfe{}", "UTF-8"),
    "top-level-list": (b"[1, 2, 3]", "not an f1opt decider"),
    "empty-file": (b"", "not valid JSON"),
    "deep-nesting": (b"[" * 900 + b"]" * 900, "nested"),
    "deep-objects": (b'{"a":' * 300 + b"1" + b"}" * 300, "nested"),
    "nan-literal": (b'{"format": NaN}', "strict JSON"),
    "infinity-literal": (b'{"format": Infinity}', "strict JSON"),
    "huge-float": (b'{"format": 1e999}', "too large"),
    "huge-int": (b'{"format": ' + b"9" * 5000 + b"}", "not valid JSON"),
    "duplicate-keys": (b'{"format": "f1opt-decider", "format": "x"}', "twice"),
}


def _write(path, document):
    path.write_text(json.dumps(document, separators=(",", ":")))
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCUMENTS))
def test_hostile_document(name, documents, tmp_path):
    kind, mutate, message = HOSTILE_DOCUMENTS[name]
    path = _write(tmp_path / "rule.json", mutate(copy.deepcopy(documents[kind])))
    with pytest.raises(f1opt.RuleFileError, match=message):
        f1opt.load(path)


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_hostile_text(name, tmp_path):
    data, message = HOSTILE_TEXTS[name]
    path = tmp_path / "rule.json"
    path.write_bytes(data)
    with pytest.raises(f1opt.RuleFileError, match=message):
        f1opt.load(path)


def test_at_least_forty_hostile_files():
    assert len(HOSTILE_DOCUMENTS) + len(HOSTILE_TEXTS) + len(HOSTILE_FILES) >= 40


def test_valid_documents_still_load(documents, tmp_path):
    for kind, document in documents.items():
        f1opt.load(_write(tmp_path / f"{kind}.json", document))


def test_rule_file_error_is_a_value_error():
    assert issubclass(f1opt.RuleFileError, ValueError)


# ----------------------------------------------------------------- files, not fields
def _directory(tmp_path):
    (tmp_path / "rule.json").mkdir()
    return tmp_path / "rule.json", "directory"


def _device(tmp_path):
    os.symlink("/dev/zero", tmp_path / "rule.json")
    return tmp_path / "rule.json", "not a regular file"


def _long_name(tmp_path):
    return tmp_path / ("x" * 5000 + ".json"), "cannot read"


HOSTILE_FILES = {"directory": _directory, "device": _device, "long-name": _long_name}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_file(name, tmp_path):
    path, message = HOSTILE_FILES[name](tmp_path)
    with pytest.raises(f1opt.RuleFileError, match=message):
        f1opt.load(path)


def test_size_is_bounded_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "MAX_RULE_BYTES", 1024)
    path = tmp_path / "rule.json"
    path.write_bytes(b" " * 2048)
    with pytest.raises(f1opt.RuleFileError, match="at most 1024"):
        f1opt.load(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        f1opt.load(tmp_path / "absent.json")


# ----------------------------------------------------------------- the Stretcher


@pytest.fixture(scope="module")
def stretcher_rule(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    Y = (X > 0.5).astype(int)
    stretcher = f1opt.Stretcher(
        hidden=4, epochs=1, early_stopping=False, random_state=0, verbose=False
    ).fit(X, Y)
    path = tmp_path_factory.mktemp("stretch") / "s.json"
    stretcher.save(path)
    return path, json.loads(path.read_text())


def _stretch_case(tmp_path, stretcher_rule, mutate):
    source, document = stretcher_rule
    document = copy.deepcopy(document)
    weights = source.with_name(document["fitted"]["weights"]["file"])
    (tmp_path / weights.name).write_bytes(weights.read_bytes())
    mutate(document, tmp_path)
    return _write(tmp_path / "s.json", document)


def _huge_hidden(document, folder):
    document["params"]["hidden"] = 2**24


def _huge_features(document, folder):
    document["fitted"]["n_features_in_"] = 10**6
    document["fitted"]["n_labels_"] = 10**6


def _escaping_name(document, folder):
    document["fitted"]["weights"]["file"] = "../s.safetensors"


def _long_weights_name(document, folder):
    document["fitted"]["weights"]["file"] = "w" * 5000


def _symlink_out(document, folder):
    outside = folder.parent / (folder.name + "-outside.safetensors")
    name = document["fitted"]["weights"]["file"]
    (folder / name).rename(outside)
    os.symlink(outside, folder / name)


def _bad_checksum(document, folder):
    document["fitted"]["weights"]["sha256"] = "0" * 64


def _truncated(document, folder):
    path = folder / document["fitted"]["weights"]["file"]
    path.write_bytes(path.read_bytes()[:-7])


def _huge_header(document, folder):
    path = folder / document["fitted"]["weights"]["file"]
    data = path.read_bytes()
    path.write_bytes((2**60).to_bytes(8, "little") + data[8:])


def _pickle_format(document, folder):
    document["fitted"]["weights"]["format"] = "pickle"


def _missing_weights(document, folder):
    (folder / document["fitted"]["weights"]["file"]).unlink()


def _stretch_nan_threshold(document, folder):
    document["fitted"]["threshold_"] = "nan"


def _stretch_average(document, folder):
    document["fitted"]["average_"] = "samples"


def _stretch_bool_verbose(document, folder):
    document["params"]["verbose"] = 1


STRETCH_CASES = {
    "huge-hidden": (_huge_hidden, "shape"),
    "huge-features": (_huge_features, "shape"),
    "escaping-name": (_escaping_name, "plain file name"),
    "long-weights-name": (_long_weights_name, "plain file name"),
    "symlink-out": (_symlink_out, "leaves the rule's folder"),
    "bad-checksum": (_bad_checksum, "checksum"),
    "truncated": (_truncated, "tile"),
    "huge-header": (_huge_header, "header claims"),
    "pickle-format": (_pickle_format, "format"),
    "missing-weights": (_missing_weights, "missing"),
    "nan-threshold": (_stretch_nan_threshold, "NaN"),
    "average": (_stretch_average, "average_"),
    "verbose-int": (_stretch_bool_verbose, "verbose"),
}


@pytest.mark.parametrize("name", sorted(STRETCH_CASES))
def test_hostile_stretcher(name, stretcher_rule, tmp_path):
    mutate, message = STRETCH_CASES[name]
    path = _stretch_case(tmp_path, stretcher_rule, mutate)
    with pytest.raises(f1opt.RuleFileError, match=message):
        f1opt.load(path)


def test_stretcher_round_trip_and_symlink_inside(stretcher_rule, tmp_path):
    def link_inside(document, folder):
        name = document["fitted"]["weights"]["file"]
        (folder / name).rename(folder / "real.safetensors")
        os.symlink(folder / "real.safetensors", folder / name)

    path = _stretch_case(tmp_path, stretcher_rule, link_inside)
    loaded = f1opt.load(path)
    X = np.random.default_rng(1).random((5, 3))
    np.testing.assert_array_equal(loaded.predict(X), f1opt.load(stretcher_rule[0]).predict(X))


# ----------------------------------------------------------------- bounded cost
def _small_hostile_files(folder, documents, stretcher_rule):
    """Every hostile rule file above of at most 1 kB, written into ``folder``."""
    paths = []
    for name, (kind, mutate, _) in HOSTILE_DOCUMENTS.items():
        paths.append(_write(folder / f"{name}.json", mutate(copy.deepcopy(documents[kind]))))
    for name, (data, _) in HOSTILE_TEXTS.items():
        (folder / f"{name}.json").write_bytes(data)
        paths.append(folder / f"{name}.json")
    if stretcher_rule is not None:
        for name in ("huge-hidden", "huge-features"):
            case = folder / f"stretch-{name}"
            case.mkdir()
            paths.append(_stretch_case(case, stretcher_rule, STRETCH_CASES[name][0]))
    small = [p for p in paths if p.stat().st_size <= 1024]
    assert len(small) >= 40
    return small


def test_small_rule_files_cost_little(documents, tmp_path):
    """Measured here: peak traced allocation well under 1 MB and a few ms per file; the
    bounds asserted (50 MB, 5 s) are generous for a shared machine."""
    paths = _small_hostile_files(tmp_path, documents, None)
    _io._load_optional_registrations()  # imports are not the file's doing
    for path in paths:
        tracemalloc.start()
        start = time.perf_counter()
        with pytest.raises(f1opt.RuleFileError):
            f1opt.load(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 50 * 2**20, (path.name, peak)
        assert elapsed < 5.0, (path.name, elapsed)


def test_small_rule_files_peak_memory_in_a_child(documents, stretcher_rule, tmp_path):
    """The peak resident memory of a fresh process (numpy, torch and network allocations
    included, which tracemalloc does not see) rises by less than 50 MB while loading every
    small hostile file, the Stretcher ones with a huge hidden layer included."""
    paths = _small_hostile_files(tmp_path, documents, stretcher_rule)
    script = textwrap.dedent(
        """
        import resource, sys, time
        import f1opt, f1opt.stretch, torch
        paths = sys.argv[1:]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        slowest = 0.0
        for path in paths:
            start = time.perf_counter()
            try:
                f1opt.load(path)
            except f1opt.RuleFileError:
                pass
            else:
                raise SystemExit(f"{path} loaded")
            slowest = max(slowest, time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(after - before, slowest)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    rise_kb, slowest = result.stdout.split()
    assert int(rise_kb) < 50 * 1024
    assert float(slowest) < 5.0
