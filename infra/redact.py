"""Hide secret values in text before it reaches a terminal, a file or an exception message.

One compiled alternation over every known value (longest first, so a value that contains
another is hidden whole), applied line by line. Each value is also hidden in the spellings it
takes on the way through logs and errors: percent-encoded, JSON-escaped, and line by line for
multi-line values.
"""
from __future__ import annotations

import json
import re
from typing import Iterable, Optional
from urllib.parse import quote, quote_plus

MASK = "***"
# A value this short cannot be a real secret, and hiding it would mangle every line (a secret
# "1" would turn "10 epochs" into "***0 epochs"). Such values are refused by secret_set instead.
MIN_LENGTH = 4


def _spellings(value: str) -> set[str]:
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    for line in value.splitlines():
        forms.add(line.strip())
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    """``Redactor(values)(text)`` → text with every value replaced by ``***``."""

    def __init__(self, values: Iterable[Optional[str]] = (), mask: str = MASK):
        self.mask = mask
        self._values: set[str] = set()
        self._pattern: Optional[re.Pattern] = None
        self.add(*values)

    def add(self, *values: Optional[str]) -> None:
        for value in values:
            if value:
                self._values |= _spellings(value)
        if self._values:
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))
        else:
            self._pattern = None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(self.mask, text)

    def contains_secret(self, text: str) -> bool:
        return bool(self._pattern and self._pattern.search(text))


def redact(text: str, values: Iterable[Optional[str]]) -> str:
    """One-off form of :class:`Redactor`."""
    return Redactor(values)(text)
