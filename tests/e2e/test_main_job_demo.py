"""The README's main command (scripts/demo_local.sh) really works end to end: the tiny model learns
and the local endpoint answers a held-out phrase with its tone."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_demo_script_trains_serves_answers_and_tears_down(tmp_path):
    env = dict(os.environ)
    # The real venv build is covered by test_local_backend.py; here the repo's interpreter stands in.
    env.update(DEMO_DIR=str(tmp_path / "ws"), FTSTUDIO_LOCAL_PYTHON=sys.executable, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(["bash", str(REPO / "scripts/demo_local.sh")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1100)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Q: I hate my phone tonight\nA: angry\n" in done.stdout
    assert "ftstudio down --yes" in done.stderr and "Traceback" not in done.stderr
    project = tmp_path / "ws" / "demo"
    assert project.joinpath("infra/inference.config.json").read_text().count('"ACA_APP_ENDPOINT": ""') == 1
