"""Per-user folders (platformdirs), overridable with FTSTUDIO_HOME for tests and sandboxes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def data_dir() -> Path:
    home = os.environ.get("FTSTUDIO_HOME")
    if home:
        path = Path(home) / "data"
    else:
        from platformdirs import user_data_path

        path = user_data_path("ftstudio", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    home = os.environ.get("FTSTUDIO_HOME")
    if home:
        path = Path(home) / "cache"
    else:
        from platformdirs import user_cache_path

        path = user_cache_path("ftstudio", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def project_key(project_root: Path) -> str:
    """A stable, filesystem-safe key for a project folder (name + short hash of its path)."""
    resolved = str(Path(project_root).resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    return f"{Path(resolved).name}-{digest}"


def private_file(path: Path) -> Path:
    """Create (if needed) a file readable by the user only (0600) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path
