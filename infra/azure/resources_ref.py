"""Which Azure resources a project's fine-tuning uses, read from ``infra/finetuning.config.json``.

Provision writes the keys; sync, jobs and download read them here so a missing key is reported
the same way everywhere (one line naming the key and the fix, exit code 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError

PROVISION_FIX = "run `ftstudio provision finetune` first (it writes infra/finetuning.config.json)"


@dataclass(frozen=True)
class FinetuningRefs:
    subscription_id: str
    resource_group: str
    storage_account: str
    share: str
    job: str
    commands: tuple

    def job_id(self) -> str:
        return _record("job").id_for(self.subscription_id, self.resource_group, job=self.job)


def _record(step: str):
    from infra.azure.resources import record

    return record(step)


def _key(step: str) -> str:
    """The config key provision writes the resource's name under (its record says which)."""
    return _record(step).config_key


INFERENCE_FIX = "run `ftstudio provision inference` first (it writes infra/inference.config.json)"


def _require(cfg: dict, key: str, kind: str = "finetuning") -> str:
    value = cfg.get(key)
    if not isinstance(value, str) or not value.strip():
        what = "fine-tuning" if kind == "finetuning" else "inference"
        raise InputError(
            f"infra/{kind}.config.json has no {key}: the {what} resources are not provisioned.",
            field=key,
            fix=PROVISION_FIX if kind == "finetuning" else INFERENCE_FIX,
        )
    return value.strip()


def storage_refs(backend, kind: str = "finetuning") -> tuple[str, str, str]:
    """(resource group, storage account, share) — all sync and download need.

    The inference app may mount a share of its own (inference.parameters.json), so deploy syncs to
    the share named in infra/inference.config.json.
    """
    if kind == "inference":
        cfg = backend.project.inference_config()
    else:
        cfg = backend.project.finetuning_config()
    return tuple(_require(cfg, _key(step), kind) for step in ("resource_group", "storage", "share"))


def finetuning_refs(backend, *, need_commands: bool = False) -> FinetuningRefs:
    cfg = backend.project.finetuning_config()
    rg, account, share = storage_refs(backend)
    job = _require(cfg, _key("job"))
    commands = cfg.get("COMMANDS") or []
    if need_commands:
        if not isinstance(commands, list) or not commands or not all(isinstance(c, str) and c.strip() for c in commands):
            raise InputError(
                "COMMANDS in infra/finetuning.config.json must be a non-empty list of shell steps.",
                field="COMMANDS",
                fix='e.g. ["cd /mount", "python3 ./finetuning/train.py --config ./finetuning/train_config.json"]',
            )
    sub = backend.subscription_id or ""
    return FinetuningRefs(sub, rg, account, share, job, tuple(commands if isinstance(commands, list) else []))
