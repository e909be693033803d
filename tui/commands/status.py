"""``ftstudio status``: where things are, the executions (newest first) and the inference endpoint."""
from __future__ import annotations

from tui.commands._common import open_backend_for, open_project
from tui.widgets.format import duration
from usecases import status


def _detail(ex) -> str:
    if ex.status == "Succeeded":
        return ex.adapter_path or ex.links.get("outputs", "")
    return ex.reason or ""


def table(executions) -> str:
    rows = [("NAME", "STATUS", "START", "DURATION", "EXIT", "ADAPTER / REASON")]
    for ex in executions:
        start = (ex.start_time or "-").replace("T", " ")[:19]
        rows.append((ex.name, ex.status, start, duration(ex.duration_s, none="-"),
                     "-" if ex.exit_code is None else str(ex.exit_code), _detail(ex)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows)


def _resource(row) -> str:
    if not row.state:
        return row.name
    link = f"  {row.link}" if row.link else ""
    return f"{row.name} ({row.state}){link}"


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    st = status.status(project, backend)
    executions, problem, endpoint = st.executions, st.executions_error, st.endpoint
    doc = {"project": project.name, "root": str(project.root), "target": st.target, "resources": st.resources,
           "executions": [ex.to_json() for ex in executions], "endpoint": endpoint}
    if problem:
        doc["executions_error"] = problem

    def human() -> str:
        out = [f"Project {project.name} ({project.root}), target {st.target}", "Resources:"]
        out += [f"  {row.kind}: {_resource(row)}" for row in st.rows] or ["  (none yet: ftstudio provision)"]
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
