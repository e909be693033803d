"""Chat/prompt formats and the default ``text_template`` of each, for the sample dataset.

A ``text_template`` (AI Toolkit's name) fills ``{column}`` fields from a dataset row; the LAST field
and everything after it is the answer, the rest is the prompt (see notes/contracts.md). Templates
leave out the BOS token: tokenizers add it themselves. They end the answer with the format's
end-of-turn marker so the model learns to stop.
"""
from __future__ import annotations

import re

# {input} / {output} are placeholders replaced by the dataset's column names.
_FORMATS: dict[str, str] = {
    "phi3": "<|user|>\n{input}<|end|>\n<|assistant|>\n{output}<|end|>",
    "llama3": "<|start_header_id|>user<|end_header_id|>\n\n{input}<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n{output}<|eot_id|>",
    "llama2": "[INST] {input} [/INST] {output} </s>",
    "mistral": "[INST] {input} [/INST]{output}</s>",
    "qwen2_5": "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n{output}<|im_end|>",
    "gemma": "<start_of_turn>user\n{input}<end_of_turn>\n<start_of_turn>model\n{output}<end_of_turn>",
    "zephyr": "<|user|>\n{input}</s>\n<|assistant|>\n{output}</s>",
    # Base models: AI Toolkit's classification prompt.
    "plain": "### Text: {input}\n### The tone is:\n{output}",
}
CHAT_FORMATS = tuple(_FORMATS)

SAMPLE_INPUT = "phrase"
SAMPLE_OUTPUT = "tone"


def text_template(chat_format: str, input_field: str = SAMPLE_INPUT, output_field: str = SAMPLE_OUTPUT) -> str:
    pattern = _FORMATS.get(chat_format, _FORMATS["plain"])
    return pattern.replace("{input}", "{" + input_field + "}").replace("{output}", "{" + output_field + "}")


# (markers that must all be in the chat template, format), first match wins: phi3's <|user|>...<|end|>
# before zephyr's bare <|user|>, llama2's <<SYS>> before mistral's bare [INST].
_TEMPLATE_MARKERS = (
    (("<|start_header_id|>",), "llama3"), (("<|im_start|>",), "qwen2_5"), (("<start_of_turn>",), "gemma"),
    (("<|user|>", "<|end|>"), "phi3"), (("<|user|>",), "zephyr"), (("[INST]", "<<SYS>>"), "llama2"),
    (("[INST]",), "mistral"),
)
# (pattern in a chat/instruct repo name, format), first match wins
_NAME_PATTERNS = (
    (r"phi-?[34]", "phi3"), (r"llama-?3", "llama3"), (r"llama-?2", "llama2"), (r"qwen", "qwen2_5"),
    (r"gemma", "gemma"), (r"mistral|mixtral", "mistral"),
)


def detect_from_chat_template(chat_template: str | None) -> str:
    """The format a tokenizer's jinja ``chat_template`` produces (markers only; 'plain' if none)."""
    t = chat_template or ""
    return next((fmt for markers, fmt in _TEMPLATE_MARKERS if all(m in t for m in markers)), "plain")


def guess_from_name(repo_id: str) -> str:
    """A best guess for a repo we could not inspect: chat formats only for chat/instruct names."""
    name = repo_id.lower()
    if "zephyr" in name:
        return "zephyr"
    if not any(k in name for k in ("instruct", "-chat", "-it")):
        return "plain"
    return next((fmt for pattern, fmt in _NAME_PATTERNS if re.search(pattern, name)), "plain")
