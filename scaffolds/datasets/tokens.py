"""Examples rendered as training sees them, and their tokens counted, with the trained part marked.

``load(model)`` gives a ``Counter``: the model's own tokenizer when it is available offline (a local
model folder, the project's ``model-cache/<repo>`` copy, or the Hugging Face cache, loaded with
``AutoTokenizer(local_files_only=True)``: never the network), else an approximate count
(characters / 4) that the report labels as such.

Rendering is the project's own (``training_data.render``, the code training runs): conversations
through the tokenizer's chat template, or its declared default (ChatML) when it has none; plain
examples as the prompt and the completion, with the EOS token training appends.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.errors import InputError
from scaffolds.project_code import training_data

render = training_data.render
Example = training_data.shape.Example
TemplateRefused = render.TemplateRefused
DEFAULT_MAX_LENGTH = 1024  # TRL's SFTConfig.max_length
CHARS_PER_TOKEN = 4
Segments = render.Segments


@dataclass(frozen=True)
class Measured:
    segments: Segments
    runs: list[tuple[int, bool]]  # (token count, trained) in order

    @property
    def length(self) -> int:
        return sum(n for n, _ in self.runs)

    def trained_within(self, limit: int) -> int:
        """Trained tokens among the first ``limit`` (training truncates on the right)."""
        left, out = limit, 0
        for n, trained in self.runs:
            take = min(n, left)
            out += take if trained else 0
            left -= take
            if left <= 0:
                break
        return out


def _runs(flags: list[bool]) -> list[tuple[int, bool]]:
    runs: list[tuple[int, bool]] = []
    for trained in flags:
        if runs and runs[-1][1] == trained:
            runs[-1] = (runs[-1][0] + 1, trained)
        else:
            runs.append((1, trained))
    return runs


def _default_apply(messages: list[dict], tools: Optional[list] = None, generation_prompt: bool = False) -> str:
    """The declared default template rendered with jinja2 (what a tokenizer without one is given)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment().from_string(render.DEFAULT_CHAT_TEMPLATE)
    return template.render(messages=messages, tools=tools, add_generation_prompt=generation_prompt)


class Counter:
    """Approximate counting: characters / 4, the default template for conversations."""

    exact = False
    has_template = False

    def __init__(self, *, source: str, note: str, context: Optional[int] = None):
        self.source = source  # what was loaded, or why nothing was
        self.note = note
        self.context = context

    @property
    def method(self) -> str:
        return f"approximate (characters / {CHARS_PER_TOKEN})"

    @property
    def template(self) -> str:
        return f"the default {render.DEFAULT_TEMPLATE_NAME}"

    def render(self, example: Example) -> Segments:
        return render.chat_segments(_default_apply, example) if example.chat else render.plain_segments(example)

    def measure(self, example: Example) -> Measured:
        segments = self.render(example)
        return Measured(segments, [(math.ceil(len(text) / CHARS_PER_TOKEN), trained) for text, trained in segments])


class TokenizerCounter(Counter):
    """The model's tokenizer (transformers), its chat template when it has one."""

    exact = True

    def __init__(self, tokenizer: Any, *, source: str, context: Optional[int] = None):
        super().__init__(source=source, note="", context=context)
        self.has_template = not render.ensure_template(tokenizer)  # training gives it the default too
        self.tokenizer = tokenizer

    @property
    def method(self) -> str:
        return "tokenizer"

    @property
    def template(self) -> str:
        return "the tokenizer's chat template" if self.has_template else \
            f"the default {render.DEFAULT_TEMPLATE_NAME}: the tokenizer has no chat template"

    def measure(self, example: Example) -> Measured:
        segments = render.segments_of(self.tokenizer, example)
        ids, flags = render.tokenize_segments(self.tokenizer, segments, chat=example.chat)
        if not example.chat and flags and flags[-1] and segments[-1][1] and ids[-1] == self.tokenizer.eos_token_id \
                and not segments[-1][0].endswith(self.tokenizer.eos_token or "\0"):
            segments = segments[:-1] + [(segments[-1][0] + self.tokenizer.eos_token, True)]  # show the EOS trained
        return Measured(segments, _runs(flags))


# -- the model ------------------------------------------------------------------------------------
def _context_of(folder: Path) -> Optional[int]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for doc in (config, config.get("text_config") if isinstance(config, dict) else None):
        if isinstance(doc, dict):
            for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
                value = doc.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None


def _in_hub_cache(repo: str) -> bool:
    """Whether the Hugging Face cache holds anything of ``repo`` (the layout huggingface_hub writes)."""
    import os

    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME") or "~/.cache/huggingface", "hub")
    return (Path(cache).expanduser() / ("models--" + repo.replace("/", "--"))).is_dir()


def _auto_tokenizer(where: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(where, local_files_only=True)


def load(model: Optional[str], *, project_root: Optional[Path] = None) -> Counter:
    """The Counter for ``--model`` (a local folder, a catalog name or a repo id; None: approximate)."""
    if not model or not model.strip():
        return Counter(source="no model given", note="no --model given: token counts are approximate")
    from scaffolds import catalog

    model = model.strip()
    path = Path(model).expanduser()
    if model.startswith((".", "/", "~")) or "\\" in model or (path.is_dir() and not catalog.lookup(model)):
        if not path.is_dir():
            raise InputError(f"Local model folder {model!r} does not exist.", field="--model",
                             fix="pass a model folder (with its tokenizer files), a catalog name or a repo id")
        context = _context_of(path)
        try:
            return TokenizerCounter(_auto_tokenizer(str(path)), source=str(path), context=context)
        except ImportError:
            return Counter(source=str(path), context=context,
                           note="transformers is not installed, so the tokenizer cannot be loaded: counts are approximate")
        except Exception as exc:  # noqa: BLE001 - OSError, ValueError...: the folder has no usable tokenizer
            raise InputError(f"Cannot load a tokenizer from {path} ({str(exc).splitlines()[0] if str(exc) else exc!r}).",
                             field="--model", fix="point --model at a folder with the tokenizer files "
                             "(tokenizer.json, tokenizer_config.json)") from None
    entry = catalog.lookup(model)
    if entry is None and not catalog.is_repo_id(model):
        raise InputError(f"{model!r} is not a model name: expected a catalog name, a Hugging Face repo id or an "
                         "existing local folder.", field="--model", fix="run `ftstudio models` for the catalog")
    repo = entry["repo"] if entry else model
    context = entry.get("context_length") if entry else None
    places = [project_root / catalog.local_dir_for(repo)] if project_root else []
    cached = [repo] if _in_hub_cache(repo) else []  # else importing transformers (seconds) finds nothing
    for place in [str(p) for p in places if p.is_dir()] + cached:
        try:
            own = _context_of(Path(place)) if place != repo else None
            return TokenizerCounter(_auto_tokenizer(place), source=place, context=context or own)
        except ImportError:
            return Counter(source=repo, context=context, note="transformers is not installed: counts are approximate")
        except Exception:  # noqa: BLE001 - not downloaded: the approximate count says so
            continue
    return Counter(source=repo, context=context,
                   note=f"no tokenizer of {repo} is available offline (not downloaded): counts are approximate")
