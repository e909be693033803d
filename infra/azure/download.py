"""Download a run's outputs (``outputs/<run-id>/`` on the share) to this machine, resumably.

- default: the newest succeeded execution's run (its RUN_ID), else the newest ``outputs/<id>/``
  holding an adapter;
- ``remote_path`` may be a run id, ``outputs/<id>``, any folder or one file of the share;
- the result lands in ``to/<last part of remote_path>/`` (so ``--to outputs`` mirrors the share);
- resumable: a file already there with the same size (and MD5, when the share has one) is skipped;
  a partial ``<name>.part`` continues with a ranged download; every file's size (and stored MD5)
  is verified before it is renamed into place.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Optional

from infra import workspace
from infra.errors import Cancelled, InputError, OperationFailed
from infra.events import EventSink, Info, Progress, StepFailed, StepFinished, StepStarted, ignore

WORKERS = 6
TICK_S = 0.2
PART = ".part"


def _normalise(remote_path: str) -> list[str]:
    """Where ``remote_path`` may be on the share, most likely first: a bare name is a run id
    (``outputs/<name>``) before it is a top-level folder or file."""
    path = remote_path.strip().replace("\\", "/").strip("/")
    while path.startswith("./"):
        path = path[2:]
    if not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise InputError(
            f"{remote_path!r} is not a path on the share.",
            field="REMOTE_PATH",
            fix="give a run id (see `ftstudio status`) or a path such as outputs/<run-id>",
        )
    if "/" not in path and path != "outputs":
        from infra.azure.resources_ref import _RUN_ID

        if _RUN_ID.match(path):
            return [f"outputs/{path}", path]
    return [path]


def default_remote(backend, share) -> str:
    """outputs/<run-id> of the newest succeeded execution; else the newest folder with an adapter."""
    from infra.azure import jobs

    try:
        for ex in jobs.executions(backend, check_outputs=False):
            if ex.status == "Succeeded" and ex.run_id:
                if share.exists_file(f"outputs/{ex.run_id}/adapter_config.json"):
                    return f"outputs/{ex.run_id}"
    except InputError:
        pass  # no job in the config: fall back to what the share holds
    runs = sorted((n for n, is_dir, _ in (share.list_names("outputs") or []) if is_dir), reverse=True)
    for run in runs:
        if share.exists_file(f"outputs/{run}/adapter_config.json"):
            return f"outputs/{run}"
    raise OperationFailed(
        "No succeeded run with an adapter was found on the share (outputs/<run-id>/adapter_config.json).",
        fix="start one with `ftstudio run`, or name what to fetch: `ftstudio download outputs/<run-id>`",
        code="NothingToDownload",
    )


def download(backend, remote_path: Optional[str], to: Path, *, on_event: EventSink = ignore) -> Path:
    from infra.azure.sync import _open_share

    with _open_share(backend) as share:
        candidates = _normalise(remote_path) if remote_path else [default_remote(backend, share)]
        for remote in candidates:
            files = share.walk(remote)
            if files is not None:  # a folder
                dest_root = Path(to) / remote.rsplit("/", 1)[-1]
                return _Downloader(share, files, remote, dest_root, remote, on_event).run()
            size = _file_size(share, remote)
            if size is not None:  # one file
                from infra.azure.fileshare import RemoteFile

                base = remote.rsplit("/", 1)[0] if "/" in remote else ""
                return _Downloader(share, [RemoteFile(remote, size)], base, Path(to), remote, on_event).run()
        raise InputError(
            f"{candidates[-1]} does not exist on the share.",
            field="REMOTE_PATH",
            fix="see `ftstudio status` for run ids with outputs",
        )


def _file_size(share, path: str) -> Optional[int]:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return int(share.file(path).get_file_properties().size)
    except ResourceNotFoundError:
        return None


class _Downloader:
    def __init__(self, share, files, base: str, dest_root: Path, remote: str, on_event: EventSink):
        self.share, self.files, self.base, self.dest_root = share, files, base, dest_root
        self.remote, self.on_event = remote, on_event
        self.total = sum(f.size for f in files)
        self.done = 0
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.fetched = 0
        self.skipped = 0

    def _bytes(self, n: int) -> None:
        with self.lock:
            self.done += n

    def run(self) -> Path:
        title = f"Downloading {self.remote} ({len(self.files)} files, {workspace.human_bytes(self.total)}) to {self.dest_root}"
        self.on_event(StepStarted("download", title))
        self.dest_root.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="download")
        pending = {pool.submit(self._one, f): f for f in self.files}
        error: Optional[BaseException] = None
        last = -1
        try:
            while pending:
                done, _ = wait(list(pending), timeout=TICK_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None and error is None:
                        error = exc
                        self.cancel.set()
                if self.done != last:
                    last = self.done
                    self.on_event(Progress("download", self.done, self.total))
        except KeyboardInterrupt:
            self.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self.on_event(StepFailed("download", title, "interrupted; run the same download again to resume"))
            raise Cancelled("Download interrupted; run it again to resume (finished files are kept).") from None
        pool.shutdown(wait=True)
        if error is not None:
            from infra.azure.fileshare import _Cancelled, describe

            if isinstance(error, (InputError, OperationFailed)):
                raise error
            message = f"Download of {self.remote} failed: {describe(error)}. Run it again to resume."
            if isinstance(error, _Cancelled):
                message = f"Download of {self.remote} stopped. Run it again to resume."
            self.on_event(StepFailed("download", title, message))
            raise OperationFailed(message) from None
        self.on_event(StepFinished("download", title, detail=f"{self.fetched} fetched, {self.skipped} already there"))
        if self.skipped and not self.fetched:
            self.on_event(Info(f"{self.dest_root} already holds {self.remote}."))
        return self.dest_root

    def _one(self, remote) -> None:
        if self.cancel.is_set():
            return
        rel = remote.path[len(self.base) + 1:] if self.base else remote.path
        dest = self.dest_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + PART)
        if dest.is_file() and dest.stat().st_size == remote.size:
            stored = self._stored_md5(remote.path)
            if stored is None or workspace.md5_file(dest) == stored:
                with self.lock:
                    self.skipped += 1
                self._bytes(remote.size)
                return
        offset = part.stat().st_size if part.is_file() else 0
        if offset > remote.size:
            part.unlink()
            offset = 0
        self._bytes(offset)
        stored = self.share.download_to(remote.path, part, offset, remote.size, cancel=self.cancel, on_bytes=self._bytes)
        got = part.stat().st_size
        if got != remote.size:
            raise OperationFailed(f"{remote.path}: got {got} bytes, the share has {remote.size}; run the download again.")
        if stored is not None and workspace.md5_file(part) != stored:
            part.unlink()  # a corrupted resume: start this file over next time
            raise OperationFailed(f"{remote.path}: MD5 mismatch after download; run the download again.")
        os.replace(part, dest)
        with self.lock:
            self.fetched += 1

    def _stored_md5(self, path: str) -> Optional[str]:
        import base64

        md5 = self.share.file(path).get_file_properties().content_settings.content_md5
        return base64.b64encode(bytes(md5)).decode() if md5 else None
