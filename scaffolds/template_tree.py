"""Where the project template tree is (``scaffolds/templates/project``): the renderer reads it, and
the parameter table loads the generated project's own helper module from it."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

TEMPLATE_PACKAGE = "scaffolds"
TEMPLATE_DIR = "templates/project"


def template_root() -> Path:
    return Path(str(resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR)))
