"""The one error type of this package: a dataset that cannot be read, naming the field and the fix.

Messages are written once, in ftstudio's command-line words (``--format``, ``--map``, ``FILE``);
``project_words`` says the same in the words of ``finetuning/train_config.json`` for the
project's own scripts, which read their settings from there, not from flags.
"""
from __future__ import annotations

import re

# flag -> the train_config.json key that holds the same setting
PROJECT_WORDS = {"--format": "dataset.format", "--map": "dataset.column_map", "--text-template":
                 "dataset.text_template", "FILE": "dataset.train_file"}
_FLAG = re.compile(r"(?<![\w-])(--format|--map|--text-template)(?![\w-])")


def project_words(text: str) -> str:
    """``text`` with each flag named by its train_config.json key (``--map a=b`` reads ``dataset.column_map a=b``)."""
    return _FLAG.sub(lambda m: PROJECT_WORDS[m.group(1)], text)


class DataError(ValueError):
    """A dataset (or a setting about it) that cannot be used: one line, the field, the fix."""

    def __init__(self, message: str, *, field: str, fix: str):
        super().__init__(message)
        self.message, self.field, self.fix = message, field, fix

    def one_line(self, *, project: bool = False) -> str:
        text = f"{self.message} Fix: {self.fix}"
        return project_words(text) if project else text
