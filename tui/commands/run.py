"""``ftstudio run [--follow] [--resume [RUN_ID]]``: sync the workspace and start the fine-tuning job.

Without ``--follow`` it prints the execution and returns at once. With ``--follow`` it streams the
logs (stdout; under ``--json`` they go to stderr and stdout gets one final document) and exits 0
when the run succeeded, 1 when it failed; Ctrl-C detaches without stopping the run (exit 130).
"""
from __future__ import annotations

from core.errors import ExitCode
from tui.commands._common import open_backend_for, open_project
from tui.commands.logs import exit_code_for, reattach_hint, stream
from usecases import runs


def describe(ex) -> str:
    lines = [f"{ex.name}: {ex.status}" + (f" (RUN_ID {ex.run_id})" if ex.run_id else "")]
    for label, where in ex.links.items():
        lines.append(f"  {label}: {where}")
    if ex.adapter_path:
        lines.append(f"  adapter: {ex.adapter_path}")
    if ex.reason and ex.status != "Succeeded":
        lines.append(f"  reason: {ex.reason}")
    return "\n".join(lines)


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    def confirm(names: list[str]) -> bool:
        if console.interactive:
            return console.confirm(runs.question(names), default=False)
        console.info(f"{', '.join(names)} is already running; starting another anyway "
                     "(it may queue until capacity frees up).")
        return True

    ex = runs.start(backend, resume=args.resume, confirm=confirm, on_event=console.event)
    if not args.follow:
        console.result(ex.to_json(), human=lambda: describe(ex) + f"\nFollow it: {reattach_hint(args, ex.name)}")
        return int(ExitCode.OK)

    console.info(describe(ex))
    events = backend.logs(execution=ex.name, follow=True)
    try:
        final = stream(console, events, json_lines=False, logs_to_stderr=console.json_mode)
    except KeyboardInterrupt:
        console.info(f"Detached; {ex.name} keeps running. Re-attach: {reattach_hint(args, ex.name)}")
        return int(ExitCode.INTERRUPTED)
    ex = backend.execution(ex.name)
    console.result(ex.to_json(), human=lambda: describe(ex))
    return exit_code_for(final)
