"""The live log panel: batched writes, bounded memory, stream states, follow/find/clear."""
from __future__ import annotations

import threading

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Log

from core.events import LogLine, StreamState
from tests.tui.helpers import wait_for
from tui.widgets.logview import LogView

pytestmark = pytest.mark.asyncio


class LogApp(App):
    def __init__(self, max_lines: int):
        super().__init__()
        self.max_lines = max_lines
        self.ended = []

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines)

    def on_log_view_ended(self, message: LogView.Ended) -> None:
        self.ended.append((message.status, message.exit_code))


async def test_a_fast_producer_is_batched_and_memory_stays_bounded():
    app = LogApp(max_lines=1_000)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(LogView)
        log = app.query_one(Log)
        writes = []
        original = log.write_lines

        def counting(lines, *args, **kwargs):
            lines = list(lines)
            writes.append(len(lines))
            return original(lines, *args, **kwargs)

        log.write_lines = counting
        total = 50_000

        def produce():
            view.feed(StreamState("running"))
            for i in range(total):
                view.feed(LogLine(f"line {i}"))
            view.feed(StreamState("ended", status="Succeeded", exit_code=0))

        thread = threading.Thread(target=produce)
        thread.start()
        assert await wait_for(pilot, lambda: app.ended, timeout=60)
        thread.join()
        assert view.received == total
        assert len(log.lines) <= 1_000 and log.lines[-1] == f"line {total - 1}"
        # lines arrive in batches, not one by one; a backlog beyond max_lines is skipped (it would be pruned)
        assert len(writes) < total / 100 and sum(writes) <= total
        assert app.ended == [("Succeeded", 0)]
        assert "exit code 0" in str(app.query_one("#log-state").render())


async def test_states_follow_find_and_clear():
    app = LogApp(max_lines=500)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(LogView)
        view.feed(StreamState("queued", "waiting for a GPU"))
        await pilot.pause(0.15)
        assert "queued" in str(app.query_one("#log-state").render())
        view.feed_many([StreamState("running")] + [LogLine(f"epoch {i} loss {i}") for i in range(200)])
        view.feed(StreamState("reconnecting", "stream dropped"))
        await pilot.pause(0.15)
        state = app.query_one("#log-state")
        assert "reconnecting" in str(state.render()) and state.has_class("-reconnecting")
        assert view.follow
        assert view.find("epoch 150") == 150 and not view.follow  # find pauses following
        assert "match 1/1" in str(app.query_one("#log-find-result").render())
        assert view.find("no such text") is None
        view.toggle_follow()
        assert view.follow and app.query_one(Log).auto_scroll
        view.clear()
        assert view.lines == [] and view.received == 0
