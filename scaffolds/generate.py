"""``ftstudio new``: a fine-tuning project generated from a model, a recipe and parameters.

Pure Python API shared by the CLI and the TUI::

    spec = ProjectSpec(name="demo", model="microsoft/Phi-3-mini-4k-instruct", parent=Path("."))
    result = generate_project(spec, on_event)

Everything is validated first (``plan_project``: name, target folder, recipe, model, parameters,
dataset) and nothing is written until it all passed; then the project is rendered into a temp
folder next to the target and renamed into place, so a failure leaves nothing behind.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from core import events as ev
from core.errors import InputError
from core import azure_facts as azure_spec, project_files
from scaffolds import catalog, params as registry, project_dataset

TEMPLATE_VERSION = "1"
RECIPES = catalog.RECIPES
TARGETS = project_files.TARGETS
TRAIN_CONFIG = "finetuning/train_config.json"
DATASET_DIR = "dataset"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ProjectSpec:
    name: str
    model: str  # catalog name, HF repo id or local folder, as typed
    parent: Path = Path(".")
    recipe: Optional[str] = None  # default: the model's
    dataset: Optional[str | Path] = None  # a file, a save_to_disk folder, or hf:ORG/NAME[:SPLIT]
    eval_dataset: Optional[str | Path] = None
    overrides: dict[str, Any] = field(default_factory=dict)  # typed values or raw strings
    target: str = "azure"


@dataclass
class Plan:
    """Everything validated and resolved; nothing written yet."""

    spec: ProjectSpec
    path: Path
    model: dict
    recipe: str
    target: str
    params: dict
    overrides: dict
    datasets: project_dataset.DatasetPlan
    warnings: list[str]

    @property
    def train_file(self) -> str:
        return self.datasets.train_file


@dataclass
class GeneratedProject:
    path: Path
    model: dict
    recipe: str
    target: str
    params: dict
    files: list[str]
    train_file: str
    dataset_rows: Optional[int]
    warnings: list[str]
    dataset_format: str = "auto"

    def to_json(self) -> dict:
        return {
            "project": str(self.path),
            "name": self.path.name,
            "model": {k: self.model.get(k) for k in ("id", "repo", "source", "origin", "path", "local_dir",
                                                     "chat_format", "gated", "licence", "params", "min_gpu",
                                                     "verified")},
            "recipe": self.recipe,
            "target": self.target,
            "parameters": self.params,
            "dataset": {"train_file": self.train_file, "rows": self.dataset_rows, "format": self.dataset_format},
            "files": self.files,
            "warnings": self.warnings,
            "template_version": TEMPLATE_VERSION,
        }


# -- validation -------------------------------------------------------------------------------------------
def validate_name(name: Optional[str]) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name) or name in (".", "..") or name.endswith("."):
        raise InputError(f"Invalid project name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit.", field="NAME", fix="e.g. `ftstudio new my-tones ...`")
    return name


def target_path(parent: Path, name: str) -> Path:
    if "\0" in str(parent):  # no file system takes it; os.mkdir would raise ValueError half-way
        raise InputError(f"--dir {str(parent)!r} contains a NUL character.", field="--dir",
                         fix="pass a folder path without control characters")
    base = Path(parent).expanduser().absolute()
    path = base / name
    # The nearest existing ancestor must be a folder we may write in: /etc/passwd/sub and /sys/kernel
    # fail here with a message instead of half-way through mkdir.
    existing = next(p for p in [base, *base.parents] if os.path.lexists(p))
    if not existing.is_dir():
        raise InputError(f"--dir {parent} is not a folder ({existing} is a file).", field="--dir",
                         fix="pass a folder to create the project in")
    try:
        taken = path.exists() and (not path.is_dir() or any(path.iterdir()))
    except OSError as exc:
        raise InputError(f"Cannot look into {path} ({exc.strerror}).", field="--dir",
                         fix="pass a folder you can write to") from None
    if taken:
        raise InputError(f"{path} already exists and is not empty.", field="NAME",
                         fix="choose another name or --dir, or remove that folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--dir {parent}: {existing} is not writable.", field="--dir",
                         fix="pass a folder you can write to")
    return path


def validate_recipe(recipe: Optional[str]) -> Optional[str]:
    if recipe is None:
        return None
    value = recipe.strip().lower()
    if value not in RECIPES:
        raise InputError(f"Unknown recipe {recipe!r}.", field="--recipe", fix=f"use --recipe {' | '.join(RECIPES)}")
    return value


def validate_target(target: Optional[str]) -> str:
    value = (target or "azure").strip().lower()
    if value not in TARGETS:
        raise InputError(f"Unknown target {target!r}.", field="--target", fix="use --target azure or --target local")
    return value


def _typed_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: registry.coerce(k, v) for k, v in (overrides or {}).items()}


def plan_project(spec: ProjectSpec, on_event: Callable = ev.ignore) -> Plan:
    """Validate and resolve everything ``spec`` asks for. Writes nothing (except the hub cache)."""
    name = validate_name(spec.name)
    path = target_path(spec.parent, name)
    recipe = validate_recipe(spec.recipe)
    target = validate_target(spec.target)
    overrides = _typed_overrides(spec.overrides)

    model = catalog.resolve(spec.model, on_event=on_event)
    recipe = recipe or model["default_recipe"]
    values = registry.resolve(model, recipe, overrides, gpu_profile_for=catalog.gpu_profile_for)

    fmt = values["dataset_format"]
    if recipe == "olive":  # Olive's own data pipeline reads rows through a text_template only
        if values["text_template"] is None:
            values["text_template"] = model["text_template"]  # AI Toolkit's template for the model
        if fmt not in ("auto", "text_template"):
            raise InputError(f"The olive recipe trains on text_template rows, not {fmt}.", field="dataset_format",
                             fix="use --recipe lora for other formats, or rows in the text_template's columns")
        fmt = "text_template"
    if fmt == "auto" and values["text_template"] is not None:
        fmt = "text_template"  # a template given means rows in its columns (AI Toolkit's projects)
    datasets = project_dataset.plan(
        spec.dataset, spec.eval_dataset, text_template=values["text_template"],
        dataset_format=None if fmt == "auto" else fmt,
        mapping=registry.column_map(values["column_map"]) if values["column_map"] else {})
    values["dataset_format"] = datasets.format  # training reads the rows as they were checked
    warnings = list(datasets.warnings)
    warnings += _model_warnings(model, recipe, target)
    # Only now that every input passed: a bad input prints its one error line and nothing else.
    on_event(ev.StepFinished("model", f"Model {model['id']}", detail=model["origin"] +
                             ("" if model.get("verified") else ", not verified")))
    for w in warnings:
        on_event(ev.Info(w, level="warning"))
    return Plan(spec=spec, path=path, model=model, recipe=recipe, target=target, params=values,
                overrides=overrides, datasets=datasets, warnings=warnings)


def _model_warnings(model: dict, recipe: str, target: str) -> list[str]:
    out = []
    if model.get("gated"):
        out.append(f"{model['repo']} is gated: accept its licence on huggingface.co, then give the job your token "
                   "(`ftstudio secret set HF_TOKEN --from-env HF_TOKEN`; locally export HF_TOKEN)")
    if model["source"] == "local" and target == "azure":
        out.append("a local model folder is not uploaded to Azure (model-cache/ never syncs): use --target local, "
                   "or a Hugging Face repo id for Azure runs")
    if model.get("remote_code"):
        out.append(f"{model['id']} ships custom modelling code (auto_map); trust_remote_code stays false - set it "
                   f"in {TRAIN_CONFIG} only if you trust that code")
    if model.get("pipeline_tag") and model["pipeline_tag"] != "text-generation":
        out.append(f"{model['id']} is a {model['pipeline_tag']} model, not text-generation: fine-tuning it "
                   "as a causal LM will probably fail")
    if recipe == "olive" and model["source"] == "hub" and not model.get("aitk"):
        out.append("the olive recipe was only tried with AI Toolkit's models; check the ONNX export works for "
                   f"{model['id']}")
    return out


# -- the files --------------------------------------------------------------------------------------------
def finetuning_commands(recipe: str) -> list[str]:
    cfg = f"./{TRAIN_CONFIG}"
    last = "python3 ./finetuning/invoke_olive.py" if recipe == "olive" else f"python3 ./finetuning/train.py --config {cfg}"
    return [f"cd {azure_spec.MOUNT_PATH}", "pip install -r ./setup/requirements.txt",
            f"python3 ./finetuning/fetch_model.py --config {cfg}", last]


def inference_commands() -> list[str]:
    return [f"cd {azure_spec.MOUNT_PATH}", "pip install -r ./setup/requirements.txt",
            f"python3 ./inference/app.py --host 0.0.0.0 --port {azure_spec.INFERENCE_PORT}"]


def train_config(plan: Plan) -> dict:
    m, p = plan.model, plan.params
    sections = registry.train_config_sections(p)
    return {
        "schema_version": 1,
        "recipe": plan.recipe,
        "model": {
            "id": m["id"],
            "source": m["source"],
            "repo": m["repo"],
            "revision": m["revision"],
            "path": m["path"],
            "local_dir": m["local_dir"],
            "gated": bool(m.get("gated")),
            "trust_remote_code": bool(m.get("trust_remote_code")),
        },
        "dataset": {**sections["dataset"], **plan.datasets.config()},  # column_map as the mapping it reads as
        "lora": sections["lora"],
        "quantization": sections["quantization"],
        "training": sections["training"],
        "output_root": "outputs",
    }


def _parameters_doc(values: dict) -> dict:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {k: {"value": v} for k, v in values.items()},
    }


def parameters_files(plan: Plan) -> dict[str, dict]:
    p = plan.params
    names_ft = ("storageAccountName", "fileShareName", "acaEnvironmentName", "acaEnvironmentStorageName",
                "acaJobName", "acaLogAnalyticsName")
    names_inf = ("storageAccountName", "fileShareName", "acaEnvironmentName", "acaEnvironmentStorageName",
                 "acaAppName", "acaLogAnalyticsName")
    # the project name the bicep hashes into its default resource names (as infra/azure/names.py does)
    project = {azure_spec.PROJECT_NAME_PARAMETER: plan.path.name}
    ft = {"defaultCommands": finetuning_commands(plan.recipe), **project,
          **registry.parameters_file_values(p, "finetuning"),
          "location": None, **{n: None for n in names_ft}, "image": azure_spec.DEFAULT_IMAGE}
    inf = {"defaultCommands": inference_commands(), **project,
           **registry.parameters_file_values(p, "inference"),
           "location": None, **{n: None for n in names_inf}, "image": azure_spec.DEFAULT_IMAGE}
    return {"finetuning": _parameters_doc(ft), "inference": _parameters_doc(inf)}


def config_files(plan: Plan) -> dict[str, dict]:
    # AI Toolkit's keys in its order (null until provision fills them), then COMMANDS and ours
    ft = {**dict.fromkeys(project_files.FINETUNING_CONFIG.aitk_keys), "COMMANDS": finetuning_commands(plan.recipe),
          "TARGET": plan.target}
    inf = {**dict.fromkeys(project_files.INFERENCE_CONFIG.aitk_keys), "COMMANDS": inference_commands(),
           "TARGET": plan.target}
    return {project_files.FINETUNING_CONFIG.rel: ft, project_files.INFERENCE_CONFIG.rel: inf}


def answers(plan: Plan) -> dict:
    m = plan.model
    return {
        "template_version": TEMPLATE_VERSION,
        "project_name": plan.path.name,
        "model": m["id"],
        "model_source": m["source"],
        "model_repo": m["repo"],
        "model_path": m["path"],
        # What infra needs later of the catalog, recorded here so infra never opens it (the layers).
        "model_gated": bool(m.get("gated")),
        "model_gpu_quota": int(m.get("gpu_quota") or 1),
        "recipe": plan.recipe,
        "target": plan.target,
        "dataset": plan.train_file,
        "parameters": plan.params,
        "overrides": plan.overrides,
    }


def template_context(plan: Plan) -> dict:
    from scaffolds.pins import PINS

    return {
        "project_name": plan.path.name,
        "template_version": TEMPLATE_VERSION,
        "recipe": plan.recipe,
        "target": plan.target,
        "model": plan.model,
        "params": plan.params,
        "dataset_file": plan.train_file,
        "commands": finetuning_commands(plan.recipe),
        "inference_commands": inference_commands(),
        "pins": dict(PINS),
        "azure": _azure_context(),
        "gpu_label": catalog.gpu_label,
    }


def _azure_context() -> dict:
    return {k: getattr(azure_spec, k) for k in dir(azure_spec) if k.isupper()}


def _write_json(path: Path, data: Any) -> None:
    from scaffolds.render import json_text  # non-printable characters (and lone surrogates) as \u escapes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(data, indent=2) + "\n", encoding="utf-8")


def write_project(plan: Plan, dest: Path, extra_json: Optional[dict] = None) -> list[str]:
    """Write every file of ``plan`` under ``dest`` (an empty folder), plus ``extra_json`` (path → document,
    e.g. the front ends' ``.vscode/tasks.json``); returns the relative paths."""
    from scaffolds.render import render_tree

    written = set(render_tree(dest, template_context(plan), plan.recipe))
    data: dict[str, Any] = {
        TRAIN_CONFIG: train_config(plan),
        **config_files(plan),
        ".ftstudio-answers.json": answers(plan),
        **(extra_json or {}),
    }
    for kind, doc in parameters_files(plan).items():
        data[f"infra/provision/{kind}.parameters.json"] = doc
    for rel, doc in data.items():
        _write_json(dest / rel, doc)
        written.add(rel)
    written.update(project_dataset.write(plan.datasets, dest))
    return sorted(written)


def generate_project(spec: ProjectSpec, on_event: Callable = ev.ignore, *,
                     extra_json: Optional[dict] = None) -> GeneratedProject:
    """Validate the whole plan, render it into a temporary folder, then rename it into place: a
    failure leaves nothing. ``extra_json``: more files the caller's layer owns (see ``write_project``)."""
    plan = plan_project(spec, on_event)
    path = plan.path
    on_event(ev.StepStarted("render", f"Project {path}"))
    # not mkdtemp: its 0700 mode would become the project folder's; mkdir honours the umask
    tmp = path.parent / f".{path.name}.ftstudio-{uuid.uuid4().hex[:8]}"
    created_parents: list[Path] = []
    try:
        created_parents = _make_parents(path.parent)
        tmp.mkdir()
    except OSError as exc:  # e.g. /sys or a read-only mount that os.access() called writable
        _remove_parents(created_parents)
        raise InputError(f"Cannot create the project in {path.parent} ({exc.strerror}).", field="--dir",
                         fix="pass a folder you can write to") from None
    try:
        files = write_project(plan, tmp, extra_json)
        if path.exists():
            path.rmdir()  # empty (checked in plan_project); rename needs it gone on every OS
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_parents(created_parents)
        raise
    on_event(ev.StepFinished("render", f"Project {path}", detail=f"{len(files)} files"))
    return GeneratedProject(path=path, model=plan.model, recipe=plan.recipe, target=plan.target,
                            params=plan.params, files=files, train_file=plan.train_file,
                            dataset_rows=plan.datasets.report.rows, warnings=plan.warnings,
                            dataset_format=plan.datasets.format)


def _remove_parents(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        missing.append(p)
    missing.reverse()
    made: list[Path] = []
    try:
        for p in missing:
            p.mkdir()
            made.append(p)
    except OSError:
        _remove_parents(made)
        raise
    return made
