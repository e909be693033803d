"""QLoRA through the local backend, as a user runs it: `ftstudio new --recipe qlora --target local`,
`run --follow` (bitsandbytes nf4 base on the CPU), `deploy`, the official openai client, `down --yes`.
Uses the test interpreter for the job (FTSTUDIO_LOCAL_PYTHON) — the real venv build is covered by
test_local_backend.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import HELD_OUT, tone_rows, write_jsonl

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def ftstudio(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, FTSTUDIO_LOCAL_PYTHON=sys.executable, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "tui", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.timeout(1200)
def test_qlora_project_trains_4bit_serves_and_answers(tiny_model, tmp_path):
    dataset = write_jsonl(tmp_path / "tones.jsonl", tone_rows())
    made = ftstudio("new", "toneq", "--model", str(tiny_model), "--recipe", "qlora", "--target", "local",
                    "--dir", str(tmp_path), "--dataset", str(dataset), "--set", "max_steps=200",
                    "--set", "learning_rate=0.01", "--set", "per_device_train_batch_size=8",
                    "--set", "source_max_len=64", "--set", "logging_steps=10", "--set", "lora_r=8",
                    "--set", "lora_alpha=16", "--set", "lora_dropout=0", "--set", "warmup_steps=0",
                    "--set", "compute_dtype=float32", "--non-interactive")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "toneq"
    config = json.loads((project / "finetuning" / "train_config.json").read_text())
    assert config["recipe"] == "qlora" and config["quantization"]["quant_type"] == "nf4"
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
        from openai import OpenAI

        client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        assert ex["run_id"] in model
        answers = {}
        for phrase in HELD_OUT:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": phrase}],
                                                   max_tokens=5, temperature=0)
            answers[phrase] = reply.choices[0].message.content.strip()
        right = sum(answers[p_].startswith(tone) for p_, tone in HELD_OUT.items())
        assert right >= len(HELD_OUT) - 1, answers
    finally:
        ftstudio("down", "--yes", *p)
