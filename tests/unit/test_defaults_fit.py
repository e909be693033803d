"""Issue 13 item 7: defaults that fit the model. Every default the generator picks for a catalog model
passes validation, an unset sequence length never exceeds the model's context, and the per-device batch
is fitted to the GPU without changing the effective batch."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import azure_facts as azure_spec
from core.errors import InputError
from scaffolds import catalog, params
from scaffolds.catalog import gpu_estimate
from scaffolds.generate import ProjectSpec, plan_project
from tui.cli import main

CASES = [(m["id"], recipe) for m in catalog.entries() for recipe in catalog.RECIPES]


def resolve(model: dict, recipe: str, **overrides) -> dict:
    return params.resolve(model, recipe, overrides, gpu_profile_for=catalog.gpu_profile_for)


@pytest.mark.parametrize("model_id,recipe", CASES)
def test_every_catalog_model_and_recipe_plans_with_no_flag(tmp_path, model_id, recipe):
    plan = plan_project(ProjectSpec(name="p", model=model_id, parent=tmp_path, recipe=recipe))
    p, m = plan.params, plan.model
    assert p["source_max_len"] <= m["context_length"]
    # the GPU chosen holds the estimate at the values chosen
    est = gpu_estimate.estimate(m, recipe, seq_len=p["source_max_len"], batch=p["per_device_train_batch_size"],
                                lora_r=p["lora_r"], target_modules=p["lora_target_modules"],
                                dtype=p["compute_dtype"], double_quant=p["double_quant"])
    assert gpu_estimate.fits(est, p["gpuProfileType"]), est.basis()
    assert p["gpuProfileType"] == m["gpu"][recipe]["profile"]  # what `ftstudio models` shows
    # a lowered batch keeps the effective batch: the same training, in smaller steps
    generic = {q.name: q.default for q in params.PARAMS}
    start = m["defaults"].get("per_device_train_batch_size", generic["per_device_train_batch_size"])
    accumulation = m["defaults"].get("gradient_accumulation_steps", generic["gradient_accumulation_steps"])
    assert p["per_device_train_batch_size"] * p["gradient_accumulation_steps"] == start * accumulation
    assert list(tmp_path.iterdir()) == []  # planning writes nothing


def test_an_unset_sequence_length_is_the_smaller_of_the_default_and_the_context():
    phi3 = catalog.lookup("microsoft/Phi-3-mini-4k-instruct")  # AI Toolkit's default 1024, context 4096
    assert resolve(phi3, "qlora")["source_max_len"] == 1024
    short = {**phi3, "context_length": 300}  # the model's own default (1024) is cut too, not only the generic one
    assert resolve(short, "qlora")["source_max_len"] == 300
    assert resolve({**short, "defaults": {}}, "qlora")["source_max_len"] == 300  # generic 512
    with pytest.raises(InputError) as exc:  # a length the user asks for is never cut silently
        resolve(short, "qlora", source_max_len=512)
    assert exc.value.field == "source_max_len" and "300" in exc.value.one_line()


def test_the_batch_is_lowered_until_the_smallest_gpu_fits_and_accumulation_makes_up_for_it():
    llama3 = catalog.lookup("meta-llama/Meta-Llama-3-8B")  # AI Toolkit's: accumulation 4, sequence 1024
    p = resolve(llama3, "qlora")
    assert (p["gpuProfileType"], p["per_device_train_batch_size"], p["gradient_accumulation_steps"]) == \
        (catalog.T4, 2, 8)
    assert p["compute_dtype"] == "float16"  # a T4 has no bfloat16
    # an A100 asked for: the default batch fits there, and the dtype follows the GPU
    a100 = resolve(llama3, "qlora", gpuProfileType=catalog.A100)
    assert (a100["per_device_train_batch_size"], a100["gradient_accumulation_steps"], a100["compute_dtype"]) == \
        (4, 4, "bfloat16")
    # a batch asked for is kept: the GPU grows instead
    assert resolve(llama3, "qlora", per_device_train_batch_size=4)["gpuProfileType"] == catalog.A100
    # an accumulation asked for is kept as it is
    assert resolve(llama3, "qlora", gradient_accumulation_steps=3)["gradient_accumulation_steps"] == 3
    # a longer sequence asked for: the batch shrinks further before the GPU grows
    long = resolve(llama3, "qlora", source_max_len=2048)
    assert (long["gpuProfileType"], long["per_device_train_batch_size"]) == (catalog.T4, 1)
    # 16-bit LoRA of 8B: no batch fits a T4, so the A100 at the default batch
    lora = resolve(llama3, "lora")
    assert (lora["gpuProfileType"], lora["per_device_train_batch_size"], lora["compute_dtype"]) == \
        (catalog.A100, 4, "bfloat16")


def test_a_small_model_keeps_the_default_batch():
    p = resolve(catalog.lookup("Qwen/Qwen3-0.6B"), "qlora")
    assert (p["gpuProfileType"], p["per_device_train_batch_size"], p["gradient_accumulation_steps"]) == \
        (catalog.T4, 4, 1)


def test_the_tui_can_still_ask_for_a_profile_without_values():
    # tui/screens/configure.py calls gpu_profile_for(model, recipe) when the form does not resolve
    qwen = catalog.lookup("Qwen/Qwen3-8B")
    assert catalog.gpu_profile_for(qwen, "qlora") == catalog.T4
    assert catalog.gpu_profile_for(qwen, "lora") == catalog.A100
    assert set(azure_spec.GPU_PROFILES) >= {catalog.T4, catalog.A100}


def _tiny_model(folder: Path, context: int) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": context,
        "hidden_size": 16, "num_hidden_layers": 2, "intermediate_size": 32, "num_attention_heads": 2,
        "vocab_size": 100}))
    save_file({"embed.weight": np.zeros((100, 16), dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def test_new_with_a_256_token_model_and_no_flag_picks_256(tmp_path, capsys):
    # The issue: "source_max_len 512 exceeds the model's context length 256" at `new` with no flag set.
    folder = _tiny_model(tmp_path / "tiny", 256)
    out = tmp_path / "out"
    assert main(["new", "p", "--model", str(folder), "--dir", str(out), "--target", "local",
                 "--non-interactive"]) == 0, capsys.readouterr().err
    cfg = json.loads((out / "p" / "finetuning" / "train_config.json").read_text(encoding="utf-8"))
    assert cfg["training"]["source_max_len"] == 256
    answers = json.loads((out / "p" / ".ftstudio-answers.json").read_text(encoding="utf-8"))
    assert answers["parameters"]["source_max_len"] == 256 and "source_max_len" not in answers["overrides"]
    # the folder's shape reached the estimate (not a guess from the size)
    model = catalog.resolve(str(folder))
    assert model["config"]["hidden_size"] == 16 and model["gpu"]["lora"]["estimate"]["shape"] == "config"


def test_new_with_a_256_token_model_still_refuses_an_explicit_512(tmp_path, capsys):
    folder = _tiny_model(tmp_path / "tiny", 256)
    assert main(["new", "p", "--model", str(folder), "--dir", str(tmp_path / "out"), "--target", "local",
                 "--non-interactive", "--set", "source_max_len=512"]) == 2
    err = capsys.readouterr().err
    assert "source_max_len" in err and "256" in err and "Traceback" not in err
