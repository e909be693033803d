"""Per-user folders (platformdirs), overridable with FTSTUDIO_HOME for tests and sandboxes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _user_dir(kind: str) -> Path:
    """ftstudio's per-user ``data`` or ``cache`` folder (created); under FTSTUDIO_HOME when set."""
    home = os.environ.get("FTSTUDIO_HOME")
    if home:
        path = Path(home) / kind
    else:
        import platformdirs

        path = getattr(platformdirs, f"user_{kind}_path")("ftstudio", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    return _user_dir("data")


def cache_dir() -> Path:
    return _user_dir("cache")


def project_key(project_root: Path) -> str:
    """A stable, filesystem-safe key for a project folder (name + short hash of its path)."""
    resolved = str(Path(project_root).resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    return f"{Path(resolved).name}-{digest}"
