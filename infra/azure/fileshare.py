"""Azure Files access for sync and download: one ShareClient per operation, with the account key
fetched from ARM (never persisted), a bounded retry policy, a shared connection pool sized for the
thread pools, and a counter of every HTTP request sent (retries included).

Primitives only (read/write small files, directories, ranged upload/download of one file); the
orchestration lives in ``sync.py``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from core.errors import InputError, OperationFailed

RANGE = 4 * 1024 * 1024  # Azure Files' maximum range per Put Range
POOL = 64  # HTTP connections kept open: sync's small-file (32), large-file (8) and range (8) workers + headroom


class RequestCounter:
    """Counts requests sent on the wire (thread-safe); used as the SDKs' raw_request_hook."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, _request=None) -> None:
        with self._lock:
            self.count += 1


def retry_backoff_s() -> float:
    """Initial back-off of storage retries. The SDK default (15 s) makes a dropped connection look
    like a hang; FTSTUDIO_RETRY_BACKOFF_S=0 makes tests against the fake instant."""
    try:
        return max(0.0, float(os.environ.get("FTSTUDIO_RETRY_BACKOFF_S", "2")))
    except ValueError:
        return 2.0


def _retry_policy():
    from azure.storage.fileshare import ExponentialRetry

    backoff = retry_backoff_s()
    return ExponentialRetry(
        initial_backoff=backoff,
        increment_base=2 if backoff else 0,
        retry_total=4,
        random_jitter_range=1 if backoff else 0,
    )


def _http_session(url: str, verify):
    """(session, proxies, verify) for requests to ``url``'s host.

    requests re-reads the environment (proxy variables, NO_PROXY, ~/.netrc, CA bundle variables)
    on every request when ``trust_env`` is on: about a tenth of the client's CPU per small upload.
    Every request goes to one host, so the environment is resolved once here, and passed on."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    settings = session.merge_environment_settings(url, {}, None, verify, None)
    session.trust_env = False
    return session, settings.get("proxies") or None, settings.get("verify", verify)


def describe(exc: Exception) -> str:
    """One line from an SDK error: its error code and the first line of its message (no headers)."""
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    code = getattr(code, "value", code)  # StorageErrorCode.MD5_MISMATCH -> "Md5Mismatch"
    message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip().splitlines()[0]
    return f"{code}: {message}" if code and code not in message else message


@dataclass
class RemoteFile:
    path: str  # share-relative, "/"-separated
    size: int
    etag: str = ""  # the version listed; a download proves it read exactly this one
    last_modified: str = ""


class RemoteChanged(Exception):
    """The file on the share is no longer the version the download started from."""


def same_etag(a: Optional[str], b: Optional[str]) -> bool:
    """ETags compared as opaque values; listings and headers may differ only in quoting."""
    def norm(e: Optional[str]) -> str:
        e = (e or "").strip()
        return (e[2:] if e.startswith("W/") else e).strip('"')

    return bool(norm(a)) and norm(a) == norm(b)


class Share:
    """The project's file share, opened with a key from ``storage_accounts.list_keys``."""

    def __init__(self, session, resource_group: str, account: str, share: str):
        self.session = session
        self.resource_group = resource_group
        self.account = account
        self.share_name = share
        self.counter = RequestCounter()
        url = session.file_account_url(account)
        self._http, proxies, verify = _http_session(url, session.verify)
        key = self._account_key()
        from azure.storage.fileshare import ShareClient

        self.client = ShareClient(
            account_url=url,
            share_name=share,
            credential={"account_name": account, "account_key": key},
            connection_verify=verify,
            proxies=proxies,
            retry_policy=_retry_policy(),
            session=self._http,
            raw_request_hook=self.counter,
        )

    @property
    def requests(self) -> int:
        return self.counter.count

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self._http.close()

    def __enter__(self) -> "Share":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- key -----------------------------------------------------------------------------------------
    def _account_key(self) -> str:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            result = self.session.storage.storage_accounts.list_keys(
                self.resource_group, self.account, raw_request_hook=self.counter
            )
        except ResourceNotFoundError:
            raise InputError(
                f"Storage account {self.account} was not found in resource group {self.resource_group}.",
                field="STORAGE_ACCOUNT_NAME",
                fix="run `ftstudio provision finetune` (or fix infra/finetuning.config.json)",
            ) from None
        except HttpResponseError as exc:
            raise OperationFailed(f"Could not read the keys of storage account {self.account}: {describe(exc)}") from None
        # Hybrid models: ``keys`` is dict.keys, the list is ``keys_property``.
        keys = list(getattr(result, "keys_property", None) or [])
        if not keys or not getattr(keys[0], "value", None):
            raise OperationFailed(f"Storage account {self.account} returned no access key (is shared-key access disabled?).")
        return keys[0].value

    # -- clients ---------------------------------------------------------------------------------------
    def file(self, path: str):
        return self.client.get_file_client(path)

    def directory(self, path: str):
        return self.client.get_directory_client(path)

    def _raise_if_share_missing(self, exc: Exception) -> None:
        """A 404 for the share itself is the project's setup (exit 2), not a missing file."""
        if getattr(exc, "error_code", None) == "ShareNotFound":
            raise self.missing_share() from None

    def missing_share(self) -> InputError:
        return InputError(
            f"File share {self.share_name} does not exist in storage account {self.account}.",
            field="FILE_SHARE_NAME",
            fix="run `ftstudio provision finetune` (or fix infra/finetuning.config.json)",
        )

    # -- small files -------------------------------------------------------------------------------------
    def read_bytes(self, path: str) -> Optional[bytes]:
        """A small file's content, or None when it does not exist (one request)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.file(path).download_file(max_concurrency=1).readall()
        except ResourceNotFoundError as exc:
            self._raise_if_share_missing(exc)
            return None

    def write_bytes(self, path: str, data: bytes, md5_b64: Optional[str]) -> None:
        """Create or replace a small file (one request up to 4 MiB; each body's MD5 is checked)."""
        self.upload(path, lambda off, n: data[off : off + n], len(data), md5_b64)

    def overwrite_in_place(self, path: str, data: bytes) -> None:
        """Replace the whole content of an existing file of exactly ``len(data)`` bytes with ONE
        Put Range: readers see the old or the new content, never a mix (at most 4 MiB)."""
        assert 0 < len(data) <= RANGE
        self.file(path).upload_range(data, 0, len(data), validate_content=True)

    # -- directories -------------------------------------------------------------------------------------
    def ensure_directories(self, dirs: Iterable[str], pool) -> int:
        """Create each directory once, parents before children, one depth at a time in parallel.

        Returns how many were created; existing ones are fine.
        """
        todo = sorted(set(dirs), key=lambda d: (d.count("/"), d))
        by_depth: dict[int, list[str]] = {}
        for d in todo:
            by_depth.setdefault(d.count("/"), []).append(d)
        created = 0
        for depth in sorted(by_depth):
            for ok in pool.map(self._create_directory, by_depth[depth]):
                created += ok
        return created

    def _create_directory(self, path: str) -> int:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            self.directory(path).create_directory()
            return 1
        except ResourceExistsError:
            return 0
        except ResourceNotFoundError as exc:
            self._raise_if_share_missing(exc)
            raise

    # -- upload of one file ----------------------------------------------------------------------------
    def upload(
        self,
        path: str,
        read: Callable[[int, int], bytes],
        size: int,
        md5_b64: Optional[str],
        *,
        range_pool=None,
        cancel: Optional[threading.Event] = None,
        on_bytes: Callable[[int], None] = lambda n: None,
    ) -> None:
        """Create ``path`` with its final size, its Content-MD5 and its first 4 MiB in ONE request
        (Create File with a body), then write the rest in 4 MiB ranges. Every request that carries
        bytes carries their Content-MD5, which the service checks (a corrupted body is refused), so
        a file of up to 4 MiB costs one request. Large files write their other ranges in parallel on
        ``range_pool``. Raises on any failure (the caller then does not record the file as synced).
        ``read(offset, length)`` returns the bytes to send."""
        import base64

        from azure.storage.fileshare import ContentSettings

        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        fc = self.file(path)
        settings = ContentSettings(content_md5=bytearray(base64.b64decode(md5_b64))) if md5_b64 else None
        first = min(RANGE, size)
        if first:
            data = read(0, first)
            # validate_content=True sends Content-MD5 (not a CRC64 structured message)
            fc.create_file(size, content_settings=settings, data=data, validate_content=True)
            on_bytes(first)
        else:
            fc.create_file(0, content_settings=settings)
        ranges = [(off, min(RANGE, size - off)) for off in range(first, size, RANGE)]

        def put(rng: tuple[int, int]) -> None:
            if cancel is not None and cancel.is_set():
                raise _Cancelled()
            off, n = rng
            fc.upload_range(read(off, n), off, n, validate_content=True)
            on_bytes(n)

        if range_pool is None or len(ranges) <= 1:
            for rng in ranges:
                put(rng)
            return
        futures = [range_pool.submit(put, rng) for rng in ranges]
        error: Optional[BaseException] = None
        for fut in futures:
            try:
                fut.result()
            except BaseException as exc:  # keep the first error, stop the rest
                if error is None:
                    error = exc
                    for other in futures:
                        other.cancel()
        if error is not None:
            raise error

    # -- listing and download -------------------------------------------------------------------------
    def exists_file(self, path: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.file(path).get_file_properties()
            return True
        except ResourceNotFoundError:
            return False

    def list_names(self, path: str) -> Optional[list[tuple[str, bool, int]]]:
        """(name, is_directory, size) of a directory's entries, or None when it does not exist."""
        entries = self._entries(path)
        if entries is None:
            return None
        return [(item["name"], bool(item.get("is_directory")), int(item.get("size") or 0)) for item in entries]

    def walk(self, root: str) -> Optional[list[RemoteFile]]:
        """Every file under a directory, recursively, with its size, ETag and Last-Modified (one
        listing request per directory: ``include`` returns them without a HEAD per file)."""
        top = self._entries(root)
        if top is None:
            return None
        out: list[RemoteFile] = []
        stack = [(root, top)]
        while stack:
            base, entries = stack.pop()
            for item in entries:
                name = item["name"]
                _check_name(name)
                rel = f"{base}/{name}" if base else name
                if item.get("is_directory"):
                    stack.append((rel, self._entries(rel) or []))
                else:
                    out.append(_remote_file(rel, item))
        return sorted(out, key=lambda f: f.path)

    def _entries(self, path: str) -> Optional[list]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return list(self.directory(path).list_directories_and_files(include=["timestamps", "Etag"]))
        except ResourceNotFoundError as exc:
            self._raise_if_share_missing(exc)
            return None

    def remote_file(self, path: str) -> Optional[RemoteFile]:
        """One file's size, ETag and Last-Modified (a HEAD), or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.file(path).get_file_properties()
        except ResourceNotFoundError as exc:
            self._raise_if_share_missing(exc)
            return None
        return _remote_file(path, props)

    def download_to(
        self,
        path: str,
        dest: Path,
        offset: int,
        size: int,
        *,
        etag: str,
        cancel: Optional[threading.Event] = None,
        on_bytes: Callable[[int], None] = lambda n: None,
    ) -> Optional[str]:
        """Append bytes ``offset..size`` of the version ``etag`` of ``path`` to ``dest`` (opened for
        append); returns that version's stored Content-MD5 (base64) when it has one.

        Get File has no If-Match, so the ETag of every response is compared with ``etag`` (the SDK
        compares its later chunks with its first), and a HEAD after the last byte proves no write
        landed while the bytes were read. Raises RemoteChanged otherwise."""
        import base64

        from azure.core.exceptions import HttpResponseError, ResourceModifiedError

        fc = self.file(path)
        with open(dest, "ab") as fh:
            if fh.tell() != offset:
                raise OperationFailed(f"{dest} changed while downloading; run the download again.")
            if offset < size:
                try:
                    downloader = fc.download_file(offset=offset, length=size - offset, max_concurrency=1)
                    if not same_etag(downloader.properties.etag, etag):
                        raise RemoteChanged(path)
                    for chunk in downloader.chunks():
                        if cancel is not None and cancel.is_set():
                            raise _Cancelled()
                        fh.write(chunk)
                        on_bytes(len(chunk))
                except ResourceModifiedError:
                    raise RemoteChanged(path) from None
                except HttpResponseError as exc:
                    if getattr(exc, "status_code", None) == 416:  # shorter than listed: rewritten
                        raise RemoteChanged(path) from None
                    raise
        props = fc.get_file_properties()
        if not same_etag(props.etag, etag) or int(props.size) != size:
            raise RemoteChanged(path)
        md5 = props.content_settings.content_md5
        return base64.b64encode(bytes(md5)).decode() if md5 else None


def _remote_file(path: str, props) -> RemoteFile:
    modified = props.get("last_modified")
    return RemoteFile(path, int(props.get("size") or 0), props.get("etag") or "",
                      modified.isoformat() if modified is not None else "")


def open_share(backend, kind: str = "finetuning", refs: Optional[tuple] = None) -> Share:
    """The project's share (``kind``: the fine-tuning or the inference one) with its account key;
    ``refs`` (resource group, account, share) when the caller already resolved them."""
    from infra.azure.resources_ref import storage_refs

    rg, account, share = refs or storage_refs(backend, kind)
    return Share(backend.session, rg, account, share)


class _Cancelled(Exception):
    """Raised inside a worker when the user interrupted the operation."""


# Characters Azure Files refuses in a name: download's temporary names use one, so they can never
# collide with a file of the share.
FORBIDDEN = set('"\\/:|<>*?') | {chr(c) for c in range(32)}


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or FORBIDDEN.intersection(name):
        raise OperationFailed(f"The share holds an entry with an unsafe name ({name!r}); refusing to download it.")
