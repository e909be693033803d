"""A generated project on disk: its config files (AI Toolkit's keys), answers and saved state.

File contract (compatible with AI Toolkit remote fine-tuning projects):
- ``infra/finetuning.config.json``: SUBSCRIPTION_ID, RESOURCE_GROUP_NAME, STORAGE_ACCOUNT_NAME,
  FILE_SHARE_NAME, ACA_JOB_NAME, COMMANDS (+ ours: TARGET, LOCATION, ACA_ENVIRONMENT_NAME,
  ACA_ENVIRONMENT_STORAGE_NAME, LOG_ANALYTICS_NAME).
- ``infra/inference.config.json``: SUBSCRIPTION_ID, RESOURCE_GROUP_NAME, STORAGE_ACCOUNT_NAME,
  FILE_SHARE_NAME, ACA_APP_NAME, ACA_APP_ENDPOINT (+ TARGET, COMMANDS).
- ``infra/provision/{finetuning,inference}.parameters.json``: ARM deployment parameters files.
- ``.ftstudio-answers.json``: what the project was generated from (model, recipe, parameters,
  template version). Never holds a secret.
- ``.ftstudio/state.json``: resolved inputs and resource ids saved by ftstudio (git-ignored,
  never a secret).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core import project_files as pf
from core.jsonio import write_json

FINETUNING_CONFIG = Path(pf.FINETUNING_CONFIG.rel)
INFERENCE_CONFIG = Path(pf.INFERENCE_CONFIG.rel)
PARAMETERS = {kind: Path(f.rel) for kind, f in pf.PARAMETERS.items()}
BICEP = {
    "finetuning": Path("infra/provision/finetuning.bicep"),
    "inference": Path("infra/provision/inference.bicep"),
}
ANSWERS = Path(pf.ANSWERS.rel)
STATE = Path(pf.STATE.rel)


class Project:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    # -- discovery -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path | None = None) -> "Project":
        """Open the project at ``root`` (default: the current directory or a parent of it)."""
        from core.errors import InputError

        start = Path(root or ".").resolve()
        for candidate in [start, *start.parents] if root is None else [start]:
            if (candidate / FINETUNING_CONFIG).is_file():
                return cls(candidate)
        raise InputError(
            f"{start} is not an ftstudio project (no {FINETUNING_CONFIG}).",
            field="--project",
            fix="pass --project DIR, or create one with `ftstudio new NAME --model ID`",
        )

    def path(self, rel: str | Path) -> Path:
        return self.root / rel

    @property
    def name(self) -> str:
        return self.answers().get("project_name") or self.root.name

    # -- config files --------------------------------------------------------------------------
    def _read(self, file: "pf.ProjectFile") -> dict:
        """The file's content, validated against the project-file contract ({} when absent)."""
        return pf.read(self.root, file)

    def finetuning_config(self) -> dict:
        return self._read(pf.FINETUNING_CONFIG)

    def save_finetuning_config(self, data: dict) -> None:
        write_json(self.root / FINETUNING_CONFIG, data)

    def update_finetuning_config(self, **values: Any) -> dict:
        data = self.finetuning_config()
        data.update(values)
        self.save_finetuning_config(data)
        return data

    def inference_config(self) -> dict:
        return self._read(pf.INFERENCE_CONFIG)

    def save_inference_config(self, data: dict) -> None:
        write_json(self.root / INFERENCE_CONFIG, data)

    def update_inference_config(self, **values: Any) -> dict:
        data = self.inference_config()
        data.update(values)
        self.save_inference_config(data)
        return data

    def parameters(self, kind: str = "finetuning") -> dict:
        """The parameter values of an ARM parameters file, as {name: value} (null kept as None)."""
        doc = self._read(pf.PARAMETERS[kind])
        return {k: v.get("value") for k, v in (doc.get("parameters") or {}).items()}

    def save_parameters(self, kind: str, values: dict) -> None:
        doc = self._read(pf.PARAMETERS[kind]) or {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {},
        }
        params = doc.setdefault("parameters", {})
        for k, v in values.items():
            params[k] = {"value": v}
        write_json(self.root / PARAMETERS[kind], doc)

    def answers(self) -> dict:
        return self._read(pf.ANSWERS)

    def train_config(self) -> dict:
        return self._read(pf.TRAIN_CONFIG)

    # -- saved state (never secrets) ---------------------------------------------------------------
    def state(self) -> dict:
        return self._read(pf.STATE)

    def update_state(self, **values: Any) -> dict:
        data = self.state()
        for k, v in values.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        write_json(self.root / STATE, data)
        return data

    # -- target ------------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        # The contract refuses an unknown TARGET, so what is left is a known one or unset (azure).
        return pf.target_of(self.finetuning_config().get("TARGET")) or pf.target_of(self.answers().get("target")) or "azure"

    @property
    def commands(self) -> list[str]:
        return list(self.finetuning_config().get("COMMANDS") or [])
