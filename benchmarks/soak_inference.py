"""Idle cost of the generated inference server (issue 23): CPU and wake-ups, worst minute of a soak.

Builds the tiny model offline, trains a short LoRA run, serves `inference/app.py` (Gradio UI mounted)
on 127.0.0.1, sends a user's session (a plain completion, a streamed one, a stream abandoned after its
first chunk, the chat page, one web-chat message through the Gradio queue), then samples the server's
CPU time and voluntary context switches (every thread) once a minute and reports the worst minute.

Run: .venv/bin/python benchmarks/soak_inference.py [--minutes 30] [--before]
``--before`` serves the app with the idle fix taken out, for the side-by-side figure.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "sk-soak"


def cpu_and_wakeups(pid: int) -> tuple[float, int]:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    wakes = 0
    for status in pathlib.Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                wakes += int(line.split()[1])
    return cpu, wakes


def user_session(base: str) -> None:
    import httpx
    import openai
    from gradio_client import Client

    client = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=120)
    msgs = [{"role": "user", "content": "I love my dog today"}]
    client.chat.completions.create(model="m", messages=msgs, max_tokens=8)
    for _ in client.chat.completions.create(model="m", messages=msgs, max_tokens=8, stream=True):
        pass
    abandoned = client.chat.completions.create(model="m", messages=msgs, max_tokens=64, stream=True)
    next(iter(abandoned))
    abandoned.close()
    httpx.get(f"{base}/", timeout=60)
    Client(base + "/", auth=("me", KEY), verbose=False).predict("I hate my phone", api_name="/respond")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--before", action="store_true", help="serve without the idle fix")
    args = parser.parse_args()
    import httpx

    from scaffolds import tinymodel
    from tests.e2e.conftest import (HELD_OUT, make_project, run_script, stop_server, subprocess_env, tone_rows,
                                    write_jsonl)
    from tests.e2e.test_inference_app import free_port

    work = pathlib.Path(tempfile.mkdtemp(prefix="ftstudio-soak-"))
    corpus = write_jsonl(work / "corpus.jsonl", tone_rows() + [{"phrase": p, "tone": t} for p, t in HELD_OUT.items()])
    project = make_project(work / "proj", tinymodel.build(work / "tiny", [corpus]), max_steps=20)
    for script, run_id in (("finetuning/fetch_model.py", None), ("finetuning/train.py", "run-1")):
        done = run_script(project, script, run_id=run_id)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
    ui = project / "inference/chat_ui.py"
    if args.before:
        ui.write_text(ui.read_text().replace("\n    quiet_when_idle(blocks)\n", "\n"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "inference/app.py", "--port", str(port)], cwd=project,
                            env=subprocess_env(INFERENCE_API_KEY=KEY), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            print("server not healthy in 180 s", file=sys.stderr)
            return 1
        user_session(base)
        time.sleep(5)  # let the session's last work settle
        minutes, worst = [], (0.0, 0.0)
        window = min(60.0, args.minutes * 60)
        for _ in range(max(1, round(args.minutes * 60 / window))):
            cpu0, w0 = cpu_and_wakeups(proc.pid)
            t0 = time.monotonic()
            time.sleep(window)
            cpu1, w1 = cpu_and_wakeups(proc.pid)
            dt = time.monotonic() - t0
            sample = (100 * (cpu1 - cpu0) / dt, (w1 - w0) / dt)
            minutes.append(sample)
            worst = max(worst, sample)
            print(f"minute {len(minutes)}: {sample[0]:.2f}% of a core, {sample[1]:.0f} wake-ups/s", flush=True)
        label = "before the fix" if args.before else "with the fix"
        print(f"worst minute ({label}, {len(minutes)} sampled): {worst[0]:.2f}% of a core, {worst[1]:.0f} wake-ups/s")
        return 0
    finally:
        stop_server(proc)


if __name__ == "__main__":
    sys.exit(main())
