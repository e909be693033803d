"""``ftstudio status``: where things are, the executions (newest first) and the inference endpoint."""
from __future__ import annotations

from core.errors import FtError
from scaffolds.project import FINETUNING_KEYS
from tui.commands._common import open_backend_for, open_project


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _detail(ex) -> str:
    if ex.status == "Succeeded":
        return ex.adapter_path or ex.links.get("outputs", "")
    return ex.reason or ""


def table(executions) -> str:
    rows = [("NAME", "STATUS", "START", "DURATION", "EXIT", "ADAPTER / REASON")]
    for ex in executions:
        start = (ex.start_time or "-").replace("T", " ")[:19]
        rows.append((ex.name, ex.status, start, _duration(ex.duration_s),
                     "-" if ex.exit_code is None else str(ex.exit_code), _detail(ex)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows)


def _resource(value) -> str:
    if isinstance(value, dict):  # {name, state, link} from AzureBackend.describe
        link = f"  {value['link']}" if value.get("link") else ""
        return f"{value.get('name')} ({value.get('state')}){link}"
    return str(value)


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    if hasattr(backend, "describe"):
        resources = backend.describe()
    else:
        config = project.finetuning_config()
        resources = {k: config[k] for k in FINETUNING_KEYS if k != "COMMANDS" and config.get(k)}
    problem = None
    try:
        executions = backend.executions()
    except FtError as err:  # not provisioned yet, no access...: still show the rest
        executions, problem = [], err.one_line()
    endpoint = project.inference_config().get("ACA_APP_ENDPOINT") or None
    doc = {"project": project.name, "root": str(project.root), "target": backend.name, "resources": resources,
           "executions": [ex.to_json() for ex in executions], "endpoint": endpoint}
    if problem:
        doc["executions_error"] = problem

    def human() -> str:
        out = [f"Project {project.name} ({project.root}), target {backend.name}", "Resources:"]
        out += [f"  {k}: {_resource(v)}" for k, v in resources.items()] or ["  (none yet: ftstudio provision)"]
        out.append("Executions:")
        if problem:
            out.append(f"  unavailable: {problem}")
        elif executions:
            out.append(table(executions))
        else:
            out.append("  none yet: ftstudio run")
        out.append(f"Inference endpoint: {endpoint or 'not deployed (ftstudio deploy)'}")
        return "\n".join(out)

    console.result(doc, human=human)
    return 0
