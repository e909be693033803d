"""Where the local backend keeps a project's things: all in the per-user data dir, never in the project.

``<data>/local/<project_key>/``: ``share/`` (what ``/mount`` is on Azure: synced code, outputs/,
model-cache/), ``runs/<execution>/`` (spec, status, logs of each run), ``inference/`` (the local
inference server's run dir), ``secrets.json`` (0600), ``bin/`` (python/pip shims put first on PATH),
``hashes.json`` (the sync's MD5 cache). Python environments are shared between projects:
``<data>/envs/<hash>/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import data_dir, project_key


@dataclass(frozen=True)
class LocalLayout:
    root: Path

    @classmethod
    def for_project(cls, project) -> "LocalLayout":
        return cls(data_dir() / "local" / project_key(project.root))

    @property
    def share(self) -> Path:
        return self.root / "share"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def inference(self) -> Path:
        return self.root / "inference"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def shims(self) -> Path:
        return self.root / "bin"

    @property
    def hash_cache(self) -> Path:
        return self.root / "hashes.json"



def envs_dir() -> Path:
    return data_dir() / "envs"


def pip_cache_dir() -> Path:
    """Shared by env builds and runs (PIP_CACHE_DIR), so a wheel is downloaded once per machine."""
    return data_dir() / "pip-cache"
