"""Logs of a fine-tuning job execution: the replica's live stream while it runs, Log Analytics
before we connected, after it ended, and for ``--since``."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

from core.errors import InputError, OperationFailed
from core.events import StreamState
from core.models import TERMINAL_STATES, Execution
from core.run_rules import current_execution, newest_first
from infra.azure.logs.history import job_kql
from infra.azure.logs.reader import Reader, ended_state
from infra.azure.logs.stream import Source, Unavailable, replica_running, replica_started
from infra.azure.secrets import call, read_resource, secret_values
from infra.logstream import micros, parse_timestamp
from infra.redact import Redactor

JOBS_PREVIEW_API = "2023-11-02-preview"  # jobs getAuthToken / replicas: not in the SDK (§5)


class JobLogs(Reader):
    def __init__(self, backend, system: bool, execution: Optional[str]):
        super().__init__(backend, False, system)
        self.requested = execution
        self.execution: Optional[Execution] = None
        self.since: Optional[float] = None
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
        """The named execution, else the current one (core.run_rules, as `ftstudio status` shows)."""
        if self.requested:
            return self._read_execution(self.requested)
        from infra.azure.jobs import to_execution

        what = f"list the executions of the {self.t.label}"
        items = call(what, lambda: list(self.client.jobs_executions.list(self.t.resource_group, self.t.name)), t=self.t)
        current = current_execution(newest_first(to_execution(x.as_dict(), {}) for x in items))
        if current is None:
            raise OperationFailed(f"Job {self.t.name} has no execution yet.", fix="start one with `ftstudio run`",
                                  code="NoExecution")
        return current

    def finished(self) -> Optional[Execution]:
        self.execution = self._read_execution(self.execution.name)
        return self.execution if self.execution.status in TERMINAL_STATES else None

    # -- live stream --------------------------------------------------------------------------------
    def _token(self) -> str:
        token = ((self._raw("POST", f"{self.t.resource_id}/getAuthToken",
                            f"get a log stream token for the {self.t.label}").get("properties")) or {}).get("token")
        if not token:
            raise Unavailable(401, "no token")
        return token

    def _event_endpoint(self) -> str:
        if self._endpoint is None:
            endpoint = (read_resource(self.backend, self.t).get("properties") or {}).get("eventStreamEndpoint") or ""
            if "/subscriptions/" not in endpoint:
                raise Unavailable(404, "no eventStreamEndpoint yet")
            self._endpoint = endpoint
        return self._endpoint

    def source(self) -> Optional[Source]:
        name = self.execution.name
        if self.system:  # events flow from the start (scheduling, image pulls): no waiting
            return Source(self._event_endpoint(), self._token(), name, "events")
        replicas = self._raw("GET", f"{self.t.resource_id}/executions/{name}/replicas",
                             f"list the replicas of execution {name}").get("value") or []
        started = [r for r in replicas if replica_started(r)]
        if not started:
            return None
        # the running attempt, else the newest (replica retries start new replicas)
        replica = next((r for r in reversed(started) if replica_running(r)), started[-1])
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
        return job_kql(self.t.name, self.execution.name, system=self.system)

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
            yield from self.show_history(self._timespan(since))
            if ex.status in TERMINAL_STATES or not follow:
                if ex.status in TERMINAL_STATES:
                    if not self.deduper.shown:
                        yield StreamState("empty", detail=f"Log Analytics has no {self.stream} lines of execution "
                                          f"{ex.name} (yet: it lags a few minutes behind a run)")
                    yield ended_state(ex)
                return
        waiting = f"execution {ex.name} is {ex.status.lower()}: waiting for its replica to start"
        yield from self.follow_live(follow=follow, waiting_detail=waiting)
        if self.ended is not None:
            if not self.complete:
                yield from self.after_stream()
            yield ended_state(self.ended)

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
