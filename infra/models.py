"""Moved to core.models (the core layer); this alias goes once every import says so."""
import sys as _sys

import core.models as _moved

_sys.modules[__name__] = _moved
