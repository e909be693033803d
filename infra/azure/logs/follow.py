"""The follow loop: carries out the tail planner's steps (planner.py) against the log-stream host.

Everything with I/O or a clock is here: checking the run, finding the replica's stream, opening and
reading a connection (the dedupe drops a replay, ``Pace`` sizes paced tails and learns the write
rate), Log Analytics backfill and catch-up. What to do next is always the planner's answer.
"""
from __future__ import annotations

import time
from typing import Iterator, Optional

from core.errors import OperationFailed
from core.events import LogLine
from infra.azure.logs.planner import (DROPPED, IDLE, RUN_ENDED, SHORT, CLEAN, Backfill, BackfillDone, CatchUp,
                                      CaughtUp, CheckRun, Connect, ConnectFailed, Connected, ConnectionEnded, End,
                                      Fail, FindSource, NoSource, Paced, Read, RunChecked, SourceFound, SourceRefused,
                                      Stop, TailPlanner)
from infra.azure.logs.stream import Source, Unavailable, is_read_timeout, open_stream, stream_errors
from infra.logstream import MAX_TAIL, Deduper, micros

# A quiet console stream is re-opened after this long (harmless: the dedupe drops the replay).
IDLE_READ_TIMEOUT = 60.0
# An event stream outlives the execution; this often we look whether the execution ended.
SYSTEM_READ_TIMEOUT = 10.0


def follow_live(reader, *, follow: bool, waiting_detail: str) -> Iterator[object]:
    """Stream until the job's execution ends, forever (app, follow) or once (snapshot).

    Sets ``reader.ended`` (the finished Execution, or None) and ``reader.complete`` (the last
    connection ended cleanly, so nothing after the last line is missing)."""
    plan = TailPlanner(follow=follow, target_label=reader.t.label, waiting_detail=waiting_detail,
                       lines_shown=reader.deduper.shown, first_wait_s=0.5 * reader.scale,
                       max_wait_s=10.0 * reader.scale)
    follower = _Follower(reader, plan, follow)
    reader.complete = False
    step = plan.start()
    try:
        while not reader.aborted.is_set():
            if step.new_log:
                reader.deduper = Deduper()
            yield from step.say
            if step.wait_s > 0:
                reader.sleep(step.wait_s)  # an abort wakes it at once
                if reader.aborted.is_set():
                    return
            action = step.then
            if isinstance(action, End):
                reader.ended, reader.complete = follower.run, action.complete
                return
            if isinstance(action, Stop):
                return
            if isinstance(action, Fail):
                raise OperationFailed(action.message)
            observation = yield from follower.perform(action)
            if reader.aborted.is_set():
                return
            step = plan.observe(observation)
    finally:
        follower.close()


class _Follower:
    """Does one planner action at a time and reports what happened."""

    def __init__(self, reader, plan: TailPlanner, follow: bool):
        self.reader, self.plan, self.follow = reader, plan, follow
        self.read_timeout = max((SYSTEM_READ_TIMEOUT if reader.system else IDLE_READ_TIMEOUT) * reader.scale, 0.2)
        self.run = None  # the finished Execution, from the last check
        self.source: Optional[Source] = None
        self.tail = MAX_TAIL
        self.learn_from: Optional[float] = None  # a paced tail's time away: Pace learns from its replay
        self.dropped_before, self.connected_at = 0, 0.0

    def perform(self, action):
        if isinstance(action, CheckRun):
            self.run = self.reader.finished()
            return RunChecked(self.run is not None)
        if isinstance(action, FindSource):
            return self.find_source()
        if isinstance(action, Backfill):
            return BackfillDone((yield from _count_lines(self.reader.before_first_connect())))
        if isinstance(action, Connect):
            return self.connect(action.tail)
        if isinstance(action, Read):
            return (yield from self.read(action))
        if isinstance(action, CatchUp):
            return CaughtUp((yield from _count_lines(self.reader.catch_up(self.source.label))))
        raise TypeError(f"unknown action {action!r}")

    def find_source(self):
        try:
            self.source = self.reader.source()
        except Unavailable:
            self.source = None
            return SourceRefused()
        return NoSource() if self.source is None else SourceFound(self.source.identity, self.source.label)

    def connect(self, tail):
        reader = self.reader
        self.learn_from = None
        if isinstance(tail, Paced):
            away = reader.pace.away() if tail.away_s is None else tail.away_s
            if tail.away_s is None:
                self.learn_from = away
            tail = reader.pace.tail(away, base=tail.base)
        self.tail = tail
        self.dropped_before, self.connected_at = reader.deduper.dropped, time.monotonic()
        try:
            reader.resp = open_stream(reader.backend, self.source, follow=self.follow, tail=tail,
                                      read_timeout=self.read_timeout)
        except (Unavailable, *stream_errors()) as exc:
            return ConnectFailed(f"HTTP {exc.status}" if isinstance(exc, Unavailable) else type(exc).__name__)
        return Connected(tail)

    def read(self, action: Read):
        reader, deduper, resp = self.reader, self.reader.deduper, self.reader.resp
        if action.replay:
            deduper.reconnected(strict=action.strict)
        how, first = DROPPED, True
        next_check = time.monotonic() + self.read_timeout
        try:
            for raw in resp.iter_lines(chunk_size=65536):
                if reader.system and self.follow and time.monotonic() > next_check:
                    next_check = time.monotonic() + self.read_timeout
                    done = reader.finished()  # an event stream outlives the execution: end with it
                    if done is not None:
                        self.run, how = done, RUN_ENDED
                        break
                rec = reader.parse(raw)
                if rec is None or not deduper.accept(rec.timestamp, rec.text):
                    if deduper.no_overlap:  # the short tail did not reach the last line shown
                        how = SHORT
                        break
                    continue
                if deduper.gap is not None:
                    yield from reader.fill_gap()
                if first and self.learn_from is not None:
                    reader.pace.learned(self.tail, deduper.dropped - self.dropped_before, self.learn_from)
                first = False
                self.plan.line_shown()
                reader.pace.arrived(micros(rec.timestamp))
                yield reader.line(rec.timestamp, rec.text, self.source.label)
            else:
                how = CLEAN
        except Exception as exc:  # noqa: BLE001 - a response closed under a read raises whatever it raises
            if not reader.aborted.is_set():
                if not isinstance(exc, stream_errors()):
                    raise
                how = IDLE if is_read_timeout(exc) else DROPPED
        finally:
            self.close()
        return ConnectionEnded(how, deduper.dropped - self.dropped_before, time.monotonic() - self.connected_at)

    def close(self) -> None:
        resp, self.reader.resp = self.reader.resp, None
        if resp is not None:
            resp.close()


def _count_lines(events) -> Iterator[object]:
    """Yield ``events``; return how many were log lines."""
    lines = 0
    for event in events:
        lines += isinstance(event, LogLine)
        yield event
    return lines
