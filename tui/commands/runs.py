"""``ftstudio runs``: the project's training runs, their losses and where MLflow tracked them."""
from __future__ import annotations

from tui.commands._common import open_project
from tui.widgets.format import duration


def _num(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _exact(evaluation) -> str:
    if not evaluation or evaluation["tuned"].get("exact_match") is None:
        return "-"
    return f"{evaluation['tuned']['exact_match']:.0%} / {evaluation['base']['exact_match']:.0%}"


def table(runs: list[dict]) -> str:
    rows = [("RUN", "STATUS", "STEPS", "LOSS (FINAL/BEST)", "EVAL (LAST/BEST)", "EXACT (TUNED/BASE)", "DURATION",
             "TOK/S", "ADAPTER")]
    for r in runs:
        steps = "-" if r["steps"] is None else f"{r['steps']}/{r['max_steps']}" if r["max_steps"] else str(r["steps"])
        rows.append((r["run_id"], r["status"], steps, f"{_num(r['final_loss'])} / {_num(r['best_loss'])}",
                     f"{_num(r['eval_loss'])} / {_num(r['best_eval_loss'])}", _exact(r["evaluation"]),
                     duration(r["duration_s"], none="-"),
                     _num(r["tokens_per_second"], 5), r["adapter"] or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows)


COMPARED = (("status", "status"), ("steps", "steps"), ("final_loss", "final loss"), ("best_loss", "best loss"),
            ("eval_loss", "eval loss"), ("best_eval_loss", "best eval loss"), ("duration_s", "duration s"),
            ("tokens_per_second", "tokens/s"), ("dataset_format", "dataset format"))
EVALUATED = (("exact_match", "exact match"), ("loss", "held-out loss"), ("perplexity", "perplexity"))


def compare_rows(runs: list[dict]) -> list[tuple[str, list]]:
    """(label, one value per run): the figures side by side, the adapter-vs-base evaluation included."""
    rows = [(label, [r[key] for r in runs]) for key, label in COMPARED]
    for key, label in EVALUATED:
        for who in ("tuned", "base"):
            rows.append((f"{label} ({who})", [(r["evaluation"] or {}).get(who, {}).get(key) for r in runs]))
    return rows


def compare(runs: list[dict], wanted: list[str]) -> tuple[dict, str]:
    from core.errors import InputError

    by_id = {r["run_id"]: r for r in runs}
    missing = [w for w in wanted if w not in by_id]
    if len(wanted) < 2 or missing:
        known = ", ".join(by_id) or "none"
        raise InputError(f"runs compare needs two or more runs found here; {', '.join(missing) or 'give more'} "
                         f"(runs: {known}).", field="RUN_ID", fix="pick RUN_IDs from `ftstudio runs`")
    chosen = [by_id[w] for w in wanted]
    rows = compare_rows(chosen)
    doc = {"runs": wanted, "rows": [{"metric": label, "values": values} for label, values in rows]}
    cells = [("", *wanted)] + [(label, *(_num(v) if isinstance(v, float) else "-" if v is None else str(v)
                                        for v in values)) for label, values in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    return doc, "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def run(args, console) -> int:
    from core.errors import InputError
    from infra.workspace import printable
    from usecases.run_history import list_runs

    project = open_project(args)
    runs = list_runs(project)
    words = list(getattr(args, "words", None) or [])
    if words:
        if words[0] != "compare":
            raise InputError(f"Unknown runs action {words[0]!r}.", field="ACTION",
                             fix="use `ftstudio runs` or `ftstudio runs compare RUN_ID RUN_ID ...`")
        doc, text = compare(runs, words[1:])
        console.result(doc, lambda: "\n".join(printable(line) for line in text.splitlines()))
        return 0
    doc = {"project": project.name, "runs": runs,
           "tracking_uris": sorted({r["tracking_uri"] for r in runs if r["tracking_uri"]})}

    def human() -> str:
        if not runs:
            return "No training run found on this machine yet: `ftstudio run --follow` starts one " \
                   "(Azure runs show up here after `ftstudio download`)."
        lines = table(runs).splitlines()
        tracked = [f"  {r['run_id']}: {r['tracking_uri']}" for r in runs if r["tracking_uri"]]
        if tracked:
            lines += ["MLflow stores (MLflow's client or UI reads them):", *tracked]
        return "\n".join(printable(line) for line in lines)  # run names come from folders: shown escaped

    console.result(doc, human)
    return 0
