"""THE command registry: every command of ftstudio, once.

Each ``Command`` has an id, a palette title (``category: Action``), a help line, when it is valid
(``usecases.contexts``), its key binding, the CLI subcommand it defines (with its arguments) or the
CLI words that run it headless, and its ``.vscode/tasks.json`` task. Generated from this table:
the argparse tree (``tui/cli.py``), the palette, key bindings and help screen (``tui/actions.py``),
and every project's ``.vscode/tasks.json`` (``vscode_tasks``). A new command is one entry here, a
``tui/commands/<cli name>.py`` module for the CLI and an ``App.action_<id>`` for the terminal UI.

Import-light on purpose (dataclasses only): ``ftstudio --help`` builds its parser from this table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from usecases import contexts as ctx


@dataclass(frozen=True)
class Arg:
    """One ``add_argument`` call: its flags and options; ``group`` names a mutually exclusive group."""

    flags: tuple[str, ...]
    options: dict = field(default_factory=dict)
    group: Optional[str] = None


def arg(*flags: str, group: Optional[str] = None, **options: Any) -> Arg:
    return Arg(tuple(flags), dict(options), group)


@dataclass(frozen=True)
class Cli:
    """A CLI subcommand: ``ftstudio <name> ARGS`` (or ``ftstudio <name> <action> ARGS``)."""

    name: str
    help: str
    args: tuple[Arg, ...] = ()
    actions: tuple["Cli", ...] = ()  # sub-actions (``secret set|list|get|remove``)


@dataclass(frozen=True)
class Command:
    id: str  # the terminal UI runs App.action_<id>
    title: str  # "category: Action", as the palette shows it
    help: str  # one line for the palette and the help screen
    cli: Optional[Cli] = None  # the CLI subcommand this command defines
    argv: tuple[str, ...] = ()  # the CLI words that run it, when not just ``cli.name``
    key: Optional[str] = None  # key binding in the terminal UI
    show: bool = False  # shown in the footer
    when: Callable[[Any], bool] = ctx.always
    tui: bool = True  # offered in the terminal UI (palette, help screen)
    task: Optional[str] = None  # label of its task in .vscode/tasks.json
    task_args: tuple[str, ...] = ()  # words the task adds (e.g. --follow: a task's terminal follows logs)
    task_group: Optional[str] = None

    @property
    def category(self) -> str:
        return self.title.split(":", 1)[0]

    @property
    def headless(self) -> tuple[str, ...]:
        """The CLI words that run this command (empty: the terminal UI only)."""
        return self.argv or ((self.cli.name,) if self.cli else ())

    def valid(self, project: Any) -> bool:
        try:
            return bool(self.when(project))
        except Exception:  # noqa: BLE001 - a broken config file must not break the palette
            return False


COMMANDS: tuple[Command, ...] = (
    # app
    Command("home", "app: Home", "Recent projects, new project, open folder", key="ctrl+o"),
    Command("help", "app: Keys and commands", "Every command, its key and when it is offered", key="f1", show=True),
    Command("change_theme", "app: Change theme", "Pick a colour theme"),
    Command("quit", "app: Quit", "Leave ftstudio", key="ctrl+q", show=True),
    # project
    Command("models", "project: List the model catalog", "Models with licence, gated, size and the GPU they need",
            tui=False, cli=Cli("models", "list the model catalog", (
                arg("--search", metavar="TEXT", help="filter by name, licence or family"),
                arg("--all", action="store_true", help="include models that need a large GPU")))),
    Command("new_project", "project: New fine-tuning project", "Pick a model in the catalog and configure a project",
            key="ctrl+n", cli=Cli("new", "generate a fine-tune project", (
                arg("name", nargs="?", help="project name (folder created under --dir)"),
                arg("--model", metavar="ID", help="catalog name, Hugging Face repo id, or a local model folder"),
                arg("--dir", metavar="PATH", help="parent folder of the project (default: current directory)"),
                arg("--recipe", metavar="RECIPE", help="lora, qlora or olive (default: the model's)"),
                arg("--dataset", metavar="FILE|DIR|hf:ID",
                    help="the dataset to train on: .jsonl/.json/.csv/.parquet, a save_to_disk folder or "
                         "hf:ORG/NAME[:SPLIT] (default: the sample)"),
                arg("--eval-dataset", metavar="FILE|DIR|hf:ID",
                    help="rows to compute the eval loss on (default: a few percent held out)"),
                arg("--format", dest="dataset_format", metavar="FORMAT",
                    help="messages, sharegpt, prompt_completion, alpaca or text_template (default: detected)"),
                arg("--map", dest="mapping", metavar="FIELD=COLUMN", action="append", default=[],
                    help="read FIELD from COLUMN, e.g. instruction=question; repeatable"),
                arg("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                    help="override a parameter (e.g. lora_r=16); repeatable")))),
    Command("data_check", "data: Check a dataset", "Format, token lengths, truncation and bad rows of a dataset",
            tui=False, cli=Cli("data", "check a dataset before training (format, tokens, bad rows); writes nothing",
                               actions=(Cli("check", "detect the format, count tokens, list bad rows (exit 2 if any)", (
                                   arg("path", metavar="FILE|DIR|hf:ID",
                                       help="a .jsonl, .json, .csv or .parquet file, a save_to_disk folder, or "
                                            "hf:ORG/NAME[:SPLIT] (loaded with datasets; HF_TOKEN for private ones)"),
                                   arg("--model", metavar="ID|PATH",
                                       help="the model whose tokenizer counts: a local folder, or a catalog name or "
                                            "repo id (its downloaded tokenizer; else an approximate count)"),
                                   arg("--format", dest="dataset_format", metavar="FORMAT",
                                       help="messages, sharegpt, prompt_completion, alpaca or text_template "
                                            "(default: detected from the rows)"),
                                   arg("--map", dest="mapping", metavar="FIELD=COLUMN", action="append", default=[],
                                       help="read FIELD from COLUMN, e.g. instruction=question; repeatable"),
                                   arg("--max-length", type=int, metavar="N",
                                       help="count truncation at N tokens (default: the model's context, else 1024)"),
                                   arg("--text-template", metavar="TEMPLATE",
                                       help="an existing project's text_template (its columns are a format too)"),
                               )),))),
    Command("open_folder", "project: Open folder", "Open an existing ftstudio project folder"),
    Command("dashboard", "project: Show dashboard", "Files, resources, executions and endpoint", key="ctrl+d",
            when=ctx.has_project, task="status",
            cli=Cli("status", "resources, executions and the inference endpoint")),
    Command("refresh", "project: Refresh", "Reload resources and executions", key="f5", when=ctx.has_project),
    # fine-tuning
    Command("provision_finetuning", "fine-tuning: Provision Azure Container Apps job",
            "Subscription, resource group, GPU location, preview, apply", when=ctx.azure_project,
            argv=("provision", "finetune"), task="provision fine-tuning",
            cli=Cli("provision", "create or update the Azure resources (fine-tuning or inference)", (
                arg("kind", nargs="?", choices=["finetune", "finetuning", "inference"], default="finetune"),
                arg("--subscription", metavar="ID"),
                arg("--resource-group", metavar="RG"),
                arg("--location", metavar="L"),
                arg("--preview", action="store_true", help="show what would change, change nothing")))),
    Command("sync", "fine-tuning: Sync workspace", "Upload changed project files to the share",
            when=ctx.finetuning_ready, task="sync (dry run)", task_args=("--dry-run",),
            cli=Cli("sync", "sync the workspace to the share (Azure Files or the local share)", (
                arg("--dry-run", action="store_true", help="list what would be uploaded"),
                arg("--force", action="store_true", help="upload even when unreasonably large"),
                arg("--delete", action="store_true", help="remove files deleted locally (never under outputs/)")))),
    Command("run_job", "fine-tuning: Run", "Sync, start the fine-tuning job and follow its logs", key="ctrl+r",
            when=ctx.finetuning_ready, task="run fine-tuning (follow logs)", task_args=("--follow",),
            task_group="build",
            cli=Cli("run", "sync the workspace and start the fine-tuning job with COMMANDS", (
                arg("--follow", action="store_true", help="stream the logs until the run ends"),
                arg("--resume", metavar="RUN_ID", nargs="?", const="latest",
                    help="re-run an unfinished run (default: the latest) so training resumes from its last checkpoint")))),
    Command("resume_job", "fine-tuning: Resume latest run", "Re-run the latest unfinished run from its last checkpoint",
            when=ctx.finetuning_ready, argv=("run", "--resume"), task="resume the last run", task_args=("--follow",)),
    Command("stop_job", "fine-tuning: Stop execution", "Stop the running execution", when=ctx.finetuning_ready,
            task="stop", cli=Cli("stop", "stop the running (or named) execution", (arg("execution", nargs="?"),))),
    Command("download", "fine-tuning: Download outputs", "Download the latest succeeded run's adapter",
            when=ctx.finetuning_ready, task="download outputs",
            cli=Cli("download", "download a run's outputs (default: the latest succeeded run)", (
                arg("remote_path", nargs="?", metavar="REMOTE_PATH"), arg("--to", metavar="DIR")))),
    Command("runs", "runs: List training runs", "Runs with their losses, eval losses, tokens/s and MLflow store",
            tui=False, when=ctx.has_project, task="runs",
            cli=Cli("runs", "list the project's training runs (losses, eval, duration, tokens/s, MLflow store); "
                            "`runs compare A B ...` puts runs side by side", (
                arg("words", nargs="*", metavar="compare RUN_ID", help="compare RUN_ID RUN_ID ...: side by side"),))),
    # logs
    Command("logs", "logs: Show streaming logs", "Live console logs of the latest execution", key="ctrl+l",
            when=ctx.finetuning_ready, task="logs", task_args=("--follow",),
            cli=Cli("logs", "console logs of a run or of the inference app (with --json: one JSON object per line)", (
                arg("--inference", action="store_true"),
                arg("--execution", metavar="NAME"),
                arg("--follow", dest="follow", action="store_true", default=None, group="follow"),
                arg("--no-follow", dest="follow", action="store_false", group="follow"),
                arg("--system", action="store_true", help="system events instead of console output"),
                arg("--since", metavar="DURATION", help="history from Log Analytics, e.g. 30m, 2h, 1d")))),
    Command("inference_logs", "logs: Show inference logs", "Live console logs of the inference app",
            when=ctx.inference_ready, argv=("logs", "--inference"), task="inference logs", task_args=("--follow",)),
    # secrets
    Command("add_secret", "secrets: Add job secret", "Add a secret env var to the fine-tuning job",
            when=ctx.finetuning_ready, argv=("secret", "set"),
            cli=Cli("secret", "job or inference app secrets (exposed as env vars)", actions=(
                Cli("set", "add or replace a secret", (
                    arg("name", help="env var name, e.g. HF_TOKEN"),
                    arg("--from-env", metavar="VAR", help="read the value from this env var", group="source"),
                    arg("--stdin", action="store_true", help="read the value from stdin", group="source"),
                    arg("--inference", action="store_true"))),
                Cli("list", "secret names", (arg("--inference", action="store_true"),)),
                Cli("get", "print one secret's value on stdout (for scripts, e.g. the inference key)", (
                    arg("name"), arg("--inference", action="store_true"))),
                Cli("remove", "remove a secret and its env var", (arg("name"), arg("--inference", action="store_true"))),
            ))),
    Command("secrets", "secrets: Manage job secrets", "List and remove the job's secrets", when=ctx.finetuning_ready,
            argv=("secret", "list")),
    Command("add_inference_secret", "secrets: Add inference secret", "Add a secret env var to the inference app",
            when=ctx.inference_ready, argv=("secret", "set", "--inference")),
    Command("inference_secrets", "secrets: Manage inference secrets", "List and remove the inference app's secrets",
            when=ctx.inference_ready, argv=("secret", "list", "--inference")),
    # inference
    Command("provision_inference", "inference: Provision Azure Container App", "Create the inference app",
            when=ctx.azure_project, argv=("provision", "inference"), task="provision inference"),
    Command("deploy", "inference: Deploy", "Sync the code, roll a new revision, wait until ready",
            when=ctx.inference_ready, task="deploy inference",
            cli=Cli("deploy", "deploy the inference app and print its endpoint")),
    # azure
    Command("teardown", "azure: Delete provisioned resources", "Delete what provision created", when=ctx.has_resources,
            task="tear down", cli=Cli("down", "delete what provision created (or stop the local inference server)", (
                arg("--yes", action="store_true", help="do not ask"),))),
)

CLI_ORDER = ("models", "data", "new", "provision", "run", "sync", "status", "logs", "stop", "secret", "deploy", "download",
             "down")  # the order `ftstudio --help` lists them (the journey's order)


def cli_commands() -> list[Cli]:
    """Every CLI subcommand, in the order ``--help`` lists them."""
    defined = {c.cli.name: c.cli for c in COMMANDS if c.cli}
    return [defined[name] for name in CLI_ORDER] + [cli for name, cli in defined.items() if name not in CLI_ORDER]


def vscode_tasks() -> dict:
    """A project's ``.vscode/tasks.json``: the registry's commands that have a task."""
    def task(c: Command) -> dict:
        t = {"label": f"ftstudio: {c.task}", "type": "shell", "command": "ftstudio",
             "args": [*c.headless, *c.task_args], "options": {"cwd": "${workspaceFolder}"}, "problemMatcher": []}
        if c.task_group:
            t["group"] = c.task_group
        return t

    return {"version": "2.0.0", "tasks": [task(c) for c in COMMANDS if c.task]}
