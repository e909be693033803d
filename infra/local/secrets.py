"""Local secrets: a user-only (0600) JSON file in the data dir, never in the project tree.

Two scopes like Azure (job secrets, inference app secrets): ``{"job": {NAME: value}, "inference": {...}}``.
Names are the env var names the values are exposed as (Azure's rule: HF_TOKEN stays HF_TOKEN).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from core.jsonio import write_json
from core.errors import InputError, OperationFailed
from infra.redact import MIN_LENGTH
from infra.secret_rules import check_name, check_value

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InputError(f"Secret name {name!r} is not a valid environment variable name.", field="NAME",
                         fix="use letters, digits and _ (not starting with a digit), e.g. HF_TOKEN")
    check_name(name)
    return name


class SecretStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    @staticmethod
    def scope(inference: bool) -> str:
        return "inference" if inference else "job"

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise OperationFailed(f"The local secrets file {self.path} is unreadable.",
                                  fix="fix or delete it, then set the secrets again") from None
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict) -> None:
        # mkstemp creates the temporary file 0600 from the first byte: no window where another user reads it
        write_json(self.path, data, mode=0o600)

    def set(self, name: str, value: str, *, inference: bool = False) -> None:
        validate_name(name)
        if len(value or "") < MIN_LENGTH:
            # logs hide secrets by value; one this short cannot be hidden without mangling every line
            raise InputError(f"The value of {name} is too short for a secret ({MIN_LENGTH} characters at least).",
                             field=name, fix="give the real secret value")
        check_value(name, value)
        data = self._load()
        data.setdefault(self.scope(inference), {})[name] = value
        self._save(data)

    def list(self, *, inference: bool = False) -> list[str]:
        return sorted(self._load().get(self.scope(inference), {}))

    def get(self, name: str, *, inference: bool = False) -> str:
        validate_name(name)
        values = self._load().get(self.scope(inference), {})
        if name not in values:
            where = " --inference" if inference else ""
            raise InputError(f"No local secret named {name}{' for inference' if inference else ''}.", field="NAME",
                             fix=f"see `ftstudio secret list{where}`, or set it with `ftstudio secret set {name}{where}`")
        return values[name]

    def remove(self, name: str, *, inference: bool = False) -> None:
        self.get(name, inference=inference)  # a clear error when it does not exist
        data = self._load()
        data[self.scope(inference)].pop(name, None)
        self._save(data)

    def env(self, *, inference: bool = False) -> dict[str, str]:
        return dict(self._load().get(self.scope(inference), {}))
