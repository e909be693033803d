"""Request/response objects and a case-insensitive regex router (ARM paths ignore case)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import unquote


def parse_query(raw: str) -> dict[str, str]:
    """Like azure-core's HttpRequest.query (split on & and =), values percent-decoded (not '+')."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out[unquote(k)] = unquote(v)
    return out


class CIDict(dict):
    """dict with case-insensitive get (query keys like api-version / $expand)."""

    def get(self, key, default=None):  # type: ignore[override]
        lk = key.lower()
        for k, v in self.items():
            if k.lower() == lk:
                return v
        return default

    def has(self, key) -> bool:
        return self.get(key, None) is not None


@dataclass
class Request:
    method: str
    raw_path: str  # as sent on the wire (percent-encoded)
    raw_query: str
    headers: Any  # email.message.Message (case-insensitive)
    body: bytes
    base_url: str
    params: dict = field(default_factory=dict)  # regex groups of the matched route
    conn: Any = None  # the handler, for streaming / dropping

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    @property
    def query(self) -> CIDict:
        return CIDict(parse_query(self.raw_query))

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        v = self.headers.get(name)
        return default if v is None else v

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise BadJson()


class BadJson(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: Optional[dict] = None) -> "Response":
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        return cls(status, json.dumps(obj).encode(), h)

    @classmethod
    def empty(cls, status: int, headers: Optional[dict] = None) -> "Response":
        return cls(status, b"", dict(headers or {}))


@dataclass
class StreamResponse:
    """A chunked response; ``chunks`` yields bytes. ``cut_after`` (set by faults) drops the
    connection after that many chunks without the terminating chunk."""

    status: int
    chunks: Iterable[bytes]
    headers: dict = field(default_factory=dict)
    cut_after: Optional[int] = None
    fault: Optional[str] = None  # set when a fault cut this stream


class DropConnection(Exception):
    """Raised by a handler/fault to close the socket without answering."""


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Optional[dict] = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> Response:
        return Response.json(self.status, {"error": {"code": self.code, "message": self.message}}, self.headers)


Handler = Callable[[Request], Any]


class Router:
    def __init__(self):
        self._routes: list[tuple[str, re.Pattern, Handler, str]] = []

    def add(self, method: str, pattern: str, handler: Handler, auth: str = "arm") -> None:
        self._routes.append((method.upper(), re.compile("^" + pattern + "/?$", re.IGNORECASE), handler, auth))

    def route(self, method: str, path: str) -> tuple[Optional[Handler], dict, str, bool]:
        """-> (handler, params, auth, path_matched_other_method)."""
        other = False
        for m, rx, h, auth in self._routes:
            mt = rx.match(path)
            if mt:
                if m == method.upper() or (m == "GET" and method.upper() == "HEAD" and False):
                    return h, mt.groupdict(), auth, False
                other = True
        return None, {}, "", other


def iter_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield from chunks
