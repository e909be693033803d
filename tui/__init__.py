"""Front ends: the Textual app and the ``ftstudio`` CLI."""
import os as _os
import signal as _signal
import sys as _sys


def _interrupted_at_startup(signum, frame):  # noqa: ARG001 - signal handler signature
    # Ctrl-C before main() takes over (imports, parser set-up): the contract's line and 130, no traceback.
    _os.write(2, b"error: Interrupted.\n")
    _os._exit(130)


# Installed here, the first module of ours the entry point imports, and only when this process *is* the
# CLI (importing tui in a test keeps its Ctrl-C). Only the interpreter's own start-up comes before it.
if _os.path.basename(_sys.argv[0]).startswith("ftstudio") or _sys.argv[0].endswith(_os.path.join("tui", "__main__.py")):
    _signal.signal(_signal.SIGINT, _interrupted_at_startup)
