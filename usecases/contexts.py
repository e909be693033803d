"""When a command is valid (Posting-style context-aware palette): predicates over the open project
(``None`` when none is open). The palette, the key bindings and the dashboard's buttons all ask these."""
from __future__ import annotations

from typing import Any, Optional

Project = Any  # scaffolds.project.Project; not imported, so the registry stays import-light


def always(project: Optional[Project]) -> bool:
    return True


def has_project(project: Optional[Project]) -> bool:
    return project is not None


def azure_project(project: Optional[Project]) -> bool:
    return project is not None and project.target == "azure"


def finetuning_ready(project: Optional[Project]) -> bool:
    """Runs need the job (Azure: provisioned; local: always there)."""
    if project is None:
        return False
    if project.target == "local":
        return True
    return bool(project.finetuning_config().get("ACA_JOB_NAME"))


def inference_ready(project: Optional[Project]) -> bool:
    if project is None:
        return False
    if project.target == "local":
        return True
    return bool(project.inference_config().get("ACA_APP_NAME"))


def has_resources(project: Optional[Project]) -> bool:
    return azure_project(project) and (finetuning_ready(project) or inference_ready(project))
