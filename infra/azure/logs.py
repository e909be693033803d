"""Logs of a fine-tuning execution or of the inference app: live streams and Log Analytics history.

Live lines come from the Container Apps log-stream host (azure-wire-facts §5): a per-resource
token from ``getAuthToken``, then a chunked GET of ``…/logstream?follow=true&output=json&tailLines=N``
(``…/eventstream`` for system events). Streams drop; every reconnect asks for the last 300 lines
again and ``infra.logstream.Deduper`` drops what was already shown, so no line is lost or shown
twice. If more than 300 lines were written while disconnected, the gap is filled from Log
Analytics, or reported as ``StreamState("gap")`` when Log Analytics does not have them yet.

Finished executions and ``since`` read Log Analytics (``ContainerAppConsoleLogs_CL`` /
``ContainerAppSystemLogs_CL``, §6). Every line is redacted with the values of the job's/app's
secrets (read once at stream start) before it is yielded.

``logs()`` is a generator: closing it (Ctrl-C in the CLI) closes the HTTP connection at once and
leaves the execution running.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

from infra.azure.secrets import Target, describe_error, call, read_resource, secret_values, target
from core.errors import InputError, OperationFailed
from core.events import LogLine, StreamState
from infra.logstream import (MAX_TAIL, AbortableStream, Backoff, Deduper, Pace, Record, env_scale, micros, parse_record,
                             parse_timestamp)
from core.models import RUNNING_STATES, TERMINAL_STATES, Execution
from infra.redact import Redactor

JOBS_PREVIEW_API = "2023-11-02-preview"  # jobs getAuthToken / replicas: not in the SDK (§5)
CONSOLE_TABLE = "ContainerAppConsoleLogs_CL"
SYSTEM_TABLE = "ContainerAppSystemLogs_CL"
# A quiet console stream is re-opened after this long (harmless: the dedupe drops the replay).
IDLE_READ_TIMEOUT = 60.0
# An event stream outlives the execution; this often we look whether the execution ended.
SYSTEM_READ_TIMEOUT = 10.0
MAX_FAILURES = 20  # failed connects in a row before giving up
# The service's greeting on every new connection: not a log line (it would defeat the dedupe).
_BANNER = re.compile(r"^(Connecting to the container '.*'\.\.\.|Successfully Connected to container: .*"
                     r"|Connecting to the events collector\.\.\.|Successfully connected to events server.*)\s*$", re.I)
_EVENT_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.\d+)?\s*(?:([+-]\d\d):?(\d\d)|Z)?(?:\s*UTC)?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def logs(backend, *, execution: Optional[str] = None, inference: bool = False, follow: bool = True,
         system: bool = False, since: Optional[float] = None) -> Iterator[object]:
    """LogLine / StreamState events; see the module docstring."""
    if since is not None and since <= 0:
        raise InputError("--since must be a positive duration.", field="--since", fix="e.g. --since 30m")
    reader = _AppLogs(backend, system) if inference else _JobLogs(backend, system, execution)
    return AbortableStream(reader.run(follow=follow, since=since), reader.aborted, reader.interrupt)


def _interrupt(resp) -> None:
    """Wake a read blocked in another thread: closing the file object alone does not wake recv() on
    Linux, shutting the socket down does."""
    import socket

    raw = getattr(resp, "raw", None)
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    resp.close()


# -- the HTTP side ------------------------------------------------------------------------------------
@dataclass
class Source:
    """One live stream: where, with which token, and what to call its lines' origin."""

    url: str
    token: str
    label: str  # replica (or resource) name, for LogLine.source
    identity: str  # changes when the stream is a different log (another replica)


class _Unavailable(Exception):
    """The log-stream host refused (not started yet, gone, token expired)."""

    def __init__(self, status: int, reason: str = ""):
        super().__init__(f"{status} {reason}")
        self.status = status


def _http(backend):
    """One requests.Session per backend, trusting what the SDK clients trust (REQUESTS_CA_BUNDLE)."""
    http = backend.__dict__.get("_log_http")
    if http is None:
        import requests

        http = requests.Session()
        http.verify = backend.session.verify
        backend.__dict__["_log_http"] = http
    return http


def _open(backend, source: Source, *, follow: bool, tail: int, read_timeout: float):
    resp = _http(backend).get(
        source.url,
        params={"follow": "true" if follow else "false", "output": "json", "tailLines": str(tail)},
        headers={"Authorization": f"Bearer {source.token}"},
        stream=True,
        timeout=(15.0, read_timeout),
    )
    if resp.status_code != 200:
        status = resp.status_code
        resp.close()
        raise _Unavailable(status, resp.reason or "")
    return resp


def _stream_errors() -> tuple:
    import requests
    import urllib3

    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def _is_read_timeout(exc: BaseException) -> bool:
    import requests
    import urllib3

    seen: set = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return True
        if "timed out" in str(exc).lower():
            return True
        nxt = exc.__cause__ or exc.__context__
        if nxt is None and exc.args and isinstance(exc.args[0], BaseException):
            nxt = exc.args[0]
        exc = nxt
    return False


# -- Log Analytics ------------------------------------------------------------------------------------
def _kql_name(value: str, field: str) -> str:
    if not _SAFE_NAME.match(value or ""):
        raise InputError(f"{value!r} is not a valid resource name.", field=field, fix="fix the project's config file")
    return value


def _customer_id(backend, t: Target) -> str:
    """The workspace GUID: from LOG_ANALYTICS_NAME, else from the environment's log configuration."""
    cached = backend.__dict__.get("_log_customer_id")
    if cached:
        return cached
    cid = None
    if t.workspace:
        ws = call(f"read Log Analytics workspace {t.workspace}", backend.session.loganalytics.workspaces.get,
                  t.resource_group, t.workspace)
        cid = (ws.as_dict().get("properties") or {}).get("customerId")
    if not cid:
        props = read_resource(backend, t).get("properties") or {}
        env_id = props.get("environmentId") or props.get("managedEnvironmentId") or ""
        parts = env_id.strip("/").split("/")
        if len(parts) >= 8:
            env = call("read the Container Apps environment", backend.session.appcontainers.managed_environments.get,
                       parts[3], parts[7]).as_dict()
            cid = (((env.get("properties") or {}).get("appLogsConfiguration") or {})
                   .get("logAnalyticsConfiguration") or {}).get("customerId")
    if not cid:
        raise OperationFailed(f"No Log Analytics workspace is connected to the {t.label}, so there is no log history.",
                              fix="set LOG_ANALYTICS_NAME in infra/finetuning.config.json, or re-run `ftstudio provision`")
    backend.__dict__["_log_customer_id"] = cid
    return cid


def _query(backend, t: Target, kql: str, timespan) -> list[dict]:
    """Rows of the first result table as dicts, in the query's order. A table that does not exist
    yet (a workspace that never received a line) is no rows, not an error."""
    from azure.core.exceptions import HttpResponseError
    from azure.monitor.query import LogsQueryStatus

    cid = _customer_id(backend, t)
    error = None
    try:
        result = backend.session.logs_query.query_workspace(cid, kql, timespan=timespan)
    except HttpResponseError as exc:
        if "resolve table" in str(exc):
            return []
        error = OperationFailed(f"Could not query Log Analytics: {describe_error(exc)}")
    if error is not None:
        raise error
    tables = result.tables if result.status == LogsQueryStatus.SUCCESS else (result.partial_data or [])
    if not tables:
        return []
    cols = list(tables[0].columns)
    return [dict(zip(cols, row)) for row in tables[0].rows]


def _iso(value) -> Optional[str]:
    """LogLine.timestamp: the stream's own text, or a Log Analytics datetime in the same shape."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return str(value)


def _second(value) -> Optional[str]:
    """A time at whole seconds: system events carry only seconds, Log Analytics has microseconds."""
    if value is None:
        return None
    if isinstance(value, str):
        m = _EVENT_TIME.match(value.strip())
        if m:
            date, clock, hh, mm = m.groups()
            dt = parse_timestamp(f"{date}T{clock}" + (f"{hh}:{mm}" if hh else "+00:00"))
        else:
            dt = parse_timestamp(value)
        if dt is None:
            return value
        value = dt
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_text(reason: str, message: str) -> str:
    message = (message or "").rstrip("\r\n")
    return f"{reason}: {message}" if reason and not message.startswith(reason) else message


# -- shared streaming loop ------------------------------------------------------------------------------
class _Reader:
    def __init__(self, backend, inference: bool, system: bool):
        self.backend = backend
        self.t = target(backend, inference)
        self.system = system
        self.stream = "system" if system else "console"
        self.scale = env_scale()
        self.redactor = Redactor()
        self.deduper = Deduper()
        self.ended: Optional[Execution] = None
        self.complete = False
        self.pace = Pace()
        self.aborted = threading.Event()
        self._resp = None  # the open stream response, closed by abort() from another thread

    def interrupt(self) -> None:
        """After ``aborted`` is set: wake the read blocked on the open response (any thread)."""
        resp = self._resp
        if resp is not None:
            _interrupt(resp)

    @property
    def client(self):
        return self.backend.session.appcontainers

    # hooks --------------------------------------------------------------------------------------------
    def source(self) -> Optional[Source]:
        raise NotImplementedError

    def finished(self) -> Optional[Execution]:
        return None

    def kql(self) -> str:
        raise NotImplementedError

    def wants_event(self, event: dict) -> bool:
        return True

    # lines ----------------------------------------------------------------------------------------------
    def line(self, timestamp, text: str, source: str) -> LogLine:
        return LogLine(self.redactor(text), _iso(timestamp), self.stream, source)

    def parse(self, raw) -> Optional[Record]:
        if not self.system:
            rec = parse_record(raw)
            return None if rec is None or _BANNER.match(rec.text) else rec
        if isinstance(raw, (bytes, bytearray)):
            raw = bytes(raw).decode("utf-8", errors="replace")
        try:
            event = json.loads(raw)
        except ValueError:
            rec = parse_record(raw)
            return None if rec is None or _BANNER.match(rec.text) else rec
        if not isinstance(event, dict) or not self.wants_event(event):
            return None
        text = _event_text(event.get("Reason") or "", event.get("Msg") or event.get("Log") or "")
        return Record(_second(event.get("TimeStamp")), text) if text else None

    def row(self, row: dict) -> tuple:
        """A Log Analytics row → (timestamp, text, source), keyed like the live stream's lines."""
        if self.system:
            return (_second(row.get("TimeGenerated")), _event_text(row.get("Reason_s") or "", row.get("Log_s") or ""),
                    row.get("ReplicaName_s") or row.get("RevisionName_s") or self.t.name)
        return (row.get("TimeGenerated"), (row.get("Log_s") or "").rstrip("\r\n"),
                row.get("ContainerGroupName_s") or self.t.name)

    def history(self, timespan) -> list[tuple]:
        return [self.row(r) for r in _query(self.backend, self.t, self.kql(), timespan)]

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.aborted.wait(seconds)  # an abort wakes a back-off at once

    # the loop -------------------------------------------------------------------------------------------
    def follow_live(self, *, follow: bool, waiting_detail: str) -> Iterator[object]:
        """Stream until the job's execution ends, forever (app, follow) or once (snapshot).

        Sets ``self.ended`` (the finished Execution, or None) and ``self.complete`` (the last
        connection ended cleanly, so nothing after the last line is missing).

        A connection that drops after bringing new lines is re-opened at once on the same URL
        and token, with a tail sized to what was probably missed; anything else (no progress,
        refused, clean end) goes back to checking the execution and its replica, with back-off."""
        backoff = Backoff(first=0.5 * self.scale, cap=10.0 * self.scale, sleep=self._sleep)
        connects = failures = stalls = 0
        queued_said, running_said, identity = False, None, None
        full_tail = True  # the first connection shows the last 300 lines; later ones ask for less
        widen, shrink, tail = False, None, MAX_TAIL
        src: Optional[Source] = None
        progressed = False  # the last connection brought at least one new line
        read_timeout = max((SYSTEM_READ_TIMEOUT if self.system else IDLE_READ_TIMEOUT) * self.scale, 0.2)
        self.complete = False
        while True:
            if self.aborted.is_set():
                return
            if src is None:
                ex = self.finished()
                # a finished run: stop once the stream is complete or stops bringing lines
                if ex is not None and (connects == 0 or self.complete or not progressed):
                    self.ended = ex
                    return
                try:
                    src = self.source()
                except _Unavailable:
                    failures += 1
                    if failures > MAX_FAILURES:
                        raise OperationFailed(f"The log stream of the {self.t.label} is unavailable.") from None
                if src is None:
                    if ex is not None:
                        self.ended = ex
                        return
                    if not queued_said and connects == 0:
                        queued_said = True
                        yield StreamState("queued", detail=waiting_detail)
                    if not follow:
                        return
                    backoff.wait()
                    continue
                if identity is not None and src.identity != identity:
                    self.deduper, full_tail = Deduper(), True  # another replica: another log
                identity = src.identity
                if connects == 0 and follow:
                    running_said = src.label
                    yield StreamState("running", detail=src.label)
                    yield from self.before_first_connect()
            reconnect_away = None
            if full_tail or not follow or not self.deduper.shown:
                tail = MAX_TAIL
            elif widen:
                tail = min(MAX_TAIL, 2 * tail + 10)
            elif shrink is not None:
                tail = shrink
            else:
                reconnect_away = self.pace.away()
                tail = self.pace.tail(reconnect_away)
            widen, shrink = False, None
            dropped_before, connected_at = self.deduper.dropped, time.monotonic()
            try:
                resp = _open(self.backend, src, follow=follow, tail=tail, read_timeout=read_timeout)
                self._resp = resp
                if self.aborted.is_set():  # abort() ran before _resp was set: it could not close this one
                    resp.close()
                    return
            except (_Unavailable, *_stream_errors()) as exc:
                failures += 1
                src, progressed = None, False
                why = f"HTTP {exc.status}" if isinstance(exc, _Unavailable) else type(exc).__name__
                if not follow and failures > 3:
                    yield StreamState("unavailable", detail=f"the log stream answered {why}; try again shortly")
                    return
                if failures > MAX_FAILURES:
                    raise OperationFailed(f"The log stream of the {self.t.label} is unavailable ({why}).") from None
                backoff.wait()
                continue
            if connects or self.deduper.shown:
                self.deduper.reconnected(strict=tail < MAX_TAIL)
            connects += 1
            full_tail = False
            if running_said != src.label:
                running_said = src.label
                yield StreamState("running", detail=src.label)
            clean = idle = short = progressed = False
            next_check = time.monotonic() + read_timeout
            try:
                for raw in resp.iter_lines(chunk_size=65536):
                    if self.system and follow and time.monotonic() > next_check:
                        # an event stream outlives the execution: end with it
                        next_check = time.monotonic() + read_timeout
                        done = self.finished()
                        if done is not None:
                            self.ended, self.complete = done, True
                            return
                    rec = self.parse(raw)
                    if rec is None or not self.deduper.accept(rec.timestamp, rec.text):
                        if self.deduper.no_overlap:  # the short tail did not reach the last line shown
                            short = True
                            break
                        continue
                    if self.deduper.gap is not None:
                        yield from self.fill_gap()
                    if not progressed and reconnect_away is not None:
                        self.pace.learned(tail, self.deduper.dropped - dropped_before, reconnect_away)
                    failures, stalls, progressed = 0, 0, True
                    backoff.reset()
                    self.pace.arrived(micros(rec.timestamp))
                    yield self.line(rec.timestamp, rec.text, src.label)
                clean = True
            except Exception as exc:  # noqa: BLE001 - a response closed under a read raises whatever it raises
                if self.aborted.is_set():
                    return
                if not isinstance(exc, _stream_errors()):
                    raise
                idle = _is_read_timeout(exc)
            finally:
                self._resp = None
                resp.close()
            if self.aborted.is_set():
                return
            if short:
                widen = True  # ask again at once, for more
                continue
            self.complete = clean
            if not follow:
                if clean or failures >= 3:
                    self.ended = self.finished()
                    return
                failures += 1  # a snapshot cut short: read it again, the dedupe drops the overlap
                continue
            if clean or idle:
                # a clean end: the container exited (or the service closed); idle: re-check the run
                src = None
                if clean:
                    backoff.wait()
                elif self.deduper.shown:
                    shrink = 5  # connected all along: nothing was missed, a short overlap will do
                continue
            yield StreamState("reconnecting", detail="the log stream dropped; reconnecting")
            known = self.deduper.dropped - dropped_before
            stalls += not progressed
            if not progressed and known and tail < MAX_TAIL and self.deduper.shown and stalls <= 3:
                # only known lines came before the drop: at most tail - known were new then;
                # ask for that plus what was written since, so the replay gets past them
                shrink = self.pace.tail(time.monotonic() - connected_at, base=max(0, tail - known))
                continue
            if not progressed and self.deduper.shown:
                # stalled: the connection keeps dropping before it gets past known lines
                caught = 0
                for event in self.catch_up(src.label):
                    caught += 1
                    yield event
                if caught:
                    stalls = 0
                    continue
            if not progressed:
                src = None  # nothing came through: re-check the run and its replica, and wait
                failures += 1
                backoff.wait()

    def before_first_connect(self) -> Iterator[object]:
        return iter(())

    def catch_up(self, label: str) -> Iterator[LogLine]:
        """What Log Analytics has of this replica after the last shown line (the dedupe drops the
        overlap); the stream then only needs a short tail from there."""
        lo = parse_timestamp(self.deduper.last_ts) if self.deduper.last_ts else None
        if lo is None:
            return
        try:
            rows = self.history((lo - timedelta(seconds=1), datetime.now(timezone.utc) + timedelta(minutes=5)))
        except (OperationFailed, InputError):
            return
        self.deduper.reconnected()
        for ts, text, source in rows:
            if source == label and self.deduper.accept(ts, text):
                self.pace.arrived(None)
                yield self.line(ts, text, source)
        self.deduper.gap = None  # rows newer than the last line but not after it: nothing to fill from

    def fill_gap(self) -> Iterator[object]:
        after, before = self.deduper.gap
        lo = parse_timestamp(after) if isinstance(after, str) else None
        hi = parse_timestamp(before) if isinstance(before, str) else None
        rows: list = []
        if lo and hi:
            try:
                rows = [(ts, text) for ts, text, _ in self.history((lo - timedelta(seconds=1), hi + timedelta(seconds=1)))]
            except (OperationFailed, InputError):
                rows = []
        missing = self.deduper.fill_gap(rows)
        for ts, text in missing:
            yield self.line(ts, text, "log-analytics")
        yield StreamState("gap", detail=(
            f"more than {MAX_TAIL} lines were written while the stream was reconnecting; "
            + (f"{len(missing)} of them came from Log Analytics" if missing else
               f"lines between {after} and {before} may be missing until Log Analytics has them "
               "(see `ftstudio logs --no-follow` later)")))


# -- jobs ------------------------------------------------------------------------------------------------
class _JobLogs(_Reader):
    def __init__(self, backend, system: bool, execution: Optional[str]):
        super().__init__(backend, False, system)
        self.requested = execution
        self.execution: Optional[Execution] = None
        self._endpoint: Optional[str] = None

    def _raw(self, method: str, path: str, what: str) -> dict:
        from azure.core.rest import HttpRequest

        resp = call(what, self.client.send_request,
                    HttpRequest(method, path, params={"api-version": JOBS_PREVIEW_API}), t=self.t)
        if resp.status_code == 404:
            return {}
        if resp.status_code >= 400:
            raise OperationFailed(f"Could not {what}: HTTP {resp.status_code}.")
        try:
            return resp.json() or {}
        except ValueError:
            return {}

    # -- execution -------------------------------------------------------------------------------------
    def _read_execution(self, name: str) -> Execution:
        from infra.azure.jobs import to_execution

        missing = InputError(f"Job {self.t.name} has no execution named {name}.", field="--execution",
                             fix="see `ftstudio status` for execution names")
        item = call(f"read execution {name}", self.client.job_execution, self.t.resource_group, self.t.name, name,
                    not_found=missing)
        return to_execution(item.as_dict(), {})

    def _pick_execution(self) -> Execution:
        """The named execution, else the running one, else the newest (as `ftstudio status` shows)."""
        if self.requested:
            return self._read_execution(self.requested)
        from infra.azure.jobs import to_execution

        what = f"list the executions of the {self.t.label}"
        items = [to_execution(x.as_dict(), {}) for x in
                 call(what, lambda: list(self.client.jobs_executions.list(self.t.resource_group, self.t.name)), t=self.t)]
        if not items:
            raise OperationFailed(f"Job {self.t.name} has no execution yet.", fix="start one with `ftstudio run`",
                                  code="NoExecution")
        items.sort(key=lambda e: (e.start_time or "9999", e.name), reverse=True)
        return next((e for e in items if e.status in RUNNING_STATES), items[0])

    def finished(self) -> Optional[Execution]:
        self.execution = self._read_execution(self.execution.name)
        return self.execution if self.execution.status in TERMINAL_STATES else None

    # -- live stream --------------------------------------------------------------------------------
    def _token(self) -> str:
        token = ((self._raw("POST", f"{self.t.resource_id}/getAuthToken",
                            f"get a log stream token for the {self.t.label}").get("properties")) or {}).get("token")
        if not token:
            raise _Unavailable(401, "no token")
        return token

    def _event_endpoint(self) -> str:
        if self._endpoint is None:
            endpoint = (read_resource(self.backend, self.t).get("properties") or {}).get("eventStreamEndpoint") or ""
            if "/subscriptions/" not in endpoint:
                raise _Unavailable(404, "no eventStreamEndpoint yet")
            self._endpoint = endpoint
        return self._endpoint

    def source(self) -> Optional[Source]:
        name = self.execution.name
        if self.system:  # events flow from the start (scheduling, image pulls): no waiting
            return Source(self._event_endpoint(), self._token(), name, "events")
        replicas = self._raw("GET", f"{self.t.resource_id}/executions/{name}/replicas",
                             f"list the replicas of execution {name}").get("value") or []
        started = [r for r in replicas if _replica_started(r)]
        if not started:
            return None
        # the running attempt, else the newest (replica retries start new replicas)
        replica = next((r for r in reversed(started) if _replica_running(r)), started[-1])
        containers = (replica.get("properties") or {}).get("containers") or []
        container = containers[0] if containers else {}
        url = container.get("logStreamEndpoint")
        if not url:
            endpoint = self._event_endpoint()
            base = endpoint[: endpoint.index("/subscriptions/")]
            url = (f"{base}/subscriptions/{self.t.subscription_id}/resourceGroups/{self.t.resource_group}/jobs/"
                   f"{self.t.name}/executions/{name}/replicas/{replica['name']}/containers/"
                   f"{container.get('name') or self._template_container()}/logstream")
        return Source(url, self._token(), replica["name"], replica["name"])

    def _template_container(self) -> str:
        job = read_resource(self.backend, self.t)
        containers = ((job.get("properties") or {}).get("template") or {}).get("containers") or []
        return containers[0]["name"] if containers else self.t.name

    def before_first_connect(self) -> Iterator[object]:
        """A run is followed from its first line: what it printed before we connected comes from
        Log Analytics (the stream's tail holds only 300 lines), and the tail is deduped over it."""
        if self.system or self.deduper.shown or self.since is not None:
            return
        try:
            rows = self.history(self._timespan(None))
        except (OperationFailed, InputError):
            return  # no workspace: the tail is all there is
        for ts, text, label in rows:
            if self.deduper.accept(ts, text):
                yield self.line(ts, text, label)

    def wants_event(self, event: dict) -> bool:
        name = event.get("ExecutionName") or event.get("JobExecutionName")
        return not name or name == self.execution.name

    # -- history ----------------------------------------------------------------------------------------
    def kql(self) -> str:
        job = _kql_name(self.t.name, "ACA_JOB_NAME")
        ex = _kql_name(self.execution.name, "--execution")
        if self.system:
            return (f"{SYSTEM_TABLE} | where JobName_s == '{job}' and ExecutionName_s == '{ex}'"
                    " | project TimeGenerated, Log_s, Reason_s, Type_s, ReplicaName_s | order by TimeGenerated asc")
        return (f"{CONSOLE_TABLE} | where ContainerJobName_s == '{job}' and ContainerGroupName_s startswith '{ex}'"
                " | project TimeGenerated, Log_s, ContainerGroupName_s | order by TimeGenerated asc")

    def _timespan(self, since: Optional[float]):
        now = datetime.now(timezone.utc)
        if since is not None:
            return (now - timedelta(seconds=since), now + timedelta(minutes=5))
        start = parse_timestamp(self.execution.start_time) or now - timedelta(days=30)
        end = parse_timestamp(self.execution.end_time) or now
        return (start - timedelta(minutes=5), max(end, now) + timedelta(minutes=5))

    # -- the whole story ----------------------------------------------------------------------------
    def run(self, *, follow: bool, since: Optional[float]) -> Iterator[object]:
        self.since = since
        self.execution = self._pick_execution()
        self.redactor = Redactor(secret_values(self.backend, self.t))
        ex = self.execution
        if since is not None or ex.status in TERMINAL_STATES:
            # history first; a live stream after it replays its tail over these lines (deduped)
            for ts, text, label in self.history(self._timespan(since)):
                if self.deduper.accept(ts, text):
                    yield self.line(ts, text, label)
            if ex.status in TERMINAL_STATES or not follow:
                if ex.status in TERMINAL_STATES:
                    if not self.deduper.shown:
                        yield StreamState("empty", detail=f"Log Analytics has no {self.stream} lines of execution "
                                          f"{ex.name} (yet: it lags a few minutes behind a run)")
                    yield _ended(ex)
                return
        waiting = f"execution {ex.name} is {ex.status.lower()}: waiting for its replica to start"
        yield from self.follow_live(follow=follow, waiting_detail=waiting)
        if self.ended is not None:
            if not self.complete:
                yield from self.after_stream()
            yield _ended(self.ended)

    def after_stream(self) -> Iterator[object]:
        """The run ended while the stream was down: its last lines are only in Log Analytics now.
        Replay the history over what was shown (the dedupe drops the overlap)."""
        try:
            rows = self.history(self._timespan(None))
        except (OperationFailed, InputError):
            rows = []
        last = self.deduper.last_us
        reached = last is None or any((micros(ts) or 0) >= last for ts, _, _ in rows)
        self.deduper.reconnected()
        for ts, text, label in rows:
            if self.deduper.accept(ts, text):
                yield self.line(ts, text, label)
        if not reached:
            yield StreamState("gap", detail=f"the stream closed before the run ended and Log Analytics does not have "
                              f"the lines after {self.deduper.last_ts} yet; run `ftstudio logs --execution "
                              f"{self.execution.name} --no-follow` in a few minutes for the rest")


def _replica_started(replica: dict) -> bool:
    containers = (replica.get("properties") or {}).get("containers") or []
    states = {str(c.get("runningState") or "").lower() for c in containers}
    # containers still waiting (image pull) have no log yet
    return bool(states - {"waiting", "pending", ""}) or not containers or states == {""}


def _replica_running(replica: dict) -> bool:
    containers = (replica.get("properties") or {}).get("containers") or []
    return any(str(c.get("runningState") or "").lower() == "running" for c in containers)


def _ended(ex: Execution) -> StreamState:
    detail = f"execution {ex.name} {ex.status.lower()}"
    if ex.exit_code is not None:
        detail += f" (exit code {ex.exit_code})"
    if ex.reason and ex.status != "Succeeded" and ex.reason.lower() != ex.status.lower():
        detail += f": {ex.reason}"
    return StreamState("ended", detail=detail, status=ex.status, exit_code=ex.exit_code)


# -- the inference app ----------------------------------------------------------------------------------
class _AppLogs(_Reader):
    def __init__(self, backend, system: bool):
        super().__init__(backend, True, system)

    def _token(self) -> str:
        tok = call(f"get a log stream token for the {self.t.label}", self.client.container_apps.get_auth_token,
                   self.t.resource_group, self.t.name, t=self.t)
        token = (tok.as_dict().get("properties") or {}).get("token")
        if not token:
            raise _Unavailable(401, "no token")
        return token

    def source(self) -> Optional[Source]:
        props = read_resource(self.backend, self.t).get("properties") or {}
        if self.system:
            endpoint = props.get("eventStreamEndpoint")
            return Source(endpoint, self._token(), self.t.name, "events") if endpoint else None
        revision = props.get("latestRevisionName")
        if not revision:
            return None
        result = call(f"list the replicas of revision {revision}",
                      self.client.container_apps_revision_replicas.list_replicas,
                      self.t.resource_group, self.t.name, revision, t=self.t)
        replicas = [r.as_dict() for r in (getattr(result, "value", None) or [])]
        replica = next((r for r in replicas if _replica_started(r)), None)
        if replica is None:
            return None
        containers = (replica.get("properties") or {}).get("containers") or []
        container = containers[0] if containers else {}
        url = container.get("logStreamEndpoint")
        if not url:
            endpoint = props.get("eventStreamEndpoint") or ""
            if "/subscriptions/" not in endpoint:
                return None
            cname = container.get("name") or (((props.get("template") or {}).get("containers") or [{}])[0].get("name"))
            url = (f"{endpoint[: endpoint.index('/subscriptions/')]}/subscriptions/{self.t.subscription_id}/resourceGroups/"
                   f"{self.t.resource_group}/containerApps/{self.t.name}/revisions/{revision}/replicas/"
                   f"{replica['name']}/containers/{cname}/logstream")
        return Source(url, self._token(), replica["name"], replica["name"])

    def kql(self) -> str:
        app = _kql_name(self.t.name, "ACA_APP_NAME")
        if self.system:
            return (f"{SYSTEM_TABLE} | where ContainerAppName_s == '{app}'"
                    " | project TimeGenerated, Log_s, Reason_s, Type_s, RevisionName_s, ReplicaName_s"
                    " | order by TimeGenerated asc")
        return (f"{CONSOLE_TABLE} | where ContainerAppName_s == '{app}'"
                " | project TimeGenerated, Log_s, ContainerGroupName_s, RevisionName_s | order by TimeGenerated asc")

    def run(self, *, follow: bool, since: Optional[float]) -> Iterator[object]:
        self.redactor = Redactor(secret_values(self.backend, self.t))
        if since is not None:
            now = datetime.now(timezone.utc)
            for ts, text, label in self.history((now - timedelta(seconds=since), now + timedelta(minutes=5))):
                if self.deduper.accept(ts, text):
                    yield self.line(ts, text, label)
            if not follow:
                return
        yield from self.follow_live(
            follow=follow, waiting_detail=f"the {self.t.label} has no running replica (scaled to zero, or starting)")
