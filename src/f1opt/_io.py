"""Saving and loading deciders as versioned JSON, and atomic file writes.

A saved decider is a JSON object::

    {"format": "f1opt-decider", "format_version": 1, "f1opt_version": "...",
     "class": "PerClassThreshold", "params": {...}, "fitted": {...}}

A multiclass rule fitted on named classes also carries ``"class_names"`` (one
string per class, checked on load like every other field; the loaded rule has
them as ``class_names_``); so does a binary rule fitted on two named labels
(``[negative, positive]``: the decision ``k`` stands for ``class_names[k]``).

Arrays are stored as ``{"__ndarray__": [...], "dtype": "float64", "shape": [...]}``
and non-finite floats as the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so the
file is strict JSON. Only classes registered with :func:`register_decider` can
be loaded: a rule file from a stranger never runs code or unpickles anything.
Networks store their weights in a file beside the JSON (safetensors or npz).

:func:`load` trusts nothing in a file: sizes, nesting, types, ranges and the
agreement of fields are checked before anything is allocated from them, and
every failure is a :class:`RuleFileError` (a ``ValueError``) naming the field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "f1opt-decider"
FORMAT_VERSION = 1
MAX_RULE_BYTES = 64 * 2**20  # a rule file's JSON (thresholds of a million labels fit)
MAX_JSON_DEPTH = 32  # saved deciders nest a few levels (a Stretcher's then_ adds 3)
MAX_WEIGHTS_BYTES = 2 * 2**30  # a network's weights file beside the JSON
MAX_NAME_BYTES = 255  # a file name (the usual file-system limit)

_REGISTRY: dict[str, type] = {}
# class name -> module that registers it on import, filled by the method table
# (f1opt.methods) so that this module never imports the table
_CLASS_MODULES: dict[str, str] = {}

__all__ = [
    "RuleFileError",
    "register_decider",
    "save",
    "load",
    "atomic_path",
    "to_jsonable",
    "from_jsonable",
]


class RuleFileError(ValueError):
    """A rule file (a saved decider) that cannot be loaded, with the field or problem named.

    Every failure of :func:`f1opt.load` other than a missing file is this
    exception, a ``ValueError``: a malformed or hostile file, a field of the
    wrong type or out of range, a missing or mismatched weights file.
    """


def register_decider(cls):
    """Class decorator: make ``cls`` loadable by :func:`load` under its name."""
    _REGISTRY[cls.__name__] = cls
    return cls


def register_module(class_name: str, module: str) -> None:
    """Tell :func:`load` which module of the package registers ``class_name``."""
    _CLASS_MODULES[class_name] = module


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Nothing is left half-written: on any error the temporary file is removed
    and ``path`` is untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist"
        )
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else ".tmp", dir=directory
    )
    os.close(fd)
    try:
        yield Path(tmp)
        if Path(tmp).is_file():  # mkstemp makes 0600; give the usual mode of a new file
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _float_to_json(x: float):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def to_jsonable(value):
    """Convert numbers, arrays, tuples and dicts into strict-JSON values."""
    if isinstance(value, np.ndarray):
        data = value.tolist()
        if value.dtype.kind == "f":
            data = _map_nested(data, _float_to_json)
        return {"__ndarray__": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _float_to_json(float(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (int, str)):
        return value
    raise TypeError(f"cannot store a value of type {type(value).__name__} in a decider file")


def _map_nested(data, fn):
    if isinstance(data, list):
        return [_map_nested(d, fn) for d in data]
    return fn(data)


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
# the dtypes ``to_jsonable`` writes (``ndarray.dtype.str`` of numbers and bools)
_ARRAY_DTYPES = frozenset(
    ["<f2", "<f4", "<f8", "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8"]
)
MAX_ARRAY_NDIM = 8


def from_jsonable(value, where: str = "value"):
    """Inverse of :func:`to_jsonable`, checking every array as it is rebuilt.

    Raises
    ------
    RuleFileError
        If an array's dtype is not a number or bool dtype ``to_jsonable``
        writes, its shape is not a list of non-negative integers matching the
        nested data, a value is not of the dtype's kind (bools are not numbers,
        strings other than "inf", "-inf" and "nan" are not floats), or a value
        does not fit the dtype (1000 in int8, 1e300 in float32).
    """
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _array_from_json(value, where)
        return {k: from_jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [
            from_jsonable(v, f"{where}[{i}]") if isinstance(v, (dict, list)) else _scalar(v)
            for i, v in enumerate(value)
        ]
    return _scalar(value)


def _scalar(value):
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    return value


def _array_from_json(value: dict, where: str) -> np.ndarray:
    extra = set(value) - {"__ndarray__", "dtype", "shape"}
    if extra:
        raise RuleFileError(f"field {where!r}: unexpected keys {sorted(extra)} in an array")
    dtype_name = value.get("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in _ARRAY_DTYPES:
        raise RuleFileError(
            f"field {where!r}: unsupported array dtype {dtype_name!r} "
            f"(expected one of {sorted(_ARRAY_DTYPES)})"
        )
    dtype = np.dtype(dtype_name)
    shape = value.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_ARRAY_NDIM
        or not all(_is_int(d) and 0 <= d < 2**31 for d in shape)
    ):
        raise RuleFileError(
            f"field {where!r}: an array's shape must be a list of at most {MAX_ARRAY_NDIM} "
            f"non-negative integers, but got {shape!r}"
        )
    leaves: list = []
    _flatten(value["__ndarray__"] if "__ndarray__" in value else None, shape, 0, leaves, where)
    if dtype.kind == "b":
        if not all(type(v) is bool for v in leaves):
            raise RuleFileError(f"field {where!r}: a bool array must hold true/false only")
        return np.array(leaves, dtype=dtype).reshape(shape)
    if not all(type(v) in (int, float) for v in leaves):
        if dtype.kind != "f" or not all(
            type(v) in (int, float) or (type(v) is str and v in _NONFINITE) for v in leaves
        ):
            raise RuleFileError(
                f"field {where!r}: a {dtype} array must hold numbers only (true/false and "
                'strings other than "inf", "-inf", "nan" are not numbers)'
            )
        leaves = [_NONFINITE[v] if type(v) is str else v for v in leaves]
    if dtype.kind in "iu":
        if not all(type(v) is int for v in leaves):
            raise RuleFileError(f"field {where!r}: a {dtype} array must hold integers only")
        info = np.iinfo(dtype)
        if leaves and (min(leaves) < info.min or max(leaves) > info.max):
            raise RuleFileError(
                f"field {where!r}: values from {min(leaves)} to {max(leaves)} do not fit "
                f"{dtype} ({info.min} to {info.max})"
            )
        return np.array(leaves, dtype=dtype).reshape(shape)
    try:
        as_float = np.array(leaves, dtype=np.float64)
    except OverflowError:
        raise RuleFileError(f"field {where!r}: an integer too large for a float") from None
    with np.errstate(over="ignore"):
        array = as_float.astype(dtype)
    if not np.array_equal(np.isfinite(array), np.isfinite(as_float)):
        raise RuleFileError(f"field {where!r}: values too large for {dtype}")
    return array.reshape(shape)


def _flatten(data, shape, depth, out, where):
    if depth == len(shape):
        if isinstance(data, (list, dict)) or data is None:
            raise RuleFileError(
                f"field {where!r}: the data is nested deeper than the shape {shape}"
            )
        out.append(data)
        return
    if not isinstance(data, list) or len(data) != shape[depth]:
        raise RuleFileError(f"field {where!r}: the data does not match the shape {shape}")
    if depth + 1 == len(shape):
        if any(isinstance(v, (list, dict)) or v is None for v in data):
            raise RuleFileError(
                f"field {where!r}: the data is nested deeper than the shape {shape}"
            )
        out.extend(data)
        return
    for item in data:
        _flatten(item, shape, depth + 1, out, where)


def _is_int(value) -> bool:
    """An integer that is not a bool (JSON ``true`` is not a number)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def save(decider, path) -> Path:
    """Write a fitted decider to ``path`` as versioned JSON (atomically)."""
    path = Path(path)
    name = type(decider).__name__
    if _REGISTRY.get(name) is not type(decider):
        raise TypeError(f"{name} is not a registered f1opt decider and cannot be saved")
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "f1opt_version": _version(),
        "class": name,
        "params": to_jsonable(decider._params_to_json()),
        "fitted": to_jsonable(decider._fitted_to_json(path)),
    }
    names = getattr(decider, "class_names_", None)
    if names is not None:  # a rule fitted on named classes (see _class_names)
        document["class_names"] = _class_names("class_names", list(names), decider)
    text = json.dumps(document, indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def load(path):
    """Read back any decider written by ``save``, checking every field first.

    A rule file may come from a stranger, so nothing in it is trusted: the
    file's size and JSON nesting depth are bounded before it is parsed, and
    every field's type and range, and the agreement of the fields with each
    other, are checked before anything is built from them (a network's sizes
    against its weights file's header, read without loading the tensors).
    Nothing is read through a symbolic link that leaves the rule's folder,
    and a weights file's checksum is computed in chunks.

    Parameters
    ----------
    path : str or path-like
        A JSON file written by a decider's ``save``.

    Returns
    -------
    decider : fitted decider

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    RuleFileError
        (a ``ValueError``) For anything else that stops the file from
        loading: not a regular file, larger than ``MAX_RULE_BYTES``, not UTF-8
        JSON, nested deeper than ``MAX_JSON_DEPTH``, not an f1opt decider, a
        newer format version, an unknown class, a field of the wrong type or
        out of range (a NaN threshold, ``true`` for a number, a negative
        count), fields that disagree, or a missing, mismatched or unreadable
        weights file. The message names the file and the field.
    """
    path = Path(path)
    text = _read_rule_text(path)
    document = parse_json(text, repr(str(path)))
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise RuleFileError(
            f"{str(path)!r} is not an f1opt decider file (no 'format': '{FORMAT_NAME}')"
        )
    version = document.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        raise RuleFileError(
            f"{str(path)!r} has format_version {version!r}; this f1opt reads versions "
            f"1 to {FORMAT_VERSION} (an integer)"
        )
    if not isinstance(document.get("f1opt_version", ""), str):
        raise RuleFileError(f"{str(path)!r}: field 'f1opt_version' must be a string")
    try:
        decider = decider_from_document(document, path)
        if document.get("class_names") is not None:
            decider.class_names_ = _class_names("class_names", document["class_names"], decider)
        return decider
    except RuleFileError as exc:
        raise RuleFileError(f"{str(path)!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a hostile file must end in one exception type
        # safetensors' SafetensorError, torch's RuntimeError, OSError, RecursionError, ...
        raise RuleFileError(f"{str(path)!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc


def decider_from_document(document, path, where: str = "") -> object:
    """Build a decider from ``{"class", "params", "fitted"}`` after checking every field.

    ``params`` and ``fitted`` may still be in their JSON form (arrays as
    ``{"__ndarray__": ...}``) or already converted by :func:`from_jsonable`.
    Used by :func:`load` and for deciders nested in a rule file (a
    Stretcher's ``then_``). Raises :class:`RuleFileError` naming the field.
    """
    if not isinstance(document, dict):
        raise RuleFileError(f"field {where or 'document'!r} must be an object")
    name = document.get("class")
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None and isinstance(name, str) and len(name) < 100:
        _load_optional_registrations(name)
        cls = _REGISTRY.get(name)
    if cls is None:
        shown = name if isinstance(name, str) and len(name) < 100 else type(name).__name__
        raise RuleFileError(f"field {where + 'class'!r} names an unknown decider class {shown!r}")
    params, fitted = document.get("params"), document.get("fitted", {})
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise RuleFileError(
            f"fields {where + 'params'!r} and {where + 'fitted'!r} must be objects ({name})"
        )
    params = from_jsonable(params, where + "params")
    fitted = from_jsonable(fitted, where + "fitted")
    check_params(params, where + "params.")
    if fitted:  # an ExpectedF1 without calibration has nothing fitted
        check_fitted(cls, params, fitted, where + "fitted.")
    try:
        return cls._from_json(params, fitted, path)
    except RuleFileError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, IndexError) as exc:
        raise RuleFileError(f"malformed {name}{' at ' + where if where else ''}: {exc}") from exc


def _fail(field: str, problem: str):
    raise RuleFileError(f"field {field!r} {problem}")


def _real(field, value, low=-math.inf, high=math.inf, *, nan=False, inf=False) -> float:
    if not _is_real(value) and not isinstance(value, np.floating):
        _fail(field, f"must be a number, but is {value!r}")
    value = float(value)
    if math.isnan(value):
        if not nan:
            _fail(field, "must not be NaN")
        return value
    if math.isinf(value) and not inf:
        _fail(field, f"must be finite, but is {value!r}")
    if not low <= value <= high:
        _fail(field, f"must lie in [{low}, {high}], but is {value!r}")
    return value


def _int(field, value, low=0, high=2**31 - 1) -> int:
    if not _is_int(value) and not isinstance(value, np.integer):
        _fail(field, f"must be an integer, but is {value!r}")
    if not low <= int(value) <= high:
        _fail(field, f"must be an integer in [{low}, {high}], but is {value!r}")
    return int(value)


def _optional_int(field, value, low=0, high=2**31 - 1):
    return None if value is None else _int(field, value, low, high)


def _string(field, value, choices=None, *, optional=False):
    if value is None and optional:
        return value
    if not isinstance(value, str) or len(value) > 200:
        _fail(field, f"must be a string, but is {_short(value)}")
    if choices is not None and value not in choices:
        _fail(field, f"must be one of {choices}, but is {value!r}")
    return value


def _bool(field, value):
    if not isinstance(value, bool):
        _fail(field, f"must be true or false, but is {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive(field, value) -> float:
    value = _real(field, value, 0.0)
    if value <= 0:
        _fail(field, f"must be > 0, but is {value!r}")
    return value


def _zero_division(field, value):
    if value == "warn" and isinstance(value, str):
        return value
    return _real(field, value, 0.0, 1.0)


def _float_array(field, value, *, ndim=1, nonempty=True, posinf=True, neginf=True, low=None):
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu" or value.ndim != ndim:
        _fail(field, f"must be a {ndim}-D numeric array")
    if nonempty and value.size == 0:
        _fail(field, "must not be empty")
    value = value.astype(np.float64)
    if np.isnan(value).any():
        _fail(field, "must not hold NaN")
    if not posinf and np.isposinf(value).any():
        _fail(field, "must not hold +inf")
    if not neginf and np.isneginf(value).any():
        _fail(field, "must not hold -inf")
    if low is not None and (value < low).any():
        _fail(field, f"must be >= {low}")
    return value


def _history(field, value):
    if not isinstance(value, dict):
        _fail(field, "must be an object of lists")
    for key, series in value.items():
        if not isinstance(series, list) or not all(
            _is_real(v) or isinstance(v, float) for v in series
        ):
            _fail(f"{field}.{key}", "must be a list of numbers")
    return value


def _thresholds_array(field, value):
    return _float_array(field, value)  # +-inf mean nothing / everything; NaN is refused


# Generic checks of the parameters and fitted attributes of every registered decider,
# keyed by name. Checks that need the class (which averages, shapes that must agree) are
# in ``check_fitted`` and in each class's ``_check_loaded``.
_PARAM_CHECKS = {
    "beta": lambda f, v: _positive(f, v),
    "zero_division": _zero_division,
    "average": lambda f, v: _string(f, v, AVERAGES_ALL, optional=True),
    "max_iter": lambda f, v: _int(f, v, 1, 10**6),
    "n_restarts": lambda f, v: _int(f, v, 0, 10**4),
    "random_state": lambda f, v: _optional_int(f, v, 0, 2**32 - 1),
    "hidden": lambda f, v: _int(f, v, 1, 2**24),
    "epochs": lambda f, v: _int(f, v, 1, 10**7),
    "batch_size": lambda f, v: _int(f, v, 1, 2**31 - 1),
    "patience": lambda f, v: _int(f, v, 1, 10**7),
    "n_threads": lambda f, v: _optional_int(f, v, 1, 4096),
    "learning_rate": lambda f, v: _real(f, v),
    "tol": lambda f, v: _real(f, v),
    "validation_fraction": lambda f, v: _real(f, v),
    "activation": lambda f, v: _string(f, v, optional=True),
    "loss": lambda f, v: _string(f, v),
    "device": lambda f, v: _string(f, v),
    "calibration": lambda f, v: _string(f, v, optional=True),
    "verbose": _bool,
    "early_stopping": _bool,
    "standardize": _bool,
    "multiclass": _bool,
    "threshold": lambda f, v: _real(f, v),
}

_FITTED_CHECKS = {
    "threshold_": lambda f, v: _real(f, v, inf=True),
    "thresholds_": _thresholds_array,
    "best_score_": lambda f, v: _real(f, v, 0.0, 1.0),
    "average_": lambda f, v: _string(f, v, AVERAGES_ALL),
    "n_labels_": lambda f, v: _int(f, v, 0),
    "n_iter_": lambda f, v: _int(f, v, 0),
    "n_classes_": lambda f, v: _int(f, v, 2),
    "weights_": lambda f, v: _float_array(f, v, posinf=False, neginf=False, low=0.0),
    "offsets_": lambda f, v: _float_array(f, v, posinf=False),
    "n_features_in_": lambda f, v: _int(f, v, 1),
    "n_epochs_": lambda f, v: _int(f, v, 0),
    "best_epoch_": lambda f, v: _int(f, v, 0),
    "history_": _history,
}

AVERAGES_ALL = ("binary", "micro", "macro", "weighted", "samples")


def check_params(params: dict, where: str = "params.") -> None:
    """Check the type and range of every known parameter (in place; raises RuleFileError)."""
    for key, value in params.items():
        if not isinstance(key, str):
            _fail(where + str(key), "is not a parameter name")
        check = _PARAM_CHECKS.get(key)
        if check is not None:
            params[key] = check(where + key, value) if value is not None else value
            if value is None and key not in (
                "average",
                "random_state",
                "n_threads",
                "activation",
                "calibration",
            ):
                _fail(where + key, "must not be null")


def check_fitted(cls, params: dict, fitted: dict, where: str = "fitted.") -> None:
    """Check every fitted attribute ``cls`` saves, and the ones that must agree.

    Converts the checked values in place (numbers to ``float``/``int``,
    arrays to float64). Raises :class:`RuleFileError` naming the field.
    """
    names = cls._fitted_attributes
    missing = [name for name in names if name not in fitted]
    if missing:
        raise RuleFileError(f"missing fitted attributes {missing} ({cls.__name__})")
    for name in names:
        check = _FITTED_CHECKS.get(name)
        if name == "threshold_" and params.get("multiclass") is True:
            # DefaultDecision for multiclass scores: the argmax, no threshold (NaN)
            check = lambda f, v: _real(f, v, nan=True, inf=True)  # noqa: E731
        if check is not None:
            fitted[name] = check(where + name, fitted[name])
    average = params.get("average")
    average_ = fitted.get("average_")
    if "average_" in names and average is not None and average_ != average:
        _fail(where + "average_", f"is {average_!r} but the parameter average is {average!r}")
    if cls.__name__ == "GlobalThreshold":
        # binary iff 1-D scores (no label columns)
        if (fitted["n_labels_"] == 0) != (average_ == "binary"):
            _fail(
                where + "average_",
                f"is {average_!r} with n_labels_ = {fitted['n_labels_']} (binary iff 0)",
            )
        if average is None and average_ not in ("binary", "micro"):
            _fail(where + "average_", f"is {average_!r} but average=None means binary or micro")
    if "thresholds_" in names and average_ not in ("micro", "macro", "weighted"):
        _fail(where + "average_", f"must be micro, macro or weighted, but is {average_!r}")
    if "n_classes_" in names:
        shape = (fitted["n_classes_"],)
        for name in ("weights_", "offsets_"):
            if name in fitted and fitted[name].shape != shape:
                _fail(where + name, f"must have shape {shape}, but has {fitted[name].shape}")
    if "best_epoch_" in names and fitted["best_epoch_"] > fitted["n_epochs_"]:
        _fail(where + "best_epoch_", "is larger than n_epochs_")


def parse_json(text: str, what: str = "the file", max_depth: int | None = None):
    """Strict JSON with bounded nesting: no NaN/Infinity literals, no duplicate keys.

    The nesting depth is measured on the text before parsing (outside
    strings), so deep input never reaches the recursive parser.
    """
    max_depth = MAX_JSON_DEPTH if max_depth is None else max_depth
    depth = json_depth(text)
    if depth > max_depth:
        raise RuleFileError(f"{what} is nested {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except RuleFileError as exc:
        raise RuleFileError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RuleFileError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5000 digits
        raise RuleFileError(f"{what} is not valid JSON ({exc})") from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``text``, outside JSON strings."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    codes = np.frombuffer(brackets, dtype=np.uint8)
    deepest, level = 0, 0
    for start in range(0, codes.size, 1 << 20):  # bounded memory for any input
        chunk = codes[start : start + (1 << 20)]
        steps = np.where((chunk == ord("[")) | (chunk == ord("{")), 1, -1).astype(np.int64)
        levels = level + np.cumsum(steps)
        deepest = max(deepest, int(levels.max()))
        level = int(levels[-1])
    return deepest


def _refuse_constant(name):
    raise RuleFileError(f'the literal {name} is not strict JSON (write the string "nan")')


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise RuleFileError(f"the number {text[:40]} is too large for a float")
    return value


def _unique_keys(pairs):
    document = {}
    for key, value in pairs:
        if key in document:
            raise RuleFileError(f"the key {key[:60]!r} appears twice in one object")
        document[key] = value
    return document


def _read_rule_text(path: Path) -> str:
    """The rule file's text, refusing what is not a regular UTF-8 file of bounded size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # a 5000-character name, a NUL byte, ...
        raise RuleFileError(f"cannot read the rule file: {_os_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise RuleFileError(f"{str(path)!r} is a directory, not an f1opt decider file")
    if not stat.S_ISREG(info.st_mode):
        raise RuleFileError(f"{str(path)!r} is not a regular file")
    if info.st_size > MAX_RULE_BYTES:
        raise RuleFileError(
            f"{str(path)!r} is {info.st_size} bytes; a rule file is at most {MAX_RULE_BYTES}"
        )
    try:
        with open(path, "rb") as handle:
            # read what stat promised (plus one byte, to see a file that grew): never
            # allocate for the bound itself
            data = handle.read(info.st_size + 1)
    except OSError as exc:
        raise RuleFileError(f"cannot read {str(path)!r}: {_os_reason(exc)}") from None
    if len(data) > MAX_RULE_BYTES or len(data) > info.st_size:
        raise RuleFileError(f"{str(path)!r} changed while it was read (or is not a plain file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleFileError(
            f"{str(path)!r} is not an f1opt decider file (not UTF-8 text)"
        ) from None


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)[:200]


def file_beside(path, name, field: str, max_bytes: int) -> Path:
    """The file ``name`` in the folder of the rule file ``path``, checked before reading.

    ``name`` must be a plain file name (no folder, at most 255 bytes); the
    file must be a regular file of at most ``max_bytes`` bytes, and a
    symbolic link must point to a file in the same folder.
    """
    path = Path(path)
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
    ):
        _fail(field, f"must be a plain file name beside the rule file, but is {_short(name)}")
    candidate = path.parent / name
    try:
        folder = path.parent.resolve(strict=True)
        info = os.lstat(candidate)
        if stat.S_ISLNK(info.st_mode):
            target = candidate.resolve(strict=True)
            if target.parent != folder:
                _fail(field, f"{name!r} is a symbolic link that leaves the rule's folder")
            info = os.stat(target)
    except FileNotFoundError:
        raise RuleFileError(f"the file {str(candidate)!r} named by {field!r} is missing") from None
    except (OSError, RuntimeError) as exc:  # symlink loops, names too long
        raise RuleFileError(f"cannot read {name!r} ({field}): {_os_reason(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        _fail(field, f"names {name!r}, which is not a regular file")
    if info.st_size > max_bytes:
        _fail(field, f"names {name!r} of {info.st_size} bytes (at most {max_bytes})")
    return candidate


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (bounded memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_optional_registrations(name: str | None = None):
    """Import the module that registers the class ``name`` (see :func:`register_module`).

    A file naming a class imports only that class's module (an unknown name
    imports nothing, so nothing that needs torch).
    """
    import importlib

    module = _CLASS_MODULES.get(name)
    if module is not None:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"{__package__}.{module}")


def _version() -> str:
    from ._version import __version__

    return __version__


MAX_CLASS_NAME_CHARS = 1000


def _n_classes(decider) -> int | None:
    """The number of classes of a multiclass rule (None for other rules)."""
    if hasattr(decider, "n_classes_"):
        return int(decider.n_classes_)
    if getattr(decider, "multiclass", False) is True and hasattr(decider, "n_labels_"):
        return int(decider.n_labels_)
    return None


def _class_names(field: str, value, decider) -> list[str]:
    """The optional ``class_names`` of a multiclass or binary rule file, checked.

    One distinct, non-empty string (at most ``MAX_CLASS_NAME_CHARS``) per
    class of the rule, in the order of its score columns (for a binary rule:
    the negative class, then the positive one); the class id ``k`` it predicts
    stands for ``class_names[k]``. Raises RuleFileError.
    """
    n = _n_classes(decider)
    if n is None and getattr(decider, "n_labels_", None) == 0:  # a binary rule
        n = 2
    if n is None:
        _fail(field, f"is only for multiclass and binary rules, not {type(decider).__name__}")
    if not isinstance(value, list) or len(value) != n:
        size = len(value) if isinstance(value, list) else type(value).__name__
        _fail(field, f"must be a list of {n} strings (one per class), but is {size}")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CLASS_NAME_CHARS:
            _fail(
                f"{field}[{i}]",
                f"must be a non-empty string of at most {MAX_CLASS_NAME_CHARS} characters",
            )
    if len(set(value)) != n:
        _fail(field, "holds the same name twice")
    return list(value)
