"""The backend-independent log machinery: durations, record parsing, dedupe across reconnects."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from core.errors import InputError
from infra.logstream import MAX_TAIL, Backoff, Deduper, Pace, micros, parse_duration, parse_record


# -- durations -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,seconds", [
    ("30m", 1800), ("2h", 7200), ("1d", 86400), ("90s", 90), ("1w", 604800), ("1h30m", 5400),
    ("1.5h", 5400), (" 10M ", 600),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "30", "-5m", "0m", "5 parsecs", "m30"])
def test_bad_durations_name_the_field_and_the_fix(text):
    with pytest.raises(InputError) as e:
        parse_duration(text)
    assert e.value.field == "--since"
    assert "30m" in e.value.one_line()
    assert e.value.exit_code == 2


def test_iso_time_is_seconds_ago():
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert 3590 < parse_duration(when) < 3610


# -- records -----------------------------------------------------------------------------------------
def test_json_record():
    r = parse_record(b'{"TimeStamp":"2024-08-22T08:37:19.1646828Z","Log":"step 1 loss=2.0"}\n')
    assert r.timestamp == "2024-08-22T08:37:19.1646828Z"
    assert r.text == "step 1 loss=2.0"


def test_badly_escaped_record_is_unescaped():
    raw = '{"TimeStamp":"2024-08-22T08:37:19Z","Log":"say \\u0022hi\\u0022 "quoted" \\u001B[32mgreen"}'
    r = parse_record(raw)
    assert r.timestamp == "2024-08-22T08:37:19Z"
    assert r.text == 'say "hi" "quoted" \x1b[32mgreen'


def test_text_records_and_blank_lines():
    assert parse_record("plain line\r\n").text == "plain line"
    assert parse_record("plain line").timestamp is None
    assert parse_record(b"   \n") is None


def test_micros_agree_between_stream_text_and_log_analytics_datetimes():
    text = "2024-08-22T08:37:19.1646828Z"
    dt = datetime(2024, 8, 22, 8, 37, 19, 164682, tzinfo=timezone.utc)
    assert micros(text) == micros(dt) == micros("2024-08-22T08:37:19.164682+00:00")
    assert micros("not a time") is None


# -- dedupe -------------------------------------------------------------------------------------------
def _script(n: int, seed: int = 1, dup_every: int = 7):
    """n lines, time-ordered; some share timestamps, some are identical lines at identical times."""
    rnd = random.Random(seed)
    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = []
    i = 0
    while len(out) < n:
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z"
        burst = rnd.choice([1, 1, 1, 2, 3])
        for _ in range(burst):
            text = "tick" if i % dup_every == 0 else f"line {i}"
            out.append((ts, text))
            i += 1
        t += timedelta(microseconds=rnd.choice([1, 5, 100, 2000]))
    return out[:n]


def _replay(script, cuts, tail=MAX_TAIL):
    """What a reader sees when the stream is cut at each position in ``cuts`` and every reconnect
    asks for ``tail`` lines again (the server replays the last ``tail`` lines it has)."""
    d = Deduper()
    shown = []
    pos = 0  # lines delivered so far by the server
    bounds = sorted(set(cuts)) + [len(script)]
    first = True
    for end in bounds:
        start = 0 if first else max(0, pos - tail)
        if not first:
            d.reconnected()
        first = False
        for ts, text in script[start:end]:
            if d.accept(ts, text):
                shown.append((ts, text))
        pos = end
    return shown, d


def test_reconnects_every_few_lines_lose_and_repeat_nothing():
    script = _script(2000)
    shown, d = _replay(script, cuts=range(5, 2000, 5))
    assert shown == script
    assert d.gap is None


@pytest.mark.parametrize("seed", range(8))
def test_random_cuts_with_small_tails_are_exact(seed):
    rnd = random.Random(seed)
    script = _script(1500, seed=seed, dup_every=rnd.choice([2, 3, 50]))
    cuts = sorted(rnd.sample(range(1, 1500), 120))
    shown, _ = _replay(script, cuts, tail=rnd.choice([10, 40, 300]))
    assert shown == script


def test_identical_lines_at_identical_times_are_counted():
    ts = "2025-01-01T00:00:00.0000001Z"
    script = [(ts, "same")] * 10 + [(ts, "other"), (ts, "same")]
    # cut after 4 of the identical lines: the replay must add exactly the 6 others, then the rest
    shown, _ = _replay(script, cuts=[4, 9])
    assert shown == script


def test_a_gap_longer_than_the_tail_is_reported_and_filled():
    script = _script(1000)
    d = Deduper()
    shown = [row for row in script[:100] if d.accept(*row)]
    # disconnected while 500 lines were written; the reconnect's tail holds only the last 300
    d.reconnected()
    replay = script[300:600]
    first = replay[0]
    assert d.accept(*first)
    assert d.gap == (script[99][0], first[0])
    # Log Analytics has everything: fill_gap returns exactly the missing rows, in order
    missing = d.fill_gap(script[90:320])
    assert missing == script[100:300]
    shown += missing + [first]
    shown += [row for row in replay[1:] if d.accept(*row)]
    assert shown == script[:600]
    assert d.gap is None


def test_window_is_bounded():
    d = Deduper(window=500)
    for i in range(100_000):
        d.accept(f"2025-01-01T00:00:{i % 60:02d}Z", f"l{i}")
    assert len(d._recent) == 500 and len(d._counts) <= 500


def test_history_then_stream_replay():
    """Lines first shown from Log Analytics are not shown again when the live stream replays them."""
    script = _script(400)
    d = Deduper()
    shown = [row for row in script[:250] if d.accept(*row)]
    d.reconnected()
    shown += [row for row in script[100:400] if d.accept(*row)]
    assert shown == script


def test_backoff_grows_and_resets():
    slept = []
    b = Backoff(first=1, cap=8, jitter=0, sleep=slept.append)
    for _ in range(6):
        b.wait()
    assert slept == [1, 2, 4, 8, 8, 8]
    b.reset()
    b.wait()
    assert slept[-1] == 1


def test_records_roundtrip_through_json():
    line = json.dumps({"TimeStamp": "2025-01-01T00:00:00Z", "Log": 'quote " and \\ backslash'})
    assert parse_record(line).text == 'quote " and \\ backslash'


def test_a_short_strict_replay_that_misses_the_last_line_accepts_nothing():
    script = _script(100)
    d = Deduper()
    shown = [row for row in script[:40] if d.accept(*row)]
    d.reconnected(strict=True)  # asked for 5 lines, but 30 were written meanwhile
    assert not d.accept(*script[65])
    assert d.no_overlap and d.gap is None
    d.reconnected()  # ask again for the full tail
    shown += [row for row in script[20:100] if d.accept(*row)]
    assert shown == script and d.gap is None


def test_pace_sizes_the_reconnect_tail_from_the_write_rate(monkeypatch):
    from infra import logstream

    clock = [1000.0]
    monkeypatch.setattr(logstream.time, "monotonic", lambda: clock[0])
    p = Pace()
    for i in range(50):  # a line every 10 ms on the server
        p.arrived(1_700_000_000_000_000 + i * 10_000)
    clock[0] += 0.2  # away 200 ms: about 20 lines missed
    assert 20 < p.tail() < 40
    clock[0] += 100  # away long: never more than the service gives
    assert p.tail() == MAX_TAIL
    # a reconnect that asked 30 lines and found 25 known ones after 1 s away: 5 lines/s
    for _ in range(10):
        p.learned(30, 25, 1.0)
    assert 4 < p.rate < 6
