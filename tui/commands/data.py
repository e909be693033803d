"""``ftstudio data check FILE|DIR [--model ID|PATH] [--format F] [--map FIELD=COLUMN ...] [--max-length N]``.

The dataset report before anything is written or uploaded: the format, rows, token lengths, rows
truncated at the sequence length, the share of tokens trained on, the first example as training
sees it (the trained part in ⟦ ⟧) and every bad row with its fix. Exit 2 when a row is bad (one
error line naming the first and the count), 0 otherwise; under ``--json`` the report is the one
JSON document on stdout either way.
"""
from __future__ import annotations

from core.errors import InputError
from infra.workspace import printable

SHOWN_PROBLEMS = 20
EXAMPLE_CHARS = 2000


def _rows(n: int) -> str:
    return f"{n} row" + ("" if n == 1 else "s")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines() or [""])


def human(doc: dict) -> str:
    from scaffolds.datasets.report import marked

    d, t, tok = doc["detection"], doc["tokens"], doc["tokenizer"]
    how = "detected" if d["how"] == "detected" else "from --format"
    lines = [f"{doc['path']}: {_rows(doc['rows'])} ({doc['source']}), format {doc['format']} ({how}: {d['reason']})"]
    if doc.get("project"):
        lines.append(f"  project   {doc['project']} (its model, text_template and source_max_len are the defaults)")
    if d.get("mapping"):
        lines.append("  columns   " + ", ".join(f"{k} <- {v}" for k, v in d["mapping"].items()))
    counted = tok["source"] if tok["exact"] else f"none, {tok['method']}: {tok['note']}"
    lines.append(f"  tokenizer {counted}")
    example = doc.get("example")
    if example:
        lines.append(f"  rendered  {example['rendered_with']}")
    if doc["valid_rows"]:
        approx = "" if t["exact"] else " (approximate)"
        lines += [f"  tokens    p50 {t['p50']}  p95 {t['p95']}  max {t['max']}{approx}",
                  f"  truncated {doc['truncated']} of {_rows(doc['valid_rows'])} over {doc['max_length']} tokens "
                  f"({doc['max_length_source']})",
                  f"  trained   {100 * doc['trained_token_share']:.1f}% of the tokens ({doc['trained_part']})"]
    else:
        lines.append("  no usable row")
    if example:
        text = marked((s["text"], s["trained"]) for s in example["segments"])
        if len(text) > EXAMPLE_CHARS:
            text = text[:EXAMPLE_CHARS] + " …"
        lines += [f"  first example ({doc['unit']} {example['line']}, {example['tokens']} tokens), "
                  "the trained part in ⟦ ⟧:", _indent(text)]
    if doc["problem_rows"]:
        lines.append(f"  bad rows  {doc['problem_rows']}:")
        for p in doc["problems"][:SHOWN_PROBLEMS]:
            lines.append(f"    {doc['unit']} {p['line']}: {p['problem']}. Fix: {p['fix']}")
        if doc["problem_rows"] > SHOWN_PROBLEMS:
            lines.append(f"    … and {doc['problem_rows'] - SHOWN_PROBLEMS} more (--json lists them)")
    # rows and names are the user's data: control characters are shown escaped, never sent to the terminal
    return "\n".join(printable(line) for line in "\n".join(lines).splitlines())


def run(args, console) -> int:
    action = getattr(args, "data_command", None)
    if action != "check":
        raise InputError("Which data action?", field="ACTION", fix="use ftstudio data check FILE --model ID")
    from scaffolds.project_code import input_errors, training_data
    from usecases.data import check_dataset

    with input_errors():
        mapping = training_data.formats.parse_mapping(args.mapping or [])
    from tui.commands._common import open_project

    try:  # in a project (--project, or the current folder), its model, template and sequence length are the defaults
        project = open_project(args)
    except InputError:
        if getattr(args, "project", None):
            raise
        project = None
    doc = check_dataset(args.path, model=args.model, dataset_format=args.dataset_format, mapping=mapping,
                        max_length=args.max_length, text_template=args.text_template, project=project)
    for warning in doc["warnings"]:
        console.warn(printable(warning))
    if doc["problem_rows"]:
        first = doc["problems"][0]
        error = InputError(f"{doc['problem_rows']} bad row(s) in {doc['path']}; the first, {doc['unit']} "
                           f"{first['line']}: {first['problem']}.", field=f"{doc['unit']} {first['line']}",
                           fix=first["fix"])
        doc["error"] = error.to_json()
        console.result(doc, lambda: human(doc))
        console.info(printable(f"error: {error.one_line()}"))  # one line; the report stays the one document
        return int(error.exit_code)
    console.result(doc, lambda: human(doc))
    return 0
