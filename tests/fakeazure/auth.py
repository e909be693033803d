"""Authentication as the services do it: ARM bearer tokens, Azure Files Shared Key signatures
(recomputed exactly like azure-storage-file-share's SharedKeyCredentialPolicy), and the
per-resource tokens from getAuthToken used by the log-stream host."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from functools import cmp_to_key
from typing import Optional
from urllib.parse import unquote

from . import util

_SIGNED_HEADERS = [
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "byte_range",
]


def bearer(headers) -> Optional[str]:
    value = headers.get("Authorization") or ""
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def _storage_compare(lhs: str, rhs: str) -> int:
    # The header ordering the service uses (azure-storage's emulation of it).
    from azure.storage.fileshare._shared.authentication import compare  # the SDK's own table

    return compare(lhs, rhs)


def string_to_sign(method: str, headers, account: str, raw_path: str, raw_query: str) -> str:
    hdrs = {}
    for k, v in headers.items():
        if v:
            hdrs[k.lower()] = v
    if hdrs.get("content-length") == "0":
        del hdrs["content-length"]
    s = method.upper() + "\n" + "\n".join(hdrs.get(x, "") for x in _SIGNED_HEADERS) + "\n"
    xms = sorted(((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-ms-")),
                 key=cmp_to_key(lambda a, b: _storage_compare(a[0], b[0])))
    for k, v in xms:
        s += f"{k}:{v}\n"
    s += "/" + account + raw_path
    q = {}
    if raw_query:
        for p in raw_query.split("&"):
            k, _, v = p.partition("=")
            q[k] = v
    for k, v in sorted(q.items()):
        s += "\n" + k.lower() + ":" + unquote(v)
    return s


def verify_shared_key(method: str, headers, account: str, raw_path: str, raw_query: str, keys: list[str]) -> bool:
    auth = headers.get("Authorization") or ""
    if not auth.startswith("SharedKey "):
        return False
    name, _, sig = auth[len("SharedKey "):].partition(":")
    if name.lower() != account.lower():
        return False
    sts = string_to_sign(method, headers, name, raw_path, raw_query).encode("utf-8")
    for key in keys:
        try:
            expected = base64.b64encode(hmac.new(base64.b64decode(key), sts, hashlib.sha256).digest()).decode()
        except Exception:  # noqa: BLE001 - a malformed key never verifies
            continue
        if hmac.compare_digest(expected, sig):
            return True
    return False


def issue_resource_token(state, scope_id: str) -> tuple[str, str]:
    """A getAuthToken token valid for the log-stream host and ``scope_id`` (an app, job or env)."""
    token = util.new_token()
    expires = time.time() + state.auth_token_ttl
    state.tokens[token] = (scope_id.lower(), expires)
    from datetime import datetime, timezone

    return token, util.iso(datetime.fromtimestamp(expires, timezone.utc))


def resource_token_scope(state, token: Optional[str]) -> Optional[str]:
    if not token:
        return None
    entry = state.tokens.get(token)
    if not entry or entry[1] < time.time():
        return None
    return entry[0]
