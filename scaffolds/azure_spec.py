"""Moved to core.azure_facts (the core layer); this alias goes once every import says so."""
import sys as _sys

import core.azure_facts as _moved

_sys.modules[__name__] = _moved
