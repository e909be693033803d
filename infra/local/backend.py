"""LocalBackend: the Backend interface on this machine (``--target local`` / ``"TARGET": "local"``).

The share is a folder in the per-user data dir (``/mount`` in COMMANDS maps to it), the job runs
detached under a tiny supervisor in its own process group, the Python environment is a venv built
from ``setup/requirements.txt`` (or ``FTSTUDIO_LOCAL_PYTHON``), secrets live in a 0600 file outside
the project and the inference server is the project's ``inference/app.py`` on 127.0.0.1.
Nothing here imports an Azure SDK or needs a credential.
"""
from __future__ import annotations

import os
import secrets as _random
import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from core.errors import InputError, OperationFailed
from core.events import EventSink, Info, StepFinished, StepStarted, ignore
from infra.local import inference, runs
from infra.local import supervisor as sv
from infra.local.commands import local_script
from infra.local.layout import LocalLayout, pip_cache_dir
from infra.local.logs import follow_run
from infra.logstream import AbortableStream
from infra.local.pyenv import ENV_VAR, PythonEnv, ensure_env, env_status, override_python
from infra.local.secrets import SecretStore
from core.models import TERMINAL_STATES, Endpoint, Execution, PlannedChange, SyncResult
from core.project_files import normalize_kind
from core.run_rules import current_execution, is_active, new_run_id

if TYPE_CHECKING:  # pragma: no cover
    from infra.backend import LogStream

REQUIREMENTS = Path("setup/requirements.txt")
# Set by ftstudio's own environment, wrong for the job's.
_DROP_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "CONDA_PREFIX")


class LocalBackend:
    name = "local"

    def __init__(self, project):
        self.project = project
        self.layout = LocalLayout.for_project(project)
        self.secrets = SecretStore(self.layout.secrets)

    # -- provisioning -------------------------------------------------------------------------------
    @property
    def requirements(self) -> Path:
        return self.project.path(REQUIREMENTS)

    def plan(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> list[PlannedChange]:
        normalize_kind(kind)
        share = self.layout.share
        out = [PlannedChange("share", str(share), "unchanged" if share.is_dir() else "create")]
        chosen = override_python()
        if chosen:
            out.append(PlannedChange("python", str(chosen.python), "unchanged", {"source": ENV_VAR}))
        else:
            state, folder = env_status(self.requirements)
            action = {"ready": "unchanged", "partial": "update", "missing": "create"}[state]
            out.append(PlannedChange("python", str(folder), action, {"requirements": str(REQUIREMENTS)}))
        return out

    def provision(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> dict:
        kind = normalize_kind(kind)
        share = self.layout.share
        existed = share.is_dir()
        share.mkdir(parents=True, exist_ok=True)
        on_event(StepFinished("share", f"Local share {share}", "unchanged" if existed else "created"))
        env = self._env(on_event)
        self.project.update_state(local_share=str(share), local_python=str(env.python), local_env=env.key)
        out = {"target": "local", "kind": kind, "share": str(share), "python": str(env.python),
               "python_source": env.source}
        if kind == "inference":
            out["endpoint"] = self.project.inference_config().get("ACA_APP_ENDPOINT") or None
        return out

    def _env(self, on_event: EventSink) -> PythonEnv:
        env = ensure_env(self.requirements, on_event=on_event)
        self._write_shims(env)
        return env

    def _write_shims(self, env: PythonEnv) -> None:
        """python/python3/pip/pip3 first on PATH, whatever the chosen interpreter's dir holds.

        Scripts that exec the interpreter by its own path, not symlinks: a venv is recognised from
        the path python is started with, and a symlink elsewhere would lose its site-packages.
        """
        shims = self.layout.shims
        shims.mkdir(parents=True, exist_ok=True)
        py = shlex.quote(str(env.python))
        for name, body in (("python", f"exec {py} \"$@\""), ("python3", f"exec {py} \"$@\""),
                           ("pip", f"exec {py} -m pip \"$@\""), ("pip3", f"exec {py} -m pip \"$@\"")):
            script = shims / name
            if script.is_symlink():
                script.unlink()
            script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
            script.chmod(0o755)

    def teardown(self, *, on_event: EventSink = ignore) -> list[str]:
        stopped = []
        if self._server_running():
            on_event(StepStarted("inference", "Stopping the local inference server"))
            runs.stop(self.layout.inference)
            stopped.append("local inference server")
            on_event(StepFinished("inference", "Local inference server", "stopped"))
        for ex in self.executions():
            if not ex.finished:
                on_event(StepStarted("run", f"Stopping run {ex.name}"))
                runs.stop(self.layout.runs / ex.name)
                stopped.append(f"run {ex.name}")
                on_event(StepFinished("run", f"Run {ex.name}", "stopped"))
        if self.project.inference_config().get("ACA_APP_ENDPOINT"):
            self.project.update_inference_config(ACA_APP_ENDPOINT="")
        if not stopped:
            on_event(Info("Nothing was running locally."))
        return stopped

    def describe(self) -> dict:
        """Where things are (for `ftstudio status`)."""
        chosen = override_python()
        if chosen:
            python = f"{chosen.python} ({ENV_VAR})"
        else:
            state, folder = env_status(self.requirements)
            python = f"{folder} ({state})"
        return {"target": "local", "share": str(self.layout.share), "python": python,
                "runs": str(self.layout.runs), "secrets_file": str(self.layout.secrets)}

    # -- fine-tuning --------------------------------------------------------------------------------------
    def sync(self, *, dry_run: bool = False, force: bool = False, delete: bool = False,
             on_event: EventSink = ignore) -> SyncResult:
        from infra.local import share

        return share.sync(self.project.root, self.layout.share, hash_cache=self.layout.hash_cache, dry_run=dry_run,
                          force=force, delete=delete, on_event=on_event)

    def run(self, *, resume: Optional[str] = None, on_event: EventSink = ignore) -> Execution:
        steps = self.project.commands
        if not steps:
            raise InputError("COMMANDS is empty in infra/finetuning.config.json.", field="COMMANDS",
                             fix="list the job's shell steps there (regenerate the project to get the defaults)")
        previous = self.executions()
        run_id = runs.resume_run_id(resume, previous) if resume else new_run_id(e.run_id for e in previous)
        env = self._env(on_event)
        self.layout.share.mkdir(parents=True, exist_ok=True)
        self.sync(on_event=on_event)
        script, skipped = local_script(steps, self.layout.share)
        for step in skipped:
            on_event(Info(f"Skipping `{step}`: the local environment is built from that file."))
        name = runs.execution_name(self.project.name, {e.name for e in previous})
        secret_env = self.secrets.env()
        job_env = self._job_env(env, secret_env, RUN_ID=run_id, FTSTUDIO_EXECUTION=name)
        on_event(StepStarted("run", f"Starting {name} (RUN_ID {run_id})"))
        st = runs.start(self.layout.runs / name, name=name, run_id=run_id, script=script, cwd=self.layout.share,
                        env=job_env, redact_env=sorted(secret_env))
        ex = self._execution(self.layout.runs / name, st)
        on_event(StepFinished("run", f"Run {name}", ex.status))
        return ex

    def _job_env(self, env: PythonEnv, secret_env: dict, **extra: str) -> dict[str, str]:
        out = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        path = [str(self.layout.shims), str(env.bin_dir), out.get("PATH", os.defpath)]
        out["PATH"] = os.pathsep.join(path)
        if env.root:
            out["VIRTUAL_ENV"] = str(env.root)
        out["PIP_CACHE_DIR"] = str(pip_cache_dir())
        out["PYTHONUNBUFFERED"] = "1"  # lines reach the log as they are printed
        out["FTSTUDIO_SHARE"] = str(self.layout.share)
        out.update(extra)
        out.update(secret_env)
        return out

    def _execution(self, run_dir: Path, st: Optional[dict] = None) -> Execution:
        ex = runs.to_execution(run_dir, st)
        if ex.run_id:
            outputs = self.layout.share / "outputs" / ex.run_id
            ex.links["outputs"] = str(outputs)
            if ex.status == "Succeeded" and (outputs / "adapter_config.json").is_file():
                ex.adapter_path = str(outputs)
        return ex

    def running_executions(self) -> list[Execution]:
        return [e for e in self.executions() if is_active(e)]

    def executions(self) -> list[Execution]:
        """Newest first."""
        if not self.layout.runs.is_dir():
            return []
        found = []
        for run_dir in self.layout.runs.iterdir():
            st = runs.status_of(run_dir)
            if st:
                found.append((st.get("created_epoch") or 0, self._execution(run_dir, st)))
        return [ex for _, ex in sorted(found, key=lambda pair: pair[0], reverse=True)]

    def execution(self, name: Optional[str] = None) -> Execution:
        all_runs = self.executions()
        if name:
            for ex in all_runs:
                if name in (ex.name, ex.run_id):
                    return ex
            raise InputError(f"No local execution named {name!r}.", field="--execution",
                             fix="see `ftstudio status` for the executions")
        current = current_execution(all_runs)
        if current is None:
            raise InputError("No local run yet.", field="--execution", fix="start one with `ftstudio run`")
        return current

    def stop(self, name: Optional[str] = None) -> Execution:
        ex = self.execution(name)
        if ex.finished:
            return ex
        return self._execution(self.layout.runs / ex.name, runs.stop(self.layout.runs / ex.name))

    def download(self, remote_path: Optional[str], to: Path, *, on_event: EventSink = ignore) -> Path:
        from infra.local import share

        if not remote_path:
            done = [ex for ex in self.executions() if ex.status == "Succeeded" and ex.run_id]
            if not done:
                raise OperationFailed("No succeeded local run to download yet.",
                                      fix="run `ftstudio run --follow` first, or give REMOTE_PATH")
            remote_path = f"outputs/{done[0].run_id}"
        return share.download(self.layout.share, remote_path, Path(to), on_event=on_event)

    # -- logs -----------------------------------------------------------------------------------------------
    def logs(self, *, execution: Optional[str] = None, inference: bool = False, follow: bool = True,
             system: bool = False, since: Optional[float] = None) -> "LogStream":
        if inference:
            run_dir = self.layout.inference
            if not sv.read_status(run_dir):
                raise InputError("The local inference server was never deployed.", field="--inference",
                                 fix="start it with `ftstudio deploy`")
            source = "inference"
        else:
            ex = self.execution(execution)
            run_dir, source = self.layout.runs / ex.name, ex.name
        aborted = threading.Event()
        return AbortableStream(follow_run(run_dir, runs.status_of, follow=follow, system=system, since=since,
                                          source=source, aborted=aborted), aborted)

    # -- secrets ----------------------------------------------------------------------------------------------
    def secret_set(self, name: str, value: str, *, inference: bool = False) -> None:
        self.secrets.set(name, value, inference=inference)

    def secret_list(self, *, inference: bool = False) -> list[str]:
        return self.secrets.list(inference=inference)

    def secret_get(self, name: str, *, inference: bool = False) -> str:
        return self.secrets.get(name, inference=inference)

    def secret_remove(self, name: str, *, inference: bool = False) -> None:
        self.secrets.remove(name, inference=inference)

    # -- inference -----------------------------------------------------------------------------------------------
    def _server_running(self) -> bool:
        st = runs.status_of(self.layout.inference) if self.layout.inference.is_dir() else {}
        return bool(st) and st.get("status") not in TERMINAL_STATES

    def deploy(self, *, on_event: EventSink = ignore) -> Endpoint:
        if not self.project.path("inference/app.py").is_file():
            raise InputError("inference/app.py is missing from the project.", field="inference/app.py",
                             fix="regenerate the project (ftstudio new) or restore the file")
        env = self._env(on_event)
        self.layout.share.mkdir(parents=True, exist_ok=True)
        self.sync(on_event=on_event)
        if self._server_running():
            on_event(StepStarted("inference", "Stopping the previous local inference server"))
            runs.stop(self.layout.inference)
            on_event(StepFinished("inference", "Previous local inference server", "stopped"))
        if inference.API_KEY not in self.secrets.list(inference=True):
            self.secrets.set(inference.API_KEY, _random.token_urlsafe(32), inference=True)
            on_event(Info(f"Generated {inference.API_KEY} (a local inference secret; "
                          f"read it with `ftstudio secret get {inference.API_KEY} --inference`)."))
        port = inference.choose_port(self.project.state().get("local_inference_port"))
        url = f"http://{inference.HOST}:{port}"
        commands = list(self.project.inference_config().get("COMMANDS") or [])
        script, _skipped = inference.server_script(commands, self.layout.share, port)
        secret_env = self.secrets.env(inference=True)
        server_env = self._job_env(env, secret_env)
        on_event(StepStarted("inference", f"Starting the local inference server on {url}"))
        st = runs.start(self.layout.inference, name=f"{runs.slug(self.project.name)}-inference",
                        run_id=None, script=script, cwd=self.layout.share, env=server_env,
                        redact_env=sorted(secret_env), kind="inference")
        self.project.update_state(local_inference_port=port)
        ready = inference.wait_healthy(url, self.layout.inference, runs.status_of, on_event=on_event)
        self.project.update_inference_config(ACA_APP_ENDPOINT=url, TARGET="local")
        return Endpoint(url=url, app="local inference server", revision=None,
                        detail={"port": port, "pid": st.get("pgid"), "model": ready.get("model"), "log": str(self.layout.inference / sv.LOG),
                                "share": str(self.layout.share)})
