"""The local backend end to end, as a user runs it: `ftstudio new --target local`, `run --follow`
(real LoRA training on the CPU, in a venv the backend really builds), `deploy`, the official openai
client against the endpoint, `down --yes`."""
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
    env = {k: v for k, v in os.environ.items() if k != "FTSTUDIO_LOCAL_PYTHON"}  # the real venv path
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "tui", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.timeout(1500)
def test_new_run_deploy_ask_down_on_the_local_target(tiny_model, tmp_path):
    dataset = write_jsonl(tmp_path / "tones.jsonl", tone_rows())
    made = ftstudio("new", "tones", "--model", str(tiny_model), "--target", "local", "--dir", str(tmp_path),
                    "--dataset", str(dataset), "--set", "max_steps=200", "--set", "learning_rate=0.01",
                    "--set", "per_device_train_batch_size=8", "--set", "source_max_len=64",
                    "--set", "logging_steps=10", "--set", "lora_r=8", "--set", "lora_alpha=16",
                    "--set", "lora_dropout=0", "--set", "warmup_steps=0", "--non-interactive")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "tones"
    p = ["--project", str(project)]

    ran = ftstudio("run", "--follow", *p)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Creating the Python environment" in ran.stderr  # built from setup/requirements.txt
    status = json.loads(ftstudio("status", "--json", *p).stdout)
    ex = status["executions"][0]
    assert ex["status"] == "Succeeded" and ex["exit_code"] == 0
    adapter = Path(ex["adapter_path"])
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    metrics = json.loads((adapter / "metrics.json").read_text())
    assert metrics["status"] == "succeeded" and metrics["run_id"] == ex["run_id"]
    assert metrics["final_loss"] < metrics["first_loss"] / 2, metrics

    deployed = ftstudio("deploy", "--json", *p)
    try:  # `down` runs even when the deploy failed half-way, so no server outlives the test
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        url = json.loads(deployed.stdout)["url"]
        key = ftstudio("secret", "get", "INFERENCE_API_KEY", "--inference", *p).stdout.strip()
        assert key and key not in deployed.stdout + deployed.stderr
        from openai import OpenAI

        client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        assert ex["run_id"] in model  # the adapter of the run we just trained
        answers = {}
        for phrase in HELD_OUT:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": phrase}],
                                                   max_tokens=5, temperature=0)
            answers[phrase] = reply.choices[0].message.content.strip()
        right = sum(answers[p_].startswith(tone) for p_, tone in HELD_OUT.items())
        assert right >= len(HELD_OUT) - 1, answers  # phrases it never saw get their tone
    finally:
        down = ftstudio("down", "--yes", *p)
    assert down.returncode == 0 and "local inference server" in down.stdout
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{url}/health", timeout=5)
