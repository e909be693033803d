"""Errors and exit codes shared by every front end (ARCHITECTURE.md, "Data flow"; the README lists the codes).

Front ends turn an ``FtError`` into one line on stderr (or ``{"error": ...}`` under ``--json``)
and exit with its ``exit_code``. Nothing here may carry a secret value in its message.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the operation failed: the cloud said no, the job failed
    USAGE = 2  # bad input, usage error, missing input under --non-interactive
    INTERRUPTED = 130  # Ctrl-C


class FtError(Exception):
    """An error with a one-line message meant for a person, plus a machine-readable code."""

    exit_code: int = ExitCode.FAILED
    code: str = "OperationFailed"

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.fix = fix
        if code:
            self.code = code

    def one_line(self) -> str:
        text = self.message.strip().replace("\n", " ")
        if self.fix and self.fix not in text:
            text = f"{text} Fix: {self.fix}"
        return text

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "message": self.one_line()}
        if self.field:
            out["field"] = self.field
        if self.fix:
            out["fix"] = self.fix
        return out


class InputError(FtError):
    """Bad input: names the field and the fix. Exit code 2."""

    exit_code = ExitCode.USAGE
    code = "InvalidInput"


class MissingInputs(InputError):
    """Required inputs that were not given (under --non-interactive, or with no TTY)."""

    code = "MissingInput"

    def __init__(self, missing: list[tuple[str, str]]):
        # missing: [(name, "how to supply it, e.g. --subscription or AZURE_SUBSCRIPTION_ID")]
        self.missing = missing
        parts = "; ".join(f"{name} (give {how})" for name, how in missing)
        super().__init__(f"Missing required input: {parts}.", field=missing[0][0] if missing else None)

    def to_json(self) -> dict:
        out = super().to_json()
        out["missing_inputs"] = [{"name": n, "source": how} for n, how in self.missing]
        return out


class OperationFailed(FtError):
    exit_code = ExitCode.FAILED
    code = "OperationFailed"


class NotLoggedIn(FtError):
    exit_code = ExitCode.FAILED
    code = "NotLoggedIn"

    def __init__(self, detail: str = ""):
        msg = "Not logged in to Azure: run `az login` (or set FTSTUDIO_ACCESS_TOKEN / AZURE_CLIENT_ID+AZURE_TENANT_ID+AZURE_CLIENT_SECRET)."
        super().__init__(msg + (f" ({detail})" if detail else ""))


class Cancelled(FtError):
    exit_code = ExitCode.INTERRUPTED
    code = "Interrupted"

    def __init__(self, message: str = "Interrupted."):
        super().__init__(message)


def from_unexpected(exc: BaseException) -> "FtError | None":
    """The contract's error for an OS or decoding error no command caught (None: a real bug).

    An OSError is the operation failing on this machine (exit 1) and names its path; undecodable
    text or JSON is bad input (exit 2).
    """
    import json

    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        if exc.filename2:
            where += f" -> {exc.filename2}"
        reason = exc.strerror or type(exc).__name__
        return OperationFailed(f"{reason}:{where}" if where else f"{reason}.", field=str(exc.filename or "") or None,
                               fix="check the path, its permissions and the free disk space, then run again")
    if isinstance(exc, json.JSONDecodeError):
        return InputError(f"A file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                          fix="fix or regenerate the file, then run again")
    if isinstance(exc, UnicodeError):
        return InputError(f"A file is not valid UTF-8 text ({type(exc).__name__}).",
                          fix="save the file as UTF-8, then run again")
    return None
