"""The long profile of the CLI fuzz test (tests/unit/test_fuzz_cli.py): N random cases per property
(default 3,000; CI runs 150 with a fixed seed), new random draws each run, with Hypothesis's
statistics (how many cases reached exit 0, 1, 2). A failure prints the smallest failing input.

Run: .venv/bin/python benchmarks/fuzz_cli.py [--examples N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000)
    args = parser.parse_args()
    env = {**os.environ, "FTSTUDIO_FUZZ_EXAMPLES": str(args.examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           "tests/unit/test_fuzz_cli.py"]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
