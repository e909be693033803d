"""Whole follows of a simulated log host, driven by the tail planner (infra/azure/logs/planner.py)
and the real Deduper as follow.py drives them, without I/O or clocks: a log that grows while it
is read, a stream cut every few lines (the replay included), a Log Analytics copy or none yet.
Every line is shown once, in order, and the follow ends with the run."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from infra.azure.logs.planner import (CLEAN, DROPPED, SHORT, Backfill, BackfillDone, CatchUp, CaughtUp, CheckRun,
                                      Connect, Connected, ConnectionEnded, End, Fail, FindSource, NoSource, Paced,
                                      Read, RunChecked, SourceFound, Stop, TailPlanner)
from infra.logstream import MAX_TAIL, Deduper

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def script(n: int) -> list[tuple[str, str]]:
    """(timestamp, text); identical texts on purpose: the dedupe must count, not collapse."""
    return [((T0 + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
             f"step {i}" if i % 5 else ".") for i in range(n)]


class Host:
    """A job's log: ``rate`` lines are printed before we attach and ``rate`` more while the follower
    is away before each reconnect (none before an immediate re-ask). A connection replays the last
    ``tail`` lines, then follows what the job prints, and is cut after ``cut_after`` lines, the
    replay included; it ends cleanly at the end of the log (a snapshot: at what exists). Log
    Analytics has every printed line, or none yet (``analytics=False``)."""

    def __init__(self, lines, *, rate: int, cut_after: int, queued_checks: int = 0, analytics: bool = True):
        self.lines, self.rate, self.cut_after = lines, rate, cut_after
        self.queued_checks, self.analytics, self.follow = queued_checks, analytics, True
        self.written = min(len(lines), rate)
        self.at_once = True  # the next connection comes at once: nothing printed meanwhile
        self.start = 0

    @property
    def ended(self) -> bool:
        return self.written == len(self.lines)

    def rows(self):
        return self.lines[: self.written] if self.analytics else []

    def connect(self, tail: int) -> None:
        if not self.at_once:
            self.written = min(len(self.lines), self.written + self.rate)
        self.start = max(0, self.written - tail)

    def stream(self) -> tuple[list, str]:
        if not self.follow:
            return self.lines[self.start: self.written], CLEAN
        end = min(len(self.lines), self.start + self.cut_after)
        self.written = max(self.written, end)  # printed while we read
        return self.lines[self.start: end], CLEAN if end == len(self.lines) else DROPPED


def follow(host: Host, *, follow_: bool = True, limit: int = 20_000):
    """Drive the planner against ``host`` as follow.py does; (texts shown, states said, last action)."""
    p = TailPlanner(follow=follow_, target_label="job ft-job", waiting_detail="queued", first_wait_s=0.0,
                    max_wait_s=0.0, jitter=0.0)
    host.follow = follow_
    deduper, shown, said = Deduper(), [], []

    def show(ts, text):
        if deduper.accept(ts, text):
            shown.append(text)
            return 1
        return 0

    step = p.start()
    for _ in range(limit):
        said += [s.state for s in step.say]
        if step.new_log:
            deduper = Deduper()
        action = step.then
        if isinstance(action, (End, Stop, Fail)):
            if isinstance(action, End) and not action.complete:  # as JobLogs.after_stream
                deduper.reconnected()
                for ts, text in host.rows():
                    show(ts, text)
            return shown, said, action
        if isinstance(action, CheckRun):
            obs = RunChecked(host.ended)
        elif isinstance(action, FindSource):
            host.queued_checks -= 1
            obs = NoSource() if host.queued_checks >= 0 else SourceFound("r1", "exec-r1")
        elif isinstance(action, Backfill):
            obs = BackfillDone(sum(show(ts, text) for ts, text in host.rows()))
        elif isinstance(action, Connect):
            tail = action.tail
            if isinstance(tail, Paced):  # Pace with a known rate: the lines written meanwhile, + 25 %, + 3
                tail = int(min(MAX_TAIL, max(3, tail.base + host.rate * 1.25 + 3)))
            host.connect(tail)
            obs = Connected(tail)
        elif isinstance(action, Read):
            if action.replay:
                deduper.reconnected(strict=action.strict)
            before = deduper.dropped
            lines, how = host.stream()
            for ts, text in lines:
                if deduper.accept(ts, text):
                    if deduper.gap is not None:
                        shown.extend(text for _, text in deduper.fill_gap(host.rows()))
                        said.append("gap")
                    p.line_shown()
                    shown.append(text)
                elif deduper.no_overlap:
                    how = SHORT
                    break
            host.at_once = how == SHORT  # a short replay is asked again at once
            obs = ConnectionEnded(how, replayed=deduper.dropped - before, elapsed_s=1.0)
        elif isinstance(action, CatchUp):  # as Reader.catch_up
            deduper.reconnected()
            obs = CaughtUp(sum(show(ts, text) for ts, text in host.rows()))
            deduper.gap = None
        else:
            raise AssertionError(action)
        step = p.observe(obs)
    raise AssertionError(f"no end after {limit} steps: {said[-10:]}")


def test_a_stream_cut_every_three_lines_catches_up_from_log_analytics_and_loses_nothing():
    lines = script(200)
    host = Host(lines, rate=2, cut_after=3, queued_checks=2)
    shown, said, last = follow(host)
    assert shown == [text for _, text in lines]
    assert isinstance(last, End)
    assert said.count("queued") == 1 and said.index("queued") < said.index("running")
    assert said.count("reconnecting") >= 10 and "gap" not in said


def test_a_stream_cut_every_25_lines_is_rebuilt_from_the_stream_alone():
    lines = script(300)
    host = Host(lines, rate=10, cut_after=25, analytics=False)
    shown, said, last = follow(host)
    assert shown == [text for _, text in lines]
    assert last == End(complete=True) and said.count("reconnecting") >= 10 and "gap" not in said


@pytest.mark.parametrize("rate,cut_after", [(1, 3), (3, 4), (7, 5), (40, 60), (120, 500)])
def test_no_line_is_lost_or_shown_twice_whatever_the_pace_and_the_cuts(rate, cut_after):
    lines = script(400)
    shown, _, last = follow(Host(lines, rate=rate, cut_after=cut_after))
    assert shown == [text for _, text in lines] and isinstance(last, End)


def test_a_gap_wider_than_the_tail_is_filled_from_log_analytics():
    lines = script(2000)
    host = Host(lines, rate=400, cut_after=150)  # 400 lines written per reconnect: more than 300 replay
    shown, said, _ = follow(host)
    assert shown == [text for _, text in lines] and "gap" in said


def test_a_snapshot_of_a_running_job_shows_what_exists_and_stops():
    lines = script(100)
    host = Host(lines, rate=40, cut_after=1000)
    shown, said, last = follow(host, follow_=False)
    assert shown == [text for _, text in lines[:40]] and last == Stop("snapshot taken") and "ended" not in said
