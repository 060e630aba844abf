"""Saving and loading deciders as versioned JSON, and atomic file writes.

A saved decider is a JSON object::

    {"format": "f1opt-decider", "format_version": 1, "f1opt_version": "...",
     "class": "PerClassThreshold", "params": {...}, "fitted": {...}}

Arrays are stored as ``{"__ndarray__": [...], "dtype": "float64", "shape": [...]}``
and non-finite floats as the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so the
file is strict JSON. Only classes registered with :func:`register_decider` can
be loaded: a rule file from a stranger never runs code or unpickles anything.
Networks store their weights in a file beside the JSON (safetensors or npz).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "f1opt-decider"
FORMAT_VERSION = 1

_REGISTRY: dict[str, type] = {}

__all__ = ["register_decider", "save", "load", "atomic_path", "to_jsonable", "from_jsonable"]


def register_decider(cls):
    """Class decorator: make ``cls`` loadable by :func:`load` under its name."""
    _REGISTRY[cls.__name__] = cls
    return cls


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


def _json_to_float(x):
    if isinstance(x, str):
        if x in ("inf", "-inf", "nan"):
            return float(x)
        raise ValueError(f"unexpected string {x!r} in a numeric array")
    return x


def from_jsonable(value):
    """Inverse of :func:`to_jsonable`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            dtype = np.dtype(value["dtype"])
            if dtype.kind not in "biuf":
                raise ValueError(f"unsupported array dtype {dtype} in a decider file")
            data = value["__ndarray__"]
            if dtype.kind == "f":
                data = _map_nested(data, _json_to_float)
            array = np.array(data, dtype=dtype)
            return array.reshape(value["shape"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    return value


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
    text = json.dumps(document, indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def load(path):
    """Read back any decider written by ``save``.

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
    ValueError
        If the file is not JSON, not an f1opt decider, from a newer format
        version, or names an unknown class or malformed fields.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not an f1opt decider file (not UTF-8 text)") from None
    except IsADirectoryError:
        raise ValueError(f"{str(path)!r} is a directory, not an f1opt decider file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{str(path)!r} is not an f1opt decider file (no 'format': '{FORMAT_NAME}')"
        )
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ValueError(
            f"{str(path)!r} has format_version {version!r}; this f1opt reads versions "
            f"1 to {FORMAT_VERSION}"
        )
    name = document.get("class")
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        _load_optional_registrations()
        cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{str(path)!r} names an unknown decider class {name!r}")
    params, fitted = document.get("params"), document.get("fitted")
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ValueError(f"{str(path)!r} is malformed: 'params' and 'fitted' must be objects")
    try:
        return cls._from_json(from_jsonable(params), from_jsonable(fitted), path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is a malformed {name} file: {exc}") from None


def _load_optional_registrations():
    """Import the modules of the method table, whose deciders register on import."""
    from .methods import import_decider_modules

    import_decider_modules()


def _version() -> str:
    from . import __version__

    return __version__
