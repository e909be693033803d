"""`ftstudio data check` through the real CLI (issue 13 item 6): the report's token statistics with a
tiny tokenizer built offline, truncation and the trained share, the first example with the trained
part marked, the `--json` keys, every bad-row kind as exit 2 naming its line with nothing written,
and the approximate count (labelled) when no tokenizer is available offline."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaffolds.tinymodel import CHAT_TEMPLATE
from tui.cli import main

SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
WORDS = "i love my dog today hate waiting happy angry why because be brief rain question answer".split()
REFUSES_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not "
                  "supported') }}{% endif %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")


def _tokenizer_folder(folder: Path, chat_template: str | None, context: int = 64) -> Path:
    """A word-level tokenizer (one token per word, specials whole, whitespace dropped): counts are exact."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(SPECIAL + WORDS)}, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", extra_special_tokens=SPECIAL[4:])
    if chat_template:
        tok.chat_template = chat_template
    tok.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": context}))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {"chat": str(_tokenizer_folder(root / "chat", CHAT_TEMPLATE)),
            "plain": str(_tokenizer_folder(root / "plain", None)),
            "refuses_system": str(_tokenizer_folder(root / "refuses", REFUSES_SYSTEM))}


def turns(*pairs: str) -> dict:
    roles = ("user", "assistant")
    return {"messages": [{"role": roles[i % 2], "content": text} for i, text in enumerate(pairs)]}


GOOD = [turns("I love my dog today", "happy"),  # 10 tokens, 2 trained (happy <|end|>)
        turns("I hate waiting", "angry"),  # 8 tokens, 2 trained
        turns("I love my dog today", "happy", "why", "because")]  # 16 tokens, 4 trained


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def check(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["data", "check", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


# -- the report ------------------------------------------------------------------------------------
def test_token_statistics_with_the_models_tokenizer(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, out, err = check(capsys, str(data), "--model", models["chat"], "--json")
    assert code == 0 and "error:" not in err
    doc = json.loads(out)
    assert doc["format"] == "messages" and doc["rows"] == 3 and doc["valid_rows"] == 3
    assert doc["tokens"]["p50"] == 10 and doc["tokens"]["p95"] == 16 and doc["tokens"]["max"] == 16
    assert doc["tokens"]["exact"] is True and doc["tokenizer"]["template"] == "the tokenizer's chat template"
    assert (doc["max_length"], doc["max_length_source"]) == (64, "the model's context length")
    assert doc["truncated"] == 0
    assert doc["trained_token_share"] == round(8 / 34, 4)
    assert doc["example"]["line"] == 1
    assert doc["example"]["prompt"] == "<|user|>\nI love my dog today<|end|>\n<|assistant|>\n"
    assert doc["example"]["trained"] == "happy<|end|>\n"
    assert doc["problems"] == [] and doc["trained_part"] == "assistant turns"


def test_truncation_at_the_sequence_length(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, out, _ = check(capsys, str(data), "--model", models["chat"], "--max-length", "9", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["truncated"] == 2 and doc["max_length_source"] == "--max-length"
    # training keeps the first 9 tokens: rows 1 and 3 keep 'happy' only (1 trained token), row 2 all 8 tokens (2)
    assert doc["trained_token_share"] == round(4 / 26, 4)


def test_human_report_marks_the_trained_part(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, out, err = check(capsys, str(data), "--model", models["chat"])
    assert code == 0
    assert "format messages (detected" in out and "p50 10  p95 16  max 16" in out
    assert "truncated 0 of 3 rows over 64 tokens" in out and "trained   23.5% of the tokens (assistant turns)" in out
    assert "<|assistant|>\n    ⟦happy<|end|>\n    ⟧" in out
    assert "warning: only 3 usable row(s)" in err


def test_a_tokenizer_without_chat_template_uses_the_declared_default(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD[:1])
    doc = json.loads(check(capsys, str(data), "--model", models["plain"], "--json")[1])
    assert doc["tokenizer"]["exact"] is True and "default ChatML" in doc["tokenizer"]["template"]
    assert doc["example"]["trained"] == "happy<|im_end|>\n"


def test_plain_prompt_completion_trains_the_completion_and_eos(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "question I love my dog answer", "completion": " happy"}])
    doc = json.loads(check(capsys, str(data), "--model", models["chat"], "--json")[1])
    assert doc["format"] == "prompt_completion" and doc["example"]["rendered_with"].startswith("the text as is")
    assert (doc["example"]["prompt"], doc["example"]["trained"]) == ("question I love my dog answer", " happy</s>")
    assert doc["tokens"]["max"] == 8 and doc["trained_token_share"] == round(2 / 8, 4)


def test_without_an_offline_tokenizer_the_count_is_labelled_approximate(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, out, err = check(capsys, str(data), "--model", "ftstudio-tests/never-downloaded", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["tokens"]["exact"] is False and doc["tokens"]["method"] == "approximate (characters / 4)"
    assert "not downloaded" in doc["tokenizer"]["note"] and "approximate" in err
    assert doc["max_length"] == 1024 and "unknown" in doc["max_length_source"]
    human = check(capsys, str(data), "--model", "ftstudio-tests/never-downloaded")[1]
    assert "(approximate)" in human and "tokenizer none, approximate" in human
    # a catalog model: its context length, even when its tokenizer is not here
    doc = json.loads(check(capsys, str(data), "--model", "microsoft/Phi-3-mini-4k-instruct", "--json")[1])
    assert doc["max_length"] == 4096


def test_json_keys(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", [*GOOD, turns("why")])
    code, out, _ = check(capsys, str(data), "--model", models["chat"], "--json")
    doc = json.loads(out)  # one document, bad rows included
    assert code == 2
    assert {"format", "rows", "tokens", "truncated", "trained_token_share", "problems", "example"} <= set(doc)
    assert {"p50", "p95", "max"} <= set(doc["tokens"])
    assert doc["problems"] == [{"line": 4, "problem": "has no assistant turn: nothing to train on",
                                "fix": "add the assistant's answer"}]
    assert doc["error"]["code"] == "InvalidInput" and "line 4" in doc["error"]["message"]


# -- bad rows: exit 2, the line, the fix, nothing written -------------------------------------------
BAD_ROWS = [
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                   {"role": "assistant", "content": "c"}]}, "two user turns in a row"),
    ({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]},
     "starts with an assistant turn"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
     "the assistant turn is empty"),
    ({"messages": [{"role": "user", "content": "a"}]}, "no assistant turn"),
    ({"messages": [{"role": "user", "content": {"text": "a"}}, {"role": "assistant", "content": "b"}]},
     "'content' is an object, not text"),
    ({"messages": [{"role": "bot", "content": "a"}, {"role": "assistant", "content": "b"}]}, "unknown role 'bot'"),
    ("{not json", "not valid JSON"),
]


@pytest.mark.parametrize("bad,words", BAD_ROWS)
def test_each_bad_row_kind_exits_2_naming_its_line(tmp_path, capsys, bad, words):
    data = write_jsonl(tmp_path / "d.jsonl", [GOOD[0], "", GOOD[1], bad, GOOD[2]])  # line 2 is blank
    before = files(tmp_path)
    code, out, err = check(capsys, str(data))
    assert code == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "1 bad row(s)" in errors[0] and "line 4" in errors[0] and words in errors[0]
    assert "Fix:" in errors[0]
    assert f"line 4: " in out and words in out  # the report lists it too
    assert files(tmp_path) == before  # nothing written


def test_several_bad_rows_are_counted_and_the_first_named(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [GOOD[0], BAD_ROWS[0][0], BAD_ROWS[3][0], BAD_ROWS[1][0]])
    code, out, err = check(capsys, str(data), "--json")
    assert code == 2 and "3 bad row(s)" in err and "the first, line 2" in err
    assert [p["line"] for p in json.loads(out)["problems"]] == [2, 3, 4]


def test_a_template_that_refuses_a_row_is_a_bad_row(tmp_path, capsys, models):
    row = {"messages": [{"role": "system", "content": "be brief"}, *GOOD[0]["messages"]]}
    data = write_jsonl(tmp_path / "d.jsonl", [GOOD[0], row])
    code, _, err = check(capsys, str(data), "--model", models["refuses_system"])
    assert code == 2 and "line 2" in err and "System role not supported" in err


# -- formats, sources, mapping through the CLI -----------------------------------------------------
def test_csv_with_a_column_mapping(tmp_path, capsys, models):
    data = tmp_path / "d.csv"
    data.write_text("question,answer\nI love my dog,happy\nI hate rain,\n", encoding="utf-8")
    code, out, err = check(capsys, str(data), "--model", models["chat"], "--map", "instruction=question",
                           "--map", "output=answer", "--json")
    doc = json.loads(out)
    assert code == 2 and doc["format"] == "alpaca" and doc["detection"]["mapping"] == {
        "instruction": "question", "output": "answer"}
    assert doc["problems"][0]["line"] == 2 and "output is empty" in doc["problems"][0]["problem"]
    assert "row 2" in err
    assert doc["example"]["trained"] == "happy<|end|>\n"


def test_format_override(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "i", "output": "o", "prompt": "p", "completion": "c"}])
    doc = json.loads(check(capsys, str(data), "--json")[1])
    assert doc["format"] == "prompt_completion"  # a tie (two columns each) goes to the earlier format
    doc = json.loads(check(capsys, str(data), "--format", "alpaca", "--json")[1])
    assert doc["format"] == "alpaca" and doc["detection"]["how"] == "--format"
    doc = json.loads(check(capsys, str(data), "--format", "prompt_completion", "--json")[1])
    assert doc["format"] == "prompt_completion" and doc["example"]["trained"] == "c"


def test_sharegpt_parquet_and_save_to_disk(tmp_path, capsys, models):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"conversations": [{"from": "human", "value": "I love my dog today"}, {"from": "gpt", "value": "happy"}]},
            {"conversations": [{"from": "human", "value": "I hate waiting"}, {"from": "robot", "value": "angry"}]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    code, out, err = check(capsys, str(tmp_path / "d.parquet"), "--model", models["chat"], "--json")
    doc = json.loads(out)
    assert code == 2 and doc["format"] == "sharegpt" and doc["source"] == "parquet"
    assert doc["tokens"]["max"] == 10 and "row 2" in err and "unknown role 'robot'" in err
    datasets.Dataset.from_list(rows[:1]).save_to_disk(str(tmp_path / "saved"))
    code, out, _ = check(capsys, str(tmp_path / "saved"), "--model", models["chat"], "--json")
    doc = json.loads(out)
    assert code == 0 and doc["source"] == "arrow" and doc["format"] == "sharegpt" and doc["tokens"]["p50"] == 10


def test_text_template_of_an_existing_project(tmp_path, capsys, models):
    data = write_jsonl(tmp_path / "d.jsonl", [{"phrase": "I love my dog", "tone": "happy"}, {"phrase": "x", "tone": ""}])
    template = "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>"
    code, out, err = check(capsys, str(data), "--model", models["chat"], "--text-template", template, "--json")
    doc = json.loads(out)
    assert doc["format"] == "text_template" and doc["example"]["trained"] == "happy<|end|></s>"
    assert code == 2 and "field 'tone' (the answer) is empty" in err  # training's own wording and "line 2" in err


@pytest.mark.parametrize("argv,field_words", [
    (["--format", "dpo"], "Unknown dataset format 'dpo'"),
    (["--max-length", "0"], "--max-length 0"),
    (["--map", "nonsense"], "is not FIELD=COLUMN"),
    (["--model", "./no/such/model"], "does not exist"),
    (["--model", "not a model!"], "is not a model name"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, field_words):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, out, err = check(capsys, str(data), *argv)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and field_words in errors[0], err


def test_a_folder_without_tokenizer_is_an_error(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, _, err = check(capsys, str(data), "--model", str(tmp_path / "m"))
    assert code == 2 and "Cannot load a tokenizer" in err


def test_undetectable_columns_and_missing_files(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"a": 1, "b": 2}])
    code, _, err = check(capsys, str(data))
    assert code == 2 and "cannot tell the dataset's format" in err and "--format" in err
    code, _, err = check(capsys, str(tmp_path / "nope.jsonl"))
    assert code == 2 and "does not exist" in err
    capsys.readouterr()
    assert main(["data"]) == 2 and "ftstudio data check" in capsys.readouterr().err


def test_a_projects_model_template_and_sequence_length_are_the_defaults(tmp_path, capsys, monkeypatch):
    import numpy as np
    from safetensors.numpy import save_file

    model = _tokenizer_folder(tmp_path / "tiny", CHAT_TEMPLATE, context=512)
    save_file({"embed.weight": np.zeros((len(SPECIAL + WORDS), 8), dtype=np.float32)}, str(model / "model.safetensors"))
    assert main(["new", "p", "--model", str(model), "--dir", str(tmp_path), "--target", "local", "--non-interactive",
                 "--set", "source_max_len=12", "--set", "text_template=<|user|>\n{phrase}<|end|>\n{tone}"]) == 0
    config = json.loads((tmp_path / "p/finetuning/train_config.json").read_text())
    data = write_jsonl(tmp_path / "d.jsonl", [{config_field: "happy" if i else "I love my dog"
                                               for i, config_field in enumerate(("phrase", "tone"))}])
    before = files(tmp_path / "p")
    code, out, _ = check(capsys, str(data), "--project", str(tmp_path / "p"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["tokenizer"]["exact"] is True
    assert doc["format"] == "text_template" and doc["detection"]["text_template"] == config["dataset"]["text_template"]
    assert (doc["max_length"], doc["max_length_source"]) == (12, "the project's source_max_len")
    assert doc["project"] == str((tmp_path / "p").resolve())
    monkeypatch.chdir(tmp_path / "p" / "finetuning")  # inside the project, it is found as every command finds it
    code, out, _ = check(capsys, str(data))
    assert code == 0 and "project   " in out and "over 12 tokens (the project's source_max_len)" in out
    assert files(tmp_path / "p") == before
    code, _, err = check(capsys, str(data), "--project", str(tmp_path))
    assert code == 2 and "not an ftstudio project" in err


def test_the_users_data_never_drives_the_terminal(tmp_path, capsys):
    red = "\x1b[31m"
    path = write_jsonl(tmp_path / f"d{red}.jsonl", [
        {"messages": [{"role": "user", "content": f"hi {red}there"}, {"role": "assistant", "content": f"ok{red}"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": f"b{red}"}]},
    ])
    code, out, err = check(capsys, str(path))
    assert code == 2 and "\x1b" not in out + err and "\\x1b[31m" in out


def test_a_hub_dataset_is_named_hf_id_and_its_load_errors_are_one_line(capsys, monkeypatch, tmp_path):
    from scaffolds.project_code import DataError, training_data

    hub_id = training_data.sources.hub_id
    assert hub_id("hf:tatsu-lab/alpaca") == ("tatsu-lab/alpaca", "train")
    assert hub_id("hf:org/name:test[:100]") == ("org/name", "test[:100]")
    assert hub_id("data/hf.jsonl") is None
    for bad in ("hf:", "hf:a/b/c", "hf:org/na me", "hf:org/name:spl it"):
        with pytest.raises(DataError, match="not a Hugging Face dataset id"):
            hub_id(bad)
    # offline (as in CI): the hub is not reached, and the failure is one line with the fix, exit 2
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, out, err = check(capsys, "hf:ftstudio-tests/no-such-dataset")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "Cannot load the dataset hf:ftstudio-tests/no-such-dataset split 'train'" in err and "HF_TOKEN" in err


def test_new_with_a_hub_dataset_leaves_it_to_the_job(tmp_path, capsys):
    assert main(["new", "hub", "--model", "microsoft/Phi-3-mini-4k-instruct", "--dir", str(tmp_path),
                 "--dataset", "hf:org/chats:train", "--non-interactive", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"] == {"train_file": "hf:org/chats:train", "rows": None, "format": "auto", "report": None}
    config = json.loads((tmp_path / "hub/finetuning/train_config.json").read_text())
    assert config["dataset"]["train_file"] == "hf:org/chats:train" and config["dataset"]["format"] == "auto"
    assert any("ftstudio data check hf:org/chats:train" in w for w in doc["warnings"])
    assert not (tmp_path / "hub/dataset/chats").exists()  # nothing copied: the job loads it
