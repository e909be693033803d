"""THE parameter registry: every tunable of a generated project, typed, with its range and help.

One table used by the CLI (``--set key=value``), the TUI form, validation and the answers file.
Names are AI Toolkit's / Hugging Face's (``lora_r``, ``learning_rate``...) for the training
parameters and the bicep parameter names for the infrastructure ones (``gpuProfileType``...).
Defaults come from, in order: the user's overrides, the model's catalog entry (AI Toolkit's
values where it had them), then the generic defaults below; a few are derived from other values
(``compute_dtype`` from the GPU profile, ``gpuProfileType`` from the model and recipe).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core.errors import InputError
from core import azure_facts as azure_spec
from scaffolds.project_code import project_helpers, training_data


DTYPES = project_helpers.DTYPES
QUANT_TYPES = project_helpers.QUANT_TYPES
_TRAINING = project_helpers.TRAINING_DEFAULTS
_TRAINING_DATA_DEFAULTS = project_helpers.DATASET_DEFAULTS
DATASET_FORMATS = training_data.shape.FORMATS
ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # int | float | str | bool | choice | modules
    help: str
    group: str  # lora | quantization | training | dataset | infra
    default: Any = None  # the generic default (None: derived or from the model)
    default_source: str = "ftstudio"  # ftstudio | model | derived
    min: Optional[float] = None
    max: Optional[float] = None
    choices: tuple = ()
    # where the value lands: ("train_config", "lora", "r") or ("parameters", "timeout")
    targets: tuple = field(default_factory=tuple)

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.type == "bool":
            return "true or false"
        if self.type == "modules":
            return f"{ALL_LINEAR!r} or a comma-separated list of module names"
        if self.min is not None and self.max is not None:
            return f"between {format_number(self.min)} and {format_number(self.max)}"
        if self.min is not None:
            return f">= {format_number(self.min)}"
        return "text"

    def to_dict(self) -> dict:
        """For the TUI form and `--json` listings."""
        return {"name": self.name, "type": self.type, "help": self.help, "group": self.group,
                "default": self.default, "default_source": self.default_source, "min": self.min,
                "max": self.max, "choices": list(self.choices)}


def format_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _tc(*path: str) -> tuple:
    return (("train_config", *path),)


PARAMS: tuple[Param, ...] = (
    # -- LoRA -------------------------------------------------------------------------------------
    Param("lora_r", "int", "LoRA rank: size of the low-rank update matrices.", "lora", 16, "model", 1, 1024,
          targets=_tc("lora", "r")),
    Param("lora_alpha", "int", "LoRA scaling numerator (update is scaled by alpha / r).", "lora", 32, "model", 1, 4096,
          targets=_tc("lora", "alpha")),
    Param("lora_dropout", "float", "Dropout on the LoRA layers' input.", "lora", 0.05, "model", 0.0, 0.9,
          targets=_tc("lora", "dropout")),
    Param("lora_target_modules", "modules", "Layers that get LoRA adapters.", "lora", ALL_LINEAR, "model",
          targets=_tc("lora", "target_modules")),
    # -- quantization (qlora) -----------------------------------------------------------------------------
    Param("quant_type", "choice", "4-bit quantization data type of the frozen base model (qlora).", "quantization",
          "nf4", choices=QUANT_TYPES, targets=_tc("quantization", "quant_type")),
    Param("double_quant", "bool", "Quantize the quantization constants too (saves ~0.4 bit/param).", "quantization",
          True, targets=_tc("quantization", "double_quant")),
    Param("compute_dtype", "choice", "Compute/mixed-precision dtype (T4 GPUs have no bfloat16).", "training",
          None, "derived", choices=DTYPES,
          targets=(("train_config", "quantization", "compute_dtype"), ("train_config", "training", "compute_dtype"))),
    # -- training ------------------------------------------------------------------------------------
    Param("learning_rate", "float", "Peak learning rate.", "training", 2e-4, "model", 1e-8, 1.0,
          targets=_tc("training", "learning_rate")),
    Param("num_train_epochs", "float", "Passes over the dataset (ignored when max_steps > 0).", "training",
          _TRAINING["num_train_epochs"], "model", 0.01, 1000, targets=_tc("training", "num_train_epochs")),
    Param("max_steps", "int", "Optimizer steps to run; -1 = run num_train_epochs.", "training",
          _TRAINING["max_steps"], "model", -1, 10_000_000, targets=_tc("training", "max_steps")),
    Param("per_device_train_batch_size", "int", "Rows per forward pass.", "training", 4, "model", 1, 1024,
          targets=_tc("training", "per_device_train_batch_size")),
    Param("gradient_accumulation_steps", "int", "Forward passes per optimizer step.", "training",
          _TRAINING["gradient_accumulation_steps"], "model", 1, 1024,
          targets=_tc("training", "gradient_accumulation_steps")),
    Param("source_max_len", "int", "Maximum tokens per row (longer rows are truncated).", "training", 512, "model",
          8, 1_048_576, targets=_tc("training", "source_max_len")),
    Param("warmup_steps", "float", "Warm-up: a fraction of the run when < 1, else a number of steps.", "training",
          _TRAINING["warmup_steps"], min=0, max=1_000_000, targets=_tc("training", "warmup_steps")),
    Param("logging_steps", "int", "Print the loss every N steps.", "training", _TRAINING["logging_steps"],
          min=1, max=1_000_000, targets=_tc("training", "logging_steps")),
    Param("save_steps", "int", "Checkpoint every N steps (a re-run resumes from the last one).", "training",
          _TRAINING["save_steps"], min=1, max=1_000_000, targets=_tc("training", "save_steps")),
    Param("save_total_limit", "int", "Checkpoints kept per run.", "training", _TRAINING["save_total_limit"],
          min=1, max=1000, targets=_tc("training", "save_total_limit")),
    Param("seed", "int", "Random seed.", "training", _TRAINING["seed"], min=0, max=2**32 - 1,
          targets=_tc("training", "seed")),
    Param("packing", "choice", "Pack rows padding-free (auto: on with a GPU and flash-attn, off otherwise).",
          "training", _TRAINING["packing"], choices=("auto", "on", "off"), targets=_tc("training", "packing")),
    # -- dataset -------------------------------------------------------------------------------------
    Param("dataset_format", "choice", "How rows are read: detected from the columns (auto), or one format.",
          "dataset", "auto", choices=("auto", *DATASET_FORMATS), targets=_tc("dataset", "format")),
    Param("column_map", "str", "Columns with other names, FIELD=COLUMN[,...] (e.g. instruction=question).",
          "dataset", "", targets=_tc("dataset", "column_map")),
    Param("text_template", "str", "AI Toolkit/Olive row template: {column} fields; the last field and what "
          "follows is the answer (the text_template format only).", "dataset", None, "model",
          targets=_tc("dataset", "text_template")),
    Param("eval_fraction", "float", "Fraction of rows held out for the eval loss (0 = none).", "dataset",
          _TRAINING_DATA_DEFAULTS["eval_fraction"], min=0.0, max=0.5, targets=_tc("dataset", "eval_fraction")),
    Param("eval_max_rows", "int", "At most this many rows held out by eval_fraction.", "dataset",
          _TRAINING_DATA_DEFAULTS["eval_max_rows"], min=1, max=1_000_000, targets=_tc("dataset", "eval_max_rows")),
    # -- infrastructure (bicep parameter names) -----------------------------------------------------------
    Param("gpuProfileType", "choice", "Container Apps GPU workload profile.", "infra", None, "derived",
          choices=tuple(azure_spec.GPU_PROFILES), targets=(("parameters", "finetuning", "gpuProfileType"),
                                                           ("parameters", "inference", "gpuProfileType"))),
    Param("timeout", "int", "Fine-tuning job replica timeout, in seconds.", "infra", azure_spec.DEFAULT_TIMEOUT_S,
          min=azure_spec.MIN_TIMEOUT_S, max=7 * 86400, targets=(("parameters", "finetuning", "timeout"),)),
    Param("maximumInstanceCount", "int", "Max GPU nodes/replicas (keep >= 2 so a job and an inference app fit).",
          "infra", azure_spec.DEFAULT_MAXIMUM_INSTANCE_COUNT, min=1, max=100,
          targets=(("parameters", "finetuning", "maximumInstanceCount"),
                   ("parameters", "inference", "maximumInstanceCount"))),
)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
NAMES = tuple(BY_NAME)


# -- parsing ------------------------------------------------------------------------------------------
def _bad(name: str, message: str, fix: str) -> InputError:
    return InputError(message, field=name, fix=fix)


def unknown_param(name: str) -> InputError:
    close = difflib.get_close_matches(name, NAMES, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return _bad(name, f"Unknown parameter {name!r}.{hint}",
                f"use one of: {', '.join(NAMES)}")


# Numbers as people write them: ASCII digits, optional sign, decimal point and exponent. Python's own
# int()/float() also take '1_6', Arabic-Indic digits and 'infinity', which no user means.
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_number(text: Any, *, integer: bool) -> Any:
    if isinstance(text, bool):
        raise ValueError
    if isinstance(text, (int, float)):
        return text
    value = str(text)
    if integer and _INT_RE.fullmatch(value):
        return int(value)
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    raise ValueError


def _unescape(text: str) -> str:
    # Shells make real newlines awkward: accept \n, \t and \\ in text values.
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def coerce(name: str, raw: Any) -> Any:
    """``raw`` (text from --set / a form, or a JSON value) as the parameter's type; InputError if it can't be."""
    if name not in BY_NAME:
        raise unknown_param(name)
    p = BY_NAME[name]
    fix = f"use --set {name}=VALUE ({p.describe_range()})"
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if p.type == "int":
            value = _parse_number(text, integer=True)
            if isinstance(value, float):  # 1e3 or 16.0 from JSON: fine when whole
                if not math.isfinite(value) or not value.is_integer():
                    raise ValueError
                return int(value)
            return value
        if p.type == "float":
            value = float(_parse_number(text, integer=False))
            if not math.isfinite(value):
                raise ValueError
            return value
        if p.type == "bool":
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if p.type == "choice":
            value = str(text)
            for choice in p.choices:
                if value.lower() == str(choice).lower():
                    return choice
            raise ValueError
        if p.type == "modules":
            if isinstance(text, (list, tuple)):
                mods = [str(m).strip() for m in text]
            else:
                value = str(text)
                if value.strip() == ALL_LINEAR:
                    return ALL_LINEAR
                mods = [m.strip() for m in value.split(",")]
            if not mods or any(not m or not all(ch.isalnum() or ch in "._-" for ch in m) for m in mods):
                raise ValueError
            return mods
        if p.type == "str":
            if raw is None and p.default is None:  # an optional text (text_template): none
                return None
            if not isinstance(raw, str):
                raise ValueError
            return _unescape(raw)
    except (TypeError, ValueError):
        kind = {"int": "a whole number", "float": "a number", "bool": "true or false",
                "choice": "one of " + ", ".join(map(str, p.choices)), "modules": p.describe_range(),
                "str": "text"}[p.type]
        raise _bad(name, f"{name} must be {kind} (got {raw!r}).", fix) from None
    raise AssertionError(f"unhandled parameter type {p.type}")  # pragma: no cover


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lora_r=16", "learning_rate=1e-4"]`` → typed values (range checks happen in ``validate``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise _bad("--set", f"--set expects KEY=VALUE (got {item!r}).", "write e.g. --set lora_r=16")
        key, _, value = item.partition("=")
        key = key.strip()
        out[key] = coerce(key, value)
    return out


# -- defaults + validation --------------------------------------------------------------------------------
def template_fields(template: str) -> list[str]:
    """The ``{field}`` names of a text_template, in order (InputError when it is not a valid template).

    The generated project's parser decides (``training_data.text_template``): what passes here is
    what train.py trains on and inference/app.py prompts with."""
    fix = "use {column} fields, e.g. --set 'text_template=Q: {question}\\nA: {answer}' (double braces for literal ones)"
    try:
        return training_data.text_template.template_fields(template)
    except training_data.text_template.TemplateError as exc:
        raise _bad("text_template", f"text_template {exc}.", fix) from None


def column_map(text: str) -> dict[str, str]:
    """``column_map``'s ``FIELD=COLUMN,...`` as ``{field: column}`` (InputError naming the fix)."""
    from scaffolds.project_code import input_errors

    try:
        with input_errors():
            return training_data.formats.parse_mapping(p for p in text.split(",") if p.strip())
    except InputError as exc:
        raise _bad("column_map", exc.message.replace("--map", "column_map"),
                   "write it as FIELD=COLUMN[,FIELD=COLUMN...], e.g. --set column_map=instruction=question") from None


GpuProfileFor = Callable[..., str]  # (model, recipe, values) -> the smallest GPU profile that fits those values


def resolve(model: dict, recipe: str, overrides: dict[str, Any], *, gpu_profile_for: GpuProfileFor) -> dict:
    """All parameter values for ``model`` + ``recipe`` with the user's ``overrides`` applied, validated."""
    for name in overrides:
        if name not in BY_NAME:
            raise unknown_param(name)
    values = defaults(model, recipe, overrides, gpu_profile_for=gpu_profile_for)
    validate(values, model=model)
    return {p.name: values[p.name] for p in PARAMS}


def defaults(model: dict, recipe: str, overrides: Optional[dict[str, Any]] = None, *,
             gpu_profile_for: GpuProfileFor) -> dict:
    """The values before validation: overrides, then the model's defaults, then the generic ones, fitted to
    the model (a default must never be refused by ``validate`` for a catalog model: issue 13 item 7)."""
    overrides = overrides or {}
    values: dict[str, Any] = {}
    model_defaults = model.get("defaults") or {}
    for p in PARAMS:
        if name_in(p.name, overrides):
            values[p.name] = overrides[p.name]
        elif p.name in model_defaults:
            values[p.name] = coerce(p.name, model_defaults[p.name])
        elif p.default is not None:
            values[p.name] = p.default
    if "lora_target_modules" not in overrides and model.get("lora_target_modules"):
        values["lora_target_modules"] = coerce("lora_target_modules", model["lora_target_modules"])
    values.setdefault("text_template", None)  # only text_template datasets have one (AI Toolkit projects)
    ctx = model.get("context_length")
    if not name_in("source_max_len", overrides) and ctx and values["source_max_len"] > ctx:
        values["source_max_len"] = ctx  # unset: the smaller of the default and the model's context
    _fit_gpu(model, recipe, values, overrides, gpu_profile_for)
    if not name_in("compute_dtype", overrides):
        values["compute_dtype"] = default_compute_dtype(model, values["gpuProfileType"])
    return values


def default_compute_dtype(model: dict, profile: str) -> str:
    """T4s have no bfloat16: float16 there (or the model's ``t4_compute_dtype``: Gemma overflows float16)."""
    gpu = azure_spec.GPU_PROFILES[profile]["gpu"]
    return (model.get("t4_compute_dtype") or "float16") if gpu == "T4" else "bfloat16"


def _fit_gpu(model: dict, recipe: str, values: dict, overrides: dict, gpu_profile_for: GpuProfileFor) -> None:
    """gpuProfileType and the per-device batch: the smallest GPU the memory estimate fits, at the largest
    batch up to the default that fits it. A lowered batch raises gradient_accumulation_steps so the effective
    batch (and so the training) stays the same: how QLoRA of a 7-8B model fits a 16 GB T4."""
    def gpu_memory_gb(profile: str) -> float:
        return azure_spec.GPU_PROFILES[profile]["gpu_memory_gb"]

    start = values["per_device_train_batch_size"]
    batches = [start]
    while not name_in("per_device_train_batch_size", overrides) and batches[-1] > 1:
        batches.append(math.ceil(batches[-1] / 2))  # 4, 2, 1
    # for each batch, the smallest profile that fits it (the largest one when none does)
    tries = [(b, gpu_profile_for(model, recipe, {**values, "per_device_train_batch_size": b})) for b in batches]
    chosen = overrides.get("gpuProfileType")
    if chosen:
        batch = next((b for b, p in tries if gpu_memory_gb(p) <= gpu_memory_gb(chosen)), start)
    else:
        batch, chosen = min(tries, key=lambda t: gpu_memory_gb(t[1]))  # ties: the first, largest batch
    if batch != start and not name_in("gradient_accumulation_steps", overrides):
        values["gradient_accumulation_steps"] = math.ceil(values["gradient_accumulation_steps"] * start / batch)
    values["per_device_train_batch_size"] = batch
    values["gpuProfileType"] = chosen


def name_in(name: str, mapping: dict) -> bool:
    return name in mapping and mapping[name] is not None


def validate(values: dict[str, Any], *, model: dict | None = None) -> None:
    """Range and cross-field checks; the first problem raises an InputError naming the field and the fix."""
    for p in PARAMS:
        if p.name not in values:
            raise _bad(p.name, f"{p.name} has no value.", f"use --set {p.name}=VALUE ({p.describe_range()})")
        v = coerce(p.name, values[p.name])
        values[p.name] = v
        fix = f"use --set {p.name}=VALUE ({p.describe_range()})"
        if p.type in ("int", "float"):
            if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
                raise _bad(p.name, f"{p.name} must be {p.describe_range()} (got {format_number(v)}).", fix)
    if values["max_steps"] == 0:
        raise _bad("max_steps", "max_steps must be -1 (use num_train_epochs) or at least 1 (got 0).",
                   "use --set max_steps=-1 or a positive number")
    warm = values["warmup_steps"]
    if warm >= 1 and not float(warm).is_integer():
        raise _bad("warmup_steps", f"warmup_steps must be a fraction below 1 or a whole number of steps (got {warm}).",
                   "use --set warmup_steps=0.03 or e.g. warmup_steps=20")
    if values["text_template"] is not None:
        template_fields(values["text_template"])
    if values["column_map"]:
        column_map(values["column_map"])
    ctx = (model or {}).get("context_length")
    if ctx and values["source_max_len"] > ctx:
        raise _bad("source_max_len", f"source_max_len {values['source_max_len']} exceeds the model's context "
                   f"length {ctx}.", f"use --set source_max_len={min(ctx, 1024)}")


def train_config_sections(values: dict[str, Any]) -> dict[str, dict]:
    """The registry values placed where train_config.json wants them ({section: {key: value}})."""
    out: dict[str, dict] = {}
    for p in PARAMS:
        for target in p.targets:
            if target[0] == "train_config":
                out.setdefault(target[1], {})[target[2]] = values[p.name]
    return out


def parameters_file_values(values: dict[str, Any], kind: str) -> dict[str, Any]:
    """The registry values that go into ``infra/provision/<kind>.parameters.json``."""
    return {p.name: values[p.name] for p in PARAMS for t in p.targets if t[0] == "parameters" and t[1] == kind}
