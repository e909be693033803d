"""The Python environment a local run uses: a venv built from the project's ``setup/requirements.txt``.

Keyed by a hash of the requirements + the interpreter, so projects with the same pins share one env
and an unchanged file reuses it. Built in place under ``<data>/envs/<key>/`` with a completion marker
written last: a half-built env (Ctrl-C, failed download) is never used, and the next attempt resumes
it (pip skips what is already installed). ``FTSTUDIO_LOCAL_PYTHON=/path/to/python`` skips all this
and uses that interpreter as it is (nothing is ever installed into it).
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.errors import InputError, OperationFailed
from core.events import EventSink, Info, Progress, StepFailed, StepFinished, StepStarted, ignore
from infra.local.layout import envs_dir, pip_cache_dir

ENV_VAR = "FTSTUDIO_LOCAL_PYTHON"
COMPLETE = ".ftstudio-complete"
STEP = "python-env"


@dataclass(frozen=True)
class PythonEnv:
    python: Path  # the interpreter runs use
    source: str  # "venv" | ENV_VAR
    key: Optional[str] = None  # the venv's hash key
    root: Optional[Path] = None  # the venv folder

    @property
    def bin_dir(self) -> Path:
        return self.python.parent


def requirements_key(requirements: Path, python: str = sys.executable) -> str:
    text = requirements.read_text(encoding="utf-8") if requirements.is_file() else ""
    lines = sorted(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    ident = f"{platform.python_implementation()}-{platform.python_version()}-{platform.machine()}-{sys.platform}"
    digest = hashlib.sha256(("\n".join(lines) + "\n" + ident + "\n" + python).encode()).hexdigest()
    return digest[:16]


def override_python() -> Optional[PythonEnv]:
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise InputError(f"{ENV_VAR}={value} is not an executable Python interpreter.", field=ENV_VAR,
                         fix=f"point {ENV_VAR} at a python binary, or unset it to let ftstudio build a venv")
    # Keep the venv path as given (resolving the symlink would lose the venv's site-packages).
    return PythonEnv(python=path.absolute(), source=ENV_VAR)


def env_status(requirements: Path) -> tuple[str, Path]:
    """("ready" | "partial" | "missing", folder) for the env these requirements need."""
    folder = envs_dir() / requirements_key(requirements)
    if (folder / COMPLETE).is_file():
        return "ready", folder
    if (folder / "bin" / "python").exists():
        return "partial", folder
    return "missing", folder


def ensure_env(requirements: Path, *, on_event: EventSink = ignore) -> PythonEnv:
    """The ready env for ``requirements``: reused, resumed or created (with progress events)."""
    chosen = override_python()
    if chosen:
        on_event(Info(f"Using {chosen.python} ({ENV_VAR}); nothing is installed into it."))
        return chosen
    if not requirements.is_file():
        raise InputError(f"{requirements} is missing.", field="setup/requirements.txt",
                         fix="regenerate the project, or set FTSTUDIO_LOCAL_PYTHON to an interpreter that has the training stack")
    key = requirements_key(requirements)
    folder = envs_dir() / key
    if (folder / COMPLETE).is_file():
        on_event(StepFinished(STEP, f"Python environment {folder}", "unchanged"))
        return PythonEnv(python=folder / "bin" / "python", source="venv", key=key, root=folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _lock(folder.with_suffix(".lock")):
        if (folder / COMPLETE).is_file():  # another process finished it while we waited
            return PythonEnv(python=folder / "bin" / "python", source="venv", key=key, root=folder)
        resuming = (folder / "bin" / "python").exists()
        on_event(StepStarted(STEP, f"{'Resuming' if resuming else 'Creating'} the Python environment {folder} "
                                   f"from {requirements.name} (first time only; can take minutes)"))
        log_path = folder.with_suffix(".log")
        try:
            if not resuming:
                _call("python -m venv", [sys.executable, "-m", "venv", str(folder)], log_path, on_event, new=True)
            _call(f"pip install -r {requirements.name}", [str(folder / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
                   "-r", str(requirements)], log_path, on_event,
                  cwd=requirements.parent.parent)  # relative paths in it are the project's
        except OperationFailed as err:
            on_event(StepFailed(STEP, f"Python environment {folder}", err.one_line()))
            raise
        (folder / COMPLETE).write_text(requirements.read_text(encoding="utf-8"), encoding="utf-8")
        on_event(StepFinished(STEP, f"Python environment {folder}", "created"))
    return PythonEnv(python=folder / "bin" / "python", source="venv", key=key, root=folder)


def _call(what: str, cmd: list[str], log_path: Path, on_event: EventSink, *, new: bool = False,
          cwd: Optional[Path] = None) -> None:
    """Run a setup command, its output to ``log_path``; pip's "Collecting"/"Installing" lines → events."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.setdefault("PIP_CACHE_DIR", str(pip_cache_dir()))
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    collected = 0
    tail: list[str] = []
    with open(log_path, "w" if new else "a", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", env=env, cwd=cwd)
        try:
            for line in proc.stdout:
                log.write(line)
                text = line.strip()
                if text:
                    tail = (tail + [text])[-20:]
                if text.startswith("Collecting "):
                    collected += 1
                    on_event(Progress(STEP, collected, None, unit="packages"))
                elif text.startswith("Installing collected packages"):
                    on_event(Info("Installing packages into the environment…"))
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if rc != 0:
        errors = [t for t in tail if t.startswith("ERROR")] or tail[-1:]
        raise OperationFailed(
            f"{what} failed: {errors[0] if errors else f'exit code {rc}'} (full output: {log_path}).",
            fix="fix setup/requirements.txt or the network, then run again (the environment resumes)",
        )


class _lock:
    """An exclusive lock file so two commands never build the same env at once."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()
