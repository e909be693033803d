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
adapter from ``outputs/<RUN_ID>/`` (``--run``; default: the latest succeeded run). Prompts are what
training rendered: the whole conversation through the chat template the run was trained with (the
adapter's tokenizer), or for a text_template run its prompt part. GPU when present,
CPU otherwise; a QLoRA adapter sits on a 4-bit base on the GPU and on an fp32 base on the CPU.
For tests: ``create_app(config_path, run=None, base_only=False, api_key=...)`` builds the app.

This file is the entry point and the app's assembly; beside it: ``model_server.py`` (adapter
choice, prompts, loading, generation), ``openai_api.py`` (the routes) and ``chat_ui.py`` (Gradio).
They and ``finetuning/`` (project_helpers.py, training_data/) are found however this file is started:
from the project root, from ``/mount`` in the container, or loaded by path.
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _folder in (HERE.parent / "finetuning", HERE):  # project_helpers.py, then this folder's modules
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from model_server import AppError, ModelServer, PromptBuilder  # noqa: E402,F401

DEFAULT_CONFIG = "finetuning/train_config.json"


def find_config(value: str | os.PathLike) -> Path:
    """The config file: as given, else relative to the project root (so it works from inference/)."""
    path = Path(value)
    if path.is_file() or path.is_absolute():
        return path
    fallback = HERE.parent / path
    return fallback if fallback.is_file() else path


def create_app(config_path: str | os.PathLike = DEFAULT_CONFIG, run: str | None = None, base_only: bool = False,
               api_key: str | None = None, *, no_auth: bool = False, ui: bool = True, load: bool = True):
    """The FastAPI app. ``api_key`` guards /v1 and the UI; ``None`` is refused unless ``no_auth``.

    ``load=False`` leaves the model unloaded (``app.state.server.start_loading()`` loads it).
    """
    if not api_key and not no_auth:
        raise AppError("INFERENCE_API_KEY is not set; set it (e.g. `ftstudio secret set INFERENCE_API_KEY "
                       "--inference`) or pass --no-auth for a server only you can reach")
    server = ModelServer(find_config(config_path), run=run, base_only=base_only)
    app = fastapi_app(server, load)
    import openai_api  # the web stack only once an app is wanted

    openai_api.add_routes(app, server, api_key, no_auth)
    if ui:
        import chat_ui

        chat_ui.mount_ui(app, server, api_key if not no_auth else None)
    return app


def fastapi_app(server: ModelServer, load: bool):
    """An app that starts loading the model when it starts serving (so the port answers at once)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_app):
        if load:
            server.start_loading()
        yield

    app = FastAPI(title="ftstudio inference", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    return app


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
