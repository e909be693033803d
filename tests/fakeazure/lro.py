"""ARM long-running operations as azure-mgmt-core polls them (Azure-AsyncOperation, Location,
or provisioningState in the body). Poll delays are sent as ``Retry-After-Ms: 10`` so clients
never fall back to the 30 s default."""
from __future__ import annotations

from typing import Any, Callable, Optional

from . import util
from .router import Request, Response
from .state import Operation

POLL_HEADERS = {"Retry-After-Ms": "10"}


class Lro:
    def __init__(self, state, faults):
        self.state = state
        self.faults = faults

    def start(self, req: Request, kind: str, *, resource_id: Optional[str], on_success: Optional[Callable] = None,
              on_failure: Optional[Callable] = None, final: Optional[Callable] = None) -> Operation:
        polls, fail = self.faults.lro_plan(req.method, req.path, self.state.lro_default_polls)
        op = Operation(id=util.new_guid(), kind=kind, resource_id=resource_id.lower() if resource_id else None,
                       pending_polls=polls, fail=fail, on_success=on_success, on_failure=on_failure, final=final)
        self.state.ops[op.id] = op
        return op

    def headers(self, req: Request, op: Operation, namespace: str, location: str, status_kind: str) -> dict:
        sub = req.params.get("sub") or self.state.subscription_id
        loc = util.norm_location(location) or "eastus"
        base = f"{req.base_url}/subscriptions/{sub}/providers/{namespace}/locations/{loc}"
        api = req.query.get("api-version") or "2026-07-01"
        h = dict(POLL_HEADERS)
        if op.kind == "async":
            h["Azure-AsyncOperation"] = f"{base}/{status_kind}OperationStatuses/{op.id}?api-version={api}"
        elif op.kind == "location":
            if namespace.lower() == "microsoft.storage":
                h["Location"] = f"{base}/asyncoperations/{op.id}?monitor=true&api-version={api}"
            else:
                h["Location"] = f"{base}/{status_kind}OperationResults/{op.id}?api-version={api}"
        return h

    def finish(self, op: Operation) -> None:
        if op.done:
            return
        op.ended = util.now()
        if op.fail:
            op.status = "Failed"
            if op.on_failure:
                op.on_failure()
        else:
            op.status = "Succeeded"
            if op.on_success:
                op.on_success()
        self.state.cond.notify_all()

    def poll(self, op: Operation) -> None:
        if op.done:
            return
        if op.pending_polls > 0:
            op.pending_polls -= 1
            return
        self.finish(op)

    def settle(self, resource_id: str) -> None:
        """A GET of the resource: body-polled ops count it as a poll; others with no pending polls
        complete lazily (so a client that never polls still sees the final state)."""
        rid = resource_id.lower()
        for op in list(self.state.ops.values()):
            if op.resource_id == rid and not op.done:
                if op.kind == "body":
                    self.poll(op)
                elif op.pending_polls == 0:
                    self.finish(op)

    # -- the operation endpoints -------------------------------------------------------------------
    def handle(self, req: Request) -> Any:
        op = self.state.ops.get(req.params["opid"])
        if op is None:
            return Response.json(404, {"error": {"code": "OperationNotFound",
                                                 "message": f"The operation '{req.params['opid']}' was not found."}})
        self.poll(op)
        if op.kind == "async":
            body: dict = {"id": req.path, "name": op.id, "status": op.status, "startTime": util.iso(op.started)}
            if op.ended:
                body["endTime"] = util.iso(op.ended)
            if op.status == "Failed" and op.fail:
                body["error"] = {"code": op.fail[0], "message": op.fail[1]}
            return Response.json(200, body, POLL_HEADERS if not op.done else None)
        # Location: 202 until done, then the result
        if not op.done:
            return Response.empty(202, {**POLL_HEADERS, "Location": req.base_url + req.raw_path + ("?" + req.raw_query if req.raw_query else "")})
        if op.status == "Failed" and op.fail:
            return Response.json(400, {"error": {"code": op.fail[0], "message": op.fail[1]}})
        if op.final:
            status, body = op.final()
            if body is None:
                return Response.empty(status)
            return Response.json(status, body)
        return Response.empty(204)
