"""How the CLI talks: results on stdout (one JSON document under --json), everything else on stderr.

Command modules get a ``Console`` and never print directly.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Optional, TextIO, Union

from core import events as ev
from core.errors import FtError, MissingInputs
from core.units import progress_text


def _stream_is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    def __init__(self, *, json_mode: bool = False, non_interactive: bool = False,
                 stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, stdin: Optional[TextIO] = None):
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self.non_interactive = non_interactive
        self._progress_open = False
        self.redactions: list[str] = []  # secret values that must never be shown

    # -- interactivity -------------------------------------------------------------------------
    @property
    def interactive(self) -> bool:
        """Prompts are allowed only with a TTY on stdin and stderr and without --non-interactive."""
        if self.non_interactive:
            return False
        return _stream_is_tty(self.stdin) and _stream_is_tty(self.stderr)

    def prompt(self, question: str, *, name: str, how: str, default: Optional[str] = None,
               choices: Optional[list[str]] = None, secret: bool = False) -> str:
        """Ask for a value, or raise MissingInputs naming the flag/env var when we may not ask."""
        if not self.interactive:
            raise MissingInputs([(name, how)])
        self._end_progress()
        if choices:
            for i, choice in enumerate(choices, 1):
                self.stderr.write(f"  {i}) {choice}\n")
        suffix = f" [{default}]" if default else ""
        while True:
            if secret:
                import getpass

                answer = getpass.getpass(f"{question}: ", stream=self.stderr)
            else:
                self.stderr.write(f"{question}{suffix}: ")
                self.stderr.flush()
                answer = self.stdin.readline()
                if not answer:  # EOF
                    raise MissingInputs([(name, how)])
                answer = answer.strip()
            if not answer and default is not None:
                return default
            if choices:
                if answer.isdigit() and 1 <= int(answer) <= len(choices):
                    return choices[int(answer) - 1]
                if answer in choices:
                    return answer
                self.stderr.write(f"Choose 1-{len(choices)}.\n")
                continue
            if answer:
                return answer

    def confirm(self, question: str, *, default: bool = False) -> bool:
        if not self.interactive:
            return default
        self._end_progress()
        hint = "Y/n" if default else "y/N"
        self.stderr.write(f"{question} [{hint}] ")
        self.stderr.flush()
        answer = self.stdin.readline().strip().lower()
        if not answer:
            return default
        return answer in ("y", "yes")

    # -- diagnostics (stderr) ---------------------------------------------------------------------
    def redact(self, text: str) -> str:
        for value in self.redactions:
            if value:
                text = text.replace(value, "***")
        return text

    def _write_err(self, text: str) -> None:
        self._end_progress()
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()

    def info(self, text: str) -> None:
        self._write_err(text)

    def warn(self, text: str) -> None:
        self._write_err(f"warning: {text}")

    def _end_progress(self) -> None:
        if self._progress_open:
            self.stderr.write("\n")
            self._progress_open = False

    def event(self, event: Any) -> None:
        """Render a backend event for people (stderr)."""
        if isinstance(event, ev.StepStarted):
            self._write_err(f"… {event.title}")
        elif isinstance(event, ev.StepFinished):
            detail = f" ({event.detail})" if event.detail else ""
            link = f"  {event.link}" if event.link else ""
            self._write_err(f"✓ {event.title}{detail}{link}")
        elif isinstance(event, ev.StepFailed):
            link = f"  {event.link}" if event.link else ""
            self._write_err(f"✗ {event.title}: {event.error}{link}")
        elif isinstance(event, ev.Info):
            (self.warn if event.level == "warning" else self.info)(event.text)
        elif isinstance(event, ev.Progress):
            if not _stream_is_tty(self.stderr):
                return
            self.stderr.write(f"\r  {event.step}: {progress_text(event.done, event.total, event.unit)}")
            self.stderr.flush()
            self._progress_open = True
            if event.total and event.done >= event.total:
                self._end_progress()
        elif isinstance(event, ev.StreamState):
            self._write_err(f"[{event.state}] {event.detail}".rstrip())

    # -- results (stdout) -------------------------------------------------------------------------
    def result(self, data: Any, human: Union[str, Callable[[], str], None] = None) -> None:
        """The command's result: one JSON document under --json, else the human text."""
        self._end_progress()
        if self.json_mode:
            self.stdout.write(self.redact(json.dumps(data, indent=2, default=str)) + "\n")
        else:
            text = human() if callable(human) else human
            if text is None:
                text = json.dumps(data, indent=2, default=str)
            if text:
                self.stdout.write(self.redact(text) + ("" if text.endswith("\n") else "\n"))
        self.stdout.flush()

    def line(self, text: str) -> None:
        """Streamed output (log lines) on stdout."""
        self.stdout.write(self.redact(text) + "\n")
        self.stdout.flush()

    def error(self, err: FtError) -> None:
        self._end_progress()
        if self.json_mode:
            self.stdout.write(self.redact(json.dumps({"error": err.to_json()}, indent=2)) + "\n")
            self.stdout.flush()
        prefix = "error" if not isinstance(err, MissingInputs) else "error"
        self.stderr.write(self.redact(f"{prefix}: {err.one_line()}") + "\n")
        self.stderr.flush()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
