"""Small helpers shared by the fake's modules: time formats, ids, names."""
from __future__ import annotations

import base64
import os
import random
import re
import string
import uuid
from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ARM style: 2023-02-13T20:37:30.1234567+00:00 is accepted by the SDKs; we use Z with 7 digits."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def iso_seconds(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def rfc1123(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def norm_location(loc: str) -> str:
    """'West US 3' -> 'westus3' (ARM accepts both spellings)."""
    return re.sub(r"\s+", "", (loc or "").lower())


_rng = random.Random()
_rng_lock = __import__("threading").Lock()


def seed(value: int) -> None:
    with _rng_lock:
        _rng.seed(value)


def rand_lower(n: int) -> str:
    with _rng_lock:
        return "".join(_rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def rand_letters(n: int) -> str:
    with _rng_lock:
        return "".join(_rng.choice(string.ascii_lowercase) for _ in range(n))


def new_guid() -> str:
    with _rng_lock:
        return str(uuid.UUID(int=_rng.getrandbits(128), version=4))


def new_key(nbytes: int = 64) -> str:
    return base64.b64encode(os.urandom(nbytes)).decode()


def new_token() -> str:
    return base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")


def rand_digits(lo: int, hi: int) -> int:
    with _rng_lock:
        return _rng.randint(lo, hi)


def arm_time(dt: datetime) -> str:
    """ARM timestamps as the examples show them: 2023-02-13T20:37:30.123456+00:00."""
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")
