"""Logs of a fine-tuning execution or of the inference app: live streams and Log Analytics history.

Live lines come from the Container Apps log-stream host (azure-wire-facts §5): a per-resource
token from ``getAuthToken``, then a chunked GET of ``…/logstream?follow=true&output=json&tailLines=N``
(``…/eventstream`` for system events). Streams drop; every reconnect asks for the log's tail again
and ``infra.logstream.Deduper`` drops what was already shown, so no line is lost or shown twice.
If more lines were written while disconnected than the tail holds, the gap is filled from Log
Analytics, or reported as ``StreamState("gap")`` when Log Analytics does not have them yet.

Finished executions and ``since`` read Log Analytics (``ContainerAppConsoleLogs_CL`` /
``ContainerAppSystemLogs_CL``, §6). Every line is redacted with the values of the job's/app's
secrets (read once at stream start) before it is yielded.

``logs()`` returns an ``AbortableStream`` (infra.backend.LogStream): closing it (Ctrl-C in the CLI)
closes the HTTP connection at once and leaves the execution running; ``abort()`` does the same from
another thread.

Modules: ``stream`` (the HTTP connection), ``history`` (Log Analytics queries), ``planner`` (what
to do next, pure), ``follow`` (the loop that does it), ``reader`` (what both readers share),
``job`` and ``app`` (the two readers).
"""
from __future__ import annotations

from typing import Iterator, Optional

from core.errors import InputError
from infra.logstream import AbortableStream


def logs(backend, *, execution: Optional[str] = None, inference: bool = False, follow: bool = True,
         system: bool = False, since: Optional[float] = None) -> Iterator[object]:
    """LogLine / StreamState events; see the module docstring."""
    from infra.azure.logs.app import AppLogs
    from infra.azure.logs.job import JobLogs

    if since is not None and since <= 0:
        raise InputError("--since must be a positive duration.", field="--since", fix="e.g. --since 30m")
    reader = AppLogs(backend, system) if inference else JobLogs(backend, system, execution)
    return AbortableStream(reader.run(follow=follow, since=since), reader.aborted, reader.interrupt)
