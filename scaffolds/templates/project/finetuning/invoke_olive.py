"""Olive recipe: LoRA fine-tuning -> merge the adapter -> ONNX int4 (ModelBuilder), for onnxruntime-genai.

    RUN_ID=my-run python3 finetuning/invoke_olive.py [--config finetuning/train_config.json]
                                                     [--olive-config finetuning/olive-config.json]

AI Toolkit's ``invoke_olive.py`` ran ``olive-config.json`` as it was, with model and output paths
that could disagree with the download folder. Here the workflow's structure comes from
``finetuning/olive-config.json`` (edit passes there), while everything that must agree with the
rest of the project comes from ``train_config.json``: the model folder (``model.local_dir``), the
dataset and its ``text_template``, the LoRA and training hyperparameters, and a per-run output
folder ``outputs/<RUN_ID>/olive/``. The effective workflow is saved next to the output.

``olive run`` reports success even when a pass failed, so this script checks that the ONNX
model, its data and ``genai_config.json`` really exist, then writes ``outputs/<RUN_ID>/metrics.json``.
Exit codes: 0 done, 1 failed, 2 bad config or dataset.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # project_helpers.py, however this file is started
from project_helpers import (  # noqa: E402
    adapter_base_model, check_run_id, default_run_id, fill_training_defaults, project_root,
    read_json_object, resolve, write_json)
from training_data import DataError, read_examples  # noqa: E402

EXIT_FAILED, EXIT_INPUT = 1, 2
DEFAULT_OLIVE_CONFIG = {
    "input_model": {"type": "HfModel", "model_path": "<model.local_dir>"},
    "systems": {"local_system": {"type": "LocalSystem",
                                 "accelerators": [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]}},
    "data_configs": [{"name": "train_data", "type": "HuggingfaceContainer",
                      "load_dataset_config": {"data_name": "json", "data_files": "<dataset.train_file>",
                                              "split": "train"},
                      "pre_process_data_config": {"text_template": "<dataset.text_template>", "max_seq_len": 512,
                                                  "strategy": "line-by-line", "pad_to_max_len": False}}],
    "passes": {
        "lora": {"type": "LoRA", "train_data_config": "train_data", "training_args": {}},
        "merge": {"type": "MergeAdapterWeights"},
        "builder": {"type": "ModelBuilder", "precision": "int4"},
    },
    "host": "local_system",
    "target": "local_system",
    "log_severity_level": 1,
    "output_dir": "<outputs/RUN_ID/olive>",
    "cache_dir": "<outputs/RUN_ID/olive-cache>",
}


class OliveError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def read_json(path: Path, what: str) -> dict:
    try:
        return read_json_object(path, what)
    except ValueError as exc:
        raise OliveError(str(exc), EXIT_INPUT) from None


def check_dataset(path: Path, display: str, template: str) -> int:
    """Every row checked by training's own rule (Olive itself would fail deep inside a pass); the row count.
    Olive reads rows through the text_template only."""
    if not isinstance(template, str) or not template:
        raise OliveError("the olive recipe trains on text_template rows: set dataset.text_template", EXIT_INPUT)
    try:
        _, examples, problems, source = read_examples(str(path), dataset_format="text_template", text_template=template)
    except DataError as exc:
        raise OliveError(f"{display}: {exc.one_line(project=True)}", EXIT_INPUT) from None
    if problems:
        more = f" ({len(problems)} bad rows in all)" if len(problems) > 1 else ""
        raise OliveError(f"{display} {source.unit} {problems[0].number}: {problems[0].problem}{more}; every row "
                         "needs the columns of dataset.text_template", EXIT_INPUT)
    return len(examples)


def build_workflow(train: dict, olive: dict, root: Path, run_dir: Path) -> dict:
    """The Olive workflow: olive-config.json's structure + train_config.json's paths and hyperparameters."""
    model, dataset, lora = train["model"], train["dataset"], train["lora"]
    training = fill_training_defaults(dict(train["training"]))  # the defaults train.py uses
    workflow = json.loads(json.dumps(olive))  # deep copy
    workflow.setdefault("input_model", {})["type"] = workflow["input_model"].get("type", "HfModel")
    workflow["input_model"]["model_path"] = str(resolve(root, model["local_dir"]))
    if model.get("trust_remote_code"):
        workflow["input_model"].setdefault("load_kwargs", {})["trust_remote_code"] = True
    data = next((d for d in workflow.get("data_configs", []) if d.get("type") == "HuggingfaceContainer"), None)
    if data is None:
        raise OliveError("olive-config.json has no HuggingfaceContainer data config", EXIT_INPUT)
    data.setdefault("load_dataset_config", {}).update(
        data_name="json", data_files=str(resolve(root, dataset["train_file"])), split="train")
    pre = data.setdefault("pre_process_data_config", {})
    pre["text_template"] = dataset["text_template"]
    pre["max_seq_len"] = int(training.get("source_max_len", 512))
    pre.setdefault("strategy", "line-by-line")  # "join" packs rows: wrong for label-style data
    lora_pass = next((p for p in workflow.get("passes", {}).values() if p.get("type") in ("LoRA", "QLoRA")), None)
    if lora_pass is None:
        raise OliveError("olive-config.json has no LoRA or QLoRA pass", EXIT_INPUT)
    lora_pass.update(r=lora["r"], alpha=lora["alpha"], lora_dropout=lora.get("dropout", 0.05),
                     train_data_config=data["name"], torch_dtype=train_dtype(training))
    targets = lora.get("target_modules")
    if isinstance(targets, list):
        lora_pass["target_modules"] = targets
    args = lora_pass.setdefault("training_args", {})
    args.update({
        "learning_rate": float(training["learning_rate"]),
        "num_train_epochs": float(training["num_train_epochs"]),
        "max_steps": int(training["max_steps"]),
        "per_device_train_batch_size": int(training["per_device_train_batch_size"]),
        "gradient_accumulation_steps": int(training["gradient_accumulation_steps"]),
        "logging_steps": int(training["logging_steps"]),
        "save_steps": int(training["save_steps"]),
        "seed": int(training["seed"]),
        "report_to": "none",
    })
    workflow["output_dir"] = str(run_dir / "olive")
    workflow["cache_dir"] = str(run_dir / "olive-cache")
    return workflow


def train_dtype(training: dict) -> str:
    """compute_dtype on a GPU (fp16 where bf16 is unsupported), fp32 on the CPU, as train.py does."""
    try:
        import torch
    except ImportError:
        return "float32"
    if not torch.cuda.is_available():
        return "float32"
    wanted = training["compute_dtype"]
    if wanted == "bfloat16" and not torch.cuda.is_bf16_supported():
        return "float16"
    return wanted


def find_onnx_output(out: Path) -> Path | None:
    for genai in sorted(out.rglob("genai_config.json")):
        folder = genai.parent
        if any(folder.glob("*.onnx")):
            return folder
    return None


def keep_adapter(run_dir: Path, onnx_dir: Path, model: dict) -> Path | None:
    """Copy the LoRA pass's PEFT adapter (and tokenizer) to outputs/<RUN_ID>/, where inference/app.py
    looks, before the Olive cache goes; its base is recorded as train.py records it."""
    found = sorted((run_dir / "olive-cache").rglob("adapter/adapter_config.json"))
    if not found:
        return None
    source = found[-1].parent
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        shutil.copyfile(source / name, run_dir / name)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (onnx_dir / name).is_file():
            shutil.copyfile(onnx_dir / name, run_dir / name)
    config = json.loads((run_dir / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = adapter_base_model(model)
    write_json(run_dir / "adapter_config.json", config)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LoRA -> merge -> ONNX int4 with Olive.")
    parser.add_argument("--config", default="finetuning/train_config.json")
    parser.add_argument("--olive-config", default=None, help="default: olive-config.json next to --config")
    parser.add_argument("--dry-run", action="store_true", help="write the effective workflow, do not run it")
    args = parser.parse_args(argv)
    run_id = os.environ.get("RUN_ID") or default_run_id()
    try:
        try:
            check_run_id(run_id)
        except ValueError as exc:
            raise OliveError(str(exc), EXIT_INPUT) from None
        config_path = Path(args.config)
        train = read_json(config_path, "config file")
        for section in ("model", "dataset", "lora", "training"):
            if not isinstance(train.get(section), dict):
                raise OliveError(f"{config_path}: missing the {section!r} section", EXIT_INPUT)
        root = project_root(config_path)
        olive_path = Path(args.olive_config) if args.olive_config else config_path.parent / "olive-config.json"
        olive = read_json(olive_path, "Olive workflow") if olive_path.is_file() else DEFAULT_OLIVE_CONFIG
        model_dir = resolve(root, train["model"]["local_dir"])
        if not (model_dir / "config.json").is_file():
            raise OliveError(f"base model not found in {train['model']['local_dir']}; run "
                             f"`python3 finetuning/fetch_model.py --config {config_path}` first", EXIT_INPUT)
        rows = check_dataset(resolve(root, train["dataset"]["train_file"]), train["dataset"]["train_file"],
                             train["dataset"]["text_template"])
        run_dir = resolve(root, train.get("output_root") or "outputs") / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        workflow = build_workflow(train, olive, root, run_dir)
        (run_dir / "olive-config.json").write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        print(f"invoke_olive: run {run_id}: {rows} rows, workflow {' -> '.join(workflow['passes'])}, "
              f"output {run_dir / 'olive'}", flush=True)
        if args.dry_run:
            return 0

        os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")  # offline telemetry costs ~10 s per run
        try:
            from olive.workflows import run as olive_run
        except ImportError as exc:
            raise OliveError(f"olive is not installed ({exc}); run `pip install -r setup/requirements.txt`") from None
        started = time.monotonic()
        olive_run(workflow)
        output = find_onnx_output(run_dir / "olive")
        if output is None:  # olive exits 0 when a pass failed; trust only the files
            raise OliveError(f"Olive produced no ONNX model under {run_dir / 'olive'}; see the log above")
        adapter = keep_adapter(run_dir, output, train["model"])
        shutil.rmtree(run_dir / "olive-cache", ignore_errors=True)  # holds full model copies: GBs
        shutil.copyfile(config_path, run_dir / "train_config.json")
        metrics = {"run_id": run_id, "status": "succeeded" if adapter else "failed", "recipe": "olive",
                   "model": train["model"].get("id") or train["model"]["local_dir"],
                   "train_runtime_s": round(time.monotonic() - started, 3),
                   "onnx_model": str(output.relative_to(root)) if output.is_relative_to(root) else str(output),
                   "steps": int(train["training"].get("max_steps", -1)), "losses": [], "first_loss": None,
                   "final_loss": None,
                   "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if adapter is None:
            raise OliveError(f"Olive's LoRA pass left no adapter under {run_dir / 'olive-cache'}")
        write_json(run_dir / "metrics.json", metrics)
        print(f"invoke_olive: done; ONNX int4 model in {output}, PEFT adapter in {run_dir}", flush=True)
        return 0
    except OliveError as exc:
        print(f"invoke_olive: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("invoke_olive: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
