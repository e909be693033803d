"""``ftstudio models [--search TEXT] [--all]``: the model catalog as a table or a JSON list."""
from __future__ import annotations

COLUMNS = ("MODEL", "PARAMS", "LICENCE", "GATED", "MIN GPU", "FORMAT")
FIELDS = ("id", "repo", "params", "licence", "gated", "chat_format", "min_gpu", "min_gpu_label", "gpu_quota",
          "context_length", "architecture", "aitk", "defaults_source")


def _params(n) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def run(args, console) -> int:
    from scaffolds import catalog

    everything = catalog.search(args.search)
    shown = everything if args.all else [m for m in everything if m["min_gpu"] == catalog.T4]
    hidden = len(everything) - len(shown)
    if hidden:
        console.info(f"{hidden} more model(s) need an A100 80GB GPU: add --all to list them")
    doc = [{k: m.get(k) for k in FIELDS} for m in shown]

    def human() -> str:
        if not shown:
            return f"No model matches {args.search!r}." if args.search else "No model."
        rows = [(m["id"], _params(m.get("params")), m.get("licence") or "?", "yes" if m.get("gated") else "no",
                 m["min_gpu_label"], m["chat_format"]) for m in shown]
        widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [COLUMNS, *rows]]
        lines.append("")
        lines.append("Any other Hugging Face repo id (org/name) or a local model folder works with `ftstudio new "
                     "NAME --model ...` too.")
        return "\n".join(lines)

    console.result(doc, human)
    return 0
