"""Deterministic fault injection: rules match method + path regex and fire a number of times.

Kinds: an error status (429 + Retry-After / 5xx), a dropped connection (e.g. mid-upload of a
Files range), a log stream cut after N lines, an LRO that stays InProgress for N polls, an LRO
that ends Failed, and seeded random chaos.
"""
from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Optional


@dataclass
class Rule:
    kind: str  # status | drop | drop_upload | cut_stream | slow_lro | fail_lro | chaos
    method: Optional[str]
    path: re.Pattern
    times: Optional[int]  # None = forever
    status: int = 0
    code: Optional[str] = None
    message: Optional[str] = None
    retry_after: Optional[float] = None
    retry_after_ms: Optional[int] = None
    after_lines: int = 0
    polls: int = 0
    rate: float = 0.0
    statuses: tuple = ()
    rng: Optional[random.Random] = None
    query: Optional[re.Pattern] = None
    fired: int = 0

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.query is not None and not self.query.search(query or ""):
            return False
        return bool(self.path.search(path))


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.fired: list[tuple[str, str, str]] = []  # (kind, method, path) history

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.fired.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    # -- public API ----------------------------------------------------------------------------
    def add(self, method: Optional[str] = None, path: str = r".*", status: int = 503, *, times: Optional[int] = 1,
            retry_after: Optional[float] = None, retry_after_ms: Optional[int] = None, code: Optional[str] = None,
            message: Optional[str] = None) -> Rule:
        """Answer the next ``times`` matching requests with ``status``. A 429/503 carries
        ``Retry-After: <retry_after>`` when given, else ``Retry-After-Ms: 10`` (fast, non-zero)."""
        if retry_after is None and retry_after_ms is None and status in (429, 503):
            retry_after_ms = 10
        return self._add(Rule("status", method, re.compile(path, re.I), times, status=status, code=code,
                              message=message, retry_after=retry_after, retry_after_ms=retry_after_ms))

    def throttle(self, method: Optional[str] = None, path: str = r".*", times: int = 1, retry_after: Optional[float] = None) -> Rule:
        return self.add(method, path, 429, times=times, retry_after=retry_after)

    def drop(self, method: Optional[str] = None, path: str = r".*", times: int = 1) -> Rule:
        """Close the connection without answering (after reading the request)."""
        return self._add(Rule("drop", method, re.compile(path, re.I), times))

    def drop_upload(self, path: str = r".*", times: int = 1) -> Rule:
        """Drop the connection during the next ``times`` Files 'Put Range' uploads (nothing written)."""
        return self._add(Rule("drop", "PUT", re.compile(path, re.I), times, query=re.compile(r"(^|&)comp=range", re.I)))

    def cut_stream(self, after_lines: int = 3, times: int = 1, path: str = r"/(logstream|eventstream)$") -> Rule:
        """The next ``times`` log streams send ``after_lines`` lines, then the socket is closed
        mid-response (no terminating chunk)."""
        return self._add(Rule("cut_stream", "GET", re.compile(path, re.I), times, after_lines=after_lines))

    def slow_lro(self, polls: int = 3, method: Optional[str] = None, path: str = r".*", times: int = 1) -> Rule:
        """The next ``times`` long-running operations started by a matching request report
        InProgress for ``polls`` status polls before finishing."""
        return self._add(Rule("slow_lro", method, re.compile(path, re.I), times, polls=polls))

    def fail_lro(self, code: str = "InternalServerError", message: str = "The operation failed.", *,
                 method: Optional[str] = None, path: str = r".*", times: int = 1, polls: int = 0) -> Rule:
        """The next ``times`` matching long-running operations end Failed with ``code``."""
        return self._add(Rule("fail_lro", method, re.compile(path, re.I), times, code=code, message=message, polls=polls))

    def chaos(self, seed: int, rate: float = 0.2, statuses: tuple = (429, 500, 503), *, method: Optional[str] = None,
              path: str = r".*", times: Optional[int] = None) -> Rule:
        """Seeded random failures: each matching request fails with probability ``rate``
        (same seed + same request sequence = same failures)."""
        return self._add(Rule("chaos", method, re.compile(path, re.I), times, rate=rate, statuses=tuple(statuses),
                              rng=random.Random(seed), retry_after_ms=10))

    # -- used by the server ----------------------------------------------------------------------
    def take(self, kinds: tuple, method: str, path: str, query: str = "") -> Optional[Rule]:
        with self._lock:
            for r in self.rules:
                if r.kind in kinds and r.matches(method, path, query):
                    if r.kind == "chaos":
                        assert r.rng is not None
                        if r.rng.random() >= r.rate:
                            continue
                        r.status = r.rng.choice(r.statuses)
                    r.fired += 1
                    self.fired.append((r.kind, method, path))
                    return r
        return None

    def lro_plan(self, method: str, path: str, default_polls: int) -> tuple[int, Optional[tuple[str, str]]]:
        """(pending polls, failure) for a new long-running operation."""
        polls, fail = default_polls, None
        r = self.take(("slow_lro",), method, path)
        if r:
            polls = r.polls
        f = self.take(("fail_lro",), method, path)
        if f:
            fail = (f.code or "InternalServerError", f.message or "The operation failed.")
            polls = max(polls, f.polls)
        return polls, fail
