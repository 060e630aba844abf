"""Progress bars that stay out of logs.

One function, :func:`progress_bar`, makes every bar f1opt shows (the command
line's cross-validation, the Stretcher's epochs, the estimator's folds). A bar
is drawn only on a terminal: with ``enabled=None`` it follows tqdm's
``disable=None``, which turns it off when the stream is not a TTY, so a log
file or a pipe gets no carriage returns and no cursor codes. ``enabled=False``
(``--quiet``, ``verbose=False``) turns it off everywhere. Without tqdm the bar
is a silent stand-in with the same methods.
"""

from __future__ import annotations

import sys

__all__ = ["progress_bar"]


class _NoBar:
    """What a bar offers, doing nothing (no tqdm, or a bar turned off)."""

    disable = True
    n = 0

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s="", refresh=True):
        pass

    def set_description(self, desc=None, refresh=True):
        pass

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        pass

    def write(self, s, file=None, end="\n"):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def progress_bar(total=None, *, desc=None, enabled=None, unit="it", leave=False, file=None):
    """A tqdm bar on stderr, drawn only where someone watches.

    Parameters
    ----------
    total : int, optional
        Number of steps.
    desc : str, optional
        Text before the bar.
    enabled : bool or None, default=None
        None: drawn only when ``file`` is a terminal (tqdm's ``disable=None``).
        False: never drawn (``--quiet``, ``verbose=False``). True: always
        drawn, even into a file.
    unit : str, default="it"
        Name of a step ("fold", "epoch").
    leave : bool, default=False
        Keep the finished bar on screen.
    file : file-like, optional
        Default ``sys.stderr`` (looked up at call time, so captured streams work).

    Returns
    -------
    bar : tqdm.tqdm or a silent stand-in
        A context manager with ``update``, ``set_postfix_str``,
        ``set_description`` and ``close``.

    Examples
    --------
    >>> with progress_bar(3, desc="folds", enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.update(1)
    """
    if enabled is False:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr if file is None else file,
        disable=None if enabled is None else False,
        dynamic_ncols=True,
    )
