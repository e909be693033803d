"""Secrets of the fine-tuning job (or the inference app), exposed as env vars in every container.

``HF_TOKEN`` is stored as the Container Apps secret ``hf-token`` (secret names are lowercase) and
every container (init containers too) gets ``{"name": "HF_TOKEN", "secretRef": "hf-token"}``.

Azure returns secret names without values, and a PATCH carrying ``configuration.secrets`` replaces
the whole list (azure-wire-facts §11): so each change reads the current values with
``listSecrets`` and sends them all back, with the containers' env, in one PATCH; everything else
in the template is sent back as it was.

Values never leave this module except through ``secret_get``'s return value: SDK errors are
turned into one line with every known secret value masked, raised outside the ``except`` block
so no traceback chains back to an exception (or HTTP body) that held one.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Callable, Optional

from core.errors import InputError, OperationFailed
from infra.redact import MIN_LENGTH, Redactor
from infra.secret_rules import check_name, check_value

SECRET_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SECRET_NAME = 253
# Properties Azure computes; sent back they are at best ignored.
_READ_ONLY_CONFIG = {"ingress": ("fqdn",)}


# -- which resource ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """The job or the inference app of a project (from its config files)."""

    kind: str  # "job" | "app"
    subscription_id: str
    resource_group: str
    name: str
    environment: Optional[str] = None
    workspace: Optional[str] = None
    location: Optional[str] = None

    @property
    def label(self) -> str:
        return f"{'job' if self.kind == 'job' else 'inference app'} {self.name}"

    @property
    def record(self):
        """Its record in ``resources.py`` (``kind`` is the record's step)."""
        from infra.azure.resources import record

        return record(self.kind)

    @property
    def config_key(self) -> str:
        return self.record.config_key

    @property
    def resource_id(self) -> str:
        return self.record.id_for(self.subscription_id, self.resource_group, **{self.record.name_field: self.name})


def target(backend, inference: bool = False) -> Target:
    from infra.azure.resources import record

    ft = backend.project.finetuning_config()
    cfg = backend.project.inference_config() if inference else ft
    where = "infra/inference.config.json" if inference else "infra/finetuning.config.json"
    fix = f"run `ftstudio provision {'inference' if inference else 'finetune'}` first (it writes {where})"
    kind = "app" if inference else "job"
    key = record(kind).config_key
    name = cfg.get(key)
    rg = cfg.get("RESOURCE_GROUP_NAME") or ft.get("RESOURCE_GROUP_NAME")
    for k, v in ((key, name), ("RESOURCE_GROUP_NAME", rg)):
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"{where} has no {k}: the {'inference app' if inference else 'fine-tuning job'} "
                             "is not provisioned.", field=k, fix=fix)
    sub = cfg.get("SUBSCRIPTION_ID") or backend.subscription_id
    if not sub:
        raise InputError(f"{where} has no SUBSCRIPTION_ID.", field="SUBSCRIPTION_ID", fix=fix)
    return Target(kind, sub, rg.strip(), name.strip(),
                  environment=ft.get("ACA_ENVIRONMENT_NAME") or cfg.get("ACA_ENVIRONMENT_NAME"),
                  workspace=ft.get("LOG_ANALYTICS_NAME") or cfg.get("LOG_ANALYTICS_NAME"),
                  location=ft.get("LOCATION") or cfg.get("LOCATION"))


# -- names -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SecretName:
    env: str  # HF_TOKEN: what the containers see
    secret: str  # hf-token: what Container Apps stores


def secret_name(name: str) -> SecretName:
    """``HF_TOKEN`` → (HF_TOKEN, hf-token). A Container Apps secret name (``hf-token``) is accepted
    too and maps back to the env var ``HF_TOKEN``."""
    raw = (name or "").strip()
    if ENV_NAME.match(raw):
        env, secret = raw, raw.lower().replace("_", "-")
    elif SECRET_NAME.match(raw):
        env, secret = raw.upper().replace("-", "_"), raw
    else:
        raise InputError(f"Secret name {name!r} is not a valid environment variable name.", field="NAME",
                         fix="use letters, digits and _ (not starting with a digit), e.g. HF_TOKEN")
    if not SECRET_NAME.match(secret) or len(secret) > MAX_SECRET_NAME:
        raise InputError(
            f"Secret name {name!r} gives the Container Apps secret name {secret!r}, which is not allowed.",
            field="NAME",
            fix="Container Apps secret names are lowercase letters, digits and '-', start and end with a letter "
                f"or digit, at most {MAX_SECRET_NAME} characters (HF_TOKEN becomes hf-token); pick such a name",
        )
    check_name(env)
    return SecretName(env, secret)


# -- SDK calls with scrubbed errors ------------------------------------------------------------------
def describe_error(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip()
    first = message.splitlines()[0] if message else type(exc).__name__
    return f"{code}: {first}" if code and code not in first else first


def call(what: str, fn: Callable, *args, redactor: Optional[Redactor] = None, t: Optional[Target] = None,
         not_found: Optional[Exception] = None, **kwargs):
    """``fn(*args, **kwargs)``; an SDK error becomes one scrubbed line (OperationFailed / InputError).

    A 404 becomes ``not_found`` when given, else an InputError naming the job/app key of ``t``."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    error: Optional[Exception] = None
    try:
        return fn(*args, **kwargs)
    except ResourceNotFoundError as exc:
        detail = (redactor or Redactor())(describe_error(exc))
        if not_found is not None:
            error = not_found
        elif t is not None:
            error = InputError(f"Could not {what}: the {t.label} was not found in resource group "
                               f"{t.resource_group} ({detail}).", field=t.config_key,
                               fix=f"run `ftstudio provision {'finetune' if t.kind == 'job' else 'inference'}` "
                                   "or fix the project's config file")
        else:
            error = OperationFailed(f"Could not {what}: {detail}")
    except AzureError as exc:
        error = OperationFailed(f"Could not {what}: {(redactor or Redactor())(describe_error(exc))}")
    # raised here, outside the except block: no __context__ pointing at the SDK error
    raise error


def _wire(model) -> dict:
    if model is None:
        return {}
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def _ops(backend, t: Target):
    client = backend.session.appcontainers
    return client.jobs if t.kind == "job" else client.container_apps


def read_resource(backend, t: Target) -> dict:
    return _wire(call(f"read the {t.label}", _ops(backend, t).get, t.resource_group, t.name, t=t))


def current_secrets(backend, t: Target) -> list[dict]:
    """Every secret of the job/app with its value (or Key Vault reference), as wire dicts."""
    result = call(f"list the secrets of the {t.label}", _ops(backend, t).list_secrets, t.resource_group, t.name, t=t)
    return [_wire(s) for s in (getattr(result, "value", None) or [])]


def secret_values(backend, t: Target) -> list[str]:
    """The values to hide in log output (read at stream start)."""
    return [s["value"] for s in current_secrets(backend, t) if s.get("value")]


# -- the update ----------------------------------------------------------------------------------------
def _containers(template: dict):
    for key in ("initContainers", "containers"):
        for c in template.get(key) or []:
            yield c


def _with_env(template: dict, env: str, secret: Optional[str]) -> dict:
    """The template with env ``env`` pointing at ``secret`` in every container (None: removed)."""
    out = copy.deepcopy(template)
    for c in _containers(out):
        kept = [e for e in (c.get("env") or []) if e.get("name") != env]
        if secret is not None:
            kept.append({"name": env, "secretRef": secret})
        c["env"] = kept
    return out


def _sendable_secret(s: dict) -> dict:
    return {k: s[k] for k in ("name", "value", "keyVaultUrl", "identity") if s.get(k) is not None}


def _sendable_config(config: dict, secrets: list[dict]) -> dict:
    out = copy.deepcopy(config)
    for section, keys in _READ_ONLY_CONFIG.items():
        if isinstance(out.get(section), dict):
            for k in keys:
                out[section].pop(k, None)
    out["secrets"] = [_sendable_secret(s) for s in secrets]
    return out


def _other_references(resource: dict, secret: str) -> list[str]:
    """Where else (than env vars) the job/app uses this secret: removing it would break those."""
    props = resource.get("properties") or {}
    config = props.get("configuration") or {}
    template = props.get("template") or {}
    found = []
    for reg in config.get("registries") or []:
        if reg.get("passwordSecretRef") == secret:
            found.append(f"registry {reg.get('server')}")
    for rule in (template.get("scale") or {}).get("rules") or []:
        for kind in ("custom", "azureQueue", "http", "tcp"):
            for auth in ((rule.get(kind) or {}).get("auth") or []):
                if auth.get("secretRef") == secret:
                    found.append(f"scale rule {rule.get('name')}")
    for trigger in ("eventTriggerConfig",):
        for rule in ((config.get(trigger) or {}).get("scale") or {}).get("rules") or []:
            for auth in rule.get("auth") or []:
                if auth.get("secretRef") == secret:
                    found.append(f"event trigger rule {rule.get('name')}")
    for vol in template.get("volumes") or []:
        for s in vol.get("secrets") or []:
            if s.get("secretRef") == secret:
                found.append(f"volume {vol.get('name')}")
    return found


def _patch(backend, t: Target, resource: dict, secrets: list[dict], template: Optional[dict], redactor: Redactor,
           what: str) -> None:
    props = resource.get("properties") or {}
    body: dict = {"properties": {"configuration": _sendable_config(props.get("configuration") or {}, secrets)}}
    if template is not None:
        if t.kind == "app":
            # a changed template rolls a new revision; an old revisionSuffix would be refused (§11)
            from infra.azure.deploy import new_revision_suffix

            template = dict(template, revisionSuffix=new_revision_suffix())
        body["properties"]["template"] = template
    poller = call(what, _ops(backend, t).begin_update, t.resource_group, t.name, body, redactor=redactor, t=t)
    call(what, poller.result, redactor=redactor, t=t)


def _restart_latest_revision(backend, t: Target, resource: dict, redactor: Redactor) -> None:
    """Replicas read secrets when they start: restart the app's revision so a new value applies."""
    revision = (resource.get("properties") or {}).get("latestRevisionName")
    if not revision:
        return
    client = backend.session.appcontainers
    call(f"restart revision {revision}", client.container_apps_revisions.restart_revision,
         t.resource_group, t.name, revision, redactor=redactor, t=t)


# -- the four operations ---------------------------------------------------------------------------------
def secret_set(backend, name: str, value: str, *, inference: bool = False) -> None:
    n = secret_name(name)
    if not isinstance(value, str) or len(value) < MIN_LENGTH:
        raise InputError(f"The value of {n.env} is too short for a secret ({MIN_LENGTH} characters at least).",
                         field=n.env, fix="give the real secret value")
    check_value(n.env, value)
    t = target(backend, inference)
    resource = read_resource(backend, t)
    secrets = current_secrets(backend, t)
    redactor = Redactor([value] + [s.get("value") for s in secrets])
    changed_value = not any(s.get("name") == n.secret and s.get("value") == value for s in secrets)
    secrets = [s for s in secrets if s.get("name") != n.secret] + [{"name": n.secret, "value": value}]
    template = (resource.get("properties") or {}).get("template") or {}
    new_template = _with_env(template, n.env, n.secret)
    template_changed = new_template != template
    if not changed_value and not template_changed:
        return
    _patch(backend, t, resource, secrets, new_template if template_changed else None, redactor,
           f"set secret {n.secret} on the {t.label}")
    if t.kind == "app" and not template_changed:
        _restart_latest_revision(backend, t, resource, redactor)


def secret_list(backend, *, inference: bool = False) -> list[str]:
    """Names only: the env var each secret is exposed as (else the secret's own name)."""
    t = target(backend, inference)
    resource = read_resource(backend, t)
    props = resource.get("properties") or {}
    names = [s.get("name") for s in (props.get("configuration") or {}).get("secrets") or [] if s.get("name")]
    env_of: dict[str, str] = {}
    for c in _containers(props.get("template") or {}):
        for e in c.get("env") or []:
            if e.get("secretRef") and e.get("name"):
                env_of.setdefault(e["secretRef"], e["name"])
    return sorted(env_of.get(s, s) for s in names)


def secret_get(backend, name: str, *, inference: bool = False) -> str:
    n = secret_name(name)
    t = target(backend, inference)
    secrets = current_secrets(backend, t)
    for s in secrets:
        if s.get("name") == n.secret:
            if s.get("value") is None:
                raise OperationFailed(f"Secret {n.secret} of the {t.label} is a Key Vault reference "
                                      f"({s.get('keyVaultUrl')}); read it from the vault.")
            return s["value"]
    raise _missing(n, t, inference)


def secret_remove(backend, name: str, *, inference: bool = False) -> None:
    n = secret_name(name)
    t = target(backend, inference)
    resource = read_resource(backend, t)
    secrets = current_secrets(backend, t)
    if not any(s.get("name") == n.secret for s in secrets):
        raise _missing(n, t, inference)
    users = _other_references(resource, n.secret)
    if users:
        raise InputError(f"Secret {n.secret} is still used by the {t.label}'s {', '.join(users)}.",
                         field=n.env, fix="change that setting first, then remove the secret")
    redactor = Redactor(s.get("value") for s in secrets)
    template = (resource.get("properties") or {}).get("template") or {}
    new_template = _with_env(template, n.env, None)
    # env vars pointing at the secret under another name go too: they would break the next revision
    for c in _containers(new_template):
        c["env"] = [e for e in c.get("env") or [] if e.get("secretRef") != n.secret]
    _patch(backend, t, resource, [s for s in secrets if s.get("name") != n.secret],
           new_template if new_template != template else None, redactor, f"remove secret {n.secret} from the {t.label}")


def _missing(n: SecretName, t: Target, inference: bool) -> InputError:
    flag = " --inference" if inference else ""
    return InputError(f"The {t.label} has no secret {n.env} ({n.secret}).", field="NAME",
                      fix=f"see `ftstudio secret list{flag}`, or set it with `ftstudio secret set {n.env}{flag}`")
