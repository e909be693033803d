"""inference/app.py really serves the trained adapter: uvicorn subprocess + the official openai client."""
from __future__ import annotations

import json
import socket
import subprocess
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import HELD_OUT, PYTHON, stop_server, subprocess_env

pytestmark = pytest.mark.e2e
API_KEY = "sk-test-inference-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_project):
    """`python inference/app.py` on a free loopback port; records /health codes from the first answer on."""
    port = free_port()
    proc = subprocess.Popen([PYTHON, "inference/app.py", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=trained_project, env=subprocess_env(INFERENCE_API_KEY=API_KEY),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    codes, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited {proc.returncode}:\n{proc.stdout.read()}")
            try:
                response = httpx.get(f"{base}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            codes.append((response.status_code, response.json()))
            if response.status_code == 200:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"not healthy in time: {codes[-3:]}")
        yield {"base": base, "health_codes": codes, "project": trained_project, "pid": proc.pid}
    finally:
        stop_server(proc)


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=f"{server['base']}/v1", api_key=API_KEY, max_retries=0, timeout=60)


def test_health_is_503_while_loading_then_200_with_the_adapter(server):
    codes = server["health_codes"]
    assert codes[0] == (503, {"status": "loading"})
    status, body = codes[-1]
    assert status == 200 and body["status"] == "ok"
    assert body["adapter"] == "run-1" and body["adapter_path"] == "outputs/run-1"  # latest succeeded run
    assert body["device"] == "cpu" and body["dtype"] == "float32" and body["prompt"] == "text_template"


def test_models_list(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny-llama:run-1"]


def test_chat_completion_answers_held_out_phrases_with_the_learned_tone(client):
    answers = {}
    for phrase, tone in HELD_OUT.items():
        completion = client.chat.completions.create(
            model="tiny-llama:run-1", messages=[{"role": "user", "content": phrase}], temperature=0, max_tokens=8)
        answers[phrase] = (completion.choices[0].message.content.strip(), tone)
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
        assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert all(got == want for got, want in answers.values()), answers


def test_streaming_chat_completion(client):
    stream = client.chat.completions.create(
        model="tiny-llama:run-1", messages=[{"role": "user", "content": "I love my dog today"}], temperature=0,
        max_tokens=8, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "happy"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_raw_stream_ends_with_done(server):
    with httpx.stream("POST", f"{server['base']}/v1/chat/completions", timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"messages": [{"role": "user", "content": "I hate my phone tonight"}], "stream": True,
                            "temperature": 0, "max_tokens": 8}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads).strip() == "angry"


def test_stop_sequences_cut_the_answer(client):
    for stop in ("pp", ["zz", "ppy"]):
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "I love my dog today"}], temperature=0, stop=stop)
        assert completion.choices[0].message.content == "ha"
        assert completion.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "I love my dog today"}], temperature=0, stop="ppy",
        stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "ha"


def test_max_tokens_gives_finish_reason_length(client):
    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "I love my dog today"}], temperature=0, max_tokens=1)
    assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 1


def test_missing_and_wrong_keys_are_refused_with_401(server):
    wrong = openai.OpenAI(base_url=f"{server['base']}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    keyless = openai.OpenAI(base_url=f"{server['base']}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as missing:
        keyless.models.list(extra_headers={"Authorization": openai.omit})
    assert "didn't provide an API key" in missing.value.message
    raw = httpx.post(f"{server['base']}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "invalid_request_error"


def test_bad_request_is_an_openai_style_400(client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="m", messages=[])
    assert "messages" in bad.value.message


def test_chat_ui_is_mounted_at_root(server):
    page = httpx.get(f"{server['base']}/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "gradio" in page.text.lower()


def wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid``: each is one sleep-and-wake."""
    import pathlib

    total = 0
    for status in pathlib.Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def test_an_idle_server_with_the_chat_ui_sleeps(server):
    """No request for 3 s: a handful of wake-ups a second (uvicorn's tick, Gradio's idle poll), not the
    ~1,000 a second of Gradio's 1 ms queue poll. The bound is generous for a loaded CI machine."""
    httpx.get(f"{server['base']}/", timeout=30)  # the UI has been used once
    time.sleep(1.0)
    before, start = wakeups(server["pid"]), time.monotonic()
    time.sleep(3.0)
    rate = (wakeups(server["pid"]) - before) / (time.monotonic() - start)
    assert rate < 100, f"{rate:.0f} wake-ups/s while idle"


def test_the_web_chat_answers_through_the_gradio_queue(server):
    from gradio_client import Client

    chat = Client(server["base"] + "/", auth=("me", API_KEY), verbose=False)
    answer = chat.predict("I love my dog today", api_name="/respond")  # ChatInterface's fn name
    assert isinstance(answer, str) and answer.strip()


def test_server_refuses_to_start_without_a_key_or_with_an_unknown_run(trained_project):
    env = subprocess_env()
    env.pop("INFERENCE_API_KEY", None)
    res = subprocess.run([PYTHON, "inference/app.py", "--port", "1"], cwd=trained_project, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "INFERENCE_API_KEY is not set" in res.stderr

    res = subprocess.run([PYTHON, "inference/app.py", "--port", "1", "--run", "nope"], cwd=trained_project,
                         env=subprocess_env(INFERENCE_API_KEY=API_KEY), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "run 'nope' has no adapter" in res.stderr and "run-1" in res.stderr
