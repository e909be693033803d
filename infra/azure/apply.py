"""Apply the records of ``resources.py``: read each resource, diff it with its desired body, then
create it, update it or leave it (a re-run with nothing changed sends no write; a run that failed
half-way resumes where it stopped), in dependency order with independent records in parallel.

Every step is an event (StepStarted / StepFinished / StepFailed) and is retried as a whole on
throttling and 5xx, on top of azure-core's own retries.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Optional

from core.errors import FtError, OperationFailed
from core.events import Info, StepFailed, StepFinished, StepStarted
from core.models import PlannedChange
from infra.azure.plan import changes_of
from infra.azure.provision_context import STATE_CREATED, Context
from infra.azure.resources import ResourceKind

STEP_ATTEMPTS = 5  # whole-step retries on throttling / 5xx, on top of azure-core's own
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


# -- one step: events and retries -------------------------------------------------------------------------
def _retry_delay(ctx: Context, attempt: int) -> float:
    interval = ctx.session.polling_interval
    base = 2.0 if interval is None else max(0.01, interval)
    return min(60.0, base * (2 ** attempt))


def _transient(exc: BaseException) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in RETRY_STATUSES


def azure_message(exc) -> str:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    message = getattr(err, "message", None) or getattr(exc, "message", None) or str(exc)
    message = " ".join(str(message).split())
    return f"{code}: {message}" if code else message


def run_step(ctx: Context, rec: ResourceKind, fn: Callable[[], tuple]) -> None:
    """Run one idempotent step (``fn`` returns (result, changes)) with events and bounded retries."""
    from azure.core.exceptions import AzureError

    s = ctx.settings
    step, title, link = rec.step, rec.title_of(s), rec.portal_link(s)
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
                ctx.emit(Info(f"{title}: Azure answered {azure_message(exc)}; retrying"))
                time.sleep(_retry_delay(ctx, attempt))
                attempt += 1
                continue
            err = OperationFailed(
                f"{title} failed: {azure_message(exc)}",
                fix="fix the cause and run `ftstudio provision` again: what was created is kept and reused",
                code=str(getattr(getattr(exc, "error", None), "code", None) or "ProvisioningFailed"),
            )
            ctx.emit(StepFailed(step, title, err.one_line(), link))
            raise err from None
    with ctx.lock:
        ctx.results[step] = {"result": result, "changes": changes}
    detail = result if not changes else f"{result}: {', '.join(sorted(changes))}"
    ctx.emit(StepFinished(step, title, detail, link))


# -- read, diff, write ----------------------------------------------------------------------------------------
def changes(rec: ResourceKind, want: Optional[dict], actual: dict) -> dict:
    """What apply would change on an existing resource: the body diff and what it cannot see."""
    if want is None:
        return {}  # only its existence matters
    out = changes_of(want, actual, ignore=rec.ignore)
    return {**out, **rec.drift(actual)} if rec.drift else out


def planned(ctx: Context, rec: ResourceKind, actual: Optional[dict]) -> PlannedChange:
    """The preview of one record, from what a read returned."""
    s = ctx.settings
    name, link = rec.name_of(s), rec.portal_link(s)
    if actual is None:
        return PlannedChange(rec.step, name, "create", {}, link)
    diff = changes(rec, rec.desired(ctx) if rec.desired else None, actual)
    return PlannedChange(rec.step, name, "update" if diff else "unchanged", diff, link)


def record_created(ctx: Context, rec: ResourceKind) -> None:
    """Teardown deletes only what provision created: remember its id in the project's state."""
    with ctx.lock:
        created = dict(ctx.project.state().get(STATE_CREATED) or {})
        created[rec.resource_id(ctx.settings).lower()] = rec.step
        ctx.project.update_state(**{STATE_CREATED: created})


def apply_record(ctx: Context, rec: ResourceKind) -> tuple:
    """Read, diff, then create / update / nothing; (result, changes)."""
    actual = rec.read(ctx)
    if rec.check:
        rec.check(ctx, actual)
    want = rec.desired(ctx) if rec.desired else None
    if actual is None and rec.create is not None:
        rec.create(ctx, want)
        if not rec.scope:  # the resource group has a state key of its own
            record_created(ctx, rec)
        result: tuple = ("created", {})
    else:
        actual = actual or {}  # one that comes with its parent is only ever updated
        diff = changes(rec, want, actual)
        if diff:
            rec.update(ctx, want, actual)
        result = ("updated", diff) if diff else ("unchanged", {})
    if rec.learn:
        rec.learn(ctx, rec.read(ctx) or {})
    return result


def apply_all(ctx: Context, records: tuple) -> None:
    """Apply ``records``, each once the records in its ``after`` are done, independent ones in
    parallel. A failure stops what depends on it; the others finish; then the first failure (in
    record order) is raised."""
    steps = {rec.step for rec in records}
    needs = {rec.step: [d for d in rec.after if d in steps] for rec in records}
    done: set = set()
    failed: dict = {}
    pending = list(records)
    running: dict = {}
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        while pending or running:
            for rec in [r for r in pending if all(d in done for d in needs[r.step])]:
                pending.remove(rec)
                running[pool.submit(run_step, ctx, rec, lambda rec=rec: apply_record(ctx, rec))] = rec.step
            # what waits on a failure never starts
            pending = [r for r in pending if not _blocked(r.step, needs, failed)]
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                if future.exception() is not None:
                    failed[step] = future.exception()
                else:
                    done.add(step)
    for rec in records:
        if rec.step in failed:
            raise failed[rec.step]
    if pending:  # an `after` cycle: a mistake in RECORDS
        raise RuntimeError(f"records wait on each other: {[r.step for r in pending]}")


def _blocked(step: str, needs: dict, failed: dict) -> bool:
    return any(d in failed or _blocked(d, needs, failed) for d in needs[step])
