"""Job execution and inference app logs against the fake Azure: live streams (cut, queued,
snapshot), Log Analytics history, system events, final status, redaction."""
from __future__ import annotations

import time

import pytest

from core.events import LogLine, StreamState
from tests.waiting import read_in_background, wait_for
from tests.wire.test_logs_env import APP, HF_VALUE, JOB, OTHER_VALUE, logs_env  # noqa: F401 - fixture


def texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, LogLine)]


def states(events, name=None) -> list[StreamState]:
    return [e for e in events if isinstance(e, StreamState) and (name is None or e.state == name)]


def collect(gen, limit_s: float = 20.0) -> list:
    out, deadline = [], time.monotonic() + limit_s
    for ev in gen:
        out.append(ev)
        assert time.monotonic() < deadline, f"stream did not end in {limit_s}s: {out[-5:]}"
    return out


def script_lines(n: int) -> list[str]:
    # repeated identical lines on purpose: the dedupe must count, not collapse
    return [f"step {i} | loss {2.0 - i / 1000:.3f}" if i % 5 else "." for i in range(n)]


def test_streams_a_scripted_execution_end_to_end(logs_env):
    lines = script_lines(40)
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.002)
    name = logs_env.start()
    events = collect(logs_env.backend().logs(execution=name))
    assert texts(events) == lines
    assert all(e.stream == "console" and e.source.startswith(name) and e.timestamp for e in events
               if isinstance(e, LogLine))
    assert states(events, "running")
    final = events[-1]
    assert isinstance(final, StreamState) and final.state == "ended"
    assert (final.status, final.exit_code) == ("Succeeded", 0)


def test_default_execution_is_the_running_one(logs_env):
    logs_env.fake.jobs.script(JOB, lines=["old"], line_interval=0.001, times=1)
    first = logs_env.start()
    collect(logs_env.backend().logs(execution=first))
    logs_env.fake.jobs.script(JOB, lines=["new 1", "new 2"], line_interval=0.01)
    logs_env.start()
    assert texts(collect(logs_env.backend().logs())) == ["new 1", "new 2"]


def test_a_stream_cut_every_few_lines_loses_and_repeats_nothing(logs_env, every=25):
    """Rebuilt from the stream alone: Log Analytics has nothing yet (as minutes into a real run)."""
    lines = script_lines(300)
    fake = logs_env.fake
    fake.state.log_ingestion_delay = 3600
    fake.faults.cut_stream(after_lines=every, times=10_000)  # counts the replayed tail too
    fake.jobs.script(JOB, lines=lines, line_interval=0.003, queued_for=0.2)
    name = logs_env.start()
    events = collect(logs_env.backend().logs(execution=name), limit_s=60)
    assert texts(events) == lines
    assert len(states(events, "reconnecting")) >= 10
    assert fake.requests.count("GET", r"/logstream$") >= 11
    assert not states(events, "gap")
    assert events[-1].state == "ended" and events[-1].status == "Succeeded"
    # reconnects ask for a short overlap, not the whole 300-line tail every time
    tails = [int(r.query.get("tailLines")) for r in fake.requests.filter("GET", r"/logstream$")]
    assert tails[0] == 300 and sorted(tails)[len(tails) // 2] < 50


def test_a_stream_cut_every_three_lines_catches_up_from_log_analytics(logs_env):
    """Cut after 3 lines, replayed tail included: a reconnect rarely gets past old lines, so when
    it stalls the reader takes what Log Analytics already has, and streams on from there."""
    lines = script_lines(200)
    fake = logs_env.fake
    fake.faults.cut_stream(after_lines=3, times=10_000)
    fake.jobs.script(JOB, lines=lines, line_interval=0.005, queued_for=0.2)
    name = logs_env.start()
    events = collect(logs_env.backend().logs(execution=name), limit_s=60)
    assert texts(events) == lines
    assert len(states(events, "reconnecting")) >= 10
    assert events[-1].state == "ended" and events[-1].status == "Succeeded"


def test_a_queued_execution_says_so_then_streams(logs_env):
    lines = [f"line {i}" for i in range(30)]
    logs_env.fake.jobs.script(JOB, lines=lines, queued_for=0.4, line_interval=0.02)
    name = logs_env.start()
    events = collect(logs_env.backend().logs(execution=name))
    kinds = [e.state if isinstance(e, StreamState) else "line" for e in events]
    assert kinds.count("queued") == 1
    assert kinds.index("queued") < kinds.index("running") < kinds.index("line")
    assert texts(events) == lines


def test_no_follow_returns_at_once_while_queued(logs_env):
    logs_env.fake.jobs.script(JOB, lines=["never seen"], queued_for=30)
    name = logs_env.start()
    start = time.monotonic()
    events = collect(logs_env.backend().logs(execution=name, follow=False))
    assert time.monotonic() - start < 3
    assert [e.state for e in states(events)] == ["queued"]
    assert not texts(events)


def test_no_follow_gives_what_exists_now_and_returns(logs_env):
    lines = [f"line {i}" for i in range(400)]
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.02)
    name = logs_env.start()
    time.sleep(0.5)
    start = time.monotonic()
    events = collect(logs_env.backend().logs(execution=name, follow=False))
    got = texts(events)
    assert time.monotonic() - start < 3
    assert 3 <= len(got) < 300 and got == lines[: len(got)]
    assert not states(events, "ended")  # still running: a snapshot, not an end


def test_history_of_a_finished_run_equals_what_was_streamed(logs_env):
    lines = script_lines(60)
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.001)
    name = logs_env.start()
    live = collect(logs_env.backend().logs(execution=name))
    history = collect(logs_env.backend().logs(execution=name))
    assert texts(history) == texts(live) == lines
    assert [e.timestamp for e in history if isinstance(e, LogLine)] == \
        [e.timestamp for e in live if isinstance(e, LogLine)]
    assert states(history, "ended")[0].status == "Succeeded"
    # the second read was Log Analytics only: no new log-stream connection
    streams = logs_env.fake.requests.count("GET", r"/logstream$")
    collect(logs_env.backend().logs(execution=name, follow=False))
    assert logs_env.fake.requests.count("GET", r"/logstream$") == streams
    assert logs_env.fake.requests.count("POST", r"/v1/workspaces/.*/query$") >= 2


def test_since_reads_log_analytics_then_follows_without_repeats(logs_env):
    lines = [f"line {i}" for i in range(120)]
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.01)
    name = logs_env.start()
    time.sleep(0.4)
    events = collect(logs_env.backend().logs(execution=name, since=3600))
    assert texts(events) == lines
    assert events[-1].state == "ended"


def test_failure_ends_with_its_exit_code(logs_env):
    logs_env.fake.jobs.script(JOB, lines=["Traceback (most recent call last):", "ValueError: boom"], exit_code=3,
                              line_interval=0.001)
    name = logs_env.start()
    events = collect(logs_env.backend().logs(execution=name))
    final = events[-1]
    assert (final.state, final.status, final.exit_code) == ("ended", "Failed", 3)
    assert texts(events)[-1] == "ValueError: boom"
    # and the same end when read back from history
    again = collect(logs_env.backend().logs(execution=name))
    assert (again[-1].status, again[-1].exit_code) == ("Failed", 3)


def test_system_events_live_and_from_history(logs_env):
    logs_env.fake.jobs.script(JOB, lines=["hello"], line_interval=0.001)
    name = logs_env.start()
    live = collect(logs_env.backend().logs(execution=name, system=True))
    got = texts(live)
    assert any(t.startswith("ContainerStarted:") for t in got)
    assert any(t.startswith("Completed:") for t in got)
    assert all(e.stream == "system" for e in live if isinstance(e, LogLine))
    assert live[-1].state == "ended"
    history = collect(logs_env.backend().logs(execution=name, system=True))
    assert texts(history) == got


def test_secret_values_never_reach_the_output(logs_env):
    lines = [f"token is {HF_VALUE}", "plain", f"key={OTHER_VALUE};and {HF_VALUE}"]
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.001)
    name = logs_env.start()
    for events in (collect(logs_env.backend().logs(execution=name)),  # live
                   collect(logs_env.backend().logs(execution=name))):  # Log Analytics
        assert texts(events) == ["token is ***", "plain", "key=***;and ***"]
        dump = repr(events)
        assert HF_VALUE not in dump and OTHER_VALUE not in dump


def read_away_at_the_cut(logs_env, lines: list[str]) -> list:
    """The events of a run printing `lines` whose stream is cut once after 150 new lines (the
    reader has caught up) and whose reader is away for 1 s at the reconnect, while hundreds of
    lines are written."""
    logs_env.fake.faults.cut_stream(after_lines=150, times=1)
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.001)
    name = logs_env.start()
    events = []
    for ev in logs_env.backend().logs(execution=name):
        events.append(ev)
        if isinstance(ev, StreamState) and ev.state == "reconnecting":
            time.sleep(1.0)
    return events


def test_a_gap_longer_than_the_tail_is_filled_from_log_analytics(logs_env):
    lines = [f"row {i}" for i in range(1200)]
    events = read_away_at_the_cut(logs_env, lines)
    assert texts(events) == lines
    gaps = states(events, "gap")
    assert gaps and "Log Analytics" in gaps[0].detail


def test_a_gap_log_analytics_cannot_fill_is_said_honestly(logs_env):
    lines = [f"row {i}" for i in range(1200)]
    logs_env.fake.state.log_ingestion_delay = 3600  # Log Analytics has nothing yet
    events = read_away_at_the_cut(logs_env, lines)
    got = texts(events)
    assert got[:100] == lines[:100] and got[-300:] == lines[-300:]
    assert len(got) == len(set(got)) and len(got) < len(lines)  # nothing twice, and really a gap
    gap = states(events, "gap")[0]
    assert "may be missing" in gap.detail


def test_closing_the_generator_closes_the_connection_and_leaves_the_run(logs_env):
    lines = [f"tick {i}" for i in range(2000)]
    fake = logs_env.fake
    fake.jobs.script(JOB, lines=lines, line_interval=0.01)
    name = logs_env.start()
    gen = logs_env.backend().logs(execution=name)
    got = 0
    for ev in gen:
        got += isinstance(ev, LogLine)
        if got == 50:  # well past what Log Analytics had when we attached: streaming live
            break
    start = time.monotonic()
    gen.close()  # what Ctrl-C does in the CLI
    assert time.monotonic() - start < 1
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not fake.requests.filter("GET", r"/logstream$"):
        time.sleep(0.02)
    assert fake.requests.filter("GET", r"/logstream$"), "the stream request never ended on the server"
    assert logs_env.apps.job_execution("rg-logs", JOB, name).properties.status == "Running"


# -- the inference app ---------------------------------------------------------------------------
def test_inference_app_logs(logs_env):
    fake = logs_env.fake
    fake.apps.script(APP, lines=[f"INFO: request {i} with {HF_VALUE}" for i in range(10)], line_interval=0.001)
    # a new revision picks the script up
    logs_env.apps.container_apps.begin_update("rg-logs", APP, {"properties": {"template": {
        **logs_env.app()["properties"]["template"], "revisionSuffix": "v2"}}}).result()
    deadline = time.monotonic() + 5
    snapshot = []
    while time.monotonic() < deadline and len(texts(snapshot)) < 10:
        snapshot = collect(logs_env.backend().logs(inference=True, follow=False))
        time.sleep(0.05)
    assert texts(snapshot) == [f"INFO: request {i} with ***" for i in range(10)]
    assert all(e.source.startswith(f"{APP}--v2") for e in snapshot if isinstance(e, LogLine))
    # follow: the app never ends; the reader stops when the person does
    gen = logs_env.backend().logs(inference=True)
    followed = []
    for ev in gen:
        followed.append(ev)
        if len(texts(followed)) == 10:
            break
    gen.close()
    assert texts(followed) == texts(snapshot)
    # history of the app (all revisions) from Log Analytics
    history = collect(logs_env.backend().logs(inference=True, since=3600, follow=False))
    assert texts(history)[-10:] == texts(snapshot)


def test_inference_system_events(logs_env):
    events = collect(logs_env.backend().logs(inference=True, system=True, follow=False))
    got = texts(events)
    assert any(t.startswith("RevisionCreation:") for t in got)


def test_unknown_execution_is_an_input_error(logs_env):
    from core.errors import InputError

    with pytest.raises(InputError) as e:
        list(logs_env.backend().logs(execution="ft-logs-job-nope123"))
    assert e.value.field == "--execution"


def test_a_run_followed_late_is_shown_from_its_first_line(logs_env):
    """More than the stream's 300-line tail was printed before we attached: the start comes from
    Log Analytics, the rest from the stream, nothing twice."""
    lines = [f"early {i}" for i in range(1000)]
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.001)
    name = logs_env.start()
    deadline = time.monotonic() + 10
    while len(logs_env.fake.state.table_rows(logs_env.customer_id, "ContainerAppConsoleLogs_CL") or []) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert texts(collect(logs_env.backend().logs(execution=name))) == lines


def test_abort_from_another_thread_ends_a_stream_blocked_on_a_quiet_run(logs_env, monkeypatch):
    """A UI closing its log view: abort() closes the connection, the blocked read returns at once."""
    monkeypatch.setenv("FTSTUDIO_LOG_POLL_SCALE", "1")  # real waits: a quiet stream re-checks after 60 s
    logs_env.fake.jobs.script(JOB, lines=["first", "second"], line_interval=30.0)
    name = logs_env.start()
    stream = logs_env.backend().logs(execution=name)
    seen, done = read_in_background(stream)
    wait_for(lambda: "first" in texts(seen), 15, 0.02, what=lambda: repr(seen))
    started = time.monotonic()
    stream.abort()
    assert done.wait(5), "the stream did not end after abort()"
    assert time.monotonic() - started < 3
    assert "second" not in texts(seen) and not states(seen, "ended")  # detached, the run goes on
    assert logs_env.backend().execution(name).status == "Running"
