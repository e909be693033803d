"""Workspace → Azure Files sync through the real azure-storage-file-share client against the fake."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from infra import workspace
from core.errors import Cancelled, InputError, OperationFailed
from core.events import Collector, Info, Progress
from tests.wire._finetune_project import (
    ACCOUNT, SHARE, backend_for, ft_azure, md5_b64, share_files, share_manifest, write_project,  # noqa: F401
)

pytestmark = pytest.mark.wire

BIG = bytes(range(256)) * (4096 * 9 + 17)  # ~9.2 MiB: three 4 MiB ranges, the last one partial


def _files() -> dict:
    return {
        "README.md": "# demo\n",
        "dataset/train.jsonl": '{"phrase": "hi", "tone": "friendly"}\n' * 50,
        "finetuning/train.py": "print('train')\n",
        "finetuning/empty.txt": b"",
        "setup/requirements.txt": "torch==2.13.0\n",
        "data/big.jsonl": BIG,
        # never synced:
        ".git/config": "[core]\n",
        ".venv/lib/x.py": "x",
        "finetuning/__pycache__/train.cpython-311.pyc": b"\x00",
        "outputs/run1/adapter_model.safetensors": b"weights",
        "model-cache/m/config.json": "{}",
        ".ftstudio/state.json": "{}",
    }


def _check_share_matches(fake, root, paths):
    files = share_files(fake)
    for rel in paths:
        assert rel in files, rel
        assert md5_b64(files[rel]) == workspace.md5_file(root / rel), rel
        stored = fake.state.shares[(ACCOUNT, SHARE)].files[rel].md5  # the file's Content-MD5 property
        assert stored is not None and base64.b64encode(stored).decode() == md5_b64(files[rel]), rel


def _manifest_is_true(fake):
    """Every manifest entry describes bytes that are really on the share."""
    files = share_files(fake)
    for rel, entry in share_manifest(fake).get("files", {}).items():
        assert rel in files, f"manifest lists {rel} which is not on the share"
        assert md5_b64(files[rel]) == entry["md5"], f"manifest entry of {rel} does not match the share"
        assert len(files[rel]) == entry["size"]


def test_first_sync_uploads_what_is_not_ignored_with_md5s(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, _files())
    events = Collector()
    result = backend_for(root).sync(on_event=events)

    expected = {"README.md", "dataset/train.jsonl", "finetuning/train.py", "finetuning/empty.txt",
                "setup/requirements.txt", "data/big.jsonl", "infra/finetuning.config.json"}
    assert set(result.uploaded) == expected
    on_share = share_files(ft_azure)
    assert set(on_share) == expected | {workspace.MANIFEST_NAME}
    _check_share_matches(ft_azure, root, expected)
    # Content-MD5 is stored with each file (the fake keeps it only when the client sent it)
    fs = ft_azure.state.shares[(ACCOUNT, SHARE)]
    assert fs.files["data/big.jsonl"].md5 == hashlib.md5(BIG).digest()
    assert fs.files["finetuning/empty.txt"].md5 is not None
    # the first 4 MiB travel in the Create File, the other two ranges each in a Put Range (each body
    # with its own Content-MD5: the fake rejects a mismatch); a small file is one request
    puts = ft_azure.requests.filter("PUT", r"/data/big\.jsonl$", surface="files")
    assert sorted(r.query.get("comp") or "create" for r in puts) == ["create", "range", "range"]
    for small in ("README.md", "dataset/train.jsonl", "finetuning/empty.txt"):
        assert ft_azure.requests.count("PUT", "/" + small.replace(".", r"\.") + "$", surface="files") == 1, small
    assert result.bytes_uploaded == sum(len(v) if isinstance(v, bytes) else len(v.encode()) for k, v in _files().items()
                                        if k in expected) + (root / "infra/finetuning.config.json").stat().st_size
    # each directory created once
    dir_puts = [r.path for r in ft_azure.requests.filter("PUT", surface="files") if r.query.get("restype") == "directory"]
    assert len(dir_puts) == len(set(dir_puts))
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert progress and progress[-1].done == progress[-1].total == result.bytes_uploaded
    assert share_manifest(ft_azure)["files"].keys() == expected
    _manifest_is_true(ft_azure)


def test_unchanged_resync_costs_a_handful_of_requests(ft_azure, tmp_path):
    files = {f"dataset/part{i % 10}/rows{i}.jsonl": f'{{"i": {i}}}\n' for i in range(120)}
    root = write_project(tmp_path / "proj", ft_azure, files)
    backend = backend_for(root)
    first = backend.sync()
    assert len(first.uploaded) == 121

    ft_azure.requests.clear()
    again = backend_for(root).sync()
    assert again.uploaded == [] and again.deleted == [] and again.unchanged == 121
    # listKeys + one read of the manifest, whatever the number of files
    assert len(ft_azure.requests) == 2, [(r.method, r.path) for r in ft_azure.requests]
    assert again.requests == 2
    assert ft_azure.requests.count("PUT") == 0


def test_changed_file_is_the_only_upload(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, _files())
    backend_for(root).sync()
    target = root / "dataset" / "train.jsonl"
    target.write_text(target.read_text() + '{"phrase": "new", "tone": "calm"}\n')
    (root / "finetuning" / "new_helper.py").write_text("X = 1\n")

    ft_azure.requests.clear()
    result = backend_for(root).sync()
    assert sorted(result.uploaded) == ["dataset/train.jsonl", "finetuning/new_helper.py"]
    file_puts = {r.path for r in ft_azure.requests.filter("PUT", surface="files")}
    assert file_puts == {f"/{ACCOUNT}/{SHARE}/dataset/train.jsonl", f"/{ACCOUNT}/{SHARE}/finetuning/new_helper.py",
                         f"/{ACCOUNT}/{SHARE}/{workspace.MANIFEST_NAME}"}
    assert len(ft_azure.requests) < 15
    _check_share_matches(ft_azure, root, ["dataset/train.jsonl", "finetuning/new_helper.py"])
    _manifest_is_true(ft_azure)


def test_ignore_rules_negation_nested_gitignore_and_ftstudioignore(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {
        ".gitignore": "*.jsonl\n!keep.jsonl\nscratch/\n",
        "dataset/drop.jsonl": "x",
        "dataset/keep.jsonl": "y",
        "scratch/notes.txt": "z",
        "finetuning/.gitignore": "*.tmp\n!important.tmp\n",
        "finetuning/a.tmp": "a",
        "finetuning/important.tmp": "b",
        "other/a.tmp": "not ignored: the nested .gitignore applies to its folder only",
        ".ftstudioignore": "docs/\n!dataset/extra.jsonl\n",
        "docs/guide.md": "d",
        "dataset/extra.jsonl": "re-included by .ftstudioignore",
        "scratch/../scratch2/ok.txt": "ok",
    })
    result = backend_for(root).sync()
    uploaded = set(result.uploaded)
    assert {"dataset/keep.jsonl", "finetuning/important.tmp", "other/a.tmp", "dataset/extra.jsonl",
            "scratch2/ok.txt", ".gitignore", "finetuning/.gitignore", ".ftstudioignore"} <= uploaded
    for ignored in ("dataset/drop.jsonl", "scratch/notes.txt", "finetuning/a.tmp", "docs/guide.md"):
        assert ignored not in uploaded
        assert ignored not in share_files(ft_azure)


def test_dry_run_lists_and_writes_nothing(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, _files())
    ft_azure.requests.clear()
    result = backend_for(root).sync(dry_run=True)
    assert result.dry_run
    assert "data/big.jsonl" in result.uploaded and "README.md" in result.uploaded
    assert result.bytes_uploaded >= len(BIG)
    assert [r for r in ft_azure.requests if r.method in ("PUT", "DELETE")] == []
    assert share_files(ft_azure) == {}

    # after a real sync, a dry run with --delete shows what would be removed, and removes nothing
    backend_for(root).sync()
    (root / "README.md").unlink()
    ft_azure.requests.clear()
    preview = backend_for(root).sync(dry_run=True, delete=True)
    assert preview.deleted == ["README.md"] and preview.uploaded == []
    assert "README.md" in share_files(ft_azure)
    assert [r for r in ft_azure.requests if r.method in ("PUT", "DELETE")] == []


def test_size_guard_refuses_model_weights_unless_forced(ft_azure, tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "MAX_WEIGHT_FILE_BYTES", 1024 * 1024)
    root = write_project(tmp_path / "proj", ft_azure, {"train.py": "x", "base/model.safetensors": os.urandom(2 * 1024 * 1024)})
    ft_azure.requests.clear()
    with pytest.raises(InputError) as err:
        backend_for(root).sync()
    assert err.value.exit_code == 2 and err.value.field == "--force"
    assert "base/model.safetensors" in err.value.one_line() and "--force" in err.value.one_line()
    assert ft_azure.requests.count("PUT") == 0 and share_files(ft_azure) == {}

    # a dry run warns instead of failing
    events = Collector()
    backend_for(root).sync(dry_run=True, on_event=events)
    assert any(isinstance(e, Info) and e.level == "warning" and "model.safetensors" in e.text for e in events.events)

    result = backend_for(root).sync(force=True)
    assert "base/model.safetensors" in result.uploaded
    _check_share_matches(ft_azure, root, ["base/model.safetensors"])
    # once on the share, later syncs are not refused (nothing big left to upload)
    assert backend_for(root).sync().uploaded == []


def test_size_guard_on_total_bytes(ft_azure, tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "MAX_SYNC_BYTES", 64 * 1024)
    root = write_project(tmp_path / "proj", ft_azure, {f"data/{i}.txt": os.urandom(20 * 1024) for i in range(5)})
    with pytest.raises(InputError, match="to upload"):
        backend_for(root).sync()
    assert backend_for(root).sync(force=True).uploaded


def test_delete_only_when_asked_and_never_job_outputs(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, _files())
    backend_for(root).sync()
    # what the job wrote, and a file someone else put on the share
    ft_azure.state.put_file(ACCOUNT, SHARE, "outputs/run1/adapter_config.json", b"{}")
    ft_azure.state.put_file(ACCOUNT, SHARE, "model-cache/m/weights.bin", b"w")
    ft_azure.state.put_file(ACCOUNT, SHARE, "notes-from-colleague.txt", b"n")
    (root / "README.md").unlink()
    (root / "finetuning" / "train.py").unlink()

    assert backend_for(root).sync().deleted == []
    assert "README.md" in share_files(ft_azure)

    result = backend_for(root).sync(delete=True)
    assert sorted(result.deleted) == ["README.md", "finetuning/train.py"]
    on_share = share_files(ft_azure)
    assert "README.md" not in on_share and "finetuning/train.py" not in on_share
    for kept in ("outputs/run1/adapter_config.json", "model-cache/m/weights.bin", "notes-from-colleague.txt"):
        assert kept in on_share
    assert "README.md" not in share_manifest(ft_azure)["files"]
    _manifest_is_true(ft_azure)


def test_dropped_connections_then_rerun_completes_with_every_md5_matching(ft_azure, tmp_path):
    files = {f"dataset/f{i:02d}.txt": os.urandom(3000 + i) for i in range(40)}
    files["data/big.jsonl"] = BIG
    root = write_project(tmp_path / "proj", ft_azure, files)
    # more drops than the client retries (5 attempts per request): the first sync must give up
    ft_azure.faults.drop_upload(path=r"/(dataset|data)/", times=40)
    # small files travel in their Create File: every attempt at five of them is cut too
    ft_azure.faults.drop("PUT", r"/dataset/f0[0-4]\.txt$", times=25)
    with pytest.raises(OperationFailed) as err:
        backend_for(root).sync()
    assert "ftstudio sync" in err.value.one_line()
    assert any(kind == "drop" for kind, _, _ in ft_azure.faults.fired)
    first_manifest = share_manifest(ft_azure).get("files", {})
    _manifest_is_true(ft_azure)  # only verified files are recorded
    assert len(first_manifest) < len(files) + 1
    assert not {f"dataset/f0{i}.txt" for i in range(5)} & set(first_manifest)

    ft_azure.faults.clear()
    result = backend_for(root).sync()
    # verified files are not sent again
    assert not set(result.uploaded) & set(first_manifest)
    assert set(result.uploaded) | set(first_manifest) == set(files) | {"infra/finetuning.config.json"}
    _check_share_matches(ft_azure, root, list(files))
    _manifest_is_true(ft_azure)
    assert backend_for(root).sync().uploaded == []


def test_interrupted_sync_keeps_only_verified_files_and_resumes(ft_azure, tmp_path):
    files = {f"dataset/f{i:03d}.txt": os.urandom(2000) for i in range(150)}
    root = write_project(tmp_path / "proj", ft_azure, files)
    backend_for(root).sync()
    # change everything, then press Ctrl-C at the first progress report of the re-sync
    for rel in files:
        files[rel] = os.urandom(2100)
        (root / rel).write_bytes(files[rel])

    def ctrl_c(event):
        if isinstance(event, Progress) and event.step == "sync":
            raise KeyboardInterrupt

    with pytest.raises(Cancelled) as err:
        backend_for(root).sync(on_event=ctrl_c)
    assert err.value.exit_code == 130
    _manifest_is_true(ft_azure)  # stale entries were removed before overwriting; only verified ones remain

    result = backend_for(root).sync()
    assert result.uploaded  # what the interruption left
    _check_share_matches(ft_azure, root, list(files))
    _manifest_is_true(ft_azure)
    assert set(share_manifest(ft_azure)["files"]) == set(files) | {"infra/finetuning.config.json"}


def test_missing_config_key_is_one_clear_line(azure_env, tmp_path):
    root = write_project(tmp_path / "proj", azure_env, {"a.txt": "a"})
    cfg = root / "infra" / "finetuning.config.json"
    import json

    data = json.loads(cfg.read_text())
    del data["FILE_SHARE_NAME"]
    cfg.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        backend_for(root).sync()
    assert err.value.field == "FILE_SHARE_NAME" and "ftstudio provision" in err.value.one_line()


def test_missing_share_is_reported(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {"a.txt": "a"})
    ft_azure.state.shares.pop((ACCOUNT, SHARE))
    with pytest.raises(InputError) as err:
        backend_for(root).sync()
    assert err.value.field == "FILE_SHARE_NAME"


def test_the_storage_key_never_reaches_the_project(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {"a.txt": "a"})
    backend = backend_for(root)
    backend.sync()
    key = ft_azure.state.account_keys(ACCOUNT)[0]
    for path in root.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path
    assert key not in share_files(ft_azure)[workspace.MANIFEST_NAME].decode()


def test_dropped_manifest_rewrite_leaves_the_previous_manifest(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {f"src/{i}.py": f"x = {i}\n" for i in range(20)})
    backend_for(root).sync()
    before = share_manifest(ft_azure)
    (root / "src" / "3.py").write_text("x = 'changed'\n")
    # every attempt to rewrite the manifest is cut: the sync fails before touching src/3.py
    ft_azure.faults.drop_upload(path=workspace.MANIFEST_NAME.replace(".", r"\."), times=100)
    with pytest.raises(OperationFailed):
        backend_for(root).sync()
    assert share_manifest(ft_azure) == before  # rewrites are one atomic Put Range: old or new, never torn
    _manifest_is_true(ft_azure)
    ft_azure.faults.clear()
    assert backend_for(root).sync().uploaded == ["src/3.py"]
    _check_share_matches(ft_azure, root, ["src/3.py"])


def test_a_small_file_is_one_request_with_its_md5_and_a_corrupted_body_is_refused(ft_azure, tmp_path, monkeypatch):
    one, two = os.urandom(3000), os.urandom(2500)
    root = write_project(tmp_path / "proj", ft_azure, {"a/one.txt": one})
    ft_azure.requests.clear()
    backend_for(root).sync()
    # Create File carries the bytes (Content-MD5 checked by the service) and the file's Content-MD5
    puts = ft_azure.requests.filter("PUT", r"/a/one\.txt$", surface="files")
    assert [r.query.get("comp") for r in puts] == [None]
    _check_share_matches(ft_azure, root, ["a/one.txt"])

    # a byte of a/two.txt's body changes on the way (after the SDK computed its Content-MD5)
    from infra.azure import fileshare

    counted = fileshare.RequestCounter.__call__
    corrupted = []

    def corrupt_in_transit(self, request=None):
        counted(self, request)
        http = request.http_request
        if http.method == "PUT" and http.url.split("?")[0].endswith("/a/two.txt") and http.data and not corrupted:
            corrupted.append(http.url)
            http.data = bytes([http.data[0] ^ 0xFF]) + http.data[1:]

    (root / "a" / "two.txt").write_bytes(two)
    with monkeypatch.context() as patched, pytest.raises(OperationFailed) as err:
        patched.setattr(fileshare.RequestCounter, "__call__", corrupt_in_transit)
        backend_for(root).sync()
    assert corrupted and "Md5Mismatch" in err.value.one_line()
    assert "a/two.txt" not in share_files(ft_azure)  # the refused Create File wrote nothing
    assert "a/two.txt" not in share_manifest(ft_azure)["files"]
    _manifest_is_true(ft_azure)

    ft_azure.requests.clear()
    assert backend_for(root).sync().uploaded == ["a/two.txt"]
    assert ft_azure.requests.count("PUT", r"/a/two\.txt$", surface="files") == 1
    _check_share_matches(ft_azure, root, ["a/one.txt", "a/two.txt"])
    _manifest_is_true(ft_azure)
