"""Turning a project's COMMANDS (written for a container with the share at ``/mount``) into one
local bash script: fail-fast joining, ``/mount`` → the local share, and the one step that is
redundant locally (installing setup/requirements.txt: the backend built the env from that file).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from core.run_rules import join_commands  # the fail-fast join every backend uses

MOUNT = "/mount"
# "/mount" as a whole path component, not inside another word or path ("/mountain", "/x/mount").
_MOUNT_RE = re.compile(r"(?<![\w./-])/mount(?=/|[\s'\";&|)]|$)")
# `pip install -r ./setup/requirements.txt` in its usual spellings (pip, pip3, python -m pip).
_SETUP_PIP_RE = re.compile(
    r"^\s*(?:(?:python3?|python3\.\d+)\s+-m\s+)?pip3?\s+install\s+(?:-q\s+|--quiet\s+|--no-cache-dir\s+)*"
    r"-r\s+(?:\./|/mount/)?setup/requirements\.txt\s*$"
)


def map_mount(step: str, share: Path) -> str:
    """Replace ``/mount`` path components with the local share (shell-quoted when it needs it)."""
    target = str(share)
    quoted = shlex.quote(target)
    return _MOUNT_RE.sub(lambda _m: quoted, step)


def is_setup_install(step: str) -> bool:
    return bool(_SETUP_PIP_RE.match(step))


def local_script(steps: list[str], share: Path, *, skip_setup_install: bool = True) -> tuple[str, list[str]]:
    """The bash script for ``steps`` and the steps left out (for an Info event)."""
    skipped = [s for s in steps if skip_setup_install and is_setup_install(s)]
    kept = [map_mount(s, share) for s in steps if s not in skipped]
    return join_commands(kept), skipped
