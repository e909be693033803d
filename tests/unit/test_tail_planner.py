"""The tail planner of Azure log follows (infra/azure/logs/planner.py), without I/O.

Step by step, rule by rule (whole follows of a simulated host are in test_tail_simulation.py);
then the follow loop itself ends at once when a UI aborts it from another thread.
"""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from core.events import StreamState
from infra.azure.logs.planner import (CLEAN, DROPPED, IDLE, MAX_FAILURES, RUN_ENDED, SHORT, Backfill, BackfillDone,
                                      CatchUp, CaughtUp, CheckRun, Connect, ConnectFailed, Connected, ConnectionEnded,
                                      End, Fail, FindSource, NoSource, Paced, Read, RunChecked, SourceFound,
                                      SourceRefused, Stop, TailPlanner)
from infra.logstream import MAX_TAIL, AbortableStream, Deduper
from tests.waiting import read_in_background, wait_for


def planner(follow: bool = True, **kw) -> TailPlanner:
    kw = {"first_wait_s": 0.5, "max_wait_s": 10.0, "jitter": 0.0, **kw}
    return TailPlanner(follow=follow, target_label="job ft-job", waiting_detail="execution x is processing", **kw)


def states(step) -> list[str]:
    return [s.state for s in step.say]


def connected(p: TailPlanner, *, identity: str = "r1", lines: int = 0) -> None:
    """From the start to a first open connection that showed ``lines`` lines."""
    assert p.start().then == CheckRun()
    assert p.observe(RunChecked(False)).then == FindSource()
    step = p.observe(SourceFound(identity, identity))
    if isinstance(step.then, Backfill):
        step = p.observe(BackfillDone(0))
    assert isinstance(step.then, Connect)
    p.observe(Connected(step.then.tail if isinstance(step.then.tail, int) else 20))
    for _ in range(lines):
        p.line_shown()


# -- rule by rule ------------------------------------------------------------------------------------
def test_a_queued_run_is_said_once_then_waited_for_with_growing_back_off():
    p = planner()
    assert p.start().then == CheckRun()
    assert p.observe(RunChecked(False)).then == FindSource()
    first = p.observe(NoSource())
    assert states(first) == ["queued"] and first.say[0].detail == "execution x is processing"
    assert first.then == CheckRun() and first.wait_s == 0.5
    waits = []
    for _ in range(6):
        p.observe(RunChecked(False))
        step = p.observe(NoSource())
        assert not step.say  # queued is said once
        waits.append(step.wait_s)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_no_follow_while_queued_says_so_and_stops():
    p = planner(follow=False)
    p.start(), p.observe(RunChecked(False))
    step = p.observe(NoSource())
    assert states(step) == ["queued"] and isinstance(step.then, Stop)


def test_the_first_connection_announces_the_replica_backfills_and_asks_for_the_whole_tail():
    p = planner()
    p.start(), p.observe(RunChecked(False))
    step = p.observe(SourceFound("exec-1-r0", "exec-1-r0"))
    assert states(step) == ["running"] and step.say[0].detail == "exec-1-r0" and step.then == Backfill()
    assert p.observe(BackfillDone(40)).then == Connect(MAX_TAIL)
    step = p.observe(Connected(MAX_TAIL))
    assert not step.say  # running was said already
    assert step.then == Read(replay=True, strict=False)  # the backfilled lines come again: dedupe them


def test_history_shown_before_following_makes_the_first_connection_a_replay():
    p = planner(follow=False, lines_shown=12)
    p.start(), p.observe(RunChecked(False))
    step = p.observe(SourceFound("r1", "r1"))
    assert step.then == Connect(MAX_TAIL) and not step.say  # a snapshot neither backfills nor says running
    assert p.observe(Connected(MAX_TAIL)).then == Read(replay=True, strict=False)


def test_a_drop_after_new_lines_reconnects_at_once_with_a_paced_tail():
    p = planner()
    connected(p, lines=30)
    step = p.observe(ConnectionEnded(DROPPED, replayed=0, elapsed_s=2.0))
    assert states(step) == ["reconnecting"] and step.wait_s == 0 and step.then == Connect(Paced())
    assert p.observe(Connected(17)).then == Read(replay=True, strict=True)


def test_a_short_replay_is_asked_again_wider():
    p = planner()
    connected(p, lines=30)
    p.observe(ConnectionEnded(DROPPED))
    p.observe(Connected(17))
    assert p.observe(ConnectionEnded(SHORT)).then == Connect(2 * 17 + 10)
    p.observe(Connected(44))
    assert p.observe(ConnectionEnded(SHORT)).then == Connect(98)
    p.observe(Connected(98))
    assert p.observe(ConnectionEnded(SHORT)).then == Connect(206)
    p.observe(Connected(206))
    assert p.observe(ConnectionEnded(SHORT)).then == Connect(MAX_TAIL)  # never more than the host keeps


def test_a_quiet_connection_rechecks_the_run_then_asks_for_a_short_overlap():
    p = planner()
    connected(p, lines=5)
    step = p.observe(ConnectionEnded(IDLE))
    assert step.then == CheckRun() and step.wait_s == 0 and not step.say
    assert p.observe(RunChecked(False)).then == FindSource()
    assert p.observe(SourceFound("r1", "r1")).then == Connect(5)


def test_a_clean_end_waits_then_ends_with_the_run_complete():
    p = planner()
    connected(p, lines=5)
    step = p.observe(ConnectionEnded(CLEAN))
    assert step.then == CheckRun() and step.wait_s == 0.5
    assert p.observe(RunChecked(True)).then == End(complete=True)


def test_a_run_that_ended_while_the_stream_still_brings_lines_is_read_to_its_end():
    p = planner()
    connected(p, lines=5)
    p.observe(ConnectionEnded(IDLE))  # progressed: lines came before the pause
    assert p.observe(RunChecked(True)).then == FindSource()
    p.observe(SourceFound("r1", "r1"))
    p.observe(Connected(5))
    assert p.observe(ConnectionEnded(DROPPED, replayed=5)).then == Connect(Paced(away_s=0.0, base=0))
    p.observe(Connected(3))
    p.observe(ConnectionEnded(IDLE))  # nothing new: the stream is exhausted
    assert p.observe(RunChecked(True)).then == End(complete=False)  # the history fills the rest


def test_a_run_that_ended_before_any_connection_ends_at_once():
    p = planner()
    p.start()
    assert p.observe(RunChecked(True)).then == End(complete=False)


def test_no_replica_of_a_run_that_ended_meanwhile_ends_the_follow():
    p = planner()
    connected(p, lines=3)
    p.observe(ConnectionEnded(IDLE))
    p.observe(RunChecked(True))  # ended, but the last connection progressed: look again
    assert p.observe(NoSource()).then == End(complete=False)


def test_an_event_stream_that_saw_its_run_end_is_complete():
    p = planner()
    connected(p, lines=3)
    assert p.observe(ConnectionEnded(RUN_ENDED)).then == End(complete=True)


def test_a_stalled_stream_shrinks_its_tail_then_catches_up_from_log_analytics():
    """Cut after 3 lines, replay included: a paced tail that starts with known lines never gets
    past them, so the tail is cut to what was new, then Log Analytics fills in."""
    p = planner()
    connected(p, lines=30)
    p.observe(ConnectionEnded(DROPPED))
    p.observe(Connected(10))
    tails = []
    for _ in range(3):
        step = p.observe(ConnectionEnded(DROPPED, replayed=3, elapsed_s=0.25))
        assert states(step) == ["reconnecting"] and step.wait_s == 0
        tails.append(step.then.tail)
        p.observe(Connected(10))
    assert tails == [Paced(away_s=0.25, base=7)] * 3
    step = p.observe(ConnectionEnded(DROPPED, replayed=3))
    assert step.then == CatchUp() and step.wait_s == 0
    assert p.observe(CaughtUp(25)).then == Connect(Paced())  # stalls reset: shrink again next time
    p.observe(Connected(10))
    assert p.observe(ConnectionEnded(DROPPED, replayed=3, elapsed_s=0.1)).then == Connect(Paced(0.1, 7))


def test_nothing_caught_up_rechecks_the_run_after_a_back_off():
    p = planner()
    connected(p, lines=30)
    p.observe(ConnectionEnded(DROPPED))
    p.observe(Connected(MAX_TAIL))
    assert p.observe(ConnectionEnded(DROPPED, replayed=3)).then == CatchUp()  # a full tail: no shrinking
    step = p.observe(CaughtUp(0))
    assert step.then == CheckRun() and step.wait_s == 0.5


def test_a_drop_before_any_line_rechecks_the_run():
    p = planner()
    connected(p)
    step = p.observe(ConnectionEnded(DROPPED))
    assert states(step) == ["reconnecting"] and step.then == CheckRun() and step.wait_s == 0.5


def test_failed_connects_back_off_and_a_line_resets_the_back_off():
    p = planner()
    connected(p)
    p.observe(ConnectionEnded(IDLE))
    waits = []
    for _ in range(3):
        p.observe(RunChecked(False))
        p.observe(SourceFound("r1", "r1"))
        step = p.observe(ConnectFailed("HTTP 503"))
        assert step.then == CheckRun()
        waits.append(step.wait_s)
    assert waits == [0.5, 1.0, 2.0]
    p.observe(RunChecked(False))
    p.observe(SourceFound("r1", "r1"))
    p.observe(Connected(MAX_TAIL))
    p.line_shown()
    assert (p.failures, p.stalls) == (0, 0)
    p.observe(ConnectionEnded(IDLE))
    p.observe(RunChecked(False))
    p.observe(SourceFound("r1", "r1"))
    assert p.observe(ConnectFailed("HTTP 503")).wait_s == 0.5  # back to the first delay


def test_a_stream_that_stays_unavailable_is_given_up():
    p = planner()
    p.start()

    def fail_once():
        p.observe(RunChecked(False))
        step = p.observe(SourceFound("r1", "r1"))
        if step.then == Backfill():  # no connection yet: each try is a first one
            step = p.observe(BackfillDone(0))
        assert step.then == Connect(MAX_TAIL)
        return p.observe(ConnectFailed("HTTP 404"))

    for _ in range(MAX_FAILURES):
        assert fail_once().then == CheckRun()
    assert fail_once().then == Fail("The log stream of the job ft-job is unavailable (HTTP 404).")


def test_a_refused_source_is_waited_for_then_given_up():
    p = planner()
    p.start()
    for _ in range(MAX_FAILURES):
        p.observe(RunChecked(False))
        assert p.observe(SourceRefused()).then == CheckRun()
    p.observe(RunChecked(False))
    assert p.observe(SourceRefused()).then == Fail("The log stream of the job ft-job is unavailable.")


def test_a_snapshot_gives_up_after_a_few_refusals_and_says_why():
    p = planner(follow=False)
    p.start()
    for _ in range(3):
        p.observe(RunChecked(False))
        p.observe(SourceFound("r1", "r1"))
        assert p.observe(ConnectFailed("HTTP 502")).then == CheckRun()
    p.observe(RunChecked(False))
    p.observe(SourceFound("r1", "r1"))
    step = p.observe(ConnectFailed("HTTP 502"))
    assert isinstance(step.then, Stop) and states(step) == ["unavailable"] and "HTTP 502" in step.say[0].detail


@pytest.mark.parametrize("ended,expected", [(False, Stop("snapshot taken")), (True, End(complete=True))])
def test_a_snapshot_reads_once_then_reports_the_run_if_it_ended(ended, expected):
    p = planner(follow=False)
    connected(p, lines=3)
    assert p.observe(ConnectionEnded(CLEAN)).then == CheckRun()
    assert p.observe(RunChecked(ended)).then == expected


def test_a_snapshot_cut_short_is_read_again_whole_then_taken_as_it_is():
    p = planner(follow=False)
    connected(p, lines=3)
    for _ in range(3):
        step = p.observe(ConnectionEnded(DROPPED))
        assert step.then == Connect(MAX_TAIL) and not step.say
        p.observe(Connected(MAX_TAIL))
    assert p.observe(ConnectionEnded(DROPPED)).then == CheckRun()
    assert p.observe(RunChecked(False)).then == Stop("snapshot taken")


def test_another_replica_is_another_log():
    p = planner()
    connected(p, identity="r1", lines=30)
    p.observe(ConnectionEnded(CLEAN))
    p.observe(RunChecked(False))
    step = p.observe(SourceFound("r2", "r2"))  # a replica retry
    assert step.new_log and step.then == Connect(MAX_TAIL)
    step = p.observe(Connected(MAX_TAIL))
    assert states(step) == ["running"] and step.say[0].detail == "r2"
    assert step.then == Read(replay=True, strict=False)  # not the first connection: still a replay


# -- the loop, aborted from another thread -----------------------------------------------------------
def test_abort_from_another_thread_ends_a_follow_waiting_for_its_replica():
    from infra.azure.logs.follow import follow_live

    aborted = threading.Event()
    reader = SimpleNamespace(
        t=SimpleNamespace(label="job ft-job"), deduper=Deduper(), scale=1.0, system=False, aborted=aborted,
        resp=None, finished=lambda: None, source=lambda: None, sleep=lambda s: aborted.wait(s))
    stream = AbortableStream(follow_live(reader, follow=True, waiting_detail="queued"), aborted)
    seen, done = read_in_background(stream)
    wait_for(lambda: seen, 5, 0.01)
    time.sleep(1.0)  # in its back-off now (0.5 s, then 1 s...)
    started = time.monotonic()
    stream.abort()
    assert done.wait(2) and time.monotonic() - started < 0.5
    assert seen == [StreamState("queued", detail="queued")] and not hasattr(reader, "ended")  # no end: detached
