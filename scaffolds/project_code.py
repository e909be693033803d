"""The generated project's own Python code, loaded by ftstudio from the template tree.

ftstudio checks a dataset, a text_template and the training defaults with the very code that the
project's training and serving run (``finetuning/project_helpers.py`` and the
``finetuning/training_data`` package), not with a copy of it. They load under private names
(``scaffolds._project_helpers``, ``scaffolds._training_data``), so nothing shadows a real module.
Their errors are ``ValueError``s; ``input_errors()`` turns a dataset's ``DataError`` into ftstudio's
``InputError`` (exit 2, the field and the fix).
"""
from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

from core.errors import InputError
from scaffolds.template_tree import template_root


def _load(name: str, private: str) -> ModuleType:
    path = template_root() / "finetuning" / name
    package = path.is_dir()
    spec = importlib.util.spec_from_file_location(
        private, path / "__init__.py" if package else path.with_suffix(".py"),
        submodule_search_locations=[str(path)] if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module  # a package's relative imports find their parent here
    spec.loader.exec_module(module)
    return module


project_helpers = _load("project_helpers", "scaffolds._project_helpers")
training_data = _load("training_data", "scaffolds._training_data")
for _part in ("errors", "shape", "sources", "formats", "text_template", "render"):
    importlib.import_module(f"scaffolds._training_data.{_part}")
DataError = training_data.errors.DataError


def as_input_error(exc: Exception) -> InputError:
    return InputError(exc.message, field=exc.field, fix=exc.fix)


@contextmanager
def input_errors() -> Iterator[None]:
    """Inside: a dataset's DataError surfaces as ftstudio's InputError."""
    try:
        yield
    except DataError as exc:
        raise as_input_error(exc) from None
