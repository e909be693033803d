"""``ftstudio down``: delete what provision created, the records of ``resources.py`` backwards.

A resource is deleted only when provision created it (its id in the state's ``created_resources``)
or it carries our tags; the resource group only when ftstudio created it and it is empty. What
existed before is kept, and said so. Then the config keys provision wrote are cleared.
"""
from __future__ import annotations

from typing import Optional

from core.events import EventSink, Info, ignore
from core.project_files import PROVISION_KINDS
from infra.azure import resources as R
from infra.azure.apply import run_step
from infra.azure.names import resolve_names
from infra.azure.provision_context import (
    STATE_CREATED, STATE_CREATED_RG, Context, config_of, serialized, session_for,
)


def _context(backend, on_event: EventSink) -> Optional[Context]:
    project = backend.project
    ft, inf, state = project.finetuning_config(), project.inference_config(), project.state()
    sub = ft.get(R.SUBSCRIPTION_KEY) or inf.get(R.SUBSCRIPTION_KEY) or state.get("subscription_id")
    rg = ft.get(R.RESOURCE_GROUP_KEY) or inf.get(R.RESOURCE_GROUP_KEY) or state.get("resource_group")
    if not sub or not rg:
        return None
    params = dict(project.parameters("finetuning"))
    names = resolve_names(sub, rg, project.name, parameters=params, saved=R.saved_names(project, sub, rg))
    settings = R.Settings(kind="finetuning", subscription_id=sub, resource_group=rg,
                          location=ft.get(R.LOCATION_KEY) or state.get("location") or "", names=names,
                          project=project.name)
    return Context(backend=backend, session=session_for(backend, sub), settings=settings, emit=serialized(on_event))


def _ours(ctx: Context, rec: R.ResourceKind, actual: dict, created: dict) -> bool:
    if rec.resource_id(ctx.settings).lower() in created:
        return True
    tags = actual.get("tags") or {}  # children carry no tags: only the state can say they are ours
    return tags.get(R.TAG_CREATED_BY) == "ftstudio" and tags.get(R.TAG_PROJECT) == ctx.settings.project


def _delete(ctx: Context, rec: R.ResourceKind) -> tuple:
    rec.delete(ctx)
    return "deleted", {}


def teardown(backend, *, on_event: EventSink = ignore) -> list[str]:
    """Delete what provision created (app, job, environment storage, environment, workspace,
    storage account; the resource group only if ftstudio created it and it is empty). Resources
    that existed before are kept, and said so. Clears the config keys."""
    ctx = _context(backend, on_event)
    if ctx is None:
        on_event(Info("nothing to delete: the project has no provisioned Azure resources"))
        return []
    s = ctx.settings
    created = dict(ctx.project.state().get(STATE_CREATED) or {})
    deleted: list[str] = []
    # children go with their parent when the parent is deleted: read the parents first
    parents = {rec.parent for rec in R.RECORDS if rec.parent}
    known = {step: R.record(step).read(ctx) for step in parents}
    parent_ours = {step: actual is not None and _ours(ctx, R.record(step), actual, created)
                   for step, actual in known.items()}
    for rec in reversed(R.RECORDS):
        if rec.scope:
            _teardown_scope(ctx, rec, deleted)
            continue
        if rec.delete is None or (rec.parent and parent_ours[rec.parent]):
            continue
        actual = known[rec.step] if rec.step in known else rec.read(ctx)
        if actual is None:
            continue
        if not _ours(ctx, rec, actual, created):
            ctx.emit(Info(f"kept {rec.title_of(s)}: it existed before ftstudio provisioned this project"))
            continue
        run_step(ctx, rec, lambda rec=rec: _delete(ctx, rec))
        deleted.append(rec.name_of(s))
    _clear_config(ctx.project)
    return deleted


def _teardown_scope(ctx: Context, rec: R.ResourceKind, deleted: list) -> None:
    s, project = ctx.settings, ctx.project
    title = rec.title_of(s)
    if rec.read(ctx) is None:  # already gone (a second `down`): nothing to keep or say
        project.update_state(**{STATE_CREATED_RG: None})
        return
    if (project.state().get(STATE_CREATED_RG) or "").lower() != s.resource_group.lower():
        ctx.emit(Info(f"kept {title}: ftstudio did not create it"))
        return
    left = list(ctx.session.resources.resources.list_by_resource_group(s.resource_group))
    if left:
        ctx.emit(Info(f"kept {title}: it still holds {len(left)} resource(s)"))
        return
    run_step(ctx, rec, lambda: _delete(ctx, rec))
    deleted.append(rec.name_of(s))
    project.update_state(**{STATE_CREATED_RG: None})


def _clear_config(project) -> None:
    for kind in PROVISION_KINDS:
        keys = R.config_keys(kind)
        read, update = config_of(project, kind)
        if any(read().get(k) for k in keys):
            update(**{k: None for k in keys})
    project.update_state(**{STATE_CREATED: None})
