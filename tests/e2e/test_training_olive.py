"""--recipe olive: invoke_olive.py (LoRA -> merge -> ONNX int4) from train_config.json.

The workflow building and validation run everywhere; the real Olive run needs olive-ai, which is
not in the shared venv: it runs when this interpreter has olive or FTSTUDIO_OLIVE_PYTHON names one
that has (olive-ai 0.13.0 + onnxruntime-genai 0.14.1, as in scaffolds/pins.py).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import PYTHON, TEMPLATES, TEXT_TEMPLATE, make_project, run_script, subprocess_env, tone_rows

pytestmark = pytest.mark.e2e


def olive_project(root: Path, model: Path, **kw) -> Path:
    project = make_project(root, model, recipe="olive", **kw)
    (project / "finetuning/invoke_olive.py").write_bytes((TEMPLATES / "finetuning/invoke_olive.py").read_bytes())
    from scaffolds.render import environment  # the generator's own filters (|json) and escaping checks

    rel = "finetuning/olive-config.json.j2"
    template = environment(rel).from_string((TEMPLATES / rel).read_text(encoding="utf-8"))
    (project / "finetuning/olive-config.json").write_text(
        template.render(model={"local_dir": "model-cache/local/tiny-llama"}), encoding="utf-8")
    return project


def olive_python() -> str | None:
    if os.environ.get("FTSTUDIO_OLIVE_PYTHON"):
        return os.environ["FTSTUDIO_OLIVE_PYTHON"]
    return PYTHON if importlib.util.find_spec("olive") else None


def test_workflow_takes_paths_and_hyperparameters_from_train_config(tmp_path, tiny_model):
    project = olive_project(tmp_path / "p", tiny_model, max_steps=7, lr=3e-3, batch=2)
    assert run_script(project, "finetuning/fetch_model.py").returncode == 0
    res = subprocess.run([PYTHON, "finetuning/invoke_olive.py", "--dry-run"], cwd=project,
                         env=subprocess_env(RUN_ID="o-dry"), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    workflow = json.loads((project / "outputs/o-dry/olive-config.json").read_text())
    assert workflow["input_model"]["model_path"] == str(project / "model-cache/local/tiny-llama")
    data = workflow["data_configs"][0]
    assert data["load_dataset_config"]["data_files"] == str(project / "dataset/dataset-classification.jsonl")
    assert data["pre_process_data_config"]["text_template"] == TEXT_TEMPLATE
    assert data["pre_process_data_config"]["strategy"] == "line-by-line"
    lora = workflow["passes"]["lora"]
    assert (lora["r"], lora["alpha"], lora["torch_dtype"]) == (8, 16, "float32")
    assert lora["training_args"]["max_steps"] == 7 and lora["training_args"]["learning_rate"] == 3e-3
    assert lora["training_args"]["per_device_train_batch_size"] == 2
    assert lora["training_args"]["max_grad_norm"] == 0.3  # structure kept from olive-config.json
    assert [p["type"] for p in workflow["passes"].values()] == ["LoRA", "MergeAdapterWeights", "ModelBuilder"]
    assert workflow["passes"]["builder"]["precision"] == "int4"
    assert workflow["output_dir"] == str(project / "outputs/o-dry/olive")


def test_bad_row_is_refused_before_olive_runs(tmp_path, tiny_model):
    rows = tone_rows(3)
    rows[1] = {"tone": "happy"}
    project = olive_project(tmp_path / "p", tiny_model, rows=rows)
    assert run_script(project, "finetuning/fetch_model.py").returncode == 0
    res = subprocess.run([PYTHON, "finetuning/invoke_olive.py"], cwd=project, env=subprocess_env(RUN_ID="o"),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "line 2: has no 'phrase' column" in res.stderr


@pytest.mark.skipif(olive_python() is None, reason="olive-ai not installed (set FTSTUDIO_OLIVE_PYTHON)")
def test_olive_run_produces_an_onnx_int4_model_and_a_servable_adapter(tmp_path, tiny_model):
    python = olive_python()
    project = olive_project(tmp_path / "p", tiny_model, max_steps=20)
    assert run_script(project, "finetuning/fetch_model.py").returncode == 0
    res = subprocess.run([python, "finetuning/invoke_olive.py"], cwd=project,
                         env=subprocess_env(RUN_ID="o-1", CI="true"), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = project / "outputs/o-1"
    for name in ("olive/model.onnx", "olive/model.onnx.data", "olive/genai_config.json", "adapter_model.safetensors",
                 "adapter_config.json", "metrics.json"):
        assert (run / name).is_file(), name
    assert not (run / "olive-cache").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "succeeded" and metrics["recipe"] == "olive"
    assert json.loads((run / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        "model-cache/local/tiny-llama"
    onnx = (run / "olive/model.onnx").read_bytes()
    assert b"MatMulNBits" in onnx  # really int4

    generate = (
        "import sys, onnxruntime_genai as og\n"
        "m = og.Model(sys.argv[1]); t = og.Tokenizer(m); ids = t.encode(sys.argv[2])\n"
        "p = og.GeneratorParams(m); p.set_search_options(max_length=len(ids) + 4, do_sample=False)\n"
        "g = og.Generator(m, p); g.append_tokens(ids)\n"
        "while not g.is_done(): g.generate_next_token()\n"
        "print(len(g.get_sequence(0)) - len(ids))\n")
    out = subprocess.run([python, "-c", generate, str(run / "olive"), "<|user|>\nI love my dog today<|end|>\n"],
                         env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) > 0
