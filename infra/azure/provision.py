"""Provision (plan / apply) and tear down the Azure resources of a project, through the SDKs.

Apply reads each resource, compares it with the desired body (``resources.py``, from the shared
``core.azure_facts``) and only then creates or updates it, so a second run with nothing changed
sends no write, and a run that failed half-way resumes where it stopped. Independent resources go
in parallel: (storage account -> file service (share soft delete) -> share) || Log Analytics ->
environment -> environment storage -> job / app. Every step is an event (StepStarted / StepFinished / StepFailed).
"""
from __future__ import annotations

import dataclasses
import secrets as _secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core import project_files
from infra.azure import preflight, resources as R
from infra.azure.names import ResourceNames, resolve_names
from infra.azure.plan import UNKNOWN, change, changes_of
from infra.azure.inputs import HOW
from core.errors import FtError, InputError, MissingInputs, OperationFailed
from core.events import EventSink, Info, StepFailed, StepFinished, StepStarted, ignore
from core.models import PlannedChange
from core import azure_facts as spec

PARAM_FILES = {kind: f.rel for kind, f in project_files.PARAMETERS.items()}
STEP_ATTEMPTS = 5  # whole-step retries on throttling / 5xx, on top of azure-core's own
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
STATE_CREATED = "created_resources"  # .ftstudio/state.json: resource id (lower) -> step, for teardown
STATE_CREATED_RG = "created_resource_group"


def normalize_kind(kind: str) -> str:
    k = (kind or "finetuning").lower()
    if k in ("finetune", "finetuning", "fine-tuning"):
        return "finetuning"
    if k == "inference":
        return "inference"
    raise InputError(f"Unknown provisioning kind {kind!r}.", field="kind", fix="use finetune or inference")


# -- context ------------------------------------------------------------------------------------------
@dataclass
class Context:
    backend: Any
    session: Any
    settings: R.Settings
    emit: EventSink
    lock: threading.Lock = field(default_factory=threading.Lock)
    customer_id: Optional[str] = None
    results: dict = field(default_factory=dict)  # step -> {"result", "changes"}
    endpoint: Optional[str] = None

    @property
    def project(self):
        return self.backend.project

    @property
    def rg(self) -> str:
        return self.settings.resource_group

    @property
    def names(self) -> ResourceNames:
        return self.settings.names


def _serialized(on_event: EventSink) -> EventSink:
    lock = threading.Lock()

    def emit(event) -> None:
        with lock:
            on_event(event)

    return emit


def _inputs(backend, kind: str, params: dict):
    from infra.azure.inputs import SessionDirectory, resolve_inputs

    given = getattr(backend, "inputs", None)
    if given is not None:
        return given
    return resolve_inputs(backend.project, parameters=params, ask=None,
                          directory=lambda: SessionDirectory(lambda sub: _session_for(backend, sub)))


def _session_for(backend, subscription_id: str):
    session = backend.session
    if session.subscription_id != subscription_id:
        session = dataclasses.replace(session, subscription_id=subscription_id)
    return session


def _saved_names(project, subscription_id: str, resource_group: str) -> dict:
    """Names an earlier provision wrote, when they belong to this subscription and resource group."""
    out = {}
    for cfg in (project.finetuning_config(), project.inference_config()):
        if cfg.get("SUBSCRIPTION_ID") == subscription_id and (cfg.get("RESOURCE_GROUP_NAME") or "").lower() == resource_group.lower():
            for key, fld in (("STORAGE_ACCOUNT_NAME", "storage"), ("FILE_SHARE_NAME", "share"),
                             ("LOG_ANALYTICS_NAME", "workspace"), ("ACA_ENVIRONMENT_NAME", "environment"),
                             ("ACA_ENVIRONMENT_STORAGE_NAME", "envstorage"), ("ACA_JOB_NAME", "job"),
                             ("ACA_APP_NAME", "app")):
                if cfg.get(key) and fld not in out:
                    out[fld] = cfg[key]
    return out


def prepare(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> Context:
    """Resolve inputs, names and settings; validates everything local before any call."""
    kind = normalize_kind(kind)
    project = backend.project
    ft = project.parameters("finetuning")
    own = project.parameters(kind) if kind == "inference" else ft
    if kind == "inference" and not project.path(PARAM_FILES["inference"]).is_file():
        raise InputError(f"{PARAM_FILES['inference']} is missing.", field=PARAM_FILES["inference"],
                         fix="regenerate the project or add the file (defaultCommands, maximumInstanceCount)")
    inputs = inputs or _inputs(backend, kind, own if own.get("location") else ft)
    # names: the inference parameters may name other resources; otherwise it shares fine-tuning's
    name_params = dict(ft)
    if kind == "inference":
        name_params.update({k: v for k, v in own.items() if v not in (None, "")})
    names = resolve_names(inputs.subscription_id, inputs.resource_group, project.name, parameters=name_params,
                          saved=_saved_names(project, inputs.subscription_id, inputs.resource_group))
    if not inputs.location:
        raise MissingInputs([("location", HOW["location"])])
    if kind == "inference":
        # the app runs in fine-tuning's environment: same GPU profile unless the inference file says otherwise
        own = {**own, "gpuProfileType": own.get("gpuProfileType") or ft.get("gpuProfileType")}
    settings = R.settings_from_parameters(kind, own, subscription_id=inputs.subscription_id,
                                          resource_group=inputs.resource_group, location=inputs.location,
                                          names=names, project=project.name, param_file=PARAM_FILES[kind])
    if kind == "inference":
        # the environment's dedicated node count is fine-tuning's maximumInstanceCount
        env_max = R.int_param(ft, "maximumInstanceCount", spec.DEFAULT_MAXIMUM_INSTANCE_COUNT, 1, 1000,
                              PARAM_FILES["finetuning"])
        settings = dataclasses.replace(settings, extra={"env_max_instances": env_max})
    return Context(backend=backend, session=_session_for(backend, inputs.subscription_id), settings=settings,
                   emit=_serialized(on_event))


# -- reading what exists ---------------------------------------------------------------------------------
def _as_dict(obj) -> Optional[dict]:
    if obj is None:
        return None
    return obj.as_dict() if hasattr(obj, "as_dict") else dict(obj)


def _get_or_none(fn: Callable, *args) -> Optional[dict]:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        return _as_dict(fn(*args))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return None
        if exc.status_code == 409 and "MissingSubscriptionRegistration" in str(exc):
            return None  # nothing of an unregistered provider can exist
        raise


def read(ctx: Context, step: str) -> Optional[dict]:
    s, n, rg = ctx.session, ctx.names, ctx.rg
    if step == "resource_group":
        return _get_or_none(s.resources.resource_groups.get, rg)
    if step == "storage":
        return _get_or_none(s.storage.storage_accounts.get_properties, rg, n.storage)
    if step == "fileservice":
        return _get_or_none(s.storage.file_services.get_service_properties, rg, n.storage)
    if step == "share":
        return _get_or_none(s.storage.file_shares.get, rg, n.storage, n.share)
    if step == "workspace":
        return _get_or_none(s.loganalytics.workspaces.get, rg, n.workspace)
    if step == "environment":
        return _get_or_none(s.appcontainers.managed_environments.get, rg, n.environment)
    if step == "envstorage":
        return _get_or_none(s.appcontainers.managed_environments_storages.get, rg, n.environment, n.envstorage)
    if step == "job":
        return _get_or_none(s.appcontainers.jobs.get, rg, n.job)
    if step == "app":
        return _get_or_none(s.appcontainers.container_apps.get, rg, n.app)
    raise KeyError(step)


def _ignore(step: str) -> set:
    return set(R.WRITE_ONLY.get(step, set())) | R.NOT_COMPARED


def desired(ctx: Context, step: str) -> dict:
    s = ctx.settings
    if step == "storage":
        return R.storage_body(s)
    if step == "fileservice":
        return R.file_service_body(s)
    if step == "share":
        return R.share_body(s)
    if step == "workspace":
        return R.workspace_body(s)
    if step == "environment":
        env_settings = s
        if "env_max_instances" in s.extra:
            env_settings = dataclasses.replace(s, max_instances=s.extra["env_max_instances"])
        return R.environment_body(env_settings, ctx.customer_id or UNKNOWN, None)
    if step == "envstorage":
        return R.envstorage_body(s, None)
    if step == "job":
        return R.job_body(s)
    if step == "app":
        return R.app_body(s, None)
    raise KeyError(step)


def _check_environment_gpu(ctx: Context, actual: Optional[dict]) -> None:
    """A GPU profile can only be given to an environment when it is created (workload-profiles docs)."""
    if not actual:
        return
    want = R.gpu_workload_profile(ctx.settings)
    have = {str(p.get("name")).lower(): p for p in (actual.get("properties") or {}).get("workloadProfiles") or []}
    got = have.get(want["name"].lower())
    if got is None or str(got.get("workloadProfileType")).lower() != want["workloadProfileType"].lower():
        now = got.get("workloadProfileType") if got else "no GPU profile"
        raise InputError(
            f"Environment {ctx.names.environment} exists with {now}, not the GPU workload profile "
            f"{want['workloadProfileType']}; a GPU profile can only be set when an environment is created.",
            field="acaEnvironmentName",
            fix="set acaEnvironmentName (and acaEnvironmentStorageName) in infra/provision/finetuning.parameters.json "
                "to a new name, or delete the environment (`ftstudio down`) and provision again",
            code="EnvironmentGpuProfileMismatch",
        )


# -- preflight -----------------------------------------------------------------------------------------------
def run_preflight(ctx: Context, *, apply: bool) -> list[PlannedChange]:
    """Checks before anything is created. Returns provider registrations a preview would do."""
    s = ctx.settings
    planned: list[PlannedChange] = []
    missing = preflight.unregistered_providers(ctx.session)
    if missing:
        if apply:
            preflight.register_providers(ctx.session, missing, on_event=ctx.emit)
        else:
            planned += [PlannedChange("provider", ns, "register") for ns in missing]
    env = read(ctx, "environment")
    _check_environment_gpu(ctx, env)
    location = (env or {}).get("location") or s.location
    if env is None:
        preflight.check_gpu_profile(ctx.session, location, s.gpu_profile)
    needs = preflight.model_needs(ctx.project)
    preflight.check_quota(ctx.session, location, s.gpu_profile, needs.gpus, on_event=ctx.emit)
    ours = read(ctx, "storage") is not None
    preflight.check_storage_name(ctx.session, s.names.storage, ours=ours)
    preflight.check_model_access(needs, on_event=ctx.emit)
    return planned


# -- plan (preview) ------------------------------------------------------------------------------------------------
def plan(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> list[PlannedChange]:
    """What provision would do, per resource; sends no write (GETs and read-only checks only)."""
    ctx = prepare(backend, kind, on_event=on_event, inputs=inputs)
    out = run_preflight(ctx, apply=False)
    s = ctx.settings
    rg = read(ctx, "resource_group")
    out.append(PlannedChange("resource_group", s.resource_group, "unchanged" if rg else "create",
                             link=R.portal_link(s, "resource_group")))
    actual = {step: (read(ctx, step) if rg else None) for step in s.steps}
    ws = actual.get("workspace")
    ctx.customer_id = ((ws or {}).get("properties") or {}).get("customerId")
    for step in s.steps:
        out.append(change(step, R.resource_name(s, step), actual[step], desired(ctx, step), ignore=_ignore(step),
                          link=R.portal_link(s, step)))
    return out


# -- apply -----------------------------------------------------------------------------------------------------------
def _retry_delay(ctx: Context, attempt: int) -> float:
    interval = ctx.session.polling_interval
    base = 2.0 if interval is None else max(0.01, interval)
    return min(60.0, base * (2 ** attempt))


def _transient(exc: BaseException) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in RETRY_STATUSES


def _azure_message(exc) -> str:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    message = getattr(err, "message", None) or getattr(exc, "message", None) or str(exc)
    message = " ".join(str(message).split())
    return f"{code}: {message}" if code else message


def _run_step(ctx: Context, step: str, fn: Callable[[], tuple]) -> None:
    """Run one idempotent step with events and bounded whole-step retries."""
    from azure.core.exceptions import AzureError

    s = ctx.settings
    title, link = R.title(s, step), R.portal_link(s, step)
    ctx.emit(StepStarted(step, title, link))
    attempt = 0
    while True:
        try:
            result, changes = fn()
            break
        except FtError as err:
            ctx.emit(StepFailed(step, title, err.one_line(), link))
            raise
        except AzureError as exc:
            if _transient(exc) and attempt + 1 < STEP_ATTEMPTS:
                ctx.emit(Info(f"{title}: Azure answered {_azure_message(exc)}; retrying"))
                time.sleep(_retry_delay(ctx, attempt))
                attempt += 1
                continue
            err = OperationFailed(
                f"{title} failed: {_azure_message(exc)}",
                fix="fix the cause and run `ftstudio provision` again: what was created is kept and reused",
                code=str(getattr(getattr(exc, "error", None), "code", None) or "ProvisioningFailed"),
            )
            ctx.emit(StepFailed(step, title, err.one_line(), link))
            raise err from None
    with ctx.lock:
        ctx.results[step] = {"result": result, "changes": changes}
    detail = result if not changes else f"{result}: {', '.join(sorted(changes))}"
    ctx.emit(StepFinished(step, title, detail, link))


def _record_created(ctx: Context, step: str) -> None:
    with ctx.lock:
        created = dict(ctx.project.state().get(STATE_CREATED) or {})
        created[R.resource_id(ctx.settings, step).lower()] = step
        ctx.project.update_state(**{STATE_CREATED: created})


def _apply_simple(ctx: Context, step: str, create: Callable[[dict], Any], update: Callable[[dict, dict], Any]):
    """Read, diff, then create / update / nothing. ``update`` gets (desired, actual)."""
    actual = read(ctx, step)
    want = desired(ctx, step)
    if actual is None:
        create(want)
        _record_created(ctx, step)
        return "created", {}
    changes = changes_of(want, actual, ignore=_ignore(step))
    if not changes:
        return "unchanged", {}
    update(want, actual)
    return "updated", changes


def _with_tags(ctx: Context, body: dict, actual: Optional[dict] = None) -> dict:
    out = dict(body)
    tags = (actual or {}).get("tags") if actual is not None else ctx.settings.tags
    if tags:
        out["tags"] = tags
    return out


def _storage_key(ctx: Context) -> str:
    result = ctx.session.storage.storage_accounts.list_keys(ctx.rg, ctx.names.storage)
    return result.keys_property[0].value


def _workspace_key(ctx: Context) -> str:
    return ctx.session.loganalytics.shared_keys.get_shared_keys(ctx.rg, ctx.names.workspace).primary_shared_key


def step_resource_group(ctx: Context):
    actual = read(ctx, "resource_group")
    if actual is not None:
        return "unchanged", {}
    ctx.session.resources.resource_groups.create_or_update(
        ctx.rg, {"location": ctx.settings.location, "tags": ctx.settings.tags})
    ctx.project.update_state(**{STATE_CREATED_RG: ctx.rg})
    return "created", {}


def step_storage(ctx: Context):
    st = ctx.session.storage
    n = ctx.names
    return _apply_simple(
        ctx, "storage",
        lambda want: st.storage_accounts.begin_create(ctx.rg, n.storage, _with_tags(ctx, want)).result(),
        # a PUT on an existing account updates it (the account keeps its location)
        lambda want, actual: st.storage_accounts.begin_create(
            ctx.rg, n.storage, _with_tags(ctx, {**want, "location": actual.get("location") or want["location"]}, actual)).result(),
    )


def step_fileservice(ctx: Context):
    """Share soft delete on the account's one file service (it exists with the account: never
    "created", only updated when it differs). Other file-service settings (CORS, SMB protocol
    settings) are sent back as they are, so nobody's settings are reset."""
    fs = ctx.session.storage.file_services
    n = ctx.names
    actual = read(ctx, "fileservice") or {}
    want = desired(ctx, "fileservice")
    changes = changes_of(want, actual, ignore=_ignore("fileservice"))
    if not changes:
        return "unchanged", {}
    kept = {k: v for k, v in (actual.get("properties") or {}).items() if k in ("cors", "protocolSettings") and v}
    fs.set_service_properties(ctx.rg, n.storage, {"properties": {**kept, **want["properties"]}})
    return "updated", changes


def step_share(ctx: Context):
    st = ctx.session.storage
    n = ctx.names
    return _apply_simple(
        ctx, "share",
        lambda want: st.file_shares.create(ctx.rg, n.storage, n.share, want),
        lambda want, actual: st.file_shares.update(ctx.rg, n.storage, n.share, want),
    )


def step_workspace(ctx: Context):
    la = ctx.session.loganalytics
    n = ctx.names

    def put(want, actual=None):
        body = {**want, "location": (actual or {}).get("location") or want["location"]}
        return la.workspaces.begin_create_or_update(ctx.rg, n.workspace, _with_tags(ctx, body, actual)).result()

    result = _apply_simple(ctx, "workspace", put, put)
    ws = read(ctx, "workspace") or {}
    ctx.customer_id = (ws.get("properties") or {}).get("customerId")
    return result


def step_environment(ctx: Context):
    me = ctx.session.appcontainers.managed_environments
    n = ctx.names

    def put(want, actual=None):
        body = dict(want)
        body["properties"] = dict(want["properties"])
        logs = dict(body["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"], sharedKey=_workspace_key(ctx))
        body["properties"]["appLogsConfiguration"] = {"destination": "log-analytics", "logAnalyticsConfiguration": logs}
        if actual is not None:
            body["location"] = actual.get("location") or body["location"]
            # keep profiles someone added (a GPU profile cannot be removed/added after creation anyway)
            mine = {p["name"].lower() for p in body["properties"]["workloadProfiles"]}
            body["properties"]["workloadProfiles"] = body["properties"]["workloadProfiles"] + [
                p for p in (actual.get("properties") or {}).get("workloadProfiles") or [] if str(p.get("name")).lower() not in mine]
        return me.begin_create_or_update(ctx.rg, n.environment, _with_tags(ctx, body, actual)).result()

    _check_environment_gpu(ctx, read(ctx, "environment"))
    return _apply_simple(ctx, "environment", put, put)


def step_envstorage(ctx: Context):
    ms = ctx.session.appcontainers.managed_environments_storages
    n = ctx.names

    def put(want, actual=None):
        body = {"properties": {"azureFile": {**want["properties"]["azureFile"], "accountKey": _storage_key(ctx)}}}
        return ms.create_or_update(ctx.rg, n.environment, n.envstorage, body)

    return _apply_simple(ctx, "envstorage", put, put)


def _merge_template(want: dict, actual: dict) -> dict:
    """Our template over the existing one: env vars, containers and volumes others added (secret
    env vars set by `ftstudio secret set`) are kept."""
    have = (actual.get("properties") or {}).get("template") or {}
    tpl = dict(want)
    ours = want["containers"][0]
    theirs = {c.get("name"): c for c in have.get("containers") or []}
    old = theirs.get(ours["name"]) or {}
    mine_env = {e["name"] for e in ours.get("env") or []}
    merged = {**old, **ours, "env": list(ours.get("env") or []) + [e for e in old.get("env") or [] if e.get("name") not in mine_env]}
    tpl["containers"] = [merged] + [c for name, c in theirs.items() if name != ours["name"]]
    mine_vol = {v["name"] for v in want.get("volumes") or []}
    tpl["volumes"] = list(want.get("volumes") or []) + [v for v in have.get("volumes") or [] if v.get("name") not in mine_vol]
    return tpl


def _patch_body(want: dict, actual: dict) -> dict:
    """PATCH (merge) body: no ``configuration.secrets``, so existing secrets stay as they are."""
    props = dict(want["properties"])
    props["configuration"] = {k: v for k, v in props["configuration"].items() if k != "secrets"}
    props["template"] = _merge_template(props["template"], actual)
    return {"properties": props}


def step_job(ctx: Context):
    jobs = ctx.session.appcontainers.jobs
    n = ctx.names
    return _apply_simple(
        ctx, "job",
        lambda want: jobs.begin_create_or_update(ctx.rg, n.job, _with_tags(ctx, want)).result(),
        lambda want, actual: jobs.begin_update(ctx.rg, n.job, _patch_body(want, actual)).result(),
    )


def step_app(ctx: Context):
    apps = ctx.session.appcontainers.container_apps
    n = ctx.names
    s = ctx.settings

    def create(_want):
        # the API key is made here, sent once, never printed or written anywhere
        body = R.app_body(s, _secrets.token_urlsafe(32))
        return apps.begin_create_or_update(ctx.rg, n.app, _with_tags(ctx, body)).result()

    def update(want, actual):
        body = _patch_body(want, actual)
        names = {str(x.get("name")) for x in ((actual.get("properties") or {}).get("configuration") or {}).get("secrets") or []}
        if R.API_KEY_SECRET not in names:
            # the key was removed: the secrets list is replaced as a whole, so send the existing values too
            existing = _as_dict(apps.list_secrets(ctx.rg, n.app)) or {}
            kept = [{"name": x["name"], "value": x.get("value")} for x in existing.get("value") or []
                    if x.get("name") != R.API_KEY_SECRET]
            body["properties"]["configuration"]["secrets"] = kept + [
                {"name": R.API_KEY_SECRET, "value": _secrets.token_urlsafe(32)}]
        return apps.begin_update(ctx.rg, n.app, body).result()

    actual = read(ctx, "app")
    want = desired(ctx, "app")
    if actual is None:
        create(want)
        _record_created(ctx, "app")
        result = ("created", {})
    else:
        changes = changes_of(want, actual, ignore=_ignore("app"))
        secret_names = {str(x.get("name")) for x in ((actual.get("properties") or {}).get("configuration") or {}).get("secrets") or []}
        if R.API_KEY_SECRET not in secret_names:
            changes["properties.configuration.secrets[inference-api-key]"] = [None, "(generated)"]
        if changes:
            update(want, actual)
            result = ("updated", changes)
        else:
            result = ("unchanged", {})
    final = read(ctx, "app") or {}
    props = final.get("properties") or {}
    fqdn = ((props.get("configuration") or {}).get("ingress") or {}).get("fqdn") or props.get("latestRevisionFqdn")
    ctx.endpoint = f"https://{fqdn}" if fqdn else None
    return result


STEPS = {
    "resource_group": step_resource_group,
    "storage": step_storage,
    "fileservice": step_fileservice,
    "share": step_share,
    "workspace": step_workspace,
    "environment": step_environment,
    "envstorage": step_envstorage,
    "job": step_job,
    "app": step_app,
}


def provision(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> dict:
    ctx = prepare(backend, kind, on_event=on_event, inputs=inputs)
    run_preflight(ctx, apply=True)
    s = ctx.settings

    def run(step: str) -> None:
        _run_step(ctx, step, lambda: STEPS[step](ctx))

    run("resource_group")

    def storage_chain() -> None:
        run("storage")
        run("fileservice")
        run("share")

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(storage_chain), pool.submit(run, "workspace")]
        errors = [f.exception() for f in futures]
    for err in errors:
        if err is not None:
            raise err
    run("environment")
    run("envstorage")
    run("job" if s.kind == "finetuning" else "app")
    config = _write_config(ctx)
    resources = []
    for step in ("resource_group", *s.steps):
        r = ctx.results.get(step, {})
        resources.append({"resource": step, "name": R.resource_name(s, step), "result": r.get("result"),
                          "changes": r.get("changes") or {}, "id": R.resource_id(s, step), "link": R.portal_link(s, step)})
    out = {"kind": s.kind, "subscription_id": s.subscription_id, "resource_group": s.resource_group,
           "location": s.location, "resources": resources, "config_file": PARAM_FILES[s.kind].replace(
               "provision/", "").replace(".parameters", ".config"), "config": config}
    if s.kind == "inference":
        out["endpoint"] = ctx.endpoint
    return out


def _write_config(ctx: Context) -> dict:
    s, n, project = ctx.settings, ctx.names, ctx.project
    common = {"SUBSCRIPTION_ID": s.subscription_id, "RESOURCE_GROUP_NAME": s.resource_group,
              "STORAGE_ACCOUNT_NAME": n.storage, "FILE_SHARE_NAME": n.share, "LOCATION": s.location,
              "ACA_ENVIRONMENT_NAME": n.environment, "ACA_ENVIRONMENT_STORAGE_NAME": n.envstorage,
              "LOG_ANALYTICS_NAME": n.workspace}
    if s.kind == "finetuning":
        commands = project.finetuning_config().get("COMMANDS") or list(s.commands)
        values = {**common, "ACA_JOB_NAME": n.job, "COMMANDS": commands}
        project.update_finetuning_config(**values)
    else:
        values = {**common, "ACA_APP_NAME": n.app, "ACA_APP_ENDPOINT": ctx.endpoint}
        if not project.inference_config().get("COMMANDS"):
            values["COMMANDS"] = list(s.commands)
        project.update_inference_config(**values)
    return values


# -- teardown ----------------------------------------------------------------------------------------------------------
FT_CONFIG_KEYS = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_JOB_NAME",
                  "LOCATION", "ACA_ENVIRONMENT_NAME", "ACA_ENVIRONMENT_STORAGE_NAME", "LOG_ANALYTICS_NAME")
INF_CONFIG_KEYS = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_APP_NAME",
                   "ACA_APP_ENDPOINT", "LOCATION", "ACA_ENVIRONMENT_NAME", "ACA_ENVIRONMENT_STORAGE_NAME",
                   "LOG_ANALYTICS_NAME")


def _teardown_context(backend, on_event: EventSink) -> Optional[Context]:
    project = backend.project
    ft, inf, state = project.finetuning_config(), project.inference_config(), project.state()
    sub = ft.get("SUBSCRIPTION_ID") or inf.get("SUBSCRIPTION_ID") or state.get("subscription_id")
    rg = ft.get("RESOURCE_GROUP_NAME") or inf.get("RESOURCE_GROUP_NAME") or state.get("resource_group")
    if not sub or not rg:
        return None
    params = dict(project.parameters("finetuning"))
    names = resolve_names(sub, rg, project.name, parameters=params, saved=_saved_names(project, sub, rg))
    settings = R.Settings(kind="finetuning", subscription_id=sub, resource_group=rg,
                          location=ft.get("LOCATION") or state.get("location") or "", names=names, project=project.name)
    return Context(backend=backend, session=_session_for(backend, sub), settings=settings, emit=_serialized(on_event))


def _ours(ctx: Context, step: str, actual: dict, created: dict) -> bool:
    if R.resource_id(ctx.settings, step).lower() in created:
        return True
    tags = actual.get("tags") or {}
    return tags.get(R.TAG_CREATED_BY) == "ftstudio" and tags.get(R.TAG_PROJECT) == ctx.settings.project


def teardown(backend, *, on_event: EventSink = ignore) -> list[str]:
    """Delete what provision created (app, job, environment storage, environment, workspace,
    storage account; the resource group only if ftstudio created it and it is empty). Resources
    that existed before are kept, and said so. Clears the config keys."""
    ctx = _teardown_context(backend, on_event)
    if ctx is None:
        on_event(Info("nothing to delete: the project has no provisioned Azure resources"))
        return []
    s, n, session = ctx.settings, ctx.names, ctx.session
    created = dict(ctx.project.state().get(STATE_CREATED) or {})
    deleted: list[str] = []
    ac, st, la = session.appcontainers, session.storage, session.loganalytics
    deleters = {
        "app": lambda: ac.container_apps.begin_delete(s.resource_group, n.app).result(),
        "job": lambda: ac.jobs.begin_delete(s.resource_group, n.job).result(),
        "envstorage": lambda: ac.managed_environments_storages.delete(s.resource_group, n.environment, n.envstorage),
        "environment": lambda: ac.managed_environments.begin_delete(s.resource_group, n.environment).result(),
        "workspace": lambda: la.workspaces.begin_delete(s.resource_group, n.workspace).result(),
        "share": lambda: st.file_shares.delete(s.resource_group, n.storage, n.share),
        "storage": lambda: st.storage_accounts.delete(s.resource_group, n.storage),
    }
    # children go with their parent when the parent is deleted
    env, account = read(ctx, "environment"), read(ctx, "storage")
    env_ours = env is not None and _ours(ctx, "environment", env, created)
    account_ours = account is not None and _ours(ctx, "storage", account, created)
    for step in ("app", "job", "envstorage", "environment", "workspace", "share", "storage"):
        if (step == "envstorage" and env_ours) or (step == "share" and account_ours):
            continue
        known = {"environment": env, "storage": account}
        actual = known[step] if step in known else read(ctx, step)
        if actual is None:
            continue
        if step in ("envstorage", "share"):
            mine = R.resource_id(s, step).lower() in created
        else:
            mine = _ours(ctx, step, actual, created)
        if not mine:
            ctx.emit(Info(f"kept {R.title(s, step)}: it existed before ftstudio provisioned this project"))
            continue
        _run_step(ctx, step, lambda fn=deleters[step]: _delete(fn))
        deleted.append(R.resource_name(s, step))
    _teardown_resource_group(ctx, deleted)
    _clear_config(ctx.project)
    return deleted


def _delete(fn: Callable[[], Any]) -> tuple:
    fn()
    return "deleted", {}


def _teardown_resource_group(ctx: Context, deleted: list) -> None:
    s = ctx.settings
    project = ctx.project
    rg_title = R.title(s, "resource_group")
    if read(ctx, "resource_group") is None:  # already gone (a second `down`): nothing to keep or say
        project.update_state(**{STATE_CREATED_RG: None})
        return
    if (project.state().get(STATE_CREATED_RG) or "").lower() != s.resource_group.lower():
        ctx.emit(Info(f"kept {rg_title}: ftstudio did not create it"))
        return
    left = list(ctx.session.resources.resources.list_by_resource_group(s.resource_group))
    if left:
        ctx.emit(Info(f"kept {rg_title}: it still holds {len(left)} resource(s)"))
        return
    _run_step(ctx, "resource_group",
              lambda: _delete(lambda: ctx.session.resources.resource_groups.begin_delete(s.resource_group).result()))
    deleted.append(s.resource_group)
    project.update_state(**{STATE_CREATED_RG: None})


def _clear_config(project) -> None:
    if any(project.finetuning_config().get(k) for k in FT_CONFIG_KEYS):
        project.update_finetuning_config(**{k: None for k in FT_CONFIG_KEYS})
    if any(project.inference_config().get(k) for k in INF_CONFIG_KEYS):
        project.update_inference_config(**{k: None for k in INF_CONFIG_KEYS})
    project.update_state(**{STATE_CREATED: None})
