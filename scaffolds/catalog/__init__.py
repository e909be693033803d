"""The model catalog: curated entries (``models.json``), any Hugging Face repo id, or a local folder.

``resolve(text)`` turns what the user typed into ONE model dict (the generator's ``model``
context): ``id`` (display), ``repo``, ``source`` (hub | local), ``origin`` (catalog | hub |
local), ``local_dir`` (``model-cache/<org>/<name>``, derived from the repo id with its exact case:
the single place every script reads the model from), ``path`` (local source), ``chat_format``,
``text_template``, ``gated``, ``licence``, ``params``, ``min_gpu``, ``gpu_quota``, ``verified``, and
``gpu`` ({recipe: the GPU it needs at the defaults, with the memory estimate and its basis})...
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

from core import events as ev
from core.errors import InputError
from core import azure_facts as azure_spec
from scaffolds.catalog import formats, gpu_estimate

T4 = "Consumption-GPU-NC8as-T4"
A100 = "Consumption-GPU-NC24-A100"
RECIPES = ("lora", "qlora", "olive")

_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_RE = re.compile(rf"^(?:{_PART}/)?{_PART}$")


@lru_cache(maxsize=1)
def _data() -> dict:
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return json.loads(text)


def entries() -> list[dict]:
    """The curated catalog entries (copies, with derived fields filled in)."""
    return [_complete(dict(m), origin="catalog") for m in _data()["models"]]


def notes() -> dict:
    return dict(_data()["notes"])


def lookup(name: str) -> Optional[dict]:
    """A catalog entry by id, alias or repo id (case-insensitive), or None."""
    key = name.strip().lower()
    for m in _data()["models"]:
        if key in {m["id"].lower(), m["repo"].lower(), *(a.lower() for a in m.get("aliases", []))}:
            return _complete(dict(m), origin="catalog")
    return None


def search(text: Optional[str], models: Optional[list[dict]] = None) -> list[dict]:
    models = entries() if models is None else models
    if not text:
        return models
    words = text.lower().split()

    def hay(m: dict) -> str:
        return " ".join(str(m.get(k) or "") for k in ("id", "repo", "family", "licence", "chat_format",
                                                      "architecture", "min_gpu_label")).lower()

    return [m for m in models if all(w in hay(m) for w in words)]


def is_repo_id(text: str) -> bool:
    return bool(_REPO_RE.match(text)) and "--" not in text and ".." not in text and not text.endswith(".git")


def local_dir_for(repo: str) -> str:
    """``model-cache/<org>/<name>``, exactly the repo id's case (AI Toolkit's case-mismatch defect can't happen)."""
    return f"model-cache/{repo}"


def gpu_label(profile: str) -> str:
    spec = azure_spec.GPU_PROFILES.get(profile)
    return f"{spec['gpu']} {spec['gpu_memory_gb']}GB" if spec else profile


def gpu_fit(model: dict, recipe: str, values: Optional[dict] = None) -> tuple[str, Optional[gpu_estimate.Estimate]]:
    """The smallest GPU profile whose memory holds the training estimate for ``values``, and that estimate;
    the largest profile when the size is unknown or nothing fits. ``values`` None: the model's defaults
    (whose batch is already fitted to the GPU they chose)."""
    from scaffolds import params  # the defaults and the dtype rule are the parameter registry's

    def at(profile: str, v: dict) -> Optional[gpu_estimate.Estimate]:
        return gpu_estimate.estimate(
            model, recipe, seq_len=v["source_max_len"], batch=v["per_device_train_batch_size"], lora_r=v["lora_r"],
            target_modules=v.get("lora_target_modules"), double_quant=v.get("double_quant", True),
            dtype=v.get("compute_dtype") or params.default_compute_dtype(model, profile))

    if values is None:
        values = params.defaults(model, recipe, gpu_profile_for=gpu_profile_for)
        return values["gpuProfileType"], at(values["gpuProfileType"], values)
    profiles = gpu_estimate.profiles_by_memory()
    est = None
    for profile in profiles:
        est = at(profile, values)
        if est is None:
            break
        if gpu_estimate.fits(est, profile):
            return profile, est
    return max(profiles, key=gpu_estimate.gpu_memory_gb), est  # the first largest: serverless, no idle nodes


def gpu_profile_for(model: dict, recipe: str, values: Optional[dict] = None) -> str:
    """The smallest GPU profile that fits ``model`` for ``recipe`` (see ``gpu_fit``)."""
    return gpu_fit(model, recipe, values)[0]


def gpu_summary(model: dict, recipe: str) -> dict:
    """The GPU a recipe gets at the model's defaults, with the estimate's basis: for `ftstudio models`."""
    try:
        profile, est = gpu_fit(model, recipe)
    except InputError:  # a model default the registry can't read: no estimate (tests forbid it in the catalog)
        return {"profile": None, "label": "?", "budget_gib": None, "fits": False, "estimate": None, "basis": None}
    return {"profile": profile, "label": gpu_label(profile), "budget_gib": round(gpu_estimate.budget_gib(profile), 1),
            "fits": gpu_estimate.fits(est, profile), "estimate": est.to_dict() if est else None,
            "basis": est.basis() if est else "size unknown: the largest GPU"}


def _complete(m: dict, *, origin: str) -> dict:
    """Fill in the derived fields every model dict has, whatever its origin."""
    m.setdefault("aliases", [])
    m.setdefault("source", "hub")
    m["origin"] = origin
    m.setdefault("revision", "main" if m["source"] == "hub" else None)
    m.setdefault("path", None)
    m.setdefault("trust_remote_code", False)
    m.setdefault("defaults", {})
    m.setdefault("lora_target_modules", "all-linear")
    m.setdefault("context_length", None)
    m.setdefault("gpu_quota", 1)
    m.setdefault("verified", origin == "catalog")
    if m["source"] == "hub":
        m["local_dir"] = local_dir_for(m["repo"])
    chat_format = m.get("chat_format") or "plain"
    m["chat_format"] = chat_format
    m.setdefault("text_template", formats.text_template(chat_format))
    m.setdefault("default_recipe", "lora" if m["source"] == "local" else "qlora")
    # Computed, never stored: the GPU each recipe needs at the defaults; min_gpu is QLoRA's (the least).
    m["gpu"] = {recipe: gpu_summary(m, recipe) for recipe in RECIPES}
    m["min_gpu"] = m["gpu"]["qlora"]["profile"] or A100
    m["min_gpu_label"] = gpu_label(m["min_gpu"])
    return m


def resolve(text: str, *, on_event: Callable = ev.ignore, hub_lookup: Optional[Callable] = None) -> dict:
    """What the user typed (catalog name, repo id or local folder) → a complete model dict.

    Unknown repo ids are accepted: the hub fills in facts when reachable (``verified: true``);
    offline it warns through ``on_event`` and marks the model ``verified: false``.
    """
    text = (text or "").strip()
    if not text:
        raise InputError("The model is empty.", field="--model", fix="pass --model with a catalog name, "
                         "a Hugging Face repo id (org/name) or a local model folder")
    path = Path(text).expanduser()
    looks_like_path = text.startswith((".", "/", "~")) or "\\" in text or (path.is_dir() and not lookup(text))
    if looks_like_path:
        from scaffolds.catalog import local

        return _complete({**local.inspect(path), "config": _shape_config(path)}, origin="local")
    found = lookup(text)
    if found:
        return found
    if not is_repo_id(text):
        raise InputError(f"{text!r} is not a model name: expected a catalog name, a Hugging Face repo id "
                         "(org/name: letters, digits, '-', '_', '.') or an existing local folder.",
                         field="--model", fix="run `ftstudio models` for the catalog, or check the spelling/path")
    if hub_lookup is None:
        from scaffolds.catalog import hub

        hub_lookup = hub.lookup
        if not hub.offline():
            on_event(ev.StepStarted("hub", f"Checking {text} on the Hugging Face Hub"))
    facts = hub_lookup(text)
    if facts is None:
        on_event(ev.Info(f"could not reach the Hugging Face Hub to check {text}: facts (size, licence, gated, "
                         "chat format) are guessed from the name; check them before training", level="warning"))
        facts = _guess(text)
    return _complete(facts, origin="hub")


_SHAPE_KEYS = ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
               "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings")


def _shape_config(folder: Path) -> dict:
    """The config.json numbers the GPU estimate uses (local.inspect has already checked the file)."""
    try:
        cfg = json.loads((folder.expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    return {k: text[k] for k in _SHAPE_KEYS if isinstance(text.get(k), (int, bool))}


def _guess(repo: str) -> dict:
    """Facts from the name alone (offline): size from '7B'/'500M', chat format from family words."""
    size = None
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", repo.split("/")[-1])
    if match:
        size = int(float(match.group(1)) * (1e9 if match.group(2).lower() == "b" else 1e6))
    return {"id": repo, "repo": repo, "params": size, "params_estimated": size is not None,
            "licence": None, "gated": None, "chat_format": formats.guess_from_name(repo),
            "architecture": None, "verified": False}
