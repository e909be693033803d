"""The core never needs the TUI: ``infra/`` and ``scaffolds/`` never import Textual (not even lazily),
and ``ftstudio --help`` starts without importing it (Harlequin's import-hygiene test)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = ("core", "infra", "scaffolds", "usecases")


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_importing_every_core_module_loads_no_textual():
    code = (
        "import importlib, pkgutil, sys\n"
        f"for top in {CORE!r}:\n"
        "    pkg = importlib.import_module(top)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, top + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(len([m for m in sys.modules if m.split('.')[0] in %r]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')))\n" % (CORE,)
    )
    count, loaded = _run(code).strip().splitlines()
    assert int(count) > 10  # the walk really imported the core
    assert loaded == "[]"


def test_no_core_source_mentions_a_textual_import():
    offenders = []
    for top in CORE:
        for path in (REPO / top).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                if any(n == "textual" or n.startswith("textual.") or n == "tui" or n.startswith("tui.")
                       for n in names):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_help_does_not_import_textual():
    code = (
        "import contextlib, io, sys\n"
        "from tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'azure', 'torch'}))\n"
    )
    assert _run(code).strip() == "[]"


def test_the_app_module_imports_no_azure_sdk():
    # opening the UI must stay fast: Azure SDKs load only when a screen's worker needs them
    code = "import sys, tui.app\nprint(sorted({m.split('.')[0] for m in sys.modules} & {'azure', 'torch', 'jinja2'}))\n"
    assert _run(code).strip() == "[]"
