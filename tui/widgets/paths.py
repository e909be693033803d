"""How paths are shown: under the home folder as ``~/...`` (shorter, and stable in snapshots)."""
from __future__ import annotations

from pathlib import Path


def display_path(path: Path | str) -> str:
    path = Path(path)
    try:
        return "~/" + str(path.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)
