"""Run the fake Azure standalone: ``python -m tests.fakeazure [--port N]``.

Prints the ``export`` lines that point ftstudio at it; Ctrl-C stops it. Job executions default
to a plausible run (a few progress lines, outputs written to the share, success)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeAzure


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fakeazure", description=__doc__)
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--latency-ms", type=float, default=0.0,
                    help="round trip added to every request (e.g. 15: a laptop to its Azure region)")
    args = ap.parse_args(argv)
    fake = FakeAzure(port=args.port, standalone=True, latency_ms=args.latency_ms).start()
    fake.reset()
    for k, v in fake.env().items():
        if k != "FTSTUDIO_POLLING_INTERVAL":
            print(f"export {k}={v}")
    print(f"# fake Azure on {fake.base_url} (subscription {fake.subscription_id}); Ctrl-C to stop", file=sys.stderr)
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
