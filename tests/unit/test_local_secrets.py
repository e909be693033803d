"""Local secrets: a 0600 file outside the project, validated names, values never echoed."""
from __future__ import annotations

import io
import json
import stat
import sys

import pytest

from core.errors import InputError
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_support import cli, local_python, new_project  # noqa: F401 - fixtures

VALUE = "hf_SuperSecretValue42"


def all_text_under(folder):
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_secrets_file_is_user_only_and_outside_the_project(new_project):
    project = new_project(["true"])
    backend = LocalBackend(project)
    backend.secret_set("HF_TOKEN", VALUE)
    backend.secret_set("INFERENCE_API_KEY", "k" * 20, inference=True)
    path = LocalLayout.for_project(project).secrets
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert project.root not in path.parents
    assert VALUE not in all_text_under(project.root)
    assert backend.secret_list() == ["HF_TOKEN"] and backend.secret_list(inference=True) == ["INFERENCE_API_KEY"]
    assert backend.secret_get("HF_TOKEN") == VALUE
    backend.secret_set("HF_TOKEN", VALUE + "2")  # replace
    assert backend.secret_get("HF_TOKEN") == VALUE + "2"
    backend.secret_remove("HF_TOKEN")
    assert backend.secret_list() == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(InputError, match="No local secret named HF_TOKEN"):
        backend.secret_get("HF_TOKEN")


@pytest.mark.parametrize("bad", ["1TOKEN", "HF-TOKEN", "HF TOKEN", "", "a.b"])
def test_names_follow_the_env_var_rule(new_project, bad):
    with pytest.raises(InputError) as err:
        LocalBackend(new_project(["true"])).secret_set(bad, VALUE)
    assert err.value.exit_code == 2 and err.value.field == "NAME"


def test_too_short_values_are_refused(new_project):
    with pytest.raises(InputError, match="too short"):
        LocalBackend(new_project(["true"])).secret_set("HF_TOKEN", "abc")


def test_cli_set_from_env_never_echoes_the_value(new_project, capsys, monkeypatch):
    project = new_project(["true"])
    monkeypatch.setenv("MY_TOKEN_SOURCE", VALUE)
    code, out, err = cli(capsys, "secret", "set", "HF_TOKEN", "--from-env", "MY_TOKEN_SOURCE",
                         "--project", str(project.root), "--json")
    assert code == 0 and VALUE not in out + err
    assert json.loads(out) == {"name": "HF_TOKEN", "scope": "job", "set": True}
    code, out, _ = cli(capsys, "secret", "list", "--project", str(project.root), "--json")
    assert json.loads(out)["names"] == ["HF_TOKEN"]
    code, out, _ = cli(capsys, "secret", "get", "HF_TOKEN", "--project", str(project.root))
    assert (code, out) == (0, VALUE + "\n")
    code, out, _ = cli(capsys, "secret", "get", "HF_TOKEN", "--project", str(project.root), "--json")
    assert json.loads(out) == VALUE
    code, out, _ = cli(capsys, "secret", "remove", "HF_TOKEN", "--project", str(project.root))
    assert code == 0 and LocalBackend(project).secret_list() == []


def test_cli_set_from_stdin(new_project, capsys, monkeypatch):
    project = new_project(["true"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(VALUE + "\n"))
    code, out, err = cli(capsys, "secret", "set", "WANDB_API_KEY", "--stdin", "--inference", "--project", str(project.root))
    assert code == 0 and VALUE not in out + err
    assert LocalBackend(project).secret_get("WANDB_API_KEY", inference=True) == VALUE


def test_cli_never_takes_the_value_from_argv(new_project, capsys):
    project = new_project(["true"])
    with pytest.raises(SystemExit) as exc:
        cli(capsys, "secret", "set", "HF_TOKEN", VALUE, "--project", str(project.root))
    assert exc.value.code == 2


def test_cli_without_a_source_under_non_interactive_names_the_options(new_project, capsys):
    project = new_project(["true"])
    code, out, err = cli(capsys, "secret", "set", "HF_TOKEN", "--project", str(project.root), "--non-interactive")
    assert code == 2 and "--from-env" in err and "--stdin" in err


def test_cli_missing_env_var_and_bad_name(new_project, capsys, monkeypatch):
    project = new_project(["true"])
    monkeypatch.delenv("NOT_THERE", raising=False)
    code, _, err = cli(capsys, "secret", "set", "HF_TOKEN", "--from-env", "NOT_THERE", "--project", str(project.root))
    assert code == 2 and "NOT_THERE" in err
    code, _, err = cli(capsys, "secret", "set", "9BAD", "--stdin", "--project", str(project.root))
    assert code == 2 and "9BAD" in err
