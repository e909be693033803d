"""Microsoft.Storage: storage accounts (202 + Location create, listKeys, checkNameAvailability),
the account's file service (fileServices/default: share soft delete, CORS, protocol settings) and
file shares (which then exist on the Files data plane)."""
from __future__ import annotations

import copy
import re

from . import util
from .arm_common import RG, SUB, body_or_400, get_or_404, not_found, page, require_sub, rid, write_guard
from .router import ArmError, Request, Response
from .state import Resource, ShareFS

NS = "Microsoft.Storage"
T_ACCOUNT = "Microsoft.Storage/storageAccounts"
T_SHARE = "Microsoft.Storage/storageAccounts/fileServices/shares"
T_FILE_SERVICE = "Microsoft.Storage/storageAccounts/fileServices"
ACCT = RG + r"/providers/Microsoft\.Storage/storageAccounts/(?P<acct>[^/]+)"
FILE_SERVICE = ACCT + r"/fileServices/default"
# FileServicePropertiesProperties (azure-mgmt-storage): the writable file-service settings
FILE_SERVICE_KEYS = ("cors", "shareDeleteRetentionPolicy", "protocolSettings")
SHARE = ACCT + r"/fileServices/default/shares/(?P<share>[^/]+)"
NAME_RX = re.compile(r"^[a-z0-9]{3,24}$")
SHARE_RX = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def invalid_name_message(name: str) -> str:
    return (f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 "
            "characters in length and use numbers and lower-case letters only.")


def register(router, fake):
    state, lro = fake.state, fake.lro

    def account_id(req):
        return rid(req.params["sub"], state.resource_groups[(req.params["sub"], req.params["rg"].lower())]["name"], NS,
                   "storageAccounts", req.params["acct"])

    def global_account(name: str):
        for r in state.resources.values():
            if r.type == T_ACCOUNT and r.body["name"].lower() == name.lower():
                return r
        return None

    def build_body(req, name, body, existing=None) -> dict:
        props = copy.deepcopy(body.get("properties") or {})
        sku = dict(body.get("sku") or {})
        sku.setdefault("tier", "Premium" if sku.get("name", "").startswith("Premium") else "Standard")
        loc = util.norm_location(body["location"])
        created = existing["properties"]["creationTime"] if existing else util.iso(util.now())
        enc = props.get("encryption") or {"keySource": "Microsoft.Storage", "services": {"blob": {"enabled": True, "keyType": "Account"},
                                                                                         "file": {"enabled": True, "keyType": "Account"}}}
        for svc in (enc.get("services") or {}).values():
            if isinstance(svc, dict):
                svc.setdefault("lastEnabledTime", created)
        props["encryption"] = enc
        file_ep = f"{req.base_url}/{name}/"
        eps = {"blob": f"https://{name}.blob.core.windows.net/", "dfs": f"https://{name}.dfs.core.windows.net/",
               "file": file_ep, "queue": f"https://{name}.queue.core.windows.net/",
               "table": f"https://{name}.table.core.windows.net/", "web": f"https://{name}.web.core.windows.net/"}
        rp = props.get("routingPreference") or {}
        if rp.get("publishInternetEndpoints"):
            eps["internetEndpoints"] = {k: f"https://{name}-internetrouting.{k}.core.windows.net/" for k in ("blob", "dfs", "file", "web")}
        if rp.get("publishMicrosoftEndpoints"):
            eps["microsoftEndpoints"] = {k: f"https://{name}-microsoftrouting.{k}.core.windows.net/" for k in ("blob", "dfs", "file", "queue", "table", "web")}
        props.update({
            "creationTime": created,
            "keyCreationTime": {"key1": created, "key2": created},
            "primaryEndpoints": eps,
            "primaryLocation": loc,
            "provisioningState": "Succeeded",
            "statusOfPrimary": "available",
            "supportsHttpsTrafficOnly": props.get("supportsHttpsTrafficOnly", True),
        })
        if sku.get("name", "").endswith(("GRS", "GZRS")):
            props["secondaryLocation"] = "westus" if loc != "westus" else "eastus"
            props["statusOfSecondary"] = "available"
        out = {"name": name, "type": T_ACCOUNT, "id": account_id(req), "kind": body.get("kind"), "location": loc,
               "properties": props, "sku": sku}
        if body.get("extendedLocation"):
            out["extendedLocation"] = body["extendedLocation"]
        if body.get("tags"):
            out["tags"] = body["tags"]
        if body.get("identity"):
            out["identity"] = {"type": body["identity"].get("type", "None"), "principalId": util.new_guid(), "tenantId": state.tenant_id}
        return out

    def put_account(req: Request):
        write_guard(state, req, NS)
        name = req.params["acct"]
        if not NAME_RX.match(name):
            raise ArmError(400, "AccountNameInvalid", invalid_name_message(name))
        body = body_or_400(req)
        for fld in ("location", "sku", "kind"):
            if not body.get(fld):
                raise ArmError(400, "MissingRequiredProperty" if fld != "location" else "LocationRequired",
                               f"The '{fld}' property is required.")
        if name in state.taken_storage_names:
            raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
        g = global_account(name)
        aid = account_id(req)
        if g is not None and g.id.lower() != aid.lower():
            if g.id.lower().startswith(f"/subscriptions/{req.params['sub'].lower()}/"):
                raise ArmError(409, "StorageAccountInAnotherResourceGroup",
                               f"The account {name} is already in another resource group in this subscription.")
            raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
        if g is not None:  # update in place: synchronous 200
            g.body = build_body(req, name, body, existing=g.body)
            return Response.json(200, g.body)
        res = Resource(aid, T_ACCOUNT, {}, {"keys": [{"keyName": "key1", "value": util.new_key(), "permissions": "FULL"},
                                                     {"keyName": "key2", "value": util.new_key(), "permissions": "FULL"}],
                                            "creating": True})
        res.body = build_body(req, name, body)
        state.resources[aid.lower()] = res

        def ok():
            res.private["creating"] = False

        def failed():
            state.resources.pop(aid.lower(), None)

        op = lro.start(req, "location", resource_id=aid, on_success=ok, on_failure=failed,
                       final=lambda: (200, copy.deepcopy(res.body)))
        return Response.empty(202, lro.headers(req, op, NS, res.body["location"], ""))

    def visible_account(req):
        aid = account_id(req) if (req.params["sub"], req.params["rg"].lower()) in state.resource_groups else ""
        r = get_or_404(state, req, aid, T_ACCOUNT, req.params["acct"])
        lro.settle(r.id)
        if r.private.get("creating"):
            raise not_found(T_ACCOUNT, req.params["acct"], req.params["rg"])
        return r

    def get_account(req: Request):
        return Response.json(200, visible_account(req).body)

    def delete_account(req: Request):
        write_guard(state, req, NS)
        r = state.resource(account_id(req))
        if r is None:
            return Response.empty(204)
        state.resources.pop(r.id.lower())
        fake.on_resource_deleted(r)
        return Response.empty(200)

    def list_accounts_rg(req: Request):
        write_guard(state, req, NS) if False else None
        prefix = f"/subscriptions/{req.params['sub']}/resourcegroups/{req.params['rg']}/".lower()
        return page(req, [r.body for k, r in state.resources.items() if r.type == T_ACCOUNT and k.startswith(prefix)], 100)

    def list_accounts_sub(req: Request):
        sub = require_sub(state, req)
        return page(req, [r.body for k, r in state.resources.items()
                          if r.type == T_ACCOUNT and k.startswith(f"/subscriptions/{sub}/")], 100)

    def list_keys(req: Request):
        r = visible_account(req)
        return Response.json(200, {"keys": [dict(k, creationTime=r.body["properties"]["creationTime"]) for k in r.private["keys"]]})

    def regenerate_key(req: Request):
        r = visible_account(req)
        body = body_or_400(req)
        for k in r.private["keys"]:
            if k["keyName"] == body.get("keyName"):
                k["value"] = util.new_key()
                break
        else:
            raise ArmError(400, "InvalidValuesForRequestParameters", "Key name must be key1 or key2.")
        return list_keys(req)

    def check_name(req: Request):
        require_sub(state, req)
        body = body_or_400(req)
        name = str(body.get("name") or "")
        if not NAME_RX.match(name):
            return Response.json(200, {"nameAvailable": False, "reason": "AccountNameInvalid", "message": invalid_name_message(name)})
        if name in state.taken_storage_names or global_account(name) is not None:
            return Response.json(200, {"nameAvailable": False, "reason": "AlreadyExists",
                                       "message": f"The storage account named {name} is already taken."})
        return Response.json(200, {"nameAvailable": True})

    # -- the account's file service (ARM) --------------------------------------------------------------
    def file_service(r) -> dict:
        """A new account starts without share soft delete here (the portal's create form ticks it;
        an API-created account is assumed not to), so tests see the SDK path turn it on."""
        return r.private.setdefault("file_service", {
            "cors": {"corsRules": []},
            "shareDeleteRetentionPolicy": {"enabled": False, "days": 0},
            "protocolSettings": {"smb": {}},
        })

    def file_service_body(r) -> dict:
        return {"id": r.id + "/fileServices/default", "name": "default", "type": T_FILE_SERVICE,
                "sku": {"name": r.body["sku"].get("name"), "tier": r.body["sku"].get("tier")},
                "properties": copy.deepcopy(file_service(r))}

    def get_file_service(req: Request):
        return Response.json(200, file_service_body(visible_account(req)))

    def put_file_service(req: Request):
        """Set Service Properties: each setting given replaces the account's; those left out stay."""
        write_guard(state, req, NS)
        r = visible_account(req)
        props = body_or_400(req).get("properties")
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        policy = props.get("shareDeleteRetentionPolicy")
        if policy is not None:
            enabled, days = policy.get("enabled"), policy.get("days")
            if not isinstance(enabled, bool):
                raise ArmError(400, "InvalidValuesForRequestParameters",
                               "shareDeleteRetentionPolicy.enabled must be true or false.")
            if enabled and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365):
                raise ArmError(400, "InvalidValuesForRequestParameters",
                               "shareDeleteRetentionPolicy.days must be between 1 and 365 when soft delete is enabled.")
        current = file_service(r)
        for key in FILE_SERVICE_KEYS:
            if props.get(key) is not None:
                current[key] = copy.deepcopy(props[key])
        return Response.json(200, file_service_body(r))

    def list_file_services(req: Request):
        return Response.json(200, {"value": [file_service_body(visible_account(req))]})

    # -- file shares (ARM) -------------------------------------------------------------------------
    def share_body(req, r, fs: ShareFS, full=True) -> dict:
        sid = r.id + "/fileServices/default/shares/" + req.params["share"]
        out = {"id": sid, "name": req.params["share"], "type": T_SHARE}
        if full:
            out["etag"] = '"0x8DC%s"' % util.rand_lower(12).upper()
            out["properties"] = {"shareQuota": fs.quota, "lastModifiedTime": util.iso(fs.created),
                                 "enabledProtocols": "SMB", "accessTier": "TransactionOptimized",
                                 "leaseStatus": "unlocked", "leaseState": "available"}
        return out

    def put_share(req: Request):
        write_guard(state, req, NS)
        r = visible_account(req)
        share = req.params["share"]
        if not SHARE_RX.match(share):
            raise ArmError(400, "InvalidResourceName",
                           f"The specified resource name '{share}' is not valid: share names are 3-63 lowercase letters, digits and single hyphens.")
        body = body_or_400(req) if req.body else {}
        key = (r.body["name"].lower(), share.lower())
        if key in state.shares:
            raise ArmError(409, "ShareAlreadyExists", "The specified share already exists.")
        quota = int(((body.get("properties") or {}).get("shareQuota")) or 102400)
        if not 1 <= quota <= 102400:
            raise ArmError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        fs = ShareFS(quota)
        state.shares[key] = fs
        out = share_body(req, r, fs, full=False)
        if body.get("properties"):
            out["properties"] = {"shareQuota": quota}
        return Response.json(201, out)

    def get_share(req: Request):
        r = visible_account(req)
        fs = state.shares.get((r.body["name"].lower(), req.params["share"].lower()))
        if fs is None:
            raise ArmError(404, "ShareNotFound", "The specified share does not exist.")
        return Response.json(200, share_body(req, r, fs))

    def patch_share(req: Request):
        r = visible_account(req)
        fs = state.shares.get((r.body["name"].lower(), req.params["share"].lower()))
        if fs is None:
            raise ArmError(404, "ShareNotFound", "The specified share does not exist.")
        q = ((body_or_400(req).get("properties") or {}).get("shareQuota"))
        if q:
            fs.quota = int(q)
        return Response.json(200, share_body(req, r, fs))

    def delete_share(req: Request):
        r = visible_account(req)
        if state.shares.pop((r.body["name"].lower(), req.params["share"].lower()), None) is None:
            return Response.empty(204)
        return Response.empty(200)

    def list_shares(req: Request):
        r = visible_account(req)
        acct = r.body["name"].lower()
        items = []
        for (a, s), fs in state.shares.items():
            if a == acct:
                req.params["share"] = s
                items.append(share_body(req, r, fs))
        return page(req, items, 100)

    router.add("PUT", ACCT, put_account)
    router.add("GET", ACCT, get_account)
    router.add("DELETE", ACCT, delete_account)
    router.add("GET", RG + r"/providers/Microsoft\.Storage/storageAccounts", list_accounts_rg)
    router.add("GET", SUB + r"/providers/Microsoft\.Storage/storageAccounts", list_accounts_sub)
    router.add("POST", ACCT + r"/listKeys", list_keys)
    router.add("POST", ACCT + r"/regenerateKey", regenerate_key)
    router.add("POST", SUB + r"/providers/Microsoft\.Storage/checkNameAvailability", check_name)
    router.add("PUT", FILE_SERVICE, put_file_service)
    router.add("GET", FILE_SERVICE, get_file_service)
    router.add("GET", ACCT + r"/fileServices", list_file_services)
    router.add("PUT", SHARE, put_share)
    router.add("GET", SHARE, get_share)
    router.add("PATCH", SHARE, patch_share)
    router.add("DELETE", SHARE, delete_share)
    router.add("GET", ACCT + r"/fileServices/default/shares", list_shares)
