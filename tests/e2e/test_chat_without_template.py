"""A base model without a chat template (issue 13 item 3): conversations train with the declared default
(ChatML), the adapter's tokenizer carries it, and the inference app serves the same rendering, stopping
at its end-of-turn text. The model is the tiny one, built offline with no template."""
from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import HELD_OUT, SYSTEM, chat_rows, new_local_project, run_script, tone_rows, write_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    from scaffolds import tinymodel

    work = tmp_path_factory.mktemp("base")
    corpus = write_jsonl(work / "corpus.jsonl", tone_rows() + [{"phrase": p, "tone": t} for p, t in HELD_OUT.items()])
    knowledge = write_jsonl(work / "knowledge.jsonl", tone_rows(50, seed=99))
    return tinymodel.build(work / "tiny-base", [corpus], [knowledge], chat_template=False)


@pytest.mark.timeout(900)
def test_conversations_train_and_serve_with_the_default_template(base_model, tmp_path):
    from fastapi.testclient import TestClient

    from tests.e2e.test_inference_app_inprocess import load

    project = new_local_project(tmp_path, "base", base_model, chat_rows())
    assert run_script(project, "finetuning/fetch_model.py").returncode == 0
    # ChatML's markers are plain text to this tokenizer: the conversations outgrow the 64 tokens set above
    refused = run_script(project, "finetuning/train.py", run_id="c0")
    assert refused.returncode == 2 and "raise training.source_max_len" in refused.stderr, refused.stderr[-2000:]
    config_path = project / "finetuning/train_config.json"
    config = json.loads(config_path.read_text())
    config["training"]["source_max_len"] = 256
    config_path.write_text(json.dumps(config))
    done = run_script(project, "finetuning/train.py", run_id="c1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the tokenizer has no chat template: conversations use the default ChatML" in done.stdout
    run = project / "outputs/c1"
    saved = (run / "chat_template.jinja").read_text() if (run / "chat_template.jinja").is_file() else \
        json.loads((run / "tokenizer_config.json").read_text()).get("chat_template", "")
    assert "<|im_start|>" in saved  # the adapter's tokenizer carries what it was trained with

    app_module = load("inference/app.py", "generated_inference_app_no_template")
    app = app_module.create_app(project / "finetuning/train_config.json", no_auth=True, ui=False)
    with TestClient(app) as client:
        assert app.state.server.wait_loaded(120), app.state.server.error
        assert app.state.server.prompts.answer_suffix == "<|im_end|>"  # the default's end of turn: where answers stop
        earlier = [{"role": "system", "content": SYSTEM},
                   {"role": "user", "content": "I adore my city every day"}, {"role": "assistant", "content": "happy"}]
        answers, finishes = {}, set()
        for phrase in HELD_OUT:
            reply = client.post("/v1/chat/completions", json={
                "messages": earlier + [{"role": "user", "content": phrase}], "temperature": 0, "max_tokens": 12}).json()
            answers[phrase] = reply["choices"][0]["message"]["content"].strip()
            finishes.add(reply["choices"][0]["finish_reason"])
    assert sum(answers[p] == tone for p, tone in HELD_OUT.items()) >= len(HELD_OUT) - 1, answers
    assert finishes == {"stop"} and not any("<|im" in a for a in answers.values())  # cut at the end-of-turn text
