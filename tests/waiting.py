"""Waiting in tests for what happens on other threads (the fake's simulators, log readers)."""
from __future__ import annotations

import threading
import time


def wait_for(pred, timeout: float = 5.0, step: float = 0.01, what=None):
    """The first truthy value of ``pred()``, polled every `step` seconds; AssertionError after
    `timeout` seconds, with ``what()`` (when given) as its message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(what() if what else "condition not reached")


def read_in_background(stream) -> tuple[list, threading.Event]:
    """Iterate `stream` on a daemon thread: (the items so far, growing as they come; set when the
    iteration has ended)."""
    seen, done = [], threading.Event()

    def consume():
        for item in stream:
            seen.append(item)
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    return seen, done
