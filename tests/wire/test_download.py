"""Download of a run's outputs from Azure Files (real SDK client, fake Azure): default run,
recursion, progress, resume of partial files, verification."""
from __future__ import annotations

import os
import time

import pytest

from infra.errors import InputError, OperationFailed
from infra.events import Collector, Progress, StepFinished
from tests.wire._finetune_project import JOB, backend_for, ft_azure, write_project  # noqa: F401

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


def test_resume_skips_complete_files_and_continues_partial_ones(ft_azure, project, tmp_path):
    backend = backend_for(project)
    ex = _run_to_end(ft_azure, backend, writes=_outputs())
    dest = tmp_path / "got" / ex.run_id
    dest.mkdir(parents=True)
    # a complete file from an earlier attempt, and the first 5 MiB of the adapter in a .part
    (dest / "adapter_config.json").write_bytes(b'{"r": 8, "lora_alpha": 16}')
    before = (dest / "adapter_config.json").stat().st_mtime_ns
    (dest / "adapter_model.safetensors.part").write_bytes(ADAPTER[: 5 * 1024 * 1024])

    events = Collector()
    backend.download(ex.run_id, tmp_path / "got", on_event=events)
    assert (dest / "adapter_model.safetensors").read_bytes() == ADAPTER
    assert not (dest / "adapter_model.safetensors.part").exists()
    assert (dest / "adapter_config.json").stat().st_mtime_ns == before  # not fetched again
    finished = [e for e in events.events if isinstance(e, StepFinished) and e.step == "download"]
    assert "3 fetched, 1 already there" in finished[0].detail

    # a second run finds everything in place and fetches nothing
    events = Collector()
    ft_azure.requests.clear()
    backend.download(ex.run_id, tmp_path / "got", on_event=events)
    assert "0 fetched, 4 already there" in [e for e in events.events if isinstance(e, StepFinished)][0].detail
    ranged_gets = [r for r in ft_azure.requests.filter("GET", surface="files") if not r.query.get("restype")]
    assert ranged_gets == []


def test_partial_download_continues_from_where_it_stopped(ft_azure, project, tmp_path):
    """Proof that the .part is continued (not restarted): a file uploaded by sync carries a stored
    MD5; a .part whose prefix is wrong is detected after the ranged continuation, then removed,
    and the next attempt fetches it whole."""
    payload = os.urandom(9 * 1024 * 1024)
    (project / "dataset").mkdir()
    (project / "dataset" / "big.jsonl").write_bytes(payload)
    backend = backend_for(project)
    backend.sync()
    dest = tmp_path / "got" / "dataset"
    dest.mkdir(parents=True)
    (dest / "big.jsonl.part").write_bytes(b"\x00" * (3 * 1024 * 1024))  # wrong bytes, right length so far
    with pytest.raises(OperationFailed, match="MD5 mismatch"):
        backend.download("dataset", tmp_path / "got")
    assert not (dest / "big.jsonl.part").exists()
    backend.download("dataset", tmp_path / "got")
    assert (dest / "big.jsonl").read_bytes() == payload

    # and a correct prefix is kept and completed
    (dest / "big.jsonl").unlink()
    (dest / "big.jsonl.part").write_bytes(payload[: 7 * 1024 * 1024])
    backend.download("dataset", tmp_path / "got")
    assert (dest / "big.jsonl").read_bytes() == payload


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
