"""What the project's scripts share: config paths, JSON files, run ids, training defaults.

Imported by ``finetuning/train.py``, ``fetch_model.py``, ``invoke_olive.py`` and ``inference/``
(each puts this folder on ``sys.path`` first), and loaded by ftstudio itself for the defaults it
writes: one implementation, so generation, training and serving cannot disagree. The dataset rules
(formats, the text_template, rendering with the chat template) are the ``training_data`` package. Standard library only. A problem is a ``ValueError`` whose message is one
line; each script turns it into its own error and exit code.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

DTYPES = ("bfloat16", "float16", "float32")
QUANT_TYPES = ("nf4", "fp4")
# The "training" values a hand-edited train_config.json may leave out (ftstudio writes them all,
# with these as its generic defaults).
TRAINING_DEFAULTS = {
    "num_train_epochs": 3, "max_steps": -1, "gradient_accumulation_steps": 1, "logging_steps": 10,
    "save_steps": 100, "save_total_limit": 2, "seed": 42, "warmup_steps": 0.03, "compute_dtype": "bfloat16",
    "packing": "auto",
}
# The "dataset" values a config may leave out: a few percent held out for the eval loss, capped.
DATASET_DEFAULTS = {"eval_fraction": 0.05, "eval_max_rows": 200}
EVAL_MIN_ROWS = 20  # smaller datasets keep every row for training
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a folder name on every OS and on Azure Files


# -- paths and JSON ------------------------------------------------------------------------------
def project_root(config_path: Path) -> Path:
    """The folder the config's paths are relative to: the project root for finetuning/train_config.json,
    the config's own folder for a config elsewhere."""
    config_path = Path(config_path).resolve()
    return config_path.parent.parent if config_path.parent.name == "finetuning" else config_path.parent


def resolve(root: Path, value: str) -> Path:
    """A config path: absolute (``~`` expanded) as it is, relative under ``root``."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_json_object(path: Path, what: str = "config file", missing_hint: str = "") -> dict:
    """The JSON object in ``path``; ValueError naming the problem (missing, invalid JSON, not an object)."""
    if not path.is_file():
        raise ValueError(f"{what} {path} not found{missing_hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def write_json(path: Path, data: dict) -> None:
    """Atomically: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- runs ------------------------------------------------------------------------------------------
def default_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"RUN_ID {run_id!r} must be letters, digits, '.', '_' or '-'")
    return run_id


def fill_training_defaults(training: dict) -> dict:
    """``training`` with TRAINING_DEFAULTS for what it lacks; max_steps 0 or null means -1 (use epochs)."""
    for key, default in TRAINING_DEFAULTS.items():
        training.setdefault(key, default)
    if training["max_steps"] in (None, 0):
        training["max_steps"] = -1
    return training


def adapter_base_model(model_cfg: dict) -> str:
    """What an adapter records as its base: the hub repo, or the project-relative local_dir (portable,
    never this machine's absolute path)."""
    if model_cfg.get("source") == "hub" and model_cfg.get("repo"):
        return model_cfg["repo"]
    return model_cfg["local_dir"]
