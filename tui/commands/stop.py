"""``ftstudio stop [EXECUTION]``: stop the running (or named) execution; its outputs stay."""
from __future__ import annotations

from tui.commands._common import open_backend_for, open_project
from tui.commands.run import describe


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    before = backend.execution(args.execution)
    if before.finished:
        console.result({**before.to_json(), "stopped": False},
                       human=f"{before.name} already ended ({before.status}); nothing to stop.")
        return 0
    console.info(f"Stopping {before.name}…")
    ex = backend.stop(before.name)
    console.result({**ex.to_json(), "stopped": True}, human=lambda: describe(ex))
    return 0
