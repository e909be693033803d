"""Rendering the project template tree (``scaffolds/templates/project``) into a folder.

- ``*.j2`` files are rendered with jinja2 ``StrictUndefined`` (a missing value is an error, never a
  leftover token) and lose the suffix; other files are copied byte for byte.
- A path component ``dot-NAME`` becomes ``.NAME`` (so the template tree itself holds no live
  ``.gitignore`` that would affect this repository).
- Files only a recipe needs (Olive's) are skipped for the others.
- Escaping is per output language, like jinja2's autoescape: a ``.json`` / ``.bicep`` template
  puts user strings through ``|json`` / ``|bicep`` (a whole literal) or ``|bicep_text`` (inside a
  quoted string); a ``.md`` template through ``|md`` (inline text, table cells included),
  ``|md_code`` (an inline code span; ``|md_code(table=True)`` inside a table cell) or ``|md_line``
  (a line of a fenced code block). Any other string that reaches the output with a character
  special to that language (a quote, a backslash, ``${``, markdown punctuation) or any
  non-printable character (in every language) is refused, never pasted.
- A value that cannot be shown as it is in a README (a newline, a control character, a lone
  surrogate from an undecodable file name) is shown as its JSON string literal (``"a\\nb"``).
- The leftover check (jinja syntax or ``<lora_r>``-style tokens in the output) looks at the
  template's own text only: markers inside rendered values (a folder named ``{{x}}``) are data.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Iterator

from scaffolds.template_tree import template_root

# Only generated for --recipe olive (contract: "finetuning/invoke_olive.py + olive-config.json").
OLIVE_ONLY = ("finetuning/invoke_olive.py", "finetuning/olive-config.json")
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")

# Leftovers: jinja syntax that survived, or AI Toolkit-style <token> placeholders.
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|\{#")


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


# What a plain (unfiltered) string may not contain, per output language (besides any non-printable
# character, refused everywhere).
_UNSAFE = {
    "json": re.compile(r'["\\]'),
    "bicep": re.compile(r"['\\]|\$\{"),
    "md": re.compile(r"[\\`*_\[\]<>|!#&~]"),
}
_FILTER_HINT = {"json": "|json", "bicep": "|bicep or |bicep_text", "md": "|md, |md_code or |md_line"}


def language(rel: str) -> str:
    name = rel[:-3] if rel.endswith(".j2") else rel
    return name.rsplit(".", 1)[-1] if "." in name else "text"


def _finalizer(lang: str, rel: str, hide=None):
    unsafe = _UNSAFE.get(lang)

    def finalize(value):
        if not isinstance(value, str):
            return value
        if not isinstance(value, Escaped) and (not value.isprintable() or (unsafe and unsafe.search(value))):
            hint = _FILTER_HINT.get(lang, "an escaping filter (or validate the value)")
            raise RuntimeError(f"template {rel} renders {value!r} unescaped: put it through {hint}")
        return hide(value) if hide else value

    return finalize


def environment(rel: str = "", hide=None):
    """The jinja2 environment for template ``rel`` (its finalizer depends on the output language).

    ``hide``: applied to every rendered value (``render_tree`` masks template markers with it, so
    its leftover check only sees the template's own text)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_finalizer(language(rel), rel, hide),
    )
    env.filters["json"] = json_literal
    env.filters["bicep"] = bicep_literal
    env.filters["bicep_text"] = bicep_text
    env.filters["md"] = md_text
    env.filters["md_code"] = md_code
    env.filters["md_line"] = md_line
    return env


# -- JSON -------------------------------------------------------------------------------------------------
def json_text(value, *, indent=None) -> str:
    """``json.dumps`` that keeps letters as they are (UTF-8) but writes every non-printable character
    (control and format characters such as U+202E, line separators, and the lone surrogates an
    undecodable file name decodes to) as a ``\\u`` escape: the text encodes as UTF-8, shows the same
    in any editor, and ``json.loads`` gives back exactly ``value``. Outside strings json.dumps only
    writes spaces and (with ``indent``) newlines, which stay."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text)


def json_literal(value) -> Escaped:
    return Escaped(json_text(value))


# -- bicep ------------------------------------------------------------------------------------------------
_BICEP_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"}


def bicep_text(value: str) -> Escaped:
    """``value`` escaped for the inside of a bicep '...' string (\\, \', \\n, \\r, \\t, \\$; any other
    non-printable character as \\u{..})."""
    out = []
    for ch in str(value):
        if ch in _BICEP_ESCAPES:
            out.append(_BICEP_ESCAPES[ch])
        elif not ch.isprintable():
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


# -- markdown (CommonMark + GFM tables) --------------------------------------------------------------------
_MD_PUNCT = re.compile(r"[\\`*_\[\]<>|!#&~]")


def visible(value) -> str:
    """``value`` when every character of it is printable, else its JSON string literal: a newline or a
    control character pasted into a README would end its line or table row (or hide in a terminal)."""
    text = str(value)
    return text if text.isprintable() else json_text(text)


def md_text(value) -> Escaped:
    """Inline markdown text (also right in a table cell): markdown punctuation backslash-escaped, so
    the value never turns into emphasis, a link, HTML, a code span or a new table cell; spaces at its
    ends as &#32; (a table cell or **bold** around it would drop or misread them)."""
    text = _MD_PUNCT.sub(lambda m: "\\" + m.group(0), visible(value))
    core = text.strip(" ")
    if core != text and core:
        start = text.index(core)
        text = "&#32;" * start + core + "&#32;" * (len(text) - start - len(core))
    return Escaped(text)


def md_code(value, table: bool = False) -> Escaped:
    """An inline code span showing ``value`` exactly: fenced by a backtick run longer than any inside,
    padded when it starts/ends with a backtick or a space; ``table=True`` also escapes ``|`` (GFM
    splits table cells before it reads code spans, and takes ``\\|`` back as ``|``)."""
    text = visible(value) if str(value) else '""'
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if (text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " " and text.strip(" "))) else ""
    return Escaped(f"{fence}{pad}{text}{pad}{fence}")


def md_line(value) -> Escaped:
    """A line inside a fenced code block: shown as it is, unless it would end the line early (a newline,
    a control character) or close the fence (``` or ~~~ at its start); then as a JSON string literal."""
    text = visible(value)
    if text.lstrip(" ").startswith(("```", "~~~")):
        text = json_text(str(value))
    return Escaped(text)


def _marker_mask():
    """(hide, show): hide swaps the characters that start template markers (``{``, ``<``) for tokens no
    input can contain; show swaps them back once the leftover check has run."""
    tag = uuid.uuid4().hex
    swaps = (("{", f"\ue000{tag}:brace\ue001"), ("<", f"\ue000{tag}:angle\ue001"))

    def hide(text: str) -> str:
        for char, token in swaps:
            text = text.replace(char, token)
        return text

    def show(text: str) -> str:
        for char, token in swaps:
            text = text.replace(token, char)
        return text

    return hide, show


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
            hide, show = _marker_mask()
            try:
                text = environment(rel, hide).get_template(rel).render(**context)
            except jinja2.UndefinedError as exc:
                raise RuntimeError(f"template {rel}: {exc.message}") from None
            leftover = JINJA_LEFTOVER.search(text) or tokens.search(text)
            if leftover:
                raise RuntimeError(f"template {rel} left {leftover.group(0)!r} in {out}")
            target.write_text(show(text), encoding="utf-8")
        else:
            target.write_bytes(src.read_bytes())
        target.chmod(src.stat().st_mode & 0o777 | 0o600)
        written.append(out)
    return written
