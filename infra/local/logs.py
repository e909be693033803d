"""Following a local run's JSON-lines log: queued/running states, every line once, then the end.

Ordering makes it lossless: the supervisor writes the final status only after the last log line, and
the reader reads the status BEFORE reading to the end of the file; so once it has seen a final
status, the lines it then reads are all there is.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from core.events import LogLine, StreamState
from infra.local import supervisor as sv
from infra.logstream import parse_timestamp
from core.models import TERMINAL_STATES

POLL_S = 0.2


class _Tail:
    """Complete lines appended to a file since the last read (a partial last line waits)."""

    def __init__(self, path: Path):
        self.path = path
        self.pos = 0
        self.rest = b""

    def read(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        *lines, self.rest = (self.rest + data).split(b"\n")
        return lines


def follow_run(run_dir: Path, status_of: Callable[[Path], dict], *, follow: bool = True, system: bool = False,
               since: Optional[float] = None, source: str = "",
               aborted: Optional[threading.Event] = None) -> Iterator[object]:
    tail = _Tail(run_dir / (sv.EVENTS if system else sv.LOG))
    cutoff = time.time() - since if since else None
    announced = None
    while True:
        st = status_of(run_dir)
        state = st.get("status") or "Queued"
        if state not in TERMINAL_STATES:
            phase = "queued" if state == "Queued" else "running"
            if phase != announced:
                announced = phase
                yield StreamState(phase, detail=source)
        for raw in tail.read():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            stamp = rec.get("t")
            when = parse_timestamp(stamp) if cutoff is not None else None
            if when is not None and when.timestamp() < cutoff:
                continue
            yield LogLine(text=rec.get("m", ""), timestamp=stamp, stream="system" if system else "console",
                          source=source)
        if state in TERMINAL_STATES:
            detail = f"{source}: {state}" + (f" (exit code {st.get('exit_code')})" if st.get("exit_code") is not None else "")
            if st.get("reason") and state != "Succeeded":
                detail += f": {st['reason']}"
            yield StreamState("ended", detail=detail, status=state, exit_code=st.get("exit_code"))
            return
        if not follow:
            return
        if aborted is None:
            time.sleep(POLL_S)
        elif aborted.wait(POLL_S):  # abort() from another thread ends a quiet follow at once
            return
