"""Fine-tuning runs on the Container Apps job: start (after a sync), list, inspect, stop.

Each run has a RUN_ID (its folder ``outputs/<RUN_ID>/`` on the share). It is passed in the
execution's env, so it can be read back from any machine (``properties.template`` of the
execution), and is also remembered in ``.ftstudio/state.json`` (``runs``: execution → run id).

The start template REPLACES the job's container for that execution (azure-wire-facts §3), so it
carries the job's container name, image, resources and env (``secretRef`` entries included), with
the command built from COMMANDS and RUN_ID added.

Already-running executions: ``running_executions(backend)`` lists them so a front end can ask
before calling ``run``; ``run`` itself never refuses, it emits an Info warning that the new
execution may queue behind them.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Optional

from core.errors import InputError, OperationFailed
from core.events import EventSink, StepFailed, StepFinished, StepStarted, ignore
from core.models import RUNNING_STATES, Execution
from core.run_rules import container_command, current_execution, is_active, new_run_id, newest_first
from core.run_rules import resume_run_id as _resume_rule

MOUNT = "/mount"
STATE_RUNS_KEPT = 200
ADAPTER_CHECKS_MAX = 50  # succeeded runs whose outputs folder is checked on the share per listing


# -- helpers ---------------------------------------------------------------------------------------

def _wire(model) -> dict:
    if model is None:
        return {}
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return dict(model)


def _describe(exc: Exception) -> str:
    from infra.azure.fileshare import describe

    return describe(exc)


def _refs(backend, need_commands: bool = False):
    from infra.azure.resources_ref import finetuning_refs

    return finetuning_refs(backend, need_commands=need_commands)


def links(backend, refs) -> dict:
    job_id = refs.job_id()
    portal = backend.session.portal_link
    return {
        "job": portal(job_id, "overview"),
        "executions": portal(job_id, "executionHistory"),
        "logs": portal(job_id, "logs"),
    }


def _job_not_found(refs) -> InputError:
    return InputError(
        f"Container Apps job {refs.job} was not found in resource group {refs.resource_group}.",
        field="ACA_JOB_NAME",
        fix="run `ftstudio provision finetune` (or fix infra/finetuning.config.json)",
    )


def _get_job(backend, refs) -> dict:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        return _wire(backend.session.appcontainers.jobs.get(refs.resource_group, refs.job))
    except ResourceNotFoundError:
        raise _job_not_found(refs) from None
    except HttpResponseError as exc:
        raise OperationFailed(f"Could not read job {refs.job}: {_describe(exc)}") from None


def start_template(job: dict, commands, run_id: str) -> dict:
    """The JobExecutionTemplate for ``begin_start``: the job's container(s) with our command + RUN_ID."""
    template = (job.get("properties") or {}).get("template") or {}
    containers = template.get("containers") or []
    if not containers:
        raise OperationFailed("The job has no container in its template; run `ftstudio provision finetune` again.")
    main = containers[0]
    env = [dict(e) for e in (main.get("env") or []) if e.get("name") != "RUN_ID"]
    if not any(e.get("name") == "PIP_CACHE_DIR" for e in env):
        env.append({"name": "PIP_CACHE_DIR", "value": f"{MOUNT}/.cache/pip"})  # restarts reuse pip's cache
    env.append({"name": "RUN_ID", "value": run_id})
    resources = {k: v for k, v in (main.get("resources") or {}).items() if k in ("cpu", "memory", "gpu")}
    out_main = {"name": main.get("name"), "image": main.get("image"), "command": container_command(commands), "env": env}
    if resources:
        out_main["resources"] = resources
    out: dict = {"containers": [out_main]}
    inits = []
    for init in template.get("initContainers") or []:
        keep = {k: init[k] for k in ("name", "image", "command", "args", "env", "resources") if init.get(k) is not None}
        if "resources" in keep:
            keep["resources"] = {k: v for k, v in keep["resources"].items() if k in ("cpu", "memory", "gpu")}
        inits.append(keep)
    if inits:
        out["initContainers"] = inits
    return out


def run_id_of(item: dict) -> Optional[str]:
    """RUN_ID from an execution's template env (how another machine finds a run's outputs)."""
    template = (item.get("properties") or {}).get("template") or {}
    for container in template.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == "RUN_ID" and env.get("value"):
                return env["value"]
    return None


def _exit_and_reason(props: dict, status: str) -> tuple[Optional[int], Optional[str]]:
    containers = [
        c for r in ((props.get("detailedStatus") or {}).get("replicas") or []) for c in (r.get("containers") or [])
    ]
    codes = [c for c in containers if c.get("code") is not None]
    failing = next((c for c in codes if c.get("code") != 0), None)
    picked = failing or (codes[0] if codes else None)
    exit_code = picked.get("code") if picked else None
    if status in ("Succeeded",) or status in RUNNING_STATES:
        return exit_code, None
    parts = []
    if props.get("reason"):
        parts.append(str(props["reason"]))
    if props.get("message") and props.get("message") != props.get("reason"):
        parts.append(str(props["message"]))
    if failing:
        info = failing.get("additionalInformation") or failing.get("status")
        parts.append(f"container {failing.get('name') or ''} exited with code {failing.get('code')}"
                     + (f" ({info})" if info else ""))
    elif status == "Stopped" and not parts:
        parts.append("stopped")
    reason = "; ".join(p.strip().replace("\n", " ") for p in parts if p and p.strip()) or None
    return exit_code, reason


def to_execution(item: dict, link_map: dict, state_runs: Optional[dict] = None) -> Execution:
    props = item.get("properties") or {}
    name = item.get("name") or ""
    status = str(props.get("status") or "Unknown")
    exit_code, reason = _exit_and_reason(props, status)
    run_id = run_id_of(item) or ((state_runs or {}).get(name) or {}).get("run_id")
    return Execution(
        name=name, status=status, run_id=run_id,
        start_time=_iso(props.get("startTime")), end_time=_iso(props.get("endTime")),
        exit_code=exit_code, reason=reason, links=dict(link_map),
    )


def _iso(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# -- listing ---------------------------------------------------------------------------------------

def _list(backend, refs) -> list[Execution]:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    client = backend.session.appcontainers
    link_map = links(backend, refs)
    state_runs = backend.project.state().get("runs") or {}
    try:
        items = [_wire(x) for x in client.jobs_executions.list(refs.resource_group, refs.job)]  # pager follows nextLink
    except ResourceNotFoundError:
        raise _job_not_found(refs) from None
    except HttpResponseError as exc:
        raise OperationFailed(f"Could not list the executions of job {refs.job}: {_describe(exc)}") from None
    return newest_first(to_execution(item, link_map, state_runs) for item in items)


def _check_adapters(backend, executions: list[Execution]) -> None:
    """Set ``adapter_path`` of succeeded runs whose ``outputs/<run-id>/adapter_config.json`` is on
    the share. Storage trouble leaves the paths unset rather than failing the listing."""
    wanted = [e for e in executions if e.status == "Succeeded" and e.run_id][:ADAPTER_CHECKS_MAX]
    if not wanted:
        return
    from infra.azure.fileshare import open_share

    try:
        with open_share(backend) as share:
            present = {n for n, is_dir, _ in (share.list_names("outputs") or []) if is_dir}
            candidates = [e for e in wanted if e.run_id in present]
            with ThreadPoolExecutor(8) as pool:
                found = list(pool.map(lambda e: share.exists_file(f"outputs/{e.run_id}/adapter_config.json"), candidates))
    except Exception:  # noqa: BLE001 — e.g. no permission to list keys: show the runs anyway
        return
    for ex, ok in zip(candidates, found):
        if ok:
            ex.adapter_path = f"outputs/{ex.run_id}/"


def executions(backend, *, check_outputs: bool = True) -> list[Execution]:
    """Every execution of the fine-tuning job, newest first."""
    refs = _refs(backend)
    out = _list(backend, refs)
    if check_outputs:
        _check_adapters(backend, out)
    return out


def running_executions(backend) -> list[Execution]:
    return [e for e in executions(backend, check_outputs=False) if is_active(e)]


def execution(backend, name: Optional[str] = None) -> Execution:
    """One execution by name; by default the running one, else the newest."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    refs = _refs(backend)
    if name is None:
        items = _list(backend, refs)
        if not items:
            raise OperationFailed(f"Job {refs.job} has no execution yet.", fix="start one with `ftstudio run`",
                                  code="NoExecution")
        chosen = current_execution(items)
    else:
        try:
            item = _wire(backend.session.appcontainers.job_execution(refs.resource_group, refs.job, name))
        except ResourceNotFoundError:
            raise InputError(f"Job {refs.job} has no execution named {name}.", field="EXECUTION",
                             fix="see `ftstudio status` for execution names") from None
        except HttpResponseError as exc:
            raise OperationFailed(f"Could not read execution {name}: {_describe(exc)}") from None
        chosen = to_execution(item, links(backend, refs), backend.project.state().get("runs") or {})
    _check_adapters(backend, [chosen])
    return chosen


def stop(backend, name: Optional[str] = None) -> Execution:
    """Stop an execution (default: the newest running one). A finished one is returned as it is."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    refs = _refs(backend)
    if name is None:
        running = [e for e in _list(backend, refs) if is_active(e)]
        if not running:
            raise OperationFailed(f"No execution of job {refs.job} is running.",
                                  fix="see `ftstudio status`; name one with `ftstudio stop EXECUTION`",
                                  code="NotRunning")
        name = running[0].name
    current = execution(backend, name)
    if current.finished:
        return current
    try:
        backend.session.appcontainers.jobs.begin_stop_execution(refs.resource_group, refs.job, name).result()
    except ResourceNotFoundError:
        raise InputError(f"Job {refs.job} has no execution named {name}.", field="EXECUTION",
                         fix="see `ftstudio status` for execution names") from None
    except HttpResponseError as exc:
        raise OperationFailed(f"Could not stop execution {name}: {_describe(exc)}") from None
    return execution(backend, name)


# -- start -------------------------------------------------------------------------------------------

def resume_run_id(resume: str, history: list[Execution]) -> str:
    """The run rule; Azure prunes old executions, so a run id it no longer lists may still have
    its checkpoints on the share: it is accepted."""
    return _resume_rule(resume, history)


def _remember(backend, name: str, run_id: str) -> None:
    state = backend.project.state()
    runs = dict(state.get("runs") or {})
    runs[name] = {"run_id": run_id, "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if len(runs) > STATE_RUNS_KEPT:
        runs = dict(sorted(runs.items(), key=lambda kv: kv[1].get("started", ""))[-STATE_RUNS_KEPT:])
    backend.project.update_state(runs=runs, last_run_id=run_id, last_execution=name)


def run(backend, *, resume: Optional[str] = None, on_event: EventSink = ignore, sync: bool = True) -> Execution:
    """Sync the workspace, then start one execution of the job with COMMANDS and a RUN_ID.

    ``resume``: "latest", an execution name or a run id (``core.run_rules.resume_run_id``); that
    RUN_ID is reused so train.py continues from its last checkpoint.
    """
    from azure.core.exceptions import HttpResponseError

    refs = _refs(backend, need_commands=True)
    link_map = links(backend, refs)
    job = _get_job(backend, refs)  # fail before a long upload when the job is missing
    history = _list(backend, refs)
    run_id = resume_run_id(resume, history) if resume else new_run_id(taken=(e.run_id for e in history))
    # an unfinished execution was already asked about or said by the front end (usecases.runs)
    if sync:
        from infra.azure import sync as sync_mod

        try:
            sync_mod.sync(backend, on_event=on_event)
        except InputError as exc:
            if exc.field != "--force":
                raise
            raise InputError(exc.message, field="--force",
                             fix="add them to .ftstudioignore, or upload them once with `ftstudio sync --force`, "
                                 "then `ftstudio run`") from None

    title = f"Starting job {refs.job} (run {run_id}{', resumed' if resume else ''})"
    on_event(StepStarted("start", title, link=link_map["job"]))
    template = start_template(job, refs.commands, run_id)
    try:
        started = _wire(backend.session.appcontainers.jobs.begin_start(refs.resource_group, refs.job, template=template).result())
    except HttpResponseError as exc:
        message = f"Could not start job {refs.job}: {_describe(exc)}"
        on_event(StepFailed("start", title, message, link=link_map["job"]))
        raise OperationFailed(message) from None
    name = started.get("name") or (started.get("id") or "").rsplit("/", 1)[-1]
    if not name:
        raise OperationFailed(f"Job {refs.job} started but Azure returned no execution name; see `ftstudio status`.")
    _remember(backend, name, run_id)
    try:
        ex = to_execution(_wire(backend.session.appcontainers.job_execution(refs.resource_group, refs.job, name)),
                          link_map, {name: {"run_id": run_id}})
    except HttpResponseError:  # not visible yet: report what we know
        ex = Execution(name=name, status="Processing", run_id=run_id,
                       start_time=datetime.now(timezone.utc).isoformat(), links=dict(link_map))
    on_event(StepFinished("start", title, detail=f"execution {name}", link=link_map["executions"]))
    return ex
