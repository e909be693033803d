"""Logs: the live console log of a job execution or of the inference app."""
from __future__ import annotations

from typing import Optional

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from core.events import StreamState
from tui.screens.messages import TaskDone, TaskFailed, describe_error
from tui.widgets.logview import LogView


class LogsScreen(Screen):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("t", "follow", "Follow"),
        Binding("ctrl+f,slash", "find", "Find"),
        Binding("n", "find_next", "Next match", show=False),
        Binding("c", "clear", "Clear"),
        Binding("r", "reconnect", "Reconnect"),
    ]

    def __init__(self, *, execution: Optional[str] = None, inference: bool = False, follow: bool = True,
                 system: bool = False) -> None:
        super().__init__()
        self.execution = execution
        self.inference = inference
        self.follow_stream = follow
        self.system = system
        self.ended = False

    @property
    def source_title(self) -> str:
        if self.inference:
            return "inference app"
        return f"execution {self.execution}" if self.execution else "latest execution"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Logs of the {self.source_title}", id="logs-title", classes="screen-title")
        yield LogView(id="logview")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"logs: {self.source_title}"
        self.start_stream()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def start_stream(self) -> None:
        self.ended = False
        self.view.set_state("connecting")
        self._stream()

    @work(thread=True, exclusive=True, exit_on_error=False, group="logs")
    def _stream(self) -> None:
        """Pull the backend's log iterator; hand items to the view's queue (never to a widget)."""
        worker = get_current_worker()
        view = self.view
        try:
            stream = self.app.backend.logs(execution=self.execution, inference=self.inference,
                                           follow=self.follow_stream, system=self.system)
            self._live_stream = stream  # a plain handle (no widget): closing the screen aborts it
            for item in stream:
                if worker.is_cancelled:
                    break
                view.feed(item)
        except BaseException as exc:  # noqa: BLE001
            if not worker.is_cancelled:
                self.post_message(TaskFailed("logs", describe_error(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(TaskDone("logs"))

    @on(TaskDone)
    def _done(self, message: TaskDone) -> None:
        if message.group == "logs" and self.view.state != "ended":
            # the stream stopped without saying why (--no-follow snapshot, or a backend that just ends)
            self.view.feed(StreamState("ended", "stream closed"))

    @on(TaskFailed)
    def _failed(self, message: TaskFailed) -> None:
        self.view.feed(StreamState("ended", message.error, status="error"))
        self.notify(message.error, title="Logs", severity="error", timeout=10)

    @on(LogView.Ended)
    def _ended(self, message: LogView.Ended) -> None:
        self.ended = True

    # -- actions -----------------------------------------------------------------------------------------
    def action_close(self) -> None:
        if self.view.has_class("-finding"):
            self.view.close_find()
            return
        self.stop_stream()
        self.app.pop_screen()

    def stop_stream(self) -> None:
        """Cancel the worker and abort its stream, so a read blocked on a quiet stream ends now."""
        self.workers.cancel_group(self, "logs")
        stream, self._live_stream = getattr(self, "_live_stream", None), None
        if stream is not None:
            stream.abort()  # infra.backend.LogStream: ends a read blocked on a quiet stream, from this thread

    def on_unmount(self) -> None:
        self.stop_stream()

    def action_follow(self) -> None:
        self.view.toggle_follow()

    def action_find(self) -> None:
        self.view.open_find()

    def action_find_next(self) -> None:
        from textual.widgets import Input

        self.view.find(self.query_one("#log-find", Input).value)

    def action_clear(self) -> None:
        self.view.clear()

    def action_reconnect(self) -> None:
        self.view.feed(StreamState("reconnecting", "by request"))
        self.start_stream()
