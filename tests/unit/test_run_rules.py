"""The run rules (core/run_rules.py), and both backends answering with them: the RUN_ID pattern,
new run ids, the fail-fast join of COMMANDS, the current execution, the run to resume."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.errors import InputError
from core.models import Execution
from core.run_rules import (RUN_ID_MAX_LENGTH, check_run_id, container_command, current_execution, is_run_id,
                            join_commands, new_run_id, newest_first, resume_run_id)

REPO = Path(__file__).resolve().parents[2]


# -- RUN_ID ----------------------------------------------------------------------------------------
VALID = ["20250101-120000", "20250101-120000-2", "a", "Run_1.final", "x" * RUN_ID_MAX_LENGTH]
INVALID = ["", "../../etc", "a/b", ".hidden", "-x", "_x", "a..b", "x" * (RUN_ID_MAX_LENGTH + 1), "abc\n", "a b",
           "a\\b", "é"]


@pytest.mark.parametrize("run_id", VALID)
def test_valid_run_ids(run_id):
    assert is_run_id(run_id) and check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", INVALID + [None])
def test_invalid_run_ids_name_the_field(run_id):
    assert not is_run_id(run_id)
    with pytest.raises(InputError) as err:
        check_run_id(run_id, field="--resume")
    assert err.value.field == "--resume" and "letters, digits" in err.value.one_line()


def test_the_generated_project_accepts_the_same_run_ids():
    """The generated scripts check RUN_ID themselves (they run without ftstudio): same characters,
    same length (ftstudio also refuses "a..b")."""
    found = {}
    for path in (REPO / "scaffolds/templates/project").rglob("*.py"):
        for pattern in re.findall(r'r"(\[A-Za-z0-9\]\[A-Za-z0-9\._-\]\{0,\d+\})"', path.read_text(encoding="utf-8")):
            found[path.name] = pattern
    assert found, "no RUN_ID check found in the generated project"
    for name, pattern in found.items():
        for run_id in VALID + [s for s in INVALID if ".." not in s]:
            assert bool(re.fullmatch(pattern, run_id)) == is_run_id(run_id), (name, run_id)


# -- new run ids -------------------------------------------------------------------------------------
def test_new_run_id_is_train_py_format_made_unique():
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert new_run_id(now=now) == "20260304-050607"
    assert new_run_id(["20260304-050607", None], now=now) == "20260304-050607-2"
    assert new_run_id(iter(["20260304-050607", "20260304-050607-2"]), now=now) == "20260304-050607-3"
    assert re.fullmatch(r"\d{8}-\d{6}", new_run_id())


# -- COMMANDS --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps,script", [
    (["cd /mount", "python3 train.py"], "set -euo pipefail; cd /mount && python3 train.py"),
    (["echo a;", "  ", "echo b ; "], "set -euo pipefail; echo a && echo b"),  # `a; && b` is a syntax error
    ([], "set -euo pipefail; true"),
])
def test_commands_are_joined_fail_fast(steps, script):
    assert join_commands(steps) == script
    assert container_command(steps) == ["/bin/bash", "-c", script]


@pytest.mark.parametrize("steps", [
    ["cd /work", "python3 train.py --config c.json"],
    ["echo 'a && b'", "false", "echo never"],
    ["echo a;", " ", "echo b ; "],
    ["  python3 -c 'print(1)'  "],
])
def test_both_backends_run_the_same_script(steps, tmp_path):
    from infra.azure.jobs import start_template
    from infra.local.commands import local_script

    job = {"properties": {"template": {"containers": [{"name": "trainer", "image": "img"}]}}}
    azure = start_template(job, steps, "r1")["containers"][0]["command"]
    local, skipped = local_script(steps, tmp_path)
    assert azure == ["/bin/bash", "-c", local] and not skipped


# -- histories -----------------------------------------------------------------------------------------
def ex(name: str, status: str, run_id=None, start=None) -> Execution:
    return Execution(name=name, status=status, run_id=run_id, start_time=start)


def test_newest_first_by_start_time_then_name():
    a = ex("a", "Failed", start="2026-01-01T10:00:00Z")
    b = ex("b", "Failed", start="2026-01-01T11:00:00+00:00")
    c = ex("c", "Failed", start="2026-01-01T12:30:00+01:00")  # 11:30 UTC
    d = ex("d", "Failed", start="2026-01-01T11:00:00Z")
    none = ex("e", "Processing")  # no start time: last
    assert [e.name for e in newest_first([a, none, b, c, d])] == ["c", "d", "b", "a", "e"]


CURRENT = [  # (history newest first, the current one)
    ([], None),
    ([ex("c", "Failed"), ex("b", "Succeeded")], "c"),
    ([ex("c", "Failed"), ex("b", "Running"), ex("a", "Running")], "b"),
    ([ex("c", "Succeeded"), ex("b", "Processing")], "b"),
    ([ex("c", "Queued"), ex("b", "Running")], "c"),  # local runs wait as Queued
    ([ex("c", "Stopped"), ex("b", "Degraded"), ex("a", "Unknown")], "c"),
]


@pytest.mark.parametrize("history,expected", CURRENT)
def test_the_current_execution_is_the_newest_active_else_the_newest(history, expected):
    got = current_execution(history)
    assert (got.name if got else None) == expected


# -- --resume ----------------------------------------------------------------------------------------
H = [  # newest first
    ex("job-e5", "Running", "r5"),
    ex("job-e4", "Failed", "r4"),
    ex("job-e3", "Succeeded", "r2"),  # r2 resumed to success
    ex("job-e2", "Failed", "r2"),
    ex("job-e1", "Stopped", "r1"),
    ex("job-e0", "Failed", None),  # started outside ftstudio
]
RESUME = [  # (history, requested, the run id or the error's words)
    (H, "latest", "still running"),  # the newest unfinished run is r5: wait for it or stop it
    (H[1:], "latest", "r4"),
    (H[2:], "latest", "r1"),  # r2 succeeded in the end
    (H[2:3], "latest", "no unfinished run"),
    ([], "latest", "no unfinished run"),
    (H, "r4", "r4"),
    (H, "job-e4", "r4"),  # an execution stands for its run
    (H, "job-e2", "already succeeded"),
    (H, "r2", "already succeeded"),
    (H, "r5", "still running"),
    (H, "job-e5", "still running"),
    (H, "job-e0", "has no RUN_ID"),
    (H, "../../etc", "not a valid run id"),
]


def _answer(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except InputError as err:
        assert err.field == "--resume"
        return err.one_line()


@pytest.mark.parametrize("history,requested,expected", RESUME)
def test_resume_choice(history, requested, expected):
    got = _answer(resume_run_id, requested, history)
    assert got == expected if re.fullmatch(r"r\d", expected) else expected in got


@pytest.mark.parametrize("history,requested,expected", RESUME)
def test_both_backends_resume_the_same_run(history, requested, expected):
    from infra.azure.jobs import resume_run_id as azure_resume
    from infra.local.runs import resume_run_id as local_resume

    assert _answer(azure_resume, requested, history) == _answer(local_resume, requested, history)


def test_an_unknown_run_id_is_a_typo_only_where_the_history_is_complete():
    """Azure prunes old executions, so a run's checkpoints can outlive them; every local run stays."""
    from infra.azure.jobs import resume_run_id as azure_resume
    from infra.local.runs import resume_run_id as local_resume

    assert azure_resume("20250101-120000", H) == "20250101-120000"
    with pytest.raises(InputError, match="No local run or execution named 'nope'"):
        local_resume("nope", H)
