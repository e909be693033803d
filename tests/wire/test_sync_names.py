"""Names on the share (issue 16, item 3): a name Azure Files refuses is refused before the first
request, with the path printed safely; the fake refuses such names as the service does."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from core.errors import InputError
from core.events import Collector, Info
from tests.wire._finetune_project import ACCOUNT, SHARE, backend_for, ft_azure, write_project  # noqa: F401

pytestmark = pytest.mark.wire
ESC = "x\x1b[31mred"


@pytest.mark.parametrize("name,why", [
    ("a:b.txt", "the character :"), ('say"hi".txt', 'the character "'), ("what?.md", "the character ?"),
    ("back\\slash", "the character \\"), ("pipe|x", "the character |"), (ESC, "a control character"),
    ("new\nline", "a control character"), ("CON", "the reserved name CON"),
])
def test_a_forbidden_name_is_refused_before_the_first_request(ft_azure, tmp_path, name, why):
    root = write_project(tmp_path / "proj", ft_azure, {"README.md": "# demo\n", f"dataset/{name}": "x"})
    ft_azure.requests.clear()
    with pytest.raises(InputError) as info:
        backend_for(root).sync()
    line = info.value.one_line()
    assert why in line and "\x1b" not in line and "\n" not in line and info.value.exit_code == 2
    assert ".ftstudioignore" in line
    assert len(ft_azure.requests) == 0  # nothing was sent: not even the account key was read


def test_names_that_differ_only_in_case_are_one_file_on_the_share(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {"data/Train.jsonl": "a", "data/train.jsonl": "b"})
    with pytest.raises(InputError, match="names there ignore case"):
        backend_for(root).sync()


def test_dry_run_warns_and_an_ignored_forbidden_name_syncs(ft_azure, tmp_path):
    root = write_project(tmp_path / "proj", ft_azure, {"README.md": "# demo\n", f"notes/{ESC}": "x"})
    events = Collector()
    result = backend_for(root).sync(dry_run=True, on_event=events)
    warnings = [e.text for e in events.events if isinstance(e, Info) and e.level == "warning"]
    assert any("x\\x1b[31mred" in w for w in warnings) and not any("\x1b" in w for w in warnings)
    assert result.dry_run
    (root / ".ftstudioignore").write_text((root / ".ftstudioignore").read_text() + "\nnotes/\n"
                                          if (root / ".ftstudioignore").exists() else "notes/\n")
    assert "README.md" in backend_for(root).sync().uploaded


def test_the_cli_never_prints_an_escape_sequence(ft_azure, tmp_path, capsys):
    from tui.cli import main

    root = write_project(tmp_path / "proj", ft_azure, {"README.md": "# demo\n", f"notes/{ESC}": "x"})
    for argv in (["sync", "--dry-run"], ["sync"]):
        capsys.readouterr()
        code = main([*argv, "--project", str(root)])
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and "x\\x1b[31mred" in out + err
        assert code == (0 if "--dry-run" in argv else 2)


@pytest.mark.parametrize("name", ["a:b", "q?", "CON", "ctl\x01", "a*b"])
def test_the_fake_refuses_what_azure_files_refuses(ft_azure, tmp_path, name):
    from azure.storage.fileshare import ShareClient

    share = ShareClient(account_url=ft_azure.file_account_url(ACCOUNT), share_name=SHARE,
                        credential={"account_name": ACCOUNT, "account_key": ft_azure.state.account_keys(ACCOUNT)[0]},
                        connection_verify=ft_azure.ca_path)
    with pytest.raises(HttpResponseError) as info:
        share.get_file_client(name).create_file(1)
    assert info.value.status_code == 400 and info.value.error_code == "InvalidResourceName"
    with pytest.raises(HttpResponseError):
        share.get_directory_client(name).create_directory()
    share.get_file_client("fine name é.txt").create_file(1)  # spaces and non-ASCII are allowed


def test_a_manifest_entry_that_is_not_an_object_is_ignored(ft_azure, tmp_path):
    from infra import workspace

    root = write_project(tmp_path / "proj", ft_azure, {"README.md": "# demo\n"})
    local = workspace.scan(root)
    plan = workspace.plan_sync(local, {"files": {"README.md": 1, "../x": {"md5": "a", "size": 1}}}, delete=True)
    assert "README.md" in [e.path for e in plan.upload] and plan.delete == []
