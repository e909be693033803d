"""The inputs of a training run, checked before anything heavy loads: the config and the examples.

``load_config`` checks ``finetuning/train_config.json`` (each problem names the key and the fix) and
fills in the defaults a hand-written config may leave out; ``load_examples`` reads the dataset with
the ``training_data`` rules (every row checked, a bad one named by its line) and holds out the eval
rows. Used by train.py; exit code 2 for anything here.
"""
from __future__ import annotations

import random
from pathlib import Path

from project_helpers import (DATASET_DEFAULTS, DTYPES, EVAL_MIN_ROWS, QUANT_TYPES, fill_training_defaults,
                             read_json_object, resolve)
from training_data import DataError, first_problem, read_examples
from training_data.errors import project_words
from training_data.sources import hub_id

EXIT_FAILED, EXIT_INPUT = 1, 2
RECIPES = ("lora", "qlora", "olive")  # olive: train.py trains the same LoRA; invoke_olive.py exports it


class TrainError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


# -- config ----------------------------------------------------------------------------------
def load_config(config_path: Path) -> dict:
    try:
        config = read_json_object(config_path, missing_hint=" (pass --config finetuning/train_config.json)")
    except ValueError as exc:
        raise TrainError(str(exc), EXIT_INPUT) from None

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
    need("dataset", "train_file", str, bool, "set the dataset file, folder or hf:ORG/NAME to train on")
    check_dataset_section(config["dataset"], config_path)
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
    training = fill_training_defaults(config["training"])
    for key in ("gradient_accumulation_steps", "logging_steps", "save_steps"):
        need("training", key, int, positive, "use a positive integer")
    if training["max_steps"] < 0:
        need("training", "num_train_epochs", (int, float), positive, "use a positive number, or set max_steps")
    if training["compute_dtype"] not in DTYPES:
        raise TrainError(f"{config_path}: training.compute_dtype must be one of {', '.join(DTYPES)}", EXIT_INPUT)
    if recipe == "qlora":
        check_quantization(config, config_path)
    packing = training["packing"]
    if packing not in ("auto", "on", "off", True, False):
        raise TrainError(f"{config_path}: training.packing must be \"auto\", \"on\" or \"off\"", EXIT_INPUT)
    config.setdefault("output_root", "outputs")
    return config


def check_dataset_section(dataset: dict, config_path: Path) -> None:
    """The optional dataset keys: format, column_map, text_template, eval_file, eval_fraction."""
    for key in ("format", "text_template", "eval_file"):
        if dataset.get(key) is not None and not (isinstance(dataset[key], str) and dataset[key].strip()):
            raise TrainError(f"{config_path}: dataset.{key} must be text or null", EXIT_INPUT)
    mapping = dataset.get("column_map") or {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                for k, v in mapping.items()):
        raise TrainError(f"{config_path}: dataset.column_map must map our field names to your column names, "
                         "e.g. {\"instruction\": \"question\"}", EXIT_INPUT)
    for key, default in DATASET_DEFAULTS.items():
        if dataset.get(key) is None:
            dataset[key] = default
    fraction, cap = dataset["eval_fraction"], dataset["eval_max_rows"]
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise TrainError(f"{config_path}: dataset.eval_fraction must be in [0, 1), e.g. 0.05 (0: no eval)", EXIT_INPUT)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise TrainError(f"{config_path}: dataset.eval_max_rows must be a positive integer, e.g. 200", EXIT_INPUT)


def check_quantization(config: dict, config_path: Path) -> None:
    """The qlora recipe's quantization section, with its defaults filled in."""
    quant = config.setdefault("quantization", {})
    quant.setdefault("quant_type", QUANT_TYPES[0])
    quant.setdefault("double_quant", True)
    quant.setdefault("compute_dtype", config["training"]["compute_dtype"])
    if quant["quant_type"] not in QUANT_TYPES:
        raise TrainError(f"{config_path}: quantization.quant_type must be {' or '.join(QUANT_TYPES)}", EXIT_INPUT)
    if quant["compute_dtype"] not in DTYPES:
        raise TrainError(f"{config_path}: quantization.compute_dtype must be one of {', '.join(DTYPES)}",
                         EXIT_INPUT)


# -- dataset ------------------------------------------------------------------------------------
class Examples:
    """The rows to train on (and to evaluate on), checked, in the shape training renders."""

    def __init__(self, train: list, held_out: list | None, described: str, dataset_format: str):
        self.train, self.held_out, self.described, self.format = train, held_out, described, dataset_format

    @property
    def chat(self) -> bool:
        return any(example.chat for example in self.train)

    def usual_system_prompt(self) -> str | None:
        """The system prompt most training conversations start with (at least half), for the chat UI's default."""
        found: dict[str, int] = {}
        for example in self.train:
            if example.chat and example.turns and example.turns[0].role == "system":
                found[example.turns[0].content] = found.get(example.turns[0].content, 0) + 1
        best = max(found.items(), key=lambda item: item[1], default=None)
        return best[0] if best and best[1] * 2 >= len(self.train) else None


def dataset_path(value: str, root: Path) -> str:
    return value if hub_id(value) else str(resolve(root, value))


def read_dataset(dataset: dict, root: Path, key: str) -> tuple:
    """(detection, examples) of ``dataset[key]``; a bad row stops training here, named by its line."""
    value = dataset[key]
    try:
        detection, examples, problems, source = read_examples(
            dataset_path(value, root), dataset_format=dataset.get("format"), mapping=dataset.get("column_map") or {},
            text_template=dataset.get("text_template"))
    except DataError as exc:
        where = f"dataset.{key}" if exc.field == "FILE" else project_words(exc.field)
        raise TrainError(f"{where}: {exc.one_line(project=True)}", EXIT_INPUT) from None
    if problems:
        message, fix = first_problem(value, source.unit, problems)
        raise TrainError(project_words(f"{message} Fix: {fix}"), EXIT_INPUT)
    return detection, examples


def load_examples(config: dict, root: Path) -> Examples:
    """Every row checked (the rules of training_data), the eval rows held out."""
    dataset = config["dataset"]
    detection, examples = read_dataset(dataset, root, "train_file")
    described = f"{len(examples)} {detection.format} rows from {dataset['train_file']}"
    if dataset.get("eval_file"):
        _, held_out = read_dataset(dataset, root, "eval_file")
        return Examples(examples, held_out, described + f", {len(held_out)} eval rows from {dataset['eval_file']}",
                        detection.format)
    fraction = dataset["eval_fraction"]
    count = min(dataset["eval_max_rows"], max(1, round(fraction * len(examples)))) \
        if fraction > 0 and len(examples) >= EVAL_MIN_ROWS else 0
    if not count:
        return Examples(examples, None, described, detection.format)
    order = list(range(len(examples)))
    random.Random(config["training"]["seed"]).shuffle(order)
    held = set(order[:count])
    return Examples([e for i, e in enumerate(examples) if i not in held],
                    [e for i, e in enumerate(examples) if i in held], described + f" ({count} held out for eval)",
                    detection.format)
