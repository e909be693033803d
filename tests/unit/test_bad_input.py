"""Issue 22's bad inputs as regression tests: each is a one-line error with the right exit code, or a
generated project whose files still parse; never a traceback, never a pasted string."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import secret_rules
from core.errors import InputError
from scaffolds import params
from tui.cli import main

FTSTUDIO = Path(sys.executable).with_name("ftstudio")


def model_folder(parent: Path, name: str) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    "max_position_embeddings": 512}))
    save_file({"embed.weight": np.zeros((100, 16), dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def new(tmp_path: Path, model: str, *extra: str) -> list[str]:
    return ["new", "p", "--model", model, "--dir", str(tmp_path / "out"), "--non-interactive", *extra]


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("raw", ["1_6", "١٦", "16 ", "0x10", "inf"])
def test_integers_are_parsed_as_people_write_them(raw):
    if raw.strip() == "16":
        assert params.coerce("lora_r", raw) == 16
        return
    with pytest.raises(InputError) as exc:
        params.coerce("lora_r", raw)
    assert exc.value.field == "lora_r"


@pytest.mark.parametrize("raw,ok", [("1e-4", 1e-4), ("0.0002", 2e-4), ("2E-5", 2e-5), ("1_0e-4", None), ("nan", None),
                                    ("1e400", None), ("٠.١", None)])
def test_floats_are_parsed_as_people_write_them(raw, ok):
    if ok is not None:
        assert params.coerce("learning_rate", raw) == ok
        return
    with pytest.raises(InputError):
        params.coerce("learning_rate", raw)


def test_underscored_set_value_is_exit_2_naming_the_field(tmp_path, capsys):
    assert main(new(tmp_path, "microsoft/Phi-3-mini-4k-instruct", "--set", "lora_r=1_6")) == 2
    assert "lora_r" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name", ["PATH", "RUN_ID", "HOME", "PYTHONPATH", "LD_PRELOAD", "ld_library_path"])
def test_secret_names_cannot_shadow_the_jobs_variables(name):
    with pytest.raises(InputError) as exc:
        secret_rules.check_name(name)
    assert name.upper() in exc.value.one_line()


def test_secret_values_are_capped_and_the_value_never_shown():
    secret_rules.check_value("HF_TOKEN", "hf_" + "x" * 100)
    big = "s3cr3t" * 200_000
    with pytest.raises(InputError) as exc:
        secret_rules.check_value("HF_TOKEN", big)
    assert "s3cr3t" not in exc.value.one_line() and "bytes" in exc.value.one_line()


def test_hostile_model_folder_names_render_valid_json_and_bicep(tmp_path, capsys):
    from pycep import BicepParser

    for i, name in enumerate(['dq"na\'me${x}', "quote'name", "back\\slash$x"]):
        folder = model_folder(tmp_path / f"m{i}", name)
        out = tmp_path / f"o{i}"
        for recipe, target in (("olive", "local"), ("lora", "azure")):
            dest = out / recipe
            code = main(["new", "p", "--model", str(folder), "--recipe", recipe, "--target", target, "--dir", str(dest),
                         "--non-interactive", "--set", "max_steps=5"])
            assert code == 0, capsys.readouterr().err
            project = dest / "p"
            for path in project.rglob("*.json"):
                json.loads(path.read_text(encoding="utf-8"))  # every JSON file still parses
            for path in (project / "infra/provision").glob("*.bicep"):
                doc = BicepParser().parse(file_path=path)
                assert doc, path
            if recipe == "olive":
                olive = json.loads((project / "finetuning/olive-config.json").read_text())
                assert olive["input_model"]["model_path"].endswith("/" + name)  # the name survives, escaped


@pytest.mark.parametrize("config", ["[1, 2]", "null", '"text"', "{bad json"])
def test_model_folder_with_a_wrong_config_is_exit_2(tmp_path, capsys, config):
    folder = model_folder(tmp_path, "m")
    (folder / "config.json").write_text(config)
    assert main(new(tmp_path, str(folder))) == 2
    assert "config.json" in one_error_line(capsys.readouterr().err)


def test_safetensors_header_that_is_not_an_object_is_exit_2(tmp_path, capsys):
    folder = model_folder(tmp_path, "m")
    header = b"[1,2,3]"
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert main(new(tmp_path, str(folder))) == 2
    assert "safetensors" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("target", ["/etc/passwd/sub", "/proc/self/no-such-dir"])
def test_a_dir_that_cannot_hold_a_project_is_exit_2(tmp_path, capsys, target):
    assert main(["new", "p", "--model", "microsoft/Phi-3-mini-4k-instruct", "--dir", target, "--non-interactive"]) == 2
    assert "--dir" in one_error_line(capsys.readouterr().err)


def test_a_dataset_that_is_a_folder_or_a_device_says_so(tmp_path, capsys):
    (tmp_path / "some").mkdir()
    for dataset, said in ((tmp_path / "some", "folder"), (Path("/dev/zero"), "regular file")):
        assert main(new(tmp_path, "microsoft/Phi-3-mini-4k-instruct", "--dataset", str(dataset))) == 2
        line = one_error_line(capsys.readouterr().err)
        assert said in line and "does not exist" not in line


def test_project_file_that_is_a_folder_is_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["new", "p", "--model", "microsoft/Phi-3-mini-4k-instruct", "--dir", str(tmp_path), "--target", "local",
                 "--non-interactive"]) == 0
    project = tmp_path / "p"
    (project / "infra/finetuning.config.json").unlink()
    (project / "infra/finetuning.config.json").mkdir()
    capsys.readouterr()
    code = main(["status", "--project", str(project)])
    err = capsys.readouterr().err
    assert code in (1, 2) and "finetuning.config.json" in one_error_line(err)


def test_template_markers_in_a_model_folder_name_are_refused(tmp_path, capsys):
    folder = model_folder(tmp_path, "m{{x}}")
    assert main(new(tmp_path, str(folder))) == 2
    assert "rename the folder" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("exc,code,said", [
    (PermissionError(13, "Permission denied", "/data/x.json"), 1, "Permission denied: /data/x.json"),
    (OSError(28, "No space left on device", "/data/big.bin"), 1, "No space left on device: /data/big.bin"),
    (json.JSONDecodeError("Expecting value", "{", 1), 2, "not valid JSON"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, "not valid UTF-8"),
])
def test_the_entry_boundary_turns_escaped_errors_into_one_line(monkeypatch, capsys, exc, code, said):
    import tui.commands.models as models_command

    def boom(args, console):
        raise exc

    monkeypatch.setattr(models_command, "run", boom)
    assert main(["models"]) == code
    assert said in one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("FTSTUDIO_DEBUG", "1")  # a developer still gets the traceback
    with pytest.raises(type(exc)):
        main(["models"])


def test_a_real_bug_keeps_its_traceback(monkeypatch):
    import tui.commands.models as models_command

    monkeypatch.setattr(models_command, "run", lambda args, console: int("not a number"))
    with pytest.raises(ValueError):
        main(["models"])


def test_sigint_during_startup_is_130_without_a_traceback():
    # after the interpreter's own start-up (which no Python code can guard), during ours
    for delay in (0.25, 0.4):
        proc = subprocess.Popen([str(FTSTUDIO), "models"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        # 130 from our handlers; -SIGINT only if it lands inside the interpreter's own start-up
        assert proc.returncode in (130, -signal.SIGINT, 0), (delay, proc.returncode, err)
        assert "Traceback" not in err, err
