"""Small real data sets shipped inside the package (see ``data/SOURCES.md``)."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_emotions"]


def load_emotions() -> Bunch:
    """The emotions multilabel data set (593 music clips, 72 features, 6 labels).

    The official MULAN train/test split, bundled with f1opt (about 150 kB).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train`` ndarray of float32 of shape (391, 72), ``Y_train`` ndarray
        of int8 of shape (391, 6), ``X_test`` (202, 72), ``Y_test`` (202, 6),
        ``label_names`` and ``feature_names`` (arrays of str), ``meta`` (dict:
        source, commit, citation, licence).

    References
    ----------
    .. [1] K. Trohidis, G. Tsoumakas, G. Kalliris, I. Vlahavas. "Multilabel
       classification of music into emotions." ISMIR 2008, pp. 325-330.
       Data from github.com/tsoumakas/mulan @ 43f6389095ad.

    Examples
    --------
    >>> from f1opt.datasets import load_emotions
    >>> data = load_emotions()
    >>> data.X_train.shape, data.Y_test.shape
    ((391, 72), (202, 6))
    """
    source = resources.files("f1opt.datasets").joinpath("data", "emotions.npz")
    with resources.as_file(source) as path, np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    return Bunch(**arrays, meta=meta)
