"""Fine-tune the base model with LoRA or QLoRA (TRL SFTTrainer + PEFT), from the config file alone.

    RUN_ID=my-run python3 finetuning/train.py --config finetuning/train_config.json

- Reads ONLY ``finetuning/train_config.json`` (paths relative to the project root, the folder
  holding ``finetuning/``) and the ``RUN_ID`` env var (default: a UTC timestamp).
- Reads the dataset (``dataset.train_file``: JSONL, JSON, CSV, Parquet, a ``save_to_disk`` folder
  or ``hf:ORG/NAME[:SPLIT]``) in its format (``dataset.format``, detected when unset: messages,
  sharegpt, prompt_completion, alpaca or text_template; ``dataset.column_map`` for other column
  names) and checks every row before loading anything heavy; a bad row is named by its line with
  the fix (exit 2). The rules are the ``training_data`` package, which ftstudio and the inference
  app use too.
- Conversations are rendered with the model's own chat template (a declared ChatML default when
  the tokenizer has none), the loss on the assistant turns and their end-of-turn token only;
  plain prompt/completion and text_template rows on the completion only.
- Evaluates on ``dataset.eval_file``, or else holds out ``dataset.eval_fraction`` of the rows
  (default 5%, at most ``dataset.eval_max_rows`` = 200, none under 20 rows), and logs the eval loss.
- ``training.packing``: ``auto`` (default: on with a GPU and FlashAttention's variable-length
  kernels (flash-attn installed), where padding-free packing is reported 1.4-2x faster; off
  otherwise: with sdpa a packed step attends over all its tokens at once, measured slower on the
  CPU, benchmarks/packing.py), ``on`` or ``off``.
- Writes ``outputs/<RUN_ID>/``: the adapter (``adapter_model.safetensors``,
  ``adapter_config.json``), the tokenizer, ``metrics.json`` and a copy of the config;
  checkpoints go to ``outputs/<RUN_ID>/checkpoints/``. Re-running with the same RUN_ID resumes
  from the last complete checkpoint; a run that already succeeded is left as it is.
- SIGTERM/SIGINT (a stop): saves a checkpoint at the end of the current step and exits 143.
- GPU when present (bf16, or fp16 where bf16 is unsupported), CPU otherwise (fp32).
- Prints one line per logging step (``step N/M loss L lr R``), flushed, for log streams.

Exit codes: 0 done, 1 failed, 2 bad config/dataset/missing model, 143 stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # project_helpers.py, however this file is started
from project_helpers import (  # noqa: E402
    adapter_base_model, check_run_id, default_run_id, project_root, read_json, resolve, write_json)
from training_data import render  # noqa: E402
from tracking import Tracker, callback as tracking_callback, extra_reporters  # noqa: E402
import evaluation  # noqa: E402
from train_inputs import (  # noqa: E402
    EXIT_FAILED, EXIT_INPUT, Examples, TrainError, load_config, load_examples)

EXIT_STOPPED = 143
STOP = threading.Event()


def say(message: str) -> None:
    print(message, flush=True)


# -- run folder ------------------------------------------------------------------------------
def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint that was completely written (trainer_state.json is saved last)."""
    if not checkpoints.is_dir():
        return None
    found = []
    for path in checkpoints.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / "trainer_state.json").is_file() and (path / "adapter_config.json").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def already_succeeded(run_dir: Path) -> bool:
    metrics = read_json(run_dir / "metrics.json") or {}
    return metrics.get("status") == "succeeded" and (run_dir / "adapter_config.json").is_file()


# -- signals ---------------------------------------------------------------------------------
def install_stop_handlers() -> None:
    def on_signal(signum, _frame):
        if STOP.is_set():  # second signal: give up on the checkpoint
            raise SystemExit(EXIT_STOPPED)
        STOP.set()
        print(f"stop requested ({signal.Signals(signum).name}): saving a checkpoint after this step",
              flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


# -- training --------------------------------------------------------------------------------
def train(config: dict, config_path: Path, root: Path, run_id: str, examples: Examples) -> int:
    """Train one run: the steps below, in order. Returns the exit code."""
    model_cfg, recipe = config["model"], config["recipe"]
    model_dir = base_model_dir(model_cfg, root)
    run_dir = resolve(root, config["output_root"]) / run_id
    if already_succeeded(run_dir):
        say(f"run {run_id} already succeeded ({run_dir}); nothing to do. Use a new RUN_ID to train again.")
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)

    quiet_libraries(config["training"]["seed"])  # heavy imports only after the inputs are known to be good
    cuda, dtype_name, device = pick_device(config["training"])
    tokenizer, model = load_model(config, model_dir, cuda, dtype_name,
                                  announce=f"train.py: run {run_id}, recipe {recipe}, model "
                                           f"{model_cfg.get('id') or model_cfg['local_dir']}, {examples.described}, "
                                           f"device {device} ({dtype_name})")
    if examples.chat and render.ensure_template(tokenizer):
        say(f"the tokenizer has no chat template: conversations use the default {render.DEFAULT_TEMPLATE_NAME}, "
            "saved with the adapter's tokenizer")
    tracker = Tracker(run_dir, run_id, root, say)
    tracker.log_params(config)
    try:
        return fit(config, config_path, run_dir, run_id, examples, model, tokenizer, tracker,
                   (cuda, dtype_name, device))
    except BaseException:
        tracker.fail()
        raise


def fit(config: dict, config_path: Path, run_dir: Path, run_id: str, examples: Examples, model, tokenizer,
        tracker: Tracker, hardware: tuple) -> int:
    """Train (resuming from the last checkpoint), evaluate, save; the tracker follows every step."""
    (cuda, dtype_name, device), model_cfg, recipe = hardware, config["model"], config["recipe"]
    checkpoints = run_dir / "checkpoints"
    trainer = make_trainer(config, model, tokenizer, examples, checkpoints, cuda, dtype_name)
    if tracker.on:
        trainer.add_callback(tracking_callback(tracker))

    resume = last_checkpoint(checkpoints)
    if resume is not None:
        say(f"resuming run {run_id} from {resume.name}")
    if STOP.is_set():
        say("stopped before training started")
        tracker.finish({"status": "stopped"}, None)
        return EXIT_STOPPED
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    runtime = round(time.monotonic() - started, 3)
    step = trainer.state.global_step
    if trainer.eval_dataset is not None and not STOP.is_set() and not any(
            "eval_loss" in entry and entry.get("step") == step for entry in trainer.state.log_history):
        trainer.evaluate()  # the eval loss of the final adapter, logged like the others
    metrics = run_metrics(trainer.state, run_id, runtime, recipe, model_cfg, device, dtype_name, resume)
    metrics["dataset_format"] = examples.format  # what serving renders prompts like:
    metrics["prompt_style"] = "chat" if examples.chat else "plain"  # through the chat template, or as text
    metrics["system_prompt"] = examples.usual_system_prompt()  # the chat UI's default one
    metrics["tracking"] = tracker.describe()
    if examples.held_out and not STOP.is_set():
        metrics["evaluation"] = evaluation.run(trainer.model, tokenizer, examples.held_out, tracker, step, say)
    if STOP.is_set():
        write_json(run_dir / "metrics.json", metrics)
        tracker.finish(metrics, None)
        say(f"stopped at step {trainer.state.global_step}; checkpoint saved in {checkpoints}. "
            f"Re-run with RUN_ID={run_id} to resume.")
        return EXIT_STOPPED
    save_run(trainer, run_dir, config_path, model_cfg, metrics)
    tracker.finish(metrics, run_dir)
    say(f"done: {trainer.state.global_step} steps in {output.metrics.get('train_runtime', runtime):.1f}s, "
        f"loss {metrics['first_loss']} -> {metrics['final_loss']}; adapter in {run_dir}")
    return 0


def base_model_dir(model_cfg: dict, root: Path) -> Path:
    model_dir = resolve(root, model_cfg["local_dir"])
    if not (model_dir / "config.json").is_file():
        raise TrainError(f"base model not found in {model_cfg['local_dir']}; run "
                         f"`python3 finetuning/fetch_model.py --config finetuning/train_config.json` first",
                         EXIT_INPUT)
    return model_dir


def quiet_libraries(seed: int) -> None:
    """Log streams want one line per event: no \\r progress bars from datasets/transformers."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    transformers.set_seed(seed)  # LoRA init happens before Trainer seeds anything


def pick_device(training: dict) -> tuple[bool, str, str]:
    """(cuda, compute dtype name, device name): the GPU with compute_dtype (fp16 where bf16 is
    unsupported, e.g. T4), else the CPU in fp32."""
    import torch

    cuda = torch.cuda.is_available()
    dtype_name = training["compute_dtype"] if cuda else "float32"
    if cuda and dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
        dtype_name = "float16"
    return cuda, dtype_name, torch.cuda.get_device_name(0) if cuda else "cpu"


def has_flash_attention(cuda: bool) -> bool:
    import importlib.util

    return cuda and importlib.util.find_spec("flash_attn") is not None


def packing_on(setting, cuda: bool) -> bool:
    """Whether to pack, said in the log: ``auto`` packs only where variable-length kernels make it pay."""
    on = has_flash_attention(cuda) if setting == "auto" else setting in (True, "on")
    why = " (auto: on with a GPU and flash-attn only)" if setting == "auto" else ""
    say(f"packing: {'on (padding-free)' if on else 'off'}{why}")
    return on


def load_model(config: dict, model_dir: Path, cuda: bool, dtype_name: str, announce: str):
    """(tokenizer, model): the base model (FlashAttention's kernels when installed on a GPU), 4-bit and
    prepared for k-bit training with qlora."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trust = bool(config["model"].get("trust_remote_code"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust)
    load_kwargs: dict = {"dtype": getattr(torch, dtype_name), "trust_remote_code": trust}
    if has_flash_attention(cuda) and dtype_name != "float32":
        load_kwargs["attn_implementation"] = "flash_attention_2"  # variable-length: packed rows stay apart cheaply
    if config["recipe"] == "qlora":
        load_kwargs.update(quantized_load_kwargs(config["quantization"], cuda))
    say(announce)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **load_kwargs)
    model.config.use_cache = False
    if config["recipe"] == "qlora":
        n4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
        say(f"qlora: {n4} linear layers quantized to 4-bit {config['quantization']['quant_type']}")
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cuda)
    return tokenizer, model


def quantized_load_kwargs(quant: dict, cuda: bool) -> dict:
    import torch
    from transformers import BitsAndBytesConfig

    kwargs: dict = {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=quant["quant_type"],
        bnb_4bit_use_double_quant=bool(quant["double_quant"]),
        bnb_4bit_compute_dtype=getattr(torch, quant["compute_dtype"] if cuda else "float32"))}
    if cuda:
        kwargs["device_map"] = {"": 0}
    return kwargs


def make_trainer(config: dict, model, tokenizer, examples: Examples, checkpoints: Path, cuda: bool,
                 dtype_name: str):
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import SFTTrainer

    lora = config["lora"]
    peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules=lora.get("target_modules", "all-linear"), bias="none",
                             task_type="CAUSAL_LM")
    max_length = config["training"]["source_max_len"]
    dataset = tokenized(tokenizer, examples.train, max_length, "training")
    eval_dataset = tokenized(tokenizer, examples.held_out, max_length, "eval") if examples.held_out else None
    packing = packing_on(config["training"]["packing"], cuda)
    args = sft_config(config["training"], config["recipe"], checkpoints, cuda, dtype_name,
                      evaluate=eval_dataset is not None, packing=packing)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=progress_and_stop_callbacks())
    trainer.remove_callback(PrinterCallback)  # its raw dict lines would duplicate ours
    return trainer


def tokenized(tokenizer, examples: list, max_length: int, what: str):
    """The examples as token ids and labels (the loss on the trained part only): training_data.render,
    the code the inference app renders its prompts with. Rows whose trained part lies wholly past
    ``max_length`` teach nothing once truncated (the trainer drops them): said, and refused when all are."""
    from datasets import Dataset

    rows, starved = [], []
    for example in examples:
        try:
            input_ids, labels = render.tokenize(tokenizer, example)
        except render.TemplateRefused as exc:
            raise TrainError(f"line {example.number}: the model's chat template refused the row ({exc}); "
                             "change that row or drop it", EXIT_INPUT) from None
        if all(label == render.IGNORE for label in labels[:max_length]):
            starved.append(example.number)
        rows.append({"input_ids": input_ids, "labels": labels})
    if starved:
        longest = max(len(row["input_ids"]) for row in rows)
        if len(starved) == len(rows):
            raise TrainError(f"every {what} row loses its trained part at training.source_max_len={max_length} tokens "
                             f"(the longest row has {longest}); raise training.source_max_len", EXIT_INPUT)
        say(f"warning: {len(starved)} of {len(rows)} {what} rows lose their trained part at "
            f"source_max_len={max_length} and are skipped (first: line {starved[0]})")
    return Dataset.from_list(rows)


def sft_config(training: dict, recipe: str, checkpoints: Path, cuda: bool, dtype_name: str, evaluate: bool,
               packing: bool = False):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(checkpoints),
        learning_rate=float(training["learning_rate"]),
        num_train_epochs=float(training["num_train_epochs"]),
        max_steps=int(training["max_steps"]),
        per_device_train_batch_size=training["per_device_train_batch_size"],
        per_device_eval_batch_size=training["per_device_train_batch_size"],
        gradient_accumulation_steps=training["gradient_accumulation_steps"],
        max_length=training["source_max_len"],
        logging_strategy="steps",
        logging_steps=training["logging_steps"],
        logging_first_step=True,
        save_strategy="steps",
        save_steps=training["save_steps"],
        save_total_limit=training["save_total_limit"],
        eval_strategy="steps" if evaluate else "no",
        eval_steps=training["save_steps"] if evaluate else None,
        seed=training["seed"],
        warmup_steps=training["warmup_steps"],
        bf16=cuda and dtype_name == "bfloat16",
        fp16=cuda and dtype_name == "float16",
        use_cpu=not cuda,
        # Saves GPU memory on real models; pointless (and slower) for CPU runs.
        activation_checkpointing=cuda,
        activation_checkpointing_kwargs={"use_reentrant": False} if cuda else None,
        optim="paged_adamw_8bit" if recipe == "qlora" and cuda else "adamw_torch",
        packing=packing,  # BFD: padding-free, each example's own positions (no attention across examples)
        report_to=extra_reporters(say),
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",  # tokens/s in the tracker
        dataloader_pin_memory=cuda,
    )


def progress_and_stop_callbacks() -> list:
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        """One flushed line per logging step, so log streams show progress."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                say(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
                    f"lr {logs.get('learning_rate', 0.0):.3e} epoch {logs.get('epoch', 0.0):.2f}")
            if "eval_loss" in logs:
                say(f"step {state.global_step}/{state.max_steps} eval_loss {logs['eval_loss']:.4f}")

    class StopOnSignal(TrainerCallback):
        """A SIGTERM/SIGINT ends training after the current step, with a checkpoint to resume from."""

        def on_step_end(self, args, state, control, **kwargs):
            if STOP.is_set():
                control.should_save = True
                control.should_training_stop = True
            return control

    return [ProgressLines(), StopOnSignal()]


def run_metrics(state, run_id: str, runtime: float, recipe: str, model_cfg: dict, device: str, dtype_name: str,
                resume: Path | None) -> dict:
    """metrics.json of a finished or stopped run, from the trainer's state."""
    losses = [[entry["step"], round(float(entry["loss"]), 6)] for entry in state.log_history
              if "loss" in entry and "step" in entry]
    return {
        "run_id": run_id,
        "status": "stopped" if STOP.is_set() else "succeeded",
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "train_runtime_s": runtime,
        "first_loss": losses[0][1] if losses else None,
        "final_loss": losses[-1][1] if losses else None,
        "losses": losses,
        "eval_losses": [[e["step"], round(float(e["eval_loss"]), 6)] for e in state.log_history
                        if "eval_loss" in e],
        "tokens_seen": int(getattr(state, "num_input_tokens_seen", 0) or 0),  # non-padding input tokens
        "tokens_per_second": round((getattr(state, "num_input_tokens_seen", 0) or 0) / runtime, 1) if runtime else None,
        "recipe": recipe,
        "model": model_cfg.get("id") or model_cfg["local_dir"],
        "device": device,
        "dtype": dtype_name,
        "resumed_from": resume.name if resume else None,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def save_run(trainer, run_dir: Path, config_path: Path, model_cfg: dict, metrics: dict) -> None:
    trainer.save_model(str(run_dir))  # adapter + tokenizer only (PEFT model)
    fix_adapter_base(run_dir, model_cfg)
    shutil.copyfile(config_path, run_dir / "train_config.json")  # what this adapter was trained with
    write_json(run_dir / "metrics.json", metrics)  # last: its "succeeded" marks a usable adapter


def fix_adapter_base(run_dir: Path, model_cfg: dict) -> None:
    """Record a portable base model: the hub repo, or the project-relative local_dir (not an absolute path)."""
    path = run_dir / "adapter_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = adapter_base_model(model_cfg)
    write_json(path, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LoRA/QLoRA fine-tuning from finetuning/train_config.json.")
    parser.add_argument("--config", default="finetuning/train_config.json", help="the project's train_config.json")
    args = parser.parse_args(argv)
    config_path = Path(args.config)
    run_id = os.environ.get("RUN_ID") or default_run_id()
    try:
        try:
            check_run_id(run_id)
        except ValueError as exc:
            raise TrainError(str(exc), EXIT_INPUT) from None
        install_stop_handlers()
        config = load_config(config_path)
        root = project_root(config_path)
        examples = load_examples(config, root)
        return train(config, config_path, root, run_id, examples)
    except TrainError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - one line for the log, the traceback above it
        import traceback

        traceback.print_exc()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "OutOfMemoryError":
            reason = ("out of GPU memory; lower training.per_device_train_batch_size or training.source_max_len, "
                      "or use the qlora recipe")
        print(f"train.py: error: {type(exc).__name__}: {reason}", file=sys.stderr, flush=True)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
