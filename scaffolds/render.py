"""Rendering the project template tree (``scaffolds/templates/project``) into a folder.

- ``*.j2`` files are rendered with jinja2 ``StrictUndefined`` (a missing value is an error, never a
  leftover token) and lose the suffix; other files are copied byte for byte.
- A path component ``dot-NAME`` becomes ``.NAME`` (so the template tree itself holds no live
  ``.gitignore`` that would affect this repository).
- Files only a recipe needs (Olive's) are skipped for the others.
- Escaping is per output language, like jinja2's autoescape: a ``.json`` / ``.bicep`` template
  puts user strings through ``|json`` / ``|bicep`` (a whole literal) or ``|bicep_text`` (inside a
  quoted string); any other string that reaches the output with a character special to that
  language (a quote, a backslash, ``${``, a control character) is refused, never pasted.
"""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Iterator

TEMPLATE_PACKAGE = "scaffolds"
TEMPLATE_DIR = "templates/project"
# Only generated for --recipe olive (contract: "finetuning/invoke_olive.py + olive-config.json").
OLIVE_ONLY = ("finetuning/invoke_olive.py", "finetuning/olive-config.json")
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")

# Leftovers: jinja syntax that survived, or AI Toolkit-style <token> placeholders.
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|\{#")


def template_root() -> Path:
    return Path(str(resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR)))


def output_path(rel: str) -> str:
    parts = [("." + p[4:]) if p.startswith("dot-") else p for p in rel.split("/")]
    out = "/".join(parts)
    return out[:-3] if out.endswith(".j2") else out


def template_files(recipe: str) -> Iterator[tuple[Path, str, str]]:
    """(source file, path relative to the template root, output path) for ``recipe``, sorted."""
    root = template_root()
    for src in sorted(root.rglob("*")):
        if not src.is_file():
            continue
        rel = src.relative_to(root).as_posix()
        if any(part in _SKIP_PARTS for part in rel.split("/")) or rel.endswith(_SKIP_SUFFIXES):
            continue
        out = output_path(rel)
        if recipe != "olive" and out in OLIVE_ONLY:
            continue
        yield src, rel, out


class Escaped(str):
    """Text an escaping filter produced: safe to paste into its language."""


# What a plain (unfiltered) string may not contain, per output language.
_UNSAFE = {
    "json": re.compile(r'["\\\x00-\x1f\x7f]'),
    "bicep": re.compile(r"['\\\x00-\x1f\x7f]|\$\{"),
}


def language(rel: str) -> str:
    name = rel[:-3] if rel.endswith(".j2") else rel
    return name.rsplit(".", 1)[-1] if "." in name else "text"


def _finalizer(lang: str, rel: str):
    unsafe = _UNSAFE.get(lang)

    def finalize(value):
        if unsafe is None or isinstance(value, Escaped) or not isinstance(value, str):
            return value
        if unsafe.search(value):
            raise RuntimeError(f"template {rel} renders {value!r} unescaped: put it through |{lang}")
        return value

    return finalize


def environment(rel: str = ""):
    """The jinja2 environment for template ``rel`` (its finalizer depends on the output language)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_finalizer(language(rel), rel),
    )
    env.filters["json"] = json_literal
    env.filters["bicep"] = bicep_literal
    env.filters["bicep_text"] = bicep_text
    return env


def json_literal(value) -> Escaped:
    return Escaped(json.dumps(value, ensure_ascii=False))


_BICEP_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"}


def bicep_text(value: str) -> Escaped:
    """``value`` escaped for the inside of a bicep '...' string (\\, \', \\n, \\r, \\t, \\$; other
    control characters as \\u{..})."""
    out = []
    for ch in str(value):
        if ch in _BICEP_ESCAPES:
            out.append(_BICEP_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return Escaped("".join(out))


def bicep_literal(value) -> Escaped:
    """A Python str/int/bool as a bicep literal ('single-quoted', escaped)."""
    if isinstance(value, bool):
        return Escaped("true" if value else "false")
    if isinstance(value, int):
        return Escaped(str(value))
    if isinstance(value, str):
        return Escaped("'" + bicep_text(value) + "'")
    raise TypeError(f"no bicep literal for {type(value).__name__}")


def aitk_tokens() -> re.Pattern:
    """``<lora_r>``-style placeholders of AI Toolkit's templates, for every parameter name we know."""
    from scaffolds.params import NAMES

    names = set(NAMES) | {"prompt_template", "conda_env_name", "data_files", "model_name", "model_path"}
    return re.compile(r"<(" + "|".join(sorted(map(re.escape, names))) + r")>")


def render_tree(dest: Path, context: dict, recipe: str) -> list[str]:
    """Render/copy the template tree into ``dest``; returns the output paths written."""
    import jinja2

    tokens = aitk_tokens()
    written = []
    for src, rel, out in template_files(recipe):
        target = dest / out
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".j2"):
            try:
                text = environment(rel).get_template(rel).render(**context)
            except jinja2.UndefinedError as exc:
                raise RuntimeError(f"template {rel}: {exc.message}") from None
            leftover = JINJA_LEFTOVER.search(text) or tokens.search(text)
            if leftover:
                raise RuntimeError(f"template {rel} left {leftover.group(0)!r} in {out}")
            target.write_text(text, encoding="utf-8")
        else:
            target.write_bytes(src.read_bytes())
        target.chmod(src.stat().st_mode & 0o777 | 0o600)
        written.append(out)
    return written
