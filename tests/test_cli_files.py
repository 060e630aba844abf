"""The command line on files as pandas, numpy and spreadsheets write them.

Every case writes its inputs (read-only, hashed), runs ``f1opt.cli.main`` in
process, and either checks the numbers (the saved rule equals the Python
decider fitted on the same arrays; predictions equal its ``predict``) or
checks that the run exits 2 with one line that names the fix. In every case
the inputs are unchanged and the output folder holds exactly the files the
case expects: nothing half-written, no temporary file.
"""

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import f1opt
from f1opt import GlobalThreshold, PerClassThreshold
from f1opt.cli import build_parser, main
from f1opt.weights import ClassWeights

# ---------------------------------------------------------------------------
# data and the harness


def _binary(seed, n=120):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.int64)
    y[:2] = [1, 0]
    s = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(0, 1.2, n))))
    return np.round(s, 6), y


def _multilabel(seed, n=120, n_labels=3):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < [0.2, 0.4, 0.5][:n_labels]).astype(np.int64)
    y[0] = 1
    s = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(0, 1.2, (n, n_labels)))))
    return np.round(s, 6), y


def _multiclass(seed, n=150, k=3):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=[0.5, 0.3, 0.2][:k] if k == 3 else None)
    y[:k] = np.arange(k)
    logits = rng.normal(0, 1.0, (n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    return np.round(p / p.sum(axis=1, keepdims=True), 6), y


def _proba2(seed, n=120):
    s, y = _binary(seed, n)
    return np.column_stack([1 - s, s]), y


class Case:
    """Inputs in ``inp`` (made read-only before the run), outputs in ``out``."""

    def __init__(self, root: Path):
        self.inp = root / "in"
        self.out = root / "out"
        self.inp.mkdir()
        self.out.mkdir()
        self.expected_outputs: set[str] = set()
        self.status = None
        self.stdout = self.stderr = ""

    def path(self, name):
        return self.inp / name

    def o(self, name, expect=True):
        if expect:
            self.expected_outputs.add(name)
        return self.out / name

    def run(self, *argv, status=0):
        for p in self.inp.rglob("*"):
            p.chmod(0o444)
        self.before = _hashes(self.inp)
        self.status = main([str(a) for a in argv])
        return self.status


def _hashes(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def case(tmp_path, capsys):
    c = Case(tmp_path)
    yield c
    # every case: inputs unchanged, nothing but the expected outputs, no temporaries
    assert _hashes(c.inp) == c.before
    assert {p.name for p in c.out.iterdir()} == c.expected_outputs
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def _ok(case, capsys):
    captured = capsys.readouterr()
    assert case.status == 0, captured.err
    assert "Traceback" not in captured.err
    case.stdout, case.stderr = captured.out, captured.err
    return captured


def _fails(case, capsys, *patterns):
    captured = capsys.readouterr()
    assert case.status == 2, (captured.out, captured.err)
    err = captured.err.strip()
    assert "\n" not in err, err  # one line (the runs are --quiet)
    assert err.startswith("f1opt: error: "), err
    for pattern in patterns:
        assert pattern in err, (pattern, err)
    assert "Traceback" not in err
    return err


def _threshold(path):
    return f1opt.load(path).threshold_


def _fit(case, *args):
    rule = case.o("rule.json")
    case.run("fit", *args, "--method", "global", "-o", rule, "-q")
    return rule


# ---------------------------------------------------------------------------
# pandas: index column, Series names, numeric headers


def test_pandas_to_csv_index_column_is_ids(case, capsys):
    s, y = _binary(1)
    pd.DataFrame({"score": s}).to_csv(case.path("s.csv"))  # ",score" + an index column
    pd.DataFrame({"y": y}).to_csv(case.path("y.csv"))
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert type(f1opt.load(rule)).__name__ == "GlobalThreshold"  # binary, not 2 classes
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_pandas_series_default_name_zero_with_index(case, capsys):
    s, y = _binary(2)
    pd.Series(s).to_csv(case.path("s.csv"))  # ",0"
    pd.Series(y).to_csv(case.path("y.csv"))
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_pandas_series_default_name_zero_without_index(case, capsys):
    s, y = _binary(3)
    pd.Series(s).to_csv(case.path("s.csv"), index=False)  # header "0", not a data row
    pd.Series(y).to_csv(case.path("y.csv"), index=False)
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_classes_as_numeric_header_multiclass(case, capsys):
    p, y = _multiclass(4)
    pd.DataFrame(p, columns=[0, 1, 2]).to_csv(case.path("p.csv"), index=False)  # "0,1,2"
    pd.Series(y, name="y").to_csv(case.path("y.csv"), index=False)
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("p.csv"), "--labels", case.path("y.csv"),
        "--method", "weights", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    want = ClassWeights().fit(p, y)
    np.testing.assert_array_equal(f1opt.load(rule).predict(p), want.predict(p))


def test_numeric_header_in_another_order_maps_classes_by_name(case, capsys):
    p, y = _multiclass(5)
    order = [2, 0, 1]
    pd.DataFrame(p[:, order], columns=order).to_csv(case.path("p.csv"), index=False)
    pd.Series(y).to_csv(case.path("y.csv"), index=False)
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("p.csv"), "--labels", case.path("y.csv"),
        "--method", "weights", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    column_of = {c: j for j, c in enumerate(order)}  # class 2 is column 0, ...
    y_columns = np.array([column_of[v] for v in y])
    want = ClassWeights().fit(p[:, order], y_columns)
    np.testing.assert_array_equal(f1opt.load(rule).predict(p[:, order]), want.predict(p[:, order]))


def test_numpy_savetxt_no_header_and_integer_labels(case, capsys):
    s, y = _binary(6)
    np.savetxt(case.path("s.csv"), s)  # '%.18e', no header
    np.savetxt(case.path("y.csv"), y, fmt="%d")  # "1" first: an integer row, still data
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_numpy_savetxt_default_format_labels(case, capsys):
    s, y = _binary(7)
    np.savetxt(case.path("s.csv"), s, fmt="%.17g")
    np.savetxt(case.path("y.csv"), y)  # 1.000000000000000000e+00
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_no_header_flag_reads_integer_first_row_as_data(case, capsys):
    s, y = _multilabel(8)
    y[0] = [0, 1, 0]  # a row of distinct integers: column names without the flag
    np.savetxt(case.path("s.csv"), s[:, :2], delimiter=",", fmt="%.17g")
    np.savetxt(case.path("y.csv"), y[:, :2], delimiter=",", fmt="%d")
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("s.csv"), "--labels", case.path("y.csv"), "--no-header",
        "--method", "per_class", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    want = PerClassThreshold().fit(s[:, :2], y[:, :2]).thresholds_
    np.testing.assert_array_equal(f1opt.load(rule).thresholds_, want)


def test_integer_first_row_of_labels_is_data_when_rows_say_so(case, capsys):
    s, y = _multilabel(35)
    y[0, :2] = [0, 1]
    np.savetxt(case.path("s.csv"), s[:, :2], delimiter=",", fmt="%.17g")
    np.savetxt(case.path("y.csv"), y[:, :2], delimiter=",", fmt="%d")  # "0,1" first
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("s.csv"), "--labels", case.path("y.csv"),
        "--method", "per_class", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    want = PerClassThreshold().fit(s[:, :2], y[:, :2]).thresholds_
    np.testing.assert_array_equal(f1opt.load(rule).thresholds_, want)


# ---------------------------------------------------------------------------
# ids and label columns beside the scores


def test_text_first_column_is_ids_and_carried_to_predictions(case, capsys):
    s, y = _binary(9)
    ids = [f"patient-{i}" for i in range(len(s))]
    pd.DataFrame({"name": ids, "score": s}).to_csv(case.path("s.csv"), index=False)
    pd.DataFrame({"name": ids, "y": y}).to_csv(case.path("y.csv"), index=False)
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    pred = case.o("pred.csv")
    case.run("apply", "--rule", rule, "--scores", case.path("s.csv"), "-o", pred, "-q")
    _ok(case, capsys)
    got = pd.read_csv(pred)
    assert list(got.columns) == ["name", "prediction"]
    assert got["name"].tolist() == ids
    np.testing.assert_array_equal(got["prediction"], GlobalThreshold().fit(s, y).predict(s))
    chosen = case.o("chosen.csv")  # the ids are carried when the columns are chosen too
    case.run(
        "apply", "--rule", rule, "--scores", case.path("s.csv"), "--score-columns", "score",
        "-o", chosen, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    assert pd.read_csv(chosen)["name"].tolist() == ids


def test_explicit_id_column(case, capsys):
    s, y = _binary(10)
    frame = pd.DataFrame({"score": s, "sample": np.arange(len(s)) + 1000, "y": y})
    frame.to_csv(case.path("d.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("d.csv"), "--label-columns", "y", "--id-column", "sample"
    )
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_numeric_column_named_id_is_ids(case, capsys):
    s, y = _binary(11)
    pd.DataFrame({"id": np.arange(len(s)) + 1, "score": s}).to_csv(case.path("s.csv"), index=False)
    pd.DataFrame({"id": np.arange(len(s)) + 1, "y": y}).to_csv(case.path("y.csv"), index=False)
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_label_column_beside_scores_is_never_a_score(case, capsys):
    s, y = _binary(12)
    pd.DataFrame({"score": s, "y": y}).to_csv(case.path("sy.csv"), index=False)
    rule = _fit(case, "--scores", case.path("sy.csv"), "--label-columns", "y")
    _ok(case, capsys)
    assert f1opt.load(rule).n_labels_ == 0  # one score column, not two
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_score_columns_beside_labels_same_file(case, capsys):
    s, y = _binary(13)
    pd.DataFrame({"y": y, "score": s}).to_csv(case.path("sy.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("sy.csv"), "--labels", case.path("sy.csv"),
        "--score-columns", "score",
    )  # fmt: skip
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_multilabel_label_columns_beside_scores(case, capsys):
    s, y = _multilabel(14)
    frame = pd.DataFrame(s, columns=["a", "b", "c"]).assign(ya=y[:, 0], yb=y[:, 1], yc=y[:, 2])
    frame.to_csv(case.path("d.csv"))
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("d.csv"), "--label-columns", "ya,yb,yc",
        "--method", "per_class", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    np.testing.assert_array_equal(
        f1opt.load(rule).thresholds_, PerClassThreshold().fit(s, y).thresholds_
    )


# ---------------------------------------------------------------------------
# labels as text


def test_yes_no_labels_with_pos_label(case, capsys):
    s, y = _binary(15)
    pd.DataFrame({"churn": np.where(y == 1, "yes", "no")}).to_csv(case.path("y.csv"), index=False)
    pd.DataFrame({"score": s}).to_csv(case.path("s.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"), "--pos-label", "yes"
    )
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_pos_label_chooses_the_other_class(case, capsys):
    s, y = _binary(16)
    pd.DataFrame({"churn": np.where(y == 1, "yes", "no")}).to_csv(case.path("y.csv"), index=False)
    pd.DataFrame({"score": 1 - s}).to_csv(case.path("s.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"), "--pos-label", "no"
    )
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(1 - s, 1 - y).threshold_


def test_numeric_pos_label_on_minus_one_one(case, capsys):
    s, y = _binary(17)
    pd.DataFrame({"y": np.where(y == 1, 1, -1)}).to_csv(case.path("y.csv"), index=False)
    pd.DataFrame({"score": s}).to_csv(case.path("s.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"), "--pos-label", "1"
    )
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_true_false_labels_from_pandas_bool(case, capsys):
    s, y = _binary(18)
    pd.Series(y.astype(bool)).to_csv(case.path("y.csv"), index=False)  # "0" then True/False
    pd.Series(s).to_csv(case.path("s.csv"), index=False)
    rule = _fit(case, "--scores", case.path("s.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_class_names_matched_to_score_column_names(case, capsys):
    p, y = _multiclass(19)
    names = np.array(["fish", "cat", "dog"])  # not sorted: matched by the column names
    pd.DataFrame(p, columns=names).to_csv(case.path("p.csv"), index=False)
    pd.DataFrame({"animal": names[y]}).to_csv(case.path("y.csv"), index=False)
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("p.csv"), "--labels", case.path("y.csv"),
        "--method", "weights", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    np.testing.assert_array_equal(f1opt.load(rule).predict(p), ClassWeights().fit(p, y).predict(p))


def test_class_names_in_sorted_order_for_unnamed_columns(case, capsys):
    p, y = _multiclass(20)
    names = np.array(["ant", "bee", "cow"])  # sorted, as a classifier's classes_
    np.save(case.path("p.npy"), p)
    pd.DataFrame({"animal": names[y]}).to_csv(case.path("y.csv"), index=False)
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("p.npy"), "--labels", case.path("y.csv"),
        "--method", "weights", "-o", rule,
    )  # fmt: skip
    _ok(case, capsys)
    assert "sorted order" in case.stderr and "0=ant" in case.stderr
    np.testing.assert_array_equal(f1opt.load(rule).predict(p), ClassWeights().fit(p, y).predict(p))


def test_names_behind_the_numbers_are_kept_for_outputs(tmp_path):
    from f1opt.cli import load_task

    p, y = _multiclass(36)
    names = np.array(["fish", "cat", "dog"])
    pd.DataFrame(p, columns=names).assign(animal=names[y]).to_csv(tmp_path / "mc.csv")
    task = load_task(tmp_path / "mc.csv", label_columns=["animal"])
    assert task.kind == "multiclass" and task.info.classes == ["fish", "cat", "dog"]
    np.testing.assert_array_equal(task.y, y)
    s, yl = _multilabel(37)
    frame = pd.DataFrame(s, columns=["a", "b", "c"]).assign(ya=yl[:, 0], yb=yl[:, 1], yc=yl[:, 2])
    frame.to_csv(tmp_path / "ml.csv", index=False)
    task = load_task(tmp_path / "ml.csv", label_columns=["ya", "yb", "yc"])
    assert task.kind == "multilabel" and task.info.classes == ["ya", "yb", "yc"]
    assert task.info.columns == ["a", "b", "c"]
    sb, yb = _binary(38)
    pd.DataFrame({"s": sb, "y": np.where(yb == 1, "spam", "ham")}).to_csv(tmp_path / "b.csv")
    task = load_task(tmp_path / "b.csv", label_columns=["y"], pos_label="spam")
    assert task.kind == "binary" and task.info.positive == "spam"
    np.testing.assert_array_equal(task.y, yb)


# ---------------------------------------------------------------------------
# (n, 2) probabilities of a binary problem


def test_predict_proba_two_columns_is_binary(case, capsys):
    p, y = _proba2(21)
    np.save(case.path("p.npy"), p)
    np.save(case.path("y.npy"), y)
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("p.npy"), "--labels", case.path("y.npy"),
        "--method", "global", "--average", "binary", "-o", rule,
    )  # fmt: skip
    _ok(case, capsys)
    assert "2 probability columns read as binary" in case.stderr
    assert len(case.stderr.strip().splitlines()) >= 1
    assert _threshold(rule) == GlobalThreshold().fit(p[:, 1], y).threshold_


def test_two_columns_named_after_text_classes(case, capsys):
    p, y = _proba2(22)
    pd.DataFrame(p[:, ::-1], columns=["yes", "no"]).to_csv(case.path("p.csv"), index=False)
    pd.DataFrame({"y": np.where(y == 1, "yes", "no")}).to_csv(case.path("y.csv"), index=False)
    rule = _fit(case, "--scores", case.path("p.csv"), "--labels", case.path("y.csv"))
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(p[:, 1], y).threshold_  # column "yes"


def test_two_columns_pos_label_zero(case, capsys):
    p, y = _proba2(23)
    pd.DataFrame(p, columns=["p0", "p1"]).to_csv(case.path("p.csv"), index=False)
    pd.DataFrame({"y": y}).to_csv(case.path("y.csv"), index=False)
    rule = _fit(
        case, "--scores", case.path("p.csv"), "--labels", case.path("y.csv"), "--pos-label", "0"
    )
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(p[:, 0], 1 - y).threshold_


def test_apply_binary_rule_to_two_probability_columns(case, capsys):
    p, y = _proba2(24)
    np.save(case.path("p.npy"), p)
    GlobalThreshold().fit(p[:, 1], y).save(case.path("rule.json"))
    pred = case.o("pred.csv")
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("p.npy"), "-o", pred)
    _ok(case, capsys)
    got = pd.read_csv(pred)
    assert list(got.columns) == ["prediction"]
    np.testing.assert_array_equal(
        got["prediction"], GlobalThreshold().fit(p[:, 1], y).predict(p[:, 1])
    )


# ---------------------------------------------------------------------------
# formats: gzip, TSV, spreadsheets, Parquet with odd dtypes


def test_gzip_csv(case, capsys):
    s, y = _binary(25)
    pd.DataFrame({"score": s, "y": y}).to_csv(case.path("d.csv.gz"), index=False)
    rule = _fit(case, "--scores", case.path("d.csv.gz"), "--label-columns", "y")
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_tsv_from_pandas(case, capsys):
    s, y = _binary(26)
    pd.DataFrame({"score": s, "y": y}).to_csv(case.path("d.tsv"), sep="\t")
    rule = _fit(case, "--scores", case.path("d.tsv"), "--label-columns", "y")
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_spreadsheet_csv_bom_crlf_quotes_spaces_blank_lines(case, capsys):
    s, y = _binary(27)
    lines = ['"Sample","Score","Label"'] + [
        f'"S{i}", {v!r} ,"{t}"' for i, (v, t) in enumerate(zip(s.tolist(), y.tolist(), strict=True))
    ]
    text = "\r\n".join(lines[:50] + [""] + lines[50:]) + "\r\n\r\n"
    case.path("d.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    rule = _fit(case, "--scores", case.path("d.csv"), "--label-columns", "Label")
    _ok(case, capsys)
    assert _threshold(rule) == GlobalThreshold().fit(s, y).threshold_


def test_parquet_odd_dtypes(case, capsys):
    s, y = _binary(28)
    frame = pd.DataFrame(
        {
            "score16": s.astype(np.float16),
            "y_int64": pd.array(y, dtype="Int64"),
            "y_bool": pd.array(y.astype(bool), dtype="boolean"),
            "y_cat": pd.Categorical(np.where(y == 1, "pos", "neg")),
            "y_text": np.where(y == 1, "pos", "neg"),
        },
        index=[f"r{i}" for i in range(len(s))],  # stored as __index_level_0__
    )
    frame.to_parquet(case.path("d.parquet"))
    s16 = s.astype(np.float16).astype(np.float64)
    want = GlobalThreshold().fit(s16, y).threshold_
    for i, (column, extra) in enumerate(
        [("y_int64", []), ("y_bool", []), ("y_cat", ["--pos-label", "pos"]),
         ("y_text", ["--pos-label", "pos"])]
    ):  # fmt: skip
        rule = case.o(f"rule{i}.json")
        case.run(
            "fit", "--scores", case.path("d.parquet"), "--score-columns", "score16",
            "--label-columns", column, *extra, "--method", "global", "-o", rule, "-q",
        )  # fmt: skip
        _ok(case, capsys)
        assert _threshold(rule) == want, column


def test_parquet_pandas_index_carried_and_text_classes(case, capsys):
    p, y = _multiclass(29)
    names = np.array(["low", "mid", "high"])
    frame = pd.DataFrame(p, columns=names, index=pd.Index([f"k{i}" for i in range(len(y))]))
    frame["grade"] = pd.Categorical(names[y], categories=names)
    frame.to_parquet(case.path("d.parquet"))
    rule = case.o("rule.json")
    case.run(
        "fit", "--scores", case.path("d.parquet"), "--label-columns", "grade",
        "--method", "weights", "-o", rule, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    pred = case.o("pred.parquet")
    case.run(
        "apply", "--rule", rule, "--scores", case.path("d.parquet"),
        "--score-columns", "low,mid,high", "-o", pred, "-q",
    )  # fmt: skip
    _ok(case, capsys)
    table = pq.read_table(pred)
    assert table.column_names == ["id", "prediction"]
    assert table.column("id").to_pylist() == [f"k{i}" for i in range(len(y))]
    np.testing.assert_array_equal(  # the rule keeps the text class names: apply writes them
        table.column("prediction").to_numpy(), names[ClassWeights().fit(p, y).predict(p)]
    )


def test_apply_multilabel_keeps_column_names_and_index(case, capsys):
    s, y = _multilabel(30)
    frame = pd.DataFrame(s, columns=["cat", "dog", "fox"])
    frame.to_csv(case.path("s.csv"))
    PerClassThreshold().fit(s, y).save(case.path("rule.json"))
    pred = case.o("pred.csv")
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("s.csv"), "-o", pred)
    _ok(case, capsys)
    got = pd.read_csv(pred, index_col=0)  # pandas reads it back as it wrote the input
    assert list(got.columns) == ["cat", "dog", "fox"]
    np.testing.assert_array_equal(got.index, np.arange(len(s)))
    np.testing.assert_array_equal(got.to_numpy(), PerClassThreshold().fit(s, y).predict(s))


def test_apply_npz_carries_ids(case, capsys):
    s, y = _binary(31)
    pd.DataFrame({"name": [f"n{i}" for i in range(len(s))], "score": s}).to_csv(
        case.path("s.csv"), index=False
    )
    GlobalThreshold().fit(s, y).save(case.path("rule.json"))
    pred = case.o("pred.npz")
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("s.csv"), "-o", pred)
    _ok(case, capsys)
    with np.load(pred) as got:
        np.testing.assert_array_equal(got["predictions"], GlobalThreshold().fit(s, y).predict(s))
        assert got["ids"].tolist() == [f"n{i}" for i in range(len(s))]


# ---------------------------------------------------------------------------
# rule side files and --force


def test_stretcher_side_file_refused_without_force(case, capsys):
    s, y = _multilabel(32)
    np.save(case.path("s.npy"), s)
    np.save(case.path("y.npy"), y)
    (case.out / "model.safetensors").write_bytes(b"someone's weights")
    case.expected_outputs.add("model.safetensors")
    case.run(
        "fit", "--scores", case.path("s.npy"), "--labels", case.path("y.npy"),
        "--method", "stretcher", "-o", case.out / "model.json", "-q",
    )  # fmt: skip
    _fails(case, capsys, "model.safetensors", "already exists", "--force")
    assert (case.out / "model.safetensors").read_bytes() == b"someone's weights"


def test_stretcher_force_replaces_json_and_weights(case, capsys):
    pytest.importorskip("torch")
    s, y = _multilabel(33, n=80)
    np.save(case.path("s.npy"), s)
    np.save(case.path("y.npy"), y)
    for name in ("model.json", "model.safetensors"):
        (case.out / name).write_bytes(b"old")
        case.expected_outputs.add(name)
    case.run(
        "fit", "--scores", case.path("s.npy"), "--labels", case.path("y.npy"),
        "--method", "stretcher", "--epochs", "1", "-o", case.out / "model.json", "-q", "--force",
    )  # fmt: skip
    _ok(case, capsys)
    assert (case.out / "model.safetensors").read_bytes() != b"old"
    assert f1opt.load(case.out / "model.json").predict(s).shape == s.shape


def test_side_file_found_only_after_fitting_is_refused(case, capsys, monkeypatch):
    # a rule whose save writes a file beside the JSON that no pre-check knew about
    import f1opt.deciders as deciders

    original = deciders.GlobalThreshold.save

    def save_with_side_file(self, path):
        Path(path).with_suffix(".extra").write_text("side")
        return original(self, path)

    monkeypatch.setattr(deciders.GlobalThreshold, "save", save_with_side_file)
    s, y = _binary(34)
    np.save(case.path("s.npy"), s)
    np.save(case.path("y.npy"), y)
    (case.out / "rule.extra").write_text("keep")
    case.expected_outputs.add("rule.extra")
    case.run(
        "fit", "--scores", case.path("s.npy"), "--labels", case.path("y.npy"),
        "--method", "global", "-o", case.out / "rule.json", "-q",
    )  # fmt: skip
    _fails(case, capsys, "rule.extra", "already exists", "--force")
    assert (case.out / "rule.extra").read_text() == "keep"


# ---------------------------------------------------------------------------
# errors: exit 2, one line naming the line, the column and the fix


def _bad_fit(case, scores_name, content, *extra, labels=None):
    path = case.path(scores_name)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    if labels is None:
        case.path("y.csv").write_text("y\n1\n0\n1\n")
        labels = case.path("y.csv")
    case.run(
        "fit", "--scores", path, "--labels", labels, *extra, "-o", case.o("r.json", False), "-q"
    )


def test_error_decimal_comma(case, capsys):
    _bad_fit(case, "s.csv", "score\n0,25\n0,5\n0,75\n")
    _fails(case, capsys, "line 2", "decimal comma", "0.25")


def test_error_decimal_comma_quoted(case, capsys):
    _bad_fit(case, "s.csv", 'score\n"0,25"\n"0,5"\n"0,75"\n')
    _fails(case, capsys, "line 2", "column 'score'", "decimal comma")


def test_error_semicolon_separated(case, capsys):
    _bad_fit(case, "s.csv", "a;b\n0,2;0,8\n0,1;0,9\n0,7;0,3\n")
    _fails(case, capsys, "semicolons")


def test_error_row_with_a_field_too_many(case, capsys):
    _bad_fit(case, "s.csv", "score\n0.25\n0.5,0.1\n0.75\n")
    _fails(case, capsys, "line 3 has 2 fields", "header has 1")


def test_error_row_cut_short(case, capsys):
    _bad_fit(case, "s.csv", "a,b\n0.25,0.1\n0.5\n0.75,0.2\n", labels=None)
    _fails(case, capsys, "line 3 has 1 fields", "header has 2")


def test_error_ragged_row_counts_blank_lines(case, capsys):
    _bad_fit(case, "s.csv", "score\n0.25\n\n0.5\n0.75,1\n")
    _fails(case, capsys, "line 5 has 2 fields")


def test_error_empty_cell(case, capsys):
    _bad_fit(case, "s.csv", "a,b\n0.25,0.1\n0.5,\n0.75,0.2\n")
    _fails(case, capsys, "line 3, column 'b'", "empty")


def test_error_text_in_score_column_names_id_column(case, capsys):
    _bad_fit(case, "s.csv", "score,name\n0.25,x\n0.5,y\n0.75,z\n")
    _fails(case, capsys, "line 2, column 'name'", "'x'", "--id-column name")


def test_error_text_id_column_alone(case, capsys):
    _bad_fit(case, "s.csv", "name\nx\ny\nz\n")
    _fails(case, capsys, "column 'name'", "--id-column")


def test_error_nan_cell(case, capsys):
    _bad_fit(case, "s.csv", "score\n0.25\nnan\n0.75\n")
    _fails(case, capsys, "line 3, column 'score'", "NaN")


def test_error_yes_no_without_pos_label(case, capsys):
    case.path("y.csv").write_text("y\nyes\nno\nyes\n")
    _bad_fit(case, "s.csv", "score\n0.2\n0.4\n0.9\n", labels=case.path("y.csv"))
    _fails(case, capsys, "'no', 'yes'", "--pos-label")


def test_error_pos_label_not_a_label(case, capsys):
    case.path("y.csv").write_text("y\nyes\nno\nyes\n")
    _bad_fit(case, "s.csv", "0.2\n0.4\n0.9\n", "--pos-label", "Yes", labels=case.path("y.csv"))
    _fails(case, capsys, "--pos-label 'Yes' is not a label")


def test_error_minus_one_one_without_pos_label(case, capsys):
    case.path("y.csv").write_text("y\n1\n-1\n1\n")
    _bad_fit(case, "s.csv", "score\n0.2\n0.4\n0.9\n", labels=case.path("y.csv"))
    _fails(case, capsys, "-1 and 1", "--pos-label")


def test_error_pos_label_on_multiclass(case, capsys):
    p, y = _multiclass(40)
    np.save(case.path("p.npy"), p)
    np.save(case.path("y.npy"), y)
    _bad_fit(case, "p2.npy", case.path("p.npy").read_bytes(), "--pos-label", "1",
             labels=case.path("y.npy"))  # fmt: skip
    _fails(case, capsys, "--pos-label is for binary targets")


def test_error_class_names_do_not_match_columns(case, capsys):
    p, y = _multiclass(41)
    np.save(case.path("p.npy"), p)
    pd.DataFrame({"c": np.array(["a", "b"])[y % 2]}).to_csv(case.path("y.csv"), index=False)
    case.run("fit", "--scores", case.path("p.npy"), "--labels", case.path("y.csv"),
             "-o", case.o("r.json", False), "-q")  # fmt: skip
    _fails(case, capsys, "2 class names", "3 score columns", "header with the class names")


def test_error_truncated_gzip(case, capsys):
    s, y = _binary(42, n=5000)
    data = pd.DataFrame({"score": s, "y": y}).to_csv(index=False).encode()
    case.path("d.csv.gz").write_bytes(gzip.compress(data)[:3000])
    case.run("fit", "--scores", case.path("d.csv.gz"), "--label-columns", "y",
             "-o", case.o("r.json", False), "-q")  # fmt: skip
    _fails(case, capsys, "truncated")


def test_error_not_utf8(case, capsys):
    _bad_fit(case, "s.csv", "name,score\nJos\xe9,0.2\nAna,0.4\nLi,0.9\n".encode("latin-1"))
    _fails(case, capsys, "UTF-8")


def test_error_repeated_header_name(case, capsys):
    _bad_fit(case, "s.csv", "a,a\n0.2,0.1\n0.4,0.3\n0.9,0.8\n")
    _fails(case, capsys, "'a' twice")


def test_error_header_without_rows(case, capsys):
    _bad_fit(case, "s.csv", "score\n")
    _fails(case, capsys, "no data rows")


def test_error_parquet_nullable_with_missing_value(case, capsys):
    pd.DataFrame({"score": [0.2, 0.4, 0.9], "y": pd.array([1, None, 0], dtype="Int64")}).to_parquet(
        case.path("d.parquet")
    )
    case.run("fit", "--scores", case.path("d.parquet"), "--label-columns", "y",
             "-o", case.o("r.json", False), "-q")  # fmt: skip
    _fails(case, capsys, "row 2, column 'y'", "empty")


def test_error_parquet_text_scores(case, capsys):
    pd.DataFrame({"score": [0.2, 0.4, 0.9], "note": ["a", "b", "c"], "y": [1, 0, 1]}).to_parquet(
        case.path("d.parquet"), index=False
    )
    case.run("fit", "--scores", case.path("d.parquet"), "--label-columns", "y",
             "-o", case.o("r.json", False), "-q")  # fmt: skip
    _fails(case, capsys, "column 'note' holds string", "--id-column note")


def test_error_rows_differ_names_no_header(case, capsys):
    case.path("s.csv").write_text("score\n0.2\n0.4\n0.9\n0.1\n")
    _bad_fit(case, "s2.csv", "score\n0.2\n0.4\n", labels=case.path("s.csv"))
    _fails(case, capsys, "rows do not match", "--no-header")


def test_error_pyarrow_missing(case, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    _bad_fit(case, "s.csv", "score\n0.2\n0.4\n0.9\n")
    _fails(case, capsys, "needs pyarrow", "pip install")


def test_error_apply_output_exists(case, capsys):
    s, y = _binary(43)
    np.save(case.path("s.npy"), s)
    GlobalThreshold().fit(s, y).save(case.path("rule.json"))
    (case.out / "pred.csv").write_text("mine\n")
    case.expected_outputs.add("pred.csv")
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("s.npy"),
             "-o", case.out / "pred.csv", "-q")  # fmt: skip
    _fails(case, capsys, "already exists", "--force")
    assert (case.out / "pred.csv").read_text() == "mine\n"


def test_error_apply_pos_label_on_multilabel_rule(case, capsys):
    s, y = _multilabel(44)
    np.save(case.path("s.npy"), s)
    PerClassThreshold().fit(s, y).save(case.path("rule.json"))
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("s.npy"),
             "--pos-label", "1", "-o", case.o("p.csv", False), "-q")  # fmt: skip
    _fails(case, capsys, "--pos-label")


def test_error_apply_write_fails_leaves_nothing(case, capsys, monkeypatch):
    import f1opt.io as fio

    s, y = _binary(45)
    np.save(case.path("s.npy"), s)
    GlobalThreshold().fit(s, y).save(case.path("rule.json"))

    def broken_writer(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fio.csv, "writer", broken_writer)
    case.run("apply", "--rule", case.path("rule.json"), "--scores", case.path("s.npy"),
             "-o", case.o("p.csv", False), "-q")  # fmt: skip
    _fails(case, capsys, "disk full")


# ---------------------------------------------------------------------------
# progress bars and help


def test_compare_stderr_to_a_file_has_no_bar_frames(tmp_path):
    s, y = _binary(50, n=300)
    pd.DataFrame({"score": s, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    log = tmp_path / "stderr.log"
    env = dict(os.environ, PYTHONWARNINGS="ignore", MPLBACKEND="Agg")
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "f1opt", "compare", "--scores", str(tmp_path / "d.csv"),
             "--label-columns", "y", "--cv", "3"],
            stdout=subprocess.PIPE, stderr=handle, text=True, timeout=300, env=env,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text
    assert "global" in done.stdout
    assert "f1opt:" in text  # the messages are there ...
    assert "\r" not in text and "\x1b" not in text  # ... the bar's frames are not


def test_stretcher_bar_stays_out_of_a_log_file(tmp_path):
    pytest.importorskip("torch")
    import inspect

    import f1opt.stretch

    if "progress_bar" not in inspect.getsource(f1opt.stretch):
        pytest.skip("the Stretcher does not draw its bar through f1opt._progress yet")
    s, y = _multilabel(51, n=200)
    np.save(tmp_path / "s.npy", s)
    np.save(tmp_path / "y.npy", y)
    log = tmp_path / "stderr.log"
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "f1opt", "compare", "--scores", str(tmp_path / "s.npy"),
             "--labels", str(tmp_path / "y.npy"), "--methods", "global,stretcher",
             "--epochs", "2", "--cv", "2"],
            stdout=subprocess.PIPE, stderr=handle, text=True, timeout=300,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text


def test_progress_bar_on_a_terminal_only():
    import io

    from f1opt._progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for enabled, stream, drawn in [
        (None, io.StringIO(), False),
        (None, Terminal(), True),
        (False, Terminal(), False),
        (True, io.StringIO(), True),
    ]:
        with progress_bar(4, desc="folds", enabled=enabled, file=stream) as bar:
            for _ in range(4):
                bar.update(1)
            bar.set_postfix_str("global")
        assert ("\r" in stream.getvalue()) == drawn, (enabled, type(stream).__name__)


OWN_OPTIONS = (
    "--scores", "--labels", "--label-key", "--label-columns", "--key", "--id-column",
    "--score-columns", "--no-header", "--pos-label",
)  # fmt: skip


def test_every_reading_option_has_a_sentence():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    seen = 0
    for name, p in sub.choices.items():
        for action in p._actions:
            for option in action.option_strings:
                if option in OWN_OPTIONS:
                    seen += 1
                    assert action.help and len(action.help.split()) >= 5, (name, option)
    assert seen >= 4 * 7


def test_there_are_at_least_40_file_cases():
    other = ("progress", "_bar_", "reading_option", "there_are", "names_behind")
    cases = [n for n in globals() if n.startswith("test_") and not any(o in n for o in other)]
    assert len(cases) >= 40
