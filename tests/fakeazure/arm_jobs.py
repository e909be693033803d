"""Microsoft.App jobs: create/update (Azure-AsyncOperation), PATCH/DELETE (202 + Location),
start (200 {name,id}), executions (paged), stop (both paths), listSecrets, getAuthToken and
execution replicas (the last two are raw, preview-only paths)."""
from __future__ import annotations

import copy
import re

from . import util
from .arm_common import body_or_400, page, require_rg
from .arm_template import bad, check_template, container_env
from .arm_workload import Kind, Workload, begin, secrets_and_template
from .router import ArmError, Request, Response
from .simulator import Execution

JOBS = Kind("Microsoft.App/jobs", "jobs", "job", "containerappsjob", "/getAuthToken")
T_JOB = JOBS.type_
JOB = JOBS.pattern
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
    state, sim = fake.state, fake.jobs

    def build(req, body: dict, existing=None) -> tuple[dict, dict, dict]:
        props, env, profile_type, cfg = begin(state, body, existing)
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
        secrets, template = secrets_and_template(env, props, cfg, existing, "job")
        props["configuration"] = cfg
        props["template"] = template
        props["environmentId"] = env.id
        sub, rg, name = req.params["sub"], require_rg(state, req), req.params["job"]
        props["eventStreamEndpoint"] = f"{req.base_url}/subscriptions/{sub}/resourceGroups/{rg}/jobs/{name}/eventstream"
        props["runningState"] = "Ready"
        props.setdefault("outboundIpAddresses", [env.body["properties"]["staticIp"]])
        out, private = jobs.envelope(req, body, env, props, existing, secrets=secrets, profile_type=profile_type)
        return out, private, template

    jobs = Workload(fake, JOBS, build)
    visible = jobs.visible

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

    jobs.add_routes(router)
    router.add("POST", JOB + r"/start", start)
    router.add("GET", JOB + r"/executions", list_execs)
    router.add("GET", EXEC, get_exec)
    router.add("POST", EXEC + r"/stop", stop_exec)
    router.add("POST", JOB + r"/stop/(?P<exec>[^/]+)", stop_exec)
    router.add("POST", JOB + r"/stop", stop_all)
    router.add("GET", EXEC + r"/replicas", replicas)
