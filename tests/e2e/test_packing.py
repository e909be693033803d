"""Packing (``training.packing``): packed examples do not see each other, and train.py trains with it.

The packed batch is built by TRL's own code, as SFTTrainer builds it for train.py: BFD
``pack_dataset`` of the ``render.tokenize`` rows, then the padding-free
``DataCollatorForLanguageModeling`` (one flattened row, ``position_ids`` restarting at each
example), from which transformers builds a block-diagonal causal mask.
"""
from __future__ import annotations

import json
import math
import sys

import pytest

from tests.e2e.conftest import TEMPLATES, chat_rows, make_project, trained

pytestmark = pytest.mark.e2e


def _tokenized(tokenizer, rows: list[dict]) -> list[tuple[list[int], list[int]]]:
    sys.path.insert(0, str(TEMPLATES / "finetuning"))  # the project package, as train.py imports it
    from training_data import render
    from training_data.formats import detect, normalise

    head = list(enumerate(rows, start=1))
    detection = detect(head, name="rows")
    return [render.tokenize(tokenizer, normalise(n, row, detection)) for n, row in head]


def _context_sensitive(model) -> None:
    """Unit-gain random weights: the builder's std-0.02 layers barely move its std-0.25 embeddings,
    so every token's loss hardly depends on what it attends to and no mask could be told apart."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "embed" not in name:
                param.copy_(torch.randn(param.shape, generator=gen) / param.shape[1] ** 0.5)


def test_packed_loss_equals_unpacked_loss(tiny_model):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    _context_sensitive(model)
    rows = chat_rows(n_per_tone=3)[:6]  # 1 to 3 exchanges each
    examples = _tokenized(tokenizer, rows)
    lengths = [len(ids) for ids, _ in examples]
    assert len(set(lengths)) >= 4, lengths
    assert all(labels[0] == -100 for _, labels in examples)  # the collator masks each example's first label

    def loss(batch: dict) -> float:
        with torch.no_grad():  # no cache, as SFTTrainer calls it: with one, no packed-sequence mask is built
            return model(**batch, use_cache=False).loss.item()

    # (i) unpacked: right-padded, attention_mask (the collator train.py gets with packing off)
    padded = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(
        [{"input_ids": ids, "labels": labels} for ids, labels in examples])
    assert padded["attention_mask"].sum().item() == sum(lengths) < padded["input_ids"].numel()
    unpacked = loss(padded)

    # (ii) packed exactly as SFTTrainer does with packing=True (seq_length: its max_length)
    dataset = Dataset.from_list([{"input_ids": ids, "labels": labels} for ids, labels in examples])
    packed_rows = pack_dataset(dataset, seq_length=2 * max(lengths), strategy="bfd")
    packed_rows = [packed_rows[i] for i in range(len(packed_rows))]
    assert len(packed_rows) < len(examples)  # rows really hold several examples
    assert sorted(n for row in packed_rows for n in row["seq_lengths"]) == sorted(lengths)  # none truncated
    batch = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(packed_rows)
    assert batch["input_ids"].shape == (1, sum(lengths)) and "attention_mask" not in batch
    assert (batch["labels"] != -100).sum() == (padded["labels"] != -100).sum()  # the same trained tokens
    packed = loss(batch)
    assert math.isclose(packed, unpacked, rel_tol=1e-4), (packed, unpacked)

    # Without the position resets the concatenation is one causal sequence: examples attend to the
    # ones before them, and the loss moves (by ~0.9% here, ~90x the tolerance above).
    leaky = loss({"input_ids": batch["input_ids"], "labels": batch["labels"]})
    assert not math.isclose(leaky, unpacked, rel_tol=3e-3), (leaky, unpacked)


def test_train_py_trains_with_packing_on(tmp_path, tiny_model):
    project = make_project(tmp_path / "packed", tiny_model, rows=chat_rows(n_per_tone=10), max_steps=5,
                           logging_steps=1, save_steps=5)
    config_path = project / "finetuning/train_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dataset"]["format"] = "messages"
    config["training"]["packing"] = "on"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    trained(project, "packed-1")
    log = (project / "train-packed-1.log").read_text(encoding="utf-8")
    assert "packing: on" in log, log
    metrics = json.loads((project / "outputs/packed-1/metrics.json").read_text(encoding="utf-8"))
    assert metrics["status"] == "succeeded" and metrics["steps"] == 5
    assert all(math.isfinite(loss) for _, loss in metrics["losses"]), metrics["losses"]
