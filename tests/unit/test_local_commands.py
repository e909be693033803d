"""COMMANDS → one local bash script: fail-fast joining, /mount mapping, the redundant pip step."""
from __future__ import annotations

import subprocess
from pathlib import Path

from infra.local.commands import is_setup_install, join_commands, local_script, map_mount


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True)


def test_join_is_fail_fast_and_keeps_the_failing_exit_code(tmp_path):
    script = join_commands(["echo one", "  ", "exit 3", "echo never"])
    assert script == "set -euo pipefail; echo one && exit 3 && echo never"
    done = bash(script, tmp_path)
    assert done.returncode == 3 and done.stdout == "one\n"


def test_join_fails_on_a_failing_pipeline_and_on_unset_variables(tmp_path):
    assert bash(join_commands(["false | cat", "echo reached"]), tmp_path).returncode == 1
    done = bash(join_commands(["echo $NOT_SET_ANYWHERE", "echo reached"]), tmp_path)
    assert done.returncode != 0 and "reached" not in done.stdout


def test_trailing_semicolons_do_not_break_the_chain(tmp_path):
    done = bash(join_commands(["echo a;", "echo b ; "]), tmp_path)
    assert done.returncode == 0 and done.stdout == "a\nb\n"


def test_mount_maps_only_whole_path_components():
    share = Path("/data/share")
    assert map_mount("cd /mount", share) == "cd /data/share"
    assert map_mount("python3 /mount/finetuning/train.py --out=/mount/outputs", share) == (
        "python3 /data/share/finetuning/train.py --out=/data/share/outputs")
    assert map_mount('ls "/mount/x" && cat /mount;', share) == 'ls "/data/share/x" && cat /data/share;'
    for untouched in ("ls /mountain", "ls /x/mount/y", "echo remount/mount", "ls ./mount"):
        assert map_mount(untouched, share) == untouched


def test_mount_is_quoted_when_the_share_path_needs_it(tmp_path):
    share = tmp_path / "Application Support" / "share"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "f.txt").write_text("hello")
    done = bash(join_commands([map_mount("cd /mount", share), map_mount("cat /mount/sub/f.txt", share)]), tmp_path)
    assert done.returncode == 0 and done.stdout == "hello"


def test_setup_install_step_is_recognised_in_its_usual_spellings():
    for s in ("pip install -r ./setup/requirements.txt", "pip3 install -r setup/requirements.txt",
              "python3 -m pip install -r /mount/setup/requirements.txt", "pip install -q -r ./setup/requirements.txt"):
        assert is_setup_install(s), s
    for s in ("pip install -r ./other.txt", "pip install torch", "pip install -r ./setup/requirements.txt && rm -rf x"):
        assert not is_setup_install(s), s


def test_local_script_skips_the_setup_install_and_maps_the_rest(tmp_path):
    script, skipped = local_script(["cd /mount", "pip install -r ./setup/requirements.txt", "python3 ./t.py"], tmp_path)
    assert skipped == ["pip install -r ./setup/requirements.txt"]
    assert script == f"set -euo pipefail; cd {tmp_path} && python3 ./t.py"
