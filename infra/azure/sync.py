"""Workspace → Azure Files sync (downloads are ``download.py``).

What changed is decided by content hash (infra/workspace.py scan + plan_sync) against a manifest
kept ON THE SHARE (``.ftstudio-manifest.json`` at its root), so an unchanged re-sync costs two
requests (list the account key, read the manifest) whatever the number of files, and two machines
syncing the same share agree on its state.

Invariant: every manifest entry describes a file whose bytes on the share have that MD5. Hence
- before overwriting or deleting files the manifest lists, their entries are removed (one write);
- a file enters the manifest only after every request that wrote its bytes was accepted (each
  carries a Content-MD5 the service checks: Create File with the first 4 MiB as its body, so a
  small file is one request, then one Put Range per further 4 MiB) and the local file did not
  change while it was read;
- the manifest is written at the end, every ``CHECKPOINT_S`` during a long sync, and on failure or
  Ctrl-C with what was verified — so a re-run uploads exactly what is missing or unverified.
Files the job wrote (outputs/, model-cache/, caches) are never in the manifest and never deleted.
"""
from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from infra import workspace
from core.errors import Cancelled, InputError, OperationFailed
from core.events import EventSink, Info, Progress, StepFailed, StepFinished, StepStarted, ignore
from core.models import SyncResult
from infra.azure.fileshare import open_share

FILE_WORKERS = 32  # small files uploaded at once: each is one round trip, so many in flight
SMALL_FILE_BYTES = 256 * 1024  # up to this size a file goes to the FILE_WORKERS
LARGE_FILE_WORKERS = 8  # larger files at once (each holds up to 4 MiB in memory while it is sent)
RANGE_WORKERS = 8  # their further 4 MiB ranges uploaded at once
CHECKPOINT_S = 20.0  # how often a long sync saves its progress in the manifest
TICK_S = 0.2  # progress event cadence
NEVER_UPLOADED = ("outputs/", "model-cache/")  # the job's folders: the contract says sync never writes them
MANIFEST_MIN_BYTES = 16 * 1024
RANGE_BYTES = 4 * 1024 * 1024


def hash_cache_path(root: Path) -> Path:
    from core.paths import cache_dir, project_key

    return cache_dir() / "hashes" / f"{project_key(root)}.json"


def read_manifest(share) -> tuple[Optional[dict], int]:
    """(manifest or None, size of the manifest file on the share; 0 when absent)."""
    raw = share.read_bytes(workspace.MANIFEST_NAME)
    if raw is None:
        return None, 0
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, len(raw)  # unreadable (e.g. written by something else): upload everything again
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return None, len(raw)
    return doc, len(raw)


def _bucket(n: int) -> int:
    """Manifest file sizes are powers of two (>= 16 KiB), padded with spaces (valid JSON), so a
    rewrite usually keeps the size and is one atomic Put Range over the old bytes instead of a
    Create File that replaces the file — a dropped connection then leaves the old manifest, not a
    torn one."""
    size = MANIFEST_MIN_BYTES
    while size < n:
        size *= 2
    return size


def write_manifest(share, files: dict, current_size: int = 0) -> int:
    """Write the manifest; returns the size of the manifest file now on the share."""
    doc = {
        "version": 1,
        "tool": "ftstudio",
        "updated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": dict(sorted(files.items())),
    }
    data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    size = _bucket(len(data))
    padded = data + b" " * (size - len(data))
    if size == current_size and size <= RANGE_BYTES:
        share.overwrite_in_place(workspace.MANIFEST_NAME, padded)
    else:
        share.write_bytes(workspace.MANIFEST_NAME, padded, None)  # no stored MD5: later rewrites are in place
    return size


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def sync(backend, *, dry_run: bool = False, force: bool = False, delete: bool = False,
         on_event: EventSink = ignore, kind: str = "finetuning") -> SyncResult:
    from infra.azure.resources_ref import storage_refs

    root = backend.project.root
    refs = storage_refs(backend, kind)  # not provisioned: say so before scanning anything
    on_event(StepStarted("scan", "Scanning the workspace"))
    rules = workspace.IgnoreRules(root)
    local = workspace.scan(root, cache_path=hash_cache_path(root), rules=rules)
    local = [e for e in local if not e.path.startswith(NEVER_UPLOADED)]
    name_problem: Optional[InputError] = None
    try:
        workspace.check_share_names(e.path for e in local)  # before the first request
    except InputError as exc:
        if not dry_run:
            raise
        name_problem = exc
    on_event(StepFinished("scan", "Scanning the workspace", detail=f"{len(local)} files, {workspace.human_bytes(sum(e.size for e in local))}"))

    with open_share(backend, kind, refs) as share:
        manifest, manifest_size = read_manifest(share)
        plan = workspace.plan_sync(local, manifest, delete=delete)
        if dry_run:
            if name_problem is not None:
                on_event(Info(name_problem.one_line(), level="warning"))
            try:
                workspace.check_upload(plan.upload, force=force)
            except InputError as exc:
                on_event(Info(exc.one_line(), level="warning"))
            return SyncResult(
                uploaded=[e.path for e in plan.upload], deleted=list(plan.delete), unchanged=plan.unchanged,
                bytes_uploaded=plan.bytes, dry_run=True, requests=share.requests, held_back=dict(rules.held_back),
            )
        workspace.check_upload(plan.upload, force=force)
        if not plan.upload and not plan.delete:
            on_event(Info(f"Share {share.share_name} is up to date ({plan.unchanged} files unchanged)."))
            return SyncResult(unchanged=plan.unchanged, requests=share.requests, held_back=dict(rules.held_back))
        result = _Uploader(share, root, plan, (manifest or {}).get("files", {}), manifest_size, on_event).run()
        result.held_back = dict(rules.held_back)
        return result


class _Uploader:
    def __init__(self, share, root: Path, plan, remote: dict, manifest_size: int, on_event: EventSink):
        self.share, self.root, self.plan, self.on_event = share, Path(root), plan, on_event
        self.manifest_size = manifest_size
        self.files = {p: dict(v) for p, v in remote.items() if isinstance(v, dict)}  # the manifest being kept true
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.done_bytes = 0
        self.uploaded: list[str] = []
        self.deleted: list[str] = []
        self.changed_while_reading: list[str] = []

    def _add_bytes(self, n: int) -> None:
        with self.lock:
            self.done_bytes += n

    def run(self) -> SyncResult:
        plan, share = self.plan, self.share
        title = f"Uploading {len(plan.upload)} files ({workspace.human_bytes(plan.bytes)}) to {share.share_name}"
        on_event = self.on_event
        on_event(StepStarted("sync", title))
        # Entries about to be overwritten or deleted leave the manifest first (see module docstring).
        stale = [e.path for e in plan.upload if e.path in self.files] + [p for p in plan.delete if p in self.files]
        known = {d for p in self.files for d in _parents(p)}  # folders of files on the share exist
        with ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="sync-file") as files_pool, \
                ThreadPoolExecutor(LARGE_FILE_WORKERS, thread_name_prefix="sync-large") as large_pool, \
                ThreadPoolExecutor(RANGE_WORKERS, thread_name_prefix="sync-range") as range_pool:
            try:
                if stale:
                    for p in stale:
                        self.files.pop(p, None)
                    self._write_manifest(self.files)
                needed = {d for e in plan.upload for d in _parents(e.path)} - known
                share.ensure_directories(needed, files_pool)
                self._transfer(files_pool, large_pool, range_pool)
            except KeyboardInterrupt:
                self.cancel.set()
                self._save_quietly()
                on_event(StepFailed("sync", title, "interrupted; run `ftstudio sync` again to finish"))
                raise Cancelled(
                    f"Sync interrupted after {len(self.uploaded)} of {len(plan.upload)} files; "
                    "run `ftstudio sync` again to finish (verified files are not sent twice)."
                ) from None
            except InputError:
                raise
            except Exception as exc:
                self.cancel.set()
                self._save_quietly()
                from infra.azure.fileshare import describe

                message = (
                    f"Sync failed after {len(self.uploaded)} of {len(plan.upload)} files: {describe(exc).rstrip('.')}. "
                    "Run `ftstudio sync` again to finish (verified files are not sent twice)."
                )
                on_event(StepFailed("sync", title, message))
                raise OperationFailed(message) from None
        if self.changed_while_reading:
            on_event(Info(
                f"{len(self.changed_while_reading)} file(s) changed while uploading "
                f"({', '.join(self.changed_while_reading[:3])}); run `ftstudio sync` again.", level="warning"))
        on_event(Progress("sync", self.done_bytes, plan.bytes))
        on_event(StepFinished("sync", title, detail=f"{len(self.uploaded)} uploaded, {len(self.deleted)} deleted, "
                                                    f"{plan.unchanged} unchanged"))
        return SyncResult(
            uploaded=sorted(self.uploaded), deleted=sorted(self.deleted), unchanged=plan.unchanged,
            bytes_uploaded=sum(self.files[p]["size"] for p in self.uploaded if p in self.files),
            requests=share.requests,
        )

    def _transfer(self, files_pool, large_pool, range_pool) -> None:
        # Largest first: a big file's ranges overlap with the many small files instead of trailing.
        order = sorted(self.plan.upload, key=lambda e: e.size, reverse=True)
        pending = {(large_pool if e.size > SMALL_FILE_BYTES else files_pool).submit(self._upload_one, e, range_pool): e
                   for e in order}
        pending.update({files_pool.submit(self._delete_one, p): p for p in self.plan.delete})
        last_save = time.monotonic()
        last_bytes = -1
        error: Optional[BaseException] = None
        try:
            while pending:
                done, _ = wait(list(pending), timeout=TICK_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None and error is None:
                        error = exc
                        self.cancel.set()  # stop starting new files; in-flight ones finish or stop
                        for other in pending:
                            other.cancel()
                if self.done_bytes != last_bytes:
                    last_bytes = self.done_bytes
                    self.on_event(Progress("sync", last_bytes, self.plan.bytes))
                if error is None and time.monotonic() - last_save > CHECKPOINT_S:
                    with self.lock:
                        snapshot = dict(self.files)
                    self._write_manifest(snapshot)
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            self.cancel.set()
            for fut in pending:
                fut.cancel()
            # In-flight workers stop at their next range; give them a moment so their verified
            # files make it into the manifest.
            wait(list(pending), timeout=5)
            raise
        if error is not None:
            from infra.azure.fileshare import _Cancelled

            if not isinstance(error, _Cancelled):
                raise error
        self._write_manifest(self.files)

    def _upload_one(self, entry, range_pool) -> None:
        if self.cancel.is_set():
            return
        from infra.azure.fileshare import _Cancelled

        full = self.root / entry.path
        try:
            fh = open(full, "rb")
        except FileNotFoundError:
            return  # deleted since the scan: nothing to upload, and it stays out of the manifest
        with fh:
            fd = fh.fileno()
            before = os.fstat(fd)

            def read(offset: int, length: int) -> bytes:
                return os.pread(fd, length, offset)

            try:
                self._upload_with_parents(entry, read, range_pool)
            except _Cancelled:
                return
            after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != (entry.size, entry.mtime_ns) or before.st_size != entry.size:
            self.changed_while_reading.append(entry.path)  # not recorded: the next sync sends it again
            return
        with self.lock:
            self.files[entry.path] = {"size": entry.size, "md5": entry.md5}
            self.uploaded.append(entry.path)

    def _upload_with_parents(self, entry, read, range_pool) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        kwargs = dict(range_pool=range_pool, cancel=self.cancel, on_bytes=self._add_bytes)
        try:
            self.share.upload(entry.path, read, entry.size, entry.md5, **kwargs)
        except ResourceNotFoundError as exc:
            # A folder the manifest implied was removed on the share by someone else: recreate it.
            if getattr(exc, "error_code", None) != "ParentNotFound":
                raise
            for d in _parents(entry.path):
                self.share._create_directory(d)
            self.share.upload(entry.path, read, entry.size, entry.md5, **kwargs)

    def _delete_one(self, path: str) -> None:
        if self.cancel.is_set():
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.share.file(path).delete_file()
        except ResourceNotFoundError:
            pass
        with self.lock:
            self.files.pop(path, None)
            self.deleted.append(path)

    def _write_manifest(self, files: dict) -> None:
        self.manifest_size = write_manifest(self.share, files, self.manifest_size)

    def _save_quietly(self) -> None:
        """Best effort after a failure: record what was verified (the pre-write already made the
        manifest safe, so failing here only means more is uploaded next time)."""
        try:
            with self.lock:
                snapshot = dict(self.files)
            self._write_manifest(snapshot)
        except BaseException:  # noqa: BLE001 — a second Ctrl-C or a dead network: keep the first error
            pass
