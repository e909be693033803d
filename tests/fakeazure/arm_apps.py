"""Microsoft.App container apps: create/update (Azure-AsyncOperation), PATCH (202 + Location),
DELETE, revisions `<app>--<suffix>` (a new one whenever the template changes; a repeated
revisionSuffix is refused), replicas with logStreamEndpoint, restart, getAuthtoken,
listSecrets."""
from __future__ import annotations

import copy
import json
import re

from . import util
from .arm_common import page, require_rg
from .arm_template import bad
from .arm_workload import Kind, Workload, begin, secrets_and_template
from .router import ArmError, Request, Response
from .simulator import Revision
from .state import Resource

APPS = Kind("Microsoft.App/containerApps", "containerApps", "app", "containerapp", "/getAuthtoken")
T_APP = APPS.type_
APP = APPS.pattern
REV = APP + r"/revisions/(?P<rev>[^/]+)"
SUFFIX_RX = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")


def _template_key(t: dict) -> str:
    t = {k: v for k, v in (t or {}).items() if k != "revisionSuffix"}
    return json.dumps(t, sort_keys=True)


def register(router, fake):
    state, sim = fake.state, fake.apps

    def revisions(r) -> dict:
        return state.revisions.setdefault(r.id.lower(), {})

    def check_suffix(template: dict) -> None:
        sfx = template.get("revisionSuffix")
        if sfx and not SUFFIX_RX.match(sfx):
            raise bad(f"Invalid revisionSuffix '{sfx}'. It must consist of lower case alphanumeric characters or '-', "
                      "start and end with an alphanumeric character and cannot have '--'.", "ContainerAppInvalidRevisionSuffix")

    def build(req, body: dict, existing=None) -> tuple[dict, dict, dict]:
        props, env, profile_type, cfg = begin(state, body, existing)
        secrets, template = secrets_and_template(env, props, cfg, existing, "app", check=check_suffix)
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
        out, private = apps.envelope(req, body, env, props, existing, secrets=secrets, profile_type=profile_type,
                                     domain=domain, env_id=env.id)
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

    def install(req, res: Resource, out: dict, private: dict, template: dict, existing: bool) -> None:
        """The new body in place, with a new revision when the template changed; when the revision
        is refused the resource keeps its old body."""
        old = (copy.deepcopy(res.body), dict(res.private)) if existing else None
        res.body, res.private = out, private
        if old:
            res.private["latest"] = old[1].get("latest")
        try:
            roll(req, res, template, existing)
        except ArmError:
            if old:
                res.body, res.private = old
            raise

    apps = Workload(fake, APPS, build, install, sync_status)
    visible = apps.visible

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

    apps.add_routes(router)
    router.add("GET", APP + r"/revisions", list_revisions)
    router.add("GET", REV, get_revision)
    router.add("POST", REV + r"/restart", restart_revision)
    router.add("POST", REV + r"/activate", set_active(True))
    router.add("POST", REV + r"/deactivate", set_active(False))
    router.add("GET", REV + r"/replicas", list_replicas)
    router.add("GET", REV + r"/replicas/(?P<replica>[^/]+)", get_replica)
