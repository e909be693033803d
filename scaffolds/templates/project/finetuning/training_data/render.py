"""An Example as the model sees it: rendered text with the trained part marked, then token ids and labels.

One implementation for training (``tokenize``), serving and evaluation (``prompt_text``,
``end_of_turn``, ``stop_tokens``) and
ftstudio's dataset report, so the three cannot disagree:

- conversational examples go through the tokenizer's chat template; the trained part of an
  assistant turn is what the template adds between the conversation up to it with the generation
  prompt and the conversation including it, so the end-of-turn marker is trained too and the model
  learns to stop. This needs no ``{% generation %}`` markers, so every template family works the
  same way. A template that rewrites earlier turns (e.g. drops old reasoning) falls back to the
  turn's own content.
- a tokenizer without a chat template gets ``DEFAULT_CHAT_TEMPLATE`` (ChatML), declared here and
  saved with the adapter's tokenizer, so serving uses it too.
- plain examples (prompt/completion text, text_template rows) are the prompt, then the completion
  and the EOS token; the prompt is tokenized on its own, exactly as serving tokenizes it.

Tokens are trained when they start inside a trained span (offsets of a fast tokenizer; a slow
one tokenizes the spans one by one). Serving tokenizes ``prompt_text`` whole, which gives the ids
training saw for the same conversation (a test checks this on a 3-turn conversation).
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Callable, Optional

from .shape import Example

Segments = list[tuple[str, bool]]  # (text, trained), in order
# ChatML, the default of base models without a template (written into the adapter's tokenizer).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
DEFAULT_TEMPLATE_NAME = "ChatML (<|im_start|>role ... <|im_end|>)"
IGNORE = -100  # the label of a token without loss


class TemplateRefused(Exception):
    """The chat template raised on this example (e.g. a role it does not support)."""


def merge(segments: Segments) -> Segments:
    out: Segments = []
    for text, trained in segments:
        if not text:
            continue
        if out and out[-1][1] == trained:
            out[-1] = (out[-1][0] + text, trained)
        else:
            out.append((text, trained))
    return out


def ensure_template(tokenizer: Any) -> bool:
    """Give a tokenizer without a chat template the default one; True when it had none."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True


def applier(tokenizer: Any) -> Callable[..., str]:
    """``apply(messages, tools, generation_prompt)``: the tokenizer's chat template as text."""
    def apply(messages: list[dict], tools: Optional[list] = None, generation_prompt: bool = False) -> str:
        try:
            out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                add_generation_prompt=generation_prompt)
        except Exception as exc:  # noqa: BLE001 - jinja's raise_exception and template bugs alike
            raise TemplateRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        return out if isinstance(out, str) else str(out)
    return apply


def chat_segments(apply: Callable[..., str], example: Example) -> Segments:
    """The conversation rendered by ``apply``, each assistant turn that is trained marked with its end of turn."""
    messages, tools = example.messages, example.tools
    full = apply(messages, tools)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, turn in enumerate(example.turns):
        if not turn.trained:
            continue
        before = apply(messages[:i], tools, generation_prompt=True) if i else ""
        upto = apply(messages[:i + 1], tools)
        if full.startswith(upto) and upto.startswith(before) and len(before) >= cursor:
            span = (len(before), len(upto))
        else:  # a template that rewrites earlier turns: the content itself is what is trained
            start = full.find(turn.content, cursor) if turn.content else -1
            if start < 0:
                continue
            span = (start, start + len(turn.content))
        spans.append(span)
        cursor = span[1]
    segments: Segments = []
    at = 0
    for start, end in spans:
        segments += [(full[at:start], False), (full[start:end], True)]
        at = end
    segments.append((full[at:], False))
    return merge(segments)


def plain_segments(example: Example) -> Segments:
    return merge([(t.content, t.trained) for t in example.turns])


def segments_of(tokenizer: Any, example: Example) -> Segments:
    """The example's text as training renders it (the tokenizer's template must be set: ``ensure_template``)."""
    return chat_segments(applier(tokenizer), example) if example.chat else plain_segments(example)


def tokenize_segments(tokenizer: Any, segments: Segments, *, chat: bool) -> tuple[list[int], list[bool]]:
    """(token ids, trained flags) of the segments' text. A chat template writes its own BOS; plain
    text gets the tokenizer's special tokens on the prompt, and the EOS token after a trained end."""
    if not chat:
        return _tokenize_plain(tokenizer, segments)
    text = "".join(t for t, _ in segments)
    starts, ends, at = [], [], 0
    for part, trained in segments:
        if trained:
            starts.append(at)
            ends.append(at + len(part))
        at += len(part)
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError:  # a slow tokenizer: no offsets, tokenize each part on its own
        ids, flags = [], []
        for part, trained in segments:
            part_ids = tokenizer(part, add_special_tokens=False)["input_ids"]
            ids += part_ids
            flags += [trained] * len(part_ids)
        return ids, flags
    flags = []
    for start, end in enc["offset_mapping"]:
        k = bisect_right(starts, start) - 1
        flags.append(end > start and k >= 0 and start < ends[k])
    return list(enc["input_ids"]), flags


def _tokenize_plain(tokenizer: Any, segments: Segments) -> tuple[list[int], list[bool]]:
    """Plain text: the prompt with the tokenizer's special tokens (as serving tokenizes it), the rest
    as it is, EOS appended when the text ends in a trained part (as TRL does for a completion)."""
    ids: list[int] = []
    flags: list[bool] = []
    for i, (part, trained) in enumerate(segments):
        part_ids = tokenizer(part, add_special_tokens=(i == 0))["input_ids"]
        if i == 0 and tokenizer.eos_token_id is not None and part_ids and part_ids[-1] == tokenizer.eos_token_id \
                and not part.endswith(tokenizer.eos_token or "\0"):
            part_ids = part_ids[:-1]  # a tokenizer that appends EOS to every text: not after a prompt
        ids += part_ids
        flags += [trained] * len(part_ids)
    eos = tokenizer.eos_token_id
    if segments and segments[-1][1] and eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
        flags.append(True)
    return ids, flags


def tokenize(tokenizer: Any, example: Example) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one example; labels are IGNORE outside the trained part."""
    ids, flags = tokenize_segments(tokenizer, segments_of(tokenizer, example), chat=example.chat)
    return ids, [i if f else IGNORE for i, f in zip(ids, flags)]


# -- serving ------------------------------------------------------------------------------------------
def prompt_text(tokenizer: Any, messages: list[dict], tools: Optional[list] = None) -> str:
    """The conversation so far and the assistant's generation prompt, as training rendered it."""
    return applier(tokenizer)(messages, tools, generation_prompt=True)


def prompt_ids(tokenizer: Any, messages: list[dict], tools: Optional[list] = None) -> list[int]:
    return list(tokenizer(prompt_text(tokenizer, messages, tools), add_special_tokens=False)["input_ids"])


def end_of_turn(tokenizer: Any) -> str:
    """What the chat template writes after an assistant's answer (e.g. ``<|im_end|>``): the text a
    trained model ends its answer with, and serving stops at."""
    probe = "\u2063probe\u2063"
    try:
        text = applier(tokenizer)([{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}])
    except TemplateRefused:
        return ""
    at = text.rfind(probe)
    if at < 0:
        return ""
    tail = text[at + len(probe):].strip()
    return tail.split()[0] if tail else ""


def stop_tokens(model, tokenizer, answer_suffix: str) -> tuple[list[int], str]:
    """(token ids that end an answer, stop text): EOS, plus the template's answer terminator (e.g.
    "<|end|>", what training taught) as a token when it is one, else as text to look for."""
    stop_ids = set()
    eos = model.generation_config.eos_token_id
    stop_ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        stop_ids.add(tokenizer.eos_token_id)
    suffix = answer_suffix.strip()
    if suffix:
        ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            stop_ids.add(ids[0])
            suffix = ""  # a stop token: no need to also look for it as text
    return sorted(stop_ids), suffix
