"""The model catalog: curated entries (``models.json``), any Hugging Face repo id, or a local folder.

``resolve(text)`` turns what the user typed into ONE model dict (the generator's ``model``
context): ``id`` (display), ``repo``, ``source`` (hub | local), ``origin`` (catalog | hub |
local), ``local_dir`` (``model-cache/<org>/<name>``, derived from the repo id with its exact case:
the single place every script reads the model from), ``path`` (local source), ``chat_format``,
``text_template``, ``gated``, ``licence``, ``params``, ``min_gpu``, ``gpu_quota``, ``verified``...
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
from scaffolds.catalog import formats

T4 = "Consumption-GPU-NC8as-T4"
A100 = "Consumption-GPU-NC24-A100"
RECIPES = ("lora", "qlora", "olive")
# QLoRA with headroom at the default sequence length: see models.json notes.min_gpu.
T4_QLORA_MAX_PARAMS = 4.5e9
# LoRA keeps 16-bit base weights: ~2 bytes/param (+20 %) plus ~3 GB of activations/optimizer.
T4_USABLE_GB = 15.0

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


def gpu_profile_for(model: dict, recipe: str) -> str:
    """The smallest serverless GPU profile that fits ``model`` for ``recipe``."""
    qlora_min = model.get("min_gpu") or A100
    if recipe in ("qlora", "olive"):
        return qlora_min
    params = model.get("params")
    if qlora_min != T4 or not params:
        return A100
    need_gb = params * 2 * 1.2 / 1e9 + 3
    return T4 if need_gb <= T4_USABLE_GB else A100


def _min_gpu_for_params(params: Optional[int]) -> str:
    if params is None:
        return A100  # unknown size: the profile that fits the most
    return T4 if params <= T4_QLORA_MAX_PARAMS else A100


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
    m.setdefault("min_gpu", _min_gpu_for_params(m.get("params")))
    m["min_gpu_label"] = gpu_label(m["min_gpu"])
    if m["source"] == "hub":
        m["local_dir"] = local_dir_for(m["repo"])
    chat_format = m.get("chat_format") or "plain"
    m["chat_format"] = chat_format
    m.setdefault("text_template", formats.text_template(chat_format))
    m.setdefault("default_recipe", "lora" if m["source"] == "local" else "qlora")
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

        return _complete(local.inspect(path), origin="local")
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


def _guess(repo: str) -> dict:
    """Facts from the name alone (offline): size from '7B'/'500M', chat format from family words."""
    size = None
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", repo.split("/")[-1])
    if match:
        size = int(float(match.group(1)) * (1e9 if match.group(2).lower() == "b" else 1e6))
    return {"id": repo, "repo": repo, "params": size, "params_estimated": size is not None,
            "licence": None, "gated": None, "chat_format": formats.guess_from_name(repo),
            "architecture": None, "verified": False}
