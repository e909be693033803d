"""``ftstudio models [--search TEXT] [--all]``: the model catalog as a table or a JSON list."""
from __future__ import annotations

COLUMNS = ("MODEL", "PARAMS", "LICENCE", "GATED", "MIN GPU", "QLORA GiB", "LORA GPU", "LORA GiB", "CONTEXT", "FORMAT")
FIELDS = ("id", "repo", "family", "params", "licence", "gated", "chat_format", "min_gpu", "min_gpu_label", "gpu_quota",
          "context_length", "architecture", "aitk", "defaults_source", "gpu")


def _params(n) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 0.95e9 else f"{n / 1e6:.0f}M"


def _gib(summary: dict) -> str:
    """'12.6 b2': the estimate at the defaults and the per-device batch it assumes."""
    est = summary.get("estimate")
    return f"{est['total_gib']:.1f} b{est['batch']}" if est else "?"


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
                 m["min_gpu_label"], _gib(m["gpu"]["qlora"]), m["gpu"]["lora"]["label"], _gib(m["gpu"]["lora"]),
                 m.get("context_length") or "?", m["chat_format"]) for m in shown]
        widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [COLUMNS, *rows]]
        lines.append("")
        lines.append("GiB: estimated training memory at the defaults (b = per-device batch, lowered until the GPU "
                     "fits; source_max_len tokens a row): weights + LoRA and optimizer + activations + logits + "
                     "CUDA overhead; --json shows each term.")
        lines.append("Any other Hugging Face repo id (org/name) or a local model folder works with `ftstudio new "
                     "NAME --model ...` too.")
        return "\n".join(lines)

    console.result(doc, human)
    return 0
