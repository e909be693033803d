"""Pilot flows over the REAL core and the local backend: catalog → configure → generate, run + live
logs to the end, secrets. (The Azure flows are in test_flows_azure.py.)"""
from __future__ import annotations

import json
import shlex
import sys

import pytest
from textual.widgets import DataTable, Input, Select

from scaffolds.project import Project
from tests.tui.helpers import wait_for, wait_workers
from tui.app import FtStudioApp

pytestmark = pytest.mark.asyncio


@pytest.fixture
def local_python(monkeypatch):
    # the local backend would build a venv from setup/requirements.txt (minutes, network); use ours
    monkeypatch.setenv("FTSTUDIO_LOCAL_PYTHON", sys.executable)


def generated(home, name="tones", target="local"):
    from scaffolds.generate import ProjectSpec
    from usecases.projects import generate_project

    result = generate_project(ProjectSpec(name=name, model="microsoft/Phi-3-mini-4k-instruct",
                                          parent=home / "projects", target=target))
    return Project(result.path)


def fast_printer(project: Project, lines: int) -> None:
    """COMMANDS that print ``lines`` lines as fast as Python can (a tiny command project)."""
    script = f"import sys\nfor i in range({lines}): sys.stdout.write(f'line {{i}}\\n')\nprint('done')"
    project.update_finetuning_config(COMMANDS=["cd /mount", f"python3 -c {shlex.quote(script)}"])


async def test_pick_model_configure_generate(home):
    app = FtStudioApp()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "CatalogScreen"
        await pilot.press("slash", *"phi-3-mini-4k", "enter")
        await pilot.pause()
        table = screen.query_one("#models", DataTable)
        assert table.row_count >= 1 and screen.selected["id"] == "microsoft/Phi-3-mini-4k-instruct"
        await pilot.press("enter")  # configure
        await pilot.pause()
        form = app.screen
        assert type(form).__name__ == "ConfigureScreen"
        form.query_one("#f-name", Input).value = "tones"
        form.query_one("#f-location", Input).value = str(home / "projects")
        form.query_one("#f-target", Select).value = "local"
        form.query_one("#f-lora_r", Input).value = "0"
        await pilot.pause()
        assert "lora_r must be between 1 and 1024" in str(form.query_one("#err-lora_r").render())
        assert form.query_one("#generate").disabled
        form.query_one("#f-lora_r", Input).value = "8"
        form.query_one("#f-learning_rate", Input).value = "1e-4"
        await pilot.pause()
        assert not form.errors
        await wait_workers(pilot)
        assert "300 rows" in str(form.query_one("#dataset-preview").render())
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: app.project is not None, timeout=60)
        await wait_workers(pilot)
        assert type(app.screen).__name__ == "DashboardScreen"

    root = home / "projects" / "tones"
    assert app.project.root == root
    config = json.loads((root / "finetuning/train_config.json").read_text())
    assert config["lora"]["r"] == 8 and config["training"]["learning_rate"] == 1e-4
    assert json.loads((root / "infra/finetuning.config.json").read_text())["TARGET"] == "local"
    assert (root / "inference/app.py").is_file() and (root / "dataset").is_dir()
    from tui.screens import recent

    assert recent.load() == [root]


async def test_generate_refuses_a_bad_dataset_inline(home):
    from tests.tui.doubles import MODEL
    from tui.screens.configure import ConfigureScreen

    bad = home / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "happy"}]}\n'
                   '{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "?"}]}\n',
                   encoding="utf-8")
    app = FtStudioApp()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.push_screen(ConfigureScreen(MODEL, location=home / "projects"))
        form = app.screen
        form.query_one("#f-dataset", Input).value = str(bad)
        await form.query_one("#f-dataset", Input).action_submit()
        await wait_workers(pilot)
        await pilot.pause()
        preview = str(form.query_one("#dataset-preview").render())
        assert "line 2" in preview and "unknown role 'robot'" in preview
        await pilot.press("ctrl+g")
        await wait_workers(pilot)
        await pilot.pause()
        assert "line 2" in str(form.query_one("#err-dataset").render())
    assert not (home / "projects" / MODEL["id"].rsplit("/", 1)[-1]).exists()
    assert app.project is None


async def test_run_streams_logs_to_the_end(home, local_python):
    project = generated(home)
    fast_printer(project, 5000)
    app = FtStudioApp(project=project)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        await pilot.press("ctrl+r")
        assert await wait_for(pilot, lambda: type(app.screen).__name__ == "LogsScreen", timeout=60)
        logs = app.screen
        assert await wait_for(pilot, lambda: logs.ended, timeout=60)
        view = logs.view
        assert view.status == "Succeeded", view.lines[-5:]
        assert view.status == "Succeeded" and view.exit_code == 0
        lines = view.lines
        assert "line 0" in lines and "line 4999" in lines and lines[-1] == "done"
        assert lines.index("line 4999") > lines.index("line 0")
        await pilot.press("escape")
        await wait_workers(pilot)
        table = app.screen.query_one("#executions", DataTable)
        assert "Succeeded" in str(table.get_row_at(0)[1])


async def test_add_secret_never_shows_the_value(home, local_python):
    project = generated(home)
    app = FtStudioApp(project=project)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_workers(pilot)
        await app.run_action("add_secret")
        await pilot.pause()
        await pilot.press(*"HF_TOKEN", "enter", *"hf_topsecret123", "enter")
        await wait_workers(pilot)
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "SecretsScreen"
        assert screen.names == ["HF_TOKEN"]
        assert "hf_topsecret123" not in app.export_screenshot()
        # remove it again
        await pilot.press("d")
        await wait_workers(pilot)
        await pilot.pause()
        assert screen.names == []
    from infra.backend import open_backend

    assert open_backend(project).secret_list() == []
    assert "hf_topsecret123" not in "".join(p.read_text(errors="ignore") for p in project.root.rglob("*") if p.is_file())


async def test_the_form_generates_what_the_cli_generates(home, capsys):
    """Fields left at their defaults are not overrides: a 7-8B QLoRA gets the batch that fits its GPU
    and the gradient accumulation that keeps the effective batch, exactly as `ftstudio new` does."""
    from scaffolds import catalog
    from tui.cli import main
    from tui.screens.configure import ConfigureScreen

    model = catalog.lookup("meta-llama/Meta-Llama-3-8B")
    assert main(["new", "cli", "--model", model["id"], "--dir", str(home / "cli"), "--non-interactive"]) == 0
    cli_training = json.loads((home / "cli/cli/finetuning/train_config.json").read_text())["training"]
    app = FtStudioApp(remember_projects=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.push_screen(ConfigureScreen(model, location=home / "tui"))
        form = app.screen
        form.query_one("#f-name", Input).value = "tui"
        await wait_workers(pilot)
        assert form.overrides() == ({}, {})  # nothing changed by hand
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: app.project is not None, timeout=60)
    tui_training = json.loads((home / "tui/tui/finetuning/train_config.json").read_text())["training"]
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps", "source_max_len"):
        assert tui_training[key] == cli_training[key], key
    assert cli_training["per_device_train_batch_size"] * cli_training["gradient_accumulation_steps"] >= 16


async def test_a_field_left_alone_shows_what_will_be_generated(home):
    """A longer sequence changes the GPU and the batch that fits it (8B QLoRA: a T4 at batch 2 for 1024
    tokens, an A100 at batch 4 for 4096): the untouched batch field follows, and the project gets
    what the form shows."""
    from scaffolds import catalog
    from tui.screens.configure import ConfigureScreen

    model = catalog.lookup("meta-llama/Meta-Llama-3-8B")
    app = FtStudioApp(remember_projects=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.push_screen(ConfigureScreen(model, location=home / "tui"))
        form = app.screen
        form.query_one("#f-name", Input).value = "long"
        before = form.field_value("per_device_train_batch_size")
        form.query_one("#f-source_max_len", Input).value = "4096"
        await wait_workers(pilot)
        shown = form.field_value("per_device_train_batch_size")
        assert shown != before  # followed the sequence length
        assert form.overrides()[0] == {"source_max_len": 4096}
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: app.project is not None, timeout=60)
    training = json.loads((home / "tui/long/finetuning/train_config.json").read_text())["training"]
    assert training["per_device_train_batch_size"] == int(shown) and training["source_max_len"] == 4096
