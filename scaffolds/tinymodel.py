"""Build a tiny chat model fully offline (no hub access): the base model of demos and e2e tests.

``python -m scaffolds.tinymodel OUT_DIR [--corpus FILE.jsonl ...]`` writes a Hugging Face model
folder that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load like any hub model:

- a byte-level BPE tokenizer trained with ``tokenizers`` on a small built-in corpus plus every
  string (nested ones too) of the given JSONL files (so the sample dataset's words are single tokens or few), with
  pad/bos/eos and the Phi-3 chat tokens ``<|user|> <|assistant|> <|system|> <|end|>`` as special
  tokens, and a Phi-3 style chat template with ``{% generation %}`` markers (assistant-only loss);
- a ``LlamaForCausalLM`` with hidden size 64, 2 layers, 4 heads (2 KV heads), intermediate 128,
  tied embeddings (~100k parameters, < 1 MB), ``eos_token_id = [</s>, <|end|>]``.

With ``--pretrain FILE.jsonl`` (rows of text, e.g. ``{"phrase", "tone"}``), the base is first
trained on all its weights for a few hundred steps on each row's texts joined as plain text
("I love my dog today means happy"): a randomly initialised base cannot learn a mapping from a few
hundred LoRA steps, a real base already knows its language. A fine-tune under test then only has to
learn the new format (a chat template, a text_template), as with real models.

Deterministic: the same corpus gives byte-identical weights (seeded init and pre-training). torch,
transformers and tokenizers are imported only when building, so importing this module stays cheap.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
SEED = 1234
VOCAB_SIZE = 600
# LoRA leaves the (tied) embeddings frozen, so their scale caps the logits: with the default
# init (std 0.02) the logits can never exceed ~1.3 and the model cannot learn anything.
EMBED_STD = 0.25

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '<|end|>\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' }}"
    "{% generation %}{{ message['content'] + '<|end|>\n' }}{% endgeneration %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# A little English so the BPE has common merges; the tones and phrases of the sample dataset
# style come from --corpus files.
BASE_CORPUS = """\
The quick brown fox jumps over the lazy dog. I love my dog today and I am happy.
I hate waiting in line, it makes me angry. I miss my friends and I feel sad.
The meeting is at noon. The weather is fine. We are going to the park tomorrow.
What a wonderful surprise! This is the best day ever. I cannot believe we won!
Please send the report by Friday. The train leaves at seven in the morning.
happy sad angry neutral excited surprised worried calm grateful bored
user assistant system answer question tone phrase label text prompt completion
"""


def corpus_lines(corpus_files: list[Path]) -> list[str]:
    """The training text of the tokenizer: the base corpus plus every string value of the JSONL rows."""
    lines = BASE_CORPUS.splitlines()
    for path in corpus_files:
        for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {number} is not JSON: {exc.msg}") from None
            lines.extend(_strings(row))
    return lines


def _strings(value) -> list[str]:
    """Every text of a row, nested ones too (the turns of a conversation)."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else []


def build_tokenizer(lines: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens=["<|user|>", "<|assistant|>", "<|system|>", "<|end|>"],
        model_max_length=512,
        padding_side="right",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, EMBED_STD)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_id],
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=32,
    )
    return model


PRETRAIN_STEPS = 300
PRETRAIN_JOIN = " means "


def pretrain_texts(files: list[Path]) -> list[str]:
    """One plain text per row: its strings joined (a wording unlike any training format)."""
    texts = []
    for path in files:
        for raw in Path(path).read_text(encoding="utf-8").splitlines():
            if raw.strip():
                texts.append(PRETRAIN_JOIN.join(_strings(json.loads(raw))))
    return texts


def pretrain(model, tokenizer, texts: list[str], steps: int = PRETRAIN_STEPS) -> float:
    """Full-weight language-model training on ``texts`` (seeded); returns the last loss."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    encoded = [tokenizer(t + tokenizer.eos_token, add_special_tokens=False)["input_ids"] for t in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = float("nan")
    for _ in range(steps):
        batch = [encoded[i] for i in torch.randint(len(encoded), (16,), generator=generator).tolist()]
        width = max(len(ids) for ids in batch)
        ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in batch])
        mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
        labels = ids.masked_fill(mask == 0, -100)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss = out.loss.item()
    model.eval()
    return loss


def build(out_dir: str | Path, corpus_files: list[str | Path] = (), pretrain_files: list[str | Path] = (),
          chat_template: bool = True) -> Path:
    """Write the tiny model (weights, config, tokenizer, chat template) to ``out_dir``; return it.
    ``pretrain_files``: JSONL rows the base learns first (see the module's docstring); ``chat_template``
    False: a base model's tokenizer, without one."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus_lines([Path(p) for p in corpus_files]))
    if not chat_template:
        tokenizer.chat_template = None
    model = build_model(tokenizer)
    if pretrain_files:
        pretrain(model, tokenizer, pretrain_texts([Path(p) for p in pretrain_files]))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scaffolds.tinymodel",
        description="Build a tiny Llama-style chat model offline (for demos and tests).",
    )
    parser.add_argument("out_dir", help="folder to write the model into (created)")
    parser.add_argument(
        "--corpus", action="append", default=[], metavar="FILE.jsonl",
        help="JSONL file whose string values extend the tokenizer corpus (repeatable)",
    )
    parser.add_argument("--no-chat-template", action="store_true", help="a base model: no chat template")
    parser.add_argument(
        "--pretrain", action="append", default=[], metavar="FILE.jsonl",
        help="JSONL rows the base learns first, as plain text (repeatable); see the module's docstring")
    args = parser.parse_args(argv)
    missing = [c for c in args.corpus + args.pretrain if not Path(c).is_file()]
    if missing:
        print(f"error: file not found: {missing[0]}", file=sys.stderr)
        return 2
    try:
        out = build(args.out_dir, args.corpus, args.pretrain, chat_template=not args.no_chat_template)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_params = _count_params(out)
    print(f"tiny model written to {out} ({n_params} parameters)")
    return 0


def _count_params(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        for key in fh.keys():
            total += _prod(fh.get_slice(key).get_shape())
    return total


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


if __name__ == "__main__":
    sys.exit(main())
