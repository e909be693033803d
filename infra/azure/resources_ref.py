"""Which Azure resources a project's fine-tuning uses, read from ``infra/finetuning.config.json``.

Provision writes the keys; sync, jobs and download read them here so a missing key is reported
the same way everywhere (one line naming the key and the fix, exit code 2).
"""
from __future__ import annotations

import re
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
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.App/jobs/{self.job}"
        )

    def storage_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"
        )


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
    return tuple(_require(cfg, key, kind) for key in ("RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME"))


def finetuning_refs(backend, *, need_commands: bool = False) -> FinetuningRefs:
    cfg = backend.project.finetuning_config()
    rg, account, share = storage_refs(backend)
    job = _require(cfg, "ACA_JOB_NAME")
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


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_run_id(run_id: str, field: str = "--resume") -> str:
    """A run id is a folder name under outputs/: refuse anything that could escape it."""
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise InputError(
            f"{run_id!r} is not a valid run id.",
            field=field,
            fix="use letters, digits, '.', '_' or '-' (e.g. 20250101-120000); see `ftstudio status`",
        )
    return run_id
