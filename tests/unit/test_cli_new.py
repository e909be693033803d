"""`ftstudio new` through the CLI: exit codes, one-line errors, --json, prompts, and the real entry point."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ExitCode, MissingInputs
from tui.cli import build_parser, main
from tui.output import Console

PHI3 = "microsoft/Phi-3-mini-4k-instruct"
FTSTUDIO = Path(sys.executable).with_name("ftstudio")


def new(tmp_path: Path, *extra: str, name: str = "demo") -> list[str]:
    args = ["new"] + ([name] if name else []) + ["--dir", str(tmp_path), "--non-interactive", *extra]
    return args


def test_new_creates_the_project(tmp_path, capsys):
    assert main(new(tmp_path, "--model", PHI3)) == 0
    out, err = capsys.readouterr()
    assert f"Created {tmp_path / 'demo'}" in out and "ftstudio run --follow" in out
    assert "✓ Project" in err  # progress goes to stderr
    cfg = json.loads((tmp_path / "demo/finetuning/train_config.json").read_text())
    assert cfg["model"]["repo"] == PHI3


def test_json_output_is_one_document(tmp_path, capsys):
    code = main(new(tmp_path, "--model", PHI3, "--recipe", "lora", "--set", "lora_r=8", "--set", "max_steps=50",
                    "--target", "local", "--json"))
    out, err = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["project"] == str(tmp_path / "demo") and doc["recipe"] == "lora" and doc["target"] == "local"
    assert doc["model"]["id"] == PHI3 and doc["model"]["verified"] is True
    assert doc["parameters"]["lora_r"] == 8 and doc["parameters"]["max_steps"] == 50
    assert "finetuning/train_config.json" in doc["files"] and "infra/provision/finetuning.bicep" in doc["files"]
    assert sorted(doc["files"]) == sorted(p.relative_to(tmp_path / "demo").as_posix()
                                          for p in (tmp_path / "demo").rglob("*") if p.is_file())
    assert err and "Model" in err
    config = json.loads((tmp_path / "demo/infra/finetuning.config.json").read_text())
    assert config["TARGET"] == "local"


@pytest.mark.parametrize("extra,name,field_words", [
    (["--model", PHI3], "bad/name", "project name"),
    (["--model", PHI3, "--recipe", "dpo"], "demo", "--recipe"),
    (["--model", "not a/valid id"], "demo", "not a model name"),
    (["--model", PHI3, "--set", "lora_r=0"], "demo", "lora_r must be between 1 and 1024"),
    (["--model", PHI3, "--set", "lora_r=abc"], "demo", "lora_r must be a whole number"),
    (["--model", PHI3, "--set", "nope=1"], "demo", "Unknown parameter 'nope'"),
    (["--model", PHI3, "--set", "lora_r"], "demo", "KEY=VALUE"),
    (["--model", "./no/such/folder"], "demo", "does not exist"),
    ([], "demo", "--model"),  # missing under --non-interactive
    (["--model", PHI3], None, "NAME"),
    ([], None, "NAME (give the NAME argument, e.g. `ftstudio new my-tones`); model (give --model ID"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(tmp_path, capsys, extra, name, field_words):
    work = tmp_path / "work"
    work.mkdir()
    code = main(new(work, *extra, name=name))
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field_words in lines[0], err
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("content,words", [
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "happy"}]}\n'
     '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}\n',
     "d.jsonl line 2: messages turn 2: the assistant turn is empty"),
    ('{"instruction": "hi", "output": "happy"}\n{"instruction": "no output"}\n', "d.jsonl line 2: has no 'output'"),
    ('{"phrase": "hi", "tone": "happy"}\n', "cannot tell the dataset's format"),
    ("phrase\ttone\nhi\thappy\n", "d.jsonl line 1 not valid JSON"),
])
def test_bad_dataset_exits_2_naming_the_line(tmp_path, capsys, content, words):
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    work = tmp_path / "work"
    work.mkdir()
    assert main(new(work, "--model", PHI3, "--dataset", str(data))) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert list(work.iterdir()) == []


def test_existing_folder_json_error(tmp_path, capsys):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "x").write_text("keep")
    assert main(new(tmp_path, "--model", PHI3, "--json")) == ExitCode.USAGE
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["code"] == "InvalidInput" and doc["error"]["field"] == "NAME"
    assert (tmp_path / "demo" / "x").read_text() == "keep"


def test_unknown_repo_offline_warns_and_still_generates(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(new(tmp_path, "--model", "acme/Widget-1.5B-Instruct", "--json")) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["model"]["verified"] is False and doc["model"]["local_dir"] == "model-cache/acme/Widget-1.5B-Instruct"
    assert "warning: could not reach the Hugging Face Hub" in err


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_interactive_prompts_ask_for_name_and_model(tmp_path, monkeypatch):
    from tui.commands import new as new_cmd

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["new"])
    stdin, stderr, stdout = _Tty("tones\n\n"), _Tty(), io.StringIO()  # name, then the default model
    console = Console(stdin=stdin, stderr=stderr, stdout=stdout)
    assert new_cmd.run(args, console) == 0
    assert "Project name" in stderr.getvalue() and f"[{PHI3}]" in stderr.getvalue()
    cfg = json.loads((tmp_path / "tones/finetuning/train_config.json").read_text())
    assert cfg["model"]["id"] == PHI3


def test_non_interactive_missing_model_names_the_flag(tmp_path):
    from tui.commands import new as new_cmd

    args = build_parser().parse_args(["new", "demo", "--dir", str(tmp_path)])
    console = Console(non_interactive=True, stdin=_Tty(""), stderr=_Tty(), stdout=io.StringIO())
    with pytest.raises(MissingInputs) as exc:
        new_cmd.run(args, console)
    assert "--model" in exc.value.one_line()


def test_installed_entry_point_from_a_fresh_folder(tmp_path):
    assert FTSTUDIO.is_file()
    env = dict(os.environ, FTSTUDIO_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    done = subprocess.run([str(FTSTUDIO), "new", "demo", "--model", PHI3, "--non-interactive"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo/infra/provision/finetuning.bicep").is_file()
    assert (tmp_path / "demo/setup/requirements.txt").is_file()
    cfg = json.loads((tmp_path / "demo/infra/finetuning.config.json").read_text())
    assert cfg["COMMANDS"][-1] == "python3 ./finetuning/train.py --config ./finetuning/train_config.json"
