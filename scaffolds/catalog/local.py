"""A model in a local folder (config.json + weights): architecture, size and chat format, read
without loading any weights (safetensors headers only)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

from core.errors import InputError
from scaffolds.catalog import formats

_WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")


def _bad(message: str, fix: str) -> InputError:
    return InputError(message, field="--model", fix=fix)


def count_safetensors_params(files: list[Path]) -> int:
    """Sum of tensor element counts from the JSON headers (8-byte little-endian length + JSON)."""
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ValueError(f"{f.name}: not a safetensors file")
            (size,) = struct.unpack("<Q", head)
            if size > 100 * 1024 * 1024:
                raise ValueError(f"{f.name}: header too large")
            header = json.loads(fh.read(size))
        if not isinstance(header, dict):
            raise ValueError(f"{f.name}: the header is not a JSON object")
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            shape = tensor.get("shape") if isinstance(tensor, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                      for d in shape):
                raise ValueError(f"{f.name}: tensor {name!r} has no valid shape")
            n = 1
            for dim in shape:
                n *= dim
            total += n
    return total


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"  # transformers >= 4.5x saves it on its own
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    tok = folder / "tokenizer_config.json"
    if tok.is_file():
        try:
            data = json.loads(tok.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            return None
        template = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(template, list):
            template = next((t.get("template") for t in template
                             if isinstance(t, dict) and t.get("name") == "default"), None)
        return template if isinstance(template, str) else None
    return None


def _check_folder_name(folder: Path) -> None:
    # The name becomes the model id and model-cache/local/<name>, rendered into JSON, bicep and shell
    # steps: escaping covers quotes, but control characters have no business in a path we generate.
    if any(ord(c) < 32 or ord(c) == 127 for c in folder.name):
        raise _bad(f"The model folder name {folder.name!r} contains control characters.",
                   "rename the folder (letters, digits, '.', '_', '-')")
    # Template markers would read as a template left unrendered in the README and notebooks.
    if any(mark in folder.name for mark in ("{{", "}}", "{%", "%}", "{#", "#}")):
        raise _bad(f"The model folder name {folder.name!r} contains template markers ({{{{, {{%, {{#).",
                   "rename the folder (letters, digits, '.', '_', '-')")


def inspect(path: Path) -> dict:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise _bad(f"Local model folder {str(folder)!r} does not exist.",
                   "pass an existing folder with config.json and weights, or a Hugging Face repo id")
    folder = folder.resolve()
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise _bad(f"{folder} has no config.json: not a Hugging Face model folder.",
                   "point --model at the folder save_pretrained() wrote")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise _bad(f"{config_file} is not valid JSON ({exc}).", "repair or re-save the model") from None
    except OSError as exc:
        raise _bad(f"Cannot read {config_file} ({exc.strerror}).", "check the folder's permissions") from None
    if not isinstance(config, dict):
        raise _bad(f"{config_file} is not a JSON object.", "point --model at the folder save_pretrained() wrote")
    _check_folder_name(folder)
    weights = sorted({w for g in _WEIGHT_GLOBS for w in folder.glob(g)})
    if not weights:
        raise _bad(f"{folder} has no weights (*.safetensors or pytorch_model*.bin).",
                   "point --model at the folder save_pretrained() wrote")
    safetensors = [w for w in weights if w.suffix == ".safetensors"]
    try:
        params = count_safetensors_params(safetensors) if safetensors else None
    except (ValueError, KeyError, OSError) as exc:
        raise _bad(f"Could not read the safetensors weights in {folder} ({exc}).", "repair or re-save the model") from None
    chat_format = formats.detect_from_chat_template(_chat_template(folder))
    ctx = config.get("max_position_embeddings")
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    return {
        "id": folder.name,
        "repo": None,
        "source": "local",
        "path": str(folder),
        "local_dir": f"model-cache/local/{folder.name}",
        "revision": None,
        "params": params,
        "licence": None,
        "gated": False,
        "architecture": arch,
        "model_type": model_type,
        "chat_format": chat_format,
        "context_length": ctx if isinstance(ctx, int) and not isinstance(ctx, bool) and ctx > 0 else None,
        # Never switched on for the user: the generated config says False and the generator warns.
        "trust_remote_code": False,
        "remote_code": bool(config.get("auto_map")),
        "verified": True,
    }
