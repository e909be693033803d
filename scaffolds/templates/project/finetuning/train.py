"""Fine-tune the base model with LoRA or QLoRA (TRL SFTTrainer + PEFT), from the config file alone.

    RUN_ID=my-run python3 finetuning/train.py --config finetuning/train_config.json

- Reads ONLY ``finetuning/train_config.json`` (paths relative to the project root, the folder
  holding ``finetuning/``) and the ``RUN_ID`` env var (default: a UTC timestamp).
- Validates the dataset before loading anything heavy: every row must have the fields of
  ``dataset.text_template``; a bad row is named by its line number (exit 2).
- ``text_template``: the LAST ``{field}`` and everything after it is the answer (completion),
  everything before it the prompt; training uses TRL's prompt/completion format, so the loss is
  on the answer only. ``inference/app.py`` builds its prompts from the same prompt part.
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
import string
import sys
import threading
import time
import warnings
from pathlib import Path

EXIT_FAILED, EXIT_INPUT, EXIT_STOPPED = 1, 2, 143
RECIPES = ("lora", "qlora", "olive")  # olive: train.py trains the same LoRA; invoke_olive.py exports it
DTYPES = ("bfloat16", "float16", "float32")
STOP = threading.Event()


class TrainError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def say(message: str) -> None:
    print(message, flush=True)


# -- config ----------------------------------------------------------------------------------
def project_root(config_path: Path) -> Path:
    config_path = config_path.resolve()
    return config_path.parent.parent if config_path.parent.name == "finetuning" else config_path.parent


def resolve(root: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def load_config(config_path: Path) -> dict:
    if not config_path.is_file():
        raise TrainError(f"config file {config_path} not found (pass --config finetuning/train_config.json)",
                         EXIT_INPUT)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrainError(f"{config_path} is not valid JSON (line {exc.lineno}: {exc.msg})", EXIT_INPUT) from None
    if not isinstance(config, dict):
        raise TrainError(f"{config_path} must hold a JSON object", EXIT_INPUT)

    def need(section: str, key: str, kind, check=None, hint: str = ""):
        value = config.get(section, {}).get(key) if isinstance(config.get(section), dict) else None
        if value is None or isinstance(value, bool) and kind is not bool or not isinstance(value, kind) \
                or (check is not None and not check(value)):
            raise TrainError(f"{config_path}: {section}.{key} is {value!r}; {hint or 'fix it'}", EXIT_INPUT)
        return value

    recipe = config.get("recipe")
    if recipe not in RECIPES:
        raise TrainError(f"{config_path}: recipe must be one of {', '.join(RECIPES)}, not {recipe!r}", EXIT_INPUT)
    need("model", "local_dir", str, bool, "set the folder of the base model")
    need("dataset", "train_file", str, bool, "set the JSONL file to train on")
    need("dataset", "text_template", str, bool, "set a template like '<|user|>\\n{phrase}<|end|>\\n<|assistant|>\\n{tone}<|end|>'")
    positive = lambda v: v > 0  # noqa: E731
    need("lora", "r", int, positive, "use a positive integer such as 8")
    need("lora", "alpha", (int, float), positive, "use a positive number such as 16")
    need("lora", "dropout", (int, float), lambda v: 0 <= v < 1, "use a value in [0, 1), e.g. 0.05")
    targets = config["lora"].get("target_modules", "all-linear")
    if not (isinstance(targets, str) and targets or isinstance(targets, list) and targets
            and all(isinstance(t, str) and t for t in targets)):
        raise TrainError(f"{config_path}: lora.target_modules must be 'all-linear' or a list of module names",
                         EXIT_INPUT)
    need("training", "learning_rate", (int, float), positive, "use a positive number such as 2e-4")
    need("training", "per_device_train_batch_size", int, positive, "use a positive integer")
    need("training", "source_max_len", int, positive, "use a positive integer such as 512")
    training = config["training"]
    for key, default in (("num_train_epochs", 1), ("max_steps", -1), ("gradient_accumulation_steps", 1),
                         ("logging_steps", 10), ("save_steps", 100), ("save_total_limit", 2), ("seed", 42),
                         ("warmup_steps", 0), ("compute_dtype", "bfloat16")):
        training.setdefault(key, default)
    if training["max_steps"] in (None, 0):
        training["max_steps"] = -1
    for key in ("gradient_accumulation_steps", "logging_steps", "save_steps"):
        need("training", key, int, positive, "use a positive integer")
    if training["max_steps"] < 0:
        need("training", "num_train_epochs", (int, float), positive, "use a positive number, or set max_steps")
    if training["compute_dtype"] not in DTYPES:
        raise TrainError(f"{config_path}: training.compute_dtype must be one of {', '.join(DTYPES)}", EXIT_INPUT)
    if recipe == "qlora":
        quant = config.setdefault("quantization", {})
        quant.setdefault("quant_type", "nf4")
        quant.setdefault("double_quant", True)
        quant.setdefault("compute_dtype", training["compute_dtype"])
        if quant["quant_type"] not in ("nf4", "fp4"):
            raise TrainError(f"{config_path}: quantization.quant_type must be nf4 or fp4", EXIT_INPUT)
        if quant["compute_dtype"] not in DTYPES:
            raise TrainError(f"{config_path}: quantization.compute_dtype must be one of {', '.join(DTYPES)}",
                             EXIT_INPUT)
    fraction = config["dataset"].get("eval_fraction") or 0.0
    if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise TrainError(f"{config_path}: dataset.eval_fraction must be in [0, 1), e.g. 0.1", EXIT_INPUT)
    config["dataset"]["eval_fraction"] = float(fraction)
    config.setdefault("output_root", "outputs")
    return config


# -- template and dataset ---------------------------------------------------------------------
def parse_template(template: str) -> list[tuple[str, str | None]]:
    """``[(literal, field), ...]``; raises ValueError for bad syntax or non-plain fields."""
    segments = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if field is not None and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\- ]*", field) or spec or conversion):
            raise ValueError(f"unsupported field {{{field}}}: use plain {{column}} names")
        segments.append((literal, field))
    if not any(field for _, field in segments):
        raise ValueError("it has no {column} field")
    return segments


def template_fields(segments) -> list[str]:
    return [field for _, field in segments if field is not None]


def split_row(segments, row: dict) -> tuple[str, str]:
    """(prompt, completion) of one row: the last field and everything after it is the completion."""
    last = max(i for i, (_, field) in enumerate(segments) if field is not None)
    prompt = "".join(lit + (str(row[f]) if f else "") for lit, f in segments[:last]) + segments[last][0]
    completion = str(row[segments[last][1]]) + "".join(lit for lit, _ in segments[last + 1:])
    return prompt, completion


def read_rows(path: Path, display: str) -> list[tuple[int, object]]:
    """``[(line number, parsed row)]`` of a JSONL file (or a JSON array file)."""
    if not path.is_file():
        raise TrainError(f"dataset file {display} not found; fix dataset.train_file", EXIT_INPUT)
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            return [(i + 1, row) for i, row in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise TrainError(f"{display} line {exc.lineno}: not valid JSON ({exc.msg})", EXIT_INPUT) from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise TrainError(f"{display} line {number}: not valid JSON ({exc.msg})", EXIT_INPUT) from None
    return rows


def load_pairs(config: dict, root: Path) -> list[dict]:
    """Validate every row against the template and build prompt/completion pairs."""
    dataset = config["dataset"]
    display = dataset["train_file"]
    try:
        segments = parse_template(dataset["text_template"])
    except ValueError as exc:
        raise TrainError(f"dataset.text_template: {exc}", EXIT_INPUT) from None
    fields = template_fields(segments)
    answer = fields[-1]
    rows = read_rows(resolve(root, display), display)
    if not rows:
        raise TrainError(f"{display} has no rows; add JSONL rows with fields {', '.join(fields)}", EXIT_INPUT)
    pairs, bad = [], []
    for number, row in rows:
        problem = row_problem(row, fields, answer)
        if problem:
            bad.append((number, problem))
            continue
        prompt, completion = split_row(segments, row)
        pairs.append({"prompt": prompt, "completion": completion})
    if bad:
        number, problem = bad[0]
        more = f" ({len(bad)} bad rows in all)" if len(bad) > 1 else ""
        raise TrainError(f"{display} line {number}: {problem}{more}; every row needs "
                         f"{', '.join(repr(f) for f in fields)} (dataset.text_template)", EXIT_INPUT)
    return pairs


def row_problem(row, fields: list[str], answer: str) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    for field in fields:
        if field not in row or row[field] is None:
            return f"missing field {field!r}"
        if not isinstance(row[field], (str, int, float)) or isinstance(row[field], bool):
            return f"field {field!r} is not text"
    if not str(row[answer]).strip():
        return f"field {answer!r} (the answer) is empty"
    return None


# -- run folder ------------------------------------------------------------------------------
def default_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


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


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def already_succeeded(run_dir: Path) -> bool:
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
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
def train(config: dict, config_path: Path, root: Path, run_id: str, pairs: list[dict]) -> int:
    model_cfg, training = config["model"], config["training"]
    recipe = config["recipe"]
    model_dir = resolve(root, model_cfg["local_dir"])
    if not (model_dir / "config.json").is_file():
        raise TrainError(f"base model not found in {model_cfg['local_dir']}; run "
                         f"`python3 finetuning/fetch_model.py --config finetuning/train_config.json` first",
                         EXIT_INPUT)
    run_dir = resolve(root, config["output_root"]) / run_id
    if already_succeeded(run_dir):
        say(f"run {run_id} already succeeded ({run_dir}); nothing to do. Use a new RUN_ID to train again.")
        return 0
    checkpoints = run_dir / "checkpoints"
    run_dir.mkdir(parents=True, exist_ok=True)

    import torch  # heavy imports only after the inputs are known to be good
    import transformers
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    # Log streams want one line per event: no \r progress bars from datasets/transformers.
    import datasets

    datasets.disable_progress_bars()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    transformers.set_seed(training["seed"])  # LoRA init happens before Trainer seeds anything
    cuda = torch.cuda.is_available()
    dtype_name = training["compute_dtype"] if cuda else "float32"
    if cuda and dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
        dtype_name = "float16"  # e.g. T4
    dtype = getattr(torch, dtype_name)
    device = torch.cuda.get_device_name(0) if cuda else "cpu"

    trust = bool(model_cfg.get("trust_remote_code"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust)
    load_kwargs: dict = {"dtype": dtype, "trust_remote_code": trust}
    if recipe == "qlora":
        from transformers import BitsAndBytesConfig

        quant = config["quantization"]
        quant_dtype = getattr(torch, quant["compute_dtype"] if cuda else "float32")
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant["quant_type"],
            bnb_4bit_use_double_quant=bool(quant["double_quant"]), bnb_4bit_compute_dtype=quant_dtype)
        if cuda:
            load_kwargs["device_map"] = {"": 0}
    say(f"train.py: run {run_id}, recipe {recipe}, model {model_cfg.get('id') or model_cfg['local_dir']}, "
        f"{len(pairs)} examples, device {device} ({dtype_name})")
    model = AutoModelForCausalLM.from_pretrained(model_dir, **load_kwargs)
    model.config.use_cache = False
    if recipe == "qlora":
        n4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
        say(f"qlora: {n4} linear layers quantized to 4-bit {config['quantization']['quant_type']}")
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cuda)

    lora = config["lora"]
    peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules=lora.get("target_modules", "all-linear"), bias="none",
                             task_type="CAUSAL_LM")

    dataset = Dataset.from_list(pairs)
    eval_dataset = None
    fraction = config["dataset"]["eval_fraction"]
    if fraction > 0 and len(pairs) >= 10:
        split = dataset.train_test_split(test_size=fraction, seed=training["seed"])
        dataset, eval_dataset = split["train"], split["test"]

    args = SFTConfig(
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
        eval_strategy="steps" if eval_dataset is not None else "no",
        eval_steps=training["save_steps"] if eval_dataset is not None else None,
        seed=training["seed"],
        warmup_steps=training["warmup_steps"],
        bf16=cuda and dtype_name == "bfloat16",
        fp16=cuda and dtype_name == "float16",
        use_cpu=not cuda,
        # Saves GPU memory on real models; pointless (and slower) for CPU runs.
        activation_checkpointing=cuda,
        activation_checkpointing_kwargs={"use_reentrant": False} if cuda else None,
        optim="paged_adamw_8bit" if recipe == "qlora" and cuda else "adamw_torch",
        completion_only_loss=True,
        packing=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
    )

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

    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[ProgressLines(), StopOnSignal()])
    trainer.remove_callback(PrinterCallback)  # its raw dict lines would duplicate ours

    resume = last_checkpoint(checkpoints)
    if resume is not None:
        say(f"resuming run {run_id} from {resume.name}")
    if STOP.is_set():
        say("stopped before training started")
        return EXIT_STOPPED
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    runtime = round(time.monotonic() - started, 3)

    losses = [[entry["step"], round(float(entry["loss"]), 6)] for entry in trainer.state.log_history
              if "loss" in entry and "step" in entry]
    metrics = {
        "run_id": run_id,
        "status": "stopped" if STOP.is_set() else "succeeded",
        "steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "train_runtime_s": runtime,
        "first_loss": losses[0][1] if losses else None,
        "final_loss": losses[-1][1] if losses else None,
        "losses": losses,
        "eval_losses": [[e["step"], round(float(e["eval_loss"]), 6)] for e in trainer.state.log_history
                        if "eval_loss" in e],
        "recipe": recipe,
        "model": model_cfg.get("id") or model_cfg["local_dir"],
        "device": device,
        "dtype": dtype_name,
        "resumed_from": resume.name if resume else None,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if STOP.is_set():
        write_json(run_dir / "metrics.json", metrics)
        say(f"stopped at step {trainer.state.global_step}; checkpoint saved in {checkpoints}. "
            f"Re-run with RUN_ID={run_id} to resume.")
        return EXIT_STOPPED

    trainer.save_model(str(run_dir))  # adapter + tokenizer only (PEFT model)
    fix_adapter_base(run_dir, model_cfg)
    shutil.copyfile(config_path, run_dir / "train_config.json")  # what this adapter was trained with
    write_json(run_dir / "metrics.json", metrics)  # last: its "succeeded" marks a usable adapter
    say(f"done: {trainer.state.global_step} steps in {output.metrics.get('train_runtime', runtime):.1f}s, "
        f"loss {metrics['first_loss']} -> {metrics['final_loss']}; adapter in {run_dir}")
    return 0


def fix_adapter_base(run_dir: Path, model_cfg: dict) -> None:
    """Record a portable base model: the hub repo, or the project-relative local_dir (not an absolute path)."""
    path = run_dir / "adapter_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    base = model_cfg.get("repo") if model_cfg.get("source") == "hub" and model_cfg.get("repo") \
        else model_cfg["local_dir"]
    data["base_model_name_or_path"] = base
    write_json(path, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LoRA/QLoRA fine-tuning from finetuning/train_config.json.")
    parser.add_argument("--config", default="finetuning/train_config.json", help="the project's train_config.json")
    args = parser.parse_args(argv)
    config_path = Path(args.config)
    run_id = os.environ.get("RUN_ID") or default_run_id()
    try:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
            raise TrainError(f"RUN_ID {run_id!r} must be letters, digits, '.', '_' or '-'", EXIT_INPUT)
        install_stop_handlers()
        config = load_config(config_path)
        root = project_root(config_path)
        pairs = load_pairs(config, root)
        return train(config, config_path, root, run_id, pairs)
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
