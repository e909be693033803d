"""Backend-independent log streaming: parse records, drop the lines a reconnect replays, back off.

A follow stream is a sequence of HTTP connections. Each reconnect asks for the last
``tailLines`` lines again so nothing written while we were away is lost; :class:`Deduper`
drops the part of that replay we already showed, keyed on (timestamp, text) and counting
occurrences so identical lines at an identical timestamp are neither merged nor repeated, and
says when a replay did not reach back far enough. :class:`Pace` sizes that replay, :class:`Backoff`
spaces out attempts that bring nothing, ``parse_duration`` reads ``--since`` values.
Memory is bounded: only the last ``window`` keys are remembered.
"""
from __future__ import annotations

import json
import random
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

from core.errors import InputError

# The Container Apps log stream caps tailLines at 300 (azure-wire-facts §5).
MAX_TAIL = 300

# -- durations (--since 30m) -------------------------------------------------------------------------
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.I)


def parse_duration(text: str, *, field: str = "--since") -> float:
    """'30m' → 1800.0; also '90s', '2h', '1d', '1w', '1h30m', or an ISO-8601 time (seconds ago)."""
    raw = (text or "").strip()
    compact = raw.replace(" ", "")
    if compact and _DURATION.sub("", compact) == "":
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _DURATION.findall(compact))
        if seconds > 0:
            return seconds
    else:
        when = parse_timestamp(raw)
        if when is not None:
            now = datetime.now(timezone.utc)
            if when <= now:
                return max((now - when).total_seconds(), 1.0)
    raise InputError(
        f"{field} {text!r} is not a duration.",
        field=field,
        fix=f"give a positive number with a unit s, m, h, d or w (e.g. {field} 30m, 2h, 1d) or an ISO-8601 time",
    )


def parse_timestamp(text: Optional[str]) -> Optional[datetime]:
    """ISO-8601 (Azure sends up to 7 fractional digits) → aware datetime (UTC when no zone)."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(when) -> Optional[int]:
    """A timestamp (ISO text or datetime) as microseconds since 1970: the key precision.

    The stream sends 100 ns digits but Log Analytics answers in datetimes (microseconds), so
    keys compare at microseconds; lines that close together are told apart by counting.
    """
    if when is None:
        return None
    if isinstance(when, str):
        # fast path for the stream's own shape, 2024-08-22T08:37:19.1646828Z (lines come in order,
        # so the whole-second part is nearly always the previous line's)
        if len(when) > 20 and when[19] == "." and when[-1] in "Zz":
            frac = when[20:-1]
            if frac.isdigit():
                head = when[:19]
                if head != _last_head[0]:
                    dt = parse_timestamp(head + "+00:00")
                    if dt is None:
                        return None
                    _last_head[0], _last_head[1] = head, _to_micros(dt)
                return _last_head[1] + int((frac + "00000")[:6])
        dt = parse_timestamp(when)
        if dt is None:
            return None
    elif isinstance(when, datetime):
        dt = when
    else:
        return None
    return _to_micros(dt)


_last_head: list = [None, 0]


def _to_micros(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    d = dt - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


# -- records ------------------------------------------------------------------------------------------
_PLAIN = re.compile(r'^\{"TimeStamp":"([^"\\]*)","Log":"([^"\\]*)"\}$')
_LOOSE = re.compile(r'^\s*\{\s*"TimeStamp"\s*:\s*"([^"]*)"\s*,\s*"Log"\s*:\s*"(.*)"\s*\}\s*$', re.S)
_ESCAPES = {"\\u0022": '"', "\\u001B": "\x1b", "\\u001b": "\x1b", "\\u002B": "+", "\\u0027": "'", '\\"': '"',
            "\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": ""}
_ESCAPE_RX = re.compile("|".join(re.escape(k) for k in _ESCAPES))


@dataclass(frozen=True)
class Record:
    timestamp: Optional[str]
    text: str


def parse_record(raw) -> Optional[Record]:
    """One line of a log stream (``output=json``, or plain text) → Record; None for blank lines.

    The service has sent badly escaped JSON and ``\\u0022``-style escapes (azure-cli #28873), so
    when strict JSON fails the two fields are cut out by pattern and un-escaped by hand.
    """
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    line = raw.rstrip("\r\n")
    m = _PLAIN.match(line)
    if m:  # the common case, no escapes: skip the JSON decoder
        return Record(m.group(1) or None, m.group(2))
    if not line.strip():
        return None
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            m = _LOOSE.match(line)
            if m:
                return Record(m.group(1) or None, _ESCAPE_RX.sub(lambda e: _ESCAPES[e.group(0)], m.group(2)))
        else:
            if isinstance(obj, dict):
                ts = obj.get("TimeStamp") or obj.get("timestamp") or obj.get("TimeGenerated")
                text = obj.get("Log")
                if text is None:
                    text = obj.get("Msg", obj.get("msg"))
                if text is None:  # an event of the system stream: keep it whole, readable
                    text = json.dumps({k: v for k, v in obj.items() if k != "TimeStamp"}, separators=(",", ":"))
                return Record(str(ts) if ts else None, str(text).rstrip("\r\n"))
    return Record(None, line)


# -- dedupe across reconnects -------------------------------------------------------------------------
class Deduper:
    """Remembers the last ``window`` shown lines; after :meth:`reconnected` drops the replay.

    Lines are keyed on (timestamp in µs, text). While catching up after a reconnect (the new
    connection replays the log's tail):
    - a line whose key is still unmatched among the remembered lines was shown: drop it and use
      up one occurrence (a repeated line replays only as often as it was seen);
    - a line older than the newest shown one that is no longer remembered was shown: drop it;
    - the first line that is neither is new: catching up ends and everything after passes.
    If the very first replayed line is already new and newer than the last shown one, the replay
    did not reach back to it: lines may be missing in between, and :attr:`gap` says from when to
    when (``fill_gap`` then sorts Log Analytics rows of that span into the missing ones).
    """

    def __init__(self, window: int = 4 * MAX_TAIL):
        self.window = max(window, MAX_TAIL + 1)
        self._recent: deque = deque()
        self._counts: dict = {}
        self._pending: Optional[dict] = None  # unmatched remembered keys while catching up
        self._replay_started = False
        self.last_us: Optional[int] = None
        self.last_ts: Optional[str] = None  # text of the newest shown timestamp
        self.shown = 0
        self.dropped = 0
        self.gap: Optional[tuple[Optional[str], Optional[str]]] = None  # (after, before) timestamps
        self.strict = False
        self.no_overlap = False
        self._gap_state: Optional[tuple[dict, Optional[int], Optional[int]]] = None

    @property
    def catching_up(self) -> bool:
        return self._pending is not None

    def reconnected(self, *, strict: bool = False) -> None:
        """Call when a new connection (or a history query) starts replaying what may have been shown.

        ``strict``: the replay was asked for only a few lines; if it does not reach back to the
        last shown line, accept nothing and set :attr:`no_overlap` (ask again for more)."""
        if self.shown:
            self._pending = dict(self._counts)
            self._replay_started = False
        self.strict = strict
        self.no_overlap = False
        self.gap = None
        self._gap_state = None

    def accept(self, timestamp, text: str) -> bool:
        """True when the line is new and must be shown (it is then remembered); False for a replay."""
        us = micros(timestamp)
        key = (us, text)
        pending = self._pending
        if pending is not None:
            first = not self._replay_started
            self._replay_started = True
            if pending.get(key, 0) > 0:
                pending[key] -= 1
                self.dropped += 1
                return False
            if us is not None and self.last_us is not None and us < self.last_us:
                self.dropped += 1
                return False
            if first and us is not None and self.last_us is not None and us > self.last_us:
                if self.strict:
                    self._replay_started = False
                    self.no_overlap = True
                    return False
                self.gap = (self.last_ts, timestamp if isinstance(timestamp, str) else str(timestamp))
                self._gap_state = (pending, self.last_us, us)
            self._pending = None
        self._remember(key, us, timestamp)
        return True

    def fill_gap(self, rows) -> list:
        """Of ``rows`` ((timestamp, text), time order, e.g. from Log Analytics) covering the
        current :attr:`gap`, the ones never shown, oldest first (they are remembered)."""
        if self._gap_state is None:
            return []
        pending, after_us, before_us = self._gap_state
        out = []
        for timestamp, text in rows:
            us = micros(timestamp)
            if us is None or (before_us is not None and us >= before_us):
                continue
            key = (us, text)
            if pending.get(key, 0) > 0:
                pending[key] -= 1
                continue
            if after_us is not None and us < after_us:
                continue
            out.append((timestamp, text))
            self._remember(key, None, None)
        self._gap_state = None
        self.gap = None
        return out

    def _remember(self, key, us: Optional[int], timestamp) -> None:
        self.shown += 1
        recent, counts = self._recent, self._counts
        recent.append(key)
        counts[key] = counts.get(key, 0) + 1
        if len(recent) > self.window:
            old = recent.popleft()
            n = counts[old] - 1
            if n:
                counts[old] = n
            else:
                del counts[old]
        if us is not None and (self.last_us is None or us >= self.last_us):
            self.last_us = us
            self.last_ts = timestamp if isinstance(timestamp, str) or timestamp is None else timestamp.isoformat()


# -- backoff ------------------------------------------------------------------------------------------
class Backoff:
    """Exponential delays with jitter: 0.5 s, 1 s, 2 s … capped; ``reset()`` after progress."""

    def __init__(self, first: float = 0.5, cap: float = 15.0, factor: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, jitter: float = 0.2):
        self.first, self.cap, self.factor, self.jitter = first, cap, factor, jitter
        self._sleep = sleep
        self.attempt = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.first * (self.factor ** self.attempt))
        self.attempt += 1
        return base * (1 + random.uniform(-self.jitter, self.jitter)) if self.jitter else base

    def wait(self) -> float:
        delay = self.next_delay()
        if delay > 0:
            self._sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Pace:
    """Sizes the tail a reconnect asks for: the lines probably written while we were away, plus
    a margin. Too few is detected (no overlap) and asked again with more; too many wastes a
    replay, and on a connection that drops every few lines, a replay too long never gets past
    old lines. The write rate is learnt from the lines' timestamps, then corrected by every
    reconnect: a tail of k lines that began with d known lines means k - d were missed."""

    def __init__(self):
        self.rate = 20.0  # lines per second the source writes, smoothed
        self.last_local: Optional[float] = None
        self.last_us: Optional[int] = None

    def arrived(self, us: Optional[int]) -> None:
        if us is not None and self.last_us is not None and us > self.last_us:
            self.rate = 0.8 * self.rate + 0.2 * min(1e5, 1e6 / (us - self.last_us))
        if us is not None:
            self.last_us = us
        self.last_local = time.monotonic()

    def away(self) -> float:
        return time.monotonic() - self.last_local if self.last_local is not None else 60.0

    def tail(self, away: Optional[float] = None, base: int = 0) -> int:
        missed = self.rate * (self.away() if away is None else away)
        return int(min(MAX_TAIL, max(3, base + missed * 1.25 + 3)))

    def learned(self, asked: int, known: int, away: float) -> None:
        """A replay of ``asked`` lines started with ``known`` lines already shown."""
        if away > 0.005 and asked > known:
            self.rate = 0.5 * self.rate + 0.5 * (asked - known) / away


def env_scale() -> float:
    """FTSTUDIO_LOG_POLL_SCALE shrinks every wait of the log path (tests against the fake use 0.01)."""
    import os

    try:
        return max(0.0, float(os.environ.get("FTSTUDIO_LOG_POLL_SCALE", "1")))
    except ValueError:
        return 1.0


class AbortableStream:
    """A backend's log events plus ``abort()``, callable from ANY thread (a UI closing its log view).

    A generator can't be closed from another thread while it runs, so the backend waits on the
    ``aborted`` event instead of sleeping and ``on_abort`` wakes any blocking read (a socket)."""

    def __init__(self, events, aborted, on_abort=None):
        self._events = events
        self.aborted = aborted  # threading.Event shared with the producer
        self._on_abort = on_abort

    def __iter__(self) -> "AbortableStream":
        return self

    def __next__(self) -> object:
        if self.aborted.is_set():
            self._events.close()
            raise StopIteration
        return next(self._events)

    def close(self) -> None:
        self._events.close()

    def abort(self) -> None:
        self.aborted.set()
        if self._on_abort is not None:
            self._on_abort()
