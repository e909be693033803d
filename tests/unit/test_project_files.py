"""The project-file contract (core/project_files.py): every project file, read with a wrong shape or
type, is exit 2 with one line naming the file, the key and the fix — never a traceback."""
from __future__ import annotations

import json

import pytest

from core import project_files as pf
from core.errors import InputError
from scaffolds.project import Project
from test_local_support import cli, make_local_project

# What each file's reader is, so every file is read the way commands read it.
READERS = {
    pf.FINETUNING_CONFIG.rel: lambda p: p.finetuning_config(),
    pf.INFERENCE_CONFIG.rel: lambda p: p.inference_config(),
    pf.PARAMETERS["finetuning"].rel: lambda p: p.parameters("finetuning"),
    pf.PARAMETERS["inference"].rel: lambda p: p.parameters("inference"),
    pf.ANSWERS.rel: lambda p: p.answers(),
    pf.STATE.rel: lambda p: p.state(),
    pf.TRAIN_CONFIG.rel: lambda p: p.train_config(),
}
WHOLE_FILE = {  # raw bytes -> what the message must say
    b"[1]": "must hold an object", b"null": "must hold an object", b'"x"': "must hold an object",
    b"12": "must hold an object", b"\xff\xfe{}": "not UTF-8", b"{": "not valid JSON", b"": "not valid JSON",
}


def _wrong_value(t: pf.Type):
    """A JSON value that ``t`` refuses."""
    for candidate in (12345, "mars", [1], {"a": 1}, True, None, 1.5, ["x", 2]):
        if not t.ok(candidate):
            return candidate
    raise AssertionError(f"no wrong value for {t.says}")


KEY_CASES = [(f, key, _wrong_value(t)) for f in pf.ALL for key, t in f.keys.items()]
KEY_CASES += [(f, f"{key}.{sub}", _wrong_value(t)) for f in pf.ALL for key, subs in f.nested.items()
              for sub, t in subs.items()]


def test_every_file_has_a_reader():
    assert sorted(READERS) == sorted(f.rel for f in pf.ALL)


@pytest.fixture
def project(tmp_path):
    return make_local_project(tmp_path / "demo", ["true"])


def _one_line(exc: InputError, rel: str) -> str:
    line = exc.one_line()
    assert "\n" not in line and rel in line and "Fix:" in line
    assert exc.exit_code == 2
    return line


@pytest.mark.parametrize("raw", list(WHOLE_FILE), ids=[r.decode("latin-1") or "empty" for r in WHOLE_FILE])
@pytest.mark.parametrize("rel", sorted(READERS))
def test_a_file_of_the_wrong_shape_is_one_line(project, rel, raw):
    path = project.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    with pytest.raises(InputError) as info:
        READERS[rel](project)
    assert WHOLE_FILE[raw] in _one_line(info.value, rel)


@pytest.mark.parametrize("file,key,value", KEY_CASES, ids=[f"{f.rel}:{k}" for f, k, _ in KEY_CASES])
def test_a_key_of_the_wrong_type_is_one_line_naming_it(project, file, key, value):
    doc: dict = {}
    if "." in key:
        outer, inner = key.split(".")
        doc[outer] = {inner: value}
    else:
        doc[key] = value
    path = project.path(file.rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as info:
        READERS[file.rel](project)
    line = _one_line(info.value, file.rel)
    assert f"{key} must be" in line and info.value.field == f"{file.rel}:{key}"


def test_a_parameters_entry_that_is_not_an_object(project):
    path = project.path(pf.PARAMETERS["finetuning"].rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"parameters": {"timeout": 5}}), encoding="utf-8")
    with pytest.raises(InputError, match="parameters must be an object whose values are objects"):
        project.parameters("finetuning")
    path.write_text(json.dumps({"parameters": ["timeout"]}), encoding="utf-8")
    with pytest.raises(InputError):
        project.parameters("finetuning")


def test_unknown_keys_are_kept_and_target_is_normalised(project):
    project.save_finetuning_config({"TARGET": " Local ", "MY_OWN": {"x": 1}, "COMMANDS": ["true"]})
    assert project.target == "local" and project.finetuning_config()["MY_OWN"] == {"x": 1}
    project.save_finetuning_config({"COMMANDS": ["true"], "TARGET": ""})
    assert Project(project.root).target == "azure"  # unset: the default, as in an AI Toolkit project


@pytest.mark.parametrize("rel,raw", [
    (pf.FINETUNING_CONFIG.rel, b"[1]"), (pf.FINETUNING_CONFIG.rel, b"null"),
    (pf.FINETUNING_CONFIG.rel, b'{"TARGET": 3}'), (pf.FINETUNING_CONFIG.rel, b'{"TARGET": "mars"}'),
    (pf.FINETUNING_CONFIG.rel, b'{"TARGET": "local", "RESOURCE_GROUP_NAME": 12345}'),
    (pf.FINETUNING_CONFIG.rel, b'{"TARGET": "local", "COMMANDS": "python train.py"}'),
    (pf.INFERENCE_CONFIG.rel, b"[1]"), (pf.ANSWERS.rel, b"\xff\xfe"),
])
def test_status_on_a_broken_project_file_is_exit_2_without_traceback(project, capsys, rel, raw):
    project.path(rel).parent.mkdir(parents=True, exist_ok=True)
    project.path(rel).write_bytes(raw)
    code, out, err = cli(capsys, "status", "--project", str(project.root))
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and rel in err
