"""Resource names: taken from the parameters files when set, else derived deterministically; and
validated against Azure's naming rules BEFORE any call (a bad name is one InputError, no request).

Derived names are AI Toolkit's prefixes (``core.azure_facts``) plus the suffix the generated bicep
computes, ``substring(uniqueString(toLower(subscription().subscriptionId), toLower(resourceGroup().name),
toLower(projectName)), 0, 5)``, evaluated here with ARM's exact ``uniqueString`` (``uniquestring.py``):
a bicep deployment and an SDK run name the same resources, and a second run finds them again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Optional

from core.errors import InputError
from core.azure_facts import PROJECT_NAME_PARAMETER as PROJECT_PARAMETER

# parameters-file name -> our field (same keys in finetuning and inference parameters files)
PARAMETER_FIELDS = {
    "storageAccountName": "storage",
    "fileShareName": "share",
    "acaLogAnalyticsName": "workspace",
    "acaEnvironmentName": "environment",
    "acaEnvironmentStorageName": "envstorage",
    "acaJobName": "job",
    "acaAppName": "app",
}
FIELD_PARAMETERS = {v: k for k, v in PARAMETER_FIELDS.items()}


@dataclass(frozen=True)
class ResourceNames:
    storage: str
    share: str
    workspace: str
    environment: str
    envstorage: str
    job: str
    app: str

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def suffix(subscription_id: str, resource_group: str, project: str) -> str:
    """The bicep's ``resourceSuffix``: lowercased inputs (ARM names and ids are case-insensitive, and
    uniqueString is not), so ``--resource-group MyRG`` and an RG stored as ``myrg`` agree."""
    from infra.azure.uniquestring import unique_string
    from core import azure_facts as azure_spec

    value = unique_string(subscription_id.lower(), resource_group.lower(), project.lower())
    return value[:azure_spec.RESOURCE_SUFFIX_LENGTH]


def derive(subscription_id: str, resource_group: str, project: str) -> dict:
    """{field: name}: AI Toolkit's prefixes (the shared spec the bicep renders from) + the bicep's suffix."""
    from core import azure_facts as azure_spec

    sfx = suffix(subscription_id, resource_group, project)
    return {PARAMETER_FIELDS[param]: prefix + sfx for param, prefix in azure_spec.NAME_PREFIXES.items()}


def resolve_names(
    subscription_id: str,
    resource_group: str,
    project: str,
    *,
    parameters: Optional[dict] = None,
    saved: Optional[dict] = None,
) -> ResourceNames:
    """Parameters file > names saved by an earlier provision (``saved``: field -> name) > derived.

    Derived names hash the parameters file's ``projectName`` when it has one (what the bicep hashes),
    else ``project``. Every name is validated; the first bad one raises InputError naming its parameter.
    """
    parameters = parameters or {}
    saved = saved or {}
    hashed = parameters.get(PROJECT_PARAMETER)
    if hashed in (None, ""):
        hashed = project
    if not isinstance(hashed, str):
        raise InputError(f"{PROJECT_PARAMETER} in the parameters file must be a string, not {type(hashed).__name__}.",
                         field=PROJECT_PARAMETER, fix=f"set {PROJECT_PARAMETER} to the project's name")
    derived = derive(subscription_id, resource_group, hashed)
    chosen = {}
    for field, param in FIELD_PARAMETERS.items():
        value = parameters.get(param)
        if value in (None, ""):
            value = saved.get(field) or derived[field]
        if not isinstance(value, str):
            raise InputError(
                f"{param} in the parameters file must be a string, not {type(value).__name__}.",
                field=param,
                fix=f"set {param} to a name or to null",
            )
        validate(field, value.strip())
        chosen[field] = value.strip()
    return ResourceNames(**chosen)


# -- Azure's naming rules ------------------------------------------------------------------------
_STORAGE = re.compile(r"^[a-z0-9]{3,24}$")
_SHARE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_ACA = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$")

RULES = {
    "storage": (_STORAGE, "3-24 characters, lowercase letters and digits only"),
    "share": (_SHARE, "3-63 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit"),
    "environment": (_ACA, "2-32 characters: lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'"),
    "envstorage": (_ACA, "2-32 characters: lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'"),
    "job": (_ACA, "2-32 characters: lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'"),
    "app": (_ACA, "2-32 characters: lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'"),
    "workspace": (_WORKSPACE, "4-63 characters: letters, digits and hyphens, starting and ending with a letter or digit"),
}


# ARM: 1-90 characters of letters, digits, '_', '-', '.', '(' and ')'; it cannot end with a period.
_RESOURCE_GROUP = re.compile(r"^[\w\-.()]{0,89}[\w\-()]$")


def validate_resource_group(value: str, field: str = "--resource-group") -> str:
    """Raise InputError before any call when a resource group name breaks ARM's rule."""
    if not _RESOURCE_GROUP.match(value or ""):
        raise InputError(
            f"{value!r} is not a valid resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', "
            "not ending with '.'.",
            field=field,
            fix="choose another name (e.g. rg-ftstudio)",
        )
    return value


def validate(field: str, value: str) -> str:
    """Raise InputError (naming the parameters-file key and the rule) when ``value`` breaks Azure's rule."""
    rx, rule = RULES[field]
    ok = bool(rx.match(value))
    if ok and field in ("environment", "envstorage", "job", "app") and "--" in value:
        ok = False
    if not ok:
        param = FIELD_PARAMETERS[field]
        raise InputError(
            f"{param} {value!r} is not a valid Azure name: {rule}.",
            field=param,
            fix=f"change {param} in infra/provision/*.parameters.json (or set it to null for a generated name)",
        )
    return value
