"""The local share follows the shared sync rules (infra/workspace.py) and copies atomically."""
from __future__ import annotations

import json
import os

import pytest

from infra import workspace
from core.errors import InputError, OperationFailed
from core.events import Collector, Progress
from infra.local import share as local_share
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_support import local_python, new_project  # noqa: F401 - fixtures

FILES = {
    "finetuning/train.py": "print('train')\n",
    "dataset/data.jsonl": '{"a": 1}\n',
    ".gitignore": "notes/\n*.tmp\n!keep.tmp\n",
    "notes/private.md": "not synced\n",
    "scratch.tmp": "not synced\n",
    "keep.tmp": "synced: re-included by negation\n",
    ".ftstudioignore": "dataset/big/\n",
    "dataset/big/huge.jsonl": "ignored by .ftstudioignore\n",
    "outputs/old-run/adapter.bin": "never synced\n",
    "model-cache/base/config.json": "never synced\n",
    ".venv/bin/python": "never synced\n",
}


def share_files(project):
    root = LocalLayout.for_project(project).share
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_first_sync_copies_what_the_ignore_rules_allow(new_project):
    project = new_project(["true"], FILES)
    result = LocalBackend(project).sync()
    expected = sorted([".ftstudio-answers.json", ".ftstudioignore", ".gitignore", "dataset/data.jsonl",
                       "finetuning/train.py", "infra/finetuning.config.json", "infra/inference.config.json",
                       "keep.tmp", "setup/requirements.txt"])
    assert sorted(result.uploaded) == expected
    assert share_files(project) == sorted(expected + [workspace.MANIFEST_NAME])
    assert result.bytes_uploaded == sum((project.root / p).stat().st_size for p in expected)


def test_only_changed_files_are_copied_again_and_modes_are_kept(new_project):
    project = new_project(["true"], FILES)
    (project.root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(project.root / "run.sh", 0o755)
    backend = LocalBackend(project)
    first = backend.sync()
    again = backend.sync()
    assert again.uploaded == [] and again.unchanged == len(first.uploaded)
    (project.root / "finetuning/train.py").write_text("print('changed')\n")
    third = backend.sync()
    assert third.uploaded == ["finetuning/train.py"]
    share = LocalLayout.for_project(project).share
    assert (share / "finetuning/train.py").read_text() == "print('changed')\n"
    assert os.access(share / "run.sh", os.X_OK)
    assert not [p for p in share.rglob("*") if "ftstudio-tmp" in p.name]  # no temp file left behind


def test_dry_run_changes_nothing(new_project):
    project = new_project(["true"], FILES)
    result = LocalBackend(project).sync(dry_run=True)
    assert result.dry_run and "finetuning/train.py" in result.uploaded
    assert not LocalLayout.for_project(project).share.exists() or share_files(project) == []


def test_delete_removes_only_what_sync_put_there_never_outputs(new_project):
    project = new_project(["true"], FILES)
    backend = LocalBackend(project)
    backend.sync()
    share = LocalLayout.for_project(project).share
    (share / "outputs/run-1").mkdir(parents=True)
    (share / "outputs/run-1/adapter_model.safetensors").write_text("weights")
    (share / "model-cache").mkdir()
    (share / "model-cache/config.json").write_text("{}")
    (share / "made-by-the-job.txt").write_text("not in the manifest")
    (project.root / "keep.tmp").unlink()

    kept = backend.sync()
    assert kept.deleted == [] and (share / "keep.tmp").exists()  # no --delete: nothing removed
    removed = backend.sync(delete=True)
    assert removed.deleted == ["keep.tmp"] and not (share / "keep.tmp").exists()
    assert (share / "outputs/run-1/adapter_model.safetensors").exists()
    assert (share / "model-cache/config.json").exists()
    assert (share / "made-by-the-job.txt").exists()


def test_a_file_removed_from_the_share_is_copied_again(new_project):
    project = new_project(["true"], FILES)
    backend = LocalBackend(project)
    backend.sync()
    (LocalLayout.for_project(project).share / "finetuning/train.py").unlink()
    assert backend.sync().uploaded == ["finetuning/train.py"]


def test_large_uploads_are_refused_unless_forced(new_project, monkeypatch):
    project = new_project(["true"], FILES)
    backend = LocalBackend(project)
    monkeypatch.setattr(workspace, "MAX_SYNC_BYTES", 100)
    with pytest.raises(InputError) as err:
        backend.sync()
    assert err.value.field == "--force" and "--force" in err.value.one_line()
    assert not LocalLayout.for_project(project).share.exists()  # nothing half-written
    events = Collector()
    assert backend.sync(force=True, on_event=events).uploaded
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert progress and progress[-1].done == progress[-1].total


def test_model_weights_in_the_workspace_are_refused(new_project, monkeypatch):
    project = new_project(["true"], FILES)
    monkeypatch.setattr(workspace, "MAX_WEIGHT_FILE_BYTES", 10)
    (project.root / "base").mkdir()
    (project.root / "base/model.safetensors").write_bytes(b"\0" * 64)
    (project.root / "notes.txt").write_bytes(b"x" * 64)  # not weights: fine at that size
    with pytest.raises(InputError, match="model weights in the workspace: base/model.safetensors"):
        LocalBackend(project).sync()


def test_manifest_is_written_even_when_interrupted(new_project, monkeypatch):
    project = new_project(["true"], FILES)
    real = local_share.atomic_copy
    calls = []

    def flaky(src, dest):
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(src, dest)

    monkeypatch.setattr(local_share, "atomic_copy", flaky)
    with pytest.raises(KeyboardInterrupt):
        LocalBackend(project).sync()
    manifest = json.loads((LocalLayout.for_project(project).share / workspace.MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 2
    monkeypatch.setattr(local_share, "atomic_copy", real)
    assert len(LocalBackend(project).sync().uploaded) == 9 - 2  # resumes with the rest


def test_download_copies_a_run_and_refuses_paths_outside_the_share(new_project, tmp_path):
    project = new_project(["true"], FILES)
    backend = LocalBackend(project)
    with pytest.raises(OperationFailed, match="No succeeded local run"):
        backend.download(None, tmp_path / "dl")
    share = LocalLayout.for_project(project).share
    (share / "outputs/r1/checkpoints/checkpoint-2").mkdir(parents=True)
    (share / "outputs/r1/adapter_config.json").write_text("{}")
    (share / "outputs/r1/checkpoints/checkpoint-2/state.pt").write_bytes(b"1" * 1000)
    events = Collector()
    dest = backend.download("/mount/outputs/r1", tmp_path / "dl", on_event=events)
    assert dest == tmp_path / "dl/r1"
    assert (dest / "checkpoints/checkpoint-2/state.pt").read_bytes() == b"1" * 1000
    assert [e for e in events.events if isinstance(e, Progress)][-1].done == 1002
    assert backend.download("r1", tmp_path / "dl2") == tmp_path / "dl2/r1"  # a bare run id
    with pytest.raises(InputError, match="outside the share"):
        backend.download("../../etc", tmp_path / "dl")
    with pytest.raises(OperationFailed, match="does not exist"):
        backend.download("outputs/nope", tmp_path / "dl")
