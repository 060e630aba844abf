"""Collection rules for the whole repository (doctests included)."""

import importlib.util

# the torch parts are an optional extra: without torch their doctests cannot import
collect_ignore = (
    [] if importlib.util.find_spec("torch") else ["src/f1opt/stretch.py", "src/f1opt/losses.py"]
)
