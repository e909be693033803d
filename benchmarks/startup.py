"""Median wall time of `ftstudio --help` over 10 runs (target: under 0.15 s on a 2-core machine).

Also reports which heavy modules a plain `--help` imported (there must be none).
Run: .venv/bin/python benchmarks/startup.py
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
HEAVY = ("azure", "textual", "torch", "transformers", "huggingface_hub", "jinja2", "rich")


def main() -> int:
    exe = Path(sys.executable).with_name("ftstudio")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "tui", "--help"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the OS file cache
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    probe = (
        "import contextlib, io, sys; from tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip().splitlines()
    median = statistics.median(times)
    print(f"ftstudio --help: median {median * 1000:.1f} ms over {RUNS} runs "
          f"(min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms); target < 150 ms")
    print(f"heavy modules imported by --help: {heavy[-1] if heavy and heavy[-1] else 'none'}")
    return 0 if median < 0.15 else 1


if __name__ == "__main__":
    sys.exit(main())
