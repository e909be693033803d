"""The rules of a fine-tuning run, written once for every backend.

- a RUN_ID names the run's folder ``outputs/<RUN_ID>/`` on the share: one pattern, one length;
- a new run gets train.py's default id (UTC ``YYYYMMDD-HHMMSS``), made unique;
- COMMANDS run as one bash script joined fail-fast: the first failing step ends the run;
- the execution a command acts on by default is the newest active one, else the newest;
- ``--resume`` reuses the RUN_ID of an unfinished run so train.py continues from its checkpoint.

Histories are lists of :class:`Execution`, newest first; each backend orders its own (Azure by
start time, see :func:`newest_first`; the local backend by the time it created the run).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable, Optional, Sequence

from core.azure_facts import COMMAND_JOIN, FAIL_FAST, SHELL_PREFIX
from core.errors import InputError
from core.models import Execution

# The generated train.py accepts the same ids (letters, digits, '.', '_', '-'; at most 128).
RUN_ID_MAX_LENGTH = 128
# A folder name under outputs/ that cannot escape it: no '/', no leading '.', no '..' anywhere.
RUN_ID_PATTERN = re.compile(rf"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{{0,{RUN_ID_MAX_LENGTH - 1}}}\Z")


def is_run_id(text: Optional[str]) -> bool:
    return bool(text) and RUN_ID_PATTERN.match(text) is not None


def check_run_id(run_id: Optional[str], field: str = "--resume") -> str:
    """``run_id`` when it is a valid run id, else an InputError naming ``field``."""
    if not is_run_id(run_id):
        raise InputError(
            f"{run_id!r} is not a valid run id.",
            field=field,
            fix="use letters, digits, '.', '_' or '-' (e.g. 20250101-120000); see `ftstudio status`",
        )
    return run_id


def new_run_id(taken: Iterable[Optional[str]] = (), now: Optional[datetime] = None) -> str:
    """train.py's default format (UTC ``YYYYMMDD-HHMMSS``), with ``-2``, ``-3``... when taken."""
    taken = set(taken)
    base = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while run_id in taken:
        n += 1
        run_id = f"{base}-{n}"
    return run_id


# -- COMMANDS ---------------------------------------------------------------------------------------
def join_commands(steps: Iterable[str]) -> str:
    """``set -euo pipefail; a && b && c``: the first failing step ends the run with its exit code.

    Blank steps are left out and a step's trailing ';' dropped (``a; && b`` is a bash syntax error)."""
    parts = [s.strip().rstrip(";").strip() for s in steps if s and s.strip()]
    return FAIL_FAST + (COMMAND_JOIN.join(parts) if parts else "true")


def container_command(steps: Iterable[str]) -> list[str]:
    """The container's command for COMMANDS: ``/bin/bash -c <the fail-fast script>``."""
    return [*SHELL_PREFIX, join_commands(steps)]


# -- which execution ----------------------------------------------------------------------------------
def is_active(ex: Execution) -> bool:
    """Queued or running: not in a final state."""
    return not ex.finished


def _start_key(ex: Execution) -> str:
    try:
        dt = datetime.fromisoformat((ex.start_time or "").replace("Z", "+00:00"))
    except ValueError:
        return ""  # no (readable) start time: sorted as the oldest
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def newest_first(executions: Iterable[Execution]) -> list[Execution]:
    """By start time, newest first (the name breaks ties, so the order is stable)."""
    return sorted(executions, key=lambda ex: (_start_key(ex), ex.name), reverse=True)


def current_execution(history: Sequence[Execution]) -> Optional[Execution]:
    """The execution `logs`, `stop` and `status` mean by default: the newest active one, else the
    newest; None when there is none."""
    return next((ex for ex in history if is_active(ex)), history[0] if history else None)


# -- --resume --------------------------------------------------------------------------------------------
_RESUME = "--resume"
_NEW_RUN_FIX = "start a new run with `ftstudio run`"


def resume_run_id(requested: str, history: Sequence[Execution], *,
                  complete_history_of: Optional[str] = None) -> str:
    """The RUN_ID ``ftstudio run --resume REQUESTED`` reuses; an InputError when there is none.

    ``requested``: "latest" (the newest run none of whose executions succeeded), an execution
    name (its run), or a run id. A run that succeeded or is still active is never resumed.
    ``complete_history_of``: the backend's name when ``history`` holds every run it ever started
    (then an unknown id is a typo); None where old executions are pruned (Azure), so a run id the
    history does not show may still have its checkpoints on the share.
    """
    succeeded = {ex.run_id for ex in history if ex.run_id and ex.status == "Succeeded"}
    active: dict = {}
    for ex in history:
        if ex.run_id and is_active(ex):
            active.setdefault(ex.run_id, ex)
    if requested == "latest":
        latest = next((ex.run_id for ex in history if ex.run_id and ex.run_id not in succeeded), None)
        if latest is None:
            raise InputError("There is no unfinished run to resume.", field=_RESUME,
                             fix=f"{_NEW_RUN_FIX}, or name one: `ftstudio run --resume RUN_ID`")
        _refuse_active(latest, active, latest=True)
        return latest
    named = next((ex for ex in history if ex.name == requested), None)
    if named is not None and not named.run_id:
        raise InputError(f"Execution {requested} has no RUN_ID (it was not started by ftstudio).", field=_RESUME,
                         fix="name its run id instead; see `ftstudio status`")
    run_id = check_run_id(named.run_id if named is not None else requested, _RESUME)
    if run_id in succeeded:
        raise InputError(f"Run {run_id} already succeeded; nothing to resume.", field=_RESUME, fix=_NEW_RUN_FIX)
    _refuse_active(run_id, active, latest=False)
    if complete_history_of and not any(ex.run_id == run_id for ex in history):
        raise InputError(f"No {complete_history_of} run or execution named {requested!r}.", field=_RESUME,
                         fix="see `ftstudio status` for the runs")
    return run_id


def _refuse_active(run_id: str, active: dict, *, latest: bool) -> None:
    busy = active.get(run_id)
    if busy is not None:
        which = "The latest unfinished run" if latest else "Run"
        raise InputError(f"{which} {run_id} is still {busy.status.lower()} (execution {busy.name}).", field=_RESUME,
                         fix=f"wait for it (`ftstudio logs --execution {busy.name}`), or stop it first with "
                             f"`ftstudio stop {busy.name}`")
