"""Moved to core.errors (the core layer); this alias goes once every import says so."""
import sys as _sys

import core.errors as _moved

_sys.modules[__name__] = _moved
