"""What a project needs before training: exact pins, the tiny model, and fetch_model.py."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import jinja2
import pytest

from scaffolds import pins, tinymodel
from tests.e2e.conftest import TEMPLATES, make_project, run_script

pytestmark = pytest.mark.e2e


def render_requirements(recipe: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string((TEMPLATES / "setup/requirements.txt.j2").read_text(encoding="utf-8"))
    return template.render(recipe=recipe, pins=pins.PINS)


@pytest.mark.parametrize("recipe", pins.RECIPES)
def test_requirements_render_exact_pins_per_recipe(recipe):
    lines = [ln.strip() for ln in render_requirements(recipe).splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == pins.requirements(recipe)
    assert lines[0] == "torch==2.13.0"
    assert all("==" in ln for ln in lines)  # nothing unpinned
    assert ("bitsandbytes==0.50.2" in lines) == (recipe == "qlora")
    assert ("onnxruntime-genai==0.14.1" in lines) == (recipe == "olive")
    # one file for training AND serving: the serving stack is always there
    assert {"fastapi", "uvicorn", "gradio", "transformers", "peft"} <= {ln.split("==")[0] for ln in lines}


def test_pins_are_what_the_e2e_suite_runs_on():
    for name in (*pins.TRAINING, *pins.SERVING, *pins.QLORA):
        installed = version(name).split("+")[0]  # torch 2.13.0+cpu here, +cuXXX in the GPU image
        assert installed == pins.PINS[name], f"{name}: pinned {pins.PINS[name]}, venv has {installed}"
    with pytest.raises(ValueError):
        pins.packages("torchtune")


def test_tiny_model_is_small_deterministic_and_chat_ready(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"phrase": "I love my dog", "tone": "happy"}\n')
    a = tinymodel.build(tmp_path / "a", [corpus])
    b = tinymodel.build(tmp_path / "b", [corpus])
    digest = lambda folder: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}  # noqa: E731
    assert digest(a) == digest(b)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(digest(a))

    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model)
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("llama", 64, 2)
    assert tinymodel._count_params(tiny_model) < 150_000
    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids = tok("<|user|>\nI love my dog today<|end|>")["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[0] == "<|user|>" and ids[-1] == tok.convert_tokens_to_ids("<|end|>")
    assert "{% generation %}" in tok.chat_template
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                   tokenize=False) == "<|user|>\nhi<|end|>\n<|assistant|>\n"
    assert config.eos_token_id == [tok.eos_token_id, tok.convert_tokens_to_ids("<|end|>")]


def test_tiny_model_cli_rejects_a_missing_corpus(tmp_path, capsys):
    assert tinymodel.main([str(tmp_path / "m"), "--corpus", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_fetch_local_copies_once_and_again_when_the_source_changes(tmp_path, tiny_model):
    source = tmp_path / "src"
    source.mkdir()
    for f in tiny_model.iterdir():
        (source / f.name).write_bytes(f.read_bytes())
    project = make_project(tmp_path / "p", source)
    first = run_script(project, "finetuning/fetch_model.py")
    assert first.returncode == 0, first.stderr
    local = project / "model-cache/local/tiny-llama"
    assert "copied" in first.stdout and (local / "model.safetensors").is_file() and (local / "config.json").is_file()
    again = run_script(project, "finetuning/fetch_model.py")
    assert again.returncode == 0 and "already" in again.stdout

    (source / "generation_config.json").write_text(json.dumps({"max_new_tokens": 7}))  # the source changed
    changed = run_script(project, "finetuning/fetch_model.py")
    assert changed.returncode == 0 and "copied" in changed.stdout
    assert json.loads((local / "generation_config.json").read_text()) == {"max_new_tokens": 7}
    assert not local.with_name("tiny-llama.partial").exists()


def test_fetch_local_missing_folder_exits_2(tmp_path, tiny_model):
    project = make_project(tmp_path / "p", tmp_path / "does-not-exist")
    res = run_script(project, "finetuning/fetch_model.py")
    assert res.returncode == 2
    assert "does-not-exist does not exist" in res.stderr and "model.path" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def hub_project(tmp_path: Path, tiny_model: Path, repo: str = "acme/gated-model") -> Path:
    project = make_project(tmp_path / "p", tiny_model)
    config = json.loads((project / "finetuning/train_config.json").read_text())
    config["model"].update(source="hub", repo=repo, revision="main", path=None, local_dir=f"model-cache/{repo}",
                           gated=True)
    (project / "finetuning/train_config.json").write_text(json.dumps(config))
    return project


class FakeHub:
    """A loopback stand-in for huggingface.co that refuses every request as the hub does for gated repos."""

    def __init__(self, status: int):
        outer = self
        self.auth_headers: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self):
                outer.auth_headers.append(self.headers.get("authorization"))
                body = b'{"error": "Access to model acme/gated-model is restricted."}'
                self.send_response(status)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("X-Error-Message", "Access to model acme/gated-model is restricted.")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = _refuse

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("token, status", [(None, 401), ("hf_secret_token_value", 403)])
def test_fetch_hub_gated_repo_says_how_to_get_access(tmp_path, tiny_model, token, status):
    hub = FakeHub(status)
    try:
        extra = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_ETAG_TIMEOUT": "5"}
        if token:
            extra["HF_TOKEN"] = token
        res = run_script(hub_project(tmp_path, tiny_model), "finetuning/fetch_model.py", **extra)
    finally:
        hub.close()
    assert res.returncode == 1
    line = res.stderr.strip().splitlines()[-1]
    assert "accept the licence at https://huggingface.co/acme/gated-model" in line
    assert "ftstudio secret set HF_TOKEN" in line
    assert ("HF_TOKEN is not set" in line) == (token is None)
    assert hub.auth_headers and (hub.auth_headers[0] == f"Bearer {token}" if token else hub.auth_headers[0] is None)
    assert "hf_secret_token_value" not in res.stdout + res.stderr  # the token never reaches the log


def test_fetch_hub_offline_and_complete_copy(tmp_path, tiny_model):
    project = hub_project(tmp_path, tiny_model, repo="acme/open-model")
    offline = run_script(project, "finetuning/fetch_model.py", HF_HUB_OFFLINE="1")
    assert offline.returncode == 1 and "HF_HUB_OFFLINE" in offline.stderr

    # A complete copy of that repo+revision is reused without touching the network (dead endpoint).
    local = project / "model-cache/acme/open-model"
    local.mkdir(parents=True)
    for f in tiny_model.iterdir():
        (local / f.name).write_bytes(f.read_bytes())
    (local / ".fetch-complete.json").write_text(json.dumps({"repo": "acme/open-model", "revision": "main"}))
    reuse = run_script(project, "finetuning/fetch_model.py", HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    assert reuse.returncode == 0, reuse.stderr
    assert "already complete" in reuse.stdout
