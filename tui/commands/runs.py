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


def run(args, console) -> int:
    from infra.workspace import printable
    from usecases.run_history import list_runs

    project = open_project(args)
    runs = list_runs(project)
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
