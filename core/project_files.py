"""The project-file contract: every file of a generated project that ftstudio reads, its keys and
their types, in one typed table.

Reading a project file goes through ``read(root, FILE)``: a file that is not UTF-8, not JSON, or
JSON of the wrong shape or type is an ``InputError`` (exit 2) naming the file, the key and the fix,
never a traceback deep inside a command. Keys this table does not know are kept as they are (AI
Toolkit and users may add their own); known keys must have their type.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

TARGETS = ("azure", "local")
PROVISION_KINDS = ("finetuning", "inference")
KIND_ALIASES = {"finetune": "finetuning", "fine-tuning": "finetuning"}  # what people type


def normalize_kind(kind: Optional[str]) -> str:
    """One of PROVISION_KINDS (the CLI's ``finetune`` is ``finetuning``); anything else is exit 2."""
    from core.errors import InputError

    k = (kind or "finetuning").lower()
    k = KIND_ALIASES.get(k, k)
    if k in PROVISION_KINDS:
        return k
    raise InputError(f"Unknown provisioning kind {kind!r}.", field="kind", fix="use finetune or inference")


@dataclass(frozen=True)
class Type:
    """A JSON value's expected type: a predicate and how to say it in an error."""

    says: str
    ok: Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def nullable(t: Type) -> Type:
    return Type(f"{t.says} or null", lambda v: v is None or t.ok(v))


STR = Type("a string", _is_str)
OPT_STR = nullable(STR)
INT = Type("an integer", _is_int)
OPT_INT = nullable(INT)
BOOL = Type("true or false", lambda v: isinstance(v, bool))
OPT_BOOL = nullable(BOOL)
OBJECT = Type("an object ({...})", lambda v: isinstance(v, dict))
OPT_OBJECT = nullable(OBJECT)
STR_LIST = Type("a list of strings", lambda v: isinstance(v, list) and all(_is_str(x) for x in v))
OPT_STR_LIST = nullable(STR_LIST)
TARGET = Type(
    "null or one of " + ", ".join(f'"{t}"' for t in TARGETS),
    lambda v: v is None or (_is_str(v) and v.strip().lower() in (*TARGETS, "")),
)
OBJECT_OF_OBJECTS = Type("an object whose values are objects", lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()))
STR_OR_OBJECT = Type("a string, an object or null", lambda v: v is None or isinstance(v, (str, dict)))
OPT_OBJECT_OF_STR = nullable(Type("an object of strings", lambda v: isinstance(v, dict) and all(_is_str(x) for x in v.values())))


@dataclass(frozen=True)
class ProjectFile:
    rel: str  # path inside the project, "/"-separated
    keys: dict[str, Type] = field(default_factory=dict)
    fix: str = "correct it, restore it from version control, or regenerate the project with `ftstudio new`"
    shape: Type = OBJECT  # the top-level value
    nested: dict[str, dict[str, Type]] = field(default_factory=dict)  # key -> keys of the object it holds
    aitk_keys: tuple[str, ...] = ()  # AI Toolkit's own keys of this file, in its order (generation writes them)

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(self.rel)


_AZURE_NAMES = {
    "SUBSCRIPTION_ID": OPT_STR,
    "RESOURCE_GROUP_NAME": OPT_STR,
    "STORAGE_ACCOUNT_NAME": OPT_STR,
    "FILE_SHARE_NAME": OPT_STR,
    "LOCATION": OPT_STR,
    "ACA_ENVIRONMENT_NAME": OPT_STR,
    "ACA_ENVIRONMENT_STORAGE_NAME": OPT_STR,
    "LOG_ANALYTICS_NAME": OPT_STR,
    "COMMANDS": OPT_STR_LIST,
    "TARGET": TARGET,
}

_AITK_STORAGE = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")
FINETUNING_CONFIG = ProjectFile("infra/finetuning.config.json", {**_AZURE_NAMES, "ACA_JOB_NAME": OPT_STR},
                                aitk_keys=(*_AITK_STORAGE, "ACA_JOB_NAME", "COMMANDS"))
INFERENCE_CONFIG = ProjectFile(
    "infra/inference.config.json", {**_AZURE_NAMES, "ACA_APP_NAME": OPT_STR, "ACA_APP_ENDPOINT": OPT_STR},
    aitk_keys=(*_AITK_STORAGE, "ACA_APP_NAME", "ACA_APP_ENDPOINT"),
)
# ARM deployment parameters files: {"parameters": {name: {"value": ...}}}.
PARAMETERS = {
    kind: ProjectFile(f"infra/provision/{kind}.parameters.json", {"parameters": nullable(OBJECT_OF_OBJECTS)})
    for kind in PROVISION_KINDS
}
ANSWERS = ProjectFile(
    ".ftstudio-answers.json",
    {
        "project_name": OPT_STR, "model": STR_OR_OBJECT,  # an object in early projects "model_source": OPT_STR, "model_repo": OPT_STR,
        "model_path": OPT_STR, "model_gated": OPT_BOOL, "model_gpu_quota": OPT_INT, "recipe": OPT_STR, "target": TARGET, "dataset": OPT_STR,
        "parameters": OPT_OBJECT, "overrides": OPT_OBJECT,
    },
)
STATE = ProjectFile(
    ".ftstudio/state.json",
    {
        "subscription_id": OPT_STR, "resource_group": OPT_STR, "location": OPT_STR, "endpoint": OPT_STR,
        "runs": nullable(OBJECT_OF_OBJECTS), "last_run_id": OPT_STR, "last_execution": OPT_STR,
        "created_resources": OPT_OBJECT_OF_STR, "created_resource_group": OPT_STR,
        "local_share": OPT_STR, "local_python": OPT_STR, "local_env": OPT_STR, "local_inference_port": OPT_INT,
    },
    fix="delete .ftstudio/state.json (ftstudio saves it again; it holds no secret)",
)
TRAIN_CONFIG = ProjectFile(
    "finetuning/train_config.json",
    {"recipe": OPT_STR, "model": OPT_OBJECT, "dataset": OPT_OBJECT},
    nested={"model": {"id": OPT_STR, "source": OPT_STR, "repo": OPT_STR, "path": OPT_STR, "gated": OPT_BOOL}},
)

ALL = (FINETUNING_CONFIG, INFERENCE_CONFIG, *PARAMETERS.values(), ANSWERS, STATE, TRAIN_CONFIG)


def _error(pf: ProjectFile, message: str, key: Optional[str] = None):
    from core.errors import InputError

    where = f"{pf.rel}: {key}" if key else pf.rel
    return InputError(f"{where} {message}", field=f"{pf.rel}{':' + key if key else ''}", fix=pf.fix)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(pf: ProjectFile, doc: Any) -> dict:
    """``doc`` if it has the file's shape; else the InputError naming the first wrong key."""
    if not pf.shape.ok(doc):
        raise _error(pf, f"must hold {pf.shape.says}, not {_short(doc)}.")
    for key, t in pf.keys.items():
        if key in doc and not t.ok(doc[key]):
            raise _error(pf, f"must be {t.says}, not {_short(doc[key])}.", key)
    for key, keys in pf.nested.items():
        inner = doc.get(key)
        if isinstance(inner, dict):
            for sub, t in keys.items():
                if sub in inner and not t.ok(inner[sub]):
                    raise _error(pf, f"must be {t.says}, not {_short(inner[sub])}.", f"{key}.{sub}")
    return doc


def read(root: Path, pf: ProjectFile, default: Any = None) -> Any:
    """The validated content of ``pf`` in the project at ``root``; ``default`` ({} unless given)
    when the file does not exist."""
    path = Path(root) / pf.rel
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {} if default is None else default
    except IsADirectoryError:
        raise _error(pf, "is a folder, not a file.") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _error(pf, "is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise _error(pf, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    return validate(pf, doc)


def target_of(value: Any) -> Optional[str]:
    """A validated TARGET value, normalised ("Local " → "local"); None when unset."""
    return value.strip().lower() if isinstance(value, str) and value.strip() else None
