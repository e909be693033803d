"""The HTTPS server: TLS from a trustme CA, HTTP/1.1 keep-alive, chunked streaming, dispatch to
the ARM / Files / Log Analytics / log-stream handlers, faults and the request log."""
from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlsplit

from . import auth, util
from .faults import Faults
from .lro import Lro
from .router import ArmError, DropConnection, Request, Response, Router, StreamResponse


@dataclass
class RequestRecord:
    method: str
    path: str  # decoded path
    query: dict
    status: int
    ms: float
    surface: str  # arm | files | logs | stream
    fault: Optional[str] = None


class RequestLog:
    """What the fake has answered, in order (readable by tests, resettable)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[RequestRecord] = []

    def add(self, rec: RequestRecord) -> None:
        with self._lock:
            self._entries.append(rec)

    @property
    def entries(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._entries)

    def filter(self, method: Optional[str] = None, path: Optional[str] = None, surface: Optional[str] = None,
               status: Optional[int] = None) -> list[RequestRecord]:
        import re

        rx = re.compile(path, re.I) if path else None
        return [e for e in self.entries
                if (method is None or e.method == method.upper())
                and (rx is None or rx.search(e.path))
                and (surface is None or e.surface == surface)
                and (status is None or e.status == status)]

    def count(self, method: Optional[str] = None, path: Optional[str] = None, surface: Optional[str] = None,
              status: Optional[int] = None) -> int:
        return len(self.filter(method, path, surface, status))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    reset = clear

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, ssl_ctx: ssl.SSLContext, fake: "FakeAzure"):
        self.ssl_ctx = ssl_ctx
        self.fake = fake
        self.open_sockets: set = set()
        self.sock_lock = threading.Lock()
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread (not in the accept loop)
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK stalls
            request.settimeout(30)
            if self.fake.latency_ms > 0:
                # a new connection costs the TCP and the TLS handshakes: two round trips before
                # its first request can be sent (the client waits in its handshake meanwhile)
                time.sleep(2 * self.fake.latency_ms / 1000.0)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.sock_lock:
            self.open_sockets.add(tls)
        try:
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with self.sock_lock:
                self.open_sockets.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet: clients drop connections on purpose
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- io helpers ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _write(self, resp: Response, head_only: bool) -> None:
        self.send_response(resp.status)
        headers = dict(resp.headers)
        headers.setdefault("x-ms-request-id", util.new_guid())
        if not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(resp.body))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if resp.body and not head_only:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def _stream(self, resp: StreamResponse) -> bool:
        """-> True when the stream completed, False when cut/dropped."""
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        sent = 0
        gen = iter(resp.chunks)
        try:
            for chunk in gen:
                if not chunk:
                    continue
                if resp.cut_after is not None and sent >= resp.cut_after:
                    self._drop()
                    return False
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                sent += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return True
        except DropConnection:
            self._drop()
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True
            return False
        finally:
            close = getattr(gen, "close", None)
            if close:
                close()

    # -- dispatch -------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        fake = self.server.fake
        t0 = time.perf_counter()
        split = urlsplit(self.path)
        raw_path, raw_query = split.path, split.query
        body = self._read_body()
        if fake.latency_ms > 0:
            # one network round trip per request, spent in this connection's own thread so that
            # concurrent requests overlap as they do on a real network
            time.sleep(fake.latency_ms / 1000.0)
        req = Request(self.command, raw_path, raw_query, self.headers, body, fake.base_url, conn=self)
        surface = fake.surface_of(req)
        logged = False

        def log(status: int, fault: Optional[str]) -> None:
            # recorded BEFORE the client can see the answer, so tests never race the log
            nonlocal logged
            logged = True
            fake.requests.add(RequestRecord(req.method, req.path, dict(req.query), status,
                                            (time.perf_counter() - t0) * 1000.0, surface, fault))

        try:
            rule = fake.faults.take(("status", "drop", "chaos"), req.method, req.path, raw_query)
            if rule is not None and rule.kind == "drop":
                log(0, "drop")
                raise DropConnection()
            if rule is not None:
                resp = fake.fault_response(surface, rule, req)
            else:
                resp = fake.handle(req, surface)
            log(resp.status, rule.kind if rule is not None else getattr(resp, "fault", None))
            if isinstance(resp, StreamResponse):
                self._stream(resp)
            else:
                self._write(resp, req.method == "HEAD")
        except DropConnection:
            self._drop()
        except (ConnectionError, ssl.SSLError, BrokenPipeError):
            self.close_connection = True
        finally:
            if not logged:
                log(0, "error")


_STREAM_RX = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/(jobs|containerapps|managedenvironments)/")


class FakeCredential:
    """A TokenCredential / SupportsTokenInfo handing out the fake's ARM token."""

    def __init__(self, token: str):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.token, int(time.time()) + 3600)

    def close(self):
        pass


class FakeAzure:
    """A wire-faithful Azure on https://127.0.0.1:PORT (ARM, Azure Files, Log Analytics query,
    Container Apps log streams). Use as a context manager or start()/stop()."""

    DEFAULT_SUBSCRIPTION = "5d8c1e2a-3b4f-4c6d-9e7f-0a1b2c3d4e5f"
    FRESH_SUBSCRIPTION = "9f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0"
    TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, standalone: bool = False, latency_ms: float = 0.0):
        from .state import AzureState

        self.host, self._port, self.standalone = host, port, standalone
        # Simulated network round trip (benchmarks): every request is answered ``latency_ms`` after
        # it arrived and every new connection first waits two round trips (TCP + TLS handshakes).
        # Settable at any time; ``reset()`` restores the constructor's value.
        self.default_latency_ms = self.latency_ms = float(latency_ms)
        self.tenant_id = self.TENANT
        self.subscription_id = self.DEFAULT_SUBSCRIPTION
        self.fresh_subscription_id = self.FRESH_SUBSCRIPTION
        self.token = "fake-arm-" + util.new_token()
        self.state = AzureState(self.tenant_id, self.subscription_id, self.fresh_subscription_id)
        self.faults = Faults()
        self.requests = RequestLog()
        self.lro = Lro(self.state, self.faults)
        from .simulator import AppSimulator, JobSimulator

        self.jobs = JobSimulator(self)
        self.apps = AppSimulator(self)
        self.router = Router()
        self._register_routes()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._tmp: Optional[str] = None
        self.ca_path = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        from . import arm_apps, arm_core, arm_env, arm_jobs, arm_loganalytics, arm_storage, files, logs_query, logstream

        for mod in (arm_core, arm_storage, arm_loganalytics, arm_env, arm_jobs, arm_apps, logstream, logs_query, files):
            mod.register(self.router, self)

    def start(self) -> "FakeAzure":
        import trustme

        self._tmp = tempfile.mkdtemp(prefix="fakeazure-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = os.path.join(self._tmp, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self._server = _Server((self.host, self._port), _Handler, ctx, self)
        self.port = self._server.server_address[1]
        self.base_url = f"https://{self.host}:{self.port}"
        self.state.base_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fakeazure", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.jobs.stop_all()
        with self.state.lock:
            self.state.generation += 1
            self.state.cond.notify_all()
        if self._server:
            self._server.shutdown()
            with self._server.sock_lock:
                socks = list(self._server.open_sockets)
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "FakeAzure":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Fresh Azure: no resources, default knobs, no faults, empty request log, default scripts."""
        self.jobs.stop_all()
        self.state.reset()
        self.state.base_url = getattr(self, "base_url", "")
        self.faults.clear()
        self.requests.clear()
        self.latency_ms = self.default_latency_ms
        self.jobs.reset()
        self.apps.reset()

    # -- what clients need -------------------------------------------------------------------------
    @property
    def arm_endpoint(self) -> str:
        return self.base_url

    @property
    def file_endpoint(self) -> str:
        return self.base_url + "/{account}"

    @property
    def logs_endpoint(self) -> str:
        return self.base_url

    def file_account_url(self, account: str) -> str:
        return self.file_endpoint.format(account=account)

    def credential(self) -> FakeCredential:
        return FakeCredential(self.token)

    def client_kwargs(self) -> dict:
        """kwargs for any azure-mgmt-* client: base_url, connection_verify, polling_interval=0."""
        return {"base_url": self.arm_endpoint, "connection_verify": self.ca_path, "polling_interval": 0,
                "credential_scopes": ["https://management.azure.com/.default"]}

    def env(self) -> dict[str, str]:
        return {
            "FTSTUDIO_ARM_ENDPOINT": self.arm_endpoint,
            "FTSTUDIO_FILE_ENDPOINT": self.file_endpoint,
            "FTSTUDIO_LOGS_ENDPOINT": self.logs_endpoint,
            "FTSTUDIO_ACCESS_TOKEN": self.token,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
            "FTSTUDIO_POLLING_INTERVAL": "0",
        }

    # -- hooks used by the resource modules ---------------------------------------------------------
    def identity_out(self, identity: dict) -> dict:
        out = {"type": identity.get("type", "None")}
        if "systemassigned" in out["type"].replace(" ", "").lower():
            out.update({"principalId": util.new_guid(), "tenantId": self.tenant_id})
        if identity.get("userAssignedIdentities"):
            out["userAssignedIdentities"] = {k: {"clientId": util.new_guid(), "principalId": util.new_guid()}
                                             for k in identity["userAssignedIdentities"]}
        return out

    def replica_body(self, rid: str, rep, stream_base: str, type_: str) -> dict:
        containers = []
        for c in rep.containers:
            containers.append({"name": c, "containerId": "containerd://" + util.rand_lower(64), "ready": rep.ready,
                               "started": not rep.ended, "restartCount": rep.restart_count,
                               "runningState": "Running" if not rep.ended else "Terminated",
                               "runningStateDetails": "" if not rep.ended else "Completed",
                               "logStreamEndpoint": f"{stream_base}/containers/{c}/logstream",
                               "debugEndpoint": f"{stream_base.replace('https://', 'wss://')}/debug?targetContainer={c}",
                               "execEndpoint": f"{stream_base.replace('https://', 'wss://')}/containers/{c}/exec"})
        return {"name": rep.name, "type": type_, "id": rid,
                "properties": {"createdTime": util.arm_time(rep.created), "runningState": rep.running_state,
                               "runningStateDetails": "", "containers": containers, "initContainers": []}}

    def job_share(self, job_body: dict):
        """((account, share), mountPath) of the job's first Azure Files volume, or None."""
        props = job_body.get("properties", {})
        env = self.state.resource(props.get("environmentId", ""))
        if env is None:
            return None
        template = props.get("template", {})
        for v in template.get("volumes") or []:
            if (v.get("storageType") or "AzureFile") != "AzureFile":
                continue
            st = env.private.get("storages", {}).get((v.get("storageName") or "").lower())
            if not st or not st["properties"].get("azureFile"):
                continue
            af = st["properties"]["azureFile"]
            mount = ""
            for c in template.get("containers") or []:
                for m in c.get("volumeMounts") or []:
                    if m.get("volumeName") == v["name"]:
                        mount = m.get("mountPath", "")
            return (af["accountName"], af["shareName"]), mount
        return None

    def on_resource_deleted(self, res) -> None:
        if res.type == "Microsoft.Storage/storageAccounts":
            name = res.body["name"].lower()
            for key in [k for k in self.state.shares if k[0] == name]:
                self.state.shares.pop(key, None)
        elif res.type == "Microsoft.App/jobs":
            for ex in self.state.executions.get(res.id.lower(), []):
                ex.stop.set()
        elif res.type == "Microsoft.App/containerApps":
            for rev in self.state.revisions.get(res.id.lower(), {}).values():
                rev.active = False
                for rep in rev.replicas:
                    rep.ended = True
        self.state.cond.notify_all()

    def on_revision_ready(self, rev) -> None:
        pass  # the app's latestReadyRevisionName is derived on every GET

    def usage_current(self, name: str, location: str, sub: str) -> float:
        loc = util.norm_location(location)
        if name == "ManagedEnvironmentCount":
            return sum(1 for r in self.state.resources.values() if r.type == "Microsoft.App/managedEnvironments"
                       and util.norm_location(r.body["location"]) == loc and r.id.lower().startswith(f"/subscriptions/{sub}/"))
        fam = {"SubscriptionConsumptionNCA100Gpus": ("A100", True), "SubscriptionConsumptionT4Gpus": ("T4", True),
               "SubscriptionNCA100Gpus": ("A100", False)}.get(name)
        if not fam:
            return 0
        from .state import GPU_TYPES

        n = 0
        for execs in self.state.executions.values():
            for ex in execs:
                spec = GPU_TYPES.get(ex.profile_type or "")
                env = self.state.resource(ex.env_id)
                if spec and spec[0] == fam[0] and (ex.profile_type or "").startswith("Consumption") == fam[1] \
                        and ex.status == "Running" and env is not None and util.norm_location(env.body["location"]) == loc:
                    n += spec[3]
        for revs in self.state.revisions.values():
            for rev in revs.values():
                spec = GPU_TYPES.get(rev.profile_type or "")
                env = self.state.resource(rev.env_id)
                if spec and spec[0] == fam[0] and (rev.profile_type or "").startswith("Consumption") == fam[1] \
                        and rev.active and env is not None and util.norm_location(env.body["location"]) == loc:
                    n += spec[3] * len([r for r in rev.replicas if not r.ended])
        return n

    # -- dispatch ---------------------------------------------------------------------------------
    def surface_of(self, req: Request) -> str:
        p = req.path.lower()
        if p.startswith("/v1/"):
            return "logs"
        if _STREAM_RX.match(p):
            return "stream"
        if p.startswith(("/subscriptions", "/tenants", "/providers")):
            return "arm"
        return "files"

    def fault_response(self, surface: str, rule, req: Request) -> Response:
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            ra = rule.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        if rule.retry_after_ms is not None:
            headers["Retry-After-Ms"] = str(rule.retry_after_ms)
        status = rule.status
        if surface == "files":
            from .files import storage_error

            code = rule.code or {429: "ServerBusy", 500: "InternalError", 503: "ServerBusy"}.get(status, "InternalError")
            r = storage_error(status, code, rule.message or "The server is busy.")
            r.headers.update(headers)
            return r
        code = rule.code or {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
                             503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(status, "InternalServerError")
        msg = rule.message or {429: "The request is being throttled.", 503: "The service is unavailable."}.get(
            status, "Encountered internal server error.")
        return Response.json(status, {"error": {"code": code, "message": msg}}, headers)

    def handle(self, req: Request, surface: str) -> Any:
        handler, params, auth_kind, other = self.router.route(req.method if req.method != "HEAD" or surface == "files" else "HEAD", req.path)
        if surface == "files":
            from .files import handle_files

            return handle_files(self, req)
        if surface == "arm":
            tok = auth.bearer(req.headers)
            if tok is None:
                return Response.json(401, {"error": {"code": "AuthenticationFailed",
                                                     "message": "Authentication failed. The 'Authorization' header is missing."}},
                                     {"WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{self.tenant_id}", '
                                                          'error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."'})
            if tok != self.token:
                return Response.json(401, {"error": {"code": "InvalidAuthenticationToken",
                                                     "message": "The access token is invalid."}},
                                     {"WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{self.tenant_id}", '
                                                          'error="invalid_token", error_description="The access token is invalid."'})
            if not req.query.get("api-version"):
                return Response.json(400, {"error": {"code": "MissingApiVersionParameter",
                                                     "message": "The api-version query parameter (?api-version=) is required for all requests."}})
        if surface == "logs":
            if auth.bearer(req.headers) != self.token:
                return Response.json(403, {"error": {"code": "InvalidTokenError",
                                                     "message": "The provided authentication is not valid for this resource"}})
        if handler is None:
            if surface == "arm":
                if other:
                    return Response.json(405, {"error": {"code": "MethodNotAllowed",
                                                         "message": f"The requested resource does not support http method '{req.method}'."}})
                return Response.json(404, {"error": {"code": "InvalidResourceType" if "/providers/" in req.path.lower() else "NotFound",
                                                     "message": f"The resource type could not be found for '{req.path}'."}})
            return Response.json(404, {"error": {"code": "NotFound", "message": "Not found."}})
        req.params = params
        try:
            with self.state.lock:
                return handler(req)
        except ArmError as e:
            return e.response()
        except DropConnection:
            raise
        except Exception as e:  # noqa: BLE001 - a bug in the fake should be loud, not a hang
            traceback.print_exc(file=sys.stderr)
            return Response.json(500, {"error": {"code": "FakeAzureBug", "message": f"{type(e).__name__}: {e}"}})
