"""Exact package pins for generated projects: one source of truth for training AND serving.

AI Toolkit pinned different versions for fine-tuning and inference (aitk-reference §1.10);
here `setup/requirements.txt` is rendered from these pins once and used by both. The training
and serving versions are the ones the e2e suite runs against (recipes-reference §2/§8), and
the serving ones match what is installed in the project's own venv.

Template context: the generator passes ``PINS`` as ``pins``; ``setup/requirements.txt.j2``
reads ``pins['name']``. ``requirements(recipe)`` gives the same list as Python, for tests and
for the local backend.
"""
from __future__ import annotations

# torch: the GPU image already ships a CUDA build of this exact version (e.g. 2.13.0+cu128);
# `torch==2.13.0` is satisfied by it (PEP 440 ignores the local label), so pip keeps it and
# never pulls a second multi-GB wheel. An unpinned torch resolves to a different CUDA build.
PINS: dict[str, str] = {
    "torch": "2.13.0",
    "transformers": "5.23.0",
    "peft": "0.21.2",
    "trl": "1.16.0",
    "datasets": "5.2.0",
    "accelerate": "1.15.0",
    "tokenizers": "0.23.3",
    "safetensors": "0.8.0",
    "huggingface-hub": "2.4.0",
    # experiment tracking (finetuning/tracking.py): MLflow's client and its SQLite store. mlflow-skinny:
    # the full package adds a server and a UI the job does not need (and pins pyarrow<26).
    "mlflow-skinny": "3.17.2",
    "sqlalchemy": "2.1.9",
    "alembic": "1.20.1",
    # serving (inference/app.py)
    "fastapi": "0.165.0",
    "starlette": "1.10.0",
    "uvicorn": "0.54.0",
    "gradio": "6.31.0",
    # qlora
    "bitsandbytes": "0.50.2",
    # olive (optional ONNX int4 export); onnxruntime-genai newer than 0.14.1 breaks ModelBuilder
    # with olive-ai 0.13.0, and olive needs `requests` it does not declare (recipes-reference §4).
    "olive-ai": "0.13.0",
    "requests": "2.34.2",
    "onnxruntime-genai": "0.14.1",
    "onnxruntime": "1.32.0",
}

TRAINING = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers", "safetensors",
            "huggingface-hub")
TRACKING = ("mlflow-skinny", "sqlalchemy", "alembic")
SERVING = ("fastapi", "starlette", "uvicorn", "gradio")
QLORA = ("bitsandbytes",)
OLIVE = ("olive-ai", "requests", "onnxruntime-genai", "onnxruntime")
RECIPES = ("lora", "qlora", "olive")


def pin(name: str) -> str:
    """``name==version`` for one package of ``PINS`` (KeyError for an unknown one: no unpinned installs)."""
    return f"{name}=={PINS[name]}"


def packages(recipe: str) -> list[str]:
    """The package names a project of ``recipe`` installs, in install order (torch first)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    names = [*TRAINING, *TRACKING, *SERVING]
    if recipe == "qlora":
        names += QLORA
    if recipe == "olive":
        names += OLIVE
    return names


def requirements(recipe: str) -> list[str]:
    """``name==version`` lines, exactly what ``setup/requirements.txt.j2`` renders (minus comments)."""
    return [pin(name) for name in packages(recipe)]
