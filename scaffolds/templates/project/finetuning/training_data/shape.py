"""The one internal shape every dataset format is normalised to.

An ``Example`` is a list of ``Turn``s (a role, the text, whether training computes the loss on it)
plus ``chat``: True when training renders the turns with the model's chat template, False when it
concatenates their text as is (plain prompt/completion and text_template rows, whose text already
carries any chat markers). A later training step needs only this shape, whatever the file said.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

# The formats (``dataset_format``), most specific first where two match equally well.
MESSAGES = "messages"
SHAREGPT = "sharegpt"
PROMPT_COMPLETION = "prompt_completion"
ALPACA = "alpaca"
TEXT_TEMPLATE = "text_template"
FORMATS = (MESSAGES, SHAREGPT, PROMPT_COMPLETION, ALPACA, TEXT_TEMPLATE)
ALIASES = {  # other names people use (spaces and underscores read as '-')
    "auto": None, "chat": MESSAGES, "conversational": MESSAGES, "openai": MESSAGES,
    "prompt/completion": PROMPT_COMPLETION, "completion": PROMPT_COMPLETION,
    "instruction": ALPACA, "share-gpt": SHAREGPT, "conversations": SHAREGPT, "template": TEXT_TEMPLATE,
}
# What the loss is on, per format (the report's words).
TRAINED_PART = {
    MESSAGES: "assistant turns", SHAREGPT: "gpt turns", PROMPT_COMPLETION: "the completion",
    ALPACA: "the output", TEXT_TEMPLATE: "the answer: the template's last field and what follows it",
}
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Turn:
    role: str  # system | user | assistant | tool
    content: str
    trained: bool  # the loss is computed on this turn's tokens
    extra: dict = field(default_factory=dict)  # passed through: tool_calls, tool_call_id, name

    def as_message(self) -> dict:
        """The turn as a chat-template message (``{"role", "content", ...}``)."""
        return {"role": self.role, "content": self.content, **self.extra}


@dataclass(frozen=True)
class Example:
    number: int  # the file's line (JSONL) or row index + 1
    turns: tuple[Turn, ...]
    chat: bool  # True: rendered with the chat template; False: the turns' text concatenated
    tools: Optional[list] = None  # the row's tool definitions, passed to the chat template

    @property
    def messages(self) -> list[dict]:
        return [t.as_message() for t in self.turns]


@dataclass(frozen=True)
class Problem:
    """A bad row: where, what, and how to fix it."""

    number: int
    problem: str
    fix: str

    def to_json(self) -> dict:
        return {"line": self.number, "problem": self.problem, "fix": self.fix}


@dataclass(frozen=True)
class Detection:
    """The format the rows are read as, and why."""

    format: str
    how: str  # "detected" or "--format"
    reason: str  # the columns that decided it
    column: Optional[str] = None  # the list column of messages/sharegpt rows
    text_template: Optional[str] = None
    mapping: dict = field(default_factory=dict)  # {our name: the dataset's name}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "how": self.how, "reason": self.reason}
        if self.column:
            out["column"] = self.column
        if self.mapping:
            out["mapping"] = dict(self.mapping)
        if self.text_template is not None:
            out["text_template"] = self.text_template
        return out
