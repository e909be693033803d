"""The OpenAI-compatible API of inference/app.py: /v1/chat/completions, /v1/models, /health.

Requests are checked like OpenAI checks them (a 400 with an OpenAI-style error body), /v1 needs
``Authorization: Bearer $INFERENCE_API_KEY``, and answers stream as ``chat.completion.chunk`` events.
"""

import hmac
import json
import time
import uuid
from typing import Any, Iterator

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from model_server import DEFAULT_MAX_TOKENS, ModelServer

MAX_MAX_TOKENS = 4096
MAX_STOPS = 4


def message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def openai_error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None):
    return JSONResponse(status_code=status,
                        content={"error": {"message": message, "type": type_, "param": param, "code": code}})


# -- requests --------------------------------------------------------------------------------
class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Any = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_MAX_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: dict | None = None
    n: int | None = Field(default=1, ge=1, le=1)
    seed: int | None = None


class AuthFailed(Exception):
    def __init__(self, message: str):
        self.message = message


def add_error_handlers(app) -> None:
    @app.exception_handler(AuthFailed)
    async def _auth_failed(_request, exc: AuthFailed):
        return openai_error(401, exc.message, "invalid_request_error", "invalid_api_key")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return openai_error(400, f"{where or 'request'}: {first.get('msg', 'invalid request')}",
                            "invalid_request_error", param=where or None)


def key_check(api_key: str | None, no_auth: bool):
    """The dependency that guards /v1: a constant-time compare with INFERENCE_API_KEY."""
    def require_key(request: Request) -> None:
        if no_auth:
            return
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if not given.strip() and scheme.lower() in ("", "bearer"):
            raise AuthFailed("You didn't provide an API key. Send `Authorization: Bearer <INFERENCE_API_KEY>`.")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_key.encode()):
            raise AuthFailed("Incorrect API key provided.")

    return require_key


# -- routes ----------------------------------------------------------------------------------
def add_routes(app, server: ModelServer, api_key: str | None, no_auth: bool) -> None:
    add_error_handlers(app)
    require_key = key_check(api_key, no_auth)

    @app.get("/health")
    def health():
        if server.state != "ready":
            body = {"status": server.state}
            if server.error:
                body["error"] = server.error
            return JSONResponse(status_code=503, content=body)
        return health_body(server)

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    def list_models():
        return {"object": "list", "data": [
            {"id": server.model_name, "object": "model", "created": server.created, "owned_by": "ftstudio"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    def chat_completions(body: ChatRequest):
        return chat_completion(server, body)


def health_body(server: ModelServer) -> dict:
    return {"status": "ok", "model": server.model_name, "base_model": server.model_cfg.get("id"),
            "adapter": server.run_id,
            "adapter_path": str(server.adapter_dir.relative_to(server.root)) if server.adapter_dir else None,
            "recipe": server.recipe if server.adapter_dir else None, "device": server.device,
            "dtype": server.dtype, "prompt": "text_template" if server.prompts.uses_template else "chat_template",
            "load_seconds": server.load_seconds}


def not_ready(server: ModelServer):
    if server.state == "failed":
        return openai_error(503, f"the model failed to load: {server.error}", "server_error", "model_failed")
    return openai_error(503, "the model is still loading; retry shortly (GET /health)", "server_error",
                        "model_loading")


def chat_completion(server: ModelServer, body: ChatRequest):
    if server.state != "ready":
        return not_ready(server)
    messages = [{"role": m.role, "content": message_text(m.content)} for m in body.messages]
    if not any(m["role"] == "user" for m in messages):
        return openai_error(400, "messages: at least one message with role 'user' is required",
                            "invalid_request_error", param="messages")
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    temperature = 1.0 if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS:
        return openai_error(400, f"stop: at most {MAX_STOPS} stop sequences", "invalid_request_error", param="stop")
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.stream:
        out = server.complete(messages, max_tokens, temperature, top_p, stops, body.seed)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": server.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": out["text"]},
                         "logprobs": None, "finish_reason": out["finish_reason"]}],
            "usage": usage_of(out),
        }
    chunks = Chunks(completion_id, created, server.model_name)
    tokens = server.stream(messages, max_tokens, temperature, top_p, stops, body.seed)
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    return StreamingResponse(sse_events(tokens, chunks, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def usage_of(out: dict) -> dict:
    return {"prompt_tokens": out["prompt_tokens"], "completion_tokens": out["completion_tokens"],
            "total_tokens": out["prompt_tokens"] + out["completion_tokens"]}


class Chunks:
    """``data: {chat.completion.chunk}`` lines of one streamed completion."""

    def __init__(self, completion_id: str, created: int, model: str):
        self.completion_id, self.created, self.model = completion_id, created, model

    def __call__(self, delta: dict, finish: str | None = None, usage: dict | None = None,
                 choices: bool = True) -> str:
        data = {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                if choices else []}
        if usage is not None:
            data["usage"] = usage
        return f"data: {json.dumps(data)}\n\n"


def sse_events(tokens: Iterator[tuple[str, Any]], chunk: Chunks, include_usage: bool) -> Iterator[str]:
    yield chunk({"role": "assistant", "content": ""})
    try:
        for kind, value in tokens:
            if kind == "text":
                yield chunk({"content": value})
            else:
                yield chunk({}, value["finish_reason"])
                if include_usage:
                    yield chunk({}, usage=usage_of(value), choices=False)
    except Exception as exc:  # noqa: BLE001 - headers are gone; report in-band like OpenAI does
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
    yield "data: [DONE]\n\n"
