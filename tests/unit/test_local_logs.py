"""Local logs: follow / no-follow, no lost or repeated lines, --since, --system."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

from core.events import LogLine, StreamState
from infra.local import supervisor as sv
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_supervisor import wait_done
from test_local_support import local_python, new_project, step  # noqa: F401 - fixtures
from tests.waiting import read_in_background, wait_for

CHATTY = {"job.py": """
    import sys, time
    for i in range(3000):
        print(f"line {i}")
        if i % 500 == 0:
            time.sleep(0.3)  # the follower catches up and waits in the middle of the run
    print("partial line without newline at the end", end="")
"""}


def test_follow_sees_every_line_once_then_the_end(new_project):
    backend = LocalBackend(new_project(step("job.py"), CHATTY))
    ex = backend.run()
    events = list(backend.logs(execution=ex.name, follow=True))
    states = [e for e in events if isinstance(e, StreamState)]
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert lines == [f"line {i}" for i in range(3000)] + ["partial line without newline at the end"]
    assert states[-1].state == "ended" and states[-1].status == "Succeeded" and states[-1].exit_code == 0
    assert isinstance(events[-1], StreamState)
    assert all(e.timestamp and e.source == ex.name for e in events if isinstance(e, LogLine))


def test_no_follow_returns_at_once_while_running(new_project):
    backend = LocalBackend(new_project(["echo started", "sleep 300"]))
    ex = backend.run()
    run_dir = LocalLayout.for_project(backend.project).runs / ex.name
    deadline = time.monotonic() + 10
    while "started" not in (run_dir / sv.LOG).read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    began = time.monotonic()
    events = list(backend.logs(follow=False))  # default execution: the running one
    assert time.monotonic() - began < 2
    assert [e.text for e in events if isinstance(e, LogLine)] == ["started"]
    assert [e.state for e in events if isinstance(e, StreamState)] == ["running"]


def test_a_finished_failed_run_ends_with_its_status(new_project):
    backend = LocalBackend(new_project(["echo boom >&2", "exit 7"]))
    done = wait_done(backend, backend.run().name)
    for follow in (True, False):
        events = list(backend.logs(execution=done.name, follow=follow))
        assert [e.text for e in events if isinstance(e, LogLine)] == ["boom"]
        end = events[-1]
        assert (end.state, end.status, end.exit_code) == ("ended", "Failed", 7)
        assert "boom" in end.detail


def test_since_skips_older_lines(new_project):
    backend = LocalBackend(new_project(["echo old", "echo new"]))
    done = wait_done(backend, backend.run().name)
    log = LocalLayout.for_project(backend.project).runs / done.name / sv.LOG
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    recs[0]["t"] = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    texts = [e.text for e in backend.logs(execution=done.name, since=3600) if isinstance(e, LogLine)]
    assert texts == ["new"]


def test_system_stream_shows_the_lifecycle(new_project):
    backend = LocalBackend(new_project(["exit 3"]))
    done = wait_done(backend, backend.run().name)
    events = [e for e in backend.logs(execution=done.name, system=True) if isinstance(e, LogLine)]
    assert events[0].text.startswith("started: process group") and events[0].stream == "system"
    assert events[-1].text == "ended: Failed, exit code 3"


def test_follow_started_before_the_first_line_waits_for_it(new_project):
    backend = LocalBackend(new_project(step("job.py"), {"job.py": """
        import time
        time.sleep(1.0)
        print("late hello")
    """}))
    ex = backend.run()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(backend.logs(execution=ex.name)))
    reader.start()
    reader.join(20)
    assert [e.text for e in got if isinstance(e, LogLine)] == ["late hello"]
    assert got[0] == StreamState("running", detail=ex.name)


def test_abort_from_another_thread_ends_a_quiet_follow(new_project):
    """A UI closing its log view: the follower stops at once, the run goes on."""
    backend = LocalBackend(new_project(["echo started", "sleep 300"]))
    ex = backend.run()
    try:
        stream = backend.logs(execution=ex.name, follow=True)
        seen, done = read_in_background(stream)
        wait_for(lambda: "started" in [e.text for e in seen if isinstance(e, LogLine)], 10, 0.05,
                 what=lambda: repr(seen))
        stream.abort()
        assert done.wait(2), "the follow did not end after abort()"
        assert not [e for e in seen if isinstance(e, StreamState) and e.state == "ended"]
        assert backend.execution(ex.name).status == "Running"
    finally:
        backend.stop(ex.name)
