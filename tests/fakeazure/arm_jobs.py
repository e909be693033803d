"""Microsoft.App jobs: create/update (Azure-AsyncOperation), PATCH/DELETE (202 + Location),
start (200 {name,id}), executions (paged), stop (both paths), listSecrets, getAuthToken and
execution replicas (the last two are raw, preview-only paths)."""
from __future__ import annotations

import copy
import re

from . import auth, util
from .arm_common import (RG, SUB, body_or_400, get_or_404, list_handlers, lro_delete, merge_patch, page, require_rg, rid, write_guard)
from .arm_template import bad, check_name, check_profile, check_template, container_env, merge_secrets, resolve_env, secrets_out
from .router import ArmError, Request, Response
from .simulator import Execution
from .state import Resource

NS = "Microsoft.App"
T_JOB = "Microsoft.App/jobs"
JOB = RG + r"/providers/Microsoft\.App/jobs/(?P<job>[^/]+)"
EXEC = JOB + r"/executions/(?P<exec>[^/]+)"


def execution_body(ex: Execution) -> dict:
    props: dict = {"status": ex.status, "startTime": util.arm_time(ex.start), "template": copy.deepcopy(ex.template)}
    if ex.end:
        props["endTime"] = util.arm_time(ex.end)
    if ex.replicas:
        replicas = []
        for rep in ex.replicas:
            cs = []
            for c in rep.containers:
                if rep.ended:
                    code = ex.exit_code if ex.exit_code is not None else 137
                    if ex.status == "Stopped":
                        cs.append({"name": c, "code": 137, "status": "Terminated", "additionalInformation": "Stopped"})
                    else:
                        cs.append({"name": c, "code": code, "status": "Succeeded" if code == 0 else "Failed",
                                   "additionalInformation": "Completed" if code == 0 else "Error"})
                else:
                    cs.append({"name": c, "status": "Running", "additionalInformation": "Running"})
            replicas.append({"name": rep.name, "containers": cs})
        props["detailedStatus"] = {"replicas": replicas}
    if ex.reason:
        props["reason"] = ex.reason
    if ex.message:
        props["message"] = ex.message
    return {"name": ex.name, "id": f"{ex.job_id}/executions/{ex.name}", "properties": props}


def exec_template(t: dict) -> dict:
    """An execution's template: containers/initContainers without volumeMounts."""
    out = {}
    for key in ("containers", "initContainers"):
        if t.get(key):
            out[key] = [{k: v for k, v in c.items() if k not in ("volumeMounts", "probes")} for c in t[key]]
    return out


def register(router, fake):
    state, lro, sim = fake.state, fake.lro, fake.jobs

    def job_id(req):
        return rid(req.params["sub"], require_rg(state, req), NS, "jobs", req.params["job"])

    def build(req, body: dict, existing=None) -> tuple[dict, dict]:
        props = copy.deepcopy(body.get("properties") or {})
        location = body.get("location") or (existing.body["location"] if existing else None)
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        env = resolve_env(state, props, location)
        profile_type = check_profile(env, props)
        cfg = props.get("configuration") or {}
        trig = cfg.get("triggerType")
        if trig not in ("Manual", "Schedule", "Event"):
            raise bad("Property 'configuration.triggerType' is required and must be one of Manual, Schedule, Event.",
                      "JobInvalidTriggerType")
        rt = cfg.get("replicaTimeout")
        if not isinstance(rt, int) or isinstance(rt, bool) or rt < 1:
            raise bad("Property 'configuration.replicaTimeout' is required and must be a positive integer (seconds).",
                      "JobInvalidReplicaTimeout")
        if trig == "Manual":
            mtc = cfg.setdefault("manualTriggerConfig", {})
            mtc.setdefault("parallelism", 1)
            mtc.setdefault("replicaCompletionCount", 1)
        if trig == "Schedule" and not (cfg.get("scheduleTriggerConfig") or {}).get("cronExpression"):
            raise bad("Property 'configuration.scheduleTriggerConfig.cronExpression' is required for Schedule jobs.")
        cfg.setdefault("replicaRetryLimit", 0)
        secrets = merge_secrets(cfg.get("secrets") if "secrets" in cfg else None,
                                existing.private.get("secrets", {}) if existing else {})
        template = check_template(env, props.get("template"), secrets, kind="job")
        if secrets:
            cfg["secrets"] = secrets_out(secrets)
        else:
            cfg.pop("secrets", None)
        props["configuration"] = cfg
        props["template"] = template
        props["environmentId"] = env.id
        sub, rg, name = req.params["sub"], require_rg(state, req), req.params["job"]
        props["eventStreamEndpoint"] = f"{req.base_url}/subscriptions/{sub}/resourceGroups/{rg}/jobs/{name}/eventstream"
        props["runningState"] = "Ready"
        props.setdefault("outboundIpAddresses", [env.body["properties"]["staticIp"]])
        out = {"name": name, "type": T_JOB, "id": job_id(req), "location": env.body["location"], "properties": props}
        if body.get("identity"):
            out["identity"] = fake.identity_out(body["identity"])
        if body.get("tags"):
            out["tags"] = body["tags"]
        private = dict(existing.private) if existing else {}
        private.update({"secrets": secrets, "profile_type": profile_type})
        return out, private

    def put_job(req: Request):
        write_guard(state, req, NS)
        check_name(req.params["job"], "job")
        body = body_or_400(req)
        jid = job_id(req)
        existing = state.resource(jid)
        out, private = build(req, body, existing)
        res = existing or Resource(jid, T_JOB, {}, {})
        res.body, res.private = out, private
        out["properties"]["provisioningState"] = "InProgress"
        state.resources[jid.lower()] = res

        def ok():
            res.body["properties"]["provisioningState"] = "Succeeded"

        def failed():
            res.body["properties"]["provisioningState"] = "Failed"

        op = lro.start(req, "async", resource_id=jid, on_success=ok, on_failure=failed)
        return Response.json(200 if existing else 201, res.body, lro.headers(req, op, NS, out["location"], "containerappsjob"))

    def visible(req):
        r = get_or_404(state, req, job_id(req), T_JOB, req.params["job"])
        lro.settle(r.id)
        return r

    def get_job(req: Request):
        return Response.json(200, visible(req).body)

    def patch_job(req: Request):
        write_guard(state, req, NS)
        r = visible(req)
        patch = body_or_400(req)
        current = {"location": r.body["location"], "properties": copy.deepcopy(r.body["properties"])}
        # secrets come back without values: a patch without 'secrets' keeps the stored ones
        current["properties"].get("configuration", {}).pop("secrets", None)
        for k in ("tags", "identity"):
            if r.body.get(k):
                current[k] = r.body[k]
        merged = merge_patch(current, patch)
        out, private = build(req, merged, r)
        r.body, r.private = out, private
        out["properties"]["provisioningState"] = "Succeeded"
        op = lro.start(req, "location", resource_id=r.id, final=lambda: (200, copy.deepcopy(r.body)))
        return Response.empty(202, lro.headers(req, op, NS, out["location"], "containerappsjob"))

    def delete_job(req: Request):
        return lro_delete(fake, state, lro, req, job_id(req), deleting="Deleting", namespace=NS, kind="containerappsjob")

    list_jobs_rg, list_jobs_sub = list_handlers(state, T_JOB)

    # -- executions ---------------------------------------------------------------------------------
    def start(req: Request):
        r = visible(req)
        if r.body["properties"].get("provisioningState") not in ("Succeeded",):
            raise ArmError(409, "JobNotReady" if r.body["properties"].get("provisioningState") != "Failed" else "JobProvisioningFailed",
                           f"Job '{r.body['name']}' is in provisioning state '{r.body['properties'].get('provisioningState')}'.")
        override = body_or_400(req) if req.body else {}
        job_t = r.body["properties"]["template"]
        t = copy.deepcopy(job_t)
        if override.get("containers"):
            by_name = {c["name"]: c for c in job_t.get("containers", [])}
            merged = []
            for c in override["containers"]:
                if not c.get("image") and c.get("name") in by_name:
                    c = {**by_name[c["name"]], **c}
                merged.append(copy.deepcopy(c))
            t["containers"] = merged
        if override.get("initContainers") is not None:
            t["initContainers"] = copy.deepcopy(override["initContainers"])
        env_res = state.resource(r.body["properties"]["environmentId"])
        if env_res is None:
            raise ArmError(404, "ManagedEnvironmentNotFound", "The job's managed environment no longer exists.")
        secrets = r.private.get("secrets", {})
        check_template(env_res, {**t, "volumes": job_t.get("volumes")}, secrets, kind="job")
        for c in t.get("containers", []):
            c.setdefault("resources", {"cpu": 0.5, "memory": "1Gi"})
        name = f"{r.body['name']}-{util.rand_lower(7)}"
        ex = Execution(name=name, job_id=r.id, job_name=r.body["name"], sub=req.params["sub"], rg=require_rg(state, req),
                       env_id=env_res.id, template=exec_template(t), env=container_env(t, secrets),
                       profile_type=r.private.get("profile_type"))
        state.executions.setdefault(r.id.lower(), []).append(ex)
        sim.start(ex, r.body)
        return Response.json(200, {"name": name, "id": f"{r.id}/executions/{name}"})

    def executions_of(r) -> list:
        return list(reversed(state.executions.get(r.id.lower(), [])))  # newest first

    def find_exec(req):
        r = visible(req)
        for ex in state.executions.get(r.id.lower(), []):
            if ex.name.lower() == req.params["exec"].lower():
                return r, ex
        raise ArmError(404, "ResourceNotFound" if False else "JobExecutionNotFound",
                       f"Job execution '{req.params['exec']}' was not found for job '{r.body['name']}'.")

    def list_execs(req: Request):
        r = visible(req)
        items = [execution_body(e) for e in executions_of(r)]
        flt = req.query.get("$filter")
        if flt:
            m = re.search(r"status\s+eq\s+'([^']*)'", flt, re.I)
            if m:
                items = [i for i in items if i["properties"]["status"].lower() == m.group(1).lower()]
        return page(req, items, state.executions_page_size)

    def get_exec(req: Request):
        _, ex = find_exec(req)
        return Response.json(200, execution_body(ex))

    def stop_exec(req: Request):
        _, ex = find_exec(req)
        if not ex.finished:
            ex.stop.set()
            sim._finish_stopped(ex, ex.generation)
        return Response.empty(200)

    def stop_all(req: Request):
        r = visible(req)
        stopped = []
        for ex in executions_of(r):
            if not ex.finished:
                ex.stop.set()
                sim._finish_stopped(ex, ex.generation)
                stopped.append(execution_body(ex))
        return Response.json(200, {"value": stopped})

    def replicas(req: Request):
        _, ex = find_exec(req)
        base = f"{req.base_url}/subscriptions/{ex.sub}/resourceGroups/{ex.rg}/jobs/{ex.job_name}/executions/{ex.name}"
        return Response.json(200, {"value": [fake.replica_body(f"{ex.job_id}/executions/{ex.name}/replicas/{rep.name}",
                                                               rep, f"{base}/replicas/{rep.name}", "Microsoft.App/jobs/executions/replicas")
                                             for rep in ex.replicas]})

    def list_secrets(req: Request):
        r = visible(req)
        return Response.json(200, {"value": [copy.deepcopy(s) for s in r.private.get("secrets", {}).values()]})

    def job_token(req: Request):
        r = visible(req)
        token, expires = auth.issue_resource_token(state, r.id)
        return Response.json(200, {"name": r.body["name"], "type": "Microsoft.App/jobs/accesstoken", "id": r.id,
                                   "location": r.body["location"], "properties": {"token": token, "expires": expires}})

    router.add("PUT", JOB, put_job)
    router.add("GET", JOB, get_job)
    router.add("PATCH", JOB, patch_job)
    router.add("DELETE", JOB, delete_job)
    router.add("GET", RG + r"/providers/Microsoft\.App/jobs", list_jobs_rg)
    router.add("GET", SUB + r"/providers/Microsoft\.App/jobs", list_jobs_sub)
    router.add("POST", JOB + r"/start", start)
    router.add("GET", JOB + r"/executions", list_execs)
    router.add("GET", EXEC, get_exec)
    router.add("POST", EXEC + r"/stop", stop_exec)
    router.add("POST", JOB + r"/stop/(?P<exec>[^/]+)", stop_exec)
    router.add("POST", JOB + r"/stop", stop_all)
    router.add("GET", EXEC + r"/replicas", replicas)
    router.add("POST", JOB + r"/listSecrets", list_secrets)
    router.add("POST", JOB + r"/getAuthToken", job_token)
