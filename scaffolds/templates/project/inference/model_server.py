"""The model behind inference/app.py: which adapter to serve, its prompts, loading, and generation.

The base model comes from ``model.local_dir`` of the config, the adapter from ``outputs/<RUN_ID>/``.
Prompts are rendered by finetuning/training_data, the code training rendered the run's examples
with: the whole conversation (system prompt and history) through the chat template the adapter's
tokenizer was trained with, stopping at its end-of-turn marker; for a run trained on plain
prompt/completion or text_template rows, the last user message in the prompt part the run learned.
Loads once (in a background thread) and runs one generation at a time.
"""

import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from project_helpers import project_root, read_json, resolve
from training_data import render
from training_data.render import stop_tokens  # the stop rule evaluation.py generates with too
from training_data.text_template import fill, field_names, parse_template, split_template

DEFAULT_MAX_TOKENS = 256


class AppError(Exception):
    """A startup problem the operator must fix (bad --run, missing config): one line, exit 2."""


# -- which adapter ---------------------------------------------------------------------------
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


# -- prompts (the training rule: training_data.render and text_template) -----------------------------
def trained_format(run_metrics: dict | None, config: dict) -> str | None:
    """The dataset format the run was trained on (metrics.json), else the config's; None: unknown."""
    dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    return (run_metrics or {}).get("dataset_format") or dataset.get("format") or \
        ("text_template" if dataset.get("text_template") else None)


class PromptBuilder:
    """A request's messages as the prompt the run was trained on, and the text its answers end with."""

    def __init__(self, template: str | None, tokenizer, dataset_format: str | None = None,
                 prompt_style: str | None = None):
        self.tokenizer = tokenizer
        self.prefix: list[tuple[str, str | None]] | None = None
        self.answer_suffix = ""
        # "plain": trained on prompt text as it is (prompt/completion strings), not through a chat template
        self.plain = prompt_style == "plain" if prompt_style and dataset_format != "text_template" else \
            dataset_format == "prompt_completion" and not template
        if template and dataset_format in (None, "text_template"):
            try:
                prompt, _answer, self.answer_suffix = split_template(parse_template(template))
            except ValueError as exc:  # training refuses it too: no adapter was trained on it
                raise ValueError(f"dataset.text_template {exc}") from None
            if len(field_names(prompt)) == 1:  # one slot for the user's message
                self.prefix = prompt
        if not self.uses_template and not self.plain and tokenizer is not None:
            render.ensure_template(tokenizer)  # what training gave a tokenizer without one
            self.answer_suffix = render.end_of_turn(tokenizer)

    @property
    def uses_template(self) -> bool:
        return self.prefix is not None

    def build(self, messages: list[dict]) -> tuple[str, bool]:
        """(prompt text, add_special_tokens)."""
        if self.prefix is not None or self.plain:
            user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            if self.plain:
                return user, True
            return fill(self.prefix, dict.fromkeys(field_names(self.prefix), user)), True
        return render.prompt_text(self.tokenizer, messages), False  # the chat template writes its own BOS


# -- stop strings ------------------------------------------------------------------------------
def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    positions = [text.find(s) for s in stops if s and s in text]
    if not positions:
        return text, False
    return text[:min(positions)], True


class StopStringFilter:
    """Streamed text up to the first stop string: what could be the start of one is held back until
    the next piece shows it is not."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.keep = max((len(s) for s in stops), default=1) - 1
        self.held, self.cut = "", False

    def feed(self, piece: str) -> str:
        """The text that can go out now ("" for none); ``cut`` is set once a stop string is seen."""
        self.held += piece
        text, self.cut = cut_at_stop(self.held, self.stops)
        if self.cut:
            self.held = ""
            return text
        safe = len(self.held) - self.keep if self.stops else len(self.held)
        if safe <= 0:
            return ""
        text, self.held = self.held[:safe], self.held[safe:]
        return text

    def flush(self) -> str:
        if not self.held or self.cut:
            return ""
        text, self.cut = cut_at_stop(self.held, self.stops)
        return text


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
        self.dataset_format = trained_format(run_metrics, run_config or config)
        self.system_prompt = (run_metrics or {}).get("system_prompt") or ""  # what most training rows started with
        self.prompt_style = (run_metrics or {}).get("prompt_style")  # "chat" or "plain", as the run was trained
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

        if not (self.model_dir / "config.json").is_file():
            raise RuntimeError(f"base model not found in {self.model_dir}; run finetuning/fetch_model.py first")
        cuda = torch.cuda.is_available()
        if cuda:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        quantized = cuda and self.recipe == "qlora" and self.adapter_dir is not None
        tokenizer, model = self._load_weights(dtype, cuda, quantized)
        prompts = PromptBuilder(self.template, tokenizer, self.dataset_format, self.prompt_style)
        self.stop_token_ids, self.answer_stop = stop_tokens(model, tokenizer, prompts.answer_suffix)
        self.tokenizer, self.model, self.prompts = tokenizer, model, prompts
        self.device = "cuda" if cuda else "cpu"
        self.dtype = str(dtype).replace("torch.", "") + (" (4-bit base)" if quantized else "")
        self.load_seconds = round(time.monotonic() - started, 2)
        self.state = "ready"
        print(f"inference: model {self.model_name} ready on {self.device} in {self.load_seconds}s", flush=True)

    def _load_weights(self, dtype, cuda: bool, quantized: bool):
        """(tokenizer, model): the base with the adapter merged in, or on a 4-bit base for a QLoRA adapter."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        trust = bool(self.model_cfg.get("trust_remote_code"))
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust}
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
        return tokenizer, model

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

    def _finish(self, new_ids: list[int], prompt_len: int, max_tokens: int, cut: bool) -> dict:
        ended = bool(new_ids) and new_ids[-1] in self.stop_token_ids
        finish = "stop" if cut or ended or len(new_ids) < max_tokens else "length"
        return {"finish_reason": finish, "prompt_tokens": prompt_len, "completion_tokens": len(new_ids)}

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
        return {"text": text, **self._finish(new_ids, prompt_len, max_tokens, cut)}

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
        text_out = StopStringFilter(all_stops)
        try:
            for piece in streamer:
                if text_out.cut:
                    continue  # drain: generation stops at the next step
                text = text_out.feed(piece)
                if text_out.cut:
                    cancel.set()
                if text:
                    yield "text", text
            worker.join()
            if "error" in result:
                raise result["error"]
            text = text_out.flush()
            if text:
                yield "text", text
            yield "end", self._finish(result["output"][0, prompt_len:].tolist(), prompt_len, max_tokens, text_out.cut)
        finally:
            cancel.set()  # client went away or we are done: stop generating
