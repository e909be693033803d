"""Download a run's outputs (``outputs/<run-id>/`` on the share) to this machine, resumably.

- default: the newest succeeded execution's run (its RUN_ID), else the newest ``outputs/<id>/``
  holding an adapter;
- ``remote_path`` may be a run id, ``outputs/<id>``, any folder or one file of the share;
- the result lands in ``to/<last part of remote_path>/`` (so ``--to outputs`` mirrors the share);
- verified, not trusted: bytes land in ``<name>:ftstudio-part`` (``:`` is refused by Azure Files,
  so it never collides with a file of the share) and the remote's ETag, size and Last-Modified are
  recorded (``DownloadState``, in the cache dir) before its first byte. A part resumes with a ranged
  read only when its record names the ETag the share still reports; else it starts over. Every
  response's ETag, a HEAD after the last byte, the size and the stored MD5 (when the share has
  one) are checked before the rename, so a finished file equals the remote as it was read;
- a file already there is skipped only when its recorded download is of the current ETag and its
  size and mtime are unchanged, or when it matches the share's stored MD5.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Optional

from infra import workspace
from core.errors import Cancelled, InputError, OperationFailed
from core.events import EventSink, Info, Progress, StepFailed, StepFinished, StepStarted, ignore

WORKERS = 6
TICK_S = 0.2
PART = ":ftstudio-part"  # ":" is refused by Azure Files: no file of the share has this name


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
        from core.run_rules import is_run_id

        if is_run_id(path):
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
    from infra.azure.fileshare import open_share
    from infra.download_target import check_download_target

    check_download_target(Path(to))  # a file in the way is bad input, found before any request
    with open_share(backend) as share:
        candidates = _normalise(remote_path) if remote_path else [default_remote(backend, share)]
        for remote in candidates:
            files = share.walk(remote)
            if files is not None:  # a folder
                dest_root = Path(to) / remote.rsplit("/", 1)[-1]
                return _Downloader(share, files, remote, dest_root, remote, on_event).run()
            one = share.remote_file(remote)
            if one is not None:  # one file
                base = remote.rsplit("/", 1)[0] if "/" in remote else ""
                return _Downloader(share, [one], base, Path(to), remote, on_event).run()
        raise InputError(
            f"{candidates[-1]} does not exist on the share.",
            field="REMOTE_PATH",
            fix="see `ftstudio status` for run ids with outputs",
        )


class DownloadState:
    """What this machine knows about the files under one download folder, by relative path:
    ``{"state": "partial"|"done", "etag", "size", "last_modified"[, "mtime_ns"]}``.

    Kept in the cache dir (never in the user's folder, so nothing extra lands in an adapter) as one
    JSON file per absolute destination, rewritten atomically. A lost or unreadable record only
    costs a fresh download: without one, nothing is trusted."""

    def __init__(self, dest_root: Path):
        from core.paths import cache_dir

        key = hashlib.sha256(str(Path(dest_root).absolute()).encode()).hexdigest()[:24]
        self.path = cache_dir() / "downloads" / f"{key}.json"
        self.root = str(Path(dest_root).absolute())
        self.lock = threading.Lock()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            ok = data.get("root") == self.root and isinstance(data.get("files"), dict)
            self.files: dict = data["files"] if ok else {}
        except (OSError, ValueError, AttributeError):
            self.files = {}

    def get(self, rel: str) -> Optional[dict]:
        with self.lock:
            rec = self.files.get(rel)
            return dict(rec) if isinstance(rec, dict) else None

    def put(self, rel: str, record: Optional[dict]) -> None:
        from core.jsonio import write_json

        with self.lock:
            if record is None:
                if self.files.pop(rel, None) is None:
                    return
            else:
                self.files[rel] = record
            try:
                write_json(self.path, {"root": self.root, "files": self.files})
            except OSError as exc:
                raise OperationFailed(
                    f"Could not record the download state in {self.path}: {exc.strerror or exc}.",
                    fix="make ftstudio's cache folder writable (or set FTSTUDIO_HOME), then run the download again",
                ) from None


def _record(remote, state: str, **extra) -> dict:
    return {"state": state, "etag": remote.etag, "size": remote.size, "last_modified": remote.last_modified, **extra}


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
        self.state = DownloadState(dest_root)

    def _bytes(self, n: int) -> None:
        with self.lock:
            self.done += n

    def run(self) -> Path:
        title = f"Downloading {self.remote} ({len(self.files)} files, {workspace.human_bytes(self.total)}) to {self.dest_root}"
        self.on_event(StepStarted("download", title))
        try:
            self.dest_root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(f"{self.dest_root} is a file, not a folder; the download needs a folder there.",
                             field="--to", fix="move that file away or choose another --to") from None
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="download")
        pending = {pool.submit(self._one, f): f for f in self.files}
        error: Optional[BaseException] = None
        failed = None
        last = -1
        try:
            while pending:
                done, _ = wait(list(pending), timeout=TICK_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    f = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None and error is None:
                        error, failed = exc, f
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
            message = f"Download of {failed.path} failed: {describe(error)}. Run it again to resume."
            if isinstance(error, _Cancelled):
                message = f"Download of {self.remote} stopped. Run it again to resume."
            self.on_event(StepFailed("download", title, message))
            raise OperationFailed(message) from None
        self.on_event(StepFinished("download", title, detail=f"{self.fetched} fetched, {self.skipped} already there"))
        if self.skipped and not self.fetched:
            self.on_event(Info(f"{self.dest_root} already holds {self.remote}."))
        return self.dest_root

    def _one(self, remote) -> None:
        from infra.azure.fileshare import RemoteChanged
        from infra.download_target import write_error_fix

        if self.cancel.is_set():
            return
        rel = remote.path[len(self.base) + 1:] if self.base else remote.path
        dest = self.dest_root / rel
        part = dest.with_name(dest.name + PART)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not remote.etag:  # a listing without ETags: ask the file itself (a HEAD)
                remote = self.share.remote_file(remote.path) or remote
            if self._already_there(remote, rel, dest):
                with self.lock:
                    self.skipped += 1
                self._bytes(remote.size)
                return
            for attempt in (1, 2):
                try:
                    self._fetch(remote, rel, dest, part)
                    break
                except RemoteChanged:
                    # rewritten since it was listed (a job still writing?): start over once, then give up
                    fresh = self.share.remote_file(remote.path) if attempt == 1 else None
                    if fresh is None:
                        gone = attempt == 1
                        raise OperationFailed(
                            f"{remote.path} {'was deleted from' if gone else 'changed on'} the share while it was "
                            f"being downloaded; {dest} was not written.",
                            fix="run the download again once the job that writes it has finished",
                        ) from None
                    with self.lock:
                        self.total += fresh.size - remote.size
                    remote = fresh
        except OSError as exc:
            if exc.errno is None:  # not this machine's file system (a network error): keep it as it is
                raise
            where = exc.filename2 or exc.filename
            where = dest if where is None or str(where) == str(part) else where  # the part is ours: name the file
            raise OperationFailed(
                f"Could not write {where} (downloading {remote.path}): {exc.strerror or exc}.",
                fix=write_error_fix(exc),
            ) from None
        with self.lock:
            self.fetched += 1

    def _already_there(self, remote, rel: str, dest: Path) -> bool:
        """A finished copy of this very version: recorded at its download with the ETag the share
        still reports, size and mtime unchanged since; or equal to the share's stored MD5."""
        from infra.azure.fileshare import same_etag

        try:
            st = dest.stat()
        except FileNotFoundError:
            return False
        if not dest.is_file() or st.st_size != remote.size:
            return False
        rec = self.state.get(rel)
        if (rec and rec.get("state") == "done" and same_etag(rec.get("etag"), remote.etag)
                and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns):
            return True
        stored = self._stored_md5(remote)
        if stored is not None and workspace.md5_file(dest) == stored:
            self.state.put(rel, _record(remote, "done", mtime_ns=st.st_mtime_ns))
            return True
        return False

    def _fetch(self, remote, rel: str, dest: Path, part: Path) -> None:
        """Bytes into ``part`` (continued only when its record proves it is a prefix of this very
        version), verified, then renamed to ``dest``. A failure leaves ``dest`` untouched."""
        from infra.azure.fileshare import RemoteChanged, same_etag

        rec = self.state.get(rel)
        offset = 0
        if part.is_file() or part.is_symlink():
            size = part.stat().st_size if part.is_file() else -1
            if (rec and rec.get("state") == "partial" and same_etag(rec.get("etag"), remote.etag)
                    and rec.get("size") == remote.size and 0 <= size <= remote.size):
                offset = size
            else:
                part.unlink()  # from another version of the file (or unknown): never spliced
        if not offset:
            self.state.put(rel, _record(remote, "partial"))  # before the first byte
        counted = offset
        self._bytes(offset)

        def on_bytes(n: int) -> None:
            nonlocal counted
            counted += n
            self._bytes(n)

        try:
            stored = self.share.download_to(remote.path, part, offset, remote.size, etag=remote.etag,
                                            cancel=self.cancel, on_bytes=on_bytes)
        except RemoteChanged:
            part.unlink(missing_ok=True)
            self.state.put(rel, None)
            self._bytes(-counted)
            raise
        got = part.stat().st_size
        if got != remote.size or (stored is not None and workspace.md5_file(part) != stored):
            part.unlink()
            self.state.put(rel, None)
            what = (f"got {got} bytes, the share has {remote.size}" if got != remote.size
                    else "MD5 mismatch after download")
            raise OperationFailed(f"{remote.path}: {what}; {dest} was not written.", fix="run the download again")
        os.replace(part, dest)
        self.state.put(rel, _record(remote, "done", mtime_ns=dest.stat().st_mtime_ns))

    def _stored_md5(self, remote) -> Optional[str]:
        import base64

        from infra.azure.fileshare import same_etag

        props = self.share.file(remote.path).get_file_properties()
        if not same_etag(props.etag, remote.etag):
            return None  # changed since listed: download it
        md5 = props.content_settings.content_md5
        return base64.b64encode(bytes(md5)).decode() if md5 else None
