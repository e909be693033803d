"""Rules every secret obeys on both backends: names that cannot shadow the job's own variables, and
a size cap on values. Checked before anything is stored or sent."""
from __future__ import annotations

from core.errors import InputError

# Variables the job (or the shell running COMMANDS) relies on: a secret named like one would override
# it in every container. Prefixes cover whole families (LD_PRELOAD, LD_LIBRARY_PATH...).
RESERVED = frozenset({
    "PATH", "HOME", "USER", "SHELL", "PWD", "IFS", "TMPDIR", "LANG", "TERM",
    "RUN_ID", "FTSTUDIO_EXECUTION", "VIRTUAL_ENV",
    "PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "PYTHONSTARTUP",
    "PIP_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "BASH_ENV", "ENV",
})
RESERVED_PREFIXES = ("LD_", "FTSTUDIO_", "BASH_FUNC_", "CONTAINER_APP_")
# Container Apps stores secrets in the resource's ARM document, which has a small overall size limit;
# a value this large is a file pasted by mistake, not a token.
MAX_VALUE_BYTES = 64 * 1024


def check_name(env_name: str) -> None:
    upper = env_name.upper()
    if upper in RESERVED or upper.startswith(RESERVED_PREFIXES):
        raise InputError(f"Secret name {env_name!r} would override the job's own {upper} variable.", field="NAME",
                         fix="pick another name, e.g. MY_" + upper.lstrip("_"))


def check_value(env_name: str, value: str) -> None:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        # the size only, never the value
        raise InputError(f"The value of {env_name} is {size} bytes; secrets are limited to {MAX_VALUE_BYTES} bytes.",
                         field=env_name, fix="store a token or key, not a file")
