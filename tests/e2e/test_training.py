"""The generated project's finetuning/ scripts really fetch, train, stop and resume (CPU, tiny model)."""
from __future__ import annotations

import json
import re
import sys
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PYTHON, make_project, run_script, subprocess_env, tone_rows, write_jsonl

pytestmark = pytest.mark.e2e


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_trained_run_writes_adapter_metrics_and_progress(trained_project):
    run = trained_project / "outputs" / "run-1"
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "tokenizer_config.json",
                 "metrics.json", "train_config.json"):
        assert (run / name).is_file(), name
    metrics = read(run / "metrics.json")
    assert metrics["run_id"] == "run-1" and metrics["status"] == "succeeded"
    assert metrics["steps"] == 200 and metrics["recipe"] == "lora" and metrics["model"] == "tiny-llama"
    assert isinstance(metrics["train_runtime_s"], float) and metrics["train_runtime_s"] > 0
    steps = [s for s, _ in metrics["losses"]]
    assert steps[0] == 1 and steps[-1] == 200 and steps == sorted(set(steps))
    assert metrics["first_loss"] == metrics["losses"][0][1] and metrics["final_loss"] == metrics["losses"][-1][1]
    # it learned: the answer-only loss collapses
    assert metrics["final_loss"] < metrics["first_loss"] / 10 and metrics["final_loss"] < 0.5
    # one flushed progress line per logging step
    log = (trained_project / "train-run-1.log").read_text()
    assert re.search(r"^step 10/200 loss \d+\.\d+ lr \d\.\d+e[-+]\d+", log, re.M)
    assert len(re.findall(r"^step \d+/200 loss", log, re.M)) == 21  # first step + every 10
    # portable adapter: the project-relative model folder, never this machine's absolute path
    assert read(run / "adapter_config.json")["base_model_name_or_path"] == "model-cache/local/tiny-llama"
    assert (run / "checkpoints" / "checkpoint-200" / "trainer_state.json").is_file()


def test_rerun_of_a_succeeded_run_is_a_no_op(trained_project):
    before = (trained_project / "outputs/run-1/adapter_model.safetensors").stat().st_mtime_ns
    again = run_script(trained_project, "finetuning/train.py", run_id="run-1")
    assert again.returncode == 0, again.stderr
    assert "already succeeded" in again.stdout
    assert (trained_project / "outputs/run-1/adapter_model.safetensors").stat().st_mtime_ns == before


def test_bad_row_exits_2_naming_the_line_before_loading_anything(tmp_path, tiny_model):
    rows = tone_rows(5)
    rows[3] = {"phrase": "I love my team today"}  # no "tone" -> line 4
    project = make_project(tmp_path / "p", tiny_model, rows=rows)
    started = time.monotonic()
    bad = run_script(project, "finetuning/train.py", run_id="bad")
    assert bad.returncode == 2
    err = bad.stderr.strip().splitlines()[-1]
    assert "dataset/dataset-classification.jsonl line 4" in err and "has no 'tone' column" in err
    assert not (project / "outputs").exists()  # nothing half-written
    assert time.monotonic() - started < 5  # validated before torch was imported

    write_jsonl(project / "dataset/dataset-classification.jsonl", rows[:2])
    with open(project / "dataset/dataset-classification.jsonl", "a") as fh:
        fh.write('{"phrase": "broken json\n')
    broken = run_script(project, "finetuning/train.py", run_id="bad")
    assert broken.returncode == 2 and "line 3: not valid JSON" in broken.stderr


def test_bad_config_and_missing_model_exit_2(tmp_path, tiny_model):
    project = make_project(tmp_path / "p", tiny_model)
    config = read(project / "finetuning/train_config.json")
    config["lora"]["r"] = 0
    (project / "finetuning/train_config.json").write_text(json.dumps(config))
    res = run_script(project, "finetuning/train.py", run_id="x")
    assert res.returncode == 2 and "lora.r" in res.stderr

    config["lora"]["r"] = 8
    (project / "finetuning/train_config.json").write_text(json.dumps(config))
    res = run_script(project, "finetuning/train.py", run_id="x")  # fetch_model.py was never run
    assert res.returncode == 2 and "fetch_model.py" in res.stderr and "model-cache/local/tiny-llama" in res.stderr


class Lines:
    """Reads a child's stdout on a thread so the test can wait for a line without blocking."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                match = re.search(pattern, self.lines[seen])
                seen += 1
                if match:
                    return match
            time.sleep(0.01)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[-30:]))

    def text(self) -> str:
        self._thread.join(10)
        return "\n".join(self.lines)


def start_training(project: Path, run_id: str) -> tuple[subprocess.Popen, Lines]:
    proc = subprocess.Popen([PYTHON, "finetuning/train.py", "--config", "finetuning/train_config.json"],
                            cwd=project, env=subprocess_env(RUN_ID=run_id), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    return proc, Lines(proc)


def test_stopped_run_resumes_from_its_checkpoint(tmp_path, tiny_model):
    project = make_project(tmp_path / "p", tiny_model, max_steps=150, save_steps=20, logging_steps=5)
    assert run_script(project, "finetuning/fetch_model.py").returncode == 0
    checkpoints = project / "outputs/r/checkpoints"

    # 1. a stop (SIGTERM, what `ftstudio stop` / ACA send) after the first periodic checkpoint
    proc, lines = start_training(project, "r")
    try:
        lines.wait_for(r"^step 25/150 loss")  # logged after checkpoint-20 was saved
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped_at = int(re.search(r"stopped at step (\d+)", lines.text()).group(1))
    assert 25 <= stopped_at < 150
    assert (checkpoints / f"checkpoint-{stopped_at}" / "trainer_state.json").is_file()
    metrics = read(project / "outputs/r/metrics.json")
    assert metrics["status"] == "stopped" and metrics["steps"] == stopped_at
    assert not (project / "outputs/r/adapter_model.safetensors").exists()

    # 2. re-run with the same RUN_ID: continues from the stop's checkpoint to the end
    final = run_script(project, "finetuning/train.py", run_id="r")
    assert final.returncode == 0, final.stderr[-2000:]
    assert f"resuming run r from checkpoint-{stopped_at}" in final.stdout
    assert "step 1/150 " not in final.stdout and "step 150/150 loss" in final.stdout
    metrics = read(project / "outputs/r/metrics.json")
    assert metrics["status"] == "succeeded" and metrics["steps"] == 150
    assert metrics["resumed_from"] == f"checkpoint-{stopped_at}"
    steps = [s for s, _ in metrics["losses"]]
    assert steps[0] == 1 and steps[-1] == 150 and steps == sorted(set(steps))  # history kept across the restart
    assert (project / "outputs/r/adapter_model.safetensors").is_file()


def test_newest_incomplete_checkpoint_is_skipped(tmp_path):
    """A crash while saving leaves a checkpoint without trainer_state.json: resume uses the one before."""
    train = load_train_module()
    ckpts = tmp_path / "checkpoints"
    for step, complete in ((20, True), (40, True), (60, False)):
        folder = ckpts / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert train.last_checkpoint(ckpts).name == "checkpoint-40"
    assert train.last_checkpoint(tmp_path / "none") is None


def load_train_module():
    import importlib.util

    from tests.e2e.conftest import TEMPLATES

    spec = importlib.util.spec_from_file_location("generated_train", TEMPLATES / "finetuning/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prompt_completion_split_follows_the_last_field_rule():
    load_train_module()
    train = sys.modules["training_data.text_template"]  # the rule lives in the project's package, which train.py uses
    segments = train.parse_template("<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>")
    assert train.split_row(segments, {"phrase": "I love {x}", "tone": "happy"}) == (
        "<|user|>\nI love {x}<|end|>\n<|assistant|>\n", "happy<|end|>")
    segments = train.parse_template("Context: {ctx}\nQ: {q}\nA: {a}")
    assert train.split_row(segments, {"ctx": "c", "q": "why", "a": 42}) == ("Context: c\nQ: why\nA: ", "42")
    with pytest.raises(ValueError):
        train.parse_template("no fields at all")
    with pytest.raises(ValueError):
        train.parse_template("{row[0]}")


def test_qlora_trains_on_cpu_with_a_4bit_base(qlora_project):
    log = (qlora_project / "train-q-1.log").read_text()
    layers = int(re.search(r"qlora: (\d+) linear layers quantized to 4-bit nf4", log).group(1))
    assert layers == 14  # 2 layers x (q, k, v, o, gate, up, down)
    run = qlora_project / "outputs/q-1"
    metrics = read(run / "metrics.json")
    assert metrics["status"] == "succeeded" and metrics["recipe"] == "qlora" and metrics["steps"] == 20
    assert metrics["final_loss"] < metrics["first_loss"]
    assert (run / "adapter_model.safetensors").stat().st_size > 0
    assert read(run / "adapter_config.json")["peft_type"] == "LORA"
