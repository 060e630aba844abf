"""Score and label files: read CSV, NPY, NPZ and Parquet; write predictions back.

The command line reads the files people already have, as pandas, numpy and
spreadsheets write them:

* CSV (``.csv``, ``.tsv``, ``.txt``; gzip as ``.csv.gz``), tokenised by
  pyarrow's CSV reader (the ``report`` or ``dask`` extra). The first row is
  the header unless ``header=False`` (``--no-header``) or it holds a number
  that is not an integer (``np.savetxt`` writes no header, and no program
  names its columns ``0.25``). A header of integers (a model's ``classes_``
  ``0,1,...,9``, or a Series' default name ``0``) is read as a header; when a
  score file and a label file then differ by exactly that one row, the file
  whose integer first row was taken as names is read again without header.
  pandas' unnamed index column (``df.to_csv`` with defaults), an ``id`` or
  ``index`` column and a first column of text are row ids, never scores.
  Every row must have as many fields as the first; a cell must be a finite
  number (labels may be text); each problem is one ``ValueError`` naming the
  file, the line and the column.
* NPY (one array) and NPZ (``key`` names the array when there are several).
* Parquet, through pyarrow: integer, float (float16 too), boolean, decimal,
  nullable and dictionary (categorical) columns; text columns as labels.

Readers return a 2-D array (1-D arrays in NPY/NPZ stay 1-D) and a
:class:`TableInfo` describing the file, which :func:`write_table` uses to
write predictions in the same format family. :func:`encode_target` turns
labels as files hold them (text class names, ``yes``/``no`` with a positive
class, two probability columns of a binary ``predict_proba``) into the
numbers the deciders fit on. :func:`save_rule` writes a rule and every file
beside it (a network's weights) with the same ``force`` rule as the JSON.
Every problem is a ``ValueError`` (or ``FileNotFoundError``) whose message
names the file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io as _stdio
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import atomic_path

__all__ = [
    "TableInfo",
    "Target",
    "file_format",
    "read_table",
    "read_scores_and_labels",
    "encode_target",
    "positive_column",
    "write_table",
    "check_output_path",
    "save_rule",
    "split_columns",
]

log = logging.getLogger("f1opt.io")

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
    ".txt.gz": "csv",
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# names of columns that are row ids, not numbers (case-insensitive); "" and
# "Unnamed: 0" are pandas' index column, "__index_level_0__" its Parquet twin
_ID_NAMES = ("id", "ids", "index")
_INDEX_NAMES = ("", "unnamed: 0", "__index_level_0__")
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class TableInfo:
    """What a file looked like, so that predictions can be written in kind.

    Attributes
    ----------
    path : pathlib.Path
    format : {"csv", "npy", "npz", "parquet"}
    columns : list of str or None
        Names of the columns read (None for a CSV without header, NPY, NPZ).
    ids : ndarray or None
        Values of the id column, one per row, when one was set apart.
    id_name : str or None
        Name of that column ("" for pandas' unnamed index column).
    key : str or None
        NPZ array name.
    delimiter : str
        CSV delimiter.
    header : bool
        Whether the first row of a CSV file was read as column names.
    numeric_header : bool
        Whether that header was a row of integers (it might have been data).
    classes : list of str or None
        Set by the command line from :class:`Target`: class (or label) names.
    positive : str or None
        Set by the command line from :class:`Target`: the positive class.
    class_names : list of str or None
        Set by the command line from :class:`Target`: multiclass class names
        when the labels were text.
    """

    path: Path
    format: str
    columns: list[str] | None = None
    ids: np.ndarray | None = None
    id_name: str | None = None
    key: str | None = None
    delimiter: str = ","
    header: bool = False
    numeric_header: bool = False
    classes: list[str] | None = None
    positive: str | None = None
    class_names: list[str] | None = None


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


def _canonical(value) -> str:
    """A label or column name as a comparable string: ``1.0`` and ``"1"`` -> ``"1"``."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if np.isfinite(number) and number == round(number):
        return str(int(number))
    return repr(number)


def _require_pyarrow(what: str = "reading or writing Parquet"):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{what} needs pyarrow, a dependency of f1opt: pip install pyarrow"
        ) from None


class _Frame:
    """Columns of a CSV or Parquet file before they become numbers.

    ``arrays`` are pyarrow arrays (strings for CSV, typed for Parquet);
    ``where(i)`` says where data row ``i`` is in the file ("line 7", "row 7").
    """

    def __init__(self, path, fmt, names, arrays, where, *, header, numeric_header, delimiter=","):
        self.path = path
        self.format = fmt
        self.names = names
        self.arrays = arrays
        self.where = where
        self.header = header
        self.numeric_header = numeric_header
        self.delimiter = delimiter
        self.index_columns: list[int] = []

    @property
    def n_rows(self) -> int:
        return len(self.arrays[0]) if self.arrays else 0

    def label(self, j: int) -> str:
        """How to name column ``j`` in a message."""
        if self.names is not None:
            return f"column {self.names[j]!r}"
        return f"column {j + 1}"


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return _stdio.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _line_of_record(path: Path, delimiter: str, record: int) -> int:
    """Physical line (1-based) where CSV record ``record`` (0-based, blank lines skipped) starts."""
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            previous, seen = 0, -1
            for row in reader:
                if row:
                    seen += 1
                    if seen == record:
                        return previous + 1
                previous = reader.line_num
    except (OSError, EOFError, UnicodeError, csv.Error):
        pass
    return record + 1


def _first_record(path: Path, delimiter: str) -> list[str] | None:
    try:
        with _open_text(path) as handle:
            for row in csv.reader(handle, delimiter=delimiter):
                if row:
                    return row
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not UTF-8 text (save it as CSV UTF-8)") from None
    except (OSError, EOFError) as exc:  # gzip errors
        raise ValueError(
            f"{str(path)!r} is truncated or not readable ({_first_line(exc)}); write it again"
        ) from None
    except csv.Error as exc:
        raise ValueError(f"{str(path)!r} is not a readable CSV file ({exc})") from None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _ragged_message(path, delimiter, line, expected, got, text, header) -> str:
    what = "the header has" if header else "the first row has"
    message = (
        f"{str(path)!r} line {line} has {got} fields, but {what} {expected}; "
        "every row needs the same number of fields"
    )
    if delimiter == "," and got > expected and _DECIMAL_COMMA.search(text or ""):
        message += " (decimal commas? write 0.25, not 0,25)"
    elif got < expected:
        message += " (a row cut short? fill in the missing fields)"
    else:
        message += " (a field too many, or a name missing from the header?)"
    return message


def _header_decision(first: list[str], header: bool) -> tuple[bool, bool]:
    """(is a header, is a header of numbers) for the first CSV record."""
    if not header:
        return False, False
    fields = [f.strip() for f in first]
    if not all(_is_number(f) for f in fields):
        return True, False
    if all(_INTEGER.fullmatch(f) for f in fields) and len(set(fields)) == len(fields):
        return True, True  # classes_ as names, or a Series' default name "0"
    return False, False  # a row of data (np.savetxt writes no header)


def _read_csv_frame(path: Path, header: bool) -> _Frame:
    _require_pyarrow("reading CSV")
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    first = _first_record(path, delimiter)
    if first is None:
        raise ValueError(f"{str(path)!r} is empty (no rows)")
    if delimiter == "," and len(first) == 1:
        for other in (";", "\t"):
            if other in first[0]:
                name = "semicolons" if other == ";" else "tabs"
                raise ValueError(
                    f"{str(path)!r} line 1 separates its fields by {name}, not commas "
                    f"(save it with commas, or name a tab-separated file .tsv)"
                )
    n_fields = len(first)

    def read(threads: bool, bad: list):
        def invalid(row):
            bad.append(row)
            return "error"

        return pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, use_threads=threads),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{j}": pa.string() for j in range(n_fields)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )

    bad: list = []
    try:
        table = read(True, bad)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        message = _first_line(exc)
        is_header, _ = _header_decision(first, header)
        if bad:
            if bad[0].number is None:  # threads do not count rows: count them again
                serial: list = []
                with contextlib.suppress(pa.ArrowInvalid, OSError, EOFError):
                    read(False, serial)
                bad = serial or bad
            row = bad[0]
            record = (row.number - 1) if row.number is not None else None
            line = _line_of_record(path, delimiter, record) if record is not None else "?"
            raise ValueError(
                _ragged_message(
                    path,
                    delimiter,
                    line,
                    row.expected_columns,
                    row.actual_columns,
                    row.text,
                    is_header,
                )
            ) from None
        if "UTF8" in message or "UTF-8" in message:
            raise ValueError(f"{str(path)!r} is not UTF-8 text (save it as CSV UTF-8)") from None
        if isinstance(exc, (OSError, EOFError)) and not isinstance(exc, pa.ArrowInvalid):
            raise ValueError(
                f"{str(path)!r} is truncated or not readable ({message}); write it again"
            ) from None
        raise ValueError(f"{str(path)!r} is not a readable CSV file ({message})") from None
    is_header, numeric = _header_decision(first, header)
    arrays = [table.column(j).combine_chunks() for j in range(table.num_columns)]
    names = None
    if is_header:
        names = [str(a[0].as_py()).strip() for a in arrays]
        arrays = [a.slice(1) for a in arrays]
        seen = set()
        for j, name in enumerate(names):
            if name == "" and j > 0:
                raise ValueError(
                    f"{str(path)!r} line 1: column {j + 1} has no name in the header "
                    "(name it, or pass --no-header if the file has none)"
                )
            if name in seen:
                raise ValueError(
                    f"{str(path)!r} line 1: the header names column {name!r} twice "
                    "(give every column its own name)"
                )
            seen.add(name)
        if numeric:
            log.info(
                "%s: first row %s read as column names (pass --no-header if it is data)",
                path,
                ",".join(names),
            )
    skip = 1 if is_header else 0

    def where(i: int) -> str:
        return f"line {_line_of_record(path, delimiter, i + skip)}"

    frame = _Frame(
        path,
        "csv",
        names,
        arrays,
        where,
        header=is_header,
        numeric_header=numeric,
        delimiter=delimiter,
    )
    if frame.n_rows == 0:
        raise ValueError(f"{str(path)!r} has a header but no data rows")
    return frame


def _read_parquet_frame(path: Path) -> _Frame:
    _require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, EOFError, ValueError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable Parquet file ({_first_line(exc)})"
        ) from None
    names = [str(n) for n in table.column_names]
    if not names or table.num_rows == 0:
        raise ValueError(f"{str(path)!r} is empty (no rows)")
    if len(set(names)) != len(names):
        raise ValueError(f"{str(path)!r} has two columns of the same name")
    arrays = [table.column(j).combine_chunks() for j in range(table.num_columns)]
    frame = _Frame(
        path,
        "parquet",
        names,
        arrays,
        lambda i: f"row {i + 1}",
        header=True,
        numeric_header=False,
    )
    try:
        meta = table.schema.pandas_metadata or {}
    except (ValueError, TypeError):  # damaged pandas metadata: no index known
        meta = {}
    index = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    frame.index_columns = [names.index(c) for c in index if c in names]
    return frame


def _number_hint(frame: _Frame, j: int, text: str) -> str:
    if frame.delimiter == "," and _DECIMAL_COMMA.fullmatch(text):
        return " (a decimal comma: write 0.25, not 0,25)"
    if frame.names is not None:
        name = frame.names[j]
        return (
            f" (if {name!r} holds row ids, pass --id-column {name}; otherwise choose the "
            "number columns with --score-columns / --label-columns)"
        )
    return (
        f" (if column {j + 1} holds row ids, pass --id-column {j}; columns are numbered "
        "from 0 in a file without header)"
    )


def _strings(array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False)).astype(str)


def _show(text) -> str:
    return repr(str(text))


def _text_to_numbers(frame: _Frame, j: int, array, *, allow_text: bool, role: str):
    """The slow path of a text column: spaces, empty cells, text (with where it is)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    where = f"{str(frame.path)!r}"
    trimmed = pc.utf8_trim_whitespace(array)
    empty = pc.equal(trimmed, "")
    if pc.any(empty).as_py():
        i = int(pc.index(empty, True).as_py())
        raise ValueError(
            f"{where} {frame.where(i)}, {frame.label(j)}: the cell is empty "
            f"(every {role} needs a value; fill it in or drop the row)"
        )
    try:
        return pc.cast(trimmed, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = _strings(trimmed)
    if allow_text:
        return text
    i = next((k for k, t in enumerate(text) if not _is_number(t)), 0)
    if frame.format == "parquet":
        raise ValueError(
            f"{where}: {frame.label(j)} holds string values ({_show(text[i])} in "
            f"{frame.where(i)}), but numbers are needed{_number_hint(frame, j, '')}"
        ) from None
    raise ValueError(
        f"{where} {frame.where(i)}, {frame.label(j)}: text where a number belongs: "
        f"{_show(text[i])}{_number_hint(frame, j, str(text[i]))}"
    ) from None


def _column_values(frame: _Frame, j: int, *, allow_text: bool, role: str):
    """Column ``j`` as float64, or as str when ``allow_text`` and it holds text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = frame.arrays[j]
    where = f"{str(frame.path)!r}"
    if pa.types.is_dictionary(array.type):  # pandas' categorical
        array = array.dictionary_decode()
    if array.null_count:
        i = int(np.flatnonzero(np.asarray(array.is_null()))[0])
        raise ValueError(
            f"{where} {frame.where(i)}, {frame.label(j)}: the cell is empty "
            f"(every {role} needs a value; fill it in or drop the row)"
        )
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:  # the usual case in one pass: every cell a number, no spaces
            values = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = _text_to_numbers(frame, j, array, allow_text=allow_text, role=role)
            if isinstance(values, np.ndarray):
                return values
        values = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    elif (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    ):
        if pa.types.is_decimal(kind):
            array = pc.cast(array, pa.float64())
        values = np.asarray(array.to_numpy(zero_copy_only=False)).astype(np.float64)
    else:
        raise ValueError(
            f"{where}: {frame.label(j)} holds {kind}, but numbers are needed"
            + (" (or text labels)" if allow_text else "")
        )
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        what = "NaN" if np.isnan(values[i]) else "an infinite value"
        raise ValueError(
            f"{where} {frame.where(i)}, {frame.label(j)}: {what} where a finite number "
            f"belongs (fill in the {role} or drop the row)"
        )
    return values


def _looks_like_ids(frame: _Frame, j: int, unique: bool) -> bool:
    """Whether column ``j`` holds text that is no number (and unique, if asked)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = frame.arrays[j]
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return False
    trimmed = pc.utf8_trim_whitespace(array)
    try:
        pc.cast(trimmed, pa.float64())
        return False
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return not unique or len(pc.unique(trimmed)) == len(trimmed)


def _select(frame: _Frame, *, columns, exclude, id_column, require_id, allow_text):
    """Indices of the data columns and of the id column; ids may be found by their look."""
    names = frame.names
    path = frame.path
    shown = ", ".join(names) if names is not None else ""
    id_index = None
    if id_column is not None:
        if names is not None and id_column in names:
            id_index = names.index(id_column)
        elif names is None and str(id_column).isdigit() and int(id_column) < len(frame.arrays):
            id_index = int(id_column)
        elif require_id:
            if names is None:
                raise ValueError(
                    f"{str(path)!r} has no header, so --id-column must be a 0-based column number"
                )
            raise ValueError(f"{str(path)!r} has no column {id_column!r} (columns: {shown})")
    index_like = set(frame.index_columns)
    if names is not None:
        index_like |= {j for j, n in enumerate(names) if n.lower() in _INDEX_NAMES}
    if columns is not None:
        if names is None:
            raise ValueError(f"{str(path)!r} has no header, so columns cannot be chosen by name")
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{str(path)!r} has no column {missing[0]!r} (columns: {shown})")
        usecols = [names.index(c) for c in columns]
        if id_index is not None and id_index in usecols:
            raise ValueError(
                f"{str(path)!r}: column {names[id_index]!r} cannot be both the id column "
                "and a data column"
            )
        if id_index is None and len(index_like) == 1 and not index_like & set(usecols):
            id_index = next(iter(index_like))
        if id_index is None and id_column is None and 0 not in usecols:
            if _looks_like_ids(frame, 0, unique=allow_text):  # ids carried, as without columns
                id_index = 0
        return usecols, id_index
    skip = set(index_like)
    if exclude:
        skip |= {names.index(c) for c in exclude if names is not None and c in names}
    if id_index is None and index_like:
        id_index = min(index_like)
    if id_index is None and names is not None and id_column is None:
        named = [j for j, n in enumerate(names) if n.lower() in _ID_NAMES and j not in skip]
        if len(named) == 1:
            id_index = named[0]
            log.info("%s: column %r read as row ids (not numbers)", path, names[id_index])
    if id_index is not None:
        skip.add(id_index)
    usecols = [j for j in range(len(frame.arrays)) if j not in skip]
    if id_index is None and id_column is None and len(usecols) > 1 and usecols[0] == 0:
        if _looks_like_ids(frame, 0, unique=allow_text):
            id_index = 0
            usecols = usecols[1:]
            log.info(
                "%s: %s holds text, read as row ids (name the id column with --id-column)",
                path,
                frame.label(0),
            )
    if not usecols:
        raise ValueError(f"{str(path)!r} has no number column besides the id column")
    return usecols, id_index


def _read_frame_table(frame, *, columns, exclude, id_column, require_id, allow_text, role):
    usecols, id_index = _select(
        frame,
        columns=columns,
        exclude=exclude,
        id_column=id_column,
        require_id=require_id,
        allow_text=allow_text,
    )
    values = [_column_values(frame, j, allow_text=allow_text, role=role) for j in usecols]
    if any(v.dtype.kind == "U" for v in values):
        values = [
            v if v.dtype.kind == "U" else np.array([_canonical(x) for x in v]) for v in values
        ]
    data = np.column_stack(values)
    ids = None
    if id_index is not None:
        array = frame.arrays[id_index]
        if hasattr(array, "dictionary_decode"):
            array = array.dictionary_decode()
        ids = np.asarray(array.to_numpy(zero_copy_only=False))
        if ids.dtype == object:
            ids = ids.astype(str)
    names = frame.names
    info = TableInfo(
        path=frame.path,
        format=frame.format,
        columns=[names[j] for j in usecols] if names is not None else None,
        ids=ids,
        id_name=(names[id_index] if names is not None else None) if id_index is not None else None,
        delimiter=frame.delimiter,
        header=frame.header,
        numeric_header=frame.numeric_header,
    )
    return data, info


def _read_npy(path: Path):
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable .npy array file ({_first_line(exc)})"
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


def read_table(
    path,
    *,
    key=None,
    id_column=None,
    columns=None,
    exclude=None,
    require_id=False,
    header=True,
    allow_text=False,
):
    r"""Read a score or label file into an array.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.npy``, ``.npz``,
        ``.parquet``/``.pq``.
    key : str, optional
        NPZ array name; needed when the archive holds several arrays.
    id_column : str, optional
        CSV/Parquet column of row ids, set apart from the numbers (kept in
        ``info.ids``). For a CSV without header, a 0-based column number.
        Without it, pandas' unnamed index column, a column named ``id`` or
        ``index``, or a first column of text (unique text when
        ``allow_text``) are the ids.
    columns : list of str, optional
        CSV/Parquet columns to read, in this order (default: all but the ids
        and ``exclude``).
    exclude : list of str, optional
        CSV/Parquet columns never read as data (the label columns, when the
        scores come from the same file).
    require_id : bool, default=False
        Raise when ``id_column`` is given but absent (otherwise it is only
        dropped where present, e.g. from a label file without ids).
    header : bool, default=True
        False: the CSV file has no header row (its first row is data).
    allow_text : bool, default=False
        Return text columns as strings (labels such as ``yes``/``no`` or class
        names) instead of raising.

    Returns
    -------
    data : ndarray of shape (n_rows,) or (n_rows, n_columns)
        float64 for CSV and Parquet (str where ``allow_text`` found text);
        NPY/NPZ arrays keep their dtype.
    info : TableInfo

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Unknown suffix; unreadable, truncated or empty file; a row with too
        many or too few fields; an empty cell, text or a decimal comma where a
        number belongs (the message names the line and the column); a missing
        key or column; an array that is not 1-D or 2-D.
    ImportError
        For CSV and Parquet without pyarrow.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.csv").write_text(",a,b\n0,0.1,0.9\n1,0.7,0.2\n")  # df.to_csv
    >>> data, info = read_table(folder / "s.csv")
    >>> data.tolist(), info.columns, info.ids.tolist()
    ([[0.1, 0.9], [0.7, 0.2]], ['a', 'b'], ['0', '1'])
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
    role = "label" if allow_text else "score"
    if fmt in ("csv", "parquet"):
        frame = _read_csv_frame(path, header) if fmt == "csv" else _read_parquet_frame(path)
        data, info = _read_frame_table(
            frame,
            columns=columns,
            exclude=exclude,
            id_column=id_column,
            require_id=require_id,
            allow_text=allow_text,
            role=role,
        )
    elif fmt == "npy":
        data, info = _read_npy(path)
    else:
        data, info = _read_npz(path, key)
    text = data.dtype.kind in "US" and allow_text
    if data.dtype.names is not None or not (
        np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_ or text
    ):
        raise ValueError(f"{str(path)!r} holds {data.dtype} values, but numbers are needed")
    if np.iscomplexobj(data):
        raise ValueError(f"{str(path)!r} holds complex numbers")
    if data.ndim not in (1, 2):
        raise ValueError(f"{str(path)!r} holds an array of shape {data.shape}; 1-D or 2-D needed")
    if data.size == 0:
        raise ValueError(f"{str(path)!r} holds an empty array (shape {data.shape})")
    return data, info


def read_scores_and_labels(
    scores_path,
    labels_path=None,
    *,
    key=None,
    label_key=None,
    id_column=None,
    score_columns=None,
    label_columns=None,
    header=True,
):
    """Read the scores and the labels, from two files or from one.

    Label columns never double as score columns: from one file, the scores
    are every column but the ids and ``label_columns`` (and the labels every
    column but the ids and ``score_columns``). When the two files differ by
    exactly one row and the shorter one's first row was a row of integers
    read as its header, that row is data: the file is read again without
    header. Ids, where both files have them, must agree row by row.

    Returns
    -------
    scores : ndarray of float
    labels : ndarray of float or str
    info, label_info : TableInfo
    """
    same = labels_path is None or str(labels_path) == str(scores_path)
    labels_path = scores_path if labels_path is None else labels_path
    if same and score_columns is None and label_columns is None:
        if file_format(scores_path) in ("csv", "parquet", "npy") or key == label_key:
            raise ValueError(
                "--scores and --labels read the same data; choose --label-columns (and "
                "--score-columns) in CSV/Parquet, or --key and --label-key in NPZ"
            )
    score_kw = dict(key=key, id_column=id_column, columns=score_columns, require_id=True)
    label_kw = dict(key=label_key, id_column=id_column, columns=label_columns, allow_text=True)
    if same:
        score_kw["exclude"] = label_columns
        label_kw["exclude"] = score_columns
    scores, info = read_table(scores_path, header=header, **score_kw)
    labels, label_info = read_table(labels_path, header=header, **label_kw)
    if not same and scores.shape[0] != labels.shape[0]:
        if abs(scores.shape[0] - labels.shape[0]) == 1:
            shorter = "scores" if scores.shape[0] < labels.shape[0] else "labels"
            if shorter == "scores" and info.numeric_header:
                log.info(
                    "%s: its first row is data after all (rows of %s)", scores_path, labels_path
                )
                scores, info = read_table(scores_path, header=False, **score_kw)
            elif shorter == "labels" and label_info.numeric_header:
                log.info(
                    "%s: its first row is data after all (rows of %s)", labels_path, scores_path
                )
                labels, label_info = read_table(labels_path, header=False, **label_kw)
        if scores.shape[0] != labels.shape[0]:
            hint = ""
            if info.header or label_info.header:
                hint = " (if a file has no header row, pass --no-header)"
            raise ValueError(
                f"rows do not match: {scores_path} has {scores.shape[0]} rows, "
                f"{labels_path} has {labels.shape[0]}{hint}"
            )
    if info.ids is not None and label_info.ids is not None:
        a, b = np.asarray(info.ids).astype(str), np.asarray(label_info.ids).astype(str)
        if a.shape == b.shape and not np.array_equal(a, b):
            row = int(np.flatnonzero(a != b)[0])
            raise ValueError(
                f"rows do not match: ids differ at row {row} ({a[row]!r} in {scores_path}, "
                f"{b[row]!r} in {labels_path}); put both files in the same row order"
            )
    return scores, labels, info, label_info


@dataclass(frozen=True)
class Target:
    """Scores and labels as the deciders take them, and the names behind them.

    Attributes
    ----------
    scores : ndarray of shape (n,) or (n, m)
        The positive class's column only, when two probability columns were
        read as a binary problem.
    y : ndarray of shape (n,) or (n, L)
        0/1 (binary, multilabel) or class ids 0..K-1 (multiclass).
    classes : list of str or None
        Multiclass: the name of class k (column k of the scores); binary: the
        negative and the positive class when the labels were text or two
        probability columns were given.
    positive : str or None
        The positive class of a binary target, when it was chosen.
    class_names : list of str or None
        Multiclass, when the labels were written as class names (text): the
        name of class k; binary, when the labels are two values other than 0
        and 1 (``yes``/``no``, -1/1, or 0 chosen as the positive class):
        ``[negative, positive]``. For writing predictions as the labels.
    """

    scores: np.ndarray
    y: np.ndarray
    classes: list[str] | None = None
    positive: str | None = None
    class_names: list[str] | None = None


def _sums_to_one(scores: np.ndarray) -> bool:
    if scores.dtype.kind not in "fiub" or scores.ndim != 2:
        return False
    sums = scores.astype(np.float64).sum(axis=1)
    return bool(np.all(np.abs(sums - 1.0) <= 1e-3) and scores.min() >= 0)


def positive_column(score_names=None, pos_label=None, classes=None) -> int:
    """Which of two probability columns belongs to the positive class.

    ``pos_label`` chooses it by a column name, by one of ``classes`` (the two
    label values in column order) or as 0/1; without it, a column named
    ``1`` or ``True`` is positive, else the second column (as in
    ``predict_proba``, whose columns follow the sorted ``classes_``).

    Returns
    -------
    j : {0, 1}

    Raises
    ------
    ValueError
        When ``pos_label`` matches neither a column nor a class.
    """
    names = [_canonical(n) for n in score_names] if score_names is not None else None
    if pos_label is not None:
        wanted = _canonical(pos_label)
        if names is not None and wanted in names:
            return names.index(wanted)
        if classes is not None and wanted in [_canonical(c) for c in classes]:
            return [_canonical(c) for c in classes].index(wanted)
        if wanted in ("0", "1"):
            return int(wanted)
        shown = ", ".join(repr(n) for n in (names or classes or ["0", "1"]))
        raise ValueError(
            f"--pos-label {pos_label!r} names no column or class of the scores ({shown})"
        )
    if names is not None:
        for positive in ("1", "True", "true", "yes"):
            if positive in names:
                return names.index(positive)
    return 1


def _binary_names(values, positive) -> list[str] | None:
    """``[negative, positive]`` of two label values (as text), unless they are 0 and 1."""
    values = [str(v) for v in values]
    if positive is None or len(values) != 2 or str(positive) not in values:
        return None
    if sorted(values) == ["0", "1"] and str(positive) == "1":
        return None
    negative = values[0] if values[1] == str(positive) else values[1]
    return [negative, str(positive)]


def _text_binary(labels: np.ndarray, pos_label, source: str):
    classes = sorted(set(labels.tolist()))
    lowered = {c.lower() for c in classes}
    if pos_label is None:
        if lowered <= {"true", "false"}:
            return (np.char.lower(labels) == "true").astype(np.int64), None
        shown = ", ".join(repr(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
        raise ValueError(
            f"{source}: the labels are text ({shown}); choose the positive class with "
            f"--pos-label (e.g. --pos-label {classes[-1]})"
        )
    if str(pos_label) not in classes:
        shown = ", ".join(repr(c) for c in classes[:5])
        raise ValueError(f"{source}: --pos-label {pos_label!r} is not a label (labels: {shown})")
    return (labels == str(pos_label)).astype(np.int64), str(pos_label)


def encode_target(
    scores,
    labels,
    *,
    score_names=None,
    label_names=None,
    pos_label=None,
    scores_source="scores",
    labels_source="labels",
) -> Target:
    """Labels as files hold them -> the numbers the deciders fit on.

    * binary (one score column): labels 0/1, ``True``/``False``, or any two
      values with ``pos_label`` naming the positive one (``yes``/``no``
      without it is an error naming the classes and ``--pos-label``);
    * two probability columns (rows summing to 1, as a binary
      ``predict_proba`` writes them) with one label column of at most two
      classes, or with ``pos_label`` given: binary, on the positive class's
      column (:func:`positive_column`); one info line says which;
    * multiclass (K >= 2 score columns, one label column): class ids
      0..K-1, or class names, matched to the score columns by the columns'
      names when these name every class, else in sorted order when there are
      exactly K of them;
    * multilabel (an indicator matrix): 0/1, ``True``/``False``, or
      ``pos_label`` marking the positive entries; ``classes`` are the label
      columns' names (``label_names``), else the score columns' names.

    Returns
    -------
    target : Target

    Raises
    ------
    ValueError
        With a message naming the file and the fix.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    text = labels.dtype.kind in "US"
    if text:
        labels = np.char.strip(labels.astype(str))
    if labels.ndim == 2:
        names = label_names if label_names is not None else score_names
        names = list(names) if names is not None else None
        if pos_label is not None:
            wanted = str(pos_label) if text else float(_canonical(pos_label))
            y = (labels == wanted).astype(np.int64)
            return Target(scores, y, classes=names, positive=str(pos_label))
        if text:
            lowered = np.char.lower(labels)
            if not np.isin(lowered, ["true", "false"]).all():
                bad = labels[~np.isin(lowered, ["true", "false"])][0]
                raise ValueError(
                    f"{labels_source}: label columns hold text ({str(bad)!r}); an indicator needs "
                    "0/1 or True/False, or --pos-label naming the positive value"
                )
            return Target(scores, (lowered == "true").astype(np.int64), classes=names)
        return Target(scores, labels, classes=names)
    if scores.ndim == 1:
        if text:
            y, positive = _text_binary(labels, pos_label, labels_source)
            names = _binary_names(sorted(set(labels.tolist())), positive)
            return Target(scores, y, positive=positive, class_names=names)
        values = np.unique(labels)
        if pos_label is not None:
            try:
                wanted = float(_canonical(pos_label))
            except ValueError:
                wanted = None
            if wanted is None or wanted not in values:
                shown = ", ".join(_canonical(v) for v in values[:5])
                raise ValueError(
                    f"{labels_source}: --pos-label {pos_label!r} is not a label (labels: {shown})"
                )
            names = _binary_names([_canonical(v) for v in values], _canonical(wanted))
            y = (labels == wanted).astype(np.int64)
            return Target(scores, y, positive=str(pos_label), class_names=names)
        if values.size == 2 and not np.isin(values, [0, 1]).all():
            a, b = (_canonical(v) for v in values)
            raise ValueError(
                f"{labels_source}: the labels are {a} and {b}, not 0 and 1; choose the "
                f"positive class with --pos-label (e.g. --pos-label {b})"
            )
        return Target(scores, labels)
    n_columns = scores.shape[1]
    label_values = (
        sorted(set(labels.tolist())) if text else [_canonical(v) for v in np.unique(labels)]
    )
    if n_columns == 2 and (
        pos_label is not None or (len(label_values) <= 2 and _sums_to_one(scores))
    ):
        classes = None
        if score_names is not None and set(label_values) <= {_canonical(n) for n in score_names}:
            classes = [_canonical(n) for n in score_names]
        elif text and len(label_values) == 2:
            classes = label_values  # predict_proba's columns follow the sorted classes_
        elif not text:
            classes = ["0", "1"]
        j = positive_column(score_names, pos_label, classes)
        column = f"{score_names[j]!r}" if score_names is not None else f"{j + 1}"
        if classes is not None:
            positive = classes[j]
        elif pos_label is not None:
            positive = str(pos_label)
        else:
            raise ValueError(
                f"{labels_source}: the labels ({', '.join(map(repr, label_values))}) do not "
                "name the two score columns; choose the positive class with --pos-label"
            )
        keys = labels if text else np.array([_canonical(v) for v in labels])
        if positive not in label_values and pos_label is not None and text:
            shown = ", ".join(repr(c) for c in label_values)
            raise ValueError(f"{labels_source}: --pos-label {pos_label!r} is not a label ({shown})")
        y = (keys == positive).astype(np.int64)
        log.info(
            "%s: 2 probability columns read as binary scores: column %s, class %r, is the "
            "positive one (--pos-label chooses the other)",
            scores_source,
            column,
            positive,
        )
        names = _binary_names(label_values, positive if text else _canonical(positive))
        return Target(scores[:, j], y, classes=classes, positive=positive, class_names=names)
    if pos_label is not None:
        raise ValueError(
            f"--pos-label is for binary targets (one score column, or two probability "
            f"columns), but {scores_source} has {n_columns} class columns"
        )
    names = [_canonical(n) for n in score_names] if score_names is not None else None
    keys = labels if text else np.array([_canonical(v) for v in labels])
    if names is not None and len(set(names)) == n_columns and set(label_values) <= set(names):
        lookup = {name: k for k, name in enumerate(names)}
        y = np.array([lookup[k] for k in keys.tolist()], dtype=np.int64)
        named = [str(n) for n in score_names] if text else None
        return Target(scores, y, classes=list(score_names), class_names=named)
    if text:
        if len(label_values) == n_columns:
            log.info(
                "%s: class names in sorted order are the score columns: %s",
                labels_source,
                ", ".join(f"{k}={c}" for k, c in enumerate(label_values[:10])),
            )
            lookup = {name: k for k, name in enumerate(label_values)}
            y = np.array([lookup[k] for k in labels.tolist()], dtype=np.int64)
            return Target(scores, y, classes=label_values, class_names=list(label_values))
        shown = ", ".join(repr(c) for c in label_values[:5])
        raise ValueError(
            f"{labels_source}: {len(label_values)} class names ({shown}) for {n_columns} score "
            "columns; name the score columns after the classes (a header with the class names)"
        )
    return Target(scores, labels, classes=list(score_names) if score_names is not None else None)


def check_output_path(path, *, force: bool, inputs=(), what: str | None = None) -> Path:
    """Refuse to overwrite an input, or an existing output without ``force``.

    ``what`` names the file in the message (e.g. "the weights of rule 'r.json'").

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
        named = f" ({what})" if what else ""
        raise ValueError(f"{str(path)!r}{named} already exists (use --force to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    return path


def save_rule(decider, path, *, force: bool = False, inputs=(), class_names=None) -> list[Path]:
    """Save a fitted decider and every file beside it, each under the ``force`` rule.

    ``class_names`` (multiclass rules, and binary rules on two named labels)
    are saved with the rule, so that ``f1opt apply`` writes the labels
    instead of class ids or 0/1.

    The decider saves into a fresh folder beside ``path``; only when none of
    the files it wrote (the JSON and, for a network, its weights) would
    replace an input, or an existing file without ``force``, are they renamed
    into place, the JSON last. On any error nothing is left behind.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, the JSON last.
    """
    path = check_output_path(path, force=force, inputs=inputs)
    parent = path.parent if str(path.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        if class_names is not None:
            decider.class_names_ = [str(n) for n in class_names]
        decider.save(staging / path.name)
        written = sorted(p.name for p in staging.iterdir() if p.name != path.name)
        for name in written:
            check_output_path(
                parent / name, force=force, inputs=inputs, what=f"a file of the rule {path.name}"
            )
        targets = []
        for name in [*written, path.name]:
            os.replace(staging / name, parent / name)
            targets.append(parent / name)
        return targets
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _column_names(values: np.ndarray, like: TableInfo | None) -> list[str]:
    if values.ndim == 1:
        return ["prediction"]
    width = values.shape[1]
    if like is not None and like.columns is not None and len(like.columns) == width:
        return list(like.columns)
    return [f"prediction_{j}" for j in range(width)]


def write_table(path, values, *, like: TableInfo | None = None, name: str = "predictions"):
    """Write predictions atomically, in the format family of ``path`` (or of ``like``).

    One prediction per row goes under a ``prediction`` column; one per label
    (multilabel) under the names of the input's score columns. The input's
    ids are carried: as its id column (CSV, Parquet) or an ``ids`` array (NPZ).

    Parameters
    ----------
    path : str or path-like
        Output file. Its suffix chooses the format; an unknown suffix takes
        the format of ``like`` (the input scores).
    values : ndarray of shape (n_rows,) or (n_rows, n_columns)
        Predictions (0/1 or class ids).
    like : TableInfo, optional
        The input's description: its header names, id column and NPZ key
        style are reproduced. A CSV without header gets none.
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
    ids = like.ids if like is not None else None
    if fmt == "csv":
        names = _column_names(values, like)
        header = like is None or like.format != "csv" or like.columns is not None
        rows = values.reshape(values.shape[0], -1)
        delimiter = like.delimiter if (like is not None and like.format == "csv") else ","
        id_name = like.id_name if (like is not None and like.id_name is not None) else "id"
        if id_name == "__index_level_0__":
            id_name = ""
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
        if ids is not None:
            arrays["ids"] = np.asarray(ids).astype(str)
        with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    else:
        _require_pyarrow()
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = _column_names(values, like)
        rows = values.reshape(values.shape[0], -1)
        columns = {}
        if ids is not None:
            id_name = like.id_name if like.id_name not in (None, "", "__index_level_0__") else "id"
            columns[id_name] = pa.array(np.asarray(ids))
        for j, column in enumerate(names):
            columns[column] = pa.array(rows[:, j])
        with atomic_path(path, suffix=".tmp") as tmp:
            pq.write_table(pa.table(columns), str(tmp))
    return path


def is_sparse_npz(path) -> bool:
    """Whether ``path`` is an ``.npz`` file written by :func:`scipy.sparse.save_npz`."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return {"format", "shape", "data"} <= names
