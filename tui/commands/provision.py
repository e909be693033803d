"""``ftstudio provision [finetune|inference] [--subscription ID] [--resource-group RG] [--location L] [--preview]``.

Generic over backends: the Azure inputs (subscription, resource group, location) are resolved here
only when the backend is Azure (flag > env > project > prompt > MissingInputs, see
``infra/azure/inputs.py``); everything else is ``backend.plan`` / ``backend.provision``.
"""
from __future__ import annotations

from core.project_files import normalize_kind
from tui.commands._common import open_backend_for, open_project


def _resolve_azure_inputs(args, console, project, backend, kind: str):
    from infra.azure.inputs import SessionDirectory, resolve_inputs

    params = project.parameters(kind)
    if kind == "inference" and not params.get("gpuProfileType"):
        params = {**project.parameters("finetuning"), **{k: v for k, v in params.items() if v is not None}}
    return resolve_inputs(
        project,
        subscription=args.subscription,
        resource_group=args.resource_group,
        location=args.location,
        parameters=params,
        ask=console.prompt if console.interactive else None,
        directory=lambda: SessionDirectory(backend.session_for, params.get("gpuProfileType")),
    )


def _summary(result: dict) -> str:
    lines = []
    for r in result.get("resources") or []:
        lines.append(f"✓ {r['resource']:<15} {r['name']:<28} {r['result']}")
    if result.get("endpoint"):
        lines.append(f"Endpoint: {result['endpoint']}")
    if result.get("config_file"):
        lines.append(f"Wrote {result['config_file']}.")
    return "\n".join(lines) or "Done."


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    kind = normalize_kind(args.kind)
    inputs = None
    if backend.name == "azure":
        from infra.azure.inputs import save_inputs

        inputs = _resolve_azure_inputs(args, console, project, backend, kind)
        if not args.preview:
            save_inputs(project, inputs)  # not secrets: the next command finds them
    if args.preview:
        from infra.azure.plan import render

        changes = backend.plan(kind, inputs=inputs, on_event=console.event)
        console.result({"kind": kind, "target": backend.name, "preview": True,
                        "changes": [c.to_json() for c in changes]}, human=lambda: render(changes))
        return 0
    result = backend.provision(kind, inputs=inputs, on_event=console.event)
    console.result({"target": backend.name, **result}, human=lambda: _summary(result))
    return 0
