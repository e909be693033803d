"""The log-stream connection: which replica to read, one chunked GET of its ``…/logstream``
(azure-wire-facts §5), and how to wake or classify a read that is blocked or broken."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Source:
    """One live stream: where, with which token, and what to call its lines' origin."""

    url: str
    token: str
    label: str  # replica (or resource) name, for LogLine.source
    identity: str  # changes when the stream is a different log (another replica)


class Unavailable(Exception):
    """The log-stream host refused (not started yet, gone, token expired)."""

    def __init__(self, status: int, reason: str = ""):
        super().__init__(f"{status} {reason}")
        self.status = status


def _http(backend):
    """One requests.Session per backend, trusting what the SDK clients trust (REQUESTS_CA_BUNDLE)."""
    caches = backend.log_caches
    if caches.http is None:
        import requests

        caches.http = requests.Session()
        caches.http.verify = backend.session.verify
    return caches.http


def open_stream(backend, source: Source, *, follow: bool, tail: int, read_timeout: float):
    """The open response (``iter_lines`` reads it); Unavailable when the host does not answer 200."""
    resp = _http(backend).get(
        source.url,
        params={"follow": "true" if follow else "false", "output": "json", "tailLines": str(tail)},
        headers={"Authorization": f"Bearer {source.token}"},
        stream=True,
        timeout=(15.0, read_timeout),
    )
    if resp.status_code != 200:
        status = resp.status_code
        resp.close()
        raise Unavailable(status, resp.reason or "")
    return resp


def interrupt(resp) -> None:
    """Wake a read blocked in another thread: closing the file object alone does not wake recv() on
    Linux, shutting the socket down does."""
    import socket

    raw = getattr(resp, "raw", None)
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    resp.close()


def stream_errors() -> tuple:
    """What a dropped or broken connection raises."""
    import requests
    import urllib3

    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def is_read_timeout(exc: BaseException) -> bool:
    """The read waited ``read_timeout`` for a line (a quiet stream), as opposed to a drop."""
    import requests
    import urllib3

    seen: set = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return True
        if "timed out" in str(exc).lower():
            return True
        nxt = exc.__cause__ or exc.__context__
        if nxt is None and exc.args and isinstance(exc.args[0], BaseException):
            nxt = exc.args[0]
        exc = nxt
    return False


# -- which replica --------------------------------------------------------------------------------
def replica_started(replica: dict) -> bool:
    containers = (replica.get("properties") or {}).get("containers") or []
    states = {str(c.get("runningState") or "").lower() for c in containers}
    # containers still waiting (image pull) have no log yet
    return bool(states - {"waiting", "pending", ""}) or not containers or states == {""}


def replica_running(replica: dict) -> bool:
    containers = (replica.get("properties") or {}).get("containers") or []
    return any(str(c.get("runningState") or "").lower() == "running" for c in containers)
