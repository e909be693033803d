"""inference/app.py built in-process (create_app + TestClient): QLoRA adapter on the CPU, base-only, prompts."""
from __future__ import annotations

import sys

import importlib.util

import pytest

from tests.e2e.conftest import HELD_OUT, TEMPLATES, TEXT_TEMPLATE

pytestmark = pytest.mark.e2e


def load(rel: str, name: str):
    spec = importlib.util.spec_from_file_location(name, TEMPLATES / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app_module():
    return load("inference/app.py", "generated_inference_app")


def test_inference_prompt_is_the_training_prompt(app_module):
    load("finetuning/train.py", "generated_train_for_prompts")
    train = sys.modules["training_data.text_template"]  # the split train.py uses
    for template, row, user_field in [
        (TEXT_TEMPLATE, {"phrase": "I love my dog", "tone": "happy"}, "phrase"),
        ("### Question: {q}\n### Answer: {a}\n", {"q": "why?", "a": "because"}, "q"),
    ]:
        prompt, _completion = train.split_row(train.parse_template(template), row)
        builder = app_module.PromptBuilder(template, tokenizer=None)
        assert builder.uses_template
        assert builder.build([{"role": "system", "content": "ignored"},
                              {"role": "user", "content": row[user_field]}]) == (prompt, True)
    # two input fields: no single slot for the user message -> the tokenizer's chat template
    assert not app_module.PromptBuilder("{a} {b} {c}", tokenizer=None).uses_template


def test_qlora_adapter_serves_on_cpu_and_base_only(app_module, qlora_project):
    from fastapi.testclient import TestClient

    config = qlora_project / "finetuning/train_config.json"
    app = app_module.create_app(config, api_key="k", ui=False)
    with TestClient(app) as c:
        assert app.state.server.wait_loaded(120), app.state.server.error
        health = c.get("/health").json()
        assert health["adapter"] == "q-1" and health["recipe"] == "qlora" and health["dtype"] == "float32"
        r = c.post("/v1/chat/completions", headers={"Authorization": "Bearer k"},
                   json={"messages": [{"role": "user", "content": "I love my dog today"}], "temperature": 0,
                         "max_tokens": 4})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1

    base = app_module.create_app(config, base_only=True, no_auth=True, ui=False)
    with TestClient(base) as c:
        assert base.state.server.wait_loaded(120)
        assert c.get("/health").json()["adapter"] is None
        assert c.get("/v1/models").json()["data"][0]["id"] == "tiny-llama"  # --no-auth: no key needed
        # the pre-trained base knows the tones' words, not the task: the fine-tune is what teaches it to answer
        answers = {p: c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": p}],
                                                            "temperature": 0, "max_tokens": 4}).json()
                   ["choices"][0]["message"]["content"].strip() for p in HELD_OUT}
        assert sum(answers[p].startswith(tone) for p, tone in HELD_OUT.items()) <= 1, answers


def test_create_app_refuses_no_key_without_no_auth(app_module, qlora_project):
    with pytest.raises(app_module.AppError, match="INFERENCE_API_KEY"):
        app_module.create_app(qlora_project / "finetuning/train_config.json", api_key=None, ui=False)


def test_ui_falls_back_to_a_page_when_gradio_is_missing(app_module, qlora_project, monkeypatch):
    import builtins

    from fastapi.testclient import TestClient

    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    app = app_module.create_app(qlora_project / "finetuning/train_config.json", api_key="k", load=False)
    page = TestClient(app).get("/")
    assert page.status_code == 200 and "gradio could not be imported" in page.text
    assert TestClient(app).get("/health").status_code == 503


def test_the_chat_ui_sends_the_system_prompt_and_the_history(app_module):
    import chat_ui  # beside app.py, on the path app.py set up
    history = [{"role": "user", "content": "I adore my city"}, {"role": "assistant", "content": "happy"},
               {"role": "user", "content": [{"type": "text", "text": "I resent my job"}]},
               {"role": "assistant", "content": "angry"}]
    assert chat_ui.conversation("I miss my garden", history, "Name the tone.") == [
        {"role": "system", "content": "Name the tone."},
        {"role": "user", "content": "I adore my city"}, {"role": "assistant", "content": "happy"},
        {"role": "user", "content": "I resent my job"}, {"role": "assistant", "content": "angry"},
        {"role": "user", "content": "I miss my garden"}]
    assert chat_ui.conversation("hi", None, "  ") == [{"role": "user", "content": "hi"}]
