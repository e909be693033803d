"""The project's tracking module (finetuning/tracking.py, issue 14): what a run sends MLflow, where, and
that tracking never stops training nor shows a credential. The end-to-end check (a real local run read
back with MLflow's client through `ftstudio runs`) is tests/e2e/test_local_backend.py."""
from __future__ import annotations

import importlib.util
import json

import pytest

from scaffolds.template_tree import template_root


@pytest.fixture(scope="module")
def tracking():
    spec = importlib.util.spec_from_file_location("project_tracking", template_root() / "finetuning/tracking.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_whole_config_becomes_flat_params(tracking):
    config = {"recipe": "lora", "model": {"id": "m", "gated": False, "revision": None},
              "lora": {"r": 8, "target_modules": ["q_proj", "v_proj"]}, "dataset": {"column_map": {}},
              "training": {"learning_rate": 0.0002}}
    assert tracking.flat_params(config) == {
        "recipe": "lora", "model.id": "m", "model.gated": "false", "model.revision": "null",
        "lora.r": "8", "lora.target_modules": '["q_proj", "v_proj"]', "dataset.column_map": "{}",
        "training.learning_rate": "0.0002"}
    assert len(tracking.flat_params({"t": "x" * 9000})["t"]) == tracking.PARAM_MAX


def test_an_embedded_run_is_published_to_the_run_folder_and_resumed_as_the_same_run(tracking, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    said = []
    (tmp_path / ".ftstudio-answers.json").write_text(json.dumps({"project_name": "tones"}))
    run_dir = tmp_path / "outputs" / "r1"
    first = tracking.Tracker(run_dir, "r1", tmp_path, said.append)
    first.log_params({"training": {"learning_rate": 0.01}})
    first.log_step(1, {"loss": 2.0, "learning_rate": 0.01}, 100)
    first.publish()  # what a checkpoint does
    db = run_dir / "tracking" / "mlflow.db"
    assert db.is_file() and first.describe()["uri"] == "tracking/mlflow.db"
    again = tracking.Tracker(run_dir, "r1", tmp_path, said.append)  # a resumed run
    again.log_params({"training": {"learning_rate": 0.01}})
    again.log_step(2, {"loss": 1.0}, 300)
    again.finish({"status": "succeeded", "final_loss": 1.0, "steps": 2}, None)
    assert again.describe()["mlflow_run_id"] == first.describe()["mlflow_run_id"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    [run] = client.search_runs([client.get_experiment_by_name("tones").experiment_id])
    assert run.info.run_name == "r1" and run.info.status == "FINISHED"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(1, 2.0), (2, 1.0)]
    assert run.data.params == {"training.learning_rate": "0.01"}
    assert not any("off" in line for line in said), said


def test_a_tracker_that_cannot_start_says_so_once_without_the_credentials_and_training_goes_on(
        tracking, tmp_path, monkeypatch):
    secret = "s3cr3t-pa55word"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ftuser:{secret}@127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    said = []
    tracker = tracking.Tracker(tmp_path / "outputs" / "r1", "r1", tmp_path, said.append)
    assert not tracker.on
    tracker.log_step(1, {"loss": 1.0}, None)  # all no-ops now
    tracker.finish({"status": "succeeded"}, None)
    assert len(said) == 1 and said[0].startswith("tracking: off (") and "training goes on" in said[0]
    assert secret not in "".join(said)
    assert tracker.remote_label() == "http://127.0.0.1:9/"  # what metrics.json would name: no credentials


def test_runs_lists_downloaded_and_running_runs_newest_first(tmp_path, capsys):
    from tui.cli import main

    assert main(["new", "p", "--model", "microsoft/Phi-3-mini-4k-instruct", "--dir", str(tmp_path),
                 "--non-interactive"]) == 0
    outputs = tmp_path / "p" / "outputs"  # where `ftstudio download` puts an Azure run
    for run_id, finished, loss in (("r1", "2026-12-01T10:00:00Z", 0.5), ("r2", "2026-12-02T10:00:00Z", 0.25)):
        (outputs / run_id).mkdir(parents=True)
        (outputs / run_id / "adapter_config.json").write_text("{}")
        (outputs / run_id / "metrics.json").write_text(json.dumps({
            "status": "succeeded", "steps": 20, "max_steps": 20, "train_runtime_s": 65.0, "finished_at": finished,
            "losses": [[1, 2.0], [10, loss / 2], [20, loss]], "eval_losses": [[20, loss + 0.1]], "final_loss": loss,
            "tokens_per_second": 1234.5,
            "evaluation": {"tuned": {"exact_match": 0.9, "loss": 0.2, "perplexity": 1.2, "rows": 10},
                           "base": {"exact_match": 0.0, "loss": 3.0, "perplexity": 20.1, "rows": 10}}}))
    (outputs / "r3" / "tracking").mkdir(parents=True)
    (outputs / "r3" / "tracking" / "mlflow.db").write_bytes(b"")  # a run still training: its store, no metrics yet
    (outputs / "not-a-run").mkdir()
    capsys.readouterr()
    assert main(["runs", "--project", str(tmp_path / "p"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in doc["runs"]] == ["r3", "r2", "r1"]
    r2 = doc["runs"][1]
    assert (r2["best_loss"], r2["final_loss"], r2["eval_loss"], r2["status"]) == (0.125, 0.25, 0.35, "succeeded")
    assert doc["runs"][0]["status"] == "running" and doc["runs"][0]["tracking_uri"].startswith("sqlite:///")
    assert doc["tracking_uris"] == [doc["runs"][0]["tracking_uri"]]
    assert main(["runs", "--project", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "r2   succeeded  20/20  0.25 / 0.125" in out and "90% / 0%" in out and "1m05s" in out, out
    capsys.readouterr()
    assert main(["runs", "compare", "r1", "r2", "--project", str(tmp_path / "p"), "--json"]) == 0
    rows = {row["metric"]: row["values"] for row in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["best loss"] == [0.25, 0.125] and rows["exact match (tuned)"] == [0.9, 0.9]
    assert rows["exact match (base)"] == [0.0, 0.0] and rows["tokens/s"] == [1234.5, 1234.5]
    assert main(["runs", "compare", "r1", "nope", "--project", str(tmp_path / "p")]) == 2
    assert "nope" in capsys.readouterr().err


def test_a_wandb_key_without_wandb_installed_is_said_not_ignored(monkeypatch, capsys):
    import sys

    project_modules = ("train", "train_inputs", "tracking", "evaluation", "training_data", "project_helpers")
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m.split(".")[0] in project_modules}
    monkeypatch.setattr(sys, "path", [str(template_root() / "finetuning"), *sys.path])
    try:
        import train

        monkeypatch.delenv("WANDB_API_KEY", raising=False)
        assert train.extra_reporters(train.say) == []
        monkeypatch.setenv("WANDB_API_KEY", "k-not-shown")
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else object())
        assert train.extra_reporters(train.say) == []
        out = capsys.readouterr().out
        assert "WANDB_API_KEY is set but wandb is not installed" in out and "k-not-shown" not in out
    finally:  # the project's modules leave with the test
        for name in [m for m in sys.modules if m.split(".")[0] in project_modules]:
            del sys.modules[name]
        sys.modules.update(saved)
