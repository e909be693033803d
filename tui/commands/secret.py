"""``ftstudio secret set|list|get|remove``: job (or ``--inference`` app) secrets, exposed as env vars.

A value comes from ``--from-env VAR``, ``--stdin`` or a hidden prompt: never from the command line
(it would land in shell history and process lists), and it is never echoed. ``get`` prints the
value alone on stdout for scripts (under ``--json``: the value as one JSON string).
"""
from __future__ import annotations

import json
import os

from core.errors import InputError
from tui.commands._common import open_backend_for, open_project


def _value(args, console) -> str:
    if args.from_env:
        value = os.environ.get(args.from_env)
        if value is None:
            raise InputError(f"Environment variable {args.from_env} is not set.", field="--from-env",
                             fix=f"export {args.from_env}=... first, or use --stdin")
    elif args.stdin:
        value = console.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    else:
        value = console.prompt(f"Value for {args.name} (hidden)", name=args.name,
                               how="--from-env VAR or --stdin", secret=True)
    if not value:
        raise InputError(f"The value for {args.name} is empty.", field=args.name, fix="give a non-empty value")
    return value


def run(args, console) -> int:
    action = getattr(args, "secret_command", None)
    if not action:
        raise InputError("Which secret action?", field="ACTION", fix="use ftstudio secret set|list|get|remove")
    project = open_project(args)
    backend = open_backend_for(args, project)
    scope = "inference app" if args.inference else "job"
    if action == "set":
        from infra.local.secrets import validate_name

        validate_name(args.name)
        value = _value(args, console)
        console.redactions.append(value)
        backend.secret_set(args.name, value, inference=args.inference)
        console.result({"name": args.name, "scope": scope, "set": True}, human=f"✓ {args.name} set ({scope} secret)")
    elif action == "list":
        names = backend.secret_list(inference=args.inference)
        console.result({"scope": scope, "names": names}, human="\n".join(names) or f"No {scope} secrets.")
    elif action == "get":
        value = backend.secret_get(args.name, inference=args.inference)
        console.stdout.write((json.dumps(value) if console.json_mode else value) + "\n")
        console.stdout.flush()
    elif action == "remove":
        backend.secret_remove(args.name, inference=args.inference)
        console.result({"name": args.name, "scope": scope, "removed": True}, human=f"✓ {args.name} removed")
    return 0
