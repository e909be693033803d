"""Rendering the project template tree (``scaffolds/templates/project``) into a folder.

- ``*.j2`` files are rendered with jinja2 ``StrictUndefined`` (a missing value is an error, never a
  leftover token) and lose the suffix; other files are copied byte for byte.
- A path component ``dot-NAME`` becomes ``.NAME`` (so the template tree itself holds no live
  ``.gitignore`` that would affect this repository).
- Files only a recipe needs (Olive's) are skipped for the others.
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


def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["bicep"] = bicep_literal
    return env


def bicep_literal(value) -> str:
    """A Python str/int/bool as a bicep literal ('single-quoted', with \\ and \' escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${") + "'"
    raise TypeError(f"no bicep literal for {type(value).__name__}")


def aitk_tokens() -> re.Pattern:
    """``<lora_r>``-style placeholders of AI Toolkit's templates, for every parameter name we know."""
    from scaffolds.params import NAMES

    names = set(NAMES) | {"prompt_template", "conda_env_name", "data_files", "model_name", "model_path"}
    return re.compile(r"<(" + "|".join(sorted(map(re.escape, names))) + r")>")


def render_tree(dest: Path, context: dict, recipe: str) -> list[str]:
    """Render/copy the template tree into ``dest``; returns the output paths written."""
    import jinja2

    env = environment()
    tokens = aitk_tokens()
    written = []
    for src, rel, out in template_files(recipe):
        target = dest / out
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".j2"):
            try:
                text = env.get_template(rel).render(**context)
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
