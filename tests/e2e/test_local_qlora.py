"""QLoRA through the local backend, as a user runs it: `ftstudio new --recipe qlora --target local`,
`run --follow` (bitsandbytes nf4 base on the CPU), `deploy`, the official openai client, `down --yes`.
Uses the test interpreter for the job (FTSTUDIO_LOCAL_PYTHON) — the real venv build is covered by
test_local_backend.py."""
from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import pytest

from tests.e2e import conftest as e2e
from tests.e2e.conftest import assert_serves_the_run, tiny_run_settings, tone_rows, write_jsonl

pytestmark = pytest.mark.e2e
ftstudio = partial(e2e.ftstudio, local_python=sys.executable)  # the job runs with the test interpreter


@pytest.mark.timeout(1200)
def test_qlora_project_trains_4bit_serves_and_answers(tiny_model, tmp_path):
    dataset = write_jsonl(tmp_path / "tones.jsonl", tone_rows())
    made = ftstudio("new", "toneq", "--model", str(tiny_model), "--recipe", "qlora", "--target", "local",
                    "--dir", str(tmp_path), "--dataset", str(dataset), *tiny_run_settings("compute_dtype=float32"),
                    # an AI Toolkit-style project: flat rows read through its text_template
                    "--set", f"text_template={e2e.TEXT_TEMPLATE}", "--non-interactive")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "toneq"
    config = json.loads((project / "finetuning" / "train_config.json").read_text())
    assert config["recipe"] == "qlora" and config["quantization"]["quant_type"] == "nf4"
    assert config["dataset"]["format"] == "text_template" and config["dataset"]["text_template"] == e2e.TEXT_TEMPLATE
    assert "bitsandbytes" in (project / "setup" / "requirements.txt").read_text()
    p = ["--project", str(project)]

    ran = ftstudio("run", "--follow", *p)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "linear layers quantized to 4-bit nf4" in ran.stdout  # the base really is bitsandbytes 4-bit
    status = json.loads(ftstudio("status", "--json", *p).stdout)
    ex = status["executions"][0]
    assert ex["status"] == "Succeeded"
    adapter = Path(ex["adapter_path"])
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA"
    metrics = json.loads((adapter / "metrics.json").read_text())
    assert metrics["recipe"] == "qlora" and metrics["final_loss"] < metrics["first_loss"] / 2, metrics

    deployed = ftstudio("deploy", "--json", *p)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    try:
        url = json.loads(deployed.stdout)["url"]
        key = ftstudio("secret", "get", "INFERENCE_API_KEY", "--inference", *p).stdout.strip()
        assert_serves_the_run(url, key, ex["run_id"])
    finally:
        ftstudio("down", "--yes", *p)
