"""Desired vs actual: which properties of a resource differ (old -> new).

Only what ftstudio sets is compared (Azure adds defaults and read-only values to what it returns);
write-only values (keys, secret values) are never compared; list items are matched by their key
(containers and env vars by name, probes by type...) so Azure's ordering does not matter and
items someone else added (e.g. secret env vars) are left alone.
"""
from __future__ import annotations

from typing import Any

from core.models import PlannedChange

UNKNOWN = "(known after apply)"
KEYED_LISTS = {
    "containers": "name",
    "env": "name",
    "workloadProfiles": "name",
    "probes": "type",
    "volumes": "name",
    "volumeMounts": "volumeName",
    "secrets": "name",
}
# enum-like values Azure may echo in another case
CASELESS = {"transport", "triggerType", "storageType", "accessMode", "type", "destination", "minimumTlsVersion",
            "workloadProfileType", "activeRevisionsMode", "kind", "largeFileSharesState", "scheme", "sku.name"}


def diff(desired: Any, actual: Any, *, ignore: frozenset | set = frozenset(), path: str = "") -> dict:
    """{dotted path: [old, new]} for every value in ``desired`` that ``actual`` does not have."""
    out: dict = {}
    if path in ignore:
        return out
    if isinstance(desired, dict):
        have = actual if isinstance(actual, dict) else {}
        for key, value in desired.items():
            out.update(diff(value, have.get(key), ignore=ignore, path=f"{path}.{key}" if path else key))
        return out
    last = path.rsplit(".", 1)[-1]
    if isinstance(desired, list) and last in KEYED_LISTS and all(isinstance(x, dict) for x in desired):
        key = KEYED_LISTS[last]
        have = {str(x.get(key)).lower(): x for x in (actual or []) if isinstance(x, dict)}
        for item in desired:
            sub = f"{path}[{item.get(key)}]"
            old = have.get(str(item.get(key)).lower())
            if old is None:
                out[sub] = [None, item]
            else:
                out.update(diff(item, old, ignore=ignore, path=sub))
        return out
    if not _same(desired, actual, path):
        out[path] = [actual, desired]
    return out


def _same(desired: Any, actual: Any, path: str) -> bool:
    if desired == UNKNOWN:
        return False
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual or (desired == actual and type(desired) is type(actual))
    if isinstance(desired, (int, float)) and isinstance(actual, (int, float)):
        return float(desired) == float(actual)
    if isinstance(desired, str) and isinstance(actual, str):
        tail = path.rsplit(".", 1)[-1]
        if tail in CASELESS or path.endswith("sku.name"):
            return desired.lower() == actual.lower()
    return desired == actual


FAILED_STATES = {"failed", "canceled", "upgradefailed"}


def changes_of(desired: Any, actual: dict, *, ignore: set) -> dict:
    """The property changes, plus a re-apply of a resource whose last operation failed."""
    out = diff(desired, actual, ignore=ignore)
    state = str((actual.get("properties") or {}).get("provisioningState") or "")
    if state.lower() in FAILED_STATES:
        out["properties.provisioningState"] = [state, "Succeeded"]
    return out


def render(changes: list[PlannedChange]) -> str:
    """People's view of a preview: one line per resource, one indented line per changed property."""
    lines = []
    marks = {"create": "+", "update": "~", "unchanged": "=", "delete": "-", "register": "+"}
    for c in changes:
        lines.append(f"{marks.get(c.action, '?')} {c.resource:<12} {c.name:<28} {c.action}")
        for prop, (old, new) in c.changes.items():
            lines.append(f"      {prop}: {_short(old)} -> {_short(new)}")
    counts = {a: sum(1 for c in changes if c.action == a) for a in ("create", "update", "unchanged", "register")}
    summary = ", ".join(f"{n} to {a}" if a != "unchanged" else f"{n} unchanged" for a, n in counts.items() if n)
    lines.append(f"Preview only, nothing changed: {summary or 'no resources'}.")
    return "\n".join(lines)


def _short(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
