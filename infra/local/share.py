"""The local share: workspace → share sync (the same rules as Azure Files) and share → project download.

Sync uses infra/workspace.py (ignore rules, MD5 scan, the manifest kept in the share, plan_sync and
the shared upload guard). Every copy is atomic (temp file in the target folder, then rename), so a
run never reads half a file and an interrupted sync simply resumes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from infra import workspace
from core.errors import InputError, OperationFailed
from core.events import EventSink, Progress, StepFinished, StepStarted, ignore
from core.models import SyncResult
from infra.download_target import check_download_target, write_error_fix

COPY_CHUNK = 4 * 1024 * 1024


def read_manifest(share: Path) -> dict:
    """The manifest of what a previous sync put in the share; entries whose file vanished or changed
    size are dropped so they are copied again (a share folder deleted by hand heals itself)."""
    try:
        data = json.loads((share / workspace.MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": 1, "files": {}}
    files = {}
    for rel, meta in (data.get("files") or {}).items():
        try:
            if (share / rel).stat().st_size == meta.get("size"):
                files[rel] = meta
        except OSError:
            continue
    return {"version": 1, "files": files}


def atomic_copy(src: Path, dest: Path, *, verify: bool = False) -> None:
    """Copy through a temp file beside ``dest``, then rename. The temp name is unique and created
    exclusively, so it never overwrites a file that happens to have that name.

    ``verify``: the copy must have the source's size, and the source must not have changed during
    the copy (size and mtime), else ``SourceChanged`` and ``dest`` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".ftstudio-tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        before = os.stat(src)
        shutil.copyfile(src, tmp)
        shutil.copystat(src, tmp)  # keeps the mode (executable scripts) and mtime
        if verify:
            after = os.stat(src)
            if (tmp.stat().st_size != before.st_size
                    or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)):
                raise SourceChanged(str(src))
        os.replace(tmp, dest)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


class SourceChanged(Exception):
    """The file being copied was written to during the copy."""


def sync(project_root: Path, share: Path, *, hash_cache: Optional[Path] = None, dry_run: bool = False,
         force: bool = False, delete: bool = False, on_event: EventSink = ignore) -> SyncResult:
    on_event(StepStarted("scan", f"Scanning {project_root}"))
    rules = workspace.IgnoreRules(project_root)
    entries = workspace.scan(project_root, cache_path=hash_cache, rules=rules)
    manifest = read_manifest(share)
    plan = workspace.plan_sync(entries, manifest, delete=delete)
    on_event(StepFinished("scan", f"Scanned {len(entries)} files",
                          f"{len(plan.upload)} to copy ({workspace.human_bytes(plan.bytes)}), {plan.unchanged} unchanged"))
    workspace.check_upload(plan.upload, force=force)
    result = SyncResult(uploaded=[e.path for e in plan.upload], deleted=list(plan.delete), unchanged=plan.unchanged,
                        bytes_uploaded=plan.bytes, dry_run=dry_run, held_back=dict(rules.held_back))
    if dry_run:
        return result

    share.mkdir(parents=True, exist_ok=True)
    files = manifest["files"]
    done = 0
    try:
        for entry in plan.upload:
            atomic_copy(project_root / entry.path, share / entry.path)
            files[entry.path] = {"size": entry.size, "md5": entry.md5}
            done += entry.size
            on_event(Progress("sync", done, plan.bytes))
        for rel in plan.delete:
            target = share / rel
            try:
                target.unlink()
            except FileNotFoundError:
                pass
            files.pop(rel, None)
            _prune_empty(target.parent, share)
    finally:
        # What was copied so far is recorded even when interrupted: the next sync resumes.
        from core.jsonio import write_json

        write_json(share / workspace.MANIFEST_NAME, {"version": 1, "files": files})
    return result


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def resolve_remote(share: Path, remote_path: str) -> Path:
    """A share path given as ``outputs/x``, ``/mount/outputs/x`` or ``./outputs/x``; never outside the share."""
    rel = remote_path.strip()
    for prefix in ("/mount/", "/mount"):
        if rel.startswith(prefix):
            rel = rel[len(prefix):]
            break
    rel = rel.lstrip("/")
    if rel and "/" not in rel and not (share / rel).exists() and (share / "outputs" / rel).exists():
        rel = f"outputs/{rel}"  # a bare run id
    target = (share / rel).resolve()
    root = share.resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{remote_path!r} is outside the share.", field="REMOTE_PATH",
                         fix="give a path inside the share, e.g. outputs/<run-id>")
    return target


def download(share: Path, remote_path: str, to: Path, *, on_event: EventSink = ignore) -> Path:
    """Copy a share file or folder into ``to`` (as ``to/<its name>``), verifying every copy.

    Files already there with the same size and mtime (copies keep the source's) are skipped, so an
    interrupted download resumes. Each copy goes through a temp file and is renamed only when it
    has the source's size and the source did not change meanwhile: ``to`` never holds half a file.
    """
    check_download_target(Path(to))
    src = resolve_remote(share, remote_path)
    if not src.exists():
        raise OperationFailed(f"{remote_path} does not exist in the local share ({share}).",
                              fix="see `ftstudio status` for the runs and their outputs")
    dest = Path(to) / src.name
    if src.is_dir() and (dest.is_file() or dest.is_symlink() and not dest.is_dir()):
        raise InputError(f"{dest} is a file, not a folder; the download needs a folder there.",
                         field="--to", fix="move that file away or choose another --to")
    pairs = [(src, dest)] if src.is_file() else [
        (p, dest / p.relative_to(src)) for p in sorted(src.rglob("*")) if p.is_file() and not p.is_symlink()
    ]
    total = sum(p.stat().st_size for p, _ in pairs)
    on_event(StepStarted("download", f"Downloading {remote_path} → {dest} ({workspace.human_bytes(total)})"))
    done = 0
    for s, d in pairs:
        st = s.stat()
        try:
            dst = d.stat()
            fresh = d.is_file() and dst.st_size == st.st_size and dst.st_mtime_ns == st.st_mtime_ns
        except OSError:  # absent, or a file in the way of its folder: the copy says which
            fresh = False
        if not fresh:
            _copy_one(share, s, d)
        done += st.st_size
        on_event(Progress("download", done, total))
    on_event(StepFinished("download", f"Downloaded {len(pairs)} files to {dest}"))
    return dest


def _copy_one(share: Path, src: Path, dest: Path) -> None:
    try:
        rel = src.relative_to(share.resolve())  # resolve_remote gives resolved paths
    except ValueError:
        rel = src
    for attempt in (1, 2):
        try:
            atomic_copy(src, dest, verify=True)
            return
        except SourceChanged:
            if attempt == 2:  # written to while copied, twice: a run is still writing it
                raise OperationFailed(f"{rel} changed while it was being copied; {dest} was not written.",
                                      fix="run `ftstudio download` again once the run writing it has finished",
                                      ) from None
        except OSError as exc:
            where = exc.filename2 or exc.filename
            detail = "" if where is None or ".ftstudio-tmp" in str(where) or str(where) == str(dest) else f" ({where})"
            raise OperationFailed(f"Could not copy {rel} to {dest}: {exc.strerror or exc}{detail}.",
                                  fix=write_error_fix(exc)) from None
