"""What of a project goes to the share: ignore rules with gitignore semantics, and content hashes.

Shared by every backend (Azure Files and the local share use the same rules):
- built-in ignores (``.git/``, virtualenvs, caches, ``model-cache/``, ``outputs/``, ``.ftstudio/``),
- the project's ``.gitignore`` files (nested ones apply to their folder, negation supported) and
  ``.ftstudioignore`` (root, applied last so it can re-include what .gitignore hides),
- as in git, a file inside an ignored folder cannot be re-included.
Hashes are MD5 (base64, the form Azure's Content-MD5 uses), cached per (path, size, mtime) so an
unchanged re-scan reads no file contents.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from core.units import human_bytes  # noqa: F401 - workspace.human_bytes, as sync and download say sizes

DEFAULT_IGNORES = [
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".env/",
    "env/",
    "__pycache__/",
    "*.pyc",
    ".cache/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    "node_modules/",
    "*.egg-info/",
    ".DS_Store",
    "/model-cache/",
    "/outputs/",
    "/.ftstudio/",
]
# Secret-shaped files never leave the machine, whatever .gitignore says (even with no .gitignore at
# all): only a `!path` in .ftstudioignore, where the user names what they mean to upload, lets one out.
SECRET_PATTERNS = [
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "id_dsa*",
    ".ssh/",
    ".aws/",
    ".azure/",
    ".gnupg/",
    "*credentials*.json",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    "*.pfx",
    "*.p12",
]
# Paths the job writes on the share: never deleted by a sync, whatever the flags.
PROTECTED_PREFIXES = ("outputs/", "model-cache/", ".cache/", "cache/")
IGNORE_FILE = ".ftstudioignore"
MANIFEST_NAME = ".ftstudio-manifest.json"
HASH_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative, "/"-separated
    size: int
    md5: str  # base64 MD5 of the content
    mtime_ns: int = 0


def _spec(lines: Iterable[str]):
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(lines))


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


class IgnoreRules:
    """Decides whether a relative path is synced. Specs are (base dir, spec) pairs, outermost first."""

    def __init__(self, root: Path, extra: Iterable[str] = ()):
        self.root = Path(root)
        self._specs: dict[str, list] = {}
        self._default = _spec(DEFAULT_IGNORES)
        self._secrets = _spec(SECRET_PATTERNS)
        self._project_file = _spec([*_read_lines(self.root / IGNORE_FILE), *extra])
        self.held_back: dict[str, str] = {}  # path (a folder ends in /) -> the secret pattern that held it

    def _specs_for_dir(self, rel_dir: str) -> list:
        if rel_dir not in self._specs:
            gitignore = self.root / rel_dir / ".gitignore"
            self._specs[rel_dir] = [_spec(_read_lines(gitignore))] if gitignore.is_file() else []
        return self._specs[rel_dir]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        probe = rel + "/" if is_dir else rel
        decision: Optional[bool] = None
        result = self._default.check_file(probe)
        if result.include is not None:
            decision = result.include
        # .gitignore files from the root down to the path's own folder; deeper ones win.
        parts = rel.split("/")
        for depth in range(len(parts)):
            base = "/".join(parts[:depth])
            for spec in self._specs_for_dir(base):
                sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
                result = spec.check_file(sub)
                if result.include is not None:
                    decision = result.include
        secret = self._secrets.check_file(probe)
        if secret.include:
            decision = True
        result = self._project_file.check_file(probe)
        if result.include is not None:
            decision = result.include
        if secret.include and decision:
            self.held_back[probe] = SECRET_PATTERNS[secret.index]
        return bool(decision)


def printable(path: str) -> str:
    """A path as it may be shown: control characters escaped, so a file name cannot drive the terminal."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def iter_files(root: Path, rules: Optional[IgnoreRules] = None) -> Iterable[tuple[str, os.stat_result]]:
    """Yield (relative path, stat) of every file that is not ignored, in a stable order."""
    root = Path(root)
    rules = rules or IgnoreRules(root)
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                continue  # never follow links out of the project
            if entry.is_dir():
                if not rules.ignored(rel, True):
                    subdirs.append(rel)
            elif entry.is_file():
                if rel == MANIFEST_NAME or rules.ignored(rel, False):
                    continue
                yield rel, entry.stat()
        stack.extend(reversed(subdirs))


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def md5_bytes(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class HashCache:
    """MD5s remembered by (path, size, mtime_ns) in a JSON file outside the project."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self.data: dict = {}
        if path and path.is_file():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, ValueError):
                self.data = {}
        self.dirty = False

    def get(self, rel: str, st: os.stat_result, full: Path) -> str:
        key = f"{st.st_size}:{st.st_mtime_ns}"
        cached = self.data.get(rel)
        if cached and cached[0] == key:
            return cached[1]
        md5 = md5_file(full)
        self.data[rel] = [key, md5]
        self.dirty = True
        return md5

    def save(self) -> None:
        if self.path and self.dirty:
            from core.jsonio import write_json

            write_json(self.path, self.data)


def scan(root: Path, *, cache_path: Optional[Path] = None, rules: Optional[IgnoreRules] = None) -> list[FileEntry]:
    """Every synced file of the project with its size and MD5."""
    root = Path(root)
    cache = HashCache(cache_path)
    out = [
        FileEntry(rel, st.st_size, cache.get(rel, st, root / rel), st.st_mtime_ns)
        for rel, st in iter_files(root, rules)
    ]
    cache.save()
    return out


def manifest_of(entries: Iterable[FileEntry]) -> dict:
    return {"version": 1, "files": {e.path: {"size": e.size, "md5": e.md5} for e in entries}}


# Upload guards shared by every backend's sync: refused unless the user passes --force.
MAX_SYNC_BYTES = 1024**3  # 1 GiB in one sync: more is almost always a dataset/model that belongs elsewhere
MAX_WEIGHT_FILE_BYTES = 100 * 1024**2  # one model-weights file this big belongs in model-cache/, not the workspace
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".ckpt", ".h5", ".msgpack")


def check_upload(upload: list, *, force: bool) -> None:
    """Refuse an unreasonably large upload (total or a model-weights file) unless ``force``.

    Raises InputError (exit 2) naming the biggest files and both fixes.
    """
    if force:
        return
    from core.errors import InputError

    weights = [e for e in upload if e.path.lower().endswith(WEIGHT_SUFFIXES) and e.size > MAX_WEIGHT_FILE_BYTES]
    total = sum(e.size for e in upload)
    if not weights and total <= MAX_SYNC_BYTES:
        return
    biggest = sorted(weights or upload, key=lambda e: e.size, reverse=True)[:3]
    names = ", ".join(f"{e.path} ({human_bytes(e.size)})" for e in biggest)
    if weights:
        what = f"model weights in the workspace: {names}"
    else:
        what = f"{human_bytes(total)} to upload (limit {human_bytes(MAX_SYNC_BYTES)}); biggest: {names}"
    raise InputError(
        f"Sync refused: {what}.",
        field="--force",
        fix="add them to .ftstudioignore (models belong in model-cache/), or upload anyway with `ftstudio sync --force`",
    )


@dataclass
class SyncPlan:
    upload: list  # FileEntry
    delete: list  # relative paths (only what the manifest says we uploaded; never protected prefixes)
    unchanged: int

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.upload)


# Azure Files' naming rules for directories and files ("Naming and referencing shares, directories,
# files, and metadata"): these characters, control characters, some reserved names, 255 characters a
# name, 2,048 a path; names are case-insensitive, so two that differ only in case are one file there.
_FORBIDDEN_IN_NAME = set('\\:*?"<>|')
_RESERVED_NAMES = {*(f"lpt{i}" for i in range(1, 10)), *(f"com{i}" for i in range(1, 10)),
                   "prn", "aux", "nul", "con", "clock$"}
MAX_NAME_CHARS = 255
MAX_PATH_CHARS = 2048


def share_name_problem(rel: str) -> Optional[str]:
    """Why Azure Files would refuse ``rel`` ("/"-separated, relative) as a path, or None."""
    if len(rel) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            return "an empty, '.' or '..' part"
        bad = sorted(_FORBIDDEN_IN_NAME & set(part))
        if bad:
            return "the character " + " ".join(bad)
        if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in part):
            return "a control character"
        if part.lower() in _RESERVED_NAMES:
            return f"the reserved name {part}"
        if len(part) > MAX_NAME_CHARS:
            return f"a name longer than {MAX_NAME_CHARS} characters"
    return None


def check_share_names(paths: Iterable[str]) -> None:
    """Refuse, before any request, a workspace whose file names Azure Files cannot hold (exit 2)."""
    from core.errors import InputError

    seen: dict[str, str] = {}
    bad: list[tuple[str, str]] = []
    for rel in paths:
        problem = share_name_problem(rel)
        folded = rel.casefold()
        if problem is None and folded in seen:
            problem = f"the same name as {printable(seen[folded])} on the share (names there ignore case)"
        seen.setdefault(folded, rel)
        if problem:
            bad.append((rel, problem))
    if bad:
        first, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise InputError(
            f"Azure Files cannot hold {printable(first)}: it has {why}{more}.",
            field="workspace file name",
            fix="rename it, or add it to .ftstudioignore so it stays on this machine",
        )


def safe_share_path(rel: object) -> bool:
    """A manifest key that may name a file on the share: relative, no '.'/'..' parts, nothing Azure
    Files forbids. The manifest lives on the share, where anyone with the key can edit it: its entries are input."""
    return isinstance(rel, str) and bool(rel) and not rel.startswith("/") and share_name_problem(rel) is None


def plan_sync(local: list[FileEntry], manifest: Optional[dict], *, delete: bool = False) -> SyncPlan:
    """Compare a local scan to the manifest kept on the share: what to upload and what to remove."""
    remote = {p: v for p, v in ((manifest or {}).get("files") or {}).items() if isinstance(v, dict)}  # input: see safe_share_path
    upload = [e for e in local if remote.get(e.path, {}).get("md5") != e.md5 or remote.get(e.path, {}).get("size") != e.size]
    unchanged = len(local) - len(upload)
    to_delete: list[str] = []
    if delete:
        present = {e.path for e in local}
        # an unsafe entry (`../x`, an absolute path) is never acted on: it could name a file outside the share
        to_delete = sorted(p for p in remote if safe_share_path(p) and p not in present
                           and not p.startswith(PROTECTED_PREFIXES))
    return SyncPlan(upload=upload, delete=to_delete, unchanged=unchanged)
