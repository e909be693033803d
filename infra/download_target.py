"""Where a download may land, for both backends: ``--to`` checked before anything is transferred,
and the fix for an OS error met while writing."""
from __future__ import annotations

import os
from pathlib import Path

from core.errors import InputError


def check_download_target(to: Path) -> None:
    """``--to`` must be a folder this user can write, or creatable as one. Checked before anything
    is transferred (both backends), so a file in the way is one line (exit 2), not an OSError."""
    to = Path(to)
    probe = to
    while not (probe.exists() or probe.is_symlink()) and probe.parent != probe:
        probe = probe.parent
    fix = "give a folder to download into (it is created when missing)"
    if probe.is_symlink() and not probe.exists():
        raise InputError(f"--to {to}: {probe} is a broken symbolic link.", field="--to", fix=fix)
    if not probe.is_dir():
        where = "is a file" if probe == to else f"is under {probe}, which is a file"
        raise InputError(f"--to {to} {where}, not a folder.", field="--to", fix=fix)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--to {to} is not writable ({probe} is read-only for this user).", field="--to",
                         fix="choose a folder you can write to, or fix its permissions")


def write_error_fix(exc: OSError) -> str:
    """The fix for an OS error met while writing a download (both backends)."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        how = "free disk space"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        how = "move away the file (or folder) in the way, or choose another --to"
    else:
        how = "fix the permissions of the --to folder, or choose another --to"
    return f"{how}, then run the download again (finished files are kept)"
