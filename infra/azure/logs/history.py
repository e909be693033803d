"""Log history from Log Analytics (azure-wire-facts §6): the queries of a job execution's or the
inference app's console lines and system events, and the shapes that make their rows compare
equal to the live stream's lines (so the dedupe can drop a replay of either over the other)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from core.errors import InputError, OperationFailed
from infra.azure.secrets import Target, call, describe_error, read_resource
from infra.logstream import parse_timestamp

CONSOLE_TABLE = "ContainerAppConsoleLogs_CL"
SYSTEM_TABLE = "ContainerAppSystemLogs_CL"
_EVENT_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.\d+)?\s*(?:([+-]\d\d):?(\d\d)|Z)?(?:\s*UTC)?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- the queries ------------------------------------------------------------------------------------
def kql_name(value: str, field: str) -> str:
    """A resource name safe to put inside a KQL string literal."""
    if not _SAFE_NAME.match(value or ""):
        raise InputError(f"{value!r} is not a valid resource name.", field=field, fix="fix the project's config file")
    return value


def job_kql(job: str, execution: str, *, system: bool) -> str:
    job, ex = kql_name(job, "ACA_JOB_NAME"), kql_name(execution, "--execution")
    if system:
        return (f"{SYSTEM_TABLE} | where JobName_s == '{job}' and ExecutionName_s == '{ex}'"
                " | project TimeGenerated, Log_s, Reason_s, Type_s, ReplicaName_s | order by TimeGenerated asc")
    # ContainerGroupName_s of a job's line is <execution>-<replica>
    return (f"{CONSOLE_TABLE} | where ContainerJobName_s == '{job}' and ContainerGroupName_s startswith '{ex}'"
            " | project TimeGenerated, Log_s, ContainerGroupName_s | order by TimeGenerated asc")


def app_kql(app: str, *, system: bool) -> str:
    app = kql_name(app, "ACA_APP_NAME")
    if system:
        return (f"{SYSTEM_TABLE} | where ContainerAppName_s == '{app}'"
                " | project TimeGenerated, Log_s, Reason_s, Type_s, RevisionName_s, ReplicaName_s"
                " | order by TimeGenerated asc")
    return (f"{CONSOLE_TABLE} | where ContainerAppName_s == '{app}'"
            " | project TimeGenerated, Log_s, ContainerGroupName_s, RevisionName_s | order by TimeGenerated asc")


def _customer_id(backend, t: Target) -> str:
    """The workspace GUID: from LOG_ANALYTICS_NAME, else from the environment's log configuration."""
    cached = backend.log_caches.customer_id
    if cached:
        return cached
    cid = None
    if t.workspace:
        ws = call(f"read Log Analytics workspace {t.workspace}", backend.session.loganalytics.workspaces.get,
                  t.resource_group, t.workspace)
        cid = (ws.as_dict().get("properties") or {}).get("customerId")
    if not cid:
        props = read_resource(backend, t).get("properties") or {}
        env_id = props.get("environmentId") or props.get("managedEnvironmentId") or ""
        parts = env_id.strip("/").split("/")
        if len(parts) >= 8:
            env = call("read the Container Apps environment", backend.session.appcontainers.managed_environments.get,
                       parts[3], parts[7]).as_dict()
            cid = (((env.get("properties") or {}).get("appLogsConfiguration") or {})
                   .get("logAnalyticsConfiguration") or {}).get("customerId")
    if not cid:
        raise OperationFailed(f"No Log Analytics workspace is connected to the {t.label}, so there is no log history.",
                              fix="set LOG_ANALYTICS_NAME in infra/finetuning.config.json, or re-run `ftstudio provision`")
    backend.log_caches.customer_id = cid
    return cid


def query(backend, t: Target, kql: str, timespan) -> list[dict]:
    """Rows of the first result table as dicts, in the query's order. A table that does not exist
    yet (a workspace that never received a line) is no rows, not an error."""
    from azure.core.exceptions import HttpResponseError
    from azure.monitor.query import LogsQueryStatus

    cid = _customer_id(backend, t)
    error = None
    try:
        result = backend.session.logs_query.query_workspace(cid, kql, timespan=timespan)
    except HttpResponseError as exc:
        if "resolve table" in str(exc):
            return []
        error = OperationFailed(f"Could not query Log Analytics: {describe_error(exc)}")
    if error is not None:
        raise error
    tables = result.tables if result.status == LogsQueryStatus.SUCCESS else (result.partial_data or [])
    if not tables:
        return []
    cols = list(tables[0].columns)
    return [dict(zip(cols, row)) for row in tables[0].rows]


# -- rows and lines in one shape ---------------------------------------------------------------------
def iso(value) -> Optional[str]:
    """LogLine.timestamp: the stream's own text, or a Log Analytics datetime in the same shape."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return str(value)


def second(value) -> Optional[str]:
    """A time at whole seconds: system events carry only seconds, Log Analytics has microseconds."""
    if value is None:
        return None
    if isinstance(value, str):
        m = _EVENT_TIME.match(value.strip())
        if m:
            date, clock, hh, mm = m.groups()
            dt = parse_timestamp(f"{date}T{clock}" + (f"{hh}:{mm}" if hh else "+00:00"))
        else:
            dt = parse_timestamp(value)
        if dt is None:
            return value
        value = dt
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_text(reason: str, message: str) -> str:
    message = (message or "").rstrip("\r\n")
    return f"{reason}: {message}" if reason and not message.startswith(reason) else message
