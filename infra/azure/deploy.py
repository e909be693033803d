"""Deploy the inference app: sync the code, roll a new revision, wait until it is ready.

A new revision needs a template change; a fresh ``revisionSuffix`` is that change (a repeated suffix is
refused by Azure, see azure-wire-facts §11). Secrets are left out of the PATCH so they stay as they are.
"""
from __future__ import annotations

import os
import secrets as _random
import string
import threading
import time
from typing import Optional

from core.errors import InputError, OperationFailed
from core.events import EventSink, Info, StepFailed, StepFinished, StepStarted, ignore
from core.models import Endpoint

DEFAULT_TIMEOUT_S = 20 * 60  # a GPU cold start (image pull + pip from the share cache) takes minutes
_ALPHABET = string.ascii_lowercase + string.digits
_stamp_lock = threading.Lock()
_last_stamp = 0


def new_revision_suffix(now: Optional[float] = None) -> str:
    """A valid suffix (12 lowercase alnum, a letter first) that this process never repeats.

    The stamp is milliseconds, kept strictly increasing within the process (two deploys in one
    millisecond, or a fixed ``now``, still differ), so uniqueness here holds by construction; the
    4 random characters separate processes deploying in the same millisecond (1 in 1.7 million).
    """
    global _last_stamp
    ms = int((now if now is not None else time.time()) * 1000)
    with _stamp_lock:
        _last_stamp = max(ms, _last_stamp + 1)
        n = _last_stamp
    stamp = ""
    while n:
        n, r = divmod(n, 36)
        stamp = _ALPHABET[r] + stamp
    return "d" + stamp[-7:] + "".join(_random.choice(_ALPHABET) for _ in range(4))


def _app_coordinates(backend) -> tuple[str, str]:
    cfg = backend.project.inference_config()
    app = cfg.get("ACA_APP_NAME")
    rg = cfg.get("RESOURCE_GROUP_NAME") or backend.project.finetuning_config().get("RESOURCE_GROUP_NAME")
    if not app or not rg:
        raise InputError(
            "The inference app is not provisioned yet (infra/inference.config.json has no ACA_APP_NAME).",
            field="ACA_APP_NAME",
            fix="run `ftstudio provision inference` first",
        )
    return rg, app


def _poll_interval(backend) -> float:
    configured = backend.session.polling_interval
    return 5.0 if configured is None else max(0.05, configured)


def _wait_ready(backend, rg: str, app: str, revision: str, on_event: EventSink, timeout_s: float) -> None:
    client = backend.session.appcontainers
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        rev = client.container_apps_revisions.get_revision(rg, app, revision)
        props = rev.properties
        state = tuple(getattr(v, "value", v) for v in (props.provisioning_state, props.health_state, props.running_state))
        if state != last:
            parts = (f"{label} {value}" for label, value in zip(("provisioning", "health", "running"), state) if value)
            on_event(Info(f"revision {revision}: {', '.join(parts)}"))  # Azure leaves health unset at first
            last = state
        # str-valued enums: compare by value (str() of them gives "RevisionHealthState.HEALTHY")
        if props.provisioning_state == "Failed" or props.running_state in ("Failed", "Degraded"):
            raise _not_ready(backend, revision, props.provisioning_error or f"the revision is {props.running_state or 'Failed'}")
        if props.provisioning_state == "Provisioned" and props.health_state == "Healthy":
            return
        if time.monotonic() > deadline:
            raise _not_ready(backend, revision, f"not ready after {int(timeout_s)} s (health {props.health_state})")
        time.sleep(_poll_interval(backend))


def _not_ready(backend, revision: str, why: str) -> OperationFailed:
    events = revision_events(backend, revision)
    detail = f" Last system events: {' | '.join(events[-5:])}" if events else ""
    return OperationFailed(
        f"Revision {revision} did not become ready: {why}.{detail}",
        fix="see `ftstudio logs --inference --system` and `ftstudio logs --inference`",
        code="RevisionNotReady",
    )


def revision_events(backend, revision: str) -> list[str]:
    """The app's system events for this revision (best effort: the stream or Log Analytics)."""
    try:
        texts = [(getattr(i, "text", ""), getattr(i, "source", "")) for i in backend.logs(inference=True, system=True, follow=False)]
        own = [t for t, src in texts if t and (revision in t or revision in src)]
        return own or [t for t, _ in texts if t]
    except Exception:  # noqa: BLE001 - events only enrich the error; never hide the real failure
        return []


def deploy(backend, *, on_event: EventSink = ignore, timeout_s: Optional[float] = None) -> Endpoint:
    rg, app_name = _app_coordinates(backend)
    timeout_s = timeout_s or float(os.environ.get("FTSTUDIO_DEPLOY_TIMEOUT", DEFAULT_TIMEOUT_S))
    client = backend.session.appcontainers

    from infra.azure.sync import sync

    sync(backend, on_event=on_event, kind="inference")

    app = client.container_apps.get(rg, app_name)
    template = app.as_dict()["properties"].get("template") or {}
    suffix = new_revision_suffix()
    template["revisionSuffix"] = suffix
    revision = f"{app_name}--{suffix}"
    link = backend.session.portal_link(app.id, "revisionManagement")
    on_event(StepStarted("revision", f"Roll revision {revision}", link))
    client.container_apps.begin_update(rg, app_name, {"properties": {"template": template}}).result()
    on_event(StepFinished("revision", f"Roll revision {revision}", "", link))

    on_event(StepStarted("ready", f"Wait for {revision} to be ready"))
    try:
        _wait_ready(backend, rg, app_name, revision, on_event, timeout_s)
    except OperationFailed as err:
        on_event(StepFailed("ready", f"Revision {revision}", err.one_line(), link))
        raise
    on_event(StepFinished("ready", f"Revision {revision}", "ready", link))  # every started step ends (TUI step list)

    app = client.container_apps.get(rg, app_name)
    ingress = (app.as_dict()["properties"].get("configuration") or {}).get("ingress") or {}
    fqdn = ingress.get("fqdn") or app.as_dict()["properties"].get("latestRevisionFqdn")
    if not fqdn:
        raise OperationFailed(f"{app_name} has no ingress FQDN.", fix="run `ftstudio provision inference` again")
    url = f"https://{fqdn}"
    backend.project.update_inference_config(ACA_APP_ENDPOINT=url)
    # the app serves "<model id>:<run id>"; the model id alone is what a person recognises in examples
    model = (backend.project.answers().get("model") or {})
    model_id = model.get("id") if isinstance(model, dict) else model
    detail = {"resource_group": rg}
    if model_id:
        detail["model"] = model_id
    return Endpoint(url=url, app=app_name, revision=revision, detail=detail)
