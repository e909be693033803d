"""The Gradio chat of inference/app.py at /, calling the model in-process (login: any user name and
the API key as password); a plain page when gradio cannot be imported. Each answer is generated from
the whole conversation (the system prompt, by default the one the run was trained with, and the
history), rendered like the API renders it."""

import hmac

from model_server import DEFAULT_MAX_TOKENS, ModelServer
from openai_api import message_text


def conversation(message, history, system: str = "") -> list[dict]:
    """The chat's messages for the model: the system prompt, the history (Gradio's role/content turns),
    the new message; the model server renders them as the API's requests are rendered."""
    messages = [{"role": "system", "content": system}] if system and system.strip() else []
    for turn in history or []:
        if isinstance(turn, dict) and turn.get("role") in ("user", "assistant"):
            messages.append({"role": turn["role"], "content": message_text(turn.get("content"))})
    messages.append({"role": "user", "content": message_text(message)})
    return messages


def mount_ui(app, server: ModelServer, api_key: str | None) -> None:
    try:
        import gradio as gr
    except Exception as exc:  # noqa: BLE001 - gradio is optional for the API
        mount_no_ui_page(app, f"{type(exc).__name__}: {exc}")
        return

    def respond(message, history, system=""):
        if server.state != "ready":
            yield "The model is still loading, try again in a moment." if server.state == "loading" \
                else f"The model failed to load: {server.error}"
            return
        text = ""
        for kind, value in server.stream(conversation(message, history, system), DEFAULT_MAX_TOKENS, 0.7, 0.95, []):
            if kind == "text":
                text += value
                yield text

    system = gr.Textbox(value=server.system_prompt, label="System prompt", lines=2)
    blocks = gr.ChatInterface(respond, title=f"Chat with {server.model_name}", additional_inputs=[system],
                              description="Fine-tuned with ftstudio. The same model answers at /v1/chat/completions.")
    auth = (lambda _user, password: hmac.compare_digest(password.encode(), api_key.encode())) if api_key else None
    gr.mount_gradio_app(app, blocks, path="/", auth=auth,
                        auth_message="Log in with any user name and the INFERENCE_API_KEY as password.",
                        ssr_mode=False)
    quiet_when_idle(blocks)


def mount_no_ui_page(app, reason: str) -> None:
    from fastapi.responses import HTMLResponse

    reason = reason.replace("<", "&lt;")

    @app.get("/", response_class=HTMLResponse)
    def no_ui():
        return (f"<!doctype html><title>ftstudio inference</title><h1>Chat UI unavailable</h1>"
                f"<p>gradio could not be imported ({reason}). Install it with "
                f"<code>pip install -r setup/requirements.txt</code>. The OpenAI-compatible API is at "
                f"<code>/v1/chat/completions</code>; health at <code>/health</code>.</p>")


# Gradio's queue polls: its loops sleep 1 ms (processing) and 10 ms (progress) while nothing is queued,
# about 1,100 event-loop wake-ups a second on an idle server (2-10% of a core, issue 23). Poll that fast
# only while there is work, and a few times a second when idle: a chat's first event then waits at most
# IDLE_POLL_S longer to start; the API (/v1) never goes through this queue.
IDLE_POLL_S = 0.25
_BUSY_POLL_S = {"sleep_when_free": 0.001, "progress_update_sleep_when_free": 0.01}


def quiet_when_idle(blocks) -> None:
    queue = getattr(blocks, "_queue", None)
    if queue is None or not all(hasattr(queue, name) for name in _BUSY_POLL_S):
        return  # another gradio layout: leave it as it is

    def poll_interval(name):
        def get(self):
            busy = len(self) > 0 or any(job is not None for job in self.active_jobs)
            return _BUSY_POLL_S[name] if busy else IDLE_POLL_S
        return property(get)

    # A data descriptor on the class wins over the instance attribute the queue's __init__ set.
    queue.__class__ = type("QuietQueue", (type(queue),), {name: poll_interval(name) for name in _BUSY_POLL_S})
