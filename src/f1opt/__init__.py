"""f1opt: the decisions that maximise F1 (or F-beta), exactly where possible.

``import f1opt`` needs only numpy, scipy and scikit-learn; the parts in other
modules (``ExpectedF1``, ``ClassWeights``, ``F1OptimalClassifier``, and the
torch parts ``Stretcher`` and ``f1opt.losses``) are imported on first use.
"""

from importlib import import_module

from ._io import RuleFileError, load
from ._version import __version__
from .deciders import GlobalThreshold, PerClassThreshold
from .methods import METHOD_NAMES, METHODS, DefaultDecision
from .metrics import fbeta_score
from .thresholds import ThresholdResult, fbeta_curve, optimal_threshold

# every decider class of the method table, imported from its module on first use
_LAZY = {m.class_name: m.module for m in METHODS.values() if m.class_name not in globals()}
_LAZY.update(
    {
        "expected_fbeta": "expected",
        "F1OptimalClassifier": "estimator",
        "MetaCost": "metacost",
        "Comparison": "compare",
    }
)

__all__ = [
    "ClassWeights",
    "Comparison",
    "DefaultDecision",
    "ExpectedF1",
    "F1OptimalClassifier",
    "GlobalThreshold",
    "METHOD_NAMES",
    "METHODS",
    "MetaCost",
    "PerClassThreshold",
    "RuleFileError",
    "Stretcher",
    "ThresholdResult",
    "expected_fbeta",
    "fbeta_curve",
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
