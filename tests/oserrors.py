"""Real OS errors for tests, without mocks."""
from __future__ import annotations

import contextlib
import signal

import pytest


@contextlib.contextmanager
def disk_full_after(limit: int):
    """Writes past ``limit`` bytes of a file fail as on a full disk (EFBIG from RLIMIT_FSIZE, this
    process only): a real OS error in the middle of a download."""
    resource = pytest.importorskip("resource")
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
