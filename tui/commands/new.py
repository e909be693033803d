"""``ftstudio new NAME --model ID``: generate a fine-tuning project (scaffolds.generate does the work)."""
from __future__ import annotations

import shlex
from pathlib import Path

DEFAULT_MODEL = "microsoft/Phi-3-mini-4k-instruct"


def run(args, console) -> int:
    from core.errors import MissingInputs
    from infra.workspace import printable
    from scaffolds import catalog
    from scaffolds.generate import ProjectSpec, validate_name
    from usecases.projects import dataset_summary, generate_project
    from scaffolds.params import coerce, parse_overrides

    # Cheap checks first, so a typo fails before any prompt or hub lookup.
    overrides = parse_overrides(args.overrides)
    if getattr(args, "dataset_format", None):  # --format and --map are the dataset_format and column_map settings
        overrides["dataset_format"] = coerce("dataset_format", args.dataset_format)
    if getattr(args, "mapping", None):
        overrides["column_map"] = ",".join(args.mapping)
    if not console.interactive:  # report every missing input at once
        missing = [(label, how) for label, how, value in (
            ("NAME", "the NAME argument, e.g. `ftstudio new my-tones`", args.name),
            ("model", "--model ID (see `ftstudio models`)", args.model)) if not value]
        if missing:
            raise MissingInputs(missing)
    name = args.name
    if not name:
        name = console.prompt("Project name", name="NAME", how="the NAME argument, e.g. `ftstudio new my-tones`")
    validate_name(name)
    model = args.model
    if not model:
        if console.interactive:
            console.info("Catalog: " + ", ".join(m["id"] for m in catalog.entries()))
        model = console.prompt("Model (catalog name, Hugging Face repo id or local folder)", name="model",
                               how="--model ID", default=DEFAULT_MODEL)
    spec = ProjectSpec(name=name, model=model, parent=Path(args.dir or "."), recipe=args.recipe,
                       dataset=args.dataset or None, eval_dataset=getattr(args, "eval_dataset", None) or None,
                       overrides=overrides,
                       target=getattr(args, "target", None) or "azure")
    result = generate_project(spec, console.event)
    doc = result.to_json()
    summary = dataset_summary(result)
    doc["dataset"]["report"] = summary

    def human() -> str:
        # names come from the user's folders: printed with control characters escaped (one line each)
        m, where = result.model, printable(str(result.path))
        lines = [f"Created {where} ({len(result.files)} files)",
                 f"  model   {printable(m['id'])}" + ("" if m.get("verified") else " (not verified: hub unreachable)"),
                 f"  recipe  {result.recipe}   target {result.target}   GPU {result.params['gpuProfileType']}",
                 f"  dataset {printable(result.train_file)} ("
                 + (f"{result.dataset_rows} rows, " if result.dataset_rows is not None else "")
                 + f"format {result.dataset_format})",
                 *([_tokens_line(summary)] if summary and summary["tokens"]["max"] is not None else []),
                 "Next:",
                 f"  cd {shlex.quote(str(result.path)) if where == str(result.path) else where}"]
        if result.target == "local":
            lines.append("  ftstudio run --follow")
        else:
            lines += ["  ftstudio provision finetune --subscription ID --resource-group RG --location REGION",
                      "  ftstudio run --follow"]
        return "\n".join(lines)

    console.result(doc, human)
    return 0


def _tokens_line(summary: dict) -> str:
    t = summary["tokens"]
    how = "" if summary["tokenizer"] == "tokenizer" else " (approximate: the tokenizer is not downloaded yet)"
    return (f"  tokens  p50 {t['p50']}  p95 {t['p95']}  max {t['max']}{how}; {summary['truncated']} rows over "
            f"{summary['max_length']} (source_max_len); {100 * (summary['trained_token_share'] or 0):.0f}% trained "
            f"({summary['trained_part']})")
