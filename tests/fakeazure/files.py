"""Azure Files data plane, path style: https://127.0.0.1:PORT/{account}/{share}/{path}.

Shared Key signatures are verified exactly (403 AuthenticationFailed otherwise); directory paths
arrive percent-encoded and are unquoted; files live in memory."""
from __future__ import annotations

import base64
import hashlib
import re
import weakref
from typing import Optional
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from . import auth, util
from .router import Request, Response
from .state import DirObj, FileObj, ShareFS

VERSION = "2026-10-06"
MAX_RANGE = 4 * 1024 * 1024


class FilesError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def storage_error(status: int, code: str, message: str) -> Response:
    body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s</Message></Error>'
            % (code, escape(message), util.new_guid(), util.iso(util.now())))
    return Response(status, body.encode(), {"Content-Type": "application/xml", "x-ms-error-code": code,
                                            "x-ms-version": VERSION})


def _base_headers() -> dict:
    return {"x-ms-version": VERSION, "Date": util.rfc1123(util.now())}


def _file_headers(f: FileObj, *, with_length: bool = True) -> dict:
    h = _base_headers()
    h.update({"ETag": f.etag, "Last-Modified": util.rfc1123(f.modified), "x-ms-type": "File",
              "Content-Type": f.content_type or "application/octet-stream", "x-ms-server-encrypted": "true",
              "x-ms-file-attributes": "Archive", "x-ms-file-creation-time": util.iso(f.created),
              "x-ms-file-last-write-time": util.iso(f.modified), "x-ms-file-change-time": util.iso(f.modified),
              "x-ms-file-permission-key": "4066528134148476695*1", "x-ms-file-id": f.file_id,
              "x-ms-file-parent-id": "0", "x-ms-lease-state": "available", "x-ms-lease-status": "unlocked",
              "Accept-Ranges": "bytes"})
    if with_length:
        h["Content-Length"] = str(len(f.data))
    return h


def _dir_headers(d: DirObj) -> dict:
    h = _base_headers()
    h.update({"ETag": d.etag, "Last-Modified": util.rfc1123(d.created), "x-ms-server-encrypted": "true",
              "x-ms-request-server-encrypted": "true",
              "x-ms-file-attributes": "Directory", "x-ms-file-creation-time": util.iso(d.created),
              "x-ms-file-last-write-time": util.iso(d.created), "x-ms-file-change-time": util.iso(d.created),
              "x-ms-file-permission-key": "4066528134148476695*1", "x-ms-file-id": d.file_id or "0",
              "x-ms-file-parent-id": "0"})
    return h


def _parse_range(value: Optional[str]) -> Optional[tuple[int, Optional[int]]]:
    if not value:
        return None
    m = re.match(r"bytes=(\d+)-(\d*)$", value.strip())
    if not m:
        raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


# (path, first byte, last byte) of every ranged Get File answered, per share: tests prove a resume
# read only the missing bytes.
_READS: "weakref.WeakKeyDictionary[ShareFS, list[tuple[str, int, int]]]" = weakref.WeakKeyDictionary()


def reads(fake, account: str, share: str) -> list[tuple[str, int, int]]:
    """The share's read log itself (a test may clear it)."""
    with fake.state.lock:
        return _READS.setdefault(fake.state.shares[(account.lower(), share.lower())], [])


def handle_files(fake, req: Request) -> Response:
    try:
        return _handle(fake, req)
    except FilesError as e:
        return storage_error(e.status, e.code, e.message)


def _handle(fake, req: Request) -> Response:
    state = fake.state
    parts = req.path.lstrip("/").split("/", 2)
    account = parts[0] if parts else ""
    share = parts[1] if len(parts) > 1 else ""
    path = parts[2].strip("/") if len(parts) > 2 else ""
    q = req.query
    with state.lock:
        keys = state.account_keys(account)
    if not keys:
        raise FilesError(404, "ResourceNotFound", "The specified resource does not exist.")
    if not auth.verify_shared_key(req.method, req.headers, account, req.raw_path, req.raw_query, keys):
        raise FilesError(403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Make sure the value of Authorization header is "
                         "formed correctly including the signature.")
    if not share:
        raise FilesError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    _check_path(path)
    restype = (q.get("restype") or "").lower()
    comp = (q.get("comp") or "").lower()
    with state.lock:
        fs = state.shares.get((account.lower(), share.lower()))
        if restype == "share":
            return _share_ops(state, req, account, share, fs)
        if fs is None:
            raise FilesError(404, "ShareNotFound", "The specified share does not exist.")
        if restype == "directory":
            if comp == "list":
                return _list(fake, req, account, share, fs, path)
            return _dir_ops(req, fs, path, comp)
        if comp == "rename" and req.method == "PUT":
            return _rename_file(req, account, share, fs, path)
        return _file_ops(req, fs, path, comp)


_FORBIDDEN = set('"\\:|<>*?')
_RESERVED = {*(f"LPT{i}" for i in range(1, 10)), *(f"COM{i}" for i in range(1, 10)), "PRN", "AUX", "NUL", "CON",
             "CLOCK$"}


def _check_path(path: str) -> None:
    """Azure Files' naming rules for directories and files: 400 for a forbidden character, a control
    character, a reserved name, a name over 255 characters or a path over 2,048."""
    if len(path) > 2048:
        raise FilesError(400, "InvalidResourceName", "The specified resource name length is not within the permissible limits.")
    for part in path.split("/") if path else []:
        if (part in (".", "..") or _FORBIDDEN & set(part) or any(ord(c) < 0x20 for c in part)
                or part.upper() in _RESERVED):
            raise FilesError(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
        if len(part) > 255:
            raise FilesError(400, "InvalidResourceName", "The specified resource name length is not within the permissible limits.")


def _share_ops(state, req, account, share, fs) -> Response:
    if req.method in ("GET", "HEAD"):
        if fs is None:
            raise FilesError(404, "ShareNotFound", "The specified share does not exist.")
        h = _base_headers()
        h.update({"ETag": '"0x8DC0000000000001"', "Last-Modified": util.rfc1123(fs.created), "x-ms-share-quota": str(fs.quota),
                  "x-ms-access-tier": "TransactionOptimized"})
        return Response(200, b"", h)
    if req.method == "PUT" and not req.query.get("comp"):
        if fs is not None:
            raise FilesError(409, "ShareAlreadyExists", "The specified share already exists.")
        state.shares[(account.lower(), share.lower())] = ShareFS(int(req.header("x-ms-share-quota") or 102400))
        return Response(201, b"", _base_headers())
    if req.method == "DELETE":
        if fs is None:
            raise FilesError(404, "ShareNotFound", "The specified share does not exist.")
        state.shares.pop((account.lower(), share.lower()), None)
        return Response(202, b"", _base_headers())
    return Response(200, b"", _base_headers())


def _dir_ops(req: Request, fs: ShareFS, path: str, comp: str) -> Response:
    if req.method == "PUT" and not comp:
        if path in fs.dirs:
            raise FilesError(409, "ResourceAlreadyExists", "The specified resource already exists.")
        if path in fs.files:
            raise FilesError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")
        if _parent(path) not in fs.dirs:
            raise FilesError(404, "ParentNotFound", "The specified parent path does not exist.")
        d = DirObj(file_id=fs.next_id())
        fs.dirs[path] = d
        return Response(201, b"", _dir_headers(d))
    d = fs.dirs.get(path)
    if d is None:
        if path and _parent(path) not in fs.dirs:
            raise FilesError(404, "ParentNotFound", "The specified parent path does not exist.")
        raise FilesError(404, "ResourceNotFound", "The specified resource does not exist.")
    if req.method in ("GET", "HEAD"):
        return Response(200, b"", _dir_headers(d))
    if req.method == "DELETE":
        if not path:
            raise FilesError(400, "InvalidUri", "The root directory cannot be deleted.")
        prefix = path + "/"
        if any(p.startswith(prefix) for p in fs.files) or any(p.startswith(prefix) for p in fs.dirs):
            raise FilesError(409, "DirectoryNotEmpty", "The specified directory is not empty.")
        del fs.dirs[path]
        return Response(202, b"", _base_headers())
    return Response(200, b"", _dir_headers(d))  # comp=properties / metadata


def _list(fake, req: Request, account: str, share: str, fs: ShareFS, path: str) -> Response:
    if path not in fs.dirs:
        raise FilesError(404, "ResourceNotFound", "The specified resource does not exist.")
    q = req.query
    prefix = q.get("prefix") or ""
    try:
        maxresults = int(q.get("maxresults") or 5000)
    except ValueError:
        raise FilesError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
    marker = q.get("marker") or ""
    include = (q.get("include") or "").lower()
    base = path + "/" if path else ""
    entries: list[tuple[str, str, object]] = []
    for d, obj in fs.dirs.items():
        if d and d.startswith(base) and "/" not in d[len(base):]:
            entries.append((d[len(base):], "Directory", obj))
    for f, obj in fs.files.items():
        if f.startswith(base) and "/" not in f[len(base):]:
            entries.append((f[len(base):], "File", obj))
    entries = sorted((e for e in entries if e[0].startswith(prefix)), key=lambda e: e[0])
    if marker:
        entries = [e for e in entries if e[0] >= marker]
    page, rest = entries[:maxresults], entries[maxresults:]
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           "<EnumerationResults ServiceEndpoint=%s ShareName=%s DirectoryPath=%s>"
           % (quoteattr(f"{fake.base_url}/{account}/"), quoteattr(share), quoteattr(path))]
    if marker:
        out.append(f"<Marker>{escape(marker)}</Marker>")
    if prefix:
        out.append(f"<Prefix>{escape(prefix)}</Prefix>")
    if q.get("maxresults"):
        out.append(f"<MaxResults>{maxresults}</MaxResults>")
    out.append(f"<DirectoryId>{fs.dirs[path].file_id or '0'}</DirectoryId><Entries>")
    for name, kind, obj in page:
        props = ""
        if kind == "File":
            props += f"<Content-Length>{len(obj.data)}</Content-Length>"  # type: ignore[attr-defined]
        if "timestamps" in include:
            created = obj.created  # type: ignore[attr-defined]
            mod = getattr(obj, "modified", created)
            props += (f"<CreationTime>{util.iso(created)}</CreationTime><LastAccessTime>{util.iso(mod)}</LastAccessTime>"
                      f"<LastWriteTime>{util.iso(mod)}</LastWriteTime><ChangeTime>{util.iso(mod)}</ChangeTime>"
                      f"<Last-Modified>{util.rfc1123(mod)}</Last-Modified>")
        if "etag" in include:
            props += f"<Etag>{escape(obj.etag)}</Etag>"  # type: ignore[attr-defined]
        extra = ""
        if "attributes" in include:
            extra += f"<Attributes>{'Directory' if kind == 'Directory' else 'Archive'}</Attributes>"
        if "permissionkey" in include:
            extra += "<PermissionKey>4066528134148476695*1</PermissionKey>"
        out.append(f"<{kind}><Name>{escape(name)}</Name><FileId>{obj.file_id or '0'}</FileId>"  # type: ignore[attr-defined]
                   f"<Properties>{props}</Properties>{extra}</{kind}>")
    out.append("</Entries>")
    out.append(f"<NextMarker>{escape(rest[0][0])}</NextMarker>" if rest else "<NextMarker />")
    out.append("</EnumerationResults>")
    h = _base_headers()
    h["Content-Type"] = "application/xml"
    return Response(200, "".join(out).encode(), h)


def _md5_header(value: Optional[str]) -> Optional[bytes]:
    if not value:
        return None
    try:
        return base64.b64decode(value)
    except Exception:  # noqa: BLE001
        raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")


def _initial_data(req: Request, size: int) -> bytes:
    """Create File's optional body (service versions that take one; azure-storage-file-share sends it
    for ``create_file(size, data=...)``): up to 4 MiB written from offset 0, checked like Put Range."""
    body = req.body or b""
    if not body:
        return b""
    if req.header("x-ms-structured-body"):
        # CRC64 structured messages (azure-storage-extensions) are not decoded by this fake
        raise FilesError(400, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.")
    if len(body) > MAX_RANGE:
        raise FilesError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
    if len(body) > size:
        raise FilesError(400, "OutOfRangeInput", "One of the request inputs is out of range.")
    sent = _md5_header(req.header("Content-MD5"))
    if sent is not None and sent != hashlib.md5(body).digest():
        raise FilesError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
    return body


def _rename_file(req: Request, account: str, share: str, fs: ShareFS, dest: str) -> Response:
    """Rename File: ``PUT <dest>?comp=rename`` with ``x-ms-file-rename-source`` (the source file's URL,
    in the same share). An existing destination is replaced only with
    ``x-ms-file-rename-replace-if-exists: true``; the file keeps its id, content and creation time."""
    raw = req.header("x-ms-file-rename-source")
    if not raw:
        raise FilesError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
    parts = unquote(urlsplit(raw).path).lstrip("/").split("/", 2)
    if len(parts) < 3 or parts[0].lower() != account.lower() or parts[1].lower() != share.lower():
        raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
    src = parts[2].strip("/")
    if not dest:
        raise FilesError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    f = fs.files.get(src)
    if f is None:
        if src in fs.dirs:
            raise FilesError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")
        raise FilesError(404, "ResourceNotFound", "The specified resource does not exist.")
    if _parent(dest) not in fs.dirs:
        raise FilesError(404, "ParentNotFound", "The specified parent path does not exist.")
    if dest in fs.dirs:
        raise FilesError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")
    replace = (req.header("x-ms-file-rename-replace-if-exists") or "").lower() == "true"
    if dest != src and dest in fs.files and not replace:
        raise FilesError(409, "ResourceAlreadyExists", "The specified resource already exists.")
    if req.header("x-ms-content-type") is not None:
        f.content_type = req.header("x-ms-content-type")
    del fs.files[src]
    fs.files[dest] = f
    f.etag = '"0x8D%s"' % hashlib.md5(f"{f.etag}{dest}".encode()).hexdigest()[:13].upper()  # a new ETag
    h = _file_headers(f, with_length=False)
    h["x-ms-request-server-encrypted"] = "true"
    return Response(200, b"", h)


def _file_ops(req: Request, fs: ShareFS, path: str, comp: str) -> Response:
    if not path:
        raise FilesError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    m = req.method
    if m == "PUT" and not comp:
        if (req.header("x-ms-type") or "").lower() != "file":
            raise FilesError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
        if path in fs.dirs:
            raise FilesError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")
        if _parent(path) not in fs.dirs:
            raise FilesError(404, "ParentNotFound", "The specified parent path does not exist.")
        try:
            size = int(req.header("x-ms-content-length") or "")
        except ValueError:
            raise FilesError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
        if size < 0 or size > 4 * 1024 ** 4:
            raise FilesError(400, "OutOfRangeInput", "One of the request inputs is out of range.")
        initial = _initial_data(req, size)
        old = fs.files.get(path)
        f = FileObj(bytearray(size), md5=_md5_header(req.header("x-ms-content-md5")),
                    content_type=req.header("x-ms-content-type"), file_id=old.file_id if old else fs.next_id())
        f.data[:len(initial)] = initial
        if old:
            f.created = old.created
        f.touch()
        fs.files[path] = f
        h = _file_headers(f, with_length=False)
        h["x-ms-request-server-encrypted"] = "true"
        if initial:
            h["Content-MD5"] = base64.b64encode(hashlib.md5(initial).digest()).decode()
        return Response(201, b"", h)
    f = fs.files.get(path)
    if f is None:
        if _parent(path) not in fs.dirs:
            raise FilesError(404, "ParentNotFound", "The specified parent path does not exist.")
        raise FilesError(404, "ResourceNotFound", "The specified resource does not exist.")
    if m == "PUT" and comp == "range":
        rng = _parse_range(req.header("x-ms-range") or req.header("Range"))
        if rng is None or rng[1] is None:
            raise FilesError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
        start, end = rng
        if end >= len(f.data) or start > end:
            raise FilesError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        write = (req.header("x-ms-write") or "").lower()
        h = _base_headers()
        if write == "update":
            if len(req.body) != end - start + 1:
                raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
            if len(req.body) > MAX_RANGE:
                raise FilesError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
            digest = hashlib.md5(req.body).digest()
            sent = _md5_header(req.header("Content-MD5"))
            if sent is not None and sent != digest:
                raise FilesError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
            f.data[start:end + 1] = req.body
            h["Content-MD5"] = base64.b64encode(digest).decode()
        elif write == "clear":
            if req.body:
                raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
            f.data[start:end + 1] = bytes(end - start + 1)
        else:
            raise FilesError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        f.touch()
        h.update({"ETag": f.etag, "Last-Modified": util.rfc1123(f.modified), "x-ms-request-server-encrypted": "true",
                  "x-ms-file-last-write-time": util.iso(f.modified)})
        return Response(201, b"", h)
    if m == "PUT" and comp == "properties":
        if req.header("x-ms-content-length"):
            n = int(req.header("x-ms-content-length") or 0)
            if n < len(f.data):
                del f.data[n:]
            else:
                f.data.extend(bytes(n - len(f.data)))
        # Set HTTP headers replaces the content settings given (an absent MD5 clears it)
        f.md5 = _md5_header(req.header("x-ms-content-md5"))
        if req.header("x-ms-content-type") is not None:
            f.content_type = req.header("x-ms-content-type")
        f.touch()
        return Response(200, b"", _file_headers(f, with_length=False))
    if m == "PUT" and comp == "metadata":
        f.touch()
        return Response(200, b"", {**_base_headers(), "ETag": f.etag, "Last-Modified": util.rfc1123(f.modified)})
    if m == "HEAD" or (m == "GET" and comp == "properties"):
        h = _file_headers(f)
        if f.md5 is not None:
            h["Content-MD5"] = base64.b64encode(f.md5).decode()
        return Response(200, b"", h)
    if m == "GET" and not comp:
        rng = _parse_range(req.header("x-ms-range") or req.header("Range"))
        size = len(f.data)
        h = _file_headers(f, with_length=False)
        if rng is None:
            if f.md5 is not None:
                h["Content-MD5"] = base64.b64encode(f.md5).decode()
            return Response(200, bytes(f.data), h)
        start, end = rng
        if start >= size:
            raise FilesError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        end = size - 1 if end is None or end >= size else end
        chunk = bytes(f.data[start:end + 1])
        h["Content-Range"] = f"bytes {start}-{end}/{size}"
        _READS.setdefault(fs, []).append((path, start, end))
        if f.md5 is not None:
            h["x-ms-content-md5"] = base64.b64encode(f.md5).decode()
        if (req.header("x-ms-range-get-content-md5") or "").lower() == "true":
            h["Content-MD5"] = base64.b64encode(hashlib.md5(chunk).digest()).decode()
        return Response(206, chunk, h)
    if m == "DELETE" and not comp:
        del fs.files[path]
        return Response(202, b"", _base_headers())
    raise FilesError(400, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")


def register(router, fake):
    """Files requests are dispatched by surface (any path not ARM/logs), not by the router."""
