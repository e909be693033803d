"""Issue #22 item 1: a user string that reaches a generated file is escaped for that file's language, or
refused; never pasted.

Every user-supplied field (project NAME, --dir, --model as a hub id, a local model folder's name and the
folders above it, --dataset's file name, --recipe, --target, every --set key and string value) and one
string that is not the user's but reaches the README as it is (the licence a hub model card declares) is
given each hostile string below, through the CLI as a user types it, for the lora, qlora and olive recipes.
The property: either ``ftstudio new`` refuses (exit 2, ONE error line naming the field, nothing on disk),
or EVERY generated file parses with its own parser (json for .json/.jsonl, pycep for .bicep, ast for .py,
``bash -n`` for .sh, every COMMANDS / defaultCommands string and the README's shell blocks, markdown-it
for the README, packaging for requirements.txt, YAML if any), has the same structure as the project a
harmless value gives, and gives back the exact value where it carries it as data.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from core import azure_facts as azure_spec
from scaffolds.render import template_files, template_root
from tui.cli import main

RECIPES = ("lora", "qlora", "olive")

# id -> hostile piece (wrapped in letters for names: a folder "m<piece>n", a file "d<piece>.jsonl"...)
HOSTILE = {
    "dquote": '"', "squote": "'", "backslash": "\\", "newline": "\n", "cr": "\r", "tab": "\t",
    "dollar_brace": "${x}", "jinja_expr": "{{ x }}", "jinja_stmt": "{% x %}", "jinja_comment": "{# x #}",
    "subshell": "$(id)", "backtick": "`", "nul": "\x00", "control": "\x01\x1b[31m\x7f", "bidi": "\u202e",
    "line_separator": "\u2028", "non_ascii": "é中😀", "undecodable_byte": "\udcff", "aitk_token": "<lora_r>",
    "html": "<b>&amp;", "markdown": "*_[x](y)!|#~", "escaped_pipe": "\\|", "fence": "```",
}
# Whole values (not wrapped), for the model folder name and the licence: a code span that starts/ends
# with a backtick or a space needs padding, text that starts/ends with a space (in **bold**, in a table
# cell) needs entities. (What --model names is stripped as typed: a folder name can't END with a space.)
EDGES = {"edge_backticks": "`m`", "edge_leading_space": " m", "edge_spaces": " m "}
EDGE_FIELDS = {"model_folder": ("edge_backticks", "edge_leading_space"), "licence": tuple(EDGES)}
NOT_PRINTABLE = {k for k, v in HOSTILE.items() if not v.isprintable()}
JINJA = {"jinja_expr", "jinja_stmt", "jinja_comment"}

# Where a refusal is the right answer (the value can't exist, or can't mean anything there). Everything
# else MUST generate: a path that is legitimate on disk is escaped, never refused.
MAY_REFUSE = {
    "model_folder": {"newline", "cr", "tab", "nul", "control"} | JINJA,  # scaffolds/catalog/local.py's rule
    "model_parent": {"nul"},  # no such folder can exist
    "dataset": {"nul"},
    "dir": {"nul"},
    # {x}, {% x %} and {# x #} are template fields that are not plain column names / not in the dataset
    "text_template": {"dollar_brace", "jinja_stmt", "jinja_comment"},
    "licence": set(),
}
# The words the refusal's one line or its field must contain, per field.
FIELD_WORDS = {
    "model_folder": ("--model",), "model_parent": ("--model",), "dataset": ("--dataset",), "dir": ("--dir",),
    "text_template": ("text_template",), "licence": (),
    "name": ("NAME", "project name"), "model_id": ("--model",), "recipe": ("--recipe",), "target": ("--target",),
    "set_choice": ("quant_type",), "set_modules": ("lora_target_modules",), "set_key": ("--set", "parameter"),
    "set_number": ("lora_r",),
}
HUB_MODEL = "acme/tiny-chat-0.5B"
# conversations (lora, qlora) with the phrase/tone columns the olive recipe's text_template reads
ROWS = "".join(json.dumps({"messages": [{"role": "user", "content": f"row {i}"}, {"role": "assistant", "content": "happy"}],
                           "phrase": f"row {i}", "tone": "happy"}) + "\n" for i in range(3))


# -- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """One minimal model folder (config.json + a 1,600-parameter safetensors), copied per case."""
    import numpy as np
    from safetensors.numpy import save_file

    folder = tmp_path_factory.mktemp("tiny") / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    "max_position_embeddings": 512}))
    save_file({"embed.weight": np.zeros((100, 16), dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def _copy_model(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copyfile(f, dest / f.name)
    return dest


class Case:
    """One ``ftstudio new`` run: argv, and what the generated project must carry back."""

    def __init__(self, field: str, hid: str, recipe: str, root: Path, tiny: Path, monkeypatch):
        self.field, self.hid, self.recipe = field, hid, recipe
        piece = "" if hid == "base" else EDGES.get(hid, HOSTILE.get(hid))
        self.root = root
        self.value = None  # the whole string the user (or the hub) gave
        self.out = root / "out"
        model, extra = str(tiny), []
        self.model_folder = tiny
        self.dataset = self.template = self.licence = None
        try:
            if field == "model_folder":
                name = self.value = piece if hid in EDGES else f"m{piece}n"
                # relative, as in the issue: ftstudio new x --model './dq"name'
                self.model_folder = _copy_model(tiny, root / name)
                monkeypatch.chdir(root)
                model = "./" + name
            elif field == "model_parent":
                model = self.value = str(root / f"p{piece}q" / "m")
                self.model_folder = _copy_model(tiny, Path(model))
            elif field == "dataset":
                self.dataset = root / f"d{piece}.jsonl"
                self.value = str(self.dataset)
                self.dataset.write_text(ROWS, encoding="utf-8")
                extra = ["--dataset", str(self.dataset)]
            elif field == "dir":
                self.out = root / f"o{piece}t"
                self.value = str(self.out)
            elif field == "text_template":
                self.template = self.value = f"Q{piece}: {{phrase}} -> {{tone}}"
                extra = ["--set", f"text_template={self.template}"]
            elif field == "licence":
                self.licence = self.value = piece if hid in EDGES else f"lic{piece}ence"
                model = HUB_MODEL
                facts = {"id": HUB_MODEL, "repo": HUB_MODEL, "params": 500_000_000, "licence": self.licence,
                         "gated": False, "pipeline_tag": "text-generation", "architecture": "LlamaForCausalLM",
                         "model_type": "llama", "chat_format": "chatml", "verified": True}
                monkeypatch.setattr("scaffolds.catalog.hub.lookup", lambda repo, **kw: dict(facts))
        except ValueError:  # "embedded null byte": no such file or folder can exist; pass the name as typed
            if field in ("model_folder", "model_parent"):
                self.model_folder = None
                model = str(root / f"p{piece}q" / "m") if field == "model_parent" else "./" + f"m{piece}n"
            elif field == "dataset":
                extra = ["--dataset", str(root / f"d{piece}.jsonl")]
                self.dataset = None
        self.argv = ["new", "p", "--model", model, "--recipe", recipe, "--dir", str(self.out), "--target", "local",
                     "--non-interactive", "--json", *extra]

    @property
    def project(self) -> Path:
        return self.out / "p"


def run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with the streams a real terminal gives (stderr backslash-replaces what it cannot
    encode; stdout under a C/UTF-8 locale passes undecodable file-name bytes through)."""
    streams = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=e, write_through=True)
               for e in ("surrogateescape", "backslashreplace")]
    with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusal (--target has choices)
            code = exc.code
    out, err = (s.buffer.getvalue().decode("utf-8", "surrogateescape") for s in streams)
    return code, out, err


def assert_refused(code: int, out: str, err: str, field: str, where: Path) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err
    if not out and err.startswith("usage:"):  # argparse: usage, then ONE error line naming the option
        said = err.strip().splitlines()[-1]
        assert "error: argument" in said, err
    else:
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and len(err.strip().splitlines()) == 1, err
        error = json.loads(out)["error"]
        said = f"{error.get('field', '')} {error['message']}"
    assert any(word in said for word in FIELD_WORDS[field]), (field, said)
    # nothing half-written: no project, no temp folder
    assert not where.exists() or not any(where.iterdir()), list(where.iterdir())


# -- parsers ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _bicep_parser():
    from pycep import BicepParser

    return BicepParser()


@lru_cache(maxsize=None)
def parse_bicep(text: str) -> str:
    return json.dumps(_bicep_parser().parse(text=text), sort_keys=True)  # a str: cached, and copied on use


@lru_cache(maxsize=None)
def bash_n(script: str) -> None:
    res = subprocess.run(["bash", "-n"], input=script.encode("utf-8", "surrogateescape"), capture_output=True,
                         timeout=30)
    assert res.returncode == 0, (script, res.stderr.decode(errors="replace"))


@lru_cache(maxsize=None)
def python_ok(text: str) -> None:
    ast.parse(text)


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str):
    return json.loads(text, parse_constant=_no_constants)


def decode_bicep(raw: str) -> str:
    """The value of a bicep '...' string's inside, by the language's escape rules (a strict reader)."""
    out, i = [], 0
    simple = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}
    while i < len(raw):
        c = raw[i]
        assert c != "'", f"unescaped quote in {raw!r}"
        assert not raw.startswith("${", i), f"interpolation in {raw!r}"
        if c == "\\":
            nxt = raw[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            assert nxt == "u" and raw[i + 2] == "{", f"unknown escape in {raw!r}"
            end = raw.index("}", i)
            out.append(chr(int(raw[i + 3:end], 16)))
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def md_shape(tokens) -> list:
    return [(t.type, t.tag, t.nesting, [c.type for c in t.children or []]) for t in tokens]


def md_strings(tokens) -> list[tuple[str, str]]:
    return [(c.type, c.content) for t in tokens for c in t.children or [] if c.type in ("text", "code_inline")]


def _json_literals(text: str):
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch == '"':
            try:
                yield decoder.raw_decode(text, i)[0]
            except ValueError:
                pass


def shown(value: str, strings: list[tuple[str, str]], kind: str = "") -> bool:
    """``value`` read back from the README (as ``kind``: text or code_inline, or either): as it is, or as
    its JSON string literal (a value with a character no README line can hold)."""
    for typ, content in strings:
        if kind and typ != kind:
            continue
        if typ == "code_inline" and (content == value or (content.startswith('"') and parse_json(content) == value)):
            return True
        if typ == "text" and (value in content or value in _json_literals(content)):
            return True
    return False


# -- the generated project, file by file -------------------------------------------------------------------
STATIC = {out: src.read_bytes() for src, rel, out in template_files("olive") if not rel.endswith(".j2")}


class Checked:
    def __init__(self, project: Path):
        self.project = project
        self.json: dict[str, object] = {}
        self.bicep: dict[str, dict] = {}
        self.readme_tokens = None
        self.files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
        for rel in self.files:
            self._check(rel)
        self._check_commands()

    def _check(self, rel: str) -> None:
        data = (self.project / rel).read_bytes()
        if rel in STATIC:  # copied byte for byte: no user string can be in it
            assert data == STATIC[rel], rel
        text = data.decode("utf-8")  # strict: a lone surrogate would not even have been written
        name = rel.rsplit("/", 1)[-1]
        suffix = name.rsplit(".", 1)[-1] if "." in name.lstrip(".") else ""
        if suffix == "json":
            self.json[rel] = parse_json(text)
        elif suffix == "jsonl":
            for line in text.splitlines():
                if line.strip():
                    parse_json(line)
        elif suffix == "bicep":
            self.bicep[rel] = json.loads(parse_bicep(text))
        elif suffix == "py":
            python_ok(text)
        elif suffix == "sh":
            bash_n(text)
        elif suffix in ("yml", "yaml"):
            import yaml

            yaml.safe_load(text)
        elif suffix == "md":
            tokens = _markdown().parse(text)
            self.readme_tokens = tokens
            for t in tokens:  # the README's shell is shell
                if t.type == "fence" and t.info.strip() in ("bash", "sh"):
                    bash_n(t.content)
                elif t.type == "fence" and not t.info.strip():
                    for line in t.content.splitlines():
                        bash_n(line)
        elif name == "requirements.txt":
            from packaging.requirements import Requirement

            for line in text.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    Requirement(line)
        elif rel in STATIC:
            pass  # .gitignore, .ftstudioignore: compared byte for byte above
        else:
            raise AssertionError(f"{rel}: no parser for this kind of generated file (add one to this test)")

    def _check_commands(self) -> None:
        for rel in ("infra/finetuning.config.json", "infra/inference.config.json",
                    "infra/provision/finetuning.parameters.json", "infra/provision/inference.parameters.json"):
            doc = self.json[rel]
            commands = doc["COMMANDS"] if "COMMANDS" in doc else doc["parameters"]["defaultCommands"]["value"]
            assert commands and all(isinstance(c, str) for c in commands), rel
            for command in commands:
                bash_n(command)
            bash_n(azure_spec.FAIL_FAST + azure_spec.COMMAND_JOIN.join(commands))  # as the job runs them

    def readme(self) -> list[tuple[str, str]]:
        return md_strings(self.readme_tokens)


_BASELINES: dict[tuple[str, str], tuple[Checked, "Case"]] = {}


@pytest.fixture
def baseline(tmp_path_factory, tiny_model, monkeypatch):
    """The same field with a harmless value: what the project's structure must stay."""

    def get(field: str, recipe: str):
        key = (field, recipe)
        if key not in _BASELINES:
            with monkeypatch.context() as m:
                case = Case(field, "base", recipe, tmp_path_factory.mktemp(f"base-{field}-{recipe}"), tiny_model, m)
                code, _out, err = run(case.argv)
                assert code == 0, err
                _BASELINES[key] = (Checked(case.project), case)
        return _BASELINES[key]

    return get


def description(doc: dict) -> str:
    decorators = doc["parameters"]["gpuProfileType"]["decorators"]
    return decode_bicep(next(d["argument"] for d in decorators if d["type"] == "description"))


def _without_description(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["parameters"]["gpuProfileType"]["decorators"] = [
        d for d in doc["parameters"]["gpuProfileType"]["decorators"] if d["type"] != "description"]
    return doc


def _all_text(project: Path) -> dict[str, str]:
    return {p.relative_to(project).as_posix(): p.read_text(encoding="utf-8")
            for p in project.rglob("*") if p.is_file()}


# -- the property -----------------------------------------------------------------------------------------
GENERATING = [(field, hid) for field in MAY_REFUSE for hid in HOSTILE] + \
    [(field, hid) for field, hids in EDGE_FIELDS.items() for hid in hids]


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("field,hid", GENERATING, ids=[f"{f}-{h}" for f, h in GENERATING])
def test_every_generated_file_parses_and_carries_the_value(field, hid, recipe, tmp_path, tiny_model, monkeypatch,
                                                          baseline):
    base, base_case = baseline(field, recipe)
    case = Case(field, hid, recipe, tmp_path, tiny_model, monkeypatch)
    code, out, err = run(case.argv)
    if code != 0:
        assert hid in MAY_REFUSE[field], f"{field}={HOSTILE.get(hid, EDGES.get(hid))!r} must generate: {err}"
        assert_refused(code, out, err, field, case.out)
        return
    assert "Traceback" not in err
    checked = Checked(case.project)
    assert checked.files == base.files or field == "dataset"  # a user dataset adds its own file
    cfg, answers = checked.json["finetuning/train_config.json"], checked.json[".ftstudio-answers.json"]

    # same structure as with a harmless value: nothing the value contains became syntax
    assert md_shape(checked.readme_tokens) == md_shape(base.readme_tokens)
    for rel, doc in checked.bicep.items():
        assert _without_description(doc) == _without_description(base.bicep[rel]), rel
    for rel, doc in checked.json.items():
        assert set(doc) == set(base.json[rel]), rel

    readme = checked.readme()
    if field in ("model_folder", "model_parent"):
        folder = case.model_folder.resolve()
        name, local_dir = folder.name, f"model-cache/local/{folder.name}"
        assert cfg["model"]["path"] == str(folder) == answers["model_path"]
        assert cfg["model"]["id"] == name == answers["model"]
        assert cfg["model"]["local_dir"] == local_dir
        if recipe == "olive":
            assert checked.json["finetuning/olive-config.json"]["input_model"]["model_path"] == local_dir
        base_name = base_case.model_folder.resolve().name
        for rel, doc in checked.bicep.items():
            assert description(doc) == description(base.bicep[rel]).replace(base_name, name), rel
        assert shown(str(folder), readme), readme
        assert shown(name, readme, "code_inline") and shown(name, readme, "text"), readme
        assert shown(local_dir, readme, "code_inline"), readme
    elif field == "dataset":
        train_file = f"dataset/{case.dataset.name}"
        assert cfg["dataset"]["train_file"] == train_file == answers["dataset"]
        assert (case.project / train_file).read_bytes() == case.dataset.read_bytes()
        assert shown(train_file, readme, "code_inline"), readme
    elif field == "dir":
        assert case.project.is_dir()
        for rel, text in _all_text(case.project).items():  # the folder is never written into a file
            assert str(case.out) not in text and json.dumps(str(case.out))[1:-1] not in text, rel
    elif field == "text_template":
        assert cfg["dataset"]["text_template"] == case.template
        assert answers["parameters"]["text_template"] == case.template == answers["overrides"]["text_template"]
    elif field == "licence":
        assert shown(case.licence, readme, "text"), readme
        assert json.loads(out)["model"]["licence"] == case.licence

    if hid in NOT_PRINTABLE:  # escaped everywhere: never pasted into any file
        for rel, text in _all_text(case.project).items():
            if rel != cfg["dataset"]["train_file"]:  # the user's own dataset, copied as it is
                assert case.value not in text, rel


# Inside the value (whitespace around a choice or a number is stripped, and rightly accepted).
REFUSED = {
    "name": lambda piece: ["new", f"p{piece}q", "--model", HUB_MODEL],
    "model_id": lambda piece: ["new", "p", "--model", f"acme/m{piece}n"],
    "recipe": lambda piece: ["new", "p", "--model", HUB_MODEL, "--recipe", f"lo{piece}ra"],
    "target": lambda piece: ["new", "p", "--model", HUB_MODEL, "--target", f"lo{piece}cal"],
    "set_choice": lambda piece: ["new", "p", "--model", HUB_MODEL, "--set", f"quant_type=n{piece}f4"],
    "set_modules": lambda piece: ["new", "p", "--model", HUB_MODEL, "--set", f"lora_target_modules=q_proj,v{piece}x"],
    "set_key": lambda piece: ["new", "p", "--model", HUB_MODEL, "--set", f"lo{piece}ra_r=1"],
    "set_number": lambda piece: ["new", "p", "--model", HUB_MODEL, "--set", f"lora_r=1{piece}6"],
}
REFUSING = [(field, hid) for field in REFUSED for hid in HOSTILE]


@pytest.mark.parametrize("field,hid", REFUSING, ids=[f"{f}-{h}" for f, h in REFUSING])
def test_values_that_cannot_be_represented_are_refused_in_one_line(field, hid, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # '\\' makes --model look like a (missing) local path: relative to here
    out = tmp_path / "out"
    argv = REFUSED[field](HOSTILE[hid]) + ["--dir", str(out), "--non-interactive", "--json"]
    code, stdout, err = run(argv)
    assert_refused(code, stdout, err, field, out)
    assert not (tmp_path / "out").exists()


def test_the_issue_examples(tmp_path, tiny_model, monkeypatch):
    """``--model './dq"name' --recipe olive --target local`` and a folder named quote'name (the bicep)."""
    monkeypatch.chdir(tmp_path)
    for name in ('dq"name', "quote'name"):
        _copy_model(tiny_model, tmp_path / name)
        code, _out, err = run(["new", name.replace('"', "d").replace("'", "q"), "--model", f"./{name}",
                               "--recipe", "olive", "--target", "local", "--non-interactive"])
        assert code == 0, err
    olive = json.loads((tmp_path / "dqdname/finetuning/olive-config.json").read_text(encoding="utf-8"))
    assert olive["input_model"]["model_path"] == 'model-cache/local/dq"name'
    doc = json.loads(parse_bicep((tmp_path / "quoteqname/infra/provision/finetuning.bicep").read_text()))
    assert "quote'name" in description(doc)


def test_the_template_tree_has_no_file_this_test_cannot_parse():
    for recipe in RECIPES:
        for _src, rel, out in template_files(recipe):
            name = out.rsplit("/", 1)[-1]
            known = name.endswith((".json", ".bicep", ".py", ".sh", ".yml", ".yaml", ".md")) or \
                name == "requirements.txt" or out in STATIC
            assert known, f"{out}: teach tests/unit/test_hostile_render.py to parse it"
    assert template_root().is_dir()
