"""Train and serve speak the same template (issue 13 items 3 and 4).

A conversation goes through training's rendering (``training_data.render.tokenize``, what train.py
feeds the trainer) and through the inference app's prompt building (``model_server.PromptBuilder``
then the tokenizer call ``ModelServer._prepare`` makes): the prompt serving sends for the third turn
is, token for token, what training saw before that turn's answer; the trained tokens are the
assistant turns with their end-of-turn marker and nothing else. Checked with the tiny model's
Phi-3-style template, with templates without ``{% generation %}`` markers (ChatML with a default
system prompt, Llama 3, a template that rewrites earlier turns), and with the declared default
for a tokenizer that has none.
"""
from __future__ import annotations

import importlib.util
import sys

import pytest

from scaffolds import tinymodel
from scaffolds.template_tree import template_root

CONVERSATION = [
    {"role": "system", "content": "Name the tone of the message in one word."},
    {"role": "user", "content": "I adore my city every day"}, {"role": "assistant", "content": "happy"},
    {"role": "user", "content": "I resent my job tonight"}, {"role": "assistant", "content": "angry"},
    {"role": "user", "content": "I miss my garden this week"}, {"role": "assistant", "content": "sad"},
]
# Real families' layouts, without {% generation %} markers (TRL's assistant_only_loss refuses these).
CHATML_WITH_DEFAULT_SYSTEM = (  # Qwen2.5's shape: a default system turn when the conversation has none
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are helpful.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
DROPS_OLD_ANSWERS = (  # rewrites earlier turns (as reasoning templates drop old thoughts): keeps the last answer only
    "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}<|assistant|>\n...<|end|>\n"
    "{% else %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
EXTRA_SPECIAL = ["<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


@pytest.fixture(scope="module")
def project_modules():
    """The generated project's training_data.render and inference/model_server, as the project imports them."""
    saved_path, saved = list(sys.path), {k: v for k, v in sys.modules.items()
                                         if k.split(".")[0] in ("training_data", "project_helpers", "model_server")}
    for name in saved:
        del sys.modules[name]
    sys.path[:0] = [str(template_root() / "finetuning"), str(template_root() / "inference")]
    try:
        import model_server
        from training_data import formats, render

        yield render, formats, model_server
    finally:
        sys.path[:] = saved_path
        for name in [k for k in sys.modules if k.split(".")[0] in ("training_data", "project_helpers", "model_server")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def tiny_tokenizer():
    words = [m["content"] for m in CONVERSATION]
    tokenizer = tinymodel.build_tokenizer(tinymodel.BASE_CORPUS.splitlines() + words)
    tokenizer.add_special_tokens({"additional_special_tokens": EXTRA_SPECIAL})
    return tokenizer


def example_of(formats, messages):
    row = {"messages": messages}
    return formats.normalise(1, row, formats.detect([(1, row)], name="chat.jsonl"))


def served_ids(model_server, tokenizer, messages) -> list[int]:
    """The ids the inference app generates from: its prompt, tokenized as ModelServer._prepare does."""
    prompt, special = model_server.PromptBuilder(None, tokenizer, "messages").build(messages)
    return tokenizer(prompt, add_special_tokens=special)["input_ids"]


@pytest.mark.parametrize("template", ["tiny", CHATML_WITH_DEFAULT_SYSTEM, LLAMA3, None],
                         ids=["phi3-style", "chatml-default-system", "llama3", "no-template"])
def test_a_three_turn_conversation_gives_the_same_ids_at_train_and_serve_time(project_modules, tiny_tokenizer,
                                                                               template):
    render, formats, model_server = project_modules
    tokenizer = tiny_tokenizer
    tokenizer.chat_template = tinymodel.CHAT_TEMPLATE if template == "tiny" else template
    assert render.ensure_template(tokenizer) == (template is None)  # train.py's step: the declared default
    ids, labels = render.tokenize(tokenizer, example_of(formats, CONVERSATION))  # what training trains on

    # serving the third turn: system prompt + two earlier exchanges + the question
    served = served_ids(model_server, tokenizer, CONVERSATION[:-1])
    assert ids[:len(served)] == served
    # ... and the model's answer at that point is what training taught there: the answer and its end of turn
    answer = [i for i, label in zip(ids[len(served):], labels[len(served):]) if label != -100]
    end = model_server.PromptBuilder(None, tokenizer, "messages").answer_suffix
    assert tokenizer.decode(answer).strip() == "sad" + end
    assert end in tokenizer.convert_ids_to_tokens(answer)  # one token: the model learns to emit it, serving stops at it

    # trained: exactly the three answers, each with its end-of-turn marker; prompts and turns' headers never
    trained = tokenizer.decode([i for i, label in zip(ids, labels) if label != -100])
    assert trained.replace("\n", "") == "".join(a["content"] + end for a in CONVERSATION if a["role"] == "assistant")


def test_the_end_of_turn_marker_is_a_stop_token_when_it_is_one_token(project_modules, tiny_tokenizer):
    render, _formats, model_server = project_modules
    tiny_tokenizer.chat_template = LLAMA3
    assert render.end_of_turn(tiny_tokenizer) == "<|eot_id|>"
    model = type("M", (), {"generation_config": type("G", (), {"eos_token_id": tiny_tokenizer.eos_token_id})()})()
    stops, text = model_server.stop_tokens(model, tiny_tokenizer, render.end_of_turn(tiny_tokenizer))
    assert tiny_tokenizer.convert_tokens_to_ids("<|eot_id|>") in stops and text == ""


def test_a_template_that_rewrites_earlier_turns_trains_on_each_answer_as_written(project_modules, tiny_tokenizer):
    render, formats, _model_server = project_modules
    tiny_tokenizer.chat_template = DROPS_OLD_ANSWERS
    segments = render.segments_of(tiny_tokenizer, example_of(formats, CONVERSATION))
    trained = [text for text, flag in segments if flag]
    assert trained[-1] == "sad<|end|>\n"  # the last answer as the template writes it, stop marker included
    assert "happy" not in "".join(text for text, _ in segments)  # the template dropped it: nothing to train there


def test_plain_rows_train_on_the_completion_and_eos_and_serve_the_prompt_alone(project_modules, tiny_tokenizer):
    render, formats, model_server = project_modules
    row = {"prompt": "I adore my city every day =>", "completion": " happy"}
    example = formats.normalise(1, row, formats.detect([(1, row)], name="pc.jsonl"))
    ids, labels = render.tokenize(tiny_tokenizer, example)
    builder = model_server.PromptBuilder(None, tiny_tokenizer, "prompt_completion", "plain")
    assert model_server.PromptBuilder(None, tiny_tokenizer, "prompt_completion").plain  # a run from before prompt_style
    assert not model_server.PromptBuilder(None, tiny_tokenizer, "prompt_completion", "chat").plain  # lists of messages
    prompt, special = builder.build([{"role": "user", "content": row["prompt"]}])
    served = tiny_tokenizer(prompt, add_special_tokens=special)["input_ids"]
    assert ids[:len(served)] == served and all(label == -100 for label in labels[:len(served)])
    assert labels[len(served):] == ids[len(served):] and ids[-1] == tiny_tokenizer.eos_token_id


def test_the_project_modules_are_the_ones_ftstudio_checks_datasets_with(project_modules):
    from scaffolds.project_code import training_data

    render, _formats, _model_server = project_modules
    loaded = importlib.util.find_spec("scaffolds._training_data.render")
    assert loaded is not None and open(render.__file__, "rb").read() == open(training_data.render.__file__, "rb").read()
