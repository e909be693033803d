"""``ftstudio sync [--dry-run] [--force] [--delete]``: the workspace → share sync on its own.

Same rules on every target (infra/workspace.py): ignore files, content hashes, a manifest on the
share, a size guard that only ``--force`` passes, and never a delete under outputs/ or model-cache/.
"""
from __future__ import annotations

from core.units import human_bytes
from infra.workspace import printable
from tui.commands._common import open_backend_for, open_project


def summary(result) -> str:
    verb = "Would copy" if result.dry_run else "Copied"
    lines = [f"{verb} {len(result.uploaded)} files ({human_bytes(result.bytes_uploaded)}), "
             f"{'would delete' if result.dry_run else 'deleted'} {len(result.deleted)}, {result.unchanged} unchanged."]
    if result.dry_run:
        lines += [f"  + {printable(path)}" for path in result.uploaded]
        lines += [f"  - {printable(path)}" for path in result.deleted]
    if result.held_back:
        lines.append(f"Held back {len(result.held_back)} secret-shaped path(s) (add `!PATH` to .ftstudioignore to upload one):")
        lines += [f"  ! {printable(path)} (matches {pattern})" for path, pattern in sorted(result.held_back.items())]
    return "\n".join(lines)


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    result = backend.sync(dry_run=args.dry_run, force=args.force, delete=args.delete, on_event=console.event)
    console.result(result.to_json(), human=lambda: summary(result))
    return 0
