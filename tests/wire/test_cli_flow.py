"""The whole Azure workflow through the CLI, as a person runs it, against the fake Azure.

One journey in-process through ``tui.cli.main``: ``new`` → ``provision --preview`` → ``provision``
(twice: the second writes nothing) → ``secret set/list`` → ``sync --dry-run`` → ``run --follow`` →
``status`` → ``logs`` → ``download`` → ``provision inference`` → ``deploy`` → ``logs --inference`` →
``down --yes`` (twice), each with ``--json`` where it has a result. Then a failing run, the
``--non-interactive`` errors, and a final search of every file and every captured output for
the secret value.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core.events import StepFailed, StepFinished, StepStarted, StreamState
from tests.wire._provision_project import quiet_log, writes
from tui.cli import main
from tui.output import Console

pytestmark = pytest.mark.wire

MODEL = "microsoft/Phi-3-mini-4k-instruct"
SECRET = "hf_FlowLeakCheck_9c8b7a6f5e4d"
ADAPTER = b"\x01\x02adapter-weights\x03"
FT_KEYS = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_JOB_NAME")


class Cli:
    """Runs ``ftstudio ...`` in-process and keeps every output, for the final leak check.

    It also records the backend events each command renders: a step that starts must finish or
    fail when the command succeeds (the TUI's step list would otherwise spin on it forever)."""

    def __init__(self, capsys, monkeypatch):
        self.capsys = capsys
        self.outputs: list[str] = []
        self.events: list[object] = []
        original = Console.event

        def record(console, event):
            self.events.append(event)
            original(console, event)

        monkeypatch.setattr(Console, "event", record)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.events.clear()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        assert "Traceback" not in out + err, err
        if code == 0:
            started = {e.step for e in self.events if isinstance(e, StepStarted)}
            ended = {e.step for e in self.events if isinstance(e, (StepFinished, StepFailed))}
            assert started <= ended, f"{argv}: steps started but never ended: {started - ended}"
        return code, out, err

    def json(self, *argv: str) -> tuple[int, object, str]:
        code, out, err = self(*argv, "--json")
        return code, json.loads(out), err  # exactly one JSON document on stdout


@pytest.fixture
def flow(azure_env, monkeypatch, tmp_path):
    monkeypatch.setenv("FTSTUDIO_RETRY_BACKOFF_S", "0")
    monkeypatch.setenv("HF_SECRET_SOURCE", SECRET)
    monkeypatch.chdir(tmp_path)
    return azure_env


def _config(root: Path, kind: str = "finetuning") -> dict:
    return json.loads((root / "infra" / f"{kind}.config.json").read_text())


def _recorded_execution(fake, name: str):
    for execs in fake.state.executions.values():
        for ex in execs:
            if ex.name == name:
                return ex
    raise AssertionError(f"the fake has no execution {name}")


def _job_script(fake, **kw):
    """Tiny intervals: the run prints a few lines (one naming its RUN_ID) and writes its adapter."""
    kw.setdefault("writes", {"outputs/{RUN_ID}/adapter_model.safetensors": ADAPTER,
                             "outputs/{RUN_ID}/adapter_config.json": b'{"r": 8}',
                             "outputs/{RUN_ID}/metrics.json": b'{"status": "succeeded"}'})
    return fake.jobs.script(lines=kw.pop("lines", lambda env: ["Installing requirements...", "step 10 | loss 2.31",
                                                                f"Saved adapter to outputs/{env['RUN_ID']}"]),
                            line_interval=0.005, **kw)


def _new_and_provision(cli, tmp_path) -> Path:
    code, _, err = cli("new", "demo", "--model", MODEL, "--non-interactive")
    assert code == 0, err
    root = tmp_path / "demo"
    os.chdir(root)
    code, _, err = cli("provision", "--resource-group", "rg1", "--location", "swedencentral", "--non-interactive")
    assert code == 0, err
    return root


def test_the_whole_azure_journey(flow, capsys, tmp_path, monkeypatch):
    fake, cli = flow, Cli(capsys, monkeypatch)

    # -- new ------------------------------------------------------------------------------------------
    code, doc, err = cli.json("new", "demo", "--model", MODEL, "--non-interactive")
    assert code == 0, err
    root = tmp_path / "demo"
    assert Path(doc["project"]) == root and (root / "finetuning" / "train.py").is_file()
    assert root.stat().st_mode & 0o055 == 0o055  # readable by others like any folder (not mkdtemp's 0700)
    commands = _config(root)["COMMANDS"]
    assert commands[0] == "cd /mount" and commands[-1].startswith("python3 ./finetuning/train.py")
    os.chdir(root)  # from here on, the project is the current folder, as for a person

    # -- provision --preview: the plan, and nothing written anywhere ------------------------------------
    quiet_log(fake)
    code, doc, err = cli.json("provision", "--resource-group", "rg1", "--location", "swedencentral", "--preview")
    assert code == 0, err
    assert doc["preview"] is True
    planned = {c["resource"]: c["action"] for c in doc["changes"]}
    assert {"resource_group", "storage", "share", "workspace", "environment", "envstorage", "job"} <= set(planned)
    assert set(planned.values()) == {"create"}
    assert writes(fake) == [] and fake.state.list_resources() == []
    assert not (root / ".ftstudio" / "state.json").exists()
    assert all(_config(root)[k] is None for k in FT_KEYS)

    # -- provision: resources created, config keys written ------------------------------------------------
    code, out, err = cli("provision", "--resource-group", "rg1", "--location", "swedencentral")
    assert code == 0, err
    assert "Wrote infra/finetuning.config.json." in out and "✓ Container Apps environment" in err
    cfg = _config(root)
    assert cfg["SUBSCRIPTION_ID"] == fake.subscription_id and cfg["RESOURCE_GROUP_NAME"] == "rg1"
    assert cfg["LOCATION"] == "swedencentral" and all(cfg[k] for k in FT_KEYS)
    assert cfg["COMMANDS"] == commands
    job_id = (f"/subscriptions/{fake.subscription_id}/resourceGroups/rg1/providers/Microsoft.App/jobs/"
              f"{cfg['ACA_JOB_NAME']}")
    assert fake.state.get_resource(job_id) is not None

    # -- provision again: everything unchanged, not one write -------------------------------------------
    quiet_log(fake)
    code, doc, err = cli.json("provision")
    assert code == 0, err
    assert {r["result"] for r in doc["resources"]} == {"unchanged"} and len(doc["resources"]) == len(planned)
    assert writes(fake) == []

    # -- secrets ------------------------------------------------------------------------------------------
    code, doc, err = cli.json("secret", "set", "HF_TOKEN", "--from-env", "HF_SECRET_SOURCE")
    assert code == 0, err
    assert doc == {"name": "HF_TOKEN", "scope": "job", "set": True}
    code, out, err = cli("secret", "list")
    assert code == 0 and out.split() == ["HF_TOKEN"]
    code, doc, _ = cli.json("secret", "list")
    assert code == 0 and doc["names"] == ["HF_TOKEN"]

    # -- sync --dry-run: the plan, nothing uploaded --------------------------------------------------------
    code, doc, err = cli.json("sync", "--dry-run")
    assert code == 0, err
    assert doc["dry_run"] is True
    assert {"finetuning/train.py", "finetuning/train_config.json", "setup/requirements.txt"} <= set(doc["uploaded"])
    assert not any(p.startswith((".ftstudio/", "outputs/")) for p in doc["uploaded"])
    assert fake.state.files(cfg["STORAGE_ACCOUNT_NAME"], cfg["FILE_SHARE_NAME"]) == {}

    # -- run --follow: synced, started with COMMANDS joined fail-fast, logs streamed, exit 0 ---------------
    _job_script(fake)
    code, out, err = cli("run", "--follow")
    assert code == 0, err
    state = json.loads((root / ".ftstudio" / "state.json").read_text())
    execution, run_id = state["last_execution"], state["last_run_id"]
    assert out.splitlines()[:3] == ["Installing requirements...", "step 10 | loss 2.31",
                                    f"Saved adapter to outputs/{run_id}"]
    assert f"{execution}: Succeeded (RUN_ID {run_id})" in out and f"adapter: outputs/{run_id}/" in out
    assert f"[ended] execution {execution} succeeded (exit code 0)" in err
    share = fake.state.files(cfg["STORAGE_ACCOUNT_NAME"], cfg["FILE_SHARE_NAME"])
    assert share["finetuning/train.py"] == (root / "finetuning" / "train.py").read_bytes()
    rec = _recorded_execution(fake, execution)
    (container,) = rec.template["containers"]
    assert container["command"] == ["/bin/bash", "-c", "set -euo pipefail; " + " && ".join(commands)]
    env = {e["name"]: e for e in container["env"]}
    assert env["RUN_ID"] == {"name": "RUN_ID", "value": run_id}
    assert set(env["HF_TOKEN"]) == {"name", "secretRef"}  # by reference, never the value in the template
    assert rec.env["HF_TOKEN"] == SECRET  # ...and the fake resolved it: the job really gets the token

    # the same with --json: logs on stderr, one document on stdout
    code, doc, err = cli.json("run", "--follow")
    assert code == 0, err
    assert doc["status"] == "Succeeded" and doc["exit_code"] == 0 and doc["run_id"] != run_id
    assert "step 10 | loss 2.31" in err
    second_run = doc["run_id"]

    # -- status -------------------------------------------------------------------------------------------
    code, out, err = cli("status")
    assert code == 0, err
    assert "Inference endpoint: not deployed" in out and f"outputs/{run_id}/" in out
    code, doc, _ = cli.json("status")
    assert code == 0 and doc["target"] == "azure" and doc["endpoint"] is None
    assert [(e["run_id"], e["status"]) for e in doc["executions"]] == [(second_run, "Succeeded"), (run_id, "Succeeded")]

    # -- logs (history of the latest run) -----------------------------------------------------------------
    code, out, err = cli("logs", "--no-follow")
    assert code == 0, err
    assert out.splitlines() == ["Installing requirements...", "step 10 | loss 2.31",
                                f"Saved adapter to outputs/{second_run}"]
    code, out, _ = cli("logs", "--no-follow", "--execution", execution, "--json")
    lines = [json.loads(line) for line in out.splitlines()]  # JSON lines, one event each
    assert code == 0 and [x["text"] for x in lines if x["type"] == "log"][-1] == f"Saved adapter to outputs/{run_id}"
    assert lines[-1]["type"] == "state" and lines[-1]["status"] == "Succeeded"

    # -- download (latest succeeded run by default) ---------------------------------------------------------
    code, doc, err = cli.json("download")
    assert code == 0, err
    assert Path(doc["path"]) == root / "outputs" / second_run
    assert (root / "outputs" / second_run / "adapter_model.safetensors").read_bytes() == ADAPTER
    code, out, err = cli("download", f"outputs/{run_id}", "--to", str(tmp_path / "elsewhere"))
    assert code == 0 and (tmp_path / "elsewhere" / run_id / "adapter_config.json").read_bytes() == b'{"r": 8}'

    # -- provision inference: the app, its endpoint written -------------------------------------------------
    fake.apps.script(lines=["inference: loading model", "inference: serving demo"], line_interval=0.005)
    code, out, err = cli("provision", "inference")
    assert code == 0, err
    inf = _config(root, "inference")
    endpoint = inf["ACA_APP_ENDPOINT"]
    assert endpoint.startswith("https://") and inf["ACA_APP_NAME"] and inf["RESOURCE_GROUP_NAME"] == "rg1"
    assert f"Endpoint: {endpoint}" in out
    code, out, _ = cli("secret", "list", "--inference")
    assert code == 0 and out.split() == ["INFERENCE_API_KEY"]

    # -- deploy: a new revision, ready, examples that fetch the key instead of printing it -----------------
    code, doc, err = cli.json("deploy")
    assert code == 0, err
    assert doc["url"] == endpoint and doc["revision"].startswith(inf["ACA_APP_NAME"] + "--")
    assert "ftstudio secret get INFERENCE_API_KEY --inference" in doc["examples"]["curl"]
    assert f"✓ Revision {doc['revision']} (ready)" in err and "… Wait for" in err
    code, out, err = cli("deploy")
    assert code == 0 and out.startswith(f"Endpoint: {endpoint}\n")
    code, api_key, _ = cli("secret", "get", "INFERENCE_API_KEY", "--inference")
    api_key = api_key.strip()
    assert code == 0 and len(api_key) >= 32

    code, out, err = cli("logs", "--inference", "--no-follow")
    assert code == 0, err
    assert "inference: serving demo" in out.splitlines()

    code, doc, _ = cli.json("status")
    assert code == 0 and doc["endpoint"] == endpoint

    # -- down: everything provision created goes; a second down has nothing to do or say ------------------
    code, out, err = cli("down", "--non-interactive")
    assert code == 2 and "--yes" in err and err.count("\n") == 1
    code, doc, err = cli.json("down", "--yes")
    assert code == 0, err
    assert "rg1" in doc["removed"] and cfg["ACA_JOB_NAME"] in doc["removed"]
    assert fake.state.list_resources() == []
    assert all(_config(root)[k] is None for k in FT_KEYS)
    assert _config(root, "inference")["ACA_APP_ENDPOINT"] is None
    code, doc, err = cli.json("down", "--yes")
    assert code == 0 and doc["removed"] == [] and "kept" not in err

    # -- the secret values are nowhere: files, state, home, share, any output (bar `secret get`'s own) ------
    home = Path(os.environ["FTSTUDIO_HOME"])
    for folder in (root, home, tmp_path / "elsewhere"):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SECRET.encode() not in data and api_key.encode() not in data, path
    key_outputs = [o for o in cli.outputs if api_key in o]
    assert key_outputs == [api_key + "\n"]  # only what `secret get` was asked to print
    assert not any(SECRET in o for o in cli.outputs)


def test_a_failing_run_exits_1_with_its_reason(flow, capsys, tmp_path, monkeypatch):
    fake, cli = flow, Cli(capsys, monkeypatch)
    _new_and_provision(cli, tmp_path)
    _job_script(fake, lines=["Loading dataset...", ("stderr", "error: dataset/train.jsonl line 7: not JSON")],
                exit_code=3, writes={})

    code, out, err = cli("run", "--follow")
    assert code == 1
    assert "Loading dataset..." in out and "error: dataset/train.jsonl line 7: not JSON" in out
    assert "failed" in err and "exit code 3" in err  # the stream's end says how it ended
    final = out.split("Loading dataset...")[-1]
    assert ": Failed (RUN_ID " in final and "reason:" in final and "exited with code 3" in final

    code, doc, err = cli.json("run", "--follow")
    assert code == 1
    assert doc["status"] == "Failed" and doc["exit_code"] == 3 and "exited with code 3" in doc["reason"]

    code, doc, _ = cli.json("status")
    assert code == 0 and [e["status"] for e in doc["executions"]] == ["Failed", "Failed"]
    code, out, err = cli("logs", "--no-follow")
    assert code == 1 and "line 7: not JSON" in out

    code, out, err = cli("download")  # no succeeded run: one line naming what to do
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: ")


def test_non_interactive_missing_inputs_are_all_named_with_exit_2(flow, capsys, tmp_path, monkeypatch):
    cli = Cli(capsys, monkeypatch)
    code, doc, err = cli.json("new", "--non-interactive")
    assert code == 2
    assert [m["name"] for m in doc["error"]["missing_inputs"]] == ["NAME", "model"]
    assert err.count("\n") == 1 and "--model" in err

    code, _, err = cli("new", "demo", "--model", MODEL, "--non-interactive")
    assert code == 0, err
    root = tmp_path / "demo"
    os.chdir(root)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    quiet_log(flow)
    code, doc, err = cli.json("provision", "--non-interactive")
    assert code == 2
    assert [m["name"] for m in doc["error"]["missing_inputs"]] == ["subscription", "resource group", "location"]
    assert "--subscription" in err and "--resource-group" in err and "--location" in err and err.count("\n") == 1
    assert len(flow.requests) == 0 and not (root / ".ftstudio").exists()

    # before provisioning, each command says what to run first (exit 2, one line)
    for argv in (["run"], ["sync", "--dry-run"], ["logs", "--no-follow"], ["download"], ["stop"],
                 ["secret", "list"], ["deploy"], ["logs", "--inference", "--no-follow"]):
        code, out, err = cli(*argv, "--non-interactive")
        assert code == 2, argv
        assert err.strip().startswith("error: ") and "ftstudio provision" in err, (argv, err)
        assert err.count("\n") == 1, (argv, err)

    code, _, err = cli("secret", "set", "HF_TOKEN", "--non-interactive")
    assert code == 2 and "--from-env" in err and "--stdin" in err
    code, _, err = cli("secret", "set", "HF_TOKEN", "--from-env", "NOT_SET_ANYWHERE")
    assert code == 2 and "NOT_SET_ANYWHERE is not set" in err
    code, _, err = cli("status", "--project", str(tmp_path / "nowhere"))
    assert code == 2 and "is not an ftstudio project" in err


def test_ctrl_c_detaches_from_a_run_and_stop_stops_it(flow, capsys, tmp_path, monkeypatch):
    import signal
    import threading

    fake, cli = flow, Cli(capsys, monkeypatch)
    _new_and_provision(cli, tmp_path)
    _job_script(fake, queued_for=30)  # still queued when the person presses Ctrl-C

    def ctrl_c():
        deadline = time.monotonic() + 10
        while not any(isinstance(e, StreamState) for e in cli.events) and time.monotonic() < deadline:
            time.sleep(0.02)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    code, out, err = cli("run", "--follow")
    assert code == 130
    execution = json.loads((tmp_path / "demo" / ".ftstudio" / "state.json").read_text())["last_execution"]
    assert f"Detached; {execution} keeps running. Re-attach: ftstudio logs --execution {execution} --follow" in err
    assert _recorded_execution(fake, execution).status == "Processing"  # Ctrl-C did not stop the run

    code, doc, err = cli.json("stop")
    assert code == 0, err
    assert doc["name"] == execution and doc["stopped"] is True and doc["status"] == "Stopped"
    code, out, _ = cli("stop")
    assert code == 0 and out == f"{execution} already ended (Stopped); nothing to stop.\n"
    code, doc, _ = cli.json("status")
    assert [(e["name"], e["status"]) for e in doc["executions"]] == [(execution, "Stopped")]
