"""Download of a run's outputs from Azure Files (real SDK client, fake Azure): default run,
recursion, progress, resume of partial files, verification."""
from __future__ import annotations

import os
import threading
import time

import pytest

from tests.oserrors import disk_full_after

from infra.azure.download import PART
from infra.azure.fileshare import open_share
from core.errors import InputError, OperationFailed
from core.events import Collector, Progress, StepFinished, StepStarted
from tests.fakeazure.files import reads
from tests.wire._finetune_project import ACCOUNT, JOB, SHARE, backend_for, ft_azure, write_project  # noqa: F401

pytestmark = pytest.mark.wire

ADAPTER = os.urandom(6 * 1024 * 1024 + 123)  # bigger than one 4 MiB chunk
CKPT = os.urandom(50_000)


def _run_to_end(fake, backend, **script):
    fake.jobs.script(JOB, lines=["ok"], times=1, **script)
    ex = backend.run()
    deadline = time.monotonic() + 10
    while not (ex := backend.execution(ex.name)).finished:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return ex


@pytest.fixture
def project(ft_azure, tmp_path):
    return write_project(tmp_path / "proj", ft_azure, {"finetuning/train.py": "print('train')\n"})


def _outputs(run_id_placeholder="{RUN_ID}"):
    return {
        f"outputs/{run_id_placeholder}/adapter_config.json": b'{"r": 8, "lora_alpha": 16}',
        f"outputs/{run_id_placeholder}/adapter_model.safetensors": ADAPTER,
        f"outputs/{run_id_placeholder}/metrics.json": b'{"status": "succeeded"}',
        f"outputs/{run_id_placeholder}/checkpoints/checkpoint-2/optimizer.pt": CKPT,
    }


def test_download_defaults_to_the_latest_succeeded_run(ft_azure, project, tmp_path):
    backend = backend_for(project)
    older = _run_to_end(ft_azure, backend, writes=_outputs())
    newest_ok = _run_to_end(ft_azure, backend, writes={
        **_outputs(), "outputs/{RUN_ID}/adapter_config.json": b'{"r": 16}'})
    _run_to_end(ft_azure, backend, exit_code=1)  # newest overall, but failed
    assert older.run_id != newest_ok.run_id

    events = Collector()
    dest = backend.download(None, tmp_path / "got", on_event=events)
    assert dest == tmp_path / "got" / newest_ok.run_id
    assert (dest / "adapter_config.json").read_bytes() == b'{"r": 16}'
    assert (dest / "adapter_model.safetensors").read_bytes() == ADAPTER
    assert (dest / "checkpoints" / "checkpoint-2" / "optimizer.pt").read_bytes() == CKPT
    assert not list(dest.rglob("*.part"))
    progress = [e for e in events.events if isinstance(e, Progress)]
    total = len(ADAPTER) + len(CKPT) + len(b'{"r": 16}') + len(b'{"status": "succeeded"}')
    assert progress[-1].done == progress[-1].total == total


def test_download_by_run_id_path_or_single_file(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    by_id = backend.download(ex.run_id, tmp_path / "a")
    assert (by_id / "metrics.json").is_file() and by_id.name == ex.run_id
    by_path = backend.download(f"outputs/{ex.run_id}/checkpoints", tmp_path / "b")
    assert by_path == tmp_path / "b" / "checkpoints"
    assert (by_path / "checkpoint-2" / "optimizer.pt").read_bytes() == CKPT
    one = backend.download(f"outputs/{ex.run_id}/metrics.json", tmp_path / "c")
    assert (tmp_path / "c" / "metrics.json").read_bytes() == b'{"status": "succeeded"}' and one == tmp_path / "c"
    with pytest.raises(InputError) as err:
        backend.download("outputs/no-such-run", tmp_path / "d")
    assert err.value.field == "REMOTE_PATH"
    with pytest.raises(InputError):
        backend.download("../secrets", tmp_path / "d")


def test_nothing_to_download_is_clear(ft_azure, project, tmp_path):
    with pytest.raises(OperationFailed, match="No succeeded run"):
        backend_for(project).download(None, tmp_path / "x")


def test_files_already_there_are_trusted_only_from_a_recorded_download(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    dest = tmp_path / "got" / ex.run_id
    dest.mkdir(parents=True)
    # same size as the remote, but nothing proves it is that version (a job's file has no MD5)
    (dest / "adapter_config.json").write_bytes(b'{"r": 9, "lora_alpha": 16}')
    # a local file with the old temp name: not ours any more, so never spliced and never touched
    (dest / "adapter_model.safetensors.part").write_bytes(ADAPTER[: 5 * 1024 * 1024])

    events = Collector()
    backend.download(ex.run_id, tmp_path / "got", on_event=events)
    assert (dest / "adapter_config.json").read_bytes() == b'{"r": 8, "lora_alpha": 16}'
    assert (dest / "adapter_model.safetensors").read_bytes() == ADAPTER
    assert (dest / "adapter_model.safetensors.part").read_bytes() == ADAPTER[: 5 * 1024 * 1024]
    assert not [p for p in dest.rglob("*") if PART in p.name]
    finished = [e for e in events.events if isinstance(e, StepFinished) and e.step == "download"]
    assert "4 fetched, 0 already there" in finished[0].detail

    # a second run finds everything in place, as recorded, and fetches nothing
    events = Collector()
    ft_azure.requests.clear()
    backend.download(ex.run_id, tmp_path / "got", on_event=events)
    assert "0 fetched, 4 already there" in [e for e in events.events if isinstance(e, StepFinished)][0].detail
    ranged_gets = [r for r in ft_azure.requests.filter("GET", surface="files") if not r.query.get("restype")]
    assert ranged_gets == []


def test_a_same_size_rewrite_without_md5_is_fetched_again(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    dest = backend.download(ex.run_id, tmp_path / "got")
    new = os.urandom(len(ADAPTER))  # same size, other bytes, no Content-MD5: only the ETag tells
    ft_azure.state.put_file(ACCOUNT, SHARE, f"outputs/{ex.run_id}/adapter_model.safetensors", new)
    events = Collector()
    backend.download(ex.run_id, tmp_path / "got", on_event=events)
    assert (dest / "adapter_model.safetensors").read_bytes() == new
    assert "1 fetched, 3 already there" in [e for e in events.events if isinstance(e, StepFinished)][0].detail
    # and a local edit (mtime changes) is replaced by the share's version
    (dest / "metrics.json").write_bytes(b'{"status": "edited!!"}')
    backend.download(ex.run_id, tmp_path / "got")
    assert (dest / "metrics.json").read_bytes() == b'{"status": "succeeded"}'


def test_interrupted_download_resumes_with_a_ranged_read(ft_azure, project, tmp_path):
    """A full disk stops the adapter after 5 MiB: one line naming the file, exit 1, nothing at the
    destination; the next run reads only the missing bytes of the same version (same ETag)."""
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    remote = f"outputs/{ex.run_id}/adapter_model.safetensors"
    dest = tmp_path / "got" / ex.run_id
    part = dest / ("adapter_model.safetensors" + PART)
    with disk_full_after(5 * 1024 * 1024), pytest.raises(OperationFailed) as err:
        backend.download(ex.run_id, tmp_path / "got")
    assert str(dest / "adapter_model.safetensors") in err.value.one_line() and remote in err.value.one_line()
    assert "\n" not in err.value.one_line()
    assert not (dest / "adapter_model.safetensors").exists()
    assert part.stat().st_size == 5 * 1024 * 1024

    reads(ft_azure, ACCOUNT, SHARE).clear()
    backend.download(ex.run_id, tmp_path / "got")
    assert (dest / "adapter_model.safetensors").read_bytes() == ADAPTER
    assert not part.exists()
    assert [r[1:] for r in reads(ft_azure, ACCOUNT, SHARE) if r[0] == remote] == [(5 * 1024 * 1024, len(ADAPTER) - 1)]


def test_a_stale_part_from_an_older_version_starts_over(ft_azure, project, tmp_path):
    """The issue's case: a part of an older adapter, the remote since rewritten and bigger. The
    part's recorded ETag differs from the share's: it is discarded, never spliced."""
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    remote = f"outputs/{ex.run_id}/adapter_model.safetensors"
    dest = tmp_path / "got" / ex.run_id
    with disk_full_after(5 * 1024 * 1024), pytest.raises(OperationFailed):
        backend.download(ex.run_id, tmp_path / "got")
    assert (dest / ("adapter_model.safetensors" + PART)).stat().st_size == 5 * 1024 * 1024
    rewritten = os.urandom(2 * len(ADAPTER))
    ft_azure.state.put_file(ACCOUNT, SHARE, remote, rewritten)

    reads(ft_azure, ACCOUNT, SHARE).clear()
    backend.download(ex.run_id, tmp_path / "got")
    assert (dest / "adapter_model.safetensors").read_bytes() == rewritten
    assert [r[1] for r in reads(ft_azure, ACCOUNT, SHARE) if r[0] == remote] == [0]


def test_a_corrupted_part_is_caught_by_the_stored_md5(ft_azure, project, tmp_path):
    payload = os.urandom(9 * 1024 * 1024)
    (project / "dataset").mkdir()
    (project / "dataset" / "big.jsonl").write_bytes(payload)
    backend = backend_for(project)
    backend.sync()  # uploaded by sync: the share stores its Content-MD5
    part = tmp_path / "got" / "dataset" / ("big.jsonl" + PART)
    with disk_full_after(3 * 1024 * 1024), pytest.raises(OperationFailed):
        backend.download("dataset", tmp_path / "got")
    with open(part, "r+b") as fh:
        fh.write(b"\x00" * 1024)  # the disk garbled the kept prefix
    with pytest.raises(OperationFailed, match="dataset/big.jsonl: MD5 mismatch"):
        backend.download("dataset", tmp_path / "got")
    assert not part.exists() and not (tmp_path / "got" / "dataset" / "big.jsonl").exists()
    backend.download("dataset", tmp_path / "got")
    assert (tmp_path / "got" / "dataset" / "big.jsonl").read_bytes() == payload


def test_a_share_holding_a_file_and_its_part_name(ft_azure, project, tmp_path):
    """``a.bin`` and ``a.bin.part`` on the share are two files: both arrive whole, every time."""
    one, two = os.urandom(60), os.urandom(5 * 1024 * 1024)
    ft_azure.state.put_file(ACCOUNT, SHARE, "outputs/pair/a.bin", one)
    ft_azure.state.put_file(ACCOUNT, SHARE, "outputs/pair/a.bin.part", two)
    ft_azure.state.put_file(ACCOUNT, SHARE, "outputs/pair/a.bin.part.part", b"3")
    backend = backend_for(project)
    for _ in range(3):
        dest = backend.download("outputs/pair", tmp_path / "got")
        assert (dest / "a.bin").read_bytes() == one
        assert (dest / "a.bin.part").read_bytes() == two
        assert (dest / "a.bin.part.part").read_bytes() == b"3"
        assert sorted(p.name for p in dest.iterdir()) == ["a.bin", "a.bin.part", "a.bin.part.part"]


def test_the_share_refuses_names_with_the_temp_names_character(ft_azure, project):
    """Why a temp name with ":" can never collide: Azure Files refuses such a name."""
    from azure.core.exceptions import HttpResponseError

    with open_share(backend_for(project)) as share:
        with pytest.raises(HttpResponseError) as err:
            share.file("a.bin" + PART).create_file(1)
    assert err.value.error_code == "InvalidResourceName"


def test_a_remote_rewritten_after_listing_is_fetched_as_its_new_version(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    remote = f"outputs/{ex.run_id}/adapter_model.safetensors"
    newer = os.urandom(len(ADAPTER) + 1000)

    def rewrite_once(event):
        if isinstance(event, StepStarted) and not rewrite_once.done:  # listed, not yet read
            rewrite_once.done = True
            ft_azure.state.put_file(ACCOUNT, SHARE, remote, newer)
    rewrite_once.done = False

    events = Collector()
    dest = backend.download(ex.run_id, tmp_path / "got", on_event=lambda e: (rewrite_once(e), events(e)))
    assert (dest / "adapter_model.safetensors").read_bytes() == newer
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total


def test_a_remote_changing_during_the_download_fails_naming_it(ft_azure, project, tmp_path):
    """A job still writing the file: every read sees another version. The file is not written,
    the command fails (exit 1) naming it, and the other files are whole or absent."""
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    remote = f"outputs/{ex.run_id}/adapter_model.safetensors"
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            ft_azure.state.put_file(ACCOUNT, SHARE, remote, os.urandom(len(ADAPTER)))
            time.sleep(0.005)

    thread = threading.Thread(target=writer, daemon=True)
    ft_azure.latency_ms = 100  # each request answered a round trip later: the writer always lands between
    thread.start()
    try:
        with pytest.raises(OperationFailed) as err:
            backend.download(ex.run_id, tmp_path / "got")
    finally:
        stop.set()
        thread.join()
        ft_azure.latency_ms = 0
    dest = tmp_path / "got" / ex.run_id
    assert f"{remote} changed on the share while it was being downloaded" in err.value.one_line()
    assert not (dest / "adapter_model.safetensors").exists()
    assert not (dest / ("adapter_model.safetensors" + PART)).exists()
    for name, data in (("adapter_config.json", b'{"r": 8, "lora_alpha": 16}'),
                       ("metrics.json", b'{"status": "succeeded"}')):
        assert not (dest / name).exists() or (dest / name).read_bytes() == data


def test_download_to_a_file_is_exit_2_before_any_request(ft_azure, project, tmp_path, capsys):
    from tui.cli import main

    target = tmp_path / "hostname"
    target.write_text("box\n")
    for to in (target, target / "sub"):
        capsys.readouterr()
        ft_azure.requests.clear()
        code = main(["download", "outputs/x", "--to", str(to), "--project", str(project)])
        out, err = capsys.readouterr()
        assert code == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err and "--to" in err and str(target) in err
        assert ft_azure.requests.filter(surface="files") == []
    assert target.read_text() == "box\n"


def test_a_file_where_the_download_needs_a_folder_is_one_line(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    got = tmp_path / "got"
    got.mkdir()
    (got / ex.run_id).write_text("in the way")
    with pytest.raises(InputError) as err:
        backend.download(ex.run_id, got)
    assert err.value.field == "--to" and str(got / ex.run_id) in err.value.one_line()
    (got / ex.run_id).unlink()
    (got / ex.run_id).mkdir()
    (got / ex.run_id / "checkpoints").write_text("a file where the share has a folder")
    with pytest.raises(OperationFailed) as err:
        backend.download(ex.run_id, got)
    assert "checkpoints" in err.value.one_line() and "\n" not in err.value.one_line()


def test_a_changed_local_copy_is_replaced(ft_azure, project, tmp_path):
    (project / "notes.txt").write_text("v2 from the share")
    backend = backend_for(project)
    backend.sync()
    local = tmp_path / "got"
    local.mkdir()
    (local / "notes.txt").write_text("v1 from the share")  # same size, other bytes: the stored MD5 tells
    backend.download("notes.txt", local)
    assert (local / "notes.txt").read_text() == "v2 from the share"


def test_dropped_connection_mid_download_then_resume(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    # GETs of the adapter fail on every attempt: the download gives up, keeping what it got
    ft_azure.faults.drop("GET", r"/adapter_model\.safetensors$", times=100)
    with pytest.raises(OperationFailed, match="Run it again to resume"):
        backend.download(ex.run_id, tmp_path / "got")
    ft_azure.faults.clear()
    dest = backend.download(ex.run_id, tmp_path / "got")
    assert (dest / "adapter_model.safetensors").read_bytes() == ADAPTER
    assert (dest / "checkpoints" / "checkpoint-2" / "optimizer.pt").read_bytes() == CKPT
