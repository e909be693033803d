"""Serve the fine-tuned model: an OpenAI-compatible API plus a Gradio chat UI, in one FastAPI app.

    INFERENCE_API_KEY=... python3 inference/app.py [--host 0.0.0.0] [--port 7860]
                                                  [--run RUN_ID | --base-only] [--config finetuning/train_config.json]

- ``POST /v1/chat/completions`` (streaming SSE ``chat.completion.chunk`` + ``data: [DONE]``, or one
  ``chat.completion`` with ``usage``; ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``,
  ``stop``, ``seed``), ``GET /v1/models``: need ``Authorization: Bearer $INFERENCE_API_KEY``.
- ``GET /health``: open; 503 ``{"status": "loading"}`` until the model is loaded (in a background
  thread, so the port answers at once), then 200 with the model and adapter.
- ``/``: a Gradio chat (login: any user name, the API key as password); a short HTML page when
  gradio is not installed.

The base model comes from ``model.local_dir`` of the config (the folder fetch_model.py fills), the
adapter from ``outputs/<RUN_ID>/`` (``--run``; default: the latest succeeded run), prompts from the
run's own copy of ``dataset.text_template`` (the same prompt part training used). GPU when present,
CPU otherwise; a QLoRA adapter sits on a 4-bit base on the GPU and on an fp32 base on the CPU.
For tests: ``create_app(config_path, run=None, base_only=False, api_key=...)`` builds the app.
"""

import argparse
import hmac
import json
import os
import re
import string
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = "finetuning/train_config.json"
DEFAULT_MAX_TOKENS = 256
MAX_MAX_TOKENS = 4096


class AppError(Exception):
    """A startup problem the operator must fix (bad --run, missing config): one line, exit 2."""


# -- paths and config ------------------------------------------------------------------------
def find_config(value: str | os.PathLike) -> Path:
    """The config file: as given, else relative to the project root (so it works from inference/)."""
    path = Path(value)
    if path.is_file() or path.is_absolute():
        return path
    fallback = HERE.parent / path
    return fallback if fallback.is_file() else path


def project_root(config_path: Path) -> Path:
    config_path = config_path.resolve()
    return config_path.parent.parent if config_path.parent.name == "finetuning" else config_path.parent


def resolve(root: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def succeeded_runs(output_root: Path) -> list[tuple[str, Path]]:
    """(finished_at, folder) of every run with metrics.json status succeeded and an adapter, oldest first."""
    runs = []
    if output_root.is_dir():
        for folder in output_root.iterdir():
            metrics = read_json(folder / "metrics.json")
            if metrics and metrics.get("status") == "succeeded" and (folder / "adapter_config.json").is_file():
                stamp = str(metrics.get("finished_at") or "")
                runs.append((stamp, (folder / "metrics.json").stat().st_mtime, folder))
    return [(stamp, folder) for stamp, _, folder in sorted(runs)]


def select_adapter(root: Path, config: dict, run: str | None, base_only: bool) -> Path | None:
    output_root = resolve(root, config.get("output_root") or "outputs")
    if base_only:
        return None
    if run:
        folder = output_root / run
        if not (folder / "adapter_config.json").is_file():
            available = ", ".join(f.name for _, f in succeeded_runs(output_root)) or "none"
            raise AppError(f"run {run!r} has no adapter in {folder} (succeeded runs: {available}); "
                           f"pick another --run or use --base-only")
        return folder
    runs = succeeded_runs(output_root)
    return runs[-1][1] if runs else None


# -- prompts (same rule as finetuning/train.py: the last field and what follows is the answer) --
def parse_template(template: str) -> list[tuple[str, str | None]]:
    return [(literal, field) for literal, field, _spec, _conv in string.Formatter().parse(template)]


class PromptBuilder:
    def __init__(self, template: str | None, tokenizer):
        self.tokenizer = tokenizer
        self.prefix: list[tuple[str, str | None]] | None = None
        self.answer_suffix = ""
        if template:
            segments = parse_template(template)
            fields = [i for i, (_, f) in enumerate(segments) if f is not None]
            if fields:
                last = fields[-1]
                prompt_part = segments[:last] + [(segments[last][0], None)]
                self.answer_suffix = "".join(lit for lit, _ in segments[last + 1:])
                if len([f for _, f in prompt_part if f is not None]) == 1:
                    self.prefix = prompt_part

    @property
    def uses_template(self) -> bool:
        return self.prefix is not None

    def build(self, messages: list[dict]) -> tuple[str, bool]:
        """(prompt text, add_special_tokens): the template's prompt part with the last user message."""
        if self.prefix is not None:
            user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            return "".join(lit + (user if f else "") for lit, f in self.prefix), True
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text, False  # the chat template writes its own BOS
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join(lines + ["assistant:"]), True


# -- the model -------------------------------------------------------------------------------
class ModelServer:
    """Loads the model once (background thread) and runs one generation at a time."""

    def __init__(self, config_path: Path, run: str | None = None, base_only: bool = False):
        config_path = Path(config_path)
        config = read_json(config_path)
        if config is None:
            raise AppError(f"cannot read {config_path}; pass --config finetuning/train_config.json")
        model_cfg = config.get("model") or {}
        if not model_cfg.get("local_dir"):
            raise AppError(f"{config_path}: model.local_dir is empty")
        self.root = project_root(config_path)
        self.config = config
        self.model_cfg = model_cfg
        self.model_dir = resolve(self.root, model_cfg["local_dir"])
        self.adapter_dir = select_adapter(self.root, config, run, base_only)
        self.run_id = self.adapter_dir.name if self.adapter_dir else None
        run_config = read_json(self.adapter_dir / "train_config.json") if self.adapter_dir else None
        run_metrics = read_json(self.adapter_dir / "metrics.json") if self.adapter_dir else None
        self.template = ((run_config or config).get("dataset") or {}).get("text_template")
        self.recipe = (run_metrics or {}).get("recipe") or (run_config or config).get("recipe") or "lora"
        self.quantization = (run_config or config).get("quantization") or {}
        base_id = model_cfg.get("id") or Path(model_cfg["local_dir"]).name
        self.model_name = f"{base_id}:{self.run_id}" if self.run_id else base_id
        self.created = int(time.time())
        self.state, self.error = "loading", None
        self.device, self.dtype, self.load_seconds = None, None, None
        self.model = self.tokenizer = self.prompts = None
        self.stop_token_ids: list[int] = []
        self.lock = threading.Lock()
        self._loader: threading.Thread | None = None

    # loading
    def start_loading(self) -> None:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load_safely, name="model-loader", daemon=True)
            self._loader.start()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        if self._loader is not None:
            self._loader.join(timeout)
        return self.state == "ready"

    def _load_safely(self) -> None:
        try:
            self.load()
        except Exception as exc:  # noqa: BLE001 - reported by /health and the log
            self.state, self.error = "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            print(f"inference: loading the model failed: {self.error}", file=sys.stderr, flush=True)

    def load(self) -> None:
        started = time.monotonic()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (self.model_dir / "config.json").is_file():
            raise RuntimeError(f"base model not found in {self.model_dir}; run finetuning/fetch_model.py first")
        trust = bool(self.model_cfg.get("trust_remote_code"))
        cuda = torch.cuda.is_available()
        if cuda:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust}
        quantized = cuda and self.recipe == "qlora" and self.adapter_dir is not None
        if quantized:  # serve a QLoRA adapter on the same 4-bit base it was trained on
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type=self.quantization.get("quant_type", "nf4"),
                bnb_4bit_use_double_quant=bool(self.quantization.get("double_quant", True)),
                bnb_4bit_compute_dtype=dtype)
            kwargs["device_map"] = {"": 0}
        tokenizer_dir = self.adapter_dir if self.adapter_dir and (self.adapter_dir / "tokenizer_config.json").is_file() \
            else self.model_dir
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, **kwargs)
        if self.adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(self.adapter_dir))
            if not quantized:
                model = model.merge_and_unload()  # plain weights: faster generation
        if cuda and not quantized:
            model = model.to("cuda")
        model.eval()

        prompts = PromptBuilder(self.template, tokenizer)
        stop_ids = set()
        eos = model.generation_config.eos_token_id
        stop_ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            stop_ids.add(tokenizer.eos_token_id)
        suffix = prompts.answer_suffix.strip()
        if suffix:  # e.g. "<|end|>": the answer terminator training taught
            ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                stop_ids.add(ids[0])
                suffix = ""  # a stop token: no need to also look for it as text
        self.tokenizer, self.model, self.prompts = tokenizer, model, prompts
        self.stop_token_ids = sorted(stop_ids)
        self.answer_stop = suffix
        self.device = "cuda" if cuda else "cpu"
        self.dtype = str(dtype).replace("torch.", "") + (" (4-bit base)" if quantized else "")
        self.load_seconds = round(time.monotonic() - started, 2)
        self.state = "ready"
        print(f"inference: model {self.model_name} ready on {self.device} in {self.load_seconds}s", flush=True)

    # generation
    def _prepare(self, messages: list[dict], max_tokens: int, temperature: float, top_p: float,
                 stops: list[str], seed: int | None):
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        prompt, special = self.prompts.build(messages)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=special).to(self.model.device)
        prompt_len = enc["input_ids"].shape[1]
        cancel = threading.Event()
        all_stops = [s for s in stops if s] + ([self.answer_stop] if self.answer_stop else [])
        tokenizer = self.tokenizer

        class Stopper(StoppingCriteria):
            """Ends generation on a stop string (checked on the decoded tail) or a cancelled request."""

            def __call__(self, input_ids, scores, **kwargs):
                hit = cancel.is_set()
                if not hit and all_stops:
                    tail = tokenizer.decode(input_ids[0, max(prompt_len, input_ids.shape[1] - 32):],
                                            skip_special_tokens=True)
                    hit = any(s in tail for s in all_stops)
                return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

        gen_kwargs: dict[str, Any] = dict(
            **enc, max_new_tokens=max_tokens, eos_token_id=self.stop_token_ids,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
            else self.stop_token_ids[0] if self.stop_token_ids else None,
            stopping_criteria=StoppingCriteriaList([Stopper()]),
        )
        if temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(seed)
        return gen_kwargs, prompt_len, cancel, all_stops

    def complete(self, messages, max_tokens, temperature, top_p, stops, seed=None) -> dict:
        import torch

        with self.lock:
            gen_kwargs, prompt_len, _cancel, all_stops = self._prepare(messages, max_tokens, temperature, top_p,
                                                                       stops, seed)
            with torch.inference_mode():
                output = self.model.generate(**gen_kwargs)
        new_ids = output[0, prompt_len:].tolist()
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, cut = cut_at_stop(text, all_stops)
        ended = bool(new_ids) and new_ids[-1] in self.stop_token_ids
        finish = "stop" if cut or ended or len(new_ids) < max_tokens else "length"
        return {"text": text, "finish_reason": finish, "prompt_tokens": prompt_len,
                "completion_tokens": len(new_ids)}

    def stream(self, messages, max_tokens, temperature, top_p, stops, seed=None) -> Iterator[tuple[str, Any]]:
        """Yields ("text", piece) ... then ("end", {finish_reason, prompt_tokens, completion_tokens})."""
        import torch
        from transformers import TextIteratorStreamer

        self.lock.acquire()
        try:
            gen_kwargs, prompt_len, cancel, all_stops = self._prepare(messages, max_tokens, temperature, top_p,
                                                                      stops, seed)
        except BaseException:
            self.lock.release()
            raise
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    result["output"] = self.model.generate(**gen_kwargs, streamer=streamer)
            except Exception as exc:  # noqa: BLE001 - surfaced to the consumer below
                result["error"] = exc
                streamer.end()
            finally:
                self.lock.release()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        held, cut = "", False
        keep = max((len(s) for s in all_stops), default=1) - 1
        try:
            for piece in streamer:
                if cut:
                    continue  # drain: generation stops at the next step
                held += piece
                text, cut = cut_at_stop(held, all_stops)
                if cut:
                    cancel.set()
                    if text:
                        yield "text", text
                    held = ""
                    continue
                # keep back what could be the start of a stop string
                safe = len(held) - keep if all_stops else len(held)
                if safe > 0:
                    yield "text", held[:safe]
                    held = held[safe:]
            worker.join()
            if "error" in result:
                raise result["error"]
            if held and not cut:
                text, cut = cut_at_stop(held, all_stops)
                if text:
                    yield "text", text
            new_ids = result["output"][0, prompt_len:].tolist()
            ended = bool(new_ids) and new_ids[-1] in self.stop_token_ids
            finish = "stop" if cut or ended or len(new_ids) < max_tokens else "length"
            yield "end", {"finish_reason": finish, "prompt_tokens": prompt_len, "completion_tokens": len(new_ids)}
        finally:
            cancel.set()  # client went away or we are done: stop generating


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    positions = [text.find(s) for s in stops if s and s in text]
    if not positions:
        return text, False
    return text[:min(positions)], True


# -- the HTTP app ----------------------------------------------------------------------------
def message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def openai_error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status,
                        content={"error": {"message": message, "type": type_, "param": param, "code": code}})


def create_app(config_path: str | os.PathLike = DEFAULT_CONFIG, run: str | None = None, base_only: bool = False,
               api_key: str | None = None, *, no_auth: bool = False, ui: bool = True, load: bool = True):
    """The FastAPI app. ``api_key`` guards /v1 and the UI; ``None`` is refused unless ``no_auth``.

    ``load=False`` leaves the model unloaded (``app.state.server.start_loading()`` loads it).
    """
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, ConfigDict, Field
    from contextlib import asynccontextmanager

    if not api_key and not no_auth:
        raise AppError("INFERENCE_API_KEY is not set; set it (e.g. `ftstudio secret set INFERENCE_API_KEY "
                       "--inference`) or pass --no-auth for a server only you can reach")
    server = ModelServer(find_config(config_path), run=run, base_only=base_only)

    @asynccontextmanager
    async def lifespan(_app):
        if load:
            server.start_loading()
        yield

    app = FastAPI(title="ftstudio inference", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server

    class AuthFailed(Exception):
        def __init__(self, message: str):
            self.message = message

    @app.exception_handler(AuthFailed)
    async def _auth_failed(_request, exc: AuthFailed):
        return openai_error(401, exc.message, "invalid_request_error", "invalid_api_key")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return openai_error(400, f"{where or 'request'}: {first.get('msg', 'invalid request')}",
                            "invalid_request_error", param=where or None)

    def require_key(request: Request) -> None:
        if no_auth:
            return
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if not given.strip() and scheme.lower() in ("", "bearer"):
            raise AuthFailed("You didn't provide an API key. Send `Authorization: Bearer <INFERENCE_API_KEY>`.")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_key.encode()):
            raise AuthFailed("Incorrect API key provided.")

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

    def not_ready():
        if server.state == "failed":
            return openai_error(503, f"the model failed to load: {server.error}", "server_error", "model_failed")
        return openai_error(503, "the model is still loading; retry shortly (GET /health)", "server_error",
                            "model_loading")

    @app.get("/health")
    def health():
        if server.state != "ready":
            body = {"status": server.state}
            if server.error:
                body["error"] = server.error
            return JSONResponse(status_code=503, content=body)
        return {"status": "ok", "model": server.model_name, "base_model": server.model_cfg.get("id"),
                "adapter": server.run_id,
                "adapter_path": str(server.adapter_dir.relative_to(server.root)) if server.adapter_dir else None,
                "recipe": server.recipe if server.adapter_dir else None, "device": server.device,
                "dtype": server.dtype, "prompt": "text_template" if server.prompts.uses_template else "chat_template",
                "load_seconds": server.load_seconds}

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    def list_models():
        return {"object": "list", "data": [
            {"id": server.model_name, "object": "model", "created": server.created, "owned_by": "ftstudio"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    def chat_completions(body: ChatRequest):
        if server.state != "ready":
            return not_ready()
        messages = [{"role": m.role, "content": message_text(m.content)} for m in body.messages]
        if not any(m["role"] == "user" for m in messages):
            return openai_error(400, "messages: at least one message with role 'user' is required",
                                "invalid_request_error", param="messages")
        max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
        temperature = 1.0 if body.temperature is None else body.temperature
        top_p = 1.0 if body.top_p is None else body.top_p
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        if len(stops) > 4:
            return openai_error(400, "stop: at most 4 stop sequences", "invalid_request_error", param="stop")
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not body.stream:
            out = server.complete(messages, max_tokens, temperature, top_p, stops, body.seed)
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": server.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": out["text"]},
                             "logprobs": None, "finish_reason": out["finish_reason"]}],
                "usage": {"prompt_tokens": out["prompt_tokens"], "completion_tokens": out["completion_tokens"],
                          "total_tokens": out["prompt_tokens"] + out["completion_tokens"]},
            }
        include_usage = bool((body.stream_options or {}).get("include_usage"))

        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> str:
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": server.model_name,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                    if choices else []}
            if usage is not None:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                for kind, value in server.stream(messages, max_tokens, temperature, top_p, stops, body.seed):
                    if kind == "text":
                        yield chunk({"content": value})
                    else:
                        yield chunk({}, value["finish_reason"])
                        if include_usage:
                            yield chunk({}, usage={"prompt_tokens": value["prompt_tokens"],
                                                   "completion_tokens": value["completion_tokens"],
                                                   "total_tokens": value["prompt_tokens"] + value["completion_tokens"]},
                                        choices=False)
            except Exception as exc:  # noqa: BLE001 - headers are gone; report in-band like OpenAI does
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    if ui:
        mount_ui(app, server, api_key if not no_auth else None)
    return app


def mount_ui(app, server: ModelServer, api_key: str | None) -> None:
    """Gradio chat at /, calling the model in-process; a plain page when gradio cannot be imported."""
    try:
        import gradio as gr
    except Exception as exc:  # noqa: BLE001 - gradio is optional for the API
        from fastapi.responses import HTMLResponse

        reason = f"{type(exc).__name__}: {exc}".replace("<", "&lt;")

        @app.get("/", response_class=HTMLResponse)
        def no_ui():
            return (f"<!doctype html><title>ftstudio inference</title><h1>Chat UI unavailable</h1>"
                    f"<p>gradio could not be imported ({reason}). Install it with "
                    f"<code>pip install -r setup/requirements.txt</code>. The OpenAI-compatible API is at "
                    f"<code>/v1/chat/completions</code>; health at <code>/health</code>.</p>")
        return

    def respond(message, history):
        if server.state != "ready":
            yield "The model is still loading, try again in a moment." if server.state == "loading" \
                else f"The model failed to load: {server.error}"
            return
        messages = []
        for turn in history or []:
            if isinstance(turn, dict) and turn.get("role") in ("user", "assistant"):
                messages.append({"role": turn["role"], "content": message_text(turn.get("content"))})
        messages.append({"role": "user", "content": message_text(message)})
        text = ""
        for kind, value in server.stream(messages, DEFAULT_MAX_TOKENS, 0.7, 0.95, []):
            if kind == "text":
                text += value
                yield text

    blocks = gr.ChatInterface(respond, title=f"Chat with {server.model_name}",
                              description="Fine-tuned with ftstudio. The same model answers at /v1/chat/completions.")
    auth = (lambda _user, password: hmac.compare_digest(password.encode(), api_key.encode())) if api_key else None
    gr.mount_gradio_app(app, blocks, path="/", auth=auth,
                        auth_message="Log in with any user name and the INFERENCE_API_KEY as password.",
                        ssr_mode=False)
    quiet_when_idle(blocks)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI-compatible API + Gradio chat for the fine-tuned model.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 in containers)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="the project's finetuning/train_config.json")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", help="serve the adapter of outputs/RUN_ID (default: the latest succeeded run)")
    which.add_argument("--base-only", "--baseonly", action="store_true", help="serve the base model, no adapter")
    parser.add_argument("--no-auth", action="store_true", help="no API key (only for a server only you can reach)")
    parser.add_argument("--no-ui", action="store_true", help="API only, no Gradio chat at /")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        app = create_app(args.config, run=args.run, base_only=args.base_only,
                         api_key=os.environ.get("INFERENCE_API_KEY") or None, no_auth=args.no_auth,
                         ui=not args.no_ui)
    except AppError as exc:
        print(f"inference: error: {exc}", file=sys.stderr, flush=True)
        return 2
    server = app.state.server
    if server.adapter_dir is None and not args.base_only:
        print("inference: warning: no succeeded run with an adapter in outputs/; serving the BASE model",
              file=sys.stderr, flush=True)
    else:
        print(f"inference: serving {server.model_name} from {server.adapter_dir or server.model_dir}", flush=True)

    QuietServer.make()(QuietServer.config(app, args)).run()
    return 0


class QuietServer:
    """uvicorn's server, waking once a second instead of ten times when idle (issue 23).

    uvicorn ticks every 0.1 s only to refresh its Date header (once a second anyway) and to notice a
    shutdown request; a second is enough for both (SIGTERM then takes up to 1 s longer).
    """

    @staticmethod
    def config(app, args):
        import uvicorn

        return uvicorn.Config(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=5)

    @staticmethod
    def make():
        import asyncio

        import uvicorn

        class _Server(uvicorn.Server):
            async def main_loop(self) -> None:
                counter = 0
                should_exit = await self.on_tick(counter)
                while not should_exit:
                    counter = (counter + 10) % 864000  # on_tick counts 0.1 s ticks; every call is a full second
                    await asyncio.sleep(1.0)
                    should_exit = await self.on_tick(counter)

        return _Server


if __name__ == "__main__":
    sys.exit(main())
