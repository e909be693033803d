"""ARM core: subscriptions, locations, resource groups, resource providers, LRO endpoints."""
from __future__ import annotations

import time

from . import util
from .arm_common import RG, SUB, body_or_400, page, require_sub
from .router import ArmError, Request, Response

LOCATIONS = ["eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northeurope", "westeurope",
             "swedencentral", "uksouth", "australiaeast", "southeastasia", "japaneast", "canadacentral"]


def register(router, fake):
    state, lro = fake.state, fake.lro

    def sub_body(sub):
        s = state.subscriptions[sub]
        return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
                "subscriptionId": sub, "tenantId": state.tenant_id, "displayName": s["displayName"],
                "state": s["state"], "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                              "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}

    def list_subs(req: Request):
        return Response.json(200, {"value": [sub_body(s) for s in state.subscriptions], "count": {"type": "Total", "value": len(state.subscriptions)}})

    def get_sub(req: Request):
        sub = require_sub(state, req)
        return Response.json(200, sub_body(sub))

    def list_tenants(req: Request):
        return Response.json(200, {"value": [{"id": f"/tenants/{state.tenant_id}", "tenantId": state.tenant_id,
                                              "tenantCategory": "Home", "displayName": "Fake Tenant",
                                              "defaultDomain": "fake.onmicrosoft.com"}]})

    def list_locations(req: Request):
        sub = require_sub(state, req)
        return Response.json(200, {"value": [{"id": f"/subscriptions/{sub}/locations/{l}", "name": l, "type": "Region",
                                              "displayName": l, "regionalDisplayName": l,
                                              "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}
                                             for l in LOCATIONS]})

    # -- resource groups ---------------------------------------------------------------------------
    def rg_body(sub, g):
        return {"id": f"/subscriptions/{sub}/resourceGroups/{g['name']}", "name": g["name"],
                "type": "Microsoft.Resources/resourceGroups", "location": g["location"],
                **({"tags": g["tags"]} if g.get("tags") else {}),
                "properties": {"provisioningState": g.get("provisioningState", "Succeeded")}}

    def put_rg(req: Request):
        sub = require_sub(state, req)
        body = body_or_400(req)
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        key = (sub, req.params["rg"].lower())
        existing = state.resource_groups.get(key)
        if existing:
            if util.norm_location(existing["location"]) != util.norm_location(body["location"]):
                raise ArmError(409, "InvalidResourceGroupLocation",
                               f"Invalid resource group location '{body['location']}'. The Resource group already exists in location '{existing['location']}'.")
            existing["tags"] = body.get("tags") or existing.get("tags")
            return Response.json(200, rg_body(sub, existing))
        g = {"name": req.params["rg"], "location": util.norm_location(body["location"]), "tags": body.get("tags")}
        state.resource_groups[key] = g
        return Response.json(201, rg_body(sub, g))

    def get_rg(req: Request):
        sub = require_sub(state, req)
        g = state.resource_groups.get((sub, req.params["rg"].lower()))
        if not g:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{req.params['rg']}' could not be found.")
        return Response.json(200, rg_body(sub, g))

    def head_rg(req: Request):
        sub = require_sub(state, req)
        return Response.empty(204 if (sub, req.params["rg"].lower()) in state.resource_groups else 404)

    def list_rgs(req: Request):
        sub = require_sub(state, req)
        items = [rg_body(sub, g) for (s, _), g in state.resource_groups.items() if s == sub]
        return page(req, items, 100)

    def delete_rg(req: Request):
        sub = require_sub(state, req)
        key = (sub, req.params["rg"].lower())
        g = state.resource_groups.get(key)
        if not g:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{req.params['rg']}' could not be found.")
        g["provisioningState"] = "Deleting"
        prefix = f"/subscriptions/{sub}/resourcegroups/{g['name'].lower()}/"

        def done():
            state.resource_groups.pop(key, None)
            for rid in [r for r in state.resources if r.startswith(prefix)]:
                res = state.resources.pop(rid)
                fake.on_resource_deleted(res)

        op = lro.start(req, "location", resource_id=None, on_success=done, final=lambda: (200, None))
        h = lro.headers(req, op, "Microsoft.Resources", g["location"], "")
        h["Location"] = f"{req.base_url}/subscriptions/{sub}/operationresults/{op.id}?api-version={req.query.get('api-version')}"
        return Response.empty(202, h)

    def list_rg_resources(req: Request):
        sub = require_sub(state, req)
        prefix = f"/subscriptions/{sub}/resourcegroups/{req.params['rg'].lower()}/providers/"
        items = [{"id": r.id, "name": r.body.get("name"), "type": r.type, "location": r.body.get("location")}
                 for k, r in state.resources.items() if k.startswith(prefix)]
        return page(req, items, 100)

    # -- providers ---------------------------------------------------------------------------------
    def provider_body(sub, ns):
        p = state.providers.get(sub, {}).get(ns.lower())
        namespace = p["namespace"] if p else ns
        reg = state.provider_state(sub, ns)
        rtypes = {"microsoft.app": ["managedEnvironments", "jobs", "containerApps", "locations"],
                  "microsoft.storage": ["storageAccounts", "checkNameAvailability"],
                  "microsoft.operationalinsights": ["workspaces"]}.get(ns.lower(), [])
        return {"id": f"/subscriptions/{sub}/providers/{namespace}", "namespace": namespace,
                "registrationState": reg, "registrationPolicy": "RegistrationRequired",
                "resourceTypes": [{"resourceType": t, "locations": ["East US", "West US 3", "Sweden Central"],
                                   "apiVersions": ["2026-07-01", "2025-07-01"]} for t in rtypes]}

    def get_provider(req: Request):
        sub = require_sub(state, req)
        ns = req.params["ns"]
        if ns.lower() not in state.providers.get(sub, {}):
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
        return Response.json(200, provider_body(sub, ns))

    def list_providers(req: Request):
        sub = require_sub(state, req)
        return page(req, [provider_body(sub, p["namespace"]) for p in state.providers.get(sub, {}).values()], 100)

    def register_provider(req: Request):
        sub = require_sub(state, req)
        ns = req.params["ns"]
        provs = state.providers.setdefault(sub, {})
        p = provs.get(ns.lower())
        if p is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
        if state.provider_state(sub, ns) != "Registered":
            p["state"] = "Registering"
            p["at"] = time.monotonic() + state.registration_delay
        return Response.json(200, provider_body(sub, ns))

    def unregister_provider(req: Request):
        sub = require_sub(state, req)
        ns = req.params["ns"]
        p = state.providers.setdefault(sub, {}).get(ns.lower())
        if p is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
        p["state"] = "NotRegistered"
        return Response.json(200, provider_body(sub, ns))

    router.add("GET", r"/subscriptions", list_subs)
    router.add("GET", r"/tenants", list_tenants)
    router.add("GET", SUB, get_sub)
    router.add("GET", SUB + r"/locations", list_locations)
    router.add("GET", SUB + r"/resourcegroups", list_rgs)
    router.add("PUT", RG, put_rg)
    router.add("GET", RG, get_rg)
    router.add("HEAD", RG, head_rg)
    router.add("DELETE", RG, delete_rg)
    router.add("GET", RG + r"/resources", list_rg_resources)
    router.add("GET", SUB + r"/providers", list_providers)
    router.add("GET", SUB + r"/providers/(?P<ns>[^/]+)", get_provider)
    router.add("POST", SUB + r"/providers/(?P<ns>[^/]+)/register", register_provider)
    router.add("POST", SUB + r"/providers/(?P<ns>[^/]+)/unregister", unregister_provider)
    # operation status / result endpoints (absolute URLs handed out in LRO headers)
    router.add("GET", SUB + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/(?P<kind>[^/]+)/(?P<opid>[^/]+)", lro.handle)
    router.add("GET", SUB + r"/operationresults/(?P<opid>[^/]+)", lro.handle)
