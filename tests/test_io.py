import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from f1opt.io import check_output_path, file_format, read_table, split_columns, write_table


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
    with pytest.raises(ValueError, match="holds string"):
        read_table(tmp_path / "t.parquet")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"a,b\n", "no data rows"),
        (b"0.1,0.2\n0.3,abc\n", "text where a number belongs: .abc. on line 2"),
        (b"0.1,0.2\n0.3\n", "a row has 1 columns where 2 are expected"),
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
