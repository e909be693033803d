"""The local backend end to end, as a user runs it: `ftstudio new --target local`, `run --follow`
(real LoRA training on the CPU, in a venv the backend really builds), `deploy`, the official openai
client against the endpoint, `down --yes`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_serves_the_run, chat_rows, ftstudio, new_local_project

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(1500)
def test_new_run_deploy_ask_down_on_the_local_target(tiny_model, tmp_path):
    # multi-turn conversations with a system prompt, in the `messages` format, trained with the model's chat template
    project = new_local_project(tmp_path, "tones", tiny_model, chat_rows())
    p = ["--project", str(project)]

    ran = ftstudio("run", "--follow", *p)  # in the venv the backend builds
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

    # the run is tracked (issue 14): `runs` lists it with the loss points its log lines showed, and MLflow's
    # own client, pointed at the reported tracking_uri, reads its params, metric history and adapter
    listed = json.loads(ftstudio("runs", "--json", *p).stdout)["runs"]
    run = next(r for r in listed if r["run_id"] == ex["run_id"])
    logged = [[int(s), float(l)] for s, l in re.findall(r"^step (\d+)/\d+ loss ([0-9.]+)", ran.stdout, re.M)]
    assert logged and [[s, round(l, 4)] for s, l in run["losses"]] == logged
    assert run["status"] == "succeeded" and run["best_loss"] <= run["final_loss"] and run["eval_loss"] is not None
    assert run["tokens_per_second"] > 0 and run["adapter"] == str(adapter)
    # the proof it worked: on the held-out rows the adapter beats the base model (same prompts, same weights)
    tuned, base = run["evaluation"]["tuned"], run["evaluation"]["base"]
    assert tuned["rows"] == base["rows"] >= 5 and tuned["loss"] < base["loss"]
    assert tuned["exact_match"] >= 0.8 > base["exact_match"], run["evaluation"]
    assert "evaluation on" in ran.stdout and "exact match" in ran.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=run["tracking_uri"])
    tracked = client.get_run(run["mlflow_run_id"])
    assert tracked.info.run_name == ex["run_id"] and tracked.info.status == "FINISHED"
    assert tracked.data.params["training.learning_rate"] == "0.01" and tracked.data.params["lora.r"] == "8"
    history = [[m.step, round(m.value, 4)] for m in client.get_metric_history(tracked.info.run_id, "loss")]
    assert history == logged
    assert {"eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "eval_exact_match",
            "base_eval_exact_match", "eval_perplexity"} <= set(tracked.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(tracked.info.run_id, "adapter")}
    assert artifacts == {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"}

    deployed = ftstudio("deploy", "--json", *p)
    try:  # `down` runs even when the deploy failed half-way, so no server outlives the test
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        url = json.loads(deployed.stdout)["url"]
        key = ftstudio("secret", "get", "INFERENCE_API_KEY", "--inference", *p).stdout.strip()
        assert key and key not in deployed.stdout + deployed.stderr
        assert_serves_the_run(url, key, ex["run_id"], history=True)  # system prompt + two earlier exchanges
    finally:
        down = ftstudio("down", "--yes", *p)
    assert down.returncode == 0 and "local inference server" in down.stdout
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{url}/health", timeout=5)
