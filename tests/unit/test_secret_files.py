"""Secret-shaped files never reach the share unless named in .ftstudioignore (issue 16, item 1)."""
from __future__ import annotations

import json

import pytest

from infra import workspace
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_support import local_python, new_project  # noqa: F401 - fixtures
from tui.cli import main

SECRETS = [".env", "finetuning/.env", ".env.local", ".ssh/id_rsa", "credentials.json", "gcp-credentials.json",
           "certs/server.pem", "tls/server.key", "id_ed25519", "id_rsa.pub", ".aws/config", ".azure/msal_token_cache.json",
           ".netrc", ".git-credentials"]


@pytest.mark.parametrize("path", SECRETS)
def test_every_secret_shaped_path_is_held_back_even_without_a_gitignore(tmp_path, path):
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("HF_TOKEN=hf_secret\n")
    (tmp_path / "train.py").write_text("print(1)\n")
    rules = workspace.IgnoreRules(tmp_path)
    assert [rel for rel, _ in workspace.iter_files(tmp_path, rules)] == ["train.py"]
    assert rules.held_back, "the dry run must be able to say what was held back"


def test_a_gitignore_negation_does_not_let_a_secret_out(tmp_path):
    (tmp_path / ".gitignore").write_text("!.env\n")
    (tmp_path / ".env").write_text("HF_TOKEN=hf_secret\n")
    assert [rel for rel, _ in workspace.iter_files(tmp_path)] == [".gitignore"]


def test_naming_it_in_ftstudioignore_uploads_it(tmp_path):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs/public.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / ".env").write_text("HF_TOKEN=hf_secret\n")
    (tmp_path / ".ftstudioignore").write_text("!certs/public.pem\n")
    assert sorted(rel for rel, _ in workspace.iter_files(tmp_path)) == [".ftstudioignore", "certs/public.pem"]


def test_local_sync_keeps_the_token_off_the_share_and_the_dry_run_says_why(new_project, capsys):
    project = new_project(["true"], {".env": "HF_TOKEN=hf_leak_me\n", "finetuning/.env.local": "WANDB_API_KEY=w\n",
                                     ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n"})
    assert main(["sync", "--dry-run", "--project", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "! .env (matches .env)" in out and "! .ssh/ (matches .ssh/)" in out and "finetuning/.env.local" in out
    assert "+ .env" not in out
    result = LocalBackend(project).sync()
    assert ".env" in result.held_back
    share = LocalLayout.for_project(project).share
    on_share = [p for p in share.rglob("*") if p.is_file()]
    assert on_share and all("hf_leak_me" not in p.read_text(errors="replace") for p in on_share)
    assert not any(p.name in (".env", ".env.local", "id_rsa") for p in on_share)


def test_control_characters_in_names_never_reach_the_output_raw(new_project, capsys):
    project = new_project(["true"], {"x\x1b[31mred": "evil\n", "two\nlines.txt": "x\n"})
    assert main(["sync", "--dry-run", "--project", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "x\\x1b[31mred" in out
    assert "two\\nlines.txt" in out


def test_generated_ignore_files_carry_the_same_rules(tmp_path):
    assert main(["new", "p", "--model", "microsoft/Phi-3-mini-4k-instruct", "--dir", str(tmp_path), "--target", "local",
                 "--non-interactive"]) == 0
    for name in (".gitignore", ".ftstudioignore"):
        lines = (tmp_path / "p" / name).read_text().splitlines()
        assert set(workspace.SECRET_PATTERNS) <= set(lines), name
    assert json.loads((tmp_path / "p/infra/finetuning.config.json").read_text())  # the project is whole


@pytest.mark.parametrize("entry", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "a//b", "./x", "x\x1b[2J",
                                   "a\\b", "what?"])
def test_unsafe_manifest_entries_are_never_deleted(new_project, entry):
    project = new_project(["true"], {"train.py": "print(1)\n"})
    backend = LocalBackend(project)
    backend.sync()
    share = LocalLayout.for_project(project).share
    victim = share.parent / "outside.txt"
    victim.write_text("must survive\n")
    manifest_path = share / workspace.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][entry] = {"size": 1, "md5": "x"}
    manifest_path.write_text(json.dumps(manifest))
    assert not workspace.safe_share_path(entry)
    assert entry not in backend.sync(dry_run=True, delete=True).deleted
    backend.sync(delete=True)
    assert victim.read_text() == "must survive\n"
