"""Training throughput with padding-free packing (train.py's ``training.packing``) against no packing.

The same model is trained twice for ``--steps`` steps through train.py's own ``make_trainer`` (TRL
SFTTrainer, LoRA all-linear, the SFTConfig of ``sft_config``, the rows of ``render.tokenize``):
packing off (right-padded batches of 8 examples) and on (BFD packing into rows of ``max_length``
512, 8 rows flattened into one padding-free sequence). Both start from the same weights and seed.

Dataset: 800 deterministic conversations of 1-4 exchanges with texts of varied length (about
20-400 tokens each, log-uniform: many short, some long), the loss on the assistant turns.
Models, random weights (nothing downloaded): on the CPU the tiny model of scaffolds/tinymodel
(hidden 64, 2 layers) and a Llama of hidden 256, 4 layers, so the figures are not all overhead;
with ``--device cuda`` a Llama-3.2-1B shape (hidden 2048, 16 layers, vocab 128256) in bf16.

Reports per model and mode: real tokens/s (the examples' own tokens, no padding; timed from the end
of step 1 to the end of the last step, so start-up is left out), computed/real (tokens the model
ran, padding included, per real token), examples per step, wall time of ``trainer.train()`` and
the final loss (mean of the last 5 steps; packing sees more examples per step, so this checks that
both train, it does not compare quality).

Why packing can lose on the CPU: sdpa gets the padding-free row as one sequence with a
block-diagonal mask, so attention costs (all the step's tokens)^2 however the examples split.

The header gives the load average: on a shared machine other processes skew the CPU figures
(``--threads 1`` keeps two processes on 2 cores from thrashing).

Run: .venv/bin/python benchmarks/packing.py [--steps 30] [--device cpu|cuda] [--threads N] [--json]
     (on a GPU machine: bash benchmarks/gpu_packing.sh)
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scaffolds/templates/project/finetuning"))  # train.py's modules, as it imports them

from scaffolds import tinymodel  # noqa: E402

CONVERSATIONS = 800
BATCH = 8
MAX_LENGTH = 512
WORDS = sorted(set(re.findall(r"[a-z]+", tinymodel.BASE_CORPUS.lower())))


def conversations(n: int = CONVERSATIONS, seed: int = 0) -> list[dict]:
    """``messages`` rows: 1-4 exchanges, a log-uniform word budget split unevenly over the turns."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        exchanges = rng.randint(1, 4)
        budget = math.exp(rng.uniform(math.log(12), math.log(330)))  # words in the whole conversation
        shares = [rng.random() + 0.05 for _ in range(2 * exchanges)]
        messages = []
        for i, share in enumerate(shares):
            words = rng.choices(WORDS, k=max(1, round(budget * share / sum(shares))))
            messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(words) + "."})
        rows.append({"messages": messages})
    return rows


def build_models(work: Path, rows: list[dict], device: str) -> tuple[object, dict]:
    """(tokenizer, {name: a function returning a fresh model with the same weights each call})."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, set_seed

    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tiny = tinymodel.build(work / "tiny", [corpus])  # its tokenizer knows the dataset's words
    tokenizer = AutoTokenizer.from_pretrained(tiny)

    def llama(**shape):
        config = LlamaConfig(vocab_size=shape.pop("vocab_size", len(tokenizer)), max_position_embeddings=2048,
                             pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, use_cache=False, **shape)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32

        def make():
            set_seed(1234)
            with torch.device(device):  # a 1B model is initialised on the GPU, not in CPU RAM
                return LlamaForCausalLM(config).to(dtype)
        return make

    if device == "cuda":
        return tokenizer, {"llama-3.2-1b shape": llama(
            vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
            num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0)}

    def tiny_model():
        model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
        model.config.use_cache = False  # as train.py's load_model
        return model
    return tokenizer, {"tiny 64x2": tiny_model,
                       "llama 256x4": llama(hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                                            num_attention_heads=4, num_key_value_heads=4)}


def run(name: str, make_model, tokenizer, examples, packing: bool, steps: int, cuda: bool, work: Path) -> dict:
    """Train ``steps`` steps the way train.py does; the figures of that run."""
    import torch
    import train
    from transformers import TrainerCallback

    training = {"learning_rate": 1e-3, "num_train_epochs": 1, "max_steps": steps,
                "per_device_train_batch_size": BATCH, "gradient_accumulation_steps": 1,
                "source_max_len": MAX_LENGTH, "logging_steps": 1, "save_steps": steps + 1, "save_total_limit": 1,
                "seed": 42, "warmup_steps": 0, "compute_dtype": "bfloat16", "packing": "on" if packing else "off"}
    config = {"recipe": "lora", "training": training,
              "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}}
    dtype_name = "bfloat16" if cuda else "float32"
    train.quiet_libraries(training["seed"])
    trainer = train.make_trainer(config, make_model(), tokenizer, examples, work / f"ckpt-{name}-{packing}",
                                 cuda, dtype_name)

    batches: list[tuple[int, int, int]] = []  # (real, computed, examples) per batch, in the order steps use them
    collate = trainer.data_collator

    def counting(features):
        out = collate(features)
        examples_in = sum(len(f.get("seq_lengths") or [0]) for f in features)
        batches.append((sum(len(f["input_ids"]) for f in features), out["input_ids"].numel(), examples_in))
        return out
    trainer.data_collator = counting

    ends: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()  # the step's kernels are done, not just queued
            ends.append(time.perf_counter())
    trainer.add_callback(StepClock())

    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    used = batches[:steps]  # the loader may have collated one batch ahead
    real, computed = sum(b[0] for b in used), sum(b[1] for b in used)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    del trainer
    if cuda:  # the next run's model needs the memory
        gc.collect()
        torch.cuda.empty_cache()
    return {"model": name, "packing": "on" if packing else "off", "steps": len(ends),
            "real_tokens_per_s": round(sum(b[0] for b in used[1:]) / (ends[-1] - ends[0]), 1),
            "computed_per_real": round(computed / real, 3), "examples_per_step": round(
                sum(b[2] for b in used) / len(used), 2), "wall_s": round(wall, 2),
            "final_loss": round(statistics.fmean(losses[-5:]), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (step 1 is left out of the rate)")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    from train_inputs import Examples
    from training_data import render
    from training_data.formats import detect, normalise

    rows = conversations()
    head = list(enumerate(rows, start=1))
    detection = detect(head, name="bench")
    examples = Examples([normalise(n, r, detection) for n, r in head], None, f"{len(rows)} bench rows", "messages")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokenizer, models = build_models(work, rows, args.device)
        lengths = sorted(len(render.tokenize(tokenizer, e)[0]) for e in examples.train)
        results = []
        for name, make in models.items():
            for packing in (False, True):
                with contextlib.redirect_stdout(sys.stderr):  # train.py's progress lines; stdout: the figures
                    results.append(run(name, make, tokenizer, examples, packing, args.steps, cuda, work))
    device = torch.cuda.get_device_name(0) if cuda else f"cpu ({torch.get_num_threads()} torch threads)"
    meta = {"device": device, "steps": args.steps, "batch": BATCH, "max_length": MAX_LENGTH,
            "conversations": len(rows), "tokens_min": lengths[0], "tokens_median": lengths[len(lengths) // 2],
            "tokens_max": lengths[-1], "torch": torch.__version__,
            "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=1))
        return 0
    print(f"device {device}; {len(rows)} conversations of {lengths[0]}-{lengths[-1]} tokens "
          f"(median {meta['tokens_median']}); batch {BATCH}, max_length {MAX_LENGTH}, {args.steps} steps; "
          f"load average {' '.join(map(str, meta['load_average']))}")
    print(f"{'model':<20}{'packing':>8}{'real tok/s':>12}{'computed/real':>15}{'ex/step':>9}{'wall s':>8}"
          f"{'final loss':>12}")
    for r in results:
        print(f"{r['model']:<20}{r['packing']:>8}{r['real_tokens_per_s']:>12.0f}{r['computed_per_real']:>15.2f}"
              f"{r['examples_per_step']:>9.1f}{r['wall_s']:>8.1f}{r['final_loss']:>12.4f}")
    for off, on in zip(results[::2], results[1::2]):
        print(f"{off['model']}: packing on/off real tok/s = "
              f"{on['real_tokens_per_s'] / off['real_tokens_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
