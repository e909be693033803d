"""A live log panel: bounded memory, batched writes, follow toggle, find, clear, stream state.

Producers (thread workers) call ``feed()`` with ``core.events.LogLine``/``StreamState`` items; that
only appends to a deque (thread-safe, touches no widget). A UI-thread timer drains the deque every
``FLUSH_S`` and writes the lines in one ``Log.write_lines`` call, so thousands of lines per second cost
~20 repaints per second. ``Log(max_lines=...)`` keeps memory bounded for very long logs; when the UI
falls behind, only the newest ``max_lines`` of a batch are written (the rest would be pruned anyway).
"""
from __future__ import annotations

import time
from collections import deque
from typing import Iterable, Optional

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, Log

from core.events import LogLine, StreamState

FLUSH_S = 0.05
MAX_LINES = 20_000
CHUNK = 4_000  # lines written per tick at most (~10 ms of work), i.e. up to 80k lines/s shown
YIELD_EVERY = 256
HIGH_WATER = 2 * CHUNK  # items queued before a producer thread is made to wait

STATE_TEXT = {
    "connecting": "◌ connecting",
    "queued": "◌ queued: waiting for a replica",
    "running": "● streaming",
    "reconnecting": "↻ reconnecting",
    "ended": "■ ended",
}


class LogView(Vertical):
    """The log panel with its status bar and find box."""

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView #log-bar { height: 1; background: $boost; padding: 0 1; }
    LogView #log-bar Label { margin-right: 3; }
    LogView #log-state.-reconnecting, LogView #log-state.-queued { color: $warning; }
    LogView #log-state.-failed { color: $error; }
    LogView #log-state.-succeeded { color: $success; }
    LogView #log-find { display: none; dock: bottom; }
    LogView.-finding #log-find { display: block; }
    LogView Log { height: 1fr; }
    """

    follow: reactive[bool] = reactive(True)
    state: reactive[str] = reactive("connecting")

    class Ended(Message):
        def __init__(self, status: Optional[str], exit_code: Optional[int]) -> None:
            super().__init__()
            self.status = status
            self.exit_code = exit_code

    def __init__(self, *, max_lines: int = MAX_LINES, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self._pending: deque = deque()  # filled by producer threads
        self._backlog: deque = deque()  # UI thread only: arrived, not written yet
        self._closed = False
        self._fed = 0
        self.received = 0  # lines received (including those pruned)
        self.detail = ""
        self.status: Optional[str] = None
        self.exit_code: Optional[int] = None
        self._matches: list[int] = []
        self._match_at = -1

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Label(STATE_TEXT["connecting"], id="log-state")
            yield Label("FOLLOW", id="log-follow")
            yield Label("0 lines", id="log-count")
            yield Label("", id="log-find-result")
        yield Log(max_lines=self.max_lines, auto_scroll=True, id="log")
        yield Input(placeholder="find (Enter: next match, Esc: close)", id="log-find")

    def on_mount(self) -> None:
        self._timer = self.set_interval(FLUSH_S, self.flush)

    # -- producers (any thread) ------------------------------------------------------------------------
    def feed(self, item: object) -> None:
        """Queue one item. Called from a producer thread: when the UI is ``HIGH_WATER`` items behind,
        it waits (backpressure: the producer reads its stream slower, memory stays bounded and the
        UI thread gets the CPU/GIL it needs to stay responsive)."""
        pending = self._pending
        while len(pending) >= HIGH_WATER and not self._closed:
            time.sleep(FLUSH_S / 4)
        pending.append(item)
        self._fed += 1
        if self._fed % YIELD_EVERY == 0:
            time.sleep(0)  # hand the GIL to the UI thread now and then (a busy producer starves it)

    def feed_many(self, items: Iterable[object]) -> None:
        for item in items:
            self.feed(item)

    def on_unmount(self) -> None:
        self._closed = True  # a producer waiting on backpressure must not wait forever

    # -- UI thread -------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write what arrived since the last tick, at most ``CHUNK`` lines per tick (the rest waits for
        the next tick, so one tick never blocks the UI for long). Lines older than the newest
        ``max_lines`` waiting are dropped unwritten: the Log would prune them anyway."""
        incoming, pending = self._pending, self._backlog
        while incoming:  # popleft is safe while the producer thread appends
            pending.append(incoming.popleft())
        if not pending:
            return
        self._drop_overflow()
        lines: list[str] = []
        ended: Optional[StreamState] = None
        while pending and len(lines) < CHUNK:
            item = pending.popleft()
            if isinstance(item, LogLine):
                lines.append(f"[system] {item.text}" if item.stream == "system" else item.text)
            elif isinstance(item, StreamState):
                if lines:  # keep order: lines before a state change are written first
                    self._write(lines)
                    lines = []
                self._set_state(item)
                if item.state == "ended":
                    ended = item
            elif isinstance(item, str):
                lines.append(item)
        if lines:
            self._write(lines)
        if ended is not None:
            self.post_message(self.Ended(ended.status, ended.exit_code))

    def _drop_overflow(self) -> None:
        pending = self._backlog  # UI thread only
        if len(pending) <= self.max_lines + CHUNK:
            return
        # count lines from the newest end; everything older than max_lines lines is dropped
        keep, kept_lines = 0, 0
        for item in reversed(pending):
            if not isinstance(item, StreamState):
                kept_lines += 1
                if kept_lines > self.max_lines:
                    break
            keep += 1
        dropped = 0
        for _ in range(len(pending) - keep):
            item = pending.popleft()
            if isinstance(item, StreamState):
                self._set_state(item)  # states are never lost
            else:
                dropped += 1
        self.received += dropped
        self.query_one(Log).clear()  # what it held is older than the lines now waiting

    def _write(self, lines: list[str]) -> None:
        self.received += len(lines)
        log = self.query_one(Log)
        log.write_lines(lines, scroll_end=self.follow)
        self.query_one("#log-count", Label).update(f"{self.received:,} lines")

    def _set_state(self, item: StreamState) -> None:
        self.detail = item.detail
        if item.status is not None:
            self.status = item.status
        if item.exit_code is not None:
            self.exit_code = item.exit_code
        self.state = item.state

    def set_state(self, state: str, detail: str = "") -> None:
        """Set the stream state from the UI thread (e.g. "connecting" before a reconnect)."""
        self._set_state(StreamState(state, detail))

    def watch_state(self, state: str) -> None:
        label = self.query_one("#log-state", Label)
        text = STATE_TEXT.get(state, state)
        if state == "ended":
            bits = [b for b in (self.status, None if self.exit_code is None else f"exit code {self.exit_code}") if b]
            text += f": {', '.join(bits)}" if bits else ""
        if self.detail and state != "running":
            text += f"  [dim]{self.detail}[/dim]"
        label.update(text)
        label.set_class(state == "reconnecting", "-reconnecting")
        label.set_class(state == "queued", "-queued")
        label.set_class(state == "ended" and self.status not in (None, "Succeeded"), "-failed")
        label.set_class(state == "ended" and self.status == "Succeeded", "-succeeded")

    def watch_follow(self, follow: bool) -> None:
        log = self.query_one(Log)
        log.auto_scroll = follow
        self.query_one("#log-follow", Label).update("FOLLOW" if follow else "[dim]paused (t: follow)[/dim]")
        if follow:
            log.scroll_end(animate=False)

    # -- commands ----------------------------------------------------------------------------------------
    def toggle_follow(self) -> None:
        self.follow = not self.follow

    def clear(self) -> None:
        self.query_one(Log).clear()
        self.received = 0
        self.query_one("#log-count", Label).update("0 lines")
        self.query_one("#log-find-result", Label).update("")

    def open_find(self) -> None:
        self.add_class("-finding")
        self.query_one("#log-find", Input).focus()

    def close_find(self) -> None:
        self.remove_class("-finding")
        self.query_one(Log).focus()

    @property
    def lines(self) -> list[str]:
        return list(self.query_one(Log).lines)

    def find(self, text: str) -> Optional[int]:
        """Scroll to the next line containing ``text`` (case-insensitive); pauses following."""
        result = self.query_one("#log-find-result", Label)
        if not text:
            result.update("")
            return None
        needle = text.lower()
        log = self.query_one(Log)
        self._matches = [i for i, line in enumerate(log.lines) if needle in line.lower()]
        if not self._matches:
            result.update(f"no match for {text!r}")
            return None
        after = [i for i in self._matches if i > self._match_at]
        self._match_at = after[0] if after else self._matches[0]
        self.follow = False
        log.scroll_to(y=max(0, self._match_at - 2), animate=False)
        position = self._matches.index(self._match_at) + 1
        result.update(f"match {position}/{len(self._matches)} at line {self._match_at + 1}")
        return self._match_at

    @on(Input.Submitted, "#log-find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.find(event.value)

    @on(Input.Changed, "#log-find")
    def _find_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._match_at = -1
