"""The tiny supervisor of a local run: ``python infra/local/supervisor.py RUN_DIR``.

Started detached by the local backend. It daemonizes (so it is nobody's zombie and outlives the
CLI), runs ``spec.json``'s bash script in its OWN session/process group, writes every output line
to ``log.jsonl`` (``{"t": ISO time, "s": "out"|"err", "m": text}``; secrets redacted), a few
lifecycle lines to ``events.jsonl`` (the ``--system`` stream) and keeps ``status.json`` current:
Queued (written by the backend) → Running → Succeeded | Failed (exit code + last stderr line) | Stopped.

Runnable by path (``python -I``): it imports only the standard library and ``infra.redact``, so it
starts fast and never pulls ftstudio's SDKs in.
The status/log helpers here are also the backend's (one reader/writer for these files).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

if __package__ in (None, ""):  # run by path: make `infra` importable (repo root = two folders up)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.jsonio import write_json  # noqa: E402 - after the path fix above
from infra.redact import Redactor  # noqa: E402

SPEC = "spec.json"
STATUS = "status.json"
LOG = "log.jsonl"
EVENTS = "events.jsonl"
STOP_REQUESTED = "stop-requested"
SUPERVISOR_ERR = "supervisor.err"
MAX_LINE = 1024 * 1024  # a "line" longer than this is cut so a newline-less stream cannot eat memory
REAP_GRACE_S = 5.0


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- status.json (shared with the backend) -------------------------------------------------------------
def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_status(run_dir: Path, data: dict) -> None:
    """Atomic replace: readers never see half a file."""
    write_json(Path(run_dir) / STATUS, data)


def update_status(run_dir: Path, **values) -> dict:
    data = read_status(run_dir)
    data.update(values)
    write_status(run_dir, data)
    return data


def pid_alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive (Linux); elsewhere trust kill(0)
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def group_alive(pgid: Optional[int]) -> bool:
    """Whether any live (non-zombie) process is in the group."""
    if not pgid:
        return False
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():  # Linux: zombies waiting to be reaped do not count
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(errors="replace").rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == int(pgid) and fields[0] != "Z":
            return True
    return False


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# -- the supervisor ----------------------------------------------------------------------------------
class _LogWriter:
    def __init__(self, path: Path, secrets: list[str]):
        self._fh = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self.redact = Redactor(secrets)
        self.last_err = ""
        self.last_out = ""

    def write(self, stream: str, text: str) -> None:
        text = self.redact(text)
        with self._lock:
            self._fh.write(json.dumps({"t": now_iso(), "s": stream, "m": text}, ensure_ascii=False) + "\n")
            self._fh.flush()
            if text.strip():
                if stream == "err":
                    self.last_err = text.strip()
                else:
                    self.last_out = text.strip()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines of ``buffer`` and the unfinished rest.

    ``\\r`` (progress bars redrawing a line) ends a line too, so live progress shows up; the empty
    pieces a ``\\r\\n`` or a bare redraw leaves are dropped, real blank lines are kept.
    """
    *lines, rest = buffer.split(b"\n")
    out: list[bytes] = []
    for line in lines:
        if b"\r" in line:
            out.extend(piece for piece in line.split(b"\r") if piece)
        else:
            out.append(line)
    if b"\r" in rest:
        *done, rest = rest.split(b"\r")
        out.extend(piece for piece in done if piece)
    if len(rest) > MAX_LINE:
        out.append(rest)
        rest = b""
    return out, rest


def _pump(fd: int, stream: str, log: _LogWriter) -> None:
    buffer = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        lines, buffer = split_lines(buffer + chunk)
        for line in lines:
            log.write(stream, line.decode("utf-8", errors="replace"))
    if buffer:
        log.write(stream, buffer.decode("utf-8", errors="replace"))
    os.close(fd)


def _event(run_dir: Path, text: str) -> None:
    with open(run_dir / EVENTS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"t": now_iso(), "m": text}) + "\n")


def supervise(run_dir: Path) -> int:
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / SPEC).read_text(encoding="utf-8"))
    secrets = [os.environ.get(name, "") for name in spec.get("redact_env", [])]
    log = _LogWriter(run_dir / LOG, secrets)
    stop = threading.Event()
    job: dict = {}

    def on_signal(signum, _frame):
        # `ftstudio stop` signals the job's group itself; a signal to the supervisor means the
        # same thing (system shutdown, a person's kill): pass it on, record Stopped.
        stop.set()
        if job.get("pgid"):
            try:
                os.killpg(job["pgid"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(
            ["bash", "-c", spec["command"]],
            cwd=spec.get("cwd") or None,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,  # its own session and process group: `stop` ends all of it
            close_fds=True,
        )
    except OSError as exc:
        os.close(out_w)
        os.close(err_w)
        for fd in (out_r, err_r):
            os.close(fd)
        update_status(run_dir, status="Failed", start_time=now_iso(), end_time=now_iso(), exit_code=127,
                      reason=log.redact(f"could not start bash: {exc}"), supervisor_pid=os.getpid())
        log.close()
        return 127
    os.close(out_w)
    os.close(err_w)
    job["pgid"] = proc.pid
    update_status(run_dir, status="Running", start_time=now_iso(), supervisor_pid=os.getpid(), pgid=proc.pid,
                  pid=proc.pid)
    _event(run_dir, f"started: process group {proc.pid} in {spec.get('cwd')}")
    readers = [
        threading.Thread(target=_pump, args=(out_r, "out", log), daemon=True),
        threading.Thread(target=_pump, args=(err_r, "err", log), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stop.is_set():  # a stop arrived before the group existed
        on_signal(signal.SIGTERM, None)
    rc = proc.wait()
    # The job is over: like a container ending, nothing it left in the background survives it.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for reader in readers:
        reader.join(REAP_GRACE_S)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for reader in readers:
        reader.join(1.0)
    log.close()

    exit_code = rc if rc >= 0 else 128 - rc
    stopped = stop.is_set() or (run_dir / STOP_REQUESTED).exists()
    if stopped:
        status, reason = "Stopped", "stopped on request"
    elif rc == 0:
        status, reason = "Succeeded", None
    else:
        status = "Failed"
        detail = log.last_err or log.last_out
        cause = f"killed by {signal_name(-rc)}" if rc < 0 else f"exit code {rc}"
        reason = f"{detail} ({cause})" if detail else cause
    _event(run_dir, f"ended: {status}, exit code {exit_code}")
    update_status(run_dir, status=status, end_time=now_iso(), exit_code=exit_code, reason=reason)
    return 0


def daemonize(run_dir: Path) -> None:
    """Fork so the supervisor is re-parented (no zombie in the CLI), then lead a session of its own."""
    if os.fork():
        os._exit(0)
    os.setsid()
    err = os.open(run_dir / SUPERVISOR_ERR, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(err, 2)
    os.close(devnull)
    os.close(err)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: supervisor.py RUN_DIR [--foreground]", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    if "--foreground" not in argv:
        daemonize(run_dir)
    try:
        return supervise(run_dir)
    except BaseException as exc:  # never leave a run "Running" because the supervisor crashed
        update_status(run_dir, status="Failed", end_time=now_iso(), exit_code=1,
                      reason=f"supervisor error: {type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
