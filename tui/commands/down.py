"""``ftstudio down [--yes]``: delete what provision created (Azure) / stop the local server and runs.

Asks first unless ``--yes``; under ``--non-interactive`` without ``--yes`` it refuses (exit 2).
"""
from __future__ import annotations

from core.errors import Cancelled, InputError
from tui.commands._common import open_backend_for, open_project

WHAT = {
    "local": "stop the local inference server and any running local job (outputs are kept)",
    "azure": "delete the Azure resources provisioned for this project",
}


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    what = WHAT.get(backend.name, f"tear down the {backend.name} resources of this project")
    if not args.yes:
        if not console.interactive:
            raise InputError(f"`ftstudio down` would {what}; it needs confirmation.", field="--yes",
                             fix="add --yes to confirm")
        if not console.confirm(f"This will {what} ({project.name}). Continue?", default=False):
            raise Cancelled("Nothing was changed.")
    done = backend.teardown(on_event=console.event)
    console.result({"target": backend.name, "removed": done},
                   human="\n".join(f"✓ {item}" for item in done) or "Nothing to do.")
    return 0
