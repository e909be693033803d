"""The log-stream host (what `eventStreamEndpoint` points at): console streams of job
replicas and app replicas, and system event streams. Auth is the per-resource token from
getAuthToken (never the ARM token). Lines keep their original timestamps across reconnects."""
from __future__ import annotations

import json
from typing import Callable, Iterator, Optional

from . import auth, util
from .router import DropConnection, Request, Response, StreamResponse

BASE = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
JOB_LS = BASE + r"/jobs/(?P<job>[^/]+)/executions/(?P<exec>[^/]+)/replicas/(?P<replica>[^/]+)/containers/(?P<container>[^/]+)/logstream"
APP_LS = BASE + r"/containerApps/(?P<app>[^/]+)/revisions/(?P<rev>[^/]+)/replicas/(?P<replica>[^/]+)/containers/(?P<container>[^/]+)/logstream"
APP_EV = BASE + r"/containerApps/(?P<app>[^/]+)/eventstream"
JOB_EV = BASE + r"/jobs/(?P<job>[^/]+)/eventstream"
EXEC_EV = BASE + r"/jobs/(?P<job>[^/]+)/executions/(?P<exec>[^/]+)/eventstream"
ENV_EV = BASE + r"/managedEnvironments/(?P<env>[^/]+)/eventstream"
MAX_TAIL = 300
# the owners of streams: resource type, the 404 code, and how the 404 names the owner
_OWNERS = {"job": ("Microsoft.App/jobs", "JobNotFound", "Job"),
           "app": ("Microsoft.App/containerApps", "ContainerAppNotFound", "Container app")}


def _err(status: int, code: str, message: str) -> Response:
    return Response.json(status, {"error": {"code": code, "message": message}})


def _ts(dt) -> str:
    return util.iso(dt)


def _event_ts(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


class _Params:
    def __init__(self, req: Request):
        q = req.query
        self.follow = (q.get("follow") or "false").lower() == "true"
        self.output = (q.get("output") or "json").lower()
        raw = q.get("tailLines")
        self.error: Optional[Response] = None
        if self.output not in ("json", "text"):
            self.error = _err(400, "InvalidOutputFormat", "output must be 'json' or 'text'.")
        try:
            self.tail = MAX_TAIL if raw in (None, "") else int(raw)
        except ValueError:
            self.tail = -1
        if not 0 <= self.tail <= MAX_TAIL and self.error is None:
            self.error = _err(400, "InvalidTailLines", f"tailLines must be between 0 and {MAX_TAIL}.")


def register(router, fake):
    state = fake.state

    def authorized(req: Request, *scopes: str) -> bool:
        scope = auth.resource_token_scope(state, auth.bearer(req.headers))
        return scope is not None and scope in {s.lower() for s in scopes if s}

    def unauthorized() -> Response:
        return _err(401, "Unauthorized", "The access token is missing, invalid or not issued for this resource.")

    def stream(req: Request, records: Callable[[], list], ended: Callable[[], bool], fmt: Callable, p: _Params,
               banner: list[str]) -> StreamResponse:
        gen0 = state.generation
        cut = fake.faults.take(("cut_stream",), req.method, req.path, req.raw_query)
        resp = StreamResponse(200, [], {"Content-Type": "application/json; charset=utf-8" if p.output == "json" else "text/plain; charset=utf-8",
                                        "Cache-Control": "no-cache"})
        if cut is not None:
            resp.fault = "cut_stream"

        def body() -> Iterator[bytes]:
            sent = 0

            def emit(items):
                nonlocal sent
                for rec in items:
                    if cut is not None and sent >= cut.after_lines:
                        raise DropConnection()
                    yield fmt(rec)
                    sent += 1

            with state.lock:
                recs = records()
                idx = len(recs)
                first = recs[-p.tail:] if p.tail else []
            if banner and state.stream_banner:
                now = util.now()
                for line in banner:
                    yield (json.dumps({"TimeStamp": _ts(now), "Log": line}) if p.output == "json" else line).encode() + b"\n"
            for chunk in emit(first):
                yield chunk
            if not p.follow:
                return
            while True:
                with state.cond:
                    while (len(records()) <= idx and not ended() and state.generation == gen0):
                        state.cond.wait(timeout=1.0)
                    recs = records()
                    new, idx = recs[idx:], len(recs)
                    done = ended() or state.generation != gen0
                for chunk in emit(new):
                    yield chunk
                if done:
                    return

        resp.chunks = body()
        return resp

    def console_fmt(p: _Params):
        def fmt(rec) -> bytes:
            if p.output == "json":
                return json.dumps({"TimeStamp": _ts(rec.ts), "Log": rec.text}).encode() + b"\n"
            return rec.text.encode() + b"\n"
        return fmt

    def gate(req: Request, p: _Params, *scopes: str) -> Optional[Response]:
        """The checks after the owner is found, in the service's order: the token is for one of
        `scopes`, then the query is valid. None when the request may go on."""
        if not authorized(req, *scopes):
            return unauthorized()
        return p.error

    def owner(req: Request, p: _Params, kind: str):
        """The job or container app (`kind` "job" or "app") a stream request names, and the error
        the service answers with instead (not found, token not for it or its environment, bad
        query), or None."""
        rtype, code, label = _OWNERS[kind]
        prefix = f"/subscriptions/{req.params['sub']}/resourcegroups/{req.params['rg']}/".lower()
        res = next((r for r in state.resources.values()
                    if r.type == rtype and r.body["name"].lower() == req.params[kind].lower()
                    and r.id.lower().startswith(prefix)), None)
        if res is None:
            return None, _err(404, code, f"{label} '{req.params[kind]}' was not found.")
        return res, gate(req, p, res.id, res.body["properties"].get("environmentId"))

    def execution(req: Request, job):
        """The execution of `job` the request names, or None and the 404 the service answers with."""
        ex = next((e for e in state.executions.get(job.id.lower(), []) if e.name.lower() == req.params["exec"].lower()), None)
        if ex is None:
            return None, _err(404, "JobExecutionNotFound", f"Job execution '{req.params['exec']}' was not found.")
        return ex, None

    def job_logstream(req: Request):
        p = _Params(req)
        job, err = owner(req, p, "job")
        if err is None:
            ex, err = execution(req, job)
        if err is not None:
            return err
        return replica_console(req, p, ex.replicas, "Execution", ex.name)

    def app_logstream(req: Request):
        p = _Params(req)
        app, err = owner(req, p, "app")
        if err is not None:
            return err
        rev = state.revisions.get(app.id.lower(), {}).get(req.params["rev"].lower())
        if rev is None:
            return _err(404, "RevisionNotFound", f"Revision '{req.params['rev']}' was not found.")
        return replica_console(req, p, rev.replicas, "Revision", rev.name)

    def replica_console(req: Request, p: "_Params", replicas: list, owner_kind: str, owner_name: str):
        """The console stream of one container of one replica (of a job execution or an app revision)."""
        rep = next((r for r in replicas if r.name.lower() == req.params["replica"].lower()), None)
        if rep is None:
            return _err(404, "ReplicaNotFound", f"Replica '{req.params['replica']}' was not found.")
        c = req.params["container"]
        if c not in rep.logs:
            return _err(404, "ContainerNotFound", f"Container '{c}' was not found in replica '{rep.name}'.")
        banner = [f"Connecting to the container '{c}'...",
                  f"Successfully Connected to container: '{c}' [{owner_kind}: '{owner_name}', Replica: '{rep.name}']"]
        return stream(req, lambda: rep.logs[c], lambda: rep.ended, console_fmt(p), p, banner)

    def event_fmt(p: _Params):
        def fmt(ev) -> bytes:
            doc = {"TimeStamp": _event_ts(ev["ts"]), "Type": ev["type"]}
            if "job" in ev:
                doc.update({"JobName": ev["job"], "ExecutionName": ev["execution"], "ReplicaName": ev["replica"]})
            elif "app" in ev:
                doc.update({"ContainerAppName": ev["app"], "RevisionName": ev["revision"], "ReplicaName": ev["replica"]})
            doc.update({"Msg": ev["msg"], "Reason": ev["reason"], "EventSource": "ContainerAppController", "Count": 1})
            if p.output == "json":
                return json.dumps(doc).encode() + b"\n"
            return f"{doc['TimeStamp']} {ev['type']} {ev['reason']} {ev['msg']}".encode() + b"\n"
        return fmt

    def by_time(evs) -> list:
        return sorted(evs, key=lambda e: e["ts"])

    def app_events(req: Request):
        p = _Params(req)
        app, err = owner(req, p, "app")
        if err is not None:
            return err

        def records():
            return by_time(e for rev in state.revisions.get(app.id.lower(), {}).values() for e in rev.events)

        return stream(req, records, lambda: state.resource(app.id) is None, event_fmt(p), p, [])

    def job_events(req: Request):
        p = _Params(req)
        job, err = owner(req, p, "job")
        if err is not None:
            return err
        if req.params.get("exec"):
            ex, err = execution(req, job)
            if err is not None:
                return err
            return stream(req, lambda: ex.events, lambda: ex.finished, event_fmt(p), p, [])

        def records():
            return by_time(e for x in state.executions.get(job.id.lower(), []) for e in x.events)

        return stream(req, records, lambda: state.resource(job.id) is None, event_fmt(p), p, [])

    def env_events(req: Request):
        p = _Params(req)
        env_id = f"/subscriptions/{req.params['sub']}/resourceGroups/{req.params['rg']}/providers/Microsoft.App/managedEnvironments/{req.params['env']}"
        env = state.resource(env_id)
        if env is None:
            return _err(404, "ManagedEnvironmentNotFound", f"Managed environment '{req.params['env']}' was not found.")
        err = gate(req, p, env.id)
        if err is not None:
            return err

        def records():
            evs = []
            for x in state.executions.values():
                evs += [e for ex in x if ex.env_id.lower() == env.id.lower() for e in ex.events]
            for revs in state.revisions.values():
                evs += [e for rev in revs.values() if rev.env_id.lower() == env.id.lower() for e in rev.events]
            return by_time(evs)

        return stream(req, records, lambda: state.resource(env.id) is None, event_fmt(p), p, [])

    for pattern, handler in ((JOB_LS, job_logstream), (APP_LS, app_logstream), (APP_EV, app_events),
                             (EXEC_EV, job_events), (JOB_EV, job_events), (ENV_EV, env_events)):
        router.add("GET", pattern, handler, auth="stream")
