"""The local path never imports an Azure SDK (nor needs a credential): checked in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_local_deploy import FAKE_APP
from test_local_support import make_local_project, stop_everything

REPO = Path(__file__).resolve().parents[2]
PROBE = r"""
import contextlib, io, json, os, sys
from tui.cli import main

project = sys.argv[1]
calls = [
    ["sync", "--dry-run"], ["run", "--follow"], ["status"], ["logs", "--no-follow"], ["logs", "--system"],
    ["secret", "set", "HF_TOKEN", "--from-env", "PROBE_TOKEN"], ["secret", "list"], ["secret", "get", "HF_TOKEN"],
    ["download"], ["deploy"], ["logs", "--inference", "--no-follow"], ["stop"], ["down", "--yes"],
]
codes = []
for argv in calls:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        codes.append(main(argv + ["--project", project]))
print(json.dumps({"codes": codes, "azure": sorted(m for m in sys.modules if m.split(".")[0] == "azure")}))
"""


def test_local_commands_import_no_azure_module(tmp_path, monkeypatch):
    job = {"job.py": "import os\nos.makedirs(f\"outputs/{os.environ['RUN_ID']}\")\nprint('trained')\n"}
    project = make_local_project(tmp_path / "demo", ["cd /mount", "python3 ./job.py"], {**job, **FAKE_APP})
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("AZURE_", "FTSTUDIO_ACCESS"))}
    env.update(FTSTUDIO_LOCAL_PYTHON=sys.executable, PROBE_TOKEN="probe-secret-value", PYTHONPATH=str(REPO))
    try:
        done = subprocess.run([sys.executable, "-c", PROBE, str(project.root)], env=env, capture_output=True,
                              text=True, timeout=180, cwd=tmp_path)
    finally:
        stop_everything(project)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0] * 13
    assert result["azure"] == []
