"""``ftstudio logs``: console (or ``--system``) logs of a run, or of the inference app.

Human output: each log line's text on stdout, stream states ([running], [ended] ...) on stderr.
``--json``: JSON lines on stdout, one object per event: ``{"type": "log", "text", "timestamp",
"stream", "source"}`` and ``{"type": "state", "state", "detail", "status", "exit_code"}``.
Exit code when the stream reaches the run's end: 0 if it succeeded, 1 otherwise; Ctrl-C detaches
(the run keeps going) with 130; a closed pipe (``| head``) ends quietly.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

from core.errors import ExitCode
from core.events import LogLine, StreamState
from infra.logstream import parse_duration
from tui.commands._common import open_backend_for, open_project

def reattach_hint(args, execution: Optional[str], *, inference: bool = False) -> str:
    where = f" --project {args.project}" if getattr(args, "project", None) else ""
    target = f" --target {args.target}" if getattr(args, "target", None) else ""
    which = " --inference" if inference else (f" --execution {execution}" if execution else "")
    return f"ftstudio logs{which} --follow{where}{target}"


def stream(console, events: Iterable[object], *, json_lines: bool, logs_to_stderr: bool = False) -> Optional[StreamState]:
    """Print a backend's log events; return the final ``ended`` state (None if the stream stopped before)."""
    final = None
    for event in events:
        if isinstance(event, LogLine):
            if json_lines:
                console.line(json.dumps({"type": "log", "text": event.text, "timestamp": event.timestamp,
                                         "stream": event.stream, "source": event.source}, ensure_ascii=False))
            elif logs_to_stderr:
                console.info(event.text)
            else:
                console.line(event.text)
        elif isinstance(event, StreamState):
            if json_lines:
                console.line(json.dumps({"type": "state", "state": event.state, "detail": event.detail,
                                         "status": event.status, "exit_code": event.exit_code}))
            else:
                console.event(event)
            if event.state == "ended":
                final = event
        else:
            console.event(event)
    return final


def exit_code_for(final: Optional[StreamState]) -> int:
    if final is None:
        return int(ExitCode.OK)
    return int(ExitCode.OK if final.status == "Succeeded" else ExitCode.FAILED)


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    since = parse_duration(args.since) if args.since else None
    follow = True if args.follow is None else args.follow
    name = None
    if not args.inference:
        name = backend.execution(args.execution).name
    events = backend.logs(execution=name, inference=args.inference, follow=follow, system=args.system, since=since)
    try:
        final = stream(console, events, json_lines=console.json_mode)
    except KeyboardInterrupt:
        what = "the inference app" if args.inference else name
        console.info(f"Detached; {what} keeps running. Re-attach: {reattach_hint(args, name, inference=args.inference)}")
        return int(ExitCode.INTERRUPTED)
    return exit_code_for(final)
