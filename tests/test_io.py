import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from f1opt.io import (
    check_output_path,
    encode_target,
    file_format,
    positive_column,
    read_scores_and_labels,
    read_table,
    save_rule,
    split_columns,
    write_table,
)


@pytest.fixture
def values(rng):
    return rng.random((7, 3))


def test_file_format():
    assert file_format("a.csv") == "csv"
    assert file_format("a.CSV.gz") == "csv"
    assert file_format("a.tsv") == "csv"
    assert file_format("x/a.npy") == "npy"
    assert file_format("a.npz") == "npz"
    assert file_format("a.parquet") == "parquet"
    assert file_format("a.pq") == "parquet"
    with pytest.raises(ValueError, match="unknown file type"):
        file_format("a.xlsx")


def test_split_columns():
    assert split_columns("a, b,c") == ["a", "b", "c"]
    assert split_columns(None) is None
    with pytest.raises(ValueError, match="empty column name"):
        split_columns("a,,b")


def test_csv_with_header_and_id(tmp_path, values):
    path = tmp_path / "s.csv"
    lines = ["id,a,b,c"] + [
        f"r{i}," + ",".join(repr(v) for v in row) for i, row in enumerate(values.tolist())
    ]
    path.write_text("\n".join(lines) + "\n")
    data, info = read_table(path, id_column="id", require_id=True)
    np.testing.assert_array_equal(data, values)
    assert info.columns == ["a", "b", "c"]
    assert info.ids.tolist() == [f"r{i}" for i in range(7)]
    assert info.id_name == "id"
    data, info = read_table(path, id_column="id", columns=["c", "a"])
    np.testing.assert_array_equal(data, values[:, [2, 0]])


def test_csv_without_header(tmp_path, values):
    path = tmp_path / "s.csv"
    np.savetxt(path, values, delimiter=",", fmt="%.17g")
    data, info = read_table(path)
    np.testing.assert_array_equal(data, values)
    assert info.columns is None and info.ids is None
    # an id column by number
    data, info = read_table(path, id_column="0", require_id=True)
    np.testing.assert_array_equal(data, values[:, 1:])


def test_tsv_and_gzip(tmp_path, values):
    tsv = tmp_path / "s.tsv"
    np.savetxt(tsv, values, delimiter="\t", fmt="%.17g", header="a\tb\tc", comments="")
    data, info = read_table(tsv)
    np.testing.assert_array_equal(data, values)
    assert info.delimiter == "\t" and info.columns == ["a", "b", "c"]
    gz = tmp_path / "s.csv.gz"
    with gzip.open(gz, "wt") as handle:
        np.savetxt(handle, values, delimiter=",", fmt="%.17g")
    np.testing.assert_array_equal(read_table(gz)[0], values)


def test_npy_npz(tmp_path, values):
    np.save(tmp_path / "a.npy", values.astype(np.float32))
    data, info = read_table(tmp_path / "a.npy")
    assert data.dtype == np.float32 and info.format == "npy"
    np.savez(tmp_path / "one.npz", x=values)
    data, info = read_table(tmp_path / "one.npz")
    np.testing.assert_array_equal(data, values)
    assert info.key == "x"
    np.savez(tmp_path / "two.npz", x=values, y=values[:, 0])
    with pytest.raises(ValueError, match="several arrays"):
        read_table(tmp_path / "two.npz")
    np.testing.assert_array_equal(read_table(tmp_path / "two.npz", key="y")[0], values[:, 0])
    with pytest.raises(ValueError, match="no array 'z'"):
        read_table(tmp_path / "two.npz", key="z")


def test_parquet(tmp_path, values):
    table = pa.table(
        {
            "id": ["a", "b", "c", "d", "e", "f", "g"],
            "x": values[:, 0],
            "y": values[:, 1],
            "lab": np.array([0, 1, 0, 1, 1, 0, 0]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    data, info = read_table(tmp_path / "t.parquet", id_column="id", columns=["x", "y"])
    np.testing.assert_array_equal(data, values[:, :2])
    assert info.ids.tolist() == list("abcdefg")
    # "id" is found as the id column without being named; "lab" reads as numbers
    data, info = read_table(tmp_path / "t.parquet")
    assert info.columns == ["x", "y", "lab"] and info.id_name == "id"
    pq.write_table(pa.table({"x": values[:, 0], "note": list("abcdefg")}), tmp_path / "u.pq")
    with pytest.raises(ValueError, match="column 'note' holds string"):
        read_table(tmp_path / "u.pq")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"a,b\n", "no data rows"),
        (b"0.1,0.2\n0.3,abc\n", "line 2, column 2: text where a number belongs: 'abc'"),
        (b"0.1,0.2\n0.3\n", "line 2 has 1 fields, but the first row has 2"),
        (b"\xff\xfe\x00garbage", "not UTF-8|text where|empty"),
    ],
)
def test_csv_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_table(path)


def test_missing_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ValueError, match="directory"):
        read_table(tmp_path / "d.csv")


def test_corrupt_binary_files(tmp_path):
    for name in ("x.npy", "x.npz", "x.parquet"):
        (tmp_path / name).write_bytes(b"this is not a binary array file at all")
        with pytest.raises(ValueError, match="not a readable"):
            read_table(tmp_path / name)


def test_id_column_missing(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,b\n0.1,0.2\n")
    with pytest.raises(ValueError, match="no column 'id'"):
        read_table(path, id_column="id", require_id=True)
    # without require_id the id is only dropped where present
    assert read_table(path, id_column="id")[0].shape == (1, 2)


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz", ".parquet"])
def test_write_round_trip(tmp_path, suffix):
    pred = np.array([[0, 1], [1, 1], [0, 0]], dtype=np.int64)
    out = write_table(tmp_path / f"p{suffix}", pred)
    key = "predictions" if suffix == ".npz" else None
    data, _ = read_table(out, key=key)
    np.testing.assert_array_equal(data, pred)
    assert [p.name for p in tmp_path.iterdir()] == [f"p{suffix}"]  # no temporary left


def test_write_keeps_header_and_ids(tmp_path):
    src = tmp_path / "s.csv"
    src.write_text("key,a,b\nu,0.1,0.9\nv,0.8,0.3\n")
    _, info = read_table(src, id_column="key", require_id=True)
    write_table(tmp_path / "p.csv", np.array([[0, 1], [1, 0]]), like=info)
    assert (tmp_path / "p.csv").read_text() == "key,a,b\nu,0,1\nv,1,0\n"
    # one decision per row: under "prediction", whatever the score column was called
    _, one = read_table(src, id_column="key", columns=["a"])
    write_table(tmp_path / "b.csv", np.array([1, 0]), like=one)
    assert (tmp_path / "b.csv").read_text() == "key,prediction\nu,1\nv,0\n"
    # 1-D class ids from 2 score columns get the column name "prediction"
    write_table(tmp_path / "c.csv", np.array([1, 0]), like=info)
    assert (tmp_path / "c.csv").read_text() == "key,prediction\nu,1\nv,0\n"
    # unknown output suffix: the input's family
    write_table(tmp_path / "p.out", np.array([[0, 1], [1, 0]]), like=info)
    assert (tmp_path / "p.out").read_text().startswith("key,a,b")


def test_check_output_path(tmp_path):
    existing = tmp_path / "x.json"
    existing.write_text("{}")
    with pytest.raises(ValueError, match="already exists"):
        check_output_path(existing, force=False)
    assert check_output_path(existing, force=True) == existing
    with pytest.raises(ValueError, match="is an input"):
        check_output_path(existing, force=True, inputs=[str(existing)])
    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "no" / "x.json", force=False)


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_header_rules(tmp_path):
    # a row of distinct integers is a header; a row with a fraction is data
    data, info = read_table(_csv(tmp_path, "a.csv", "0,1,2\n0.2,0.3,0.5\n"))
    assert info.columns == ["0", "1", "2"] and info.numeric_header and data.shape == (1, 3)
    data, info = read_table(_csv(tmp_path, "b.csv", "0.2,0.3,0.5\n0.1,0.1,0.8\n"))
    assert info.columns is None and data.shape == (2, 3)
    data, info = read_table(_csv(tmp_path, "c.csv", "0,1,0\n1,1,0\n"))  # repeated: data
    assert info.columns is None and data.shape == (2, 3)
    data, info = read_table(tmp_path / "a.csv", header=False)
    assert data.shape == (2, 3) and not info.header


def test_pandas_index_and_text_ids(tmp_path):
    data, info = read_table(_csv(tmp_path, "a.csv", ",s\n0,0.5\n1,0.25\n"))
    assert (
        info.id_name == ""
        and info.ids.tolist() == ["0", "1"]
        and data[:, 0].tolist()
        == [
            0.5,
            0.25,
        ]
    )
    data, info = read_table(_csv(tmp_path, "b.csv", "who,s\nann,0.5\nbob,0.25\n"))
    assert info.id_name == "who" and info.columns == ["s"]
    # text labels are kept as text; a unique text first column is the ids
    data, info = read_table(_csv(tmp_path, "c.csv", "who,y\nann,yes\nbob,no\n"), allow_text=True)
    assert data[:, 0].tolist() == ["yes", "no"] and info.id_name == "who"
    # a repeating text first column of labels is not taken for ids
    data, info = read_table(_csv(tmp_path, "d.csv", "y,z\nyes,no\nyes,no\n"), allow_text=True)
    assert info.ids is None and data.shape == (2, 2)


def test_labels_beside_scores_and_numeric_header_arbitration(tmp_path):
    both = _csv(tmp_path, "sy.csv", "s,y\n0.5,1\n0.25,0\n")
    scores, labels, info, _ = read_scores_and_labels(both, label_columns=["y"])
    assert scores[:, 0].tolist() == [0.5, 0.25] and labels[:, 0].tolist() == [1, 0]
    scores, labels, _, _ = read_scores_and_labels(both, both, score_columns=["s"])
    assert labels[:, 0].tolist() == [1, 0]
    s = _csv(tmp_path, "s.csv", "0.5\n0.25\n0.75\n")
    y = _csv(tmp_path, "y.csv", "1\n0\n1\n")  # "1" alone could name a column
    scores, labels, _, label_info = read_scores_and_labels(s, y)
    assert labels[:, 0].tolist() == [1, 0, 1] and not label_info.header
    with pytest.raises(ValueError, match="rows do not match.*--no-header"):
        read_scores_and_labels(s, _csv(tmp_path, "z.csv", "y\n1\n"))
    with pytest.raises(ValueError, match="same data"):
        read_scores_and_labels(both, both)


def test_encode_target():
    s = np.array([0.1, 0.8, 0.4])
    t = encode_target(s, np.array(["no", "yes", "no"]), pos_label="yes")
    assert t.y.tolist() == [0, 1, 0] and t.positive == "yes"
    t = encode_target(s, np.array(["True", "False", "true"]))
    assert t.y.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="'no', 'yes'.*--pos-label"):
        encode_target(s, np.array(["no", "yes", "no"]))
    with pytest.raises(ValueError, match="-1 and 1"):
        encode_target(s, np.array([-1.0, 1.0, 1.0]))
    assert encode_target(s, np.array([-1.0, 1.0, 1.0]), pos_label=-1).y.tolist() == [1, 0, 0]
    # two probability columns: the second (or the one named 1) is the positive class
    p = np.column_stack([1 - s, s])
    t = encode_target(p, np.array([0, 1, 0]))
    assert t.scores.tolist() == s.tolist() and t.y.tolist() == [0, 1, 0]
    t = encode_target(p[:, ::-1], np.array([0, 1, 0]), score_names=["1", "0"])
    assert t.scores.tolist() == s.tolist()
    t = encode_target(p, np.array([0, 1, 0]), pos_label=0)
    assert t.scores.tolist() == (1 - s).tolist() and t.y.tolist() == [1, 0, 1]
    # two columns that are no probabilities: still two classes
    assert encode_target(p * 2, np.array([0, 1, 0])).scores.shape == (3, 2)
    # multiclass names: by the column names, else sorted
    q = np.eye(3)
    t = encode_target(q, np.array(["dog", "cat", "ant"]), score_names=["dog", "cat", "ant"])
    assert t.y.tolist() == [0, 1, 2] and t.classes == ["dog", "cat", "ant"]
    t = encode_target(q, np.array(["dog", "cat", "ant"]))
    assert t.y.tolist() == [2, 1, 0] and t.classes == ["ant", "cat", "dog"]
    t = encode_target(q, np.array([2.0, 0.0, 1.0]), score_names=["2", "0", "1"])
    assert t.y.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="binary targets"):
        encode_target(q, np.array([0, 1, 2]), pos_label=1)
    # multilabel text indicators
    t = encode_target(q, np.array([["yes", "no"], ["no", "no"], ["yes", "yes"]]), pos_label="yes")
    assert t.y.tolist() == [[1, 0], [0, 0], [1, 1]]
    t = encode_target(q[:, :2], np.eye(3)[:, :2], score_names=["a", "b"], label_names=["ya", "yb"])
    assert t.classes == ["ya", "yb"]
    assert encode_target(q[:, :2], np.eye(3)[:, :2], score_names=["a", "b"]).classes == ["a", "b"]


def test_positive_column():
    assert positive_column() == 1
    assert positive_column(["1", "0"]) == 0
    assert positive_column(["neg", "pos"], pos_label="neg") == 0
    assert positive_column(None, pos_label="b", classes=["a", "b"]) == 1
    with pytest.raises(ValueError, match="names no column"):
        positive_column(["x", "y"], pos_label="z")


class _Rule:
    """A stand-in decider whose save writes a file beside the JSON."""

    def __init__(self, fail=False):
        self.fail = fail

    def save(self, path):
        path.with_suffix(".bin").write_bytes(b"weights")
        if self.fail:
            raise RuntimeError("disk full")
        path.write_text("{}")


def test_save_rule_side_files_obey_force(tmp_path):
    out = tmp_path / "r.json"
    assert [p.name for p in save_rule(_Rule(), out)] == ["r.bin", "r.json"]
    out.unlink()
    with pytest.raises(ValueError, match="r.bin.*a file of the rule r.json.*--force"):
        save_rule(_Rule(), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.bin"]  # nothing new, no temporary
    save_rule(_Rule(), out, force=True)
    with pytest.raises(RuntimeError, match="disk full"):
        save_rule(_Rule(fail=True), tmp_path / "s.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.bin", "r.json"]
    with pytest.raises(ValueError, match="is an input"):
        save_rule(_Rule(), out, force=True, inputs=[tmp_path / "r.bin"])


def test_parquet_dtypes(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "h": np.array([0.5, 0.25, 1.0], dtype=np.float16),
            "n": pd.array([1, 0, 1], dtype="Int64"),
            "b": pd.array([True, False, True], dtype="boolean"),
            "c": pd.Categorical(["x", "y", "x"]),
        }
    )
    frame.to_parquet(tmp_path / "d.parquet")
    data, info = read_table(tmp_path / "d.parquet", columns=["h", "n", "b"])
    assert data.tolist() == [[0.5, 1, 1], [0.25, 0, 0], [1.0, 1, 1]]
    data, _ = read_table(tmp_path / "d.parquet", columns=["c"], allow_text=True)
    assert data[:, 0].tolist() == ["x", "y", "x"]
    with pytest.raises(ValueError, match="column 'c' holds string"):
        read_table(tmp_path / "d.parquet", columns=["c"])


def test_truncated_gzip(tmp_path):
    path = tmp_path / "s.csv.gz"
    rows = "".join(f"{v!r}\n" for v in np.random.default_rng(0).random(5000))
    path.write_bytes(gzip.compress(("a\n" + rows).encode())[:2000])
    with pytest.raises(ValueError, match="truncated"):
        read_table(path)
