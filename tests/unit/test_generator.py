"""The project generator: tree, config files, parameters, datasets, and nothing left behind on failure."""
from __future__ import annotations

import json
import py_compile
import re
from collections import Counter
from pathlib import Path

import pytest

from core import events as ev
from core import azure_facts as azure_spec
from scaffolds import catalog, params, sample_dataset
from scaffolds.generate import ProjectSpec
from usecases.projects import generate_project
from scaffolds.project import Project
from scaffolds.render import output_path, template_files
from tests.refusals import refusal

PHI3 = "microsoft/Phi-3-mini-4k-instruct"
MINE = {  # the files this generator writes itself (the template tree adds the generated-code engineer's)
    "README.md", ".gitignore", ".ftstudioignore", ".ftstudio-answers.json", ".vscode/tasks.json",
    "dataset/dataset-classification.jsonl", "finetuning/train_config.json",
    "infra/finetuning.config.json", "infra/inference.config.json",
    "infra/provision/finetuning.bicep", "infra/provision/finetuning.parameters.json",
    "infra/provision/inference.bicep", "infra/provision/inference.parameters.json",
}
CONTRACT_STATIC = ("finetuning/train.py", "finetuning/fetch_model.py", "inference/app.py", "setup/requirements.txt")
COMMANDS = [
    "cd /mount",
    "pip install -r ./setup/requirements.txt",
    "python3 ./finetuning/fetch_model.py --config ./finetuning/train_config.json",
    "python3 ./finetuning/train.py --config ./finetuning/train_config.json",
]


def gen(tmp_path: Path, name: str = "demo", model: str = PHI3, **kw):
    return generate_project(ProjectSpec(name=name, model=model, parent=tmp_path, **kw))


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def phi3(tmp_path_factory):
    return gen(tmp_path_factory.mktemp("gen"))


# -- the tree -------------------------------------------------------------------------------------------
def test_tree_has_my_files_and_every_template_file(phi3):
    on_disk = {p.relative_to(phi3.path).as_posix() for p in phi3.path.rglob("*") if p.is_file()}
    assert MINE <= on_disk
    from_templates = {out for _src, _rel, out in template_files("qlora")}
    assert from_templates <= on_disk  # whatever the generated-code engineer's tree holds today
    assert set(phi3.files) == on_disk
    for rel in CONTRACT_STATIC:
        if any(output_path(r) == rel for _s, r, _o in template_files("qlora")):
            assert (phi3.path / rel).is_file()
    assert not any("olive" in f for f in on_disk)  # olive files only for --recipe olive
    assert not list(phi3.path.parent.glob(".demo.ftstudio-*"))  # temp folder renamed away


def test_every_json_file_parses_and_every_python_file_compiles(phi3, tmp_path):
    files = [p for p in phi3.path.rglob("*") if p.is_file()]
    for p in files:
        if p.suffix == ".json":
            read(p)
        if p.suffix == ".py":
            py_compile.compile(str(p), cfile=str(tmp_path / (p.name + "c")), doraise=True)
    for line in (phi3.path / "dataset/dataset-classification.jsonl").read_text().splitlines():
        assert [m["role"] for m in json.loads(line)["messages"]] == ["system", "user", "assistant"]


def test_no_template_leftovers_anywhere(tmp_path):
    tokens = re.compile(r"<(" + "|".join(params.NAMES + ("prompt_template", "conda_env_name")) + r")>")
    for recipe in ("lora", "qlora", "olive"):
        project = gen(tmp_path, name=f"p-{recipe}", recipe=recipe)
        for p in project.path.rglob("*"):
            if p.is_file():
                text = p.read_text(encoding="utf-8")
                assert not tokens.search(text), (p, tokens.search(text))
                if p.suffix != ".py":  # static python may use literal braces in f-strings
                    assert "{{" not in text and "{%" not in text, p


def test_train_config_matches_the_contract(phi3):
    cfg = read(phi3.path / "finetuning/train_config.json")
    assert set(cfg) == {"schema_version", "recipe", "model", "dataset", "lora", "quantization", "training", "output_root"}
    assert cfg["schema_version"] == 1 and cfg["recipe"] == "qlora" and cfg["output_root"] == "outputs"
    assert cfg["model"] == {"id": PHI3, "source": "hub", "repo": PHI3, "revision": "main", "path": None,
                            "local_dir": f"model-cache/{PHI3}", "gated": False, "trust_remote_code": False}
    assert cfg["dataset"] == {"train_file": "dataset/dataset-classification.jsonl", "format": "messages",
                              "column_map": {}, "eval_file": None, "text_template": None,
                              "eval_fraction": 0.05, "eval_max_rows": 200}
    assert set(cfg["lora"]) == {"r", "alpha", "dropout", "target_modules"}
    assert (cfg["lora"]["r"], cfg["lora"]["alpha"], cfg["lora"]["dropout"]) == (64, 64, 0.1)  # AI Toolkit's
    assert cfg["quantization"] == {"quant_type": "nf4", "double_quant": True, "compute_dtype": "float16"}
    assert set(cfg["training"]) == {"learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                                    "gradient_accumulation_steps", "source_max_len", "compute_dtype",
                                    "logging_steps", "save_steps", "save_total_limit", "seed", "warmup_steps",
                                    "packing"}
    assert cfg["training"]["packing"] == "auto"
    assert (cfg["training"]["learning_rate"], cfg["training"]["max_steps"]) == (1e-4, 1200)
    assert cfg["training"]["compute_dtype"] == "float16"  # the model's smallest GPU is a T4: no bfloat16


def test_infra_configs_and_parameters_files(phi3):
    project = Project(phi3.path)
    ft = project.finetuning_config()
    assert list(ft) == ["SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME",
                        "ACA_JOB_NAME", "COMMANDS", "TARGET"]
    assert all(ft[k] is None for k in list(ft)[:5]) and ft["COMMANDS"] == COMMANDS and ft["TARGET"] == "azure"
    inf = project.inference_config()
    assert {"SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_APP_NAME",
            "ACA_APP_ENDPOINT", "TARGET"} <= set(inf)
    assert inf["ACA_APP_ENDPOINT"] is None and inf["TARGET"] == "azure"
    assert inf["COMMANDS"][-1] == "python3 ./inference/app.py --host 0.0.0.0 --port 7860"
    p = project.parameters("finetuning")
    assert p["defaultCommands"] == COMMANDS and p["maximumInstanceCount"] == 2 and p["timeout"] == 10800
    assert p["gpuProfileType"] == "Consumption-GPU-NC8as-T4" and p["image"] == azure_spec.DEFAULT_IMAGE
    for name in ("location", "storageAccountName", "fileShareName", "acaEnvironmentName",
                 "acaEnvironmentStorageName", "acaJobName", "acaLogAnalyticsName"):
        assert name in p and p[name] is None
    pi = project.parameters("inference")
    assert pi["acaAppName"] is None and "timeout" not in pi and pi["maximumInstanceCount"] == 2
    assert project.target == "azure" and project.commands == COMMANDS


def test_answers_tasks_gitignore_readme(phi3):
    answers = read(phi3.path / ".ftstudio-answers.json")
    assert answers["model"] == PHI3 and answers["recipe"] == "qlora" and answers["target"] == "azure"
    assert answers["template_version"] and answers["project_name"] == "demo"
    assert set(answers["parameters"]) == set(params.NAMES)
    assert not re.search(r"token|secret|password|key", json.dumps(answers), re.I)
    tasks = read(phi3.path / ".vscode/tasks.json")["tasks"]
    assert {t["command"] for t in tasks} == {"ftstudio"}
    verbs = {t["args"][0] for t in tasks}
    assert {"run", "logs", "status", "deploy", "provision", "download", "down"} <= verbs
    ignored = (phi3.path / ".gitignore").read_text().split()
    assert {"outputs/", "model-cache/", ".ftstudio/", ".venv/", "__pycache__/"} <= set(ignored)
    readme = (phi3.path / "README.md").read_text()
    assert "ftstudio run" in readme and "ftstudio provision finetune" in readme and "--target local" in readme
    assert "finetuning/train.py --config finetuning/train_config.json" in readme


def test_olive_recipe_commands(tmp_path):
    result = gen(tmp_path, recipe="olive")
    cmds = Project(result.path).commands
    assert cmds[:3] == COMMANDS[:3] and cmds[-1] == "python3 ./finetuning/invoke_olive.py"
    olive_files = {out for _s, _r, out in template_files("olive")} - {out for _s, _r, out in template_files("lora")}
    for rel in olive_files:
        assert (result.path / rel).is_file()


def test_gated_model_gets_a_warning_and_a100_bfloat16(tmp_path):
    events = ev.Collector()
    # 16-bit LoRA of a 7B needs an A100 (its QLoRA fits a T4: tests/unit/test_defaults_fit.py)
    result = generate_project(ProjectSpec(name="m", model="mistralai/Mistral-7B-Instruct-v0.2", parent=tmp_path,
                                          recipe="lora"), events)
    cfg = read(result.path / "finetuning/train_config.json")
    assert cfg["model"]["gated"] is True and cfg["model"]["local_dir"] == "model-cache/mistralai/Mistral-7B-Instruct-v0.2"
    assert cfg["dataset"]["text_template"] is None and cfg["dataset"]["format"] == "messages"  # the model's template
    assert cfg["training"]["compute_dtype"] == "bfloat16" and cfg["training"]["max_steps"] == 80
    assert Project(result.path).parameters()["gpuProfileType"] == "Consumption-GPU-NC24-A100"
    assert any(isinstance(e, ev.Info) and "gated" in e.text and "HF_TOKEN" in e.text for e in events.events)
    assert "HF_TOKEN" in (result.path / "README.md").read_text()


def test_local_model_local_target(tmp_path):
    from tests.unit.test_catalog import _fake_model

    folder = _fake_model(tmp_path / "models" / "tiny", chat_template="<|user|>\n{{ m }}<|end|>")
    result = gen(tmp_path, model=str(folder), target="local", overrides={"max_steps": "20"})
    cfg = read(result.path / "finetuning/train_config.json")
    assert cfg["recipe"] == "lora" and cfg["model"]["source"] == "local"
    assert cfg["model"]["path"] == str(folder.resolve()) and cfg["model"]["local_dir"] == "model-cache/local/tiny"
    assert cfg["training"]["max_steps"] == 20 and cfg["lora"]["target_modules"] == "all-linear"
    assert Project(result.path).target == "local"


# -- parameters ------------------------------------------------------------------------------------------
def test_set_values_are_typed():
    got = params.parse_overrides(["lora_r=16", "learning_rate=5e-5", "double_quant=false", "max_steps=-1",
                                  "lora_target_modules=q_proj, v_proj", "text_template=Q: {q}\\nA: {a}",
                                  "compute_dtype=BFloat16", "num_train_epochs=2"])
    assert got == {"lora_r": 16, "learning_rate": 5e-5, "double_quant": False, "max_steps": -1,
                   "lora_target_modules": ["q_proj", "v_proj"], "text_template": "Q: {q}\nA: {a}",
                   "compute_dtype": "bfloat16", "num_train_epochs": 2.0}
    assert type(got["lora_r"]) is int and type(got["learning_rate"]) is float
    assert params.parse_overrides(["lora_target_modules=all-linear"])["lora_target_modules"] == "all-linear"


@pytest.mark.parametrize("item,field,words", [
    ("lora_r=sixteen", "lora_r", "whole number"),
    ("lora_r=1.5", "lora_r", "whole number"),
    ("learning_rate=fast", "learning_rate", "a number"),
    ("learning_rate=nan", "learning_rate", "a number"),
    ("double_quant=maybe", "double_quant", "true or false"),
    ("quant_type=int3", "quant_type", "nf4"),
    ("lora_rank=8", "lora_rank", "lora_r"),
    ("lora_r", "--set", "KEY=VALUE"),
])
def test_bad_set_values(item, field, words):
    err = refusal(params.parse_overrides, [item])
    assert err.field == field and words in err.one_line()


@pytest.mark.parametrize("overrides,field", [
    ({"lora_r": 0}, "lora_r"),
    ({"lora_dropout": 0.95}, "lora_dropout"),
    ({"max_steps": 0}, "max_steps"),
    ({"warmup_steps": 2.5}, "warmup_steps"),
    ({"source_max_len": 8192}, "source_max_len"),  # Phi-3-mini-4k's context is 4096
    ({"text_template": "no fields at all"}, "text_template"),
    ({"text_template": "{phrase!r} {tone}"}, "text_template"),
    ({"timeout": 10}, "timeout"),
])
def test_out_of_range_parameters_are_refused(tmp_path, overrides, field):
    err = refusal(gen, tmp_path, overrides=overrides)
    assert err.field == field
    assert list(tmp_path.iterdir()) == []


def test_gpu_profile_override_switches_the_dtype_default(tmp_path):
    result = gen(tmp_path, overrides={"gpuProfileType": "Consumption-GPU-NC24-A100"})
    cfg = read(result.path / "finetuning/train_config.json")
    assert cfg["training"]["compute_dtype"] == "bfloat16"
    assert Project(result.path).parameters("inference")["gpuProfileType"] == "Consumption-GPU-NC24-A100"
    assert read(result.path / ".ftstudio-answers.json")["overrides"] == {"gpuProfileType": "Consumption-GPU-NC24-A100"}


def test_registry_describes_every_parameter_for_forms():
    assert {"lora_r", "lora_alpha", "lora_dropout", "learning_rate", "num_train_epochs", "max_steps",
            "per_device_train_batch_size", "gradient_accumulation_steps", "source_max_len", "text_template",
            "compute_dtype", "quant_type"} <= set(params.NAMES)
    for p in params.PARAMS:
        d = p.to_dict()
        assert d["help"] and d["type"] in ("int", "float", "str", "bool", "choice", "modules") and p.targets
        if p.type == "choice":
            assert p.choices


# -- datasets --------------------------------------------------------------------------------------------
def test_sample_dataset_is_deterministic_balanced_and_learnable():
    rows = sample_dataset.rows()
    assert rows == sample_dataset.rows() and 250 <= len(rows) <= 500
    counts = Counter(r["tone"] for r in rows)
    assert len(counts) == 5 and len(set(counts.values())) == 1
    assert len({r["phrase"] for r in rows}) == len(rows)
    assert {r["tone"] for r in rows[:5]} == set(counts)  # interleaved
    # Topics are shared by every tone, so the topic never gives the answer away ...
    for topic in sample_dataset.TOPICS[:10]:
        assert {r["tone"] for r in rows if topic in r["phrase"].lower()} == set(counts), topic
    # ... and a bag-of-words classifier fitted on half the rows labels the other half: the tone is
    # clearly inferable from the phrase.
    def words(text):
        return set(re.findall(r"[a-z']+", text.lower()))

    train, test = rows[::2], rows[1::2]
    freq = {t: Counter() for t in counts}
    for r in train:
        freq[r["tone"]].update(words(r["phrase"]))
    def predict(phrase):
        return max(freq, key=lambda t: sum((freq[t][w] + 0.1) / (sum(f[w] for f in freq.values()) + 0.5)
                                           for w in words(phrase)))
    accuracy = sum(predict(r["phrase"]) == r["tone"] for r in test) / len(test)
    assert accuracy > 0.9, accuracy


def test_user_dataset_is_validated_and_copied(tmp_path):
    data = tmp_path / "in" / "mine.jsonl"
    data.parent.mkdir()
    data.write_text('{"instruction": "I love it", "output": "happy", "extra": 1}\n\n'
                    '{"instruction": "meh", "input": "", "output": "calm"}\n')
    result = gen(tmp_path / "out", dataset=data)
    cfg = read(result.path / "finetuning/train_config.json")
    assert cfg["dataset"]["train_file"] == "dataset/mine.jsonl" and result.dataset_rows == 2
    assert cfg["dataset"]["format"] == "alpaca" and cfg["dataset"]["text_template"] is None
    assert (result.path / "dataset/mine.jsonl").read_bytes() == data.read_bytes()
    assert (result.path / "dataset/dataset-classification.jsonl").is_file()  # the sample stays as an example
    assert any("only 2 rows" in w for w in result.warnings)


@pytest.mark.parametrize("content,words", [
    ('{"instruction": "a", "output": "x"}\n{"instruction": "b"}\n', "line 2: has no 'output' column"),
    ('[{"instruction": "a", "output": "x"}]\n', "data.jsonl line 1 is an array, not a JSON object"),
    ('phrase,tone\nhello,happy\n', "data.jsonl line 1 not valid JSON"),
    ('{"instruction": "a", "output": "x"}\n{"instruction": "b", "output": ""}\n', "line 2: the output is empty"),
    ('{"instruction": null, "output": "x"}\n', "line 1: the instruction and the input are both empty"),
    ('{"prompt": "a", "completion": 3}\n', "line 1: 'completion' is a number, not text"),
    ('{"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]}\n',
     "line 1: messages turn 2 has the unknown role 'robot'"),
    ('{"messages": [{"role": "assistant", "content": "b"}]}\n', "line 1: the conversation starts with an assistant"),
    ('{"messages": [{"role": "user", "content": "a"}]}\n', "line 1: has no assistant turn"),
    ('{"messages": [{"role": "user", "content": ["a"]}, {"role": "assistant", "content": "b"}]}\n',
     "line 1: messages turn 1: 'content' is a list, not text"),
    ("\n\n", "has no rows"),
])
def test_bad_user_datasets_name_the_line_and_leave_nothing(tmp_path, content, words):
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    out = tmp_path / "out"
    out.mkdir()
    err = refusal(gen, out, dataset=data)
    assert words in err.one_line() and err.field == "--dataset"
    assert list(out.iterdir()) == []


def test_template_with_other_columns_needs_a_matching_dataset(tmp_path):
    err = refusal(gen, tmp_path, overrides={"text_template": "Q: {question}\nA: {answer}"})
    assert "no 'question', 'answer' column" in err.one_line()
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "2+2?", "answer": "4"}\n')
    result = gen(tmp_path, name="qa", dataset=data, overrides={"text_template": "Q: {question}\nA: {answer}"})
    assert read(result.path / "finetuning/train_config.json")["dataset"]["train_file"] == "dataset/qa.jsonl"


# -- nothing left behind --------------------------------------------------------------------------------------
def test_existing_non_empty_folder_is_refused_and_untouched(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    err = refusal(gen, tmp_path)
    assert err.field == "NAME" and "not empty" in err.message
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["keep.txt"] and len(list(tmp_path.iterdir())) == 1


def test_existing_empty_folder_is_filled(tmp_path):
    (tmp_path / "demo").mkdir()
    result = gen(tmp_path)
    assert (result.path / "finetuning/train_config.json").is_file()


def test_failure_while_writing_removes_the_temp_folder_and_created_parents(tmp_path, monkeypatch):
    import scaffolds.generate as g

    def boom(plan):
        raise OSError("disk full")

    monkeypatch.setattr(g, "answers", boom)  # fails after the template tree was rendered
    with pytest.raises(OSError):
        gen(tmp_path / "new" / "parent")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "-x", "a/b", "..", "x" * 65, "sp ace", "dot."])
def test_invalid_names(tmp_path, name):
    err = refusal(gen, tmp_path, name=name)
    assert err.field == "NAME"


def test_unknown_recipe_and_target(tmp_path):
    err = refusal(gen, tmp_path, recipe="full")
    assert err.field == "--recipe" and "lora | qlora | olive" in err.one_line()
    err = refusal(gen, tmp_path, target="gcp")
    assert err.field == "--target"
    assert list(tmp_path.iterdir()) == []


def test_catalog_id_local_dir_flows_into_every_file(tmp_path):
    # One source of truth for the model folder: train_config holds it; no other generated file
    # spells a different model-cache path.
    result = gen(tmp_path, model="mistralai/Mistral-7B")
    expected = "model-cache/mistralai/Mistral-7B-v0.1"
    assert read(result.path / "finetuning/train_config.json")["model"]["local_dir"] == expected
    for p in result.path.rglob("*"):
        if p.is_file():
            for found in re.findall(r"model-cache/[\w.-]+/[\w.-]+", p.read_text(encoding="utf-8")):
                assert found == expected, (p, found)
    assert catalog.lookup("mistralai/Mistral-7B")["id"] == "mistralai/Mistral-7B-v0.1"
