"""Data generators and small bundled data sets."""

from ._bundled import load_emotions
from ._toy import make_stretcher_toy

__all__ = ["load_emotions", "make_stretcher_toy"]
