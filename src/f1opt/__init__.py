"""f1opt: the decisions that maximise F1 (or F-beta), exactly where possible.

``import f1opt`` needs only numpy, scipy and scikit-learn; the parts in other
modules (``ExpectedF1``, ``ClassWeights``, ``F1OptimalClassifier``, and the
torch parts ``Stretcher`` and ``f1opt.losses``) are imported on first use.
"""

from importlib import import_module

from ._io import load
from .deciders import GlobalThreshold, PerClassThreshold
from .metrics import fbeta_score
from .thresholds import ThresholdResult, optimal_threshold

__version__ = "0.1.0"

_LAZY = {
    "ExpectedF1": "expected",
    "expected_fbeta": "expected",
    "fbeta_curve": "thresholds",
    "ClassWeights": "weights",
    "F1OptimalClassifier": "estimator",
    "MetaCost": "metacost",
    "Stretcher": "stretch",
}

__all__ = [
    "ClassWeights",
    "ExpectedF1",
    "F1OptimalClassifier",
    "GlobalThreshold",
    "MetaCost",
    "PerClassThreshold",
    "Stretcher",
    "ThresholdResult",
    "expected_fbeta",
    "fbeta_score",
    "load",
    "optimal_threshold",
    "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
