"""``python -m f1opt``: the command line (see :mod:`f1opt.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
