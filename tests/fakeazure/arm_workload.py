"""What Microsoft.App jobs and container apps share on the wire: the common part of the body a
PUT or PATCH builds (location, environment, workload profile, write-only secrets, identity, tags)
and the handlers whose answers differ only by resource type: PUT (Azure-AsyncOperation), GET,
PATCH (202 + Location), DELETE, the two lists, listSecrets and the resource token. What differs
(a job's trigger configuration, an app's revisions) stays in arm_jobs / arm_apps and comes in as
`build`, `install` and `refresh`."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Optional

from . import auth
from .arm_common import RG, SUB, body_or_400, get_or_404, list_handlers, lro_delete, merge_patch, require_rg, rid, write_guard
from .arm_template import check_name, check_profile, check_template, merge_secrets, resolve_env, secrets_out
from .router import ArmError, Request, Response
from .state import Resource

NS = "Microsoft.App"


@dataclass(frozen=True)
class Kind:
    type_: str  # "Microsoft.App/jobs"
    segment: str  # the collection in ids and paths: "jobs"
    param: str  # the route group naming one, and check_name's kind: "job"
    lro_kind: str  # the operation kind in LRO urls: "containerappsjob"
    token_route: str  # "/getAuthToken" as the service spells it for this type

    @property
    def collection(self) -> str:
        return r"/providers/Microsoft\.App/" + self.segment

    @property
    def pattern(self) -> str:
        return RG + self.collection + rf"/(?P<{self.param}>[^/]+)"


def begin(state, body: dict, existing) -> tuple[dict, object, Optional[str], dict]:
    """The start of a build: (properties, environment, workload profile type, configuration), all
    copies of the body's; the location falls back on the existing resource's."""
    props = copy.deepcopy(body.get("properties") or {})
    location = body.get("location") or (existing.body["location"] if existing else None)
    if not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    env = resolve_env(state, props, location)
    profile_type = check_profile(env, props)
    return props, env, profile_type, props.get("configuration") or {}


def secrets_and_template(env, props: dict, cfg: dict, existing, kind: str,
                         check: Callable[[dict], None] = lambda t: None) -> tuple[dict, dict]:
    """(secrets with values, checked template): a body without 'secrets' keeps the stored ones, and
    the configuration shows them without values. `check` refuses a template before that."""
    secrets = merge_secrets(cfg.get("secrets") if "secrets" in cfg else None,
                            existing.private.get("secrets", {}) if existing else {})
    template = check_template(env, props.get("template"), secrets, kind=kind)
    check(template)
    if secrets:
        cfg["secrets"] = secrets_out(secrets)
    else:
        cfg.pop("secrets", None)
    return secrets, template


def _replace(req: Request, res: Resource, out: dict, private: dict, template: dict, existing: bool) -> None:
    res.body, res.private = out, private


class Workload:
    """The handlers a job or a container app answers alike. `build(req, body, existing)` ->
    (body, private, template); `install(req, res, body, private, template, existing)` puts them in
    place (default: replaces); `refresh(res)` brings derived status up to date before an answer."""

    def __init__(self, fake, kind: Kind, build: Callable, install: Callable = _replace,
                 refresh: Callable[[Resource], None] = lambda r: None):
        self.fake, self.state, self.lro, self.kind = fake, fake.state, fake.lro, kind
        self.build, self.install, self.refresh = build, install, refresh
        self.list_rg, self.list_sub = list_handlers(self.state, kind.type_)

    def id(self, req: Request) -> str:
        return rid(req.params["sub"], require_rg(self.state, req), NS, self.kind.segment, req.params[self.kind.param])

    def envelope(self, req: Request, body: dict, env, props: dict, existing, **private) -> tuple[dict, dict]:
        """The resource body around `props`, and the private state: the existing one's updated."""
        out = {"name": req.params[self.kind.param], "type": self.kind.type_, "id": self.id(req),
               "location": env.body["location"], "properties": props}
        if body.get("identity"):
            out["identity"] = self.fake.identity_out(body["identity"])
        if body.get("tags"):
            out["tags"] = body["tags"]
        kept = dict(existing.private) if existing else {}
        kept.update(private)
        return out, kept

    def visible(self, req: Request) -> Resource:
        r = get_or_404(self.state, req, self.id(req), self.kind.type_, req.params[self.kind.param])
        self.lro.settle(r.id)
        self.refresh(r)
        return r

    def put(self, req: Request) -> Response:
        write_guard(self.state, req, NS)
        check_name(req.params[self.kind.param], self.kind.param)
        body = body_or_400(req)
        rid_ = self.id(req)
        existing = self.state.resource(rid_)
        out, private, template = self.build(req, body, existing)
        res = existing or Resource(rid_, self.kind.type_, {}, {})
        self.install(req, res, out, private, template, existing is not None)
        out["properties"]["provisioningState"] = "InProgress"
        self.state.resources[rid_.lower()] = res
        self.refresh(res)

        def ok():
            res.body["properties"]["provisioningState"] = "Succeeded"

        def failed():
            res.body["properties"]["provisioningState"] = "Failed"

        op = self.lro.start(req, "async", resource_id=rid_, on_success=ok, on_failure=failed)
        headers = self.lro.headers(req, op, NS, out["location"], self.kind.lro_kind)
        return Response.json(200 if existing else 201, res.body, headers)

    def get(self, req: Request) -> Response:
        return Response.json(200, self.visible(req).body)

    def patch(self, req: Request) -> Response:
        write_guard(self.state, req, NS)
        r = self.visible(req)
        patch = body_or_400(req)
        current = {"location": r.body["location"], "properties": copy.deepcopy(r.body["properties"])}
        # secrets come back without values: a patch without 'secrets' keeps the stored ones
        current["properties"].get("configuration", {}).pop("secrets", None)
        for k in ("tags", "identity"):
            if r.body.get(k):
                current[k] = r.body[k]
        out, private, template = self.build(req, merge_patch(current, patch), r)
        self.install(req, r, out, private, template, True)
        out["properties"]["provisioningState"] = "Succeeded"
        self.refresh(r)
        op = self.lro.start(req, "location", resource_id=r.id, final=lambda: (200, copy.deepcopy(r.body)))
        return Response.empty(202, self.lro.headers(req, op, NS, out["location"], self.kind.lro_kind))

    def delete(self, req: Request) -> Response:
        return lro_delete(self.fake, self.state, self.lro, req, self.id(req), deleting="Deleting", namespace=NS,
                          kind=self.kind.lro_kind)

    def list_secrets(self, req: Request) -> Response:
        r = self.visible(req)
        return Response.json(200, {"value": [copy.deepcopy(s) for s in r.private.get("secrets", {}).values()]})

    def token(self, req: Request) -> Response:
        r = self.visible(req)
        token, expires = auth.issue_resource_token(self.state, r.id)
        return Response.json(200, {"name": r.body["name"], "type": f"{self.kind.type_}/accesstoken", "id": r.id,
                                   "location": r.body["location"], "properties": {"token": token, "expires": expires}})

    def add_routes(self, router) -> None:
        item = self.kind.pattern
        for method, pattern, handler in (
                ("PUT", item, self.put), ("GET", item, self.get), ("PATCH", item, self.patch),
                ("DELETE", item, self.delete), ("GET", RG + self.kind.collection, self.list_rg),
                ("GET", SUB + self.kind.collection, self.list_sub), ("POST", item + r"/listSecrets", self.list_secrets),
                ("POST", item + self.kind.token_route, self.token)):
            router.add(method, pattern, handler)
