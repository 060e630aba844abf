"""f1opt: the decisions that maximise F1 (or F-beta), exactly where possible.

``import f1opt`` needs only numpy, scipy and scikit-learn; the torch parts
(``Stretcher``, ``f1opt.losses``) are imported on first use.
"""

from ._io import load
from .deciders import GlobalThreshold, PerClassThreshold
from .metrics import fbeta_score
from .thresholds import ThresholdResult, optimal_threshold

__version__ = "0.1.0"

__all__ = [
    "GlobalThreshold",
    "PerClassThreshold",
    "ThresholdResult",
    "fbeta_score",
    "load",
    "optimal_threshold",
    "__version__",
]
