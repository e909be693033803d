"""Local executions: start a script under the supervisor (detached), read their status, stop them.

A run is a folder ``runs/<execution>/`` with ``spec.json``, ``status.json``, ``log.jsonl`` and
``events.jsonl`` (see supervisor.py). The local inference server is a run too (``inference/``).
"""
from __future__ import annotations

import json
import os
import re
import secrets as _random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from core import run_rules
from core.errors import OperationFailed
from infra.local import supervisor as sv
from core.models import TERMINAL_STATES, Execution

START_TIMEOUT_S = 20.0
STOP_GRACE_ENV = "FTSTUDIO_STOP_GRACE_S"
DEFAULT_STOP_GRACE_S = 10.0
NEVER_STARTED_S = 60.0
POLL_S = 0.1


def slug(project_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-")[:24].strip("-") or "run"


def execution_name(project_name: str, taken: set[str]) -> str:
    """``<project>-<7 lowercase chars>``, as Azure names job executions."""
    prefix = slug(project_name)
    alphabet = string.ascii_lowercase + string.digits
    while True:
        name = f"{prefix}-{''.join(_random.choice(alphabet) for _ in range(7))}"
        if name not in taken:
            return name


def resume_run_id(resume: str, history: list[Execution]) -> str:
    """The run rule; every local run stays in ``runs/``, so a run id it does not hold is a typo."""
    return run_rules.resume_run_id(resume, history, complete_history_of="local")


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(POLL_S)
    return predicate()


def status_of(run_dir: Path) -> dict:
    """status.json, corrected when its supervisor died without recording the end."""
    st = sv.read_status(run_dir)
    state = st.get("status")
    if state in TERMINAL_STATES or not st:
        return st
    sup = st.get("supervisor_pid")
    if state == "Queued" and not sup:
        created = st.get("created_epoch") or 0
        if time.time() - created < NEVER_STARTED_S:
            return st
        reason = "the run never started"
    elif sv.pid_alive(sup) or sv.group_alive(st.get("pgid")):
        return st
    else:
        st = sv.read_status(run_dir)  # it may have finished between the two reads
        if st.get("status") in TERMINAL_STATES:
            return st
        reason = "the local supervisor ended unexpectedly"
    err = run_dir / sv.SUPERVISOR_ERR
    if err.is_file() and err.stat().st_size:
        reason += f" (see {err})"
    return sv.update_status(run_dir, status="Failed", end_time=st.get("end_time") or sv.now_iso(), reason=reason)


def to_execution(run_dir: Path, st: Optional[dict] = None) -> Execution:
    st = st if st is not None else status_of(run_dir)
    return Execution(
        name=st.get("name") or run_dir.name,
        status=st.get("status") or "Unknown",
        run_id=st.get("run_id"),
        start_time=st.get("start_time") or st.get("created"),
        end_time=st.get("end_time"),
        exit_code=st.get("exit_code"),
        reason=st.get("reason"),
        links={"logs": str(run_dir / sv.LOG)},
    )


def start(run_dir: Path, *, name: str, run_id: Optional[str], script: str, cwd: Path, env: dict[str, str],
          redact_env: list[str], kind: str = "job") -> dict:
    """Write the spec, start the supervisor detached, wait until the job is really running."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (sv.STATUS, sv.LOG, sv.EVENTS, sv.STOP_REQUESTED, sv.SUPERVISOR_ERR):
        try:
            (run_dir / stale).unlink()
        except FileNotFoundError:
            pass
    (run_dir / sv.SPEC).write_text(json.dumps({"command": script, "cwd": str(cwd), "redact_env": redact_env,
                                               "kind": kind}, indent=2), encoding="utf-8")
    sv.write_status(run_dir, {"name": name, "run_id": run_id, "kind": kind, "status": "Queued",
                              "created": sv.now_iso(), "created_epoch": time.time()})
    with open(run_dir / sv.SUPERVISOR_ERR, "ab") as err:
        launcher = subprocess.Popen(
            [sys.executable, "-I", str(Path(sv.__file__)), str(run_dir)],
            env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,  # Ctrl-C in the terminal never reaches the run
        )
    launcher.wait()  # returns at once: the supervisor forks itself away
    if not _wait(lambda: sv.read_status(run_dir).get("status") != "Queued", START_TIMEOUT_S):
        raise OperationFailed(f"The local run {name} did not start within {START_TIMEOUT_S:.0f} s.",
                              fix=f"see {run_dir / sv.SUPERVISOR_ERR}")
    return status_of(run_dir)


def stop_grace() -> float:
    try:
        return float(os.environ.get(STOP_GRACE_ENV, DEFAULT_STOP_GRACE_S))
    except ValueError:
        return DEFAULT_STOP_GRACE_S


def stop(run_dir: Path, *, grace: Optional[float] = None) -> dict:
    """End a run's whole process group: SIGTERM, then SIGKILL after the grace period; status Stopped."""
    grace = stop_grace() if grace is None else grace
    st = status_of(run_dir)
    if st.get("status") in TERMINAL_STATES:
        return st
    (run_dir / sv.STOP_REQUESTED).write_text(sv.now_iso(), encoding="utf-8")
    if not st.get("pgid"):  # still Queued: give the supervisor a moment to start the group
        _wait(lambda: sv.read_status(run_dir).get("pgid") or not sv.pid_alive(sv.read_status(run_dir).get("supervisor_pid")), 5.0)
        st = sv.read_status(run_dir)
    pgid = st.get("pgid")
    if pgid:
        _signal_group(pgid, signal.SIGTERM)
        if not _wait(lambda: not sv.group_alive(pgid), grace):
            _signal_group(pgid, signal.SIGKILL)
            _wait(lambda: not sv.group_alive(pgid), 5.0)
    # The supervisor records "Stopped" once its readers drained; if it is gone, record it ourselves.
    _wait(lambda: sv.read_status(run_dir).get("status") in TERMINAL_STATES
          or not sv.pid_alive(sv.read_status(run_dir).get("supervisor_pid")), sv.REAP_GRACE_S + 5.0)
    st = sv.read_status(run_dir)
    if st.get("status") not in TERMINAL_STATES:
        if sv.pid_alive(st.get("supervisor_pid")):
            _signal_pid(st.get("supervisor_pid"), signal.SIGKILL)
        st = sv.update_status(run_dir, status="Stopped", end_time=sv.now_iso(), reason="stopped on request")
    return st


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(int(pgid), sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(int(pid), sig)
    except (ProcessLookupError, PermissionError):
        pass
