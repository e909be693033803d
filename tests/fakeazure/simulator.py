"""Scriptable job executions and container-app revisions.

Each execution runs on a background thread: Processing (queued, no replica) -> Running (a
replica prints the scripted lines, one every ``line_interval`` s) -> Succeeded/Failed, or
Stopped. Lines get their timestamp when printed and are kept (log streams replay them with the
same timestamps) and ingested into the environment's Log Analytics workspace. A revision
becomes ready after ``ready_after`` s, or never (crash-looping with system events).
"""
from __future__ import annotations

import copy
import fnmatch
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, Union

from . import util
from .state import GPU_TYPES, LogRecord, write_share_file

CONSOLE = "ContainerAppConsoleLogs_CL"
SYSTEM = "ContainerAppSystemLogs_CL"


@dataclass
class Replica:
    name: str
    containers: list[str]
    created: datetime = field(default_factory=util.now)
    logs: dict[str, list[LogRecord]] = field(default_factory=dict)
    running_state: str = "Running"  # Running | NotRunning | Unknown
    ready: bool = False
    ended: bool = False
    restart_count: int = 0

    def __post_init__(self):
        for c in self.containers:
            self.logs.setdefault(c, [])


@dataclass
class Execution:
    name: str
    job_id: str
    job_name: str
    sub: str
    rg: str
    env_id: str
    template: dict
    env: dict
    profile_type: Optional[str]
    status: str = "Processing"
    start: datetime = field(default_factory=util.now)
    end: Optional[datetime] = None
    replicas: list[Replica] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    reason: Optional[str] = None
    message: Optional[str] = None
    exit_code: Optional[int] = None
    stop: threading.Event = field(default_factory=threading.Event)
    generation: int = 0

    @property
    def finished(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Stopped")


@dataclass
class JobScript:
    lines: Union[list, Callable[[dict], list]] = field(default_factory=lambda: ["Starting", "Done"])
    line_interval: float = 0.01
    queued_for: float = 0.0
    exit_code: int = 0
    reason: Optional[str] = None
    message: Optional[str] = None
    writes: dict = field(default_factory=dict)
    times: Optional[int] = None
    used: int = 0


@dataclass
class Revision:
    name: str
    app_id: str
    app_name: str
    sub: str
    rg: str
    env_id: str
    template: dict
    suffix: str
    profile_type: Optional[str]
    created: datetime = field(default_factory=util.now)
    active: bool = True
    ready: bool = False
    failed: bool = False
    replicas: list[Replica] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    fqdn: str = ""
    generation: int = 0


@dataclass
class AppScript:
    ready_after: float = 0.05
    ready: bool = True
    lines: list = field(default_factory=list)
    line_interval: float = 0.01
    events: list = field(default_factory=list)  # [(reason, message)] or [reason]
    times: Optional[int] = None
    used: int = 0


def _pick(scripts: list[tuple[str, Any]], name: str):
    for pattern, s in reversed(scripts):
        if (pattern == name or pattern == "*" or fnmatch.fnmatch(name.lower(), pattern.lower())) and \
                (s.times is None or s.used < s.times):
            return s
    return None


class _Base:
    def __init__(self, fake):
        self.fake = fake
        self.state = fake.state
        self.threads: list[threading.Thread] = []

    def _wait(self, seconds: float, stop: Optional[threading.Event], gen: int) -> bool:
        """Sleep; False when stopped or the fake was reset."""
        if seconds > 0:
            if stop is not None:
                if stop.wait(seconds):
                    return False
            else:
                threading.Event().wait(seconds)
        return self.state.generation == gen and not (stop is not None and stop.is_set())

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="fakeazure-sim")
        self.threads = [x for x in self.threads if x.is_alive()]
        self.threads.append(t)
        t.start()

    def customer_id(self, env_id: str) -> Optional[str]:
        r = self.state.resource(env_id)
        return r.private.get("customerId") if r is not None else None

    def env_name(self, env_id: str) -> str:
        return env_id.rstrip("/").rsplit("/", 1)[-1]


class JobSimulator(_Base):
    def __init__(self, fake):
        super().__init__(fake)
        self.scripts: list[tuple[str, JobScript]] = []
        self.reset()

    def reset(self) -> None:
        self.scripts = []
        if self.fake.standalone:
            self.scripts.append(("*", standalone_job_script()))

    def script(self, job: str = "*", lines: Union[list, Callable[[dict], list], None] = None, line_interval: float = 0.01,
               queued_for: float = 0.0, exit_code: int = 0, reason: Optional[str] = None, writes: Optional[dict] = None,
               times: Optional[int] = None, message: Optional[str] = None) -> JobScript:
        """What later executions of ``job`` (a name or glob, '*' = every job) do. ``lines``: strings
        (stdout) or ("stderr", text) tuples, or a callable(env) -> lines. ``writes``: {path: bytes}
        written to the job's mounted share before it ends; '{RUN_ID}' (any env var) is filled in.
        ``times``: only the next N executions use this script (default: all)."""
        s = JobScript(list(lines) if isinstance(lines, (list, tuple)) else (lines or ["Starting", "Done"]),
                      line_interval, queued_for, exit_code, reason, message, dict(writes or {}), times)
        with self.state.lock:
            self.scripts.append((job, s))
        return s

    def stop_all(self) -> None:
        with self.state.lock:
            for execs in self.state.executions.values():
                for e in execs:
                    e.stop.set()

    # -- called by arm_jobs under the state lock ------------------------------------------------------
    def start(self, ex: Execution, job_body: dict) -> None:
        script = _pick(self.scripts, ex.job_name) or JobScript()
        script.used += 1
        ex.generation = self.state.generation
        self.event(ex, None, "Normal", "SuccessfulCreate", f"Created execution '{ex.name}'")
        self._spawn(self._run, ex, script, copy.deepcopy(job_body))

    def event(self, ex: Execution, replica: Optional[str], type_: str, reason: str, msg: str) -> None:
        ev = {"ts": util.now(), "type": type_, "reason": reason, "msg": msg, "job": ex.job_name,
              "execution": ex.name, "replica": replica or ""}
        ex.events.append(ev)
        self.state.ingest(self.customer_id(ex.env_id), SYSTEM, {
            "TimeGenerated": ev["ts"], "Log_s": msg, "Reason_s": reason, "Type_s": type_, "JobName_s": ex.job_name,
            "ExecutionName_s": ex.name, "ReplicaName_s": replica or "", "ContainerAppName_s": "", "RevisionName_s": "",
            "EnvironmentName_s": self.env_name(ex.env_id), "_timestamp_d": ev["ts"].timestamp()})
        self.state.cond.notify_all()

    def _print(self, ex: Execution, rep: Replica, container: str, text: str, stream: str = "stdout") -> None:
        rec = LogRecord(util.now(), text, stream)
        rep.logs[container].append(rec)
        image = next((c.get("image", "") for c in ex.template.get("containers", []) if c.get("name") == container), "")
        self.state.ingest(self.customer_id(ex.env_id), CONSOLE, {
            "TimeGenerated": rec.ts, "Log_s": text, "ContainerJobName_s": ex.job_name, "ContainerAppName_s": "",
            "ContainerGroupName_s": rep.name, "ContainerName_s": container, "RevisionName_s": "", "Stream_s": stream,
            "ContainerImage_s": image, "ContainerId_s": util.rand_lower(16), "EnvironmentName_s": self.env_name(ex.env_id),
            "_timestamp_d": rec.ts.timestamp()})
        self.state.cond.notify_all()

    def _run(self, ex: Execution, script: JobScript, job_body: dict) -> None:
        gen, lock = ex.generation, self.state.lock
        cfg = job_body.get("properties", {}).get("configuration", {})
        retries = int(cfg.get("replicaRetryLimit") or 0)
        timeout = float(cfg.get("replicaTimeout") or 1800)
        if not self._wait(script.queued_for, ex.stop, gen):
            return self._finish_stopped(ex, gen)
        containers = [c["name"] for c in ex.template.get("containers", [])] or [ex.job_name]
        lines = script.lines(dict(ex.env)) if callable(script.lines) else script.lines
        exit_code = script.exit_code
        for attempt in range(retries + 1):
            with lock:
                if self.state.generation != gen:
                    return
                rep = Replica(f"{ex.name}-{util.rand_lower(5)}", containers)
                ex.replicas.append(rep)
                ex.status = "Running"
                self.event(ex, rep.name, "Normal", "AssigningReplica", f"Replica '{rep.name}' has been scheduled to run on a node.")
                for c in ex.template.get("containers", []):
                    self.event(ex, rep.name, "Normal", "PulledImage", f"Successfully pulled image '{c.get('image')}'")
                    self.event(ex, rep.name, "Normal", "ContainerCreated", f"Created container '{c.get('name')}'")
                    self.event(ex, rep.name, "Normal", "ContainerStarted", f"Started container '{c.get('name')}'")
                rep.ready = True
            started = util.now()
            timed_out = False
            for i, line in enumerate(lines):
                if i and not self._wait(script.line_interval, ex.stop, gen):
                    return self._finish_stopped(ex, gen)
                if self.state.generation != gen:
                    return
                if (util.now() - started).total_seconds() > timeout:
                    timed_out = True
                    break
                stream, text = (line if isinstance(line, tuple) else ("stdout", line))
                with lock:
                    self._print(ex, rep, containers[0], str(text), stream)
            if ex.stop.is_set():
                return self._finish_stopped(ex, gen)
            with lock:
                if self.state.generation != gen:
                    return
                code = 137 if timed_out else exit_code
                rep.ended, rep.running_state, rep.ready = True, "NotRunning", False
                self.event(ex, rep.name, "Warning" if code else "Normal", "ContainerTerminated",
                           f"Container '{containers[0]}' was terminated with exit code '{code}' and reason "
                           f"'{'DeadlineExceeded' if timed_out else 'ProcessExited'}'")
                ex.exit_code = code
                if code == 0 or timed_out or attempt == retries:
                    break
        with lock:
            if self.state.generation != gen:
                return
            self._write_outputs(ex, script, job_body)
            ex.end = util.now()
            if ex.exit_code == 0:
                ex.status = "Succeeded"
                self.event(ex, None, "Normal", "Completed", f"Execution '{ex.name}' has successfully completed")
            else:
                ex.status = "Failed"
                ex.reason = "DeadlineExceeded" if ex.exit_code == 137 and script.exit_code != 137 else (script.reason or "BackoffLimitExceeded")
                ex.message = script.message or ("Job was active longer than specified deadline" if ex.reason == "DeadlineExceeded"
                                                else "Job has reached the specified backoff limit")
                self.event(ex, None, "Warning", ex.reason, ex.message)
            self.state.cond.notify_all()

    def _finish_stopped(self, ex: Execution, gen: int) -> None:
        with self.state.lock:
            if self.state.generation != gen or ex.finished:
                return
            ex.status = "Stopped"
            ex.end = util.now()
            for rep in ex.replicas:
                rep.ended, rep.running_state, rep.ready = True, "NotRunning", False
            self.event(ex, None, "Normal", "ExecutionStopped", f"Execution '{ex.name}' was stopped")
            self.state.cond.notify_all()

    def _write_outputs(self, ex: Execution, script: JobScript, job_body: dict) -> None:
        if not script.writes:
            return
        target = self.fake.job_share(job_body)
        if target is None:
            return
        (acct, share), mount = target
        fs = self.state.shares.get((acct.lower(), share.lower()))
        if fs is None:
            return
        for path, data in script.writes.items():
            p = _fill(path, ex.env)
            if mount and p.startswith(mount.rstrip("/") + "/"):
                p = p[len(mount.rstrip("/")) + 1:]
            write_share_file(fs, p, data if isinstance(data, (bytes, bytearray)) else str(data).encode())


def _fill(template: str, env: dict) -> str:
    class _Env(dict):
        def __missing__(self, key):
            return "{" + key + "}"

    return template.format_map(_Env(env))


def standalone_job_script() -> JobScript:
    lines = ["Installing requirements...", "Loading base model...", "step 10 | loss 2.31", "step 20 | loss 1.87",
             "step 30 | loss 1.52", "Saved adapter to outputs/{RUN_ID}"]
    return JobScript(lines=lambda env: [l.format_map(_DefaultEnv(env)) for l in lines], line_interval=0.5, queued_for=2.0,
                     writes={"outputs/{RUN_ID}/adapter_model.safetensors": b"\x00" * 64,
                             "outputs/{RUN_ID}/adapter_config.json": b'{"r": 8, "lora_alpha": 16}',
                             "outputs/{RUN_ID}/metrics.json": b'{"status": "succeeded"}'})


class _DefaultEnv(dict):
    def __missing__(self, key):
        return "{" + key + "}"


class AppSimulator(_Base):
    def __init__(self, fake):
        super().__init__(fake)
        self.scripts: list[tuple[str, AppScript]] = []

    def reset(self) -> None:
        self.scripts = []

    def script(self, app: str = "*", ready_after: float = 0.05, ready: bool = True, lines: Optional[list] = None,
               events: Optional[list] = None, line_interval: float = 0.01, times: Optional[int] = None) -> AppScript:
        """What later revisions of ``app`` do: become ready after ``ready_after`` s (or never, with
        ``events`` such as [("ContainerCrashing", "...")] / ["ProbeFailed"]), printing ``lines``."""
        s = AppScript(ready_after, ready, list(lines or []), line_interval, list(events or []), times)
        with self.state.lock:
            self.scripts.append((app, s))
        return s

    def event(self, rev: Revision, replica: Optional[str], type_: str, reason: str, msg: str) -> None:
        ev = {"ts": util.now(), "type": type_, "reason": reason, "msg": msg, "app": rev.app_name,
              "revision": rev.name, "replica": replica or ""}
        rev.events.append(ev)
        self.state.ingest(self.customer_id(rev.env_id), SYSTEM, {
            "TimeGenerated": ev["ts"], "Log_s": msg, "Reason_s": reason, "Type_s": type_, "JobName_s": "",
            "ExecutionName_s": "", "ReplicaName_s": replica or "", "ContainerAppName_s": rev.app_name,
            "RevisionName_s": rev.name, "EnvironmentName_s": self.env_name(rev.env_id), "_timestamp_d": ev["ts"].timestamp()})
        self.state.cond.notify_all()

    def print_line(self, rev: Revision, rep: Replica, container: str, text: str, stream: str = "stdout") -> None:
        rec = LogRecord(util.now(), text, stream)
        rep.logs.setdefault(container, []).append(rec)
        image = next((c.get("image", "") for c in rev.template.get("containers", []) if c.get("name") == container), "")
        self.state.ingest(self.customer_id(rev.env_id), CONSOLE, {
            "TimeGenerated": rec.ts, "Log_s": text, "ContainerJobName_s": "", "ContainerAppName_s": rev.app_name,
            "ContainerGroupName_s": rep.name, "ContainerName_s": container, "RevisionName_s": rev.name, "Stream_s": stream,
            "ContainerImage_s": image, "ContainerId_s": util.rand_lower(16), "EnvironmentName_s": self.env_name(rev.env_id),
            "_timestamp_d": rec.ts.timestamp()})
        self.state.cond.notify_all()

    def start(self, rev: Revision) -> None:
        """Called under the lock when a revision is created (or restarted)."""
        script = _pick(self.scripts, rev.app_name) or AppScript()
        script.used += 1
        rev.generation = self.state.generation
        containers = [c["name"] for c in rev.template.get("containers", [])]
        rep = Replica(f"{rev.name}-{util.rand_lower(9)}-{util.rand_lower(5)}", containers)
        rev.replicas = [rep]
        self.event(rev, None, "Normal", "RevisionCreation", f"Creating new revision '{rev.name}'")
        self.event(rev, rep.name, "Normal", "AssigningReplica", f"Replica '{rep.name}' has been scheduled to run on a node.")
        self._spawn(self._run, rev, rep, script)

    def _run(self, rev: Revision, rep: Replica, script: AppScript) -> None:
        gen, lock = rev.generation, self.state.lock
        containers = rep.containers or ["app"]
        with lock:
            for c in rev.template.get("containers", []):
                self.event(rev, rep.name, "Normal", "PulledImage", f"Successfully pulled image '{c.get('image')}'")
                self.event(rev, rep.name, "Normal", "ContainerStarted", f"Started container '{c.get('name')}'")
        for i, line in enumerate(script.lines):
            if i and not self._wait(script.line_interval, None, gen):
                return
            if self.state.generation != gen or rep.ended:
                return
            stream, text = (line if isinstance(line, tuple) else ("stdout", line))
            with lock:
                self.print_line(rev, rep, containers[0], str(text), stream)
        if not self._wait(script.ready_after, None, gen):
            return
        with lock:
            if self.state.generation != gen or rep.ended:
                return
            if script.ready:
                rev.ready, rep.ready = True, True
                self.event(rev, rep.name, "Normal", "RevisionReady", f"Revision '{rev.name}' is ready")
                self.fake.on_revision_ready(rev)
            else:
                rev.failed = True
                rep.running_state = "Running"
                rep.restart_count += 1
                for ev in script.events or [("ContainerCrashing", None)]:
                    reason, msg = (ev if isinstance(ev, tuple) else (ev, None))
                    self.event(rev, rep.name, "Warning", reason,
                               msg or {"ContainerCrashing": f"Container '{containers[0]}' was terminated with exit code '1' and reason 'ProcessExited'",
                                       "ProbeFailed": "Probe of StartUp failed with status code: 1"}.get(reason, reason))
            self.state.cond.notify_all()


def is_gpu(profile_type: Optional[str]) -> Optional[str]:
    spec = GPU_TYPES.get(profile_type or "")
    return spec[0] if spec else None
