"""Microsoft.App container apps: create/update (Azure-AsyncOperation), PATCH (202 + Location),
DELETE, revisions `<app>--<suffix>` (a new one whenever the template changes; a repeated
revisionSuffix is refused), replicas with logStreamEndpoint, restart, getAuthtoken,
listSecrets."""
from __future__ import annotations

import copy
import json
import re

from . import auth, util
from .arm_common import (RG, SUB, body_or_400, get_or_404, list_handlers, lro_delete, merge_patch, page, require_rg, rid, write_guard)
from .arm_template import bad, check_name, check_profile, check_template, merge_secrets, resolve_env, secrets_out
from .router import ArmError, Request, Response
from .simulator import Revision
from .state import Resource

NS = "Microsoft.App"
T_APP = "Microsoft.App/containerApps"
APP = RG + r"/providers/Microsoft\.App/containerApps/(?P<app>[^/]+)"
REV = APP + r"/revisions/(?P<rev>[^/]+)"
SUFFIX_RX = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")


def _template_key(t: dict) -> str:
    t = {k: v for k, v in (t or {}).items() if k != "revisionSuffix"}
    return json.dumps(t, sort_keys=True)


def register(router, fake):
    state, lro, sim = fake.state, fake.lro, fake.apps

    def app_id(req):
        return rid(req.params["sub"], require_rg(state, req), NS, "containerApps", req.params["app"])

    def revisions(r) -> dict:
        return state.revisions.setdefault(r.id.lower(), {})

    def build(req, body: dict, existing=None) -> tuple[dict, dict, dict]:
        props = copy.deepcopy(body.get("properties") or {})
        location = body.get("location") or (existing.body["location"] if existing else None)
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        env = resolve_env(state, props, location)
        profile_type = check_profile(env, props)
        cfg = props.get("configuration") or {}
        secrets = merge_secrets(cfg.get("secrets") if "secrets" in cfg else None,
                                existing.private.get("secrets", {}) if existing else {})
        template = check_template(env, props.get("template"), secrets, kind="app")
        sfx = template.get("revisionSuffix")
        if sfx and not SUFFIX_RX.match(sfx):
            raise bad(f"Invalid revisionSuffix '{sfx}'. It must consist of lower case alphanumeric characters or '-', "
                      "start and end with an alphanumeric character and cannot have '--'.", "ContainerAppInvalidRevisionSuffix")
        if secrets:
            cfg["secrets"] = secrets_out(secrets)
        else:
            cfg.pop("secrets", None)
        cfg.setdefault("activeRevisionsMode", "Single")
        name = req.params["app"]
        domain = env.body["properties"]["defaultDomain"]
        ing = cfg.get("ingress")
        if ing is not None:
            if ing.get("targetPort") is None:
                raise bad("Property 'configuration.ingress.targetPort' is required when ingress is enabled.")
            ing.setdefault("transport", "Auto")
            ing.setdefault("allowInsecure", False)
            ing["fqdn"] = f"{name}.{domain}" if ing.get("external", False) else f"{name}.internal.{domain}"
            if not ing.get("traffic"):
                ing["traffic"] = [{"weight": 100, "latestRevision": True}]
        props["configuration"] = cfg
        props["template"] = template
        props["environmentId"] = env.id
        props["managedEnvironmentId"] = env.id
        sub, rg = req.params["sub"], require_rg(state, req)
        props["eventStreamEndpoint"] = f"{req.base_url}/subscriptions/{sub}/resourceGroups/{rg}/containerApps/{name}/eventstream"
        props["outboundIpAddresses"] = [env.body["properties"]["staticIp"]]
        props["customDomainVerificationId"] = "0" * 8 + util.rand_lower(56).upper()
        out = {"name": name, "type": T_APP, "id": app_id(req), "location": env.body["location"], "properties": props}
        if body.get("identity"):
            out["identity"] = fake.identity_out(body["identity"])
        if body.get("tags"):
            out["tags"] = body["tags"]
        private = dict(existing.private) if existing else {}
        private.update({"secrets": secrets, "profile_type": profile_type, "domain": domain, "env_id": env.id})
        return out, private, template

    def roll(req, res: Resource, template: dict, existing: bool) -> None:
        """Create a new revision when the template changed (or on first create)."""
        revs = revisions(res)
        key = _template_key(template)
        sfx = template.get("revisionSuffix")
        latest = res.private.get("latest")
        if existing and latest and revs.get(latest.lower()) and _template_key(revs[latest.lower()].template) == key \
                and (not sfx or revs[latest.lower()].suffix == sfx):
            return
        if sfx:
            name = f"{res.body['name']}--{sfx}"
            if name.lower() in revs:
                raise bad(f"Revision with suffix '{sfx}' already exists. Please specify a different revisionSuffix.",
                          "ContainerAppRevisionSuffixAlreadyExists" if False else "InvalidParameterValue")
        else:
            name = f"{res.body['name']}--{util.rand_lower(7)}"
        mode = res.body["properties"]["configuration"].get("activeRevisionsMode", "Single")
        if mode == "Single":
            for r in revs.values():
                if r.active:
                    r.active = False
                    for rep in r.replicas:
                        rep.ended, rep.running_state, rep.ready = True, "NotRunning", False
        domain = res.private["domain"]
        rev = Revision(name=name, app_id=res.id, app_name=res.body["name"], sub=req.params["sub"], rg=require_rg(state, req),
                       env_id=res.private["env_id"], template=copy.deepcopy(template), suffix=name.split("--", 1)[1],
                       profile_type=res.private.get("profile_type"), fqdn=f"{name}.{domain}")
        revs[name.lower()] = rev
        res.private["latest"] = name
        sim.start(rev)

    def sync_status(res: Resource) -> None:
        p = res.body["properties"]
        latest = res.private.get("latest")
        revs = revisions(res)
        if latest:
            p["latestRevisionName"] = latest
            p["latestRevisionFqdn"] = f"{latest}.{res.private['domain']}" if p["configuration"].get("ingress") else ""
        ready = [r for r in revs.values() if r.ready and r.active] or [r for r in revs.values() if r.ready]
        if ready:
            p["latestReadyRevisionName"] = max(ready, key=lambda r: r.created).name
        else:
            p.pop("latestReadyRevisionName", None)
        cur = revs.get((latest or "").lower())
        p["runningStatus"] = "Running" if cur and cur.ready else ("Running" if cur and cur.failed else "Progressing")

    def put_app(req: Request):
        write_guard(state, req, NS)
        check_name(req.params["app"], "app")
        body = body_or_400(req)
        aid = app_id(req)
        existing = state.resource(aid)
        out, private, template = build(req, body, existing)
        res = existing or Resource(aid, T_APP, {}, {})
        old = (copy.deepcopy(res.body), dict(res.private)) if existing else None
        res.body, res.private = out, private
        if old:
            res.private["latest"] = old[1].get("latest")
        try:
            roll(req, res, template, existing is not None)
        except ArmError:
            if old:
                res.body, res.private = old
            raise
        out["properties"]["provisioningState"] = "InProgress"
        state.resources[aid.lower()] = res
        sync_status(res)

        def ok():
            res.body["properties"]["provisioningState"] = "Succeeded"

        def failed():
            res.body["properties"]["provisioningState"] = "Failed"

        op = lro.start(req, "async", resource_id=aid, on_success=ok, on_failure=failed)
        return Response.json(200 if existing else 201, res.body, lro.headers(req, op, NS, out["location"], "containerapp"))

    def visible(req):
        r = get_or_404(state, req, app_id(req), T_APP, req.params["app"])
        lro.settle(r.id)
        sync_status(r)
        return r

    def get_app(req: Request):
        return Response.json(200, visible(req).body)

    def patch_app(req: Request):
        write_guard(state, req, NS)
        r = visible(req)
        patch = body_or_400(req)
        current = {"location": r.body["location"], "properties": copy.deepcopy(r.body["properties"])}
        current["properties"].get("configuration", {}).pop("secrets", None)
        for k in ("tags", "identity"):
            if r.body.get(k):
                current[k] = r.body[k]
        merged = merge_patch(current, patch)
        old = (copy.deepcopy(r.body), dict(r.private))
        out, private, template = build(req, merged, r)
        r.body, r.private = out, private
        r.private["latest"] = old[1].get("latest")
        try:
            roll(req, r, template, True)
        except ArmError:
            r.body, r.private = old
            raise
        out["properties"]["provisioningState"] = "Succeeded"
        sync_status(r)
        op = lro.start(req, "location", resource_id=r.id, final=lambda: (200, copy.deepcopy(r.body)))
        return Response.empty(202, lro.headers(req, op, NS, out["location"], "containerapp"))

    def delete_app(req: Request):
        return lro_delete(fake, state, lro, req, app_id(req), deleting="Deleting", namespace=NS, kind="containerapp")

    list_apps_rg, list_apps_sub = list_handlers(state, T_APP)

    # -- revisions / replicas -------------------------------------------------------------------------
    def revision_body(r: Resource, rev: Revision) -> dict:
        if rev.ready and rev.active:
            health, prov, running = "Healthy", "Provisioned", "Running"
        elif rev.failed:
            health, prov, running = "Unhealthy", "Failed" if False else "Provisioned", "Degraded"
        elif not rev.active:
            health, prov, running = "None", "Deprovisioned", "Stopped"
        else:
            health, prov, running = "None", "Provisioning", "Processing"
        props = {"createdTime": util.arm_time(rev.created), "lastActiveTime": util.arm_time(rev.created),
                 "fqdn": rev.fqdn, "template": copy.deepcopy(rev.template), "active": rev.active,
                 "replicas": len([x for x in rev.replicas if not x.ended]), "trafficWeight": 100 if rev.active else 0,
                 "healthState": health, "provisioningState": prov, "runningState": running}
        if rev.failed:
            props["runningStateDetails"] = "Deployment Progress Deadline Exceeded. 0/1 replicas ready."
        return {"id": f"{r.id}/revisions/{rev.name}", "name": rev.name, "type": "Microsoft.App/containerApps/revisions",
                "properties": props}

    def find_rev(req):
        r = visible(req)
        rev = revisions(r).get(req.params["rev"].lower())
        if rev is None:
            raise ArmError(404, "ContainerAppRevisionNotFound", f"Revision '{req.params['rev']}' was not found for container app '{r.body['name']}'.")
        return r, rev

    def list_revisions(req: Request):
        r = visible(req)
        items = [revision_body(r, rev) for rev in sorted(revisions(r).values(), key=lambda x: x.created)]
        return page(req, items, 100)

    def get_revision(req: Request):
        r, rev = find_rev(req)
        return Response.json(200, revision_body(r, rev))

    def restart_revision(req: Request):
        r, rev = find_rev(req)
        if not rev.active:
            raise bad(f"Revision '{rev.name}' is not active and cannot be restarted.", "ContainerAppRevisionNotActive")
        for rep in rev.replicas:
            rep.ended, rep.running_state = True, "NotRunning"
        rev.ready, rev.failed = False, False
        sim.start(rev)
        return Response.empty(200)

    def set_active(active: bool):
        def handler(req: Request):
            r, rev = find_rev(req)
            if rev.active != active:
                rev.active = active
                if active:
                    rev.ready, rev.failed = False, False
                    sim.start(rev)
                else:
                    for rep in rev.replicas:
                        rep.ended, rep.running_state, rep.ready = True, "NotRunning", False
            return Response.empty(200)
        return handler

    def rep_base(req, rev):
        return f"{req.base_url}/subscriptions/{rev.sub}/resourceGroups/{rev.rg}/containerApps/{rev.app_name}/revisions/{rev.name}"

    def list_replicas(req: Request):
        _, rev = find_rev(req)
        live = [x for x in rev.replicas if not x.ended]
        return Response.json(200, {"value": [fake.replica_body(f"{rev.app_id}/revisions/{rev.name}/replicas/{rep.name}", rep,
                                                               f"{rep_base(req, rev)}/replicas/{rep.name}",
                                                               "Microsoft.App/containerApps/revisions/replicas") for rep in live]})

    def get_replica(req: Request):
        _, rev = find_rev(req)
        for rep in rev.replicas:
            if rep.name.lower() == req.params["replica"].lower() and not rep.ended:
                return Response.json(200, fake.replica_body(f"{rev.app_id}/revisions/{rev.name}/replicas/{rep.name}", rep,
                                                            f"{rep_base(req, rev)}/replicas/{rep.name}",
                                                            "Microsoft.App/containerApps/revisions/replicas"))
        raise ArmError(404, "ContainerAppReplicaNotFound", f"Replica '{req.params['replica']}' was not found.")

    def app_token(req: Request):
        r = visible(req)
        token, expires = auth.issue_resource_token(state, r.id)
        return Response.json(200, {"name": r.body["name"], "type": "Microsoft.App/containerApps/accesstoken", "id": r.id,
                                   "location": r.body["location"], "properties": {"token": token, "expires": expires}})

    def list_secrets(req: Request):
        r = visible(req)
        return Response.json(200, {"value": [copy.deepcopy(s) for s in r.private.get("secrets", {}).values()]})

    router.add("PUT", APP, put_app)
    router.add("GET", APP, get_app)
    router.add("PATCH", APP, patch_app)
    router.add("DELETE", APP, delete_app)
    router.add("GET", RG + r"/providers/Microsoft\.App/containerApps", list_apps_rg)
    router.add("GET", SUB + r"/providers/Microsoft\.App/containerApps", list_apps_sub)
    router.add("GET", APP + r"/revisions", list_revisions)
    router.add("GET", REV, get_revision)
    router.add("POST", REV + r"/restart", restart_revision)
    router.add("POST", REV + r"/activate", set_active(True))
    router.add("POST", REV + r"/deactivate", set_active(False))
    router.add("GET", REV + r"/replicas", list_replicas)
    router.add("GET", REV + r"/replicas/(?P<replica>[^/]+)", get_replica)
    router.add("POST", APP + r"/getAuthtoken", app_token)
    router.add("POST", APP + r"/listSecrets", list_secrets)
