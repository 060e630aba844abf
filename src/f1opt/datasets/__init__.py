"""Data generators and small bundled data sets."""

from ._toy import make_stretcher_toy

__all__ = ["make_stretcher_toy"]
