"""e2e fixtures: a tiny model built offline, generated-style projects, and one shared trained run.

Everything runs on the CPU with the venv's python. Training and fetching run as SUBPROCESSES
from the project root, exactly as the backends run COMMANDS; the trained run is session-scoped
so the inference tests reuse it (the whole suite stays around a minute on 2 cores).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "scaffolds" / "templates" / "project"
PYTHON = sys.executable
# One torch thread per process: the tiny model gains nothing from two, and on a shared 2-core
# machine two threads per process thrash (measured: 200 steps 8.8 s with one thread, 21.7 s with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")
TEXT_TEMPLATE = "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>"
# The scripts training and serving run, with the modules they import (invoke_olive.py: olive tests add it).
PROJECT_SCRIPTS = ("finetuning/train.py", "finetuning/train_inputs.py", "finetuning/tracking.py",
                   "finetuning/evaluation.py",
                   "finetuning/fetch_model.py",
                   "finetuning/project_helpers.py",
                   *sorted(p.relative_to(TEMPLATES).as_posix() for p in (TEMPLATES / "finetuning/training_data").glob("*.py")),
                   *sorted(p.relative_to(TEMPLATES).as_posix() for p in (TEMPLATES / "inference").glob("*.py")))

# A toy tone-classification set: the keyword decides the tone, so a tiny model can learn it and
# generalise to phrases it never saw (HELD_OUT are excluded from training).
TONE_WORDS = {
    "happy": ["love", "enjoy", "adore"],
    "sad": ["miss", "lost", "mourn"],
    "angry": ["hate", "despise", "resent"],
    "calm": ["watched", "noticed", "checked"],
}
OBJECTS = ["dog", "car", "job", "garden", "phone", "city", "teacher", "team", "house", "friend"]
TIMES = ["today", "tonight", "this week", "again", "so much", "every day"]
HELD_OUT = {
    "I love my dog today": "happy",
    "I hate my phone tonight": "angry",
    "I miss my garden this week": "sad",
    "I checked my car again": "calm",
}


def tone_rows(n_per_tone: int = 50, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for tone, words in TONE_WORDS.items():
        phrases = [f"I {w} my {o} {t}" for w in words for o in OBJECTS for t in TIMES]
        phrases = [p for p in phrases if p not in HELD_OUT]
        rows += [{"phrase": p, "tone": tone} for p in rng.sample(phrases, n_per_tone)]
    rng.shuffle(rows)
    return rows


SYSTEM = "Name the tone of the message in one word."


def chat_rows(n_per_tone: int = 50, seed: int = 11) -> list[dict]:
    """The tone rows as conversations: a system prompt, then one to three user/assistant exchanges
    (earlier exchanges are other rows), the loss on every assistant turn."""
    rng = random.Random(seed)
    flat = tone_rows(n_per_tone, seed)
    rows = []
    for row in flat:
        messages = [{"role": "system", "content": SYSTEM}]
        for earlier in rng.sample(flat, rng.choice((0, 1, 2))):
            messages += [{"role": "user", "content": earlier["phrase"]},
                         {"role": "assistant", "content": earlier["tone"]}]
        messages += [{"role": "user", "content": row["phrase"]}, {"role": "assistant", "content": row["tone"]}]
        rows.append({"messages": messages})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_config(model_path: Path, *, recipe: str = "lora", max_steps: int = 200, lr: float = 1e-2,
                 save_steps: int = 100, logging_steps: int = 10, batch: int = 8) -> dict:
    """The contract's finetuning/train_config.json, as the generator renders it for a local model."""
    return {
        "schema_version": 1,
        "recipe": recipe,
        "model": {
            "id": "tiny-llama",
            "source": "local",
            "repo": None,
            "revision": None,
            "path": str(model_path),
            "local_dir": "model-cache/local/tiny-llama",
            "gated": False,
            "trust_remote_code": False,
        },
        "dataset": {"train_file": "dataset/dataset-classification.jsonl", "text_template": TEXT_TEMPLATE,
                    "eval_fraction": 0.0},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        "quantization": {"quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"},
        "training": {
            "learning_rate": lr, "num_train_epochs": 1, "max_steps": max_steps,
            "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1,
            "source_max_len": 64, "compute_dtype": "bfloat16",
            "logging_steps": logging_steps, "save_steps": save_steps, "save_total_limit": 2, "seed": 42,
            "warmup_steps": 0,
        },
        "output_root": "outputs",
    }


def make_project(root: Path, model_path: Path, *, rows: list[dict] | None = None, **config_kw) -> Path:
    """A project folder laid out like `ftstudio new` renders it (the parts training/serving use)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in PROJECT_SCRIPTS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES / rel, root / rel)
    write_jsonl(root / "dataset/dataset-classification.jsonl", rows if rows is not None else tone_rows())
    config = train_config(model_path, **config_kw)
    (root / "finetuning/train_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return root


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    env.pop("RUN_ID", None)
    env.update(extra)
    return env


def stop_server(proc: subprocess.Popen, grace: float = 15) -> None:
    """End a server subprocess: SIGTERM, then SIGKILL when it has not exited `grace` seconds later."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def tiny_run_settings(*extra: str) -> list[str]:
    """`ftstudio new` arguments (--set NAME=VALUE ...) for a run the tiny model learns the tones
    from, as train_config() above; `extra` settings after them."""
    settings = ("max_steps=200", "learning_rate=0.01", "per_device_train_batch_size=8", "source_max_len=64",
                "logging_steps=10", "lora_r=8", "lora_alpha=16", "lora_dropout=0", "warmup_steps=0", *extra)
    return [arg for setting in settings for arg in ("--set", setting)]


def ftstudio(*argv: str, local_python: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m tui ARGV` as a user runs it, offline. Local jobs run in the venv the backend builds
    from setup/requirements.txt, or with the interpreter `local_python` (FTSTUDIO_LOCAL_PYTHON)."""
    env = {k: v for k, v in os.environ.items() if k != "FTSTUDIO_LOCAL_PYTHON"}
    if local_python:
        env["FTSTUDIO_LOCAL_PYTHON"] = local_python
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.run([PYTHON, "-m", "tui", *argv], env=env, capture_output=True, text=True, timeout=timeout)


def new_local_project(parent: Path, name: str, model: Path, rows: list[dict]) -> Path:
    """`ftstudio new NAME --target local` on a JSONL of `rows`, with the tiny run's settings; its folder."""
    dataset = write_jsonl(parent / f"{name}.jsonl", rows)
    made = ftstudio("new", name, "--model", str(model), "--target", "local", "--dir", str(parent),
                    "--dataset", str(dataset), *tiny_run_settings(), "--non-interactive")
    assert made.returncode == 0, made.stderr
    return parent / name


def assert_serves_the_run(url: str, key: str, run_id: str, *, history: bool = False) -> None:
    """The OpenAI-compatible server at `url` serves the adapter of `run_id`, and every HELD_OUT
    phrase (never seen in training) but at most one gets its tone; with `history`, each is asked as
    the third turn of a conversation with a system prompt and two earlier exchanges."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
    model = client.models.list().data[0].id
    assert run_id in model  # the adapter of the run we just trained
    answers = {}
    earlier = [{"role": "system", "content": SYSTEM},
               {"role": "user", "content": "I adore my city every day"}, {"role": "assistant", "content": "happy"},
               {"role": "user", "content": "I resent my job tonight"}, {"role": "assistant", "content": "angry"}]
    for phrase in HELD_OUT:
        messages = (earlier if history else []) + [{"role": "user", "content": phrase}]
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=5, temperature=0)
        answers[phrase] = reply.choices[0].message.content.strip()
    right = sum(answers[p].startswith(tone) for p, tone in HELD_OUT.items())
    assert right >= len(HELD_OUT) - 1, answers


def trained(project: Path, run_id: str) -> Path:
    """`project` after fetch_model.py and train.py (run `run_id`), train.py's output kept in
    train-<run_id>.log."""
    fetched = run_script(project, "finetuning/fetch_model.py")
    assert fetched.returncode == 0, fetched.stderr
    done = run_script(project, "finetuning/train.py", run_id=run_id)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    project.joinpath(f"train-{run_id}.log").write_text(done.stdout, encoding="utf-8")
    return project


def run_script(project: Path, script: str, *, run_id: str | None = None, timeout: float = 300,
               **env) -> subprocess.CompletedProcess:
    extra = dict(env)
    if run_id:
        extra["RUN_ID"] = run_id
    return subprocess.run(
        [PYTHON, script, "--config", "finetuning/train_config.json"], cwd=project, env=subprocess_env(**extra),
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny chat model, built offline once per session (tokenizer knows the dataset's words; the base
    is pre-trained on the tones' keywords)."""
    from scaffolds import tinymodel

    work = tmp_path_factory.mktemp("tiny")
    corpus = write_jsonl(work / "corpus.jsonl", tone_rows() + [{"phrase": p, "tone": t} for p, t in HELD_OUT.items()])
    # the base first learns which words carry which tone, in plain text and from other phrases than the
    # fine-tunes' (never HELD_OUT): a fine-tune then learns its format, as with a real base (tinymodel.pretrain)
    knowledge = write_jsonl(work / "knowledge.jsonl", tone_rows(50, seed=99))
    return tinymodel.build(work / "tiny-llama", [corpus], [knowledge])


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory, tiny_model) -> Path:
    """One project trained for 200 steps at lr 1e-2 (enough for the tiny model to learn the tones)."""
    return trained(make_project(tmp_path_factory.mktemp("proj") / "tones", tiny_model), "run-1")


@pytest.fixture(scope="session")
def qlora_project(tmp_path_factory, tiny_model) -> Path:
    """A QLoRA run on the CPU (bitsandbytes 4-bit base), 20 steps."""
    return trained(make_project(tmp_path_factory.mktemp("proj") / "tones-q", tiny_model, recipe="qlora",
                                max_steps=20, save_steps=10, logging_steps=5), "q-1")
