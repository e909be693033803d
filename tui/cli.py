"""The ``ftstudio`` entry point: no arguments opens the terminal UI; subcommands run headless.

Kept import-light on purpose (argparse only): each command's module, and the SDKs it needs, load
only when that command runs, so ``ftstudio --help`` stays instant. The command contract is
ARCHITECTURE.md's; exit codes are ``core.errors.ExitCode``.
"""
from __future__ import annotations

import os
import signal
import sys

import argparse
from importlib import import_module

from core.project_files import TARGETS
from tui import _interrupted_at_startup

EPILOG = """\
exit codes: 0 success, 1 operation failed (cloud said no, job failed), 2 bad input or usage,
130 interrupted.
environment: AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_LOCATION supply the Azure inputs;
FTSTUDIO_ACCESS_TOKEN replaces the Azure login with a static token; FTSTUDIO_ARM_ENDPOINT,
FTSTUDIO_FILE_ENDPOINT, FTSTUDIO_LOGS_ENDPOINT point at other clouds; FTSTUDIO_HOME moves
ftstudio's per-user data.
"""


def _globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subcommands the defaults are SUPPRESSed so a global given before the subcommand survives.
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    g = parser.add_argument_group("global options")
    g.add_argument("--project", metavar="DIR", default=d(None), help="the project folder (default: current directory)")
    g.add_argument("--non-interactive", action="store_true", default=d(False), help="never prompt; missing input is an error (exit 2)")
    g.add_argument("--json", action="store_true", default=d(False), help="one JSON document on stdout; progress on stderr")
    g.add_argument("--target", choices=list(TARGETS), default=d(None), help="backend: azure or local (default: the project's TARGET)")


def _add_args(parser: argparse.ArgumentParser, args) -> None:
    groups: dict = {}
    for a in args:
        target = parser
        if a.group:
            if a.group not in groups:
                groups[a.group] = parser.add_mutually_exclusive_group()
            target = groups[a.group]
        target.add_argument(*a.flags, **a.options)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree, generated from the command registry (``usecases.registry``)."""
    from usecases.registry import cli_commands

    parser = argparse.ArgumentParser(
        prog="ftstudio",
        description="Fine-tune small language models on Azure Container Apps GPUs, or locally. "
        "Run without arguments for the terminal UI.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _globals(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cli in cli_commands():
        p = sub.add_parser(cli.name, help=cli.help, description=cli.help)
        _globals(p, top=False)
        _add_args(p, cli.args)
        if cli.actions:
            actions = p.add_subparsers(dest=f"{cli.name}_command", metavar="ACTION")
            for action in cli.actions:
                ap = actions.add_parser(action.name, help=action.help)
                _globals(ap, top=False)
                _add_args(ap, action.args)
    return parser


def main(argv: list[str] | None = None) -> int:
    if signal.getsignal(signal.SIGINT) is _interrupted_at_startup:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, KeyboardInterrupt cleans up
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # before a command's own handler exists (parser set-up, imports)
        sys.stderr.write("error: Interrupted.\n")
        return 130


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(version("ftstudio"))
        return 0
    if not args.command:
        from tui.app import run_app

        return run_app(project=args.project)

    from core.errors import Cancelled, ExitCode, FtError, from_unexpected
    from tui.output import Console

    console = Console(json_mode=args.json, non_interactive=args.non_interactive or _ci())
    try:
        module = import_module(f"tui.commands.{args.command}")
        return int(module.run(args, console) or 0)
    except FtError as err:
        console.error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        console.error(Cancelled())
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `ftstudio logs | head`: end quietly, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (OSError, UnicodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        # The one boundary: an OS or decoding error that escaped a command is a message, not a traceback.
        # A ValueError that is not about decoding is a bug: it keeps its traceback. FTSTUDIO_DEBUG=1 keeps all.
        err = from_unexpected(exc)
        if err is None or os.environ.get("FTSTUDIO_DEBUG") == "1":
            raise
        console.error(err)
        return int(err.exit_code)


def _ci() -> bool:
    # azd-style: CI never prompts (opt out with FTSTUDIO_NON_INTERACTIVE=false)
    flag = os.environ.get("FTSTUDIO_NON_INTERACTIVE")
    if flag is not None:
        return flag.lower() in ("1", "true", "yes")
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
