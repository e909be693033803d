"""The end-of-session check sees a server this session started and left running."""
from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import _leftovers


def test_a_leaked_server_of_this_session_is_found():
    # argv mentions inference/app.py the way a real server's does; the marker comes from os.environ
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "inference/app.py"])
    try:
        deadline = time.monotonic() + 5
        while proc.pid not in _leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "inference/app.py" in _leftovers()[proc.pid]
    finally:
        proc.kill()
        proc.wait(5)
    assert proc.pid not in _leftovers()
