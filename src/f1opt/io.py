"""Score and label files: read CSV, NPY, NPZ and Parquet; write predictions back.

The command line reads the files people already have:

* CSV (``.csv``, ``.tsv``, ``.txt``; gzip as ``.csv.gz``) with or without a
  header; a header is recognised when no field of the first row is a number.
  An id column (``id_column``) is dropped from the numbers and kept to be
  written back beside the predictions.
* NPY (one array) and NPZ (``key`` names the array when there are several).
* Parquet, through pyarrow (the ``report`` or ``dask`` extra).

Readers return a 2-D float array (1-D arrays in NPY/NPZ stay 1-D) and a
:class:`TableInfo` describing the file, which :func:`write_table` uses to
write predictions in the same format family. Every problem is a ``ValueError``
(or ``FileNotFoundError``) whose message names the file.
"""

from __future__ import annotations

import csv
import gzip
import io as _stdio
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import atomic_path

__all__ = [
    "TableInfo",
    "file_format",
    "read_table",
    "write_table",
    "check_output_path",
    "split_columns",
]

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class TableInfo:
    """What a file looked like, so that predictions can be written in kind.

    Attributes
    ----------
    path : pathlib.Path
    format : {"csv", "npy", "npz", "parquet"}
    columns : list of str or None
        Names of the numeric columns read (None for a CSV without header, NPY, NPZ).
    ids : ndarray or None
        Values of the id column, one per row, when one was dropped.
    id_name : str or None
        Name of that column.
    key : str or None
        NPZ array name.
    delimiter : str
        CSV delimiter.
    """

    path: Path
    format: str
    columns: list[str] | None = None
    ids: np.ndarray | None = None
    id_name: str | None = None
    key: str | None = None
    delimiter: str = ","


def file_format(path) -> str:
    """The format family of ``path`` from its suffix: "csv", "npy", "npz" or "parquet".

    Raises
    ------
    ValueError
        For any other suffix.
    """
    name = Path(path).name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    known = ", ".join(sorted(_SUFFIXES))
    raise ValueError(f"{str(path)!r}: unknown file type (expected one of {known})")


def split_columns(text: str | None) -> list[str] | None:
    """``"a,b , c"`` -> ``["a", "b", "c"]``; None stays None."""
    if text is None:
        return None
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise ValueError(f"empty column name in {text!r}")
    return names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return _stdio.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _select(names: list[str], wanted, id_column, path: Path) -> tuple[list[int], int | None]:
    """Indices of the data columns and of the id column among ``names``."""
    id_index = None
    if id_column is not None:
        if id_column in names:
            id_index = names.index(id_column)
    if wanted is not None:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise ValueError(
                f"{str(path)!r} has no column {missing[0]!r} (columns: {', '.join(names)})"
            )
        return [names.index(w) for w in wanted], id_index
    return [i for i in range(len(names)) if i != id_index], id_index


def _read_csv(path: Path, id_column, columns, require_id: bool):
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    try:
        with _open_text(path) as handle:
            first = handle.readline()
            while first and not first.strip():
                first = handle.readline()
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not a text CSV file (not UTF-8)") from None
    except (OSError, EOFError) as exc:  # gzip errors
        raise ValueError(f"{str(path)!r} could not be read: {exc}") from None
    if not first.strip():
        raise ValueError(f"{str(path)!r} is empty (no rows)")
    fields = [f.strip() for f in next(csv.reader([first], delimiter=delimiter))]
    header = not any(_is_number(f) for f in fields)
    if header:
        names = fields
        if len(set(names)) != len(names):
            raise ValueError(f"{str(path)!r} has repeated column names in its header")
    else:
        names = [str(i) for i in range(len(fields))]
        if columns is not None:
            raise ValueError(f"{str(path)!r} has no header, so columns cannot be chosen by name")
    id_name = id_column
    if id_column is not None and not header:
        if str(id_column).isdigit() and int(id_column) < len(fields):
            id_name = str(id_column)
        elif require_id:
            raise ValueError(
                f"{str(path)!r} has no header, so --id-column must be a 0-based column number"
            )
    usecols, id_index = _select(names, columns, id_name, path)
    if id_column is not None and require_id and id_index is None:
        raise ValueError(f"{str(path)!r} has no column {id_column!r} (columns: {', '.join(names)})")
    if not usecols:
        raise ValueError(f"{str(path)!r} has no numeric column besides the id column")
    skip = 1 if header else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": checked below
            with _open_text(path) as handle:
                data = np.loadtxt(
                    handle,
                    delimiter=delimiter,
                    skiprows=skip,
                    usecols=usecols,
                    ndmin=2,
                    dtype=np.float64,
                    quotechar='"',
                    comments=None,
                )
            ids = None
            if id_index is not None:
                with _open_text(path) as handle:
                    ids = np.loadtxt(
                        handle,
                        delimiter=delimiter,
                        skiprows=skip,
                        usecols=[id_index],
                        dtype=str,
                        quotechar='"',
                        comments=None,
                        ndmin=1,
                    )
    except ValueError as exc:
        raise ValueError(
            f"{str(path)!r}: {_loadtxt_message(str(exc), skip, len(fields))}"
        ) from None
    if data.shape[0] == 0:
        raise ValueError(f"{str(path)!r} has a header but no data rows")
    info = TableInfo(
        path=path,
        format="csv",
        columns=[names[i] for i in usecols] if header else None,
        ids=ids,
        id_name=names[id_index] if (id_index is not None and header) else None,
        delimiter=delimiter,
    )
    return data, info


def _loadtxt_message(message: str, skip: int, n_fields: int) -> str:
    """Rephrase the messages of ``numpy.loadtxt`` with line numbers of the file."""
    found = re.search(r"could not convert string (.*) to \w+ at row (\d+)", message)
    if found:
        line = int(found.group(2)) + skip + 1
        return f"text where a number belongs: {found.group(1)} on line {line}"
    found = re.search(r"at row (\d+) with (\d+) columns", message)
    if found:
        return (
            f"a row has {found.group(2)} columns where {n_fields} are expected "
            "(rows do not match the first row)"
        )
    return " ".join(message.split())


def _read_npy(path: Path):
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable .npy array file "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        data.close()
        raise ValueError(f"{str(path)!r} is an .npz archive; name it with the .npz suffix")
    return data, TableInfo(path=path, format="npy")


def _read_npz(path: Path, key):
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(path)!r} is not an .npz archive (a single .npy array?)")
    with archive:
        keys = list(archive.files)
        if not keys:
            raise ValueError(f"{str(path)!r} is an empty .npz archive")
        if key is None:
            if len(keys) != 1:
                raise ValueError(
                    f"{str(path)!r} holds several arrays ({', '.join(keys)}); "
                    "choose one with --key (scores) or --label-key (labels)"
                )
            key = keys[0]
        elif key not in keys:
            raise ValueError(f"{str(path)!r} has no array {key!r} (arrays: {', '.join(keys)})")
        try:
            data = archive[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{str(path)!r}: array {key!r} cannot be read ({exc})") from None
    return data, TableInfo(path=path, format="npz", key=key)


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading or writing Parquet needs pyarrow: pip install 'f1opt[report]'"
        ) from None


def _read_parquet(path: Path, id_column, columns, require_id: bool):
    _require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{str(path)!r} is not a readable Parquet file ({message})") from None
    names = list(table.column_names)
    if not names or table.num_rows == 0:
        raise ValueError(f"{str(path)!r} is empty (no rows)")
    usecols, id_index = _select(names, columns, id_column, path)
    if id_column is not None and require_id and id_index is None:
        raise ValueError(f"{str(path)!r} has no column {id_column!r} (columns: {', '.join(names)})")
    if not usecols:
        raise ValueError(f"{str(path)!r} has no numeric column besides the id column")
    arrays = []
    for i in usecols:
        column = table.column(i)
        kind = column.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise ValueError(
                f"{str(path)!r}: column {names[i]!r} holds {kind}, but numbers are needed"
            )
        arrays.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
    data = np.column_stack(arrays)
    ids = None
    if id_index is not None:
        ids = np.asarray(table.column(id_index).to_numpy(zero_copy_only=False))
    info = TableInfo(
        path=path,
        format="parquet",
        columns=[names[i] for i in usecols],
        ids=ids,
        id_name=names[id_index] if id_index is not None else None,
    )
    return data, info


def read_table(path, *, key=None, id_column=None, columns=None, require_id=False):
    r"""Read a score or label file into a numeric array.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.npy``, ``.npz``,
        ``.parquet``/``.pq``.
    key : str, optional
        NPZ array name; needed when the archive holds several arrays.
    id_column : str, optional
        CSV/Parquet column to drop from the numbers (kept in ``info.ids``).
        For a CSV without header, a 0-based column number.
    columns : list of str, optional
        CSV/Parquet columns to read, in this order (default: all but the id).
    require_id : bool, default=False
        Raise when ``id_column`` is given but absent (otherwise it is only
        dropped where present, e.g. from a label file without ids).

    Returns
    -------
    data : ndarray of shape (n_rows,) or (n_rows, n_columns)
        float64 for CSV and Parquet; NPY/NPZ arrays keep their dtype.
    info : TableInfo

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Unknown suffix, unreadable or empty file, text where numbers belong,
        a missing key or column, or an array that is not 1-D or 2-D.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.csv").write_text("id,a,b\nx,0.1,0.9\ny,0.7,0.2\n")
    >>> data, info = read_table(folder / "s.csv", id_column="id")
    >>> data.tolist(), info.columns, info.ids.tolist()
    ([[0.1, 0.9], [0.7, 0.2]], ['a', 'b'], ['x', 'y'])
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes)")
    if fmt in ("npy", "npz") and columns is not None:
        raise ValueError(f"{str(path)!r}: columns can be chosen only in CSV and Parquet files")
    if fmt == "csv":
        data, info = _read_csv(path, id_column, columns, require_id)
    elif fmt == "parquet":
        data, info = _read_parquet(path, id_column, columns, require_id)
    elif fmt == "npy":
        data, info = _read_npy(path)
    else:
        data, info = _read_npz(path, key)
    if data.dtype.names is not None or not (
        np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_
    ):
        raise ValueError(f"{str(path)!r} holds {data.dtype} values, but numbers are needed")
    if np.iscomplexobj(data):
        raise ValueError(f"{str(path)!r} holds complex numbers")
    if data.ndim not in (1, 2):
        raise ValueError(f"{str(path)!r} holds an array of shape {data.shape}; 1-D or 2-D needed")
    if data.size == 0:
        raise ValueError(f"{str(path)!r} holds an empty array (shape {data.shape})")
    return data, info


def check_output_path(path, *, force: bool, inputs=()) -> Path:
    """Refuse to overwrite an input, or an existing output without ``force``.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    for other in inputs:
        if other is not None and Path(other).exists() and path.exists():
            if path.resolve() == Path(other).resolve():
                raise ValueError(f"{str(path)!r} is an input file; inputs are never overwritten")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory")
    if path.exists() and not force:
        raise ValueError(f"{str(path)!r} already exists (use --force to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    return path


def _column_names(values: np.ndarray, like: TableInfo | None) -> list[str]:
    width = 1 if values.ndim == 1 else values.shape[1]
    if like is not None and like.columns is not None and len(like.columns) == width:
        return list(like.columns)
    if values.ndim == 1:
        return ["prediction"]
    return [f"prediction_{j}" for j in range(width)]


def write_table(path, values, *, like: TableInfo | None = None, name: str = "predictions"):
    """Write predictions atomically, in the format family of ``path`` (or of ``like``).

    Parameters
    ----------
    path : str or path-like
        Output file. Its suffix chooses the format; an unknown suffix takes
        the format of ``like`` (the input scores).
    values : ndarray of shape (n_rows,) or (n_rows, n_columns)
        Integer predictions (0/1 or class ids).
    like : TableInfo, optional
        The input's description: its header names, id column and NPZ key
        style are reproduced.
    name : str, default="predictions"
        The NPZ key.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    try:
        fmt = file_format(path)
    except ValueError:
        if like is None:
            raise
        fmt = like.format
    values = np.asarray(values)
    if fmt == "csv":
        names = _column_names(values, like)
        header = like is None or like.format != "csv" or like.columns is not None
        rows = values.reshape(values.shape[0], -1)
        delimiter = like.delimiter if (like is not None and like.format == "csv") else ","
        ids = like.ids if like is not None else None
        id_name = (like.id_name if like is not None else None) or "id"
        with atomic_path(path, suffix=".tmp") as tmp:
            opener = gzip.open if path.name.lower().endswith(".gz") else open
            with opener(tmp, "wt", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
                if header:
                    writer.writerow(([id_name] if ids is not None else []) + names)
                for i, row in enumerate(rows.tolist()):
                    writer.writerow(([ids[i]] if ids is not None else []) + row)
    elif fmt == "npy":
        with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as handle:
            np.save(handle, values, allow_pickle=False)
    elif fmt == "npz":
        arrays = {name: values}
        if like is not None and like.ids is not None:
            arrays["ids"] = np.asarray(like.ids).astype(str)
        with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    else:
        _require_pyarrow()
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = _column_names(values, like)
        rows = values.reshape(values.shape[0], -1)
        columns = {}
        if like is not None and like.ids is not None:
            columns[like.id_name or "id"] = pa.array(np.asarray(like.ids))
        for j, column in enumerate(names):
            columns[column] = pa.array(rows[:, j])
        with atomic_path(path, suffix=".tmp") as tmp:
            pq.write_table(pa.table(columns), str(tmp))
    return path
