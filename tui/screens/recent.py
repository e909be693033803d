"""Recently opened projects, kept in the per-user data dir (``recent-projects.json``)."""
from __future__ import annotations

from pathlib import Path

from core.errors import FtError
from core.paths import data_dir
from core.jsonio import read_json, write_json
from scaffolds.project import FINETUNING_CONFIG

FILE = "recent-projects.json"
KEEP = 12


def _path() -> Path:
    return data_dir() / FILE


def load() -> list[Path]:
    """Recent project folders, newest first, only those that still exist."""
    try:
        doc = read_json(_path())
    except (FileNotFoundError, FtError):  # a broken file is forgotten, not fatal
        return []
    out = []
    for item in doc.get("projects", []) if isinstance(doc, dict) else []:
        path = Path(str(item))
        if (path / FINETUNING_CONFIG).is_file() and path not in out:
            out.append(path)
    return out


def remember(root: Path) -> list[Path]:
    root = Path(root).resolve()
    projects = [root] + [p for p in load() if p != root]
    write_json(_path(), {"projects": [str(p) for p in projects[:KEEP]]})
    return projects[:KEEP]
