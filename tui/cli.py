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
    g.add_argument("--target", choices=["azure", "local"], default=d(None), help="backend: azure or local (default: the project's TARGET)")


def build_parser() -> argparse.ArgumentParser:
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

    def add(name: str, help_text: str, **kw) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        _globals(p, top=False)
        return p

    p = add("models", "list the model catalog")
    p.add_argument("--search", metavar="TEXT", help="filter by name, licence or family")
    p.add_argument("--all", action="store_true", help="include models that need a large GPU")

    p = add("new", "generate a fine-tune project")
    p.add_argument("name", nargs="?", help="project name (folder created under --dir)")
    p.add_argument("--model", metavar="ID", help="catalog name, Hugging Face repo id, or a local model folder")
    p.add_argument("--dir", metavar="PATH", help="parent folder of the project (default: current directory)")
    p.add_argument("--recipe", metavar="RECIPE", help="lora, qlora or olive (default: the model's)")
    p.add_argument("--dataset", metavar="FILE", help="a JSONL dataset to include")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override a parameter (e.g. lora_r=16); repeatable")

    p = add("provision", "create or update the Azure resources (fine-tuning or inference)")
    p.add_argument("kind", nargs="?", choices=["finetune", "finetuning", "inference"], default="finetune")
    p.add_argument("--subscription", metavar="ID")
    p.add_argument("--resource-group", metavar="RG")
    p.add_argument("--location", metavar="L")
    p.add_argument("--preview", action="store_true", help="show what would change, change nothing")

    p = add("run", "sync the workspace and start the fine-tuning job with COMMANDS")
    p.add_argument("--follow", action="store_true", help="stream the logs until the run ends")
    p.add_argument("--resume", metavar="RUN_ID", nargs="?", const="latest",
                   help="re-run an unfinished run (default: the latest) so training resumes from its last checkpoint")

    p = add("sync", "sync the workspace to the share (Azure Files or the local share)")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    p.add_argument("--force", action="store_true", help="upload even when unreasonably large")
    p.add_argument("--delete", action="store_true", help="remove files deleted locally (never under outputs/)")

    add("status", "resources, executions and the inference endpoint")

    p = add("logs", "console logs of a run or of the inference app (with --json: one JSON object per line)")
    p.add_argument("--inference", action="store_true")
    p.add_argument("--execution", metavar="NAME")
    follow = p.add_mutually_exclusive_group()
    follow.add_argument("--follow", dest="follow", action="store_true", default=None)
    follow.add_argument("--no-follow", dest="follow", action="store_false")
    p.add_argument("--system", action="store_true", help="system events instead of console output")
    p.add_argument("--since", metavar="DURATION", help="history from Log Analytics, e.g. 30m, 2h, 1d")

    p = add("stop", "stop the running (or named) execution")
    p.add_argument("execution", nargs="?")

    p = add("secret", "job or inference app secrets (exposed as env vars)")
    ssub = p.add_subparsers(dest="secret_command", metavar="ACTION")
    sp = ssub.add_parser("set", help="add or replace a secret")
    _globals(sp, top=False)
    sp.add_argument("name", help="env var name, e.g. HF_TOKEN")
    src = sp.add_mutually_exclusive_group()
    src.add_argument("--from-env", metavar="VAR", help="read the value from this env var")
    src.add_argument("--stdin", action="store_true", help="read the value from stdin")
    sp.add_argument("--inference", action="store_true")
    sp = ssub.add_parser("list", help="secret names")
    _globals(sp, top=False)
    sp.add_argument("--inference", action="store_true")
    sp = ssub.add_parser("get", help="print one secret's value on stdout (for scripts, e.g. the inference key)")
    _globals(sp, top=False)
    sp.add_argument("name")
    sp.add_argument("--inference", action="store_true")
    sp = ssub.add_parser("remove", help="remove a secret and its env var")
    _globals(sp, top=False)
    sp.add_argument("name")
    sp.add_argument("--inference", action="store_true")

    add("deploy", "deploy the inference app and print its endpoint")

    p = add("download", "download a run's outputs (default: the latest succeeded run)")
    p.add_argument("remote_path", nargs="?", metavar="REMOTE_PATH")
    p.add_argument("--to", metavar="DIR")

    p = add("down", "delete what provision created (or stop the local inference server)")
    p.add_argument("--yes", action="store_true", help="do not ask")
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
