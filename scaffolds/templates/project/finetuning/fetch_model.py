"""Put the base model into `model.local_dir` (the ONE model folder training and inference read).

    python3 finetuning/fetch_model.py --config finetuning/train_config.json [--force]

- ``model.source == "local"``: copies ``model.path`` into ``model.local_dir`` (hard links when
  both are on the same filesystem), only when the copy is missing or the source changed.
- ``model.source == "hub"``: ``huggingface_hub.snapshot_download(repo, revision, local_dir)``
  with ``HF_TOKEN`` from the environment, unless a complete copy of that repo and revision is
  already there, so re-runs are instant (no network at all).

A copy counts as complete only when this script finished it: it writes ``.fetch-complete.json``
last. Failures print one line and exit non-zero (2 for a bad config or missing input, 1 else).
Paths in the config are relative to the project root (the folder holding ``finetuning/``).
Standalone: only the standard library (and project_helpers.py beside it), plus huggingface_hub
for hub models.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # project_helpers.py, however this file is started
from project_helpers import project_root, read_json_object, resolve  # noqa: E402

MARKER = ".fetch-complete.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# Never needed by transformers: original checkpoints (Llama ships them twice) and other formats.
HUB_IGNORE = ["original/*", "*.gguf", "*.onnx", "*.onnx_data", "*.msgpack", "*.h5", "*.ot", "*.tflite", "*.mlmodel"]


class FetchError(Exception):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def say(message: str) -> None:
    print(message, flush=True)


# -- config ----------------------------------------------------------------------------------
def load_config(config_path: Path) -> tuple[dict, Path]:
    """The config's ``model`` section and the project root the config's paths are relative to."""
    try:
        config = read_json_object(config_path, missing_hint=" (pass --config finetuning/train_config.json)")
    except ValueError as exc:
        raise FetchError(str(exc), 2) from None
    model = config.get("model")
    if not isinstance(model, dict):
        raise FetchError(f"{config_path}: missing the 'model' section", 2)
    if not model.get("local_dir"):
        raise FetchError(f"{config_path}: model.local_dir is empty; set the folder the base model goes into", 2)
    source = model.get("source")
    if source not in ("hub", "local"):
        raise FetchError(f"{config_path}: model.source must be 'hub' or 'local', not {source!r}", 2)
    if source == "hub" and not model.get("repo"):
        raise FetchError(f"{config_path}: model.repo is empty; set the Hugging Face repo id (org/name)", 2)
    if source == "local" and not model.get("path"):
        raise FetchError(f"{config_path}: model.path is empty; set the absolute folder of the local model", 2)
    return model, project_root(config_path)


# -- completeness ----------------------------------------------------------------------------
def read_marker(local_dir: Path) -> dict | None:
    try:
        return json.loads((local_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_marker(local_dir: Path, data: dict) -> None:
    tmp = local_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, local_dir / MARKER)


def looks_like_model(folder: Path) -> bool:
    """config.json plus at least one weights file (top level, or listed by a shard index)."""
    if not (folder / "config.json").is_file():
        return False
    return any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file())


def has_all_shards(folder: Path) -> bool:
    for index in folder.glob("*.index.json"):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, ValueError):
            return False
        if any(not (folder / s).is_file() for s in shards):
            return False
    return True


# -- local source ----------------------------------------------------------------------------
def manifest(folder: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every file (hidden files and folders excluded)."""
    out: dict[str, list[int]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        st = path.stat()
        out[rel.as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def fetch_local(model: dict, root: Path, local_dir: Path, force: bool) -> str:
    source = resolve(root, model["path"])
    marker = read_marker(local_dir)
    if not source.is_dir():
        if marker and looks_like_model(local_dir):
            return f"{model['path']} is not here; using the complete copy already in {model['local_dir']}"
        raise FetchError(
            f"local model folder {source} does not exist; set model.path in finetuning/train_config.json "
            f"to a folder with config.json and the weights", 2)
    if not looks_like_model(source):
        raise FetchError(f"{source} is not a model folder (needs config.json and *.safetensors or *.bin weights)", 2)
    if source.resolve() == local_dir.resolve():
        return f"model already in place at {model['local_dir']}"
    files = manifest(source)
    if not force and marker and marker.get("source") == str(source.resolve()) and marker.get("files") == files \
            and has_all_shards(local_dir):
        return f"model already in {model['local_dir']} (up to date with {source})"

    # Copy into a sibling temp folder and swap it in, so a crash never leaves a half copy in place.
    tmp = local_dir.with_name(local_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for rel in files:
        src, dst = source / rel, tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)  # instant and no extra disk on the same filesystem
        except OSError:
            shutil.copy2(src, dst)
    write_marker(tmp, {"source": str(source.resolve()), "files": files, "fetched_at": _now()})
    if local_dir.exists():
        shutil.rmtree(local_dir)
    local_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, local_dir)
    return f"copied {len(files)} files from {source} into {model['local_dir']}"


# -- hub source ------------------------------------------------------------------------------
def fetch_hub(model: dict, local_dir: Path, force: bool) -> str:
    repo, revision = model["repo"], model.get("revision") or "main"
    marker = read_marker(local_dir)
    if not force and marker and marker.get("repo") == repo and marker.get("revision") == revision \
            and looks_like_model(local_dir) and has_all_shards(local_dir):
        return f"model {repo}@{revision} already complete in {model['local_dir']} (use --force to download again)"

    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub import errors as hf_errors
    except ImportError:
        raise FetchError("huggingface_hub is not installed; run `pip install -r setup/requirements.txt` first") from None

    token = os.environ.get("HF_TOKEN") or None
    licence_hint = (f"accept the licence at https://huggingface.co/{repo} and set HF_TOKEN with "
                    f"`ftstudio secret set HF_TOKEN`")
    try:
        ignore = list(HUB_IGNORE)
        files = HfApi().list_repo_files(repo, revision=revision, token=token)
        if any(f.endswith(".safetensors") for f in files):
            ignore += ["*.bin", "*.pt", "*.pth"]  # both formats are often published; one is enough
        say(f"downloading {repo}@{revision} into {model['local_dir']} ...")
        local_dir.mkdir(parents=True, exist_ok=True)
        path = snapshot_download(repo_id=repo, revision=revision, local_dir=str(local_dir), token=token,
                                 ignore_patterns=ignore)
    except hf_errors.GatedRepoError:
        if token:
            raise FetchError(f"{repo} is gated and HF_TOKEN has no access to it: {licence_hint}") from None
        raise FetchError(f"{repo} is gated and HF_TOKEN is not set: {licence_hint}") from None
    except hf_errors.RevisionNotFoundError:
        raise FetchError(f"revision {revision!r} of {repo} does not exist; fix model.revision", 2) from None
    except hf_errors.RepositoryNotFoundError:
        # The hub answers 401 for both private and missing repos without a token.
        hint = "" if token else f", or it is private/gated: {licence_hint}"
        raise FetchError(f"repository {repo} not found on the Hugging Face Hub (check model.repo{hint})") from None
    except hf_errors.OfflineModeIsEnabled:
        raise FetchError(f"{repo} is not in {model['local_dir']} and HF_HUB_OFFLINE is set; unset it to download, "
                         f"or use a local model (model.source 'local')") from None
    except hf_errors.LocalEntryNotFoundError:
        raise FetchError(f"cannot reach the Hugging Face Hub to download {repo} (offline?); check the network "
                         f"or HF_ENDPOINT, or use a local model") from None
    except hf_errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise FetchError(f"access to {repo} refused ({status}): {licence_hint}") from None
        raise FetchError(f"download of {repo} failed ({status or 'HTTP error'}): {_first_line(exc)}") from None
    except OSError as exc:  # network errors, disk full
        raise FetchError(f"download of {repo} failed: {_first_line(exc)}") from None

    folder = Path(path)
    if not looks_like_model(folder) or not has_all_shards(folder):
        raise FetchError(f"{repo}@{revision} downloaded but has no config.json or weights; is it a transformers model?")
    write_marker(folder, {"repo": repo, "revision": revision, "fetched_at": _now()})
    return f"downloaded {repo}@{revision} into {model['local_dir']}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Put the base model into model.local_dir.")
    parser.add_argument("--config", default="finetuning/train_config.json", help="the project's train_config.json")
    parser.add_argument("--force", action="store_true", help="copy/download again even when a complete copy exists")
    args = parser.parse_args(argv)
    try:
        model, root = load_config(Path(args.config))
        local_dir = resolve(root, model["local_dir"])
        if model["source"] == "local":
            message = fetch_local(model, root, local_dir, args.force)
        else:
            message = fetch_hub(model, local_dir, args.force)
    except FetchError as exc:
        print(f"fetch_model: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fetch_model: interrupted", file=sys.stderr, flush=True)
        return 130
    say(f"fetch_model: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
