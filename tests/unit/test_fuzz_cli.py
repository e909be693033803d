"""Property-based fuzzing of the CLI's inputs (issue 22): names, ``--set`` pairs, dataset files of
random bytes and random JSON shapes, model folders with a random ``config.json``, and project files
of random JSON. The property, whatever the input: ``main()`` returns 0, 1 or 2 (no exception escapes,
so no traceback), prints at most one error line, leaves nothing half-written, and every file it
generates parses with its own parser.

CI runs the bounded ``ci`` profile (about a minute in all); ``benchmarks/fuzz_cli.py`` runs the long
one (FTSTUDIO_FUZZ_EXAMPLES examples per property).
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core import project_files as pf
from scaffolds import params
from tui.cli import main

EXAMPLES = int(os.environ.get("FTSTUDIO_FUZZ_EXAMPLES", "0")) or None
settings.register_profile(
    "ftstudio-fuzz",
    max_examples=EXAMPLES or 150,
    deadline=None,
    derandomize=EXAMPLES is None,  # CI: the same cases every run, so a red run is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("ftstudio-fuzz")
PHI3 = "microsoft/Phi-3-mini-4k-instruct"

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
hostile = st.sampled_from(['"', "'", "\\", "\n", "${x}", "{{ x }}", "{% if %}", "$(id)", "`id`", "\x1b[31m",
                           "\x00", "..", "/", "-", "é", "١٦", " ", ""])
names = st.one_of(text, st.lists(st.one_of(hostile, text), max_size=4).map("".join))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True), text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12)


def _value_for(p: "params.Param"):
    """Mostly values a user could mean (in range, a choice), sometimes anything."""
    plausible = {
        "int": st.integers(int(p.min if p.min is not None else -5) - 2, int(min(p.max or 10**6, 10**6)) + 2).map(str),
        "float": st.floats(-1, 2, allow_nan=False).map(repr),
        "bool": st.sampled_from(["true", "false", "yes", "0", "maybe"]),
        "choice": st.sampled_from([*map(str, p.choices), "other"]),
        "modules": st.sampled_from(["all-linear", "q_proj,v_proj", "q_proj,,", "${x}"]),
        "str": st.one_of(st.just("{phrase} => {tone}"), names.map(lambda n: "{phrase}" + n + "{tone}"), names),
    }[p.type]
    return st.one_of(plausible, plausible, plausible, names)  # mostly plausible, so cases get past validation


def _set_pairs():
    known = st.sampled_from([params.BY_NAME[n] for n in params.NAMES]).flatmap(
        lambda p: _value_for(p).map(lambda v: f"{p.name}={v}"))
    unknown = st.tuples(text, names).map(lambda kv: f"{kv[0]}={kv[1]}")
    return st.lists(st.one_of(known, known, known, unknown), max_size=3)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)  # any other escaping exception fails the property (it would be a traceback)
    except SystemExit as exit_:  # argparse's usage errors: exit 2 with its usage line, by design
        code = exit_.code
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    # ours ("error: ...") or argparse's usage error ("ftstudio new: error: ...", after its usage lines)
    errors = [ln for ln in err.splitlines() if re.match(r"(ftstudio( [a-z]+)*: )?error: ", ln)]
    assert len(errors) <= 1 and "Traceback" not in err, err
    if code:
        assert len(errors) == 1, err
    event(f"exit {code}")  # --hypothesis-show-statistics: how many cases got how far
    return code, err


def check_generated(root: Path) -> None:
    """Every generated file parses with its own parser (bicep is covered by test_hostile_render)."""
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            json.loads(data.decode("utf-8"))
        elif path.suffix == ".py":
            ast.parse(data.decode("utf-8"), filename=str(path))
        elif path.suffix == ".jsonl":
            for line in data.decode("utf-8").splitlines():
                if line.strip():
                    json.loads(line)


def _new(workdir: Path, name: str, model: str, *extra: str) -> list[str]:
    return ["new", name, "--model", model, "--dir", str(workdir / "out"), "--non-interactive", "--target", "local", *extra]


def _after_new(workdir: Path, code: int) -> None:
    out = workdir / "out"
    made = [p for p in out.iterdir()] if out.is_dir() else []
    if code:
        assert made == [], f"a failed `new` left {made}"  # nothing half-written
    else:
        assert len(made) == 1
        check_generated(made[0])


@FUZZ
@given(name=st.one_of(st.just("demo"), st.just("demo"), names), pairs=_set_pairs(),
       recipe=st.sampled_from(["lora", "qlora", "olive", "lora", "qlora", "x"]))
def test_new_with_random_names_and_parameters(name, pairs, recipe, capsys):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        argv = _new(work, name, PHI3, "--recipe", recipe)
        for pair in pairs:
            argv += ["--set", pair]
        code, _ = _run(argv, capsys)
        _after_new(work, code)


@FUZZ
@given(content=st.one_of(
    st.binary(max_size=300),
    st.lists(json_values.map(lambda v: json.dumps(v)), max_size=5).map("\n".join).map(str.encode),
    st.lists(st.dictionaries(st.sampled_from(["phrase", "tone", "text", "messages", "x"]), json_values, max_size=3)
             .map(json.dumps), min_size=1, max_size=5).map("\n".join).map(str.encode),
    st.lists(st.fixed_dictionaries({"phrase": names, "tone": names}).map(json.dumps), min_size=1, max_size=8)
    .map("\n".join).map(str.encode),
))
def test_new_with_random_dataset_files(content, capsys):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        dataset = work / "data.jsonl"
        dataset.write_bytes(content)
        code, _ = _run(_new(work, "p", PHI3, "--dataset", str(dataset)), capsys)
        _after_new(work, code)


@FUZZ
@given(config=st.one_of(json_values, st.fixed_dictionaries({}, optional={
           "architectures": st.one_of(st.just(["LlamaForCausalLM"]), json_values),
           "model_type": st.one_of(st.just("llama"), json_values),
           "max_position_embeddings": st.one_of(st.integers(-5, 10**9), json_values),
           "auto_map": json_values})),
       tokenizer=st.one_of(st.none(), json_values, st.fixed_dictionaries({"chat_template": st.one_of(names, json_values)})),
       folder=st.one_of(st.just("tiny-model"), names).filter(lambda n: "/" not in n and "\x00" not in n and n not in ("", ".", "..")),
       weights=st.sampled_from(["good", "none", "garbage", "header-list"]))
def test_new_with_random_model_folders(config, tokenizer, folder, weights, capsys):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        model = work / "models" / folder
        try:
            model.mkdir(parents=True)
        except OSError:
            return  # a name this file system refuses (too long): not an input ftstudio can be given
        (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
        if tokenizer is not None:
            (model / "tokenizer_config.json").write_text(json.dumps(tokenizer), encoding="utf-8")
        _weights(model / "model.safetensors", weights)
        code, _ = _run(_new(work, "p", str(model)), capsys)
        _after_new(work, code)


def _weights(path: Path, kind: str) -> None:
    import struct

    if kind == "none":
        return
    header = {"good": {"embed.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}},
              "header-list": [1, 2]}.get(kind)
    if header is None:
        path.write_bytes(b"\xff" * 40)  # garbage: a header length far past the end
        return
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(64))


_PROJECT: dict = {}


def _template_project(tmp_factory) -> Path:
    if "root" not in _PROJECT:
        base = Path(tmp_factory.mktemp("fuzz-project"))
        assert main(["new", "p", "--model", PHI3, "--dir", str(base), "--non-interactive", "--target", "local"]) == 0
        _PROJECT["root"] = base / "p"
    return _PROJECT["root"]


@FUZZ
@given(which=st.sampled_from([f.rel for f in pf.ALL]), doc=json_values,
       command=st.sampled_from([["status"], ["sync", "--dry-run"], ["secret", "list"], ["logs", "--no-follow"]]))
def test_commands_on_project_files_of_random_json(which, doc, command, tmp_path_factory, capsys, monkeypatch):
    monkeypatch.setenv("FTSTUDIO_LOCAL_PYTHON", shutil.which("python3") or "python3")
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp) / "p"
        shutil.copytree(_template_project(tmp_path_factory), root)
        target = root / which
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc), encoding="utf-8")
        _run([*command, "--project", str(root)], capsys)
