"""`download` on the local target (issue 16, items 2 and 4): every copied file is whole and equal to
the share's as it was read, temp names never clobber a file of the share, and an OS error (a file
in the way, a full disk) is one line with the contract's exit code and nothing half-written."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.oserrors import disk_full_after

from core.errors import InputError, OperationFailed
from infra.download_target import check_download_target
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_support import cli, local_python, new_project  # noqa: F401 - fixtures


@pytest.fixture
def run_share(new_project):
    """(backend, outputs/r1 folder in the local share)."""
    project = new_project(["true"])
    out = LocalLayout.for_project(project).share / "outputs" / "r1"
    out.mkdir(parents=True)
    return LocalBackend(project), out


def _temps(folder):
    return [p for p in folder.rglob("*") if "ftstudio-tmp" in p.name]


def test_names_like_the_temp_names_are_copied_whole(run_share, tmp_path):
    """The share may hold ``a.bin.part`` and even the old temp name beside ``a.bin``: the copy of
    ``a.bin`` used that temp name and replaced the earlier copy. Temp names are now created
    exclusively, so no file of the share is ever overwritten by another's copy."""
    backend, out = run_share
    files = {"a.bin": os.urandom(60), "a.bin.part": os.urandom(5000),
             f".a.bin.ftstudio-tmp-{os.getpid()}": b"a file of the share, not a temp file"}
    for name, data in files.items():
        (out / name).write_bytes(data)
    for _ in range(2):
        dest = backend.download("outputs/r1", tmp_path / "got")
        assert {p.name: p.read_bytes() for p in dest.iterdir()} == files


def test_a_same_size_rewrite_is_copied_again(run_share, tmp_path):
    backend, out = run_share
    (out / "adapter.bin").write_bytes(b"1" * 100)
    dest = backend.download("outputs/r1", tmp_path / "got")
    (out / "adapter.bin").write_bytes(b"2" * 100)
    os.utime(out / "adapter.bin", ns=(1, 1_000_000_000))  # another version: its mtime differs
    backend.download("outputs/r1", tmp_path / "got")
    assert (dest / "adapter.bin").read_bytes() == b"2" * 100


def test_a_full_disk_is_one_line_and_leaves_no_half_file(run_share, tmp_path):
    backend, out = run_share
    payload = os.urandom(3 * 1024 * 1024)
    (out / "adapter.bin").write_bytes(payload)
    dest = tmp_path / "got" / "r1"
    with disk_full_after(1024 * 1024), pytest.raises(OperationFailed) as err:
        backend.download("outputs/r1", tmp_path / "got")
    line = err.value.one_line()
    assert "outputs/r1/adapter.bin" in line and str(dest / "adapter.bin") in line and "\n" not in line
    assert err.value.exit_code == 1
    assert not (dest / "adapter.bin").exists() and _temps(tmp_path / "got") == []
    assert backend.download("outputs/r1", tmp_path / "got") == dest
    assert (dest / "adapter.bin").read_bytes() == payload


def test_a_source_written_during_the_copy_is_copied_again_or_refused(run_share, tmp_path, monkeypatch):
    """A run still writing the file: the copy that raced it is never renamed into place."""
    backend, out = run_share
    src = out / "metrics.json"
    src.write_bytes(b"v1")
    real = shutil.copyfile
    writes = {"left": 1}

    def copy_while_written(a, b, **kw):
        result = real(a, b, **kw)
        if os.fspath(a) == os.fspath(src) and writes["left"]:
            writes["left"] -= 1
            with open(src, "ab") as fh:  # the run appends right after the bytes were read
                fh.write(b"+v2")
        return result

    monkeypatch.setattr(shutil, "copyfile", copy_while_written)
    dest = backend.download("outputs/r1", tmp_path / "got")
    assert (dest / "metrics.json").read_bytes() == b"v1+v2"  # the second copy saw one version

    writes["left"] = 99  # written during every copy
    with pytest.raises(OperationFailed, match="outputs/r1/metrics.json changed while it was being copied"):
        backend.download("outputs/r1", tmp_path / "got2")
    assert not (tmp_path / "got2" / "r1" / "metrics.json").exists() and _temps(tmp_path / "got2") == []


def test_a_file_in_the_way_is_exit_2_before_anything_is_copied(run_share, tmp_path, capsys):
    backend, out = run_share
    (out / "adapter.bin").write_bytes(b"x")
    hostname = tmp_path / "hostname"
    hostname.write_text("box\n")
    for to in (hostname, hostname / "sub"):
        code, _, err = cli(capsys, "download", "outputs/r1", "--to", str(to),
                           "--project", str(backend.project.root))
        assert code == 2 and err.count("\n") == 1 and "--to" in err and str(hostname) in err, err
        assert "Traceback" not in err
    assert hostname.read_text() == "box\n"
    # a file where the download needs its folder, inside --to: exit 2 as well
    (tmp_path / "got").mkdir()
    (tmp_path / "got" / "r1").write_text("in the way")
    with pytest.raises(InputError) as err:
        backend.download("outputs/r1", tmp_path / "got")
    assert err.value.field == "--to" and str(tmp_path / "got" / "r1") in err.value.one_line()
    # deeper in the tree: the copy of that file fails (exit 1), one line naming it
    (tmp_path / "got" / "r1").unlink()
    (tmp_path / "got" / "r1").mkdir()
    (out / "ckpt").mkdir()
    (out / "ckpt" / "state.pt").write_bytes(b"s")
    (tmp_path / "got" / "r1" / "ckpt").write_text("a file where the share has a folder")
    with pytest.raises(OperationFailed) as err:
        backend.download("outputs/r1", tmp_path / "got")
    assert "outputs/r1/ckpt/state.pt" in err.value.one_line() and "\n" not in err.value.one_line()


def test_a_read_only_target_is_exit_2(run_share, tmp_path):
    backend, out = run_share
    (out / "adapter.bin").write_bytes(b"x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: a read-only file system instead
            locked = Path("/proc/sys")
            if not locked.is_dir() or os.access(locked, os.W_OK):
                pytest.skip("no read-only folder for this user")
        with pytest.raises(InputError) as err:
            backend.download("outputs/r1", locked / "sub")
        assert err.value.field == "--to" and "not writable" in err.value.one_line()
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_check_download_target_accepts_a_folder_to_create(tmp_path):
    check_download_target(tmp_path / "new" / "deeper")  # created later: fine
    check_download_target(tmp_path)
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match="broken symbolic link"):
        check_download_target(link / "x")
