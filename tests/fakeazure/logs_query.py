"""Log Analytics query API (POST /v1/workspaces/{customerId}/query) over the rows the fake has
emitted, with a small KQL subset:

    Table | where <expr> | project a, b | order by c asc|desc | take N | top N by c | count

<expr>: comparisons (== != =~ !~ < <= > >=, contains, !contains, contains_cs, startswith,
!startswith, endswith, has), and / or / not(), parentheses, literals ('x', "x", numbers, 1h-style
timespans), ago(1h), now(), datetime(...), isempty(c), isnotempty(c), tostring(c).
A table that never received a row does not exist yet (400 SemanticError), like a fresh workspace.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from . import util
from .router import Request, Response

CONSOLE_COLUMNS = ["TimeGenerated", "Log_s", "ContainerJobName_s", "ContainerAppName_s", "ContainerGroupName_s",
                   "ContainerName_s", "RevisionName_s", "Stream_s", "ContainerImage_s", "ContainerId_s",
                   "EnvironmentName_s", "_timestamp_d"]
SYSTEM_COLUMNS = ["TimeGenerated", "Log_s", "Reason_s", "Type_s", "JobName_s", "ExecutionName_s", "ReplicaName_s",
                  "ContainerAppName_s", "RevisionName_s", "EnvironmentName_s", "_timestamp_d"]
TABLES = {"ContainerAppConsoleLogs_CL": CONSOLE_COLUMNS, "ContainerAppSystemLogs_CL": SYSTEM_COLUMNS}


class KqlError(Exception):
    def __init__(self, message: str, inner: str = "SyntaxError"):
        super().__init__(message)
        self.inner = inner


def col_type(name: str) -> str:
    if name == "TimeGenerated":
        return "datetime"
    if name.endswith("_d") or name == "Count":
        return "real" if name != "Count" else "long"
    return "string"


# -- tokenizer / parser ---------------------------------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<span>\d+(?:\.\d+)?(?:ms|d|h|m|s)\b)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<op>==|!=|=~|!~|<=|>=|<|>|\(|\)|,)
  | (?P<word>!?[A-Za-z_][A-Za-z0-9_\-]*)
)""", re.X)

_SPAN = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_STR_OPS = {"contains", "!contains", "contains_cs", "!contains_cs", "startswith", "!startswith", "endswith",
            "!endswith", "has", "!has", "startswith_cs", "endswith_cs"}


def tokenize(s: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise KqlError(f"Query could not be parsed at '{s[pos:pos + 20]}'")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return out


def split_pipes(q: str) -> list[str]:
    parts, cur, quote = [], [], None
    for ch in q:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


class Parser:
    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value):
        tok = self.take()
        if tok[1] != value:
            raise KqlError(f"Expected '{value}' but found '{tok[1]}'")

    def parse(self):
        e = self.or_()
        if self.i != len(self.t):
            raise KqlError(f"Unexpected token '{self.peek()[1]}'")
        return e

    def or_(self):
        left = self.and_()
        while self.peek()[1] == "or":
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self):
        left = self.cmp()
        while self.peek()[1] == "and":
            self.take()
            left = ("and", left, self.cmp())
        return left

    def cmp(self):
        left = self.primary()
        kind, val = self.peek()
        if kind == "op" and val in ("==", "!=", "=~", "!~", "<", "<=", ">", ">="):
            self.take()
            return ("cmp", val, left, self.primary())
        if kind == "word" and val.lower() in _STR_OPS:
            self.take()
            return ("cmp", val.lower(), left, self.primary())
        return left

    def primary(self):
        kind, val = self.take()
        if kind is None:
            raise KqlError("Unexpected end of query")
        if val == "(":
            e = self.or_()
            self.expect(")")
            return e
        if kind == "str":
            return ("lit", bytes(val[1:-1], "utf-8").decode("unicode_escape"))
        if kind == "num":
            return ("lit", float(val) if "." in val else int(val))
        if kind == "span":
            m = re.match(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", val)
            return ("lit", timedelta(seconds=float(m.group(1)) * _SPAN[m.group(2)]))
        if kind == "word":
            if val in ("true", "false"):
                return ("lit", val == "true")
            if self.peek()[1] == "(":
                self.take()
                args = []
                if self.peek()[1] != ")":
                    if val == "datetime":
                        raw = []
                        while self.peek()[1] != ")":
                            raw.append(self.take()[1])
                        args.append(("lit", "".join(raw)))
                    else:
                        args.append(self.or_())
                        while self.peek()[1] == ",":
                            self.take()
                            args.append(self.or_())
                self.expect(")")
                return ("call", val.lower(), args)
            return ("col", val)
        raise KqlError(f"Unexpected token '{val}'")


def _to_dt(v):
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            return v
    return v


def evaluate(node, row: dict, columns: set):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "col":
        if node[1] not in columns:
            raise KqlError(f"Failed to resolve scalar expression named '{node[1]}'", "SemanticError")
        return row.get(node[1], "")
    if kind == "and":
        return bool(evaluate(node[1], row, columns)) and bool(evaluate(node[2], row, columns))
    if kind == "or":
        return bool(evaluate(node[1], row, columns)) or bool(evaluate(node[2], row, columns))
    if kind == "call":
        name, args = node[1], [evaluate(a, row, columns) for a in node[2]]
        if name == "ago":
            return util.now() - args[0]
        if name == "now":
            return util.now() + (args[0] if args else timedelta(0))
        if name in ("datetime", "todatetime"):
            return _to_dt(str(args[0]))
        if name == "isempty":
            return args[0] in (None, "")
        if name == "isnotempty":
            return args[0] not in (None, "")
        if name == "not":
            return not args[0]
        if name == "tostring":
            return "" if args[0] is None else str(args[0])
        if name in ("tolower", "toupper"):
            return str(args[0]).lower() if name == "tolower" else str(args[0]).upper()
        raise KqlError(f"Unknown function '{name}'", "SemanticError")
    if kind == "cmp":
        op, a, b = node[1], evaluate(node[2], row, columns), evaluate(node[3], row, columns)
        if isinstance(a, datetime) or isinstance(b, datetime):
            a, b = _to_dt(a), _to_dt(b)
        neg = op.startswith("!") and op not in ("!=", "!~")
        base = op[1:] if neg else op
        sa, sb = ("" if a is None else str(a)), ("" if b is None else str(b))
        if base == "==":
            r = a == b
        elif base == "!=":
            r = a != b
        elif base == "=~":
            r = sa.lower() == sb.lower()
        elif base == "!~":
            r = sa.lower() != sb.lower()
        elif base in ("<", "<=", ">", ">="):
            try:
                r = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[base]
            except TypeError:
                r = False
        elif base == "contains":
            r = sb.lower() in sa.lower()
        elif base == "contains_cs":
            r = sb in sa
        elif base == "startswith":
            r = sa.lower().startswith(sb.lower())
        elif base == "startswith_cs":
            r = sa.startswith(sb)
        elif base == "endswith":
            r = sa.lower().endswith(sb.lower())
        elif base == "endswith_cs":
            r = sa.endswith(sb)
        elif base == "has":
            r = re.search(r"(?<![A-Za-z0-9])" + re.escape(sb.lower()) + r"(?![A-Za-z0-9])", sa.lower()) is not None
        else:
            raise KqlError(f"Unknown operator '{op}'")
        return (not r) if neg else r
    raise KqlError("Bad expression")


def parse_timespan(ts: Optional[str]):
    """ISO 8601 duration 'PT3600.0S' / 'P1D' or interval 'start/end' / 'start/duration' -> (start, end)."""
    if not ts:
        return None, None

    def dur(s):
        m = re.match(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$", s)
        if not m:
            raise KqlError(f"Invalid timespan '{ts}'", "InvalidTimespan")
        d, h, mi, se = (float(x) if x else 0.0 for x in m.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=se)

    if "/" in ts:
        a, b = ts.split("/", 1)
        start = _to_dt(a)
        end = _to_dt(b) if not b.startswith("P") else start + dur(b)
        return start, end
    end = util.now()
    return end - dur(ts), end


def run_query(rows: list[dict], columns: list[str], ops: list[str]) -> tuple[list[str], list[list]]:
    cols = list(columns)
    colset = set(cols)
    out = list(rows)
    for op in ops:
        m = re.match(r"^(\w+(?:-\w+)?)\b\s*(.*)$", op, re.S)
        if not m:
            raise KqlError(f"Query could not be parsed at '{op}'")
        verb, rest = m.group(1).lower(), m.group(2).strip()
        if verb == "where":
            expr = Parser(tokenize(rest)).parse()
            out = [r for r in out if evaluate(expr, r, colset)]
        elif verb == "project":
            names = [n.strip() for n in rest.split(",") if n.strip()]
            for n in names:
                if n not in colset:
                    raise KqlError(f"'project' operator: Failed to resolve scalar expression named '{n}'", "SemanticError")
            cols, colset = names, set(names)
            out = [{n: r.get(n) for n in names} for r in out]
        elif verb in ("order", "sort"):
            m2 = re.match(r"^by\s+(.*)$", rest, re.S)
            if not m2:
                raise KqlError(f"Query could not be parsed at '{op}'")
            keys = [k.strip().split() for k in m2.group(1).split(",")]
            for k in reversed(keys):
                name = k[0]
                if name not in colset:
                    raise KqlError(f"'order' operator: Failed to resolve scalar expression named '{name}'", "SemanticError")
                desc = not (len(k) > 1 and k[1].lower() == "asc")
                out.sort(key=lambda r: (r.get(name) is None, r.get(name)), reverse=desc)
        elif verb in ("take", "limit"):
            try:
                out = out[: int(rest)]
            except ValueError:
                raise KqlError(f"Query could not be parsed at '{op}'")
        elif verb == "top":
            m2 = re.match(r"^(\d+)\s+by\s+(\w+)(?:\s+(asc|desc))?$", rest, re.I)
            if not m2:
                raise KqlError(f"Query could not be parsed at '{op}'")
            name = m2.group(2)
            if name not in colset:
                raise KqlError(f"'top' operator: Failed to resolve scalar expression named '{name}'", "SemanticError")
            out.sort(key=lambda r: r.get(name), reverse=(m2.group(3) or "desc").lower() == "desc")
            out = out[: int(m2.group(1))]
        elif verb == "count":
            out, cols, colset = [{"Count": len(out)}], ["Count"], {"Count"}
        else:
            raise KqlError(f"Query could not be parsed: unknown or unsupported operator '{verb}'")
    return cols, [[r.get(c) for c in cols] for r in out]


def _cell(v: Any) -> Any:
    if isinstance(v, datetime):
        return util.iso(v)
    return v


def register(router, fake):
    state = fake.state

    def query(req: Request):
        cid = req.params["ws"]
        from .arm_loganalytics import find_workspace_by_customer_id

        if find_workspace_by_customer_id(state, cid) is None:
            return Response.json(404, {"error": {"message": "The workspace could not be found", "code": "WorkspaceNotFoundError",
                                                 "correlationId": util.new_guid()}})
        try:
            body = req.json() or {}
        except Exception:  # noqa: BLE001
            body = {}
        q = body.get("query") or ""
        try:
            parts = split_pipes(q)
            table = parts[0].strip()
            if table not in TABLES:
                raise KqlError(f"'{table}' could not be resolved: failed to resolve table or column expression named '{table}'",
                               "SemanticError")
            rows = state.table_rows(cid, table)
            if rows is None:
                if state.strict_log_tables:
                    raise KqlError(f"Failed to resolve table or column expression named '{table}'", "SemanticError")
                rows = []
            horizon = util.now() - timedelta(seconds=state.log_ingestion_delay)
            rows = [r for r in rows if r["TimeGenerated"] <= horizon]
            start, end = parse_timespan(body.get("timespan"))
            if start is not None:
                rows = [r for r in rows if start <= r["TimeGenerated"] <= end]
            cols, out = run_query(rows, TABLES[table], parts[1:])
        except KqlError as e:
            return Response.json(400, {"error": {"message": "The request had some invalid properties", "code": "BadArgumentError",
                                                 "correlationId": util.new_guid(),
                                                 "innererror": {"code": e.inner, "message": str(e)}}})
        return Response.json(200, {"tables": [{"name": "PrimaryResult",
                                               "columns": [{"name": c, "type": col_type(c)} for c in cols],
                                               "rows": [[_cell(v) for v in r] for r in out]}]})

    router.add("POST", r"/v1/workspaces/(?P<ws>[^/]+)/query", query, auth="logs")
    router.add("GET", r"/v1/workspaces/(?P<ws>[^/]+)/query", query, auth="logs")
