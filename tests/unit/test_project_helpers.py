"""The generated project's finetuning/training_data is THE text_template rule; project_helpers.py the defaults.

One table of templates goes through the generator's parser (``scaffolds.params.template_fields``)
and through the text_template module of a generated project, loaded from the project folder: same
fields, same refusals, same words. The project's own scripts (train.py, inference/) must use that
module, not a copy of the rule.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from core.errors import InputError
from scaffolds import params
from scaffolds.generate import ProjectSpec, generate_project

TEMPLATE = "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>"
# (template, its fields) or (template, words the refusal must contain)
VALID = [
    (TEMPLATE, ["phrase", "tone"]),
    ("Q: {question}\nA: {answer}", ["question", "answer"]),
    ("Context: {ctx}\nQ: {q}\nA: {a}", ["ctx", "q", "a"]),
    ("{answer}", ["answer"]),
    ("{{literal braces}} {q} -> {a} {{x}}", ["q", "a"]),
    ("{_x}{y1}", ["_x", "y1"]),
    ("{question-text} => {answer text}", ["question-text", "answer text"]),  # real dataset column names
    ("{phrasé}: {tön}", ["phrasé", "tön"]),  # identifiers in any script
    ("{q}\n{q}\n{a}", ["q", "q", "a"]),
]
INVALID = [
    ("no fields at all", "has no {column} field"),
    ("", "has no {column} field"),
    ("{{only}} escaped {{braces}}", "has no {column} field"),
    ("{phrase!r} {tone}", "field {phrase} must be a plain column name"),
    ("{q} {a:>10}", "field {a} must be a plain column name"),
    ("{q} {a:{width}}", "field {a} must be a plain column name"),
    ("{0} {a}", "field {0} must be a plain column name"),
    ("{} {a}", "field {} must be a plain column name"),
    ("{row.text} {a}", "field {row.text} must be a plain column name"),
    ("{row[0]} {a}", "field {row[0]} must be a plain column name"),
    ("{1a} {a}", "field {1a} must be a plain column name"),
    ("{ q} {a}", "field { q} must be a plain column name"),
    ("Q: {question", "is not a valid template"),
    ("Q: } {a}", "is not a valid template"),
]
# (template, row, (prompt, completion)): the last field and what follows it is the answer
SPLITS = [
    (TEMPLATE, {"phrase": "I love {x}", "tone": "happy"}, ("<|user|>\nI love {x}<|end|>\n<|assistant|>\n", "happy<|end|>")),
    ("Context: {ctx}\nQ: {q}\nA: {a}", {"ctx": "c", "q": "why", "a": 42}, ("Context: c\nQ: why\nA: ", "42")),
    ("{{x}} {q} -> {a}.", {"q": "1+1", "a": 2}, ("{x} 1+1 -> ", "2.")),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return generate_project(ProjectSpec(name="helpers", model="microsoft/Phi-3-mini-4k-instruct",
                                        parent=tmp_path_factory.mktemp("gen"))).path


def _load_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def helpers(project):
    """The text_template module as the generated project has it, loaded from the project folder."""
    return _load_file(project / "finetuning/training_data/text_template.py", "generated_text_template")


@pytest.fixture(scope="module")
def project_helpers(project):
    return _load_file(project / "finetuning/project_helpers.py", "generated_project_helpers")


@pytest.fixture()
def project_scripts(project, monkeypatch):
    """Load a generated script by path, as its own folder's imports resolve (sys.path and the script-level
    modules it imports are restored afterwards)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m.split(".")[0] in ("project_helpers", "training_data", "train_inputs",
                                                                "model_server",
                                                                "openai_api", "chat_ui")]:
        monkeypatch.delitem(sys.modules, name, raising=False)

    def load(rel: str, name: str):
        spec = importlib.util.spec_from_file_location(name, project / rel)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def generator_fields(template: str):
    try:
        return params.template_fields(template)
    except InputError as err:
        return err


def project_fields(helpers, template: str):
    try:
        return helpers.field_names(helpers.parse_template(template))
    except helpers.TemplateError as err:
        return err


def test_the_project_carries_the_module_the_generator_runs(project):
    from scaffolds.project_code import training_data

    assert (project / "finetuning/project_helpers.py").read_bytes() == Path(params.project_helpers.__file__).read_bytes()
    package = Path(training_data.__file__).parent
    for module in package.glob("*.py"):
        assert (project / "finetuning/training_data" / module.name).read_bytes() == module.read_bytes(), module.name


@pytest.mark.parametrize("template,fields", VALID)
def test_generator_and_project_accept_the_same_templates(helpers, template, fields):
    assert generator_fields(template) == project_fields(helpers, template) == fields


@pytest.mark.parametrize("template,words", INVALID)
def test_generator_and_project_refuse_the_same_templates_in_the_same_words(helpers, template, words):
    generator, project = generator_fields(template), project_fields(helpers, template)
    assert isinstance(generator, InputError) and generator.field == "text_template"
    assert isinstance(project, ValueError) and words in str(project)
    assert generator.message == f"text_template {project}."


@pytest.mark.parametrize("template,row,expected", SPLITS)
def test_a_row_splits_into_prompt_and_answer_at_the_last_field(helpers, template, row, expected):
    assert helpers.split_row(helpers.parse_template(template), row) == expected


def test_training_uses_the_project_module(project_scripts, helpers, tmp_path):
    train = project_scripts("finetuning/train.py", "generated_train")
    used = sys.modules["training_data.text_template"]
    assert Path(used.__file__).read_bytes() == Path(helpers.__file__).read_bytes()
    assert sys.modules["train_inputs"].read_examples is sys.modules["training_data"].read_examples
    assert train.render is sys.modules["training_data.render"]
    (tmp_path / "rows.jsonl").write_text('{"a": "x"}\n', encoding="utf-8")
    with pytest.raises(train.TrainError, match=r"dataset\.text_template: The text_template field \{0\} must be a plain column"):
        sys.modules["train_inputs"].read_dataset({"train_file": "rows.jsonl", "text_template": "{0} {a}"}, tmp_path, "train_file")


def test_serving_builds_the_training_prompt_and_refuses_what_training_refuses(project_scripts, helpers):
    app = project_scripts("inference/app.py", "generated_app")
    assert sys.modules["model_server"].parse_template is sys.modules["training_data.text_template"].parse_template
    for template, row, (prompt, _answer) in SPLITS:
        inputs = helpers.field_names(helpers.split_template(helpers.parse_template(template))[0])
        builder = app.PromptBuilder(template, tokenizer=None)
        assert builder.uses_template == (len(inputs) == 1)  # else: no single slot for the user's message
        if builder.uses_template:
            messages = [{"role": "system", "content": "ignored"}, {"role": "user", "content": str(row[inputs[0]])}]
            assert builder.build(messages) == (prompt, True)
    assert app.PromptBuilder(TEMPLATE, tokenizer=None).answer_suffix == "<|end|>"
    for template, words in INVALID:
        if template:  # no template at all: the tokenizer's chat template (a base model has no training prompt)
            with pytest.raises(ValueError, match=re.escape(f"dataset.text_template {words}")):
                app.PromptBuilder(template, tokenizer=None)
    assert not app.PromptBuilder("", tokenizer=None).uses_template


def test_defaults_a_config_may_leave_out_are_the_generators(project_scripts, project_helpers, project):
    for key, default in {**project_helpers.TRAINING_DEFAULTS, **project_helpers.DATASET_DEFAULTS}.items():
        if key in params.BY_NAME and params.BY_NAME[key].default is not None:
            assert params.BY_NAME[key].default == default, key
    train = project_scripts("finetuning/train.py", "generated_train_defaults")
    config = json.loads((project / "finetuning/train_config.json").read_text(encoding="utf-8"))
    for key in ("num_train_epochs", "warmup_steps", "save_steps", "seed"):
        del config["training"][key]
    path = project / "finetuning/defaults_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    training = train.load_config(path)["training"]
    for key in ("num_train_epochs", "warmup_steps", "save_steps", "seed"):
        assert training[key] == params.BY_NAME[key].default, key
