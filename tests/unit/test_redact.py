"""Redaction of secret values in log lines and messages."""
from __future__ import annotations

import json
from urllib.parse import quote

from infra.redact import MASK, Redactor, redact


def test_values_are_hidden_everywhere_in_a_line():
    r = Redactor(["hf_abcdefSECRET", "other-secret-value"])
    assert r("token=hf_abcdefSECRET and again hf_abcdefSECRET") == f"token={MASK} and again {MASK}"
    assert r("other-secret-value") == MASK
    assert r("nothing here") == "nothing here"


def test_longest_value_wins_when_one_contains_another():
    r = Redactor(["abcd", "abcdefgh"])
    assert r("xx abcdefgh yy") == f"xx {MASK} yy"


def test_regex_metacharacters_are_literal():
    r = Redactor(["a.b*c+(d)"])
    assert r("a.b*c+(d)") == MASK
    assert r("aXbbbc+(d)") == "aXbbbc+(d)"


def test_encoded_spellings_are_hidden_too():
    value = 'p@ss/w"rd+1'
    r = Redactor([value])
    assert MASK == r(quote(value, safe=""))
    assert value not in r(json.dumps({"v": value}))
    assert "p%40ss" not in r("url?x=" + quote(value, safe=""))


def test_multiline_values_are_hidden_line_by_line():
    key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----"
    r = Redactor([key])
    for line in key.splitlines():
        assert r(f"log: {line}") == f"log: {MASK}"


def test_empty_and_tiny_values_do_not_mangle_output():
    r = Redactor(["", None, "1"])
    assert not r
    assert r("10 epochs") == "10 epochs"


def test_add_and_helper():
    r = Redactor()
    r.add("late-secret")
    assert r.contains_secret("x late-secret")
    assert redact("x late-secret", ["late-secret"]) == f"x {MASK}"
