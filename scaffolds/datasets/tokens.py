"""Examples rendered as training sees them, and their tokens counted, with the trained part marked.

``load(model)`` gives a ``Counter``: the model's own tokenizer when it is available offline (a local
model folder, the project's ``model-cache/<repo>`` copy, or the Hugging Face cache, loaded with
``AutoTokenizer(local_files_only=True)``: never the network), else an approximate count
(characters / 4) that the report labels as such.

Rendering: conversational examples go through the tokenizer's chat template (the trained part of
an assistant turn is what the template adds between the prompt with the generation prompt and the
conversation up to that turn, its end-of-turn marker included); without a chat template, through
the declared default below (ChatML). Plain examples are the prompt and the completion as they are,
plus the EOS token that training appends to the completion.
"""
from __future__ import annotations

import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.errors import InputError
from scaffolds.datasets.shape import Example

DEFAULT_MAX_LENGTH = 1024  # TRL's SFTConfig.max_length
CHARS_PER_TOKEN = 4
DEFAULT_TEMPLATE = "ChatML (<|im_start|>role ... <|im_end|>)"
Segments = list[tuple[str, bool]]  # (text, trained), in order


class TemplateRefused(Exception):
    """The chat template raised on this example (e.g. a role it does not support)."""


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


def _merge(segments: Segments) -> Segments:
    out: Segments = []
    for text, trained in segments:
        if not text:
            continue
        if out and out[-1][1] == trained:
            out[-1] = (out[-1][0] + text, trained)
        else:
            out.append((text, trained))
    return out


def default_template(example: Example) -> Segments:
    """The declared default chat template (ChatML) when the tokenizer has none."""
    segments: Segments = []
    for turn in example.turns:
        content = turn.content
        if turn.extra.get("tool_calls"):
            content += json.dumps(turn.extra["tool_calls"], ensure_ascii=False)
        head = f"<|im_start|>{turn.role}\n"
        if turn.trained:
            segments += [(head, False), (content + "<|im_end|>\n", True)]
        else:
            segments.append((head + content + "<|im_end|>\n", False))
    return _merge(segments)


def _spans_to_segments(text: str, spans: list[tuple[int, int]]) -> Segments:
    segments: Segments = []
    at = 0
    for start, end in spans:
        segments += [(text[at:start], False), (text[start:end], True)]
        at = end
    segments.append((text[at:], False))
    return _merge(segments)


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
        return f"the default {DEFAULT_TEMPLATE}"

    def render(self, example: Example) -> Segments:
        if example.chat:
            return self._chat(example)
        return _merge([(t.content, t.trained) for t in example.turns])

    def _chat(self, example: Example) -> Segments:
        return default_template(example)

    def count(self, segments: Segments, *, chat: bool) -> list[tuple[int, bool]]:
        return [(math.ceil(len(text) / CHARS_PER_TOKEN), trained) for text, trained in segments]

    def measure(self, example: Example) -> Measured:
        segments = self.render(example)
        return Measured(segments, self.count(segments, chat=example.chat))


class TokenizerCounter(Counter):
    """The model's tokenizer (transformers), its chat template when it has one."""

    exact = True

    def __init__(self, tokenizer: Any, *, source: str, context: Optional[int] = None):
        super().__init__(source=source, note="", context=context)
        self.tokenizer = tokenizer
        self.has_template = bool(getattr(tokenizer, "chat_template", None))
        self.eos = getattr(tokenizer, "eos_token", None)

    @property
    def method(self) -> str:
        return "tokenizer"

    @property
    def template(self) -> str:
        return "the tokenizer's chat template" if self.has_template else \
            f"the default {DEFAULT_TEMPLATE}: the tokenizer has no chat template"

    def render(self, example: Example) -> Segments:
        segments = super().render(example)
        if not example.chat and self.eos and segments and segments[-1][1] and not segments[-1][0].endswith(self.eos):
            segments[-1] = (segments[-1][0] + self.eos, True)  # TRL appends EOS to a plain completion
        return segments

    def _apply(self, messages: list[dict], tools: Optional[list], generation_prompt: bool = False) -> str:
        try:
            out = self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                     add_generation_prompt=generation_prompt)
        except Exception as exc:  # noqa: BLE001 - jinja's raise_exception and template bugs alike
            raise TemplateRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        return out if isinstance(out, str) else str(out)

    def _chat(self, example: Example) -> Segments:
        if not self.has_template:
            return default_template(example)
        messages, tools = example.messages, example.tools
        full = self._apply(messages, tools)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, turn in enumerate(example.turns):
            if not turn.trained:
                continue
            before = self._apply(messages[:i], tools, generation_prompt=True) if i else ""
            upto = self._apply(messages[:i + 1], tools)
            if full.startswith(upto) and upto.startswith(before) and len(before) >= cursor:
                span = (len(before), len(upto))
            else:  # a template that rewrites earlier turns: the content itself is what is trained
                start = full.find(turn.content, cursor) if turn.content else -1
                if start < 0:
                    continue
                span = (start, start + len(turn.content))
            spans.append(span)
            cursor = span[1]
        return _spans_to_segments(full, spans)

    def count(self, segments: Segments, *, chat: bool) -> list[tuple[int, bool]]:
        text = "".join(t for t, _ in segments)
        starts, ends, at = [], [], 0
        for part, trained in segments:
            if trained:
                starts.append(at)
                ends.append(at + len(part))
            at += len(part)
        try:  # the template already holds BOS and friends; plain text gets the tokenizer's own
            offsets = self.tokenizer(text, add_special_tokens=not chat, return_offsets_mapping=True)["offset_mapping"]
        except NotImplementedError:  # a slow tokenizer: no offsets, count each part on its own
            extra = 0 if chat else len(self.tokenizer("", add_special_tokens=True)["input_ids"])
            runs = [(extra, False)] + [(len(self.tokenizer(part, add_special_tokens=False)["input_ids"]), trained)
                                       for part, trained in segments]
            return [r for r in runs if r[0]]
        runs: list[tuple[int, bool]] = []
        for start, end in offsets:
            k = bisect_right(starts, start) - 1
            trained = end > start and k >= 0 and start < ends[k]
            if runs and runs[-1][1] == trained:
                runs[-1] = (runs[-1][0] + 1, trained)
            else:
                runs.append((1, trained))
        return runs


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
    for place in [str(p) for p in places if p.is_dir()] + [repo]:
        try:
            own = _context_of(Path(place)) if place != repo else None
            return TokenizerCounter(_auto_tokenizer(place), source=place, context=context or own)
        except ImportError:
            return Counter(source=repo, context=context, note="transformers is not installed: counts are approximate")
        except Exception:  # noqa: BLE001 - not downloaded: the approximate count says so
            continue
    return Counter(source=repo, context=context,
                   note=f"no tokenizer of {repo} is available offline (not downloaded): counts are approximate")
