"""One command registry (usecases/registry.py) generates the CLI, the palette, the keys, the help
screen and .vscode/tasks.json: every command is found in each, and a throwaway command added to the
registry shows up in all of them with nothing else written."""
from __future__ import annotations

import json

import pytest

from tests.tui.helpers import palette_titles, wait_workers
from tui import actions
from tui.cli import build_parser
from usecases import registry
from usecases.registry import Cli, Command


def _help_text(*words: str) -> str:
    parser = build_parser()
    for word in words:  # walk down to the subcommand's parser
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[word]
    return parser.format_help()


async def _help_rows(pilot) -> list[str]:
    await pilot.press("f1")
    await pilot.pause()
    table = pilot.app.screen.query_one("#help-table")
    rows = [table.get_row_at(i)[1] for i in range(table.row_count)]
    await pilot.press("escape")
    return rows


def test_every_cli_command_is_in_help_and_parses():
    top = _help_text()
    for command in registry.COMMANDS:
        if not command.headless:
            continue
        assert command.headless[0] in top, command.id
        if command.cli and command.cli.actions:
            for action in command.cli.actions:
                assert action.name in _help_text(command.cli.name), action.name
        needs_name = command.headless[:2] == ("secret", "set")
        args = build_parser().parse_args([*command.headless, *(["NAME"] if needs_name else [])])
        assert args.command == command.headless[0]


def test_tasks_json_runs_registry_commands():
    tasks = registry.vscode_tasks()["tasks"]
    by_label = {t["label"]: t for t in tasks}
    for command in registry.COMMANDS:
        if command.task:
            assert by_label[f"ftstudio: {command.task}"]["args"] == [*command.headless, *command.task_args]
            build_parser().parse_args(by_label[f"ftstudio: {command.task}"]["args"])  # a task is a valid command line


@pytest.mark.asyncio
async def test_every_tui_command_is_in_the_palette_and_the_help_screen(fixed_app):
    async with fixed_app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        offered = await palette_titles(pilot)
        rows = await _help_rows(pilot)
    for command in actions.commands():
        assert callable(getattr(type(fixed_app), f"action_{command.id}", None)), command.id
        assert command.title in rows
        assert (command.title in offered) == command.valid(fixed_app.project), command.title


@pytest.mark.asyncio
async def test_a_new_registry_entry_shows_up_everywhere(fixed_app, monkeypatch, tmp_path):
    hello = Command("say_hello", "app: Say hello", "A throwaway command", key="ctrl+y", task="say hello",
                    cli=Cli("hello", "say hello to the registry test"))
    monkeypatch.setattr(registry, "COMMANDS", (*registry.COMMANDS, hello))
    monkeypatch.setattr(type(fixed_app), "action_say_hello", lambda self: self.notify("hello"), raising=False)

    assert "say hello to the registry test" in _help_text()
    assert build_parser().parse_args(["hello"]).command == "hello"
    assert any(b.key == "ctrl+y" and b.action == "say_hello" for b in actions.bindings())
    from usecases.projects import TASKS_FILE, generate_project
    from scaffolds.generate import ProjectSpec

    project = generate_project(ProjectSpec(name="hello", model="microsoft/Phi-3-mini-4k-instruct", parent=tmp_path))
    tasks = json.loads((project.path / TASKS_FILE).read_text())["tasks"]
    assert {"label": "ftstudio: say hello", "args": ["hello"]}.items() <= next(
        t for t in tasks if t["label"] == "ftstudio: say hello").items()
    async with fixed_app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        assert "app: Say hello" in await palette_titles(pilot)
        assert "app: Say hello" in await _help_rows(pilot)
