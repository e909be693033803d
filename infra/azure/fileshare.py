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

from infra.errors import InputError, OperationFailed

RANGE = 4 * 1024 * 1024  # Azure Files' maximum range per Put Range
POOL = 32  # HTTP connections kept open: file workers + range workers + headroom


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


def _http_session():
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def describe(exc: Exception) -> str:
    """One line from an SDK error: its error code and the first line of its message (no headers)."""
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip().splitlines()[0]
    return f"{code}: {message}" if code and code not in message else message


@dataclass
class RemoteFile:
    path: str  # share-relative, "/"-separated
    size: int


class Share:
    """The project's file share, opened with a key from ``storage_accounts.list_keys``."""

    def __init__(self, session, resource_group: str, account: str, share: str):
        self.session = session
        self.resource_group = resource_group
        self.account = account
        self.share_name = share
        self.counter = RequestCounter()
        self._http = _http_session()
        key = self._account_key()
        from azure.storage.fileshare import ShareClient

        self.client = ShareClient(
            account_url=session.file_account_url(account),
            share_name=share,
            credential={"account_name": account, "account_key": key},
            connection_verify=session.verify,
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
            if getattr(exc, "error_code", None) == "ShareNotFound":
                raise self.missing_share() from None
            return None

    def write_bytes(self, path: str, data: bytes, md5_b64: Optional[str]) -> None:
        """Create or replace a small file (create + ranges; each range's MD5 is checked)."""
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
            if getattr(exc, "error_code", None) == "ShareNotFound":
                raise self.missing_share() from None
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
        """Create ``path`` with its final size and Content-MD5, then write it in 4 MiB ranges, each
        sent with its own Content-MD5 so the service rejects a corrupted range. Large files write
        their ranges in parallel on ``range_pool``. Raises on any failure (the caller then does not
        record the file as synced). ``read(offset, length)`` returns the bytes to send."""
        import base64

        from azure.storage.fileshare import ContentSettings

        fc = self.file(path)
        settings = ContentSettings(content_md5=bytearray(base64.b64decode(md5_b64))) if md5_b64 else None
        fc.create_file(size, content_settings=settings)
        ranges = [(off, min(RANGE, size - off)) for off in range(0, size, RANGE)]

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
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return [
                (item["name"], bool(item.get("is_directory")), int(item.get("size") or 0))
                for item in self.directory(path).list_directories_and_files()
            ]
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ShareNotFound":
                raise self.missing_share() from None
            return None

    def walk(self, root: str) -> Optional[list[RemoteFile]]:
        """Every file under a directory, recursively (one listing request per directory)."""
        top = self.list_names(root)
        if top is None:
            return None
        out: list[RemoteFile] = []
        stack = [(root, top)]
        while stack:
            base, entries = stack.pop()
            for name, is_dir, size in entries:
                _check_name(name)
                rel = f"{base}/{name}" if base else name
                if is_dir:
                    stack.append((rel, self.list_names(rel) or []))
                else:
                    out.append(RemoteFile(rel, size))
        return sorted(out, key=lambda f: f.path)

    def download_to(
        self,
        path: str,
        dest: Path,
        offset: int,
        size: int,
        *,
        cancel: Optional[threading.Event] = None,
        on_bytes: Callable[[int], None] = lambda n: None,
    ) -> Optional[str]:
        """Append bytes ``offset..size`` of ``path`` to ``dest`` (opened for append); returns the
        file's stored Content-MD5 (base64) when it has one."""
        import base64

        stored: Optional[str] = None
        with open(dest, "ab") as fh:
            if fh.tell() != offset:
                raise OperationFailed(f"{dest} changed while downloading; run the download again.")
            if offset >= size:
                props = self.file(path).get_file_properties()
                md5 = props.content_settings.content_md5
                return base64.b64encode(bytes(md5)).decode() if md5 else None
            downloader = self.file(path).download_file(offset=offset, length=size - offset, max_concurrency=1)
            md5 = downloader.properties.content_settings.content_md5
            stored = base64.b64encode(bytes(md5)).decode() if md5 else None
            for chunk in downloader.chunks():
                if cancel is not None and cancel.is_set():
                    raise _Cancelled()
                fh.write(chunk)
                on_bytes(len(chunk))
        return stored


class _Cancelled(Exception):
    """Raised inside a worker when the user interrupted the operation."""


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise OperationFailed(f"The share holds an entry with an unsafe name ({name!r}); refusing to download it.")
