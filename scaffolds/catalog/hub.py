"""Facts about any Hugging Face repo (gated, licence, size, pipeline, chat format), cached on disk.

``lookup(repo)`` returns a model dict, or None when the hub can't be asked (HF_HUB_OFFLINE=1, no
network, timeout: kept SHORT so `ftstudio new` never hangs offline). A cached answer (per-user
cache dir) is used offline whatever its age, and online while it is younger than CACHE_TTL_S.
A repo the hub says does not exist is an InputError.
"""
from __future__ import annotations

import os
import time
from typing import Any, Optional

from core.errors import InputError
from scaffolds.catalog import formats

CACHE_FILE = "hub-models.json"
CACHE_TTL_S = 7 * 86400
DEFAULT_TIMEOUT_S = 3.0


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline() -> bool:
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def _cache_path():
    from core.paths import cache_dir

    return cache_dir() / CACHE_FILE


def _read_cache() -> dict:
    from core.jsonio import read_json

    try:
        data = read_json(_cache_path())
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, InputError):
        return {}  # a corrupt cache is just a miss


def _write_cache(key: str, facts: dict) -> None:
    from core.jsonio import write_json

    data = _read_cache()
    data[key] = {"checked_at": time.time(), "facts": facts}
    try:
        write_json(_cache_path(), data)
    except OSError:
        pass  # caching is an optimisation


def _key(repo: str) -> str:
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return f"{endpoint.rstrip('/')}|{repo.lower()}"


def lookup(repo: str, *, timeout: Optional[float] = None) -> Optional[dict]:
    key = _key(repo)
    cached = _read_cache().get(key)
    fresh = cached and time.time() - cached.get("checked_at", 0) < CACHE_TTL_S
    if cached and (fresh or offline()):
        return dict(cached["facts"])
    if offline():
        return None
    facts = _fetch(repo, timeout if timeout is not None else float(os.environ.get("FTSTUDIO_HUB_TIMEOUT", DEFAULT_TIMEOUT_S)))
    if facts is None:
        return dict(cached["facts"]) if cached else None
    _write_cache(key, facts)
    return facts


def _fetch(repo: str, timeout: float) -> Optional[dict]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
    try:
        info = api.model_info(repo, timeout=timeout)
    except GatedRepoError:
        return None  # metadata of gated repos is public; if the hub refuses anyway, we just could not check
    except RepositoryNotFoundError:
        raise InputError(f"The Hugging Face Hub has no model {repo!r} (or it is private and HF_TOKEN can't see it).",
                         field="--model", fix="check the repo id's spelling, or set HF_TOKEN for a private repo") from None
    except Exception:  # noqa: BLE001 - offline, DNS, timeout, proxy, 5xx: all mean "could not check"
        return None
    return facts_from_info(info, repo)


def facts_from_info(info: Any, asked: str) -> dict:
    """A model dict from ``HfApi.model_info``'s answer."""
    config = info.config or {}
    tok = config.get("tokenizer_config") or {}
    chat_template = tok.get("chat_template")
    if isinstance(chat_template, list):  # [{"name": "default", "template": ...}, ...]
        chat_template = next((t.get("template") for t in chat_template if t.get("name") == "default"),
                             chat_template[0].get("template") if chat_template else None)
    licence = None
    card = getattr(info, "card_data", None)
    if card is not None:
        licence = getattr(card, "license", None) or (card.get("license") if hasattr(card, "get") else None)
    if not licence:
        licence = next((t.split(":", 1)[1] for t in (info.tags or []) if t.startswith("license:")), None)
    safetensors = getattr(info, "safetensors", None)
    params = getattr(safetensors, "total", None) if safetensors is not None else None
    repo = info.id or asked
    return {
        "id": repo,
        "repo": repo,
        "params": int(params) if params else None,
        "licence": licence,
        "gated": bool(info.gated) if info.gated is not None else False,
        "pipeline_tag": info.pipeline_tag,
        "architecture": (config.get("architectures") or [None])[0],
        "model_type": config.get("model_type"),
        "chat_format": formats.detect_from_chat_template(chat_template) if chat_template
        else formats.guess_from_name(repo),
        "verified": True,
    }
