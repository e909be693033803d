"""Microsoft.OperationalInsights workspaces: create (provisioningState Creating -> Succeeded,
polled through the body), get, delete, sharedKeys."""
from __future__ import annotations

import copy

from . import util
from .arm_common import RG, SUB, body_or_400, get_or_404, page, require_rg, require_sub, rid, write_guard
from .router import ArmError, Request, Response
from .state import Resource

NS = "Microsoft.OperationalInsights"
T_WS = "Microsoft.OperationalInsights/workspaces"
WS = RG + r"/providers/Microsoft\.OperationalInsights/workspaces/(?P<ws>[^/]+)"


def find_workspace_by_customer_id(state, customer_id: str):
    for r in state.resources.values():
        if r.type == T_WS and r.body["properties"]["customerId"].lower() == (customer_id or "").lower():
            return r
    return None


def register(router, fake):
    state, lro = fake.state, fake.lro

    def ws_id(req):
        return rid(req.params["sub"], require_rg(state, req), NS, "workspaces", req.params["ws"])

    def put_ws(req: Request):
        write_guard(state, req, NS)
        body = body_or_400(req)
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        wid = ws_id(req)
        r = state.resource(wid)
        props_in = copy.deepcopy(body.get("properties") or {})
        now = util.iso(util.now())
        if r is None:
            props = {"customerId": util.new_guid(), "provisioningState": "Creating",
                     "publicNetworkAccessForIngestion": "Enabled", "publicNetworkAccessForQuery": "Enabled",
                     "retentionInDays": 30, "sku": {"name": "PerGB2018"}, "createdDate": now, "modifiedDate": now,
                     "features": {"legacy": 0, "searchVersion": 1, "enableLogAccessUsingOnlyResourcePermissions": True}}
            props.update({k: v for k, v in props_in.items() if k not in ("customerId", "provisioningState")})
            out = {"name": req.params["ws"], "type": T_WS, "id": wid, "location": util.norm_location(body["location"]),
                   "properties": props}
            if body.get("tags"):
                out["tags"] = body["tags"]
            r = Resource(wid, T_WS, out, {"keys": [util.new_key(), util.new_key()]})
            state.resources[wid.lower()] = r

            def ok():
                r.body["properties"]["provisioningState"] = "Succeeded"

            def failed():
                r.body["properties"]["provisioningState"] = "Failed"

            lro.start(req, "body", resource_id=wid, on_success=ok, on_failure=failed)
            return Response.json(201, r.body)
        r.body["properties"].update({k: v for k, v in props_in.items() if k not in ("customerId", "provisioningState")})
        r.body["properties"]["modifiedDate"] = now
        if body.get("tags") is not None:
            r.body["tags"] = body["tags"]
        return Response.json(200, r.body)

    def get_ws(req: Request):
        r = get_or_404(state, req, ws_id(req), T_WS, req.params["ws"])
        lro.settle(r.id)
        return Response.json(200, r.body)

    def delete_ws(req: Request):
        require_rg(state, req)
        r = state.resources.pop(ws_id(req).lower(), None)
        return Response.empty(200 if r else 204)

    def shared_keys(req: Request):
        r = get_or_404(state, req, ws_id(req), T_WS, req.params["ws"])
        return Response.json(200, {"primarySharedKey": r.private["keys"][0], "secondarySharedKey": r.private["keys"][1]})

    def list_rg(req: Request):
        require_rg(state, req)
        prefix = f"/subscriptions/{req.params['sub']}/resourcegroups/{req.params['rg']}/".lower()
        return Response.json(200, {"value": [r.body for k, r in state.resources.items() if r.type == T_WS and k.startswith(prefix)]})

    def list_sub(req: Request):
        sub = require_sub(state, req)
        return page(req, [r.body for k, r in state.resources.items() if r.type == T_WS and k.startswith(f"/subscriptions/{sub}/")], 100)

    router.add("PUT", WS, put_ws)
    router.add("GET", WS, get_ws)
    router.add("DELETE", WS, delete_ws)
    router.add("POST", WS + r"/sharedKeys", shared_keys)
    router.add("GET", RG + r"/providers/Microsoft\.OperationalInsights/workspaces", list_rg)
    router.add("GET", SUB + r"/providers/Microsoft\.OperationalInsights/workspaces", list_sub)
