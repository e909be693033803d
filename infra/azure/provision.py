"""Provision (plan / apply) and tear down the Azure resources of a project, through the SDKs.

The resources are the records of ``resources.py``; this module resolves the inputs, names and
settings, runs the preflight checks, previews (``plan``) or applies (``provision``, via
``apply.py``) the records of a provisioning kind, and writes the config file. Teardown is
``teardown.py``.
"""
from __future__ import annotations

import dataclasses

from core import project_files
from core import azure_facts as spec
from core.errors import InputError, MissingInputs
from core.events import EventSink, ignore
from core.models import PlannedChange
from infra.azure import preflight, resources as R
from infra.azure.apply import apply_all, planned
from infra.azure.inputs import HOW
from infra.azure.names import resolve_names
from infra.azure.provision_context import Context, config_of, serialized, session_for
from infra.azure.resource_writes import check_environment_gpu
from infra.azure.teardown import teardown  # noqa: F401 - `provision.teardown`, with plan and provision

PARAM_FILES = {kind: f.rel for kind, f in project_files.PARAMETERS.items()}
CONFIG_FILES = {"finetuning": project_files.FINETUNING_CONFIG.rel, "inference": project_files.INFERENCE_CONFIG.rel}
normalize_kind = project_files.normalize_kind  # one rule for every front end and backend


# -- inputs, names, settings ---------------------------------------------------------------------------------
def _inputs(backend, kind: str, params: dict):
    from infra.azure.inputs import SessionDirectory, resolve_inputs

    return resolve_inputs(backend.project, parameters=params, ask=None,
                          directory=lambda: SessionDirectory(backend.session_for, params.get("gpuProfileType")))


def prepare(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> Context:
    """Resolve inputs, names and settings; validates everything local before any call."""
    kind = normalize_kind(kind)
    project = backend.project
    ft = project.parameters("finetuning")
    own = project.parameters(kind) if kind == "inference" else ft
    if kind == "inference" and not project.path(PARAM_FILES["inference"]).is_file():
        raise InputError(f"{PARAM_FILES['inference']} is missing.", field=PARAM_FILES["inference"],
                         fix="regenerate the project or add the file (defaultCommands, maximumInstanceCount)")
    inputs = inputs or backend.inputs or _inputs(backend, kind, own if own.get("location") else ft)
    # names: the inference parameters may name other resources; otherwise it shares fine-tuning's
    name_params = dict(ft)
    if kind == "inference":
        name_params.update({k: v for k, v in own.items() if v not in (None, "")})
    names = resolve_names(inputs.subscription_id, inputs.resource_group, project.name, parameters=name_params,
                          saved=R.saved_names(project, inputs.subscription_id, inputs.resource_group))
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
    return Context(backend=backend, session=session_for(backend, inputs.subscription_id), settings=settings,
                   emit=serialized(on_event))


# -- preflight -------------------------------------------------------------------------------------------------
def run_preflight(ctx: Context, *, apply: bool) -> list[PlannedChange]:
    """Checks before anything is created. Returns provider registrations a preview would do."""
    s = ctx.settings
    planned_changes: list[PlannedChange] = []
    missing = preflight.unregistered_providers(ctx.session)
    if missing:
        if apply:
            preflight.register_providers(ctx.session, missing, on_event=ctx.emit)
        else:
            planned_changes += [PlannedChange("provider", ns, "register") for ns in missing]
    env = R.record("environment").read(ctx)
    check_environment_gpu(ctx, env)
    location = (env or {}).get("location") or s.location
    if env is None:
        preflight.check_gpu_profile(ctx.session, location, s.gpu_profile)
    needs = preflight.model_needs(ctx.project)
    preflight.check_quota(ctx.session, location, s.gpu_profile, needs.gpus, on_event=ctx.emit)
    ours = R.record("storage").read(ctx) is not None
    preflight.check_storage_name(ctx.session, s.names.storage, ours=ours)
    preflight.check_model_access(needs, on_event=ctx.emit)
    return planned_changes


# -- plan (preview) ----------------------------------------------------------------------------------------------
def plan(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> list[PlannedChange]:
    """What provision would do, per resource; sends no write (GETs and read-only checks only)."""
    ctx = prepare(backend, kind, on_event=on_event, inputs=inputs)
    out = run_preflight(ctx, apply=False)
    records = R.records_for(ctx.settings.kind)
    scope = {rec.step: rec.read(ctx) for rec in records if rec.scope}
    actual: dict = {}
    for rec in records:  # nothing exists under a resource group that does not
        actual[rec.step] = scope[rec.step] if rec.scope else (rec.read(ctx) if None not in scope.values() else None)
        if rec.learn:
            rec.learn(ctx, actual[rec.step] or {})
    return out + [planned(ctx, rec, actual[rec.step]) for rec in records]


# -- apply --------------------------------------------------------------------------------------------------------
def provision(backend, kind: str, *, on_event: EventSink = ignore, inputs=None) -> dict:
    ctx = prepare(backend, kind, on_event=on_event, inputs=inputs)
    run_preflight(ctx, apply=True)
    s = ctx.settings
    records = R.records_for(s.kind)
    apply_all(ctx, records)
    config = _write_config(ctx, records)
    resources = []
    for rec in records:
        r = ctx.results.get(rec.step, {})
        resources.append({"resource": rec.step, "name": rec.name_of(s), "result": r.get("result"),
                          "changes": r.get("changes") or {}, "id": rec.resource_id(s), "link": rec.portal_link(s)})
    out = {"kind": s.kind, "subscription_id": s.subscription_id, "resource_group": s.resource_group,
           "location": s.location, "resources": resources, "config_file": CONFIG_FILES[s.kind], "config": config}
    if s.kind == "inference":
        out["endpoint"] = ctx.endpoint
    return out


def _write_config(ctx: Context, records: tuple) -> dict:
    """The records' config keys, and the container's default commands unless the file has some."""
    s = ctx.settings
    read, update = config_of(ctx.project, s.kind)
    values: dict = {}
    for rec in records:
        values.update(rec.config(ctx))
    commands = read().get("COMMANDS")
    if s.kind == "finetuning" or not commands:
        values["COMMANDS"] = commands or list(s.commands)
    update(**values)
    return values
