"""The CLI contract every command shares: exit codes, stdout/stderr discipline, fast start-up."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from core.errors import ExitCode, InputError, MissingInputs, OperationFailed
from tui.cli import build_parser, main
from tui.output import Console

HEAVY = ("azure", "textual", "torch", "transformers", "huggingface_hub", "jinja2")


def test_help_imports_no_heavy_module():
    probe = (
        "import contextlib, io, sys\n"
        "from tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (HEAVY,)
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_contract_command_is_in_the_parser():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse has no public API
    assert {"models", "new", "provision", "run", "sync", "status", "logs", "stop", "secret", "deploy",
            "download", "down"} <= names


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == ExitCode.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_global_options_before_or_after_the_command():
    parser = build_parser()
    a = parser.parse_args(["--json", "--project", "p", "status"])
    b = parser.parse_args(["status", "--json", "--project", "p"])
    assert (a.json, a.project) == (b.json, b.project) == (True, "p")


def test_error_is_one_line_on_stderr_and_json_on_stdout():
    out, err = io.StringIO(), io.StringIO()
    console = Console(json_mode=True, stdout=out, stderr=err)
    console.error(InputError("lora_r must be between 1 and 1024 (got 0).", field="lora_r", fix="use --set lora_r=16"))
    assert err.getvalue().count("\n") == 1 and "lora_r" in err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["error"]["field"] == "lora_r" and doc["error"]["code"] == "InvalidInput"
    assert InputError("x").exit_code == 2 and OperationFailed("x").exit_code == 1


def test_missing_inputs_name_every_flag_and_env_var():
    err = MissingInputs([("subscription", "--subscription or AZURE_SUBSCRIPTION_ID"),
                         ("resource group", "--resource-group or AZURE_RESOURCE_GROUP")])
    assert err.exit_code == 2
    line = err.one_line()
    assert "--subscription" in line and "AZURE_RESOURCE_GROUP" in line
    assert [m["name"] for m in err.to_json()["missing_inputs"]] == ["subscription", "resource group"]


def test_prompt_without_tty_raises_missing_input():
    console = Console(stdin=io.StringIO("answer\n"), stderr=io.StringIO(), stdout=io.StringIO())
    with pytest.raises(MissingInputs) as exc:
        console.prompt("Model", name="model", how="--model")
    assert "--model" in exc.value.one_line()


def test_results_and_diagnostics_are_redacted():
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err)
    console.redactions.append("s3cr3t-value")
    console.info("token is s3cr3t-value")
    console.result({"k": "s3cr3t-value"}, "value s3cr3t-value")
    assert "s3cr3t-value" not in out.getvalue() + err.getvalue()


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip()
