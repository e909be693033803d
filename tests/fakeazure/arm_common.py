"""Helpers shared by the ARM resource modules: ids, guards (RG / provider registration),
not-found errors, paging."""
from __future__ import annotations

import copy
from typing import Any, Optional

from .router import ArmError, Request, Response

RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
SUB = r"/subscriptions/(?P<sub>[^/]+)"
NAME = r"[^/]+"


def rg_name(state, sub: str, rg: str) -> Optional[str]:
    g = state.resource_groups.get((sub, rg.lower()))
    return g["name"] if g else None


def require_sub(state, req: Request) -> str:
    sub = req.params["sub"]
    if sub not in state.subscriptions:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return sub


def require_rg(state, req: Request) -> str:
    sub = require_sub(state, req)
    name = rg_name(state, sub, req.params["rg"])
    if name is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{req.params['rg']}' could not be found.")
    return name


def require_registered(state, req: Request, namespace: str) -> None:
    if state.provider_state(req.params["sub"], namespace) != "Registered":
        raise ArmError(409, "MissingSubscriptionRegistration",
                       f"The subscription is not registered to use namespace '{namespace}'. "
                       "See https://aka.ms/rps-not-found for how to register subscriptions.")


def write_guard(state, req: Request, namespace: str) -> str:
    """RG must exist and the provider be registered: what ARM checks before the RP sees a PUT."""
    rg = require_rg(state, req)
    require_registered(state, req, namespace)
    return rg


def rid(sub: str, rg: str, namespace: str, *segments: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/" + "/".join(segments)


def not_found(type_: str, name: str, rg: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{type_}/{name}' under resource group '{rg}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def get_or_404(state, req: Request, resource_id: str, type_: str, name: str):
    rg = require_rg(state, req)
    r = state.resource(resource_id)
    if r is None:
        raise not_found(type_, name, rg)
    return r


def body_or_400(req: Request) -> dict:
    try:
        body = req.json()
    except Exception:  # noqa: BLE001
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    return body


def merge_patch(target: dict, patch: dict) -> dict:
    """JSON merge-patch (RFC 7396), how ARM PATCH bodies apply."""
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_patch(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def page(req: Request, items: list, page_size: int) -> Response:
    """Paged list: {"value": [...], "nextLink": absolute url with $skipToken}."""
    try:
        skip = int(req.query.get("$skipToken") or 0)
    except ValueError:
        skip = 0
    chunk = items[skip: skip + page_size]
    body: dict[str, Any] = {"value": chunk}
    if skip + page_size < len(items):
        q = [p for p in req.raw_query.split("&") if p and not p.lower().startswith("%24skiptoken=") and not p.lower().startswith("$skiptoken=")]
        q.append(f"$skipToken={skip + page_size}")
        body["nextLink"] = req.base_url + req.raw_path + "?" + "&".join(q)
    else:
        body["nextLink"] = None
    return Response.json(200, body)


def find_by_name(state, type_: str, name: str, sub: Optional[str] = None):
    for r in state.resources.values():
        if r.type.lower() == type_.lower() and r.body.get("name", "").lower() == name.lower():
            if sub is None or r.id.lower().startswith(f"/subscriptions/{sub.lower()}/"):
                return r
    return None


def parse_id(resource_id: str) -> dict:
    """'/subscriptions/s/resourceGroups/g/providers/NS/type/name/...' -> parts (case preserved)."""
    parts = resource_id.strip("/").split("/")
    out: dict[str, Any] = {}
    try:
        out["sub"] = parts[1]
        out["rg"] = parts[3]
        out["namespace"] = parts[5]
        out["rest"] = parts[6:]
    except IndexError:
        pass
    return out


def lro_delete(fake, state, lro, req: Request, resource_id: str, *, deleting: str, namespace: str, kind: str) -> Response:
    """DELETE of a Microsoft.App resource as ARM answers it: 202 + Location (204 when already gone);
    the resource disappears when the operation completes."""
    require_rg(state, req)
    r = state.resource(resource_id)
    if r is None:
        return Response.empty(204)
    r.body["properties"]["provisioningState"] = deleting

    def done():
        state.resources.pop(r.id.lower(), None)
        fake.on_resource_deleted(r)

    op = lro.start(req, "location", resource_id=None, on_success=done, final=lambda: (200, None))
    if op.pending_polls == 0 and not op.fail:
        lro.finish(op)
    return Response.empty(202, lro.headers(req, op, namespace, r.body["location"], kind))


def list_handlers(state, type_: str, page_size: int = 100):
    """The two list operations of a resource type: in a resource group, and in a subscription."""

    def by_resource_group(req: Request) -> Response:
        require_rg(state, req)
        prefix = f"/subscriptions/{req.params['sub']}/resourcegroups/{req.params['rg']}/".lower()
        return page(req, [r.body for k, r in state.resources.items() if r.type == type_ and k.startswith(prefix)], page_size)

    def by_subscription(req: Request) -> Response:
        sub = require_sub(state, req)
        prefix = f"/subscriptions/{sub}/"
        return page(req, [r.body for k, r in state.resources.items() if r.type == type_ and k.startswith(prefix)], page_size)

    return by_resource_group, by_subscription
