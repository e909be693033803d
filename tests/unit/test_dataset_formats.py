"""Dataset formats and sources (issue 13 items 1 and 2): each format detected from the first rows'
keys and normalised to the one shape (turns with roles, the trained part marked), the override and
the column mapping, the most specific format on ambiguous rows, and every file source (JSONL, JSON
array, CSV, Parquet, a save_to_disk folder) with the numbers a person finds the rows by."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaffolds.project_code import DataError, training_data

formats, sources = training_data.formats, training_data.sources
Example, Problem = training_data.shape.Example, training_data.shape.Problem
InputError = DataError  # the project's package raises DataError; ftstudio shows it as an InputError

USER_ASSISTANT = [{"role": "user", "content": "I love my dog"}, {"role": "assistant", "content": "happy"}]


def detect(*rows, **kw):
    return formats.detect([(i + 1, r) for i, r in enumerate(rows)], name="data.jsonl", **kw)


def normalised(row, **kw):
    return formats.normalise(1, row, detect(row, **kw))


def shape(example: Example) -> list[tuple[str, str, bool]]:
    return [(t.role, t.content, t.trained) for t in example.turns]


# -- detection and normalisation, one format at a time ---------------------------------------------
def test_messages_multi_turn_with_a_system_turn():
    row = {"messages": [{"role": "system", "content": "Be brief."}, *USER_ASSISTANT,
                        {"role": "user", "content": "why?"}, {"role": "assistant", "content": "dogs"}]}
    assert detect(row).format == "messages"
    ex = normalised(row)
    assert ex.chat is True
    assert shape(ex) == [("system", "Be brief.", False), ("user", "I love my dog", False), ("assistant", "happy", True),
                         ("user", "why?", False), ("assistant", "dogs", True)]


def test_tool_calls_and_tool_results_are_passed_through():
    call = [{"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}]
    row = {"messages": [{"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": None, "tool_calls": call},
                        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
                        {"role": "assistant", "content": "It is sunny."}],
           "tools": [{"type": "function", "function": {"name": "weather"}}]}
    ex = normalised(row)
    assert isinstance(ex, Example), ex
    assert [t.role for t in ex.turns] == ["user", "assistant", "tool", "assistant"]
    assert ex.turns[1].extra == {"tool_calls": call} and ex.turns[2].extra == {"tool_call_id": "c1"}
    assert [t.trained for t in ex.turns] == [False, True, False, True]
    assert ex.tools == row["tools"] and ex.messages[1]["tool_calls"] == call


def test_sharegpt_conversations_with_a_system_column():
    row = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}], "system": "Be kind."}
    d = detect(row)
    assert (d.format, d.column) == ("sharegpt", "conversations")
    assert shape(normalised(row)) == [("system", "Be kind.", False), ("user", "hi", False), ("assistant", "hello", True)]


def test_prompt_completion_plain_is_text_as_is():
    row = {"prompt": "Q: 2+2?\nA:", "completion": " 4"}
    assert detect(row).format == "prompt_completion"
    ex = normalised(row)
    assert ex.chat is False and shape(ex) == [("user", "Q: 2+2?\nA:", False), ("assistant", " 4", True)]


def test_prompt_completion_conversational_trains_the_completion_only():
    row = {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
           "completion": [{"role": "assistant", "content": "a"}]}
    ex = normalised(row)
    assert ex.chat is True and shape(ex) == [("system", "s", False), ("user", "q", False), ("assistant", "a", True)]


def test_alpaca_instruction_input_output():
    row = {"instruction": "Classify the tone.", "input": "I love my dog", "output": "happy", "system": "Be brief."}
    d = detect(row)
    assert d.format == "alpaca" and "'input'" in d.reason
    assert shape(normalised(row)) == [("system", "Be brief.", False),
                                      ("user", "Classify the tone.\nI love my dog", False), ("assistant", "happy", True)]
    assert shape(normalised({"instruction": "Say hi", "output": "hi"}))[0] == ("user", "Say hi", False)


def test_text_template_columns_of_an_existing_project():
    template = "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>"
    row = {"phrase": "I love my dog", "tone": "happy"}
    with pytest.raises(InputError) as exc:
        detect(row)  # without the template, flat columns are no known format
    assert exc.value.field == "--format" and "--map" in exc.value.fix
    d = detect(row, text_template=template)
    assert d.format == "text_template"
    ex = formats.normalise(1, row, d)
    assert ex.chat is False
    assert shape(ex) == [("user", "<|user|>\nI love my dog<|end|>\n<|assistant|>\n", False),
                         ("assistant", "happy<|end|>", True)]


def test_conversations_of_role_content_turns_are_messages():
    d = detect({"conversations": USER_ASSISTANT})
    assert (d.format, d.column) == ("messages", "conversations")


# -- ambiguity, override, mapping ---------------------------------------------------------------------
def test_ambiguous_rows_get_the_most_specific_format():
    both = {"instruction": "i", "input": "x", "output": "o", "prompt": "p", "completion": "c"}
    assert detect(both).format == "alpaca"  # explains three columns, prompt/completion two
    chat_and_pc = {"messages": USER_ASSISTANT, "prompt": "p", "completion": "c"}
    assert detect(chat_and_pc).format == "prompt_completion"
    # a tie between the project's text_template and another format goes to the template
    assert detect({"instruction": "i", "output": "o"}, text_template="{instruction} => {output}").format == "text_template"
    # keys common to the first rows decide: an optional column missing from some rows does not mislead
    assert detect({"instruction": "i", "output": "o", "prompt": "p", "completion": "c"},
                  {"instruction": "i", "output": "o"}).format == "alpaca"


def test_the_override_wins_and_takes_aliases():
    both = {"instruction": "i", "input": "x", "output": "o", "prompt": "p", "completion": "c"}
    d = detect(both, dataset_format="prompt_completion")
    assert (d.format, d.how) == ("prompt_completion", "--format")
    assert detect({"messages": USER_ASSISTANT}, dataset_format="chat").format == "messages"
    with pytest.raises(InputError) as exc:
        detect(both, dataset_format="dpo")
    assert exc.value.field == "--format" and "alpaca" in exc.value.fix
    with pytest.raises(InputError) as exc:
        detect(both, dataset_format="text_template")
    assert exc.value.field == "--text-template"


def test_an_override_that_does_not_fit_names_the_missing_column():
    row = {"prompt": "p", "completion": "c"}
    problem = formats.normalise(7, row, detect(row, dataset_format="alpaca"))
    assert isinstance(problem, Problem) and problem.number == 7 and "'instruction'" in problem.problem


def test_column_mapping_renames_the_datasets_columns():
    row = {"question": "2+2?", "answer": "4", "id": 3}
    d = detect(row, mapping={"instruction": "question", "output": "answer"})
    assert d.format == "alpaca" and d.mapping == {"instruction": "question", "output": "answer"}
    assert shape(formats.normalise(1, row, d)) == [("user", "2+2?", False), ("assistant", "4", True)]
    # turn keys too: a list column of {speaker, text}
    chat = {"dialog": [{"speaker": "user", "text": "hi"}, {"speaker": "assistant", "text": "hello"}]}
    d = detect(chat, mapping={"messages": "dialog", "role": "speaker", "content": "text"})
    assert d.format == "messages" and shape(formats.normalise(1, chat, d))[1] == ("assistant", "hello", True)
    # and the template's fields
    d = detect({"text": "I love it", "label": "happy"}, text_template="{phrase} => {tone}",
               mapping={"phrase": "text", "tone": "label"})
    assert d.format == "text_template"


@pytest.mark.parametrize("pairs,words", [
    (["instruction"], "FIELD=COLUMN"),
    (["colour=question"], "not a field"),
    (["instruction=nope"], "no column 'nope'"),
    (["output=a", "output=b"], "twice"),
])
def test_a_bad_mapping_is_an_input_error(pairs, words):
    with pytest.raises(InputError) as exc:
        detect({"question": "q", "a": "x"}, mapping=formats.parse_mapping(pairs))
    assert exc.value.field == "--map" and words in exc.value.message


# -- bad rows --------------------------------------------------------------------------------------
@pytest.mark.parametrize("messages,words", [
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
     "two user turns in a row (messages turns 1 and 2)"),
    ([{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}], "starts with an assistant turn"),
    ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], "starts with an assistant turn"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}],
     "two assistant turns in a row"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}], "the assistant turn is empty"),
    ([{"role": "user", "content": "a"}, {"role": "assistant"}], "the assistant turn is empty"),
    ([{"role": "user", "content": "a"}], "no assistant turn"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
     "ends with a user turn that has no answer"),
    ([{"role": "user", "content": 42}, {"role": "assistant", "content": "b"}], "'content' is a number, not text"),
    ([{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "b"}],
     "'content' is a list, not text"),
    ([{"role": "human", "content": "a"}, {"role": "assistant", "content": "b"}], "unknown role 'human'"),
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}], "follows no assistant tool call"),
    ([*USER_ASSISTANT, {"role": "system", "content": "late"}], "system turn after the conversation started"),
    ([], "empty list"),
    ("hello", "not a list of turns"),
])
def test_each_bad_row_kind_is_named(messages, words):
    problem = formats.normalise(3, {"messages": messages}, detect({"messages": USER_ASSISTANT}))
    assert isinstance(problem, Problem), problem
    assert words in problem.problem and problem.fix


@pytest.mark.parametrize("row,words", [
    ({"prompt": "p", "completion": ""}, "completion is empty"),
    ({"prompt": "p", "completion": 3}, "'completion' is a number"),
    ({"prompt": "p", "completion": [{"role": "assistant", "content": "c"}]}, "prompt is text and the completion a list"),
    ({"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "user", "content": "c"}]},
     "completion turn 1 is a user turn"),
])
def test_bad_prompt_completion_rows(row, words):
    problem = formats.normalise(2, row, detect({"prompt": "p", "completion": "c"}))
    assert isinstance(problem, Problem) and words in problem.problem, problem


@pytest.mark.parametrize("row,words", [
    ({"instruction": "i", "output": ""}, "output is empty"),
    ({"instruction": "i", "output": 4}, "'output' is a number"),
    ({"instruction": "", "input": "", "output": "o"}, "both empty"),
])
def test_bad_alpaca_rows(row, words):
    problem = formats.normalise(2, row, detect({"instruction": "i", "output": "o"}))
    assert isinstance(problem, Problem) and words in problem.problem, problem


def test_bad_sharegpt_role():
    row = {"conversations": [{"from": "bot", "value": "hi"}]}
    problem = normalised(row)
    assert "unknown role 'bot'" in problem.problem and "human, gpt" in problem.fix


# -- sources ------------------------------------------------------------------------------------
ROWS = [{"prompt": "I love my dog", "completion": "happy"}, {"prompt": "I hate rain", "completion": "angry"}]


def read(path) -> tuple[str, str, list]:
    source = sources.open_source(path)
    return source.kind, source.unit, list(source)


def test_jsonl_rows_are_numbered_by_file_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\ufeff" + json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n[1]\n{oops\n", encoding="utf-8")
    kind, unit, rows = read(f)
    assert (kind, unit) == ("jsonl", "line")
    assert [(n, r) for n, r in rows[:2]] == [(1, ROWS[0]), (3, ROWS[1])]
    assert rows[2][0] == 4 and "an array" in rows[2][1].problem
    assert rows[3][0] == 5 and "not valid JSON" in rows[3][1].problem


def test_json_array_and_a_single_split_object(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps(ROWS, indent=2))
    assert read(f) == ("json", "row", [(1, ROWS[0]), (2, ROWS[1])])
    f.write_text(json.dumps({"train": ROWS}))
    assert read(f)[2] == [(1, ROWS[0]), (2, ROWS[1])]
    f.write_text("[\n" + json.dumps(ROWS[0]) + ",\n{oops}\n]")
    with pytest.raises(InputError) as exc:
        sources.open_source(f)
    assert "d.json line 3" in exc.value.message
    jsonl_named_json = tmp_path / "lines.json"
    jsonl_named_json.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert read(jsonl_named_json)[:2] == ("jsonl", "line")


def test_csv_rows(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('prompt,completion\n"I love my dog, really",happy\nI hate rain,angry\nonly one\n', encoding="utf-8")
    kind, unit, rows = read(f)
    assert (kind, unit) == ("csv", "row")
    assert rows[0] == (1, {"prompt": "I love my dog, really", "completion": "happy"})
    assert rows[2][0] == 3 and "fewer values" in rows[2][1].problem


def test_parquet_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": USER_ASSISTANT}] * 3), f)
    kind, unit, rows = read(f)
    assert (kind, unit) == ("parquet", "row") and [n for n, _ in rows] == [1, 2, 3]
    assert rows[0][1]["messages"] == USER_ASSISTANT
    assert detect(*[r for _, r in rows]).format == "messages"


def test_save_to_disk_folders(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    kind, unit, rows = read(tmp_path / "one")
    assert (kind, unit, rows) == ("arrow", "row", [(1, ROWS[0]), (2, ROWS[1])])
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                          "test": datasets.Dataset.from_list(ROWS[:1])}).save_to_disk(str(tmp_path / "dict"))
    assert read(tmp_path / "dict")[2] == [(1, ROWS[0]), (2, ROWS[1])]  # the train split


@pytest.mark.parametrize("name,content,words", [
    ("d.txt", "hello", "unknown dataset file type '.txt'"),
    ("d.jsonl", b"\xff\xfe\x00bad", "not UTF-8"),
    ("missing.jsonl", None, "does not exist"),
    ("plain_dir", "dir", "not one written by datasets' save_to_disk"),
])
def test_unreadable_sources_are_input_errors(tmp_path, name, content, words):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as exc:
        list(sources.open_source(path))
    assert words in exc.value.message and exc.value.fix


def test_peek_does_not_consume_rows(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    source = sources.open_source(f)
    assert len(source.peek(1)) == 1 and len(list(source)) == 2


def test_no_heavy_import_at_module_load():
    import subprocess
    import sys

    code = ("import sys, scaffolds.datasets.report, scaffolds.project_code, usecases.data\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'datasets', 'pyarrow', 'transformers', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
