"""Microsoft.App managed environments, their Azure Files storages, available workload profile
types per location, usages (quota) and environment auth tokens."""
from __future__ import annotations

import copy
import re

from . import auth, util
from .arm_common import (RG, SUB, body_or_400, get_or_404, list_handlers, lro_delete, merge_patch, require_rg, require_sub, rid, write_guard)
from .arm_loganalytics import find_workspace_by_customer_id
from .router import ArmError, Request, Response
from .state import CPU_TYPES, GPU_TYPES, LEGACY_TYPES, Resource

NS = "Microsoft.App"
T_ENV = "Microsoft.App/managedEnvironments"
T_STORAGE = "Microsoft.App/managedEnvironments/storages"
ENV = RG + r"/providers/Microsoft\.App/managedEnvironments/(?P<env>[^/]+)"
ENV_NAME_RX = re.compile(r"^[a-z][a-z0-9-]{0,58}[a-z0-9]$")


def bad(message: str, code: str = "InvalidRequestParameterWithDetails") -> ArmError:
    return ArmError(400, code, message)


def env_profiles(env_res) -> dict:
    return {p["name"].lower(): p for p in (env_res.body["properties"].get("workloadProfiles") or [])}


def find_env(state, env_id: str):
    r = state.resource(env_id or "")
    return r if r is not None and r.type == T_ENV else None


def offered_types(state, location: str, available_only: bool = False) -> list[str]:
    loc = util.norm_location(location)
    fams = state.gpu_locations.get(loc, set())
    out = list(CPU_TYPES)
    out += [t for t, spec in GPU_TYPES.items() if spec[0] in fams]
    if not available_only:
        out += list(LEGACY_TYPES)
    return out


def register(router, fake):
    state, lro = fake.state, fake.lro

    def env_id(req):
        return rid(req.params["sub"], require_rg(state, req), NS, "managedEnvironments", req.params["env"])

    def validate_profiles(body_props: dict, location: str, existing=None) -> list:
        profiles = copy.deepcopy(body_props.get("workloadProfiles") or [])
        offered = {t.lower(): t for t in offered_types(state, location)}
        seen = set()
        for p in profiles:
            name, wtype = p.get("name"), p.get("workloadProfileType")
            if not name or not wtype:
                raise bad("Workload profile must have both 'name' and 'workloadProfileType'.")
            if name.lower() in seen:
                raise bad(f"Workload profile name '{name}' is duplicated.")
            seen.add(name.lower())
            canon = offered.get(wtype.lower())
            known = wtype.lower() in {t.lower() for t in list(CPU_TYPES) + list(GPU_TYPES) + list(LEGACY_TYPES)}
            if canon is None:
                if known:
                    raise ArmError(400, "WorkloadProfileTypeNotSupportedInRegion" if wtype in GPU_TYPES or wtype.lower() in {t.lower() for t in GPU_TYPES} else "InvalidWorkloadProfileType",
                                   f"The workload profile type '{wtype}' is not supported in region '{util.norm_location(location)}'. "
                                   f"Supported types: {', '.join(sorted(offered.values()))}.")
                raise ArmError(400, "InvalidWorkloadProfileType", f"The workload profile type '{wtype}' is invalid.")
            p["workloadProfileType"] = canon
            dedicated = not canon.startswith("Consumption")
            if dedicated and (p.get("minimumCount") is None or p.get("maximumCount") is None):
                raise bad(f"Workload profile '{name}' of type '{canon}' requires 'minimumCount' and 'maximumCount'.")
            if dedicated and p["minimumCount"] > p["maximumCount"]:
                raise bad(f"Workload profile '{name}': minimumCount must not exceed maximumCount.")
        if existing is not None:
            old = {p["name"].lower(): p for p in existing.get("workloadProfiles") or []}
            for p in profiles:
                if p["workloadProfileType"] in GPU_TYPES and p["name"].lower() not in old:
                    raise bad(f"GPU workload profile '{p['name']}' can only be added when the environment is created.",
                              "WorkloadProfileGpuAddNotSupported")
        return profiles

    def validate_logs(props_in: dict, existing_private: dict) -> dict:
        alc = props_in.get("appLogsConfiguration")
        if not alc:
            return {}
        la = alc.get("logAnalyticsConfiguration")
        if alc.get("destination") not in (None, "log-analytics") and la:
            raise bad("logAnalyticsConfiguration is only valid with destination 'log-analytics'.")
        if alc.get("destination") == "log-analytics" and not la:
            raise bad("LogAnalyticsConfiguration is invalid. Must provide a valid LogAnalyticsConfiguration.")
        if not la:
            return {}
        cid, key = la.get("customerId"), la.get("sharedKey") or existing_private.get("sharedKey")
        ws = find_workspace_by_customer_id(state, cid)
        if ws is None:
            raise bad(f"Failed to find the Log Analytics workspace with customer id '{cid}'.",
                      "ManagedEnvironmentInvalidLogAnalyticsConfiguration")
        if key not in ws.private["keys"]:
            raise bad("The Log Analytics shared key is invalid for the given customer id.",
                      "ManagedEnvironmentInvalidLogAnalyticsConfiguration")
        return {"sharedKey": key, "customerId": cid}

    def build(req, body: dict, existing=None) -> tuple[dict, dict]:
        props_in = copy.deepcopy(body.get("properties") or {})
        location = existing.body["location"] if existing else body.get("location")
        private = dict(existing.private) if existing else {}
        private.update(validate_logs(props_in, private))
        profiles = validate_profiles(props_in, location, existing.body["properties"] if existing else None)
        props = copy.deepcopy(props_in)
        # write-only values never come back
        la = (props.get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration")
        if la:
            la.pop("sharedKey", None)
        props.pop("appInsightsConfiguration", None)
        props.pop("daprAIConnectionString", None)
        dd = ((props.get("openTelemetryConfiguration") or {}).get("destinationsConfiguration") or {}).get("dataDogConfiguration")
        if dd:
            dd.pop("key", None)
        cdc = props.get("customDomainConfiguration")
        if cdc:
            cdc.pop("certificatePassword", None)
            cdc.pop("certificateValue", None)
            cdc.update({"customDomainVerificationId": util.rand_lower(32).upper(), "expirationDate": "2030-11-06T04:00:00Z",
                        "subjectName": f"CN={cdc.get('dnsSuffix', '')}", "thumbprint": util.rand_lower(40).upper()})
        if profiles:
            props["workloadProfiles"] = profiles
        name = req.params["env"]
        sub, rg = req.params["sub"], require_rg(state, req)
        prev = existing.body["properties"] if existing else {}
        props.update({
            "defaultDomain": prev.get("defaultDomain") or f"{util.rand_letters(6)}-{util.rand_lower(8)}.{util.norm_location(location)}.azurecontainerapps.io",
            "eventStreamEndpoint": f"{req.base_url}/subscriptions/{sub}/resourceGroups/{rg}/managedEnvironments/{name}/eventstream",
            "staticIp": prev.get("staticIp") or f"20.{util.rand_digits(1, 255)}.{util.rand_digits(1, 255)}.{util.rand_digits(1, 255)}",
            "infrastructureResourceGroup": prev.get("infrastructureResourceGroup") or f"ME_{name}_{rg}_{util.norm_location(location)}",
            "environmentMode": "WorkloadProfiles" if profiles else "ConsumptionOnly",
            "zoneRedundant": props.get("zoneRedundant", False),
        })
        if "peerAuthentication" not in props:
            props["peerAuthentication"] = {"mtls": {"enabled": False}}
        out = {"name": name, "type": T_ENV, "id": env_id(req), "location": location, "properties": props}
        if body.get("identity"):
            out["identity"] = fake.identity_out(body["identity"])
        if body.get("tags"):
            out["tags"] = body["tags"]
        if body.get("kind"):
            out["kind"] = body["kind"]
        return out, private

    def put_env(req: Request):
        write_guard(state, req, NS)
        body = body_or_400(req)
        name = req.params["env"]
        if not ENV_NAME_RX.match(name) or "--" in name:
            raise ArmError(400, "ManagedEnvironmentInvalidName",
                           f"Invalid managed environment name '{name}'. A name must consist of lower case alphanumeric "
                           "characters or '-', start with an alphabetic character, and end with an alphanumeric character.")
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        eid = env_id(req)
        existing = state.resource(eid)
        if existing and util.norm_location(existing.body["location"]) != util.norm_location(body["location"]):
            raise ArmError(400, "LocationNotAvailableForResourceType" if False else "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{existing.body['location']}'.")
        out, private = build(req, body, existing)
        res = existing or Resource(eid, T_ENV, {}, {})
        before = copy.deepcopy(res.body) if existing else None
        res.body, res.private = out, private
        out["properties"]["provisioningState"] = "Succeeded" if existing else "InitializationInProgress"
        state.resources[eid.lower()] = res

        def ok():
            res.body["properties"]["provisioningState"] = "Succeeded"

        def failed():
            res.body["properties"]["provisioningState"] = "Failed"
            if before is not None:
                res.body["properties"]["provisioningState"] = "UpgradeFailed"

        op = lro.start(req, "async", resource_id=eid, on_success=ok, on_failure=failed)
        return Response.json(200 if existing else 201, res.body,
                             lro.headers(req, op, NS, out["location"], "managedEnvironment"))

    def patch_env(req: Request):
        write_guard(state, req, NS)
        r = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        patch = body_or_400(req)
        merged = merge_patch({"location": r.body["location"], "properties": r.body["properties"],
                              **({"tags": r.body["tags"]} if r.body.get("tags") else {})}, patch)
        out, private = build(req, merged, r)
        r.body, r.private = out, private
        out["properties"]["provisioningState"] = "Succeeded"
        op = lro.start(req, "location", resource_id=r.id, final=lambda: (200, copy.deepcopy(r.body)))
        return Response.empty(202, lro.headers(req, op, NS, out["location"], "managedEnvironment"))

    def get_env(req: Request):
        r = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        lro.settle(r.id)
        return Response.json(200, r.body)

    def delete_env(req: Request):
        return lro_delete(fake, state, lro, req, env_id(req), deleting="ScheduledForDelete", namespace=NS, kind="managedEnvironment")

    list_envs_rg, list_envs_sub = list_handlers(state, T_ENV)

    def env_token(req: Request):
        r = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        token, expires = auth.issue_resource_token(state, r.id)
        return Response.json(200, {"name": r.body["name"], "type": "Microsoft.App/environments/accesstoken", "id": r.id,
                                   "location": r.body["location"], "properties": {"token": token, "expires": expires}})

    # -- storages -----------------------------------------------------------------------------------
    def storage_out(r_env, name, props) -> dict:
        p = copy.deepcopy(props)
        for k in ("azureFile", "nfsAzureFile"):
            if isinstance(p.get(k), dict):
                p[k].pop("accountKey", None)
        return {"name": name, "type": T_STORAGE, "id": f"{r_env.id}/storages/{name}", "properties": p}

    def put_storage(req: Request):
        write_guard(state, req, NS)
        r_env = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        body = body_or_400(req)
        props = body.get("properties") or {}
        af = props.get("azureFile")
        nfs = props.get("nfsAzureFile")
        if not af and not nfs:
            raise bad("Storage properties must contain 'azureFile' or 'nfsAzureFile'.", "InvalidParameterValue")
        if af:
            for fld in ("accountName", "shareName", "accessMode"):
                if not af.get(fld):
                    raise bad(f"AzureFile property '{fld}' is required.", "InvalidParameterValue")
            if af["accessMode"] not in ("ReadOnly", "ReadWrite"):
                raise bad(f"Invalid accessMode '{af['accessMode']}'. Allowed values: ReadOnly, ReadWrite.", "InvalidParameterValue")
            if not af.get("accountKey") and not af.get("accountKeyVaultProperties"):
                raise bad("AzureFile 'accountKey' is required.", "InvalidParameterValue")
            if af.get("accountKey"):
                keys = state.account_keys(af["accountName"])
                if not keys:
                    raise bad(f"Storage account '{af['accountName']}' was not found.", "ManagedEnvironmentStorageAccountNotFound")
                if af["accountKey"] not in keys:
                    raise bad(f"The account key for storage account '{af['accountName']}' is invalid.",
                              "ManagedEnvironmentStorageAccountKeyInvalid")
                if (af["accountName"].lower(), af["shareName"].lower()) not in state.shares:
                    raise bad(f"File share '{af['shareName']}' was not found in storage account '{af['accountName']}'.",
                              "ManagedEnvironmentStorageShareNotFound")
        storages = r_env.private.setdefault("storages", {})
        name = req.params["storage"]
        existed = name.lower() in storages
        storages[name.lower()] = {"name": name, "properties": copy.deepcopy(props)}
        return Response.json(200 if existed else 201, storage_out(r_env, name, props))

    def get_storage(req: Request):
        r_env = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        s = r_env.private.get("storages", {}).get(req.params["storage"].lower())
        if s is None:
            raise ArmError(404, "ResourceNotFound", f"The storage '{req.params['storage']}' was not found in managed environment '{r_env.body['name']}'.")
        return Response.json(200, storage_out(r_env, s["name"], s["properties"]))

    def delete_storage(req: Request):
        r_env = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        s = r_env.private.get("storages", {}).pop(req.params["storage"].lower(), None)
        return Response.empty(200 if s else 204)

    def list_storages(req: Request):
        r_env = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        return Response.json(200, {"value": [storage_out(r_env, s["name"], s["properties"])
                                             for s in r_env.private.get("storages", {}).values()]})

    # -- workload profile types / usages ----------------------------------------------------------------
    def available_profiles(req: Request):
        sub = require_sub(state, req)
        loc = req.params["loc"]
        items = []
        for t in offered_types(state, loc, available_only=True):
            if t in GPU_TYPES:
                fam, cores, mem, gpus, cat, disp = GPU_TYPES[t]
                props = {"applicability": "Custom", "category": cat, "cores": cores, "displayName": disp,
                         "memoryGiB": mem, "gpus": gpus}
            else:
                cores, mem, cat, appl = CPU_TYPES[t]
                props = {"applicability": appl, "category": cat, "cores": cores,
                         "displayName": t if t == "Consumption" else f"Dedicated-{t}", "memoryGiB": mem}
            items.append({"name": t, "type": "Microsoft.App/availableManagedEnvironmentsWorkloadProfileTypes",
                          "id": f"/subscriptions/{sub}/providers/Microsoft.App/availableManagedEnvironmentsWorkloadProfileTypes/{t}",
                          "location": loc, "properties": props})
        return Response.json(200, {"value": items, "nextLink": None})

    def usages(req: Request):
        require_sub(state, req)
        loc = req.params["loc"]
        items = []
        for name, (localized, limit) in state.quota_for(loc).items():
            items.append({"name": {"value": name, "localizedValue": localized},
                          "currentValue": float(fake.usage_current(name, loc, req.params["sub"])),
                          "limit": float(limit), "unit": "Count"})
        return Response.json(200, {"value": items, "nextLink": None})

    def env_usages(req: Request):
        r_env = get_or_404(state, req, env_id(req), T_ENV, req.params["env"])
        items = []
        for p in r_env.body["properties"].get("workloadProfiles") or [{"name": "Consumption", "workloadProfileType": "Consumption"}]:
            t = p["workloadProfileType"]
            qname = {"Consumption": "ManagedEnvironmentConsumptionCores"}.get(t, f"ManagedEnvironment{t.replace('-', '')}Cores")
            items.append({"name": {"value": qname, "localizedValue": qname}, "currentValue": 0.0, "limit": 100.0, "unit": "Count"})
        return Response.json(200, {"value": items, "nextLink": None})

    router.add("PUT", ENV, put_env)
    router.add("PATCH", ENV, patch_env)
    router.add("GET", ENV, get_env)
    router.add("DELETE", ENV, delete_env)
    router.add("GET", RG + r"/providers/Microsoft\.App/managedEnvironments", list_envs_rg)
    router.add("GET", SUB + r"/providers/Microsoft\.App/managedEnvironments", list_envs_sub)
    router.add("POST", ENV + r"/getAuthtoken", env_token)
    router.add("PUT", ENV + r"/storages/(?P<storage>[^/]+)", put_storage)
    router.add("GET", ENV + r"/storages/(?P<storage>[^/]+)", get_storage)
    router.add("DELETE", ENV + r"/storages/(?P<storage>[^/]+)", delete_storage)
    router.add("GET", ENV + r"/storages", list_storages)
    router.add("GET", ENV + r"/usages", env_usages)
    router.add("GET", SUB + r"/providers/Microsoft\.App/locations/(?P<loc>[^/]+)/availableManagedEnvironmentsWorkloadProfileTypes", available_profiles)
    router.add("GET", SUB + r"/providers/Microsoft\.App/locations/(?P<loc>[^/]+)/usages", usages)
