"""What the job and app log readers share: lines in one shape from the stream and from Log
Analytics (redacted), the dedupe across both, and Log Analytics filling what the stream missed."""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

from core.errors import InputError, OperationFailed
from core.events import LogLine, StreamState
from core.models import Execution
from infra.azure.logs.history import event_text, iso, query, second
from infra.azure.logs.follow import follow_live
from infra.azure.logs.stream import Source, interrupt
from infra.azure.secrets import target
from infra.logstream import MAX_TAIL, Deduper, Pace, Record, env_scale, parse_record, parse_timestamp
from infra.redact import Redactor

# The service's greeting on every new connection: not a log line (it would defeat the dedupe).
_BANNER = re.compile(r"^(Connecting to the container '.*'\.\.\.|Successfully Connected to container: .*"
                     r"|Connecting to the events collector\.\.\.|Successfully connected to events server.*)\s*$", re.I)


class Reader:
    def __init__(self, backend, inference: bool, system: bool):
        self.backend = backend
        self.t = target(backend, inference)
        self.system = system
        self.stream = "system" if system else "console"
        self.scale = env_scale()
        self.redactor = Redactor()
        self.deduper = Deduper()
        self.ended: Optional[Execution] = None
        self.complete = False
        self.pace = Pace()
        self.aborted = threading.Event()
        self.resp = None  # the open stream response, closed by abort() from another thread

    def interrupt(self) -> None:
        """After ``aborted`` is set: wake the read blocked on the open response (any thread)."""
        resp = self.resp
        if resp is not None:
            interrupt(resp)

    @property
    def client(self):
        return self.backend.session.appcontainers

    # hooks --------------------------------------------------------------------------------------------
    def source(self) -> Optional[Source]:
        raise NotImplementedError

    def finished(self) -> Optional[Execution]:
        return None

    def kql(self) -> str:
        raise NotImplementedError

    def wants_event(self, event: dict) -> bool:
        return True

    def before_first_connect(self) -> Iterator[object]:
        return iter(())

    # lines ----------------------------------------------------------------------------------------------
    def line(self, timestamp, text: str, source: str) -> LogLine:
        return LogLine(self.redactor(text), iso(timestamp), self.stream, source)

    def parse(self, raw) -> Optional[Record]:
        if not self.system:
            rec = parse_record(raw)
            return None if rec is None or _BANNER.match(rec.text) else rec
        if isinstance(raw, (bytes, bytearray)):
            raw = bytes(raw).decode("utf-8", errors="replace")
        try:
            event = json.loads(raw)
        except ValueError:
            rec = parse_record(raw)
            return None if rec is None or _BANNER.match(rec.text) else rec
        if not isinstance(event, dict) or not self.wants_event(event):
            return None
        text = event_text(event.get("Reason") or "", event.get("Msg") or event.get("Log") or "")
        return Record(second(event.get("TimeStamp")), text) if text else None

    def row(self, row: dict) -> tuple:
        """A Log Analytics row → (timestamp, text, source), keyed like the live stream's lines."""
        if self.system:
            return (second(row.get("TimeGenerated")),
                    event_text(row.get("Reason_s") or "", row.get("Log_s") or ""),
                    row.get("ReplicaName_s") or row.get("RevisionName_s") or self.t.name)
        return (row.get("TimeGenerated"), (row.get("Log_s") or "").rstrip("\r\n"),
                row.get("ContainerGroupName_s") or self.t.name)

    def history(self, timespan) -> list[tuple]:
        return [self.row(r) for r in query(self.backend, self.t, self.kql(), timespan)]

    def show_history(self, timespan) -> Iterator[LogLine]:
        """History rows not shown yet, as lines."""
        for ts, text, label in self.history(timespan):
            if self.deduper.accept(ts, text):
                yield self.line(ts, text, label)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.aborted.wait(seconds)  # an abort wakes a back-off at once

    def follow_live(self, *, follow: bool, waiting_detail: str) -> Iterator[object]:
        return follow_live(self, follow=follow, waiting_detail=waiting_detail)

    # Log Analytics filling what the stream missed ------------------------------------------------------
    def catch_up(self, label: str) -> Iterator[LogLine]:
        """What Log Analytics has of this replica after the last shown line (the dedupe drops the
        overlap); the stream then only needs a short tail from there."""
        lo = parse_timestamp(self.deduper.last_ts) if self.deduper.last_ts else None
        if lo is None:
            return
        try:
            rows = self.history((lo - timedelta(seconds=1), datetime.now(timezone.utc) + timedelta(minutes=5)))
        except (OperationFailed, InputError):
            return
        self.deduper.reconnected()
        for ts, text, source in rows:
            if source == label and self.deduper.accept(ts, text):
                self.pace.arrived(None)
                yield self.line(ts, text, source)
        self.deduper.gap = None  # rows newer than the last line but not after it: nothing to fill from

    def fill_gap(self) -> Iterator[object]:
        after, before = self.deduper.gap
        lo = parse_timestamp(after) if isinstance(after, str) else None
        hi = parse_timestamp(before) if isinstance(before, str) else None
        rows: list = []
        if lo and hi:
            try:
                rows = [(ts, text) for ts, text, _ in self.history((lo - timedelta(seconds=1), hi + timedelta(seconds=1)))]
            except (OperationFailed, InputError):
                rows = []
        missing = self.deduper.fill_gap(rows)
        for ts, text in missing:
            yield self.line(ts, text, "log-analytics")
        yield StreamState("gap", detail=(
            f"more than {MAX_TAIL} lines were written while the stream was reconnecting; "
            + (f"{len(missing)} of them came from Log Analytics" if missing else
               f"lines between {after} and {before} may be missing until Log Analytics has them "
               "(see `ftstudio logs --no-follow` later)")))


def ended_state(ex: Execution) -> StreamState:
    detail = f"execution {ex.name} {ex.status.lower()}"
    if ex.exit_code is not None:
        detail += f" (exit code {ex.exit_code})"
    if ex.reason and ex.status != "Succeeded" and ex.reason.lower() != ex.status.lower():
        detail += f": {ex.reason}"
    return StreamState("ended", detail=detail, status=ex.status, exit_code=ex.exit_code)
