"""Workspace → Azure Files sync against the in-process fake Azure (real SDK clients, HTTPS loopback).

Workspace: 1,000 small files (1-4 KB, 20 folders) plus one 200 MB file (a dataset, so it is under
the 1 GiB guard and needs no --force). Reports, for the first sync, an unchanged re-sync and a
one-file change: wall time, HTTP requests the fake answered, and files/bytes uploaded.
Target: an unchanged re-sync under 30 requests.

Run: .venv/bin/python benchmarks/sync.py [--small N] [--big-mb M]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_workspace(root: Path, small: int, big_mb: int) -> None:
    rng = random.Random(7)
    for i in range(small):
        folder = root / "dataset" / f"part{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rows{i:04d}.jsonl").write_bytes(rng.randbytes(rng.randint(1024, 4096)))
    big = root / "dataset" / "big.jsonl"
    with open(big, "wb") as fh:
        block = rng.randbytes(1024 * 1024)
        for i in range(big_mb):
            fh.write(block[i % 7:] + block[: i % 7])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--big-mb", type=int, default=200)
    args = parser.parse_args()

    from tests.fakeazure.server import FakeAzure
    from tests.wire import _finetune_project as fp

    rows = []
    with FakeAzure() as fake, tempfile.TemporaryDirectory(prefix="ftbench-") as tmp:
        os.environ.update(fake.env())
        os.environ["FTSTUDIO_HOME"] = str(Path(tmp) / "home")
        os.environ["FTSTUDIO_RETRY_BACKOFF_S"] = "0"
        fp.create_resources(fake)
        root = fp.write_project(Path(tmp) / "proj", fake)
        make_workspace(root, args.small, args.big_mb)

        def measure(label: str) -> None:
            backend = fp.backend_for(root)
            fake.requests.clear()
            start = time.perf_counter()
            result = backend.sync()
            wall = time.perf_counter() - start
            rows.append((label, wall, len(fake.requests), result.requests, len(result.uploaded), result.bytes_uploaded))

        measure("first sync")
        measure("unchanged re-sync")
        changed = root / "dataset" / "part03" / "rows0003.jsonl"
        changed.write_bytes(changed.read_bytes() + b"\n{}")
        measure("one file changed")

        files = fp.share_files(fake)
        import base64
        import hashlib

        from infra.workspace import md5_file

        mismatched = [p for p, data in files.items() if (root / p).is_file()
                      and base64.b64encode(hashlib.md5(data).digest()).decode() != md5_file(root / p)]

    print(f"workspace: {args.small} small files + one {args.big_mb} MB file; fake Azure over HTTPS loopback")
    print(f"{'':20} {'wall s':>8} {'requests':>9} {'(client)':>9} {'files':>6} {'MB':>8}")
    for label, wall, served, counted, nfiles, nbytes in rows:
        print(f"{label:20} {wall:8.2f} {served:9d} {counted:9d} {nfiles:6d} {nbytes / 1e6:8.1f}")
    print(f"files on the share whose MD5 differs from the workspace: {len(mismatched)}")
    ok = rows[1][2] < 30 and not mismatched
    print("unchanged re-sync under 30 requests:", "yes" if rows[1][2] < 30 else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
