"""The proof a fine-tune worked: the tuned adapter against the base model, on the held-out rows.

For each model (the adapter, then the same weights with the adapter switched off: PEFT's
``disable_adapter``, so no second copy is loaded):
- ``loss`` and ``perplexity``: the mean loss on the trained tokens of the held-out rows, rendered
  exactly as training renders them (training_data.render);
- ``exact_match`` (short-answer tasks: every reference answer at most ``SHORT_ANSWER_TOKENS``
  tokens): the row's last answer generated greedily from the conversation before it (the prompt
  serving would send), compared with the reference after trimming and case folding.
At most ``MAX_ROWS`` rows, so evaluation stays a small part of a run.
"""
from __future__ import annotations

import math

from training_data import render

MAX_ROWS = 100
SHORT_ANSWER_TOKENS = 32


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _prompt_and_reference(tokenizer, example) -> tuple[list[int], str] | None:
    """(prompt ids, reference answer) for the example's last turn, when it is a trained answer."""
    last = example.turns[-1]
    if not last.trained:
        return None
    if example.chat:
        messages = example.messages[:-1]
        ids = render.prompt_ids(tokenizer, messages, example.tools)
    else:
        prompt = "".join(t.content for t in example.turns[:-1])
        ids = list(tokenizer(prompt)["input_ids"])
    return ids, last.content


def _loss(model, tokenizer, examples, device) -> float | None:
    import torch

    total, count = 0.0, 0
    for example in examples:
        ids, labels = render.tokenize(tokenizer, example)
        trained = sum(1 for label in labels[1:] if label != render.IGNORE)  # the first token has no prediction
        if not trained:
            continue
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids], device=device), labels=torch.tensor([labels], device=device))
        total += float(out.loss) * trained
        count += trained
    return total / count if count else None


def _exact_match(model, tokenizer, cases, stop_ids: list[int], stop_text: str, device) -> float | None:
    import torch

    if not cases:
        return None
    right = 0
    for ids, reference in cases:
        limit = len(tokenizer(reference, add_special_tokens=False)["input_ids"]) + 8
        with torch.inference_mode():
            out = model.generate(input_ids=torch.tensor([ids], device=device), max_new_tokens=limit, do_sample=False,
                                 eos_token_id=stop_ids or None, pad_token_id=tokenizer.pad_token_id
                                 if tokenizer.pad_token_id is not None else (stop_ids or [0])[0])
        text = tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
        if stop_text and stop_text in text:
            text = text[:text.index(stop_text)]
        right += _normal(text) == _normal(reference)
    return right / len(cases)


def scores(model, tokenizer, examples, device) -> dict:
    """loss, perplexity and (short answers) exact match of ``model`` on ``examples``."""
    cases = [c for c in (_prompt_and_reference(tokenizer, e) for e in examples) if c]
    short = bool(cases) and all(len(tokenizer(ref, add_special_tokens=False)["input_ids"]) <= SHORT_ANSWER_TOKENS
                                for _, ref in cases)
    loss = _loss(model, tokenizer, examples, device)
    stop_text = render.end_of_turn(tokenizer) if any(e.chat for e in examples) else ""
    stop_ids, _ = render.stop_tokens(model, tokenizer, stop_text)  # serving's stop rule; the text cuts decoded answers
    return {"loss": loss, "perplexity": math.exp(min(loss, 50)) if loss is not None else None,
            "exact_match": _exact_match(model, tokenizer, cases, stop_ids, stop_text, device) if short else None,
            "rows": len(examples)}


def compare(model, tokenizer, examples) -> dict:
    """``{"tuned": scores, "base": scores}`` on the first MAX_ROWS held-out examples."""
    rows = examples[:MAX_ROWS]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        tuned = scores(model, tokenizer, rows, device)
        with model.disable_adapter():  # the base: the same weights, the adapter off
            base = scores(model, tokenizer, rows, device)
    finally:
        model.train(was_training)
    return {"tuned": tuned, "base": base}


def summary(result: dict) -> str:
    """One log line: tuned vs base."""
    def part(name: str, key: str, fmt: str) -> str:
        t, b = result["tuned"][key], result["base"][key]
        return f"{name} {format(t, fmt)} (base {format(b, fmt)})" if t is not None and b is not None else ""

    parts = [part("exact match", "exact_match", ".1%"), part("eval loss", "loss", ".4f"),
             part("perplexity", "perplexity", ".2f")]
    return f"evaluation on {result['tuned']['rows']} held-out rows: " + ", ".join(p for p in parts if p)


def run(model, tokenizer, held_out: list, tracker, step: int, say) -> dict | None:
    """``compare`` for train.py: said in the log and sent to the tracker. A failure here is said and
    leaves the trained adapter as it is."""
    try:
        result = compare(model, tokenizer, held_out)
    except Exception as exc:  # noqa: BLE001 - the adapter is good whatever happens here
        say(f"evaluation failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "the adapter is saved as usual")
        return None
    say(summary(result))
    tracker.log_final({f"{'base_' if who == 'base' else ''}eval_{key}": value
                       for who in ("tuned", "base") for key, value in result[who].items()
                       if key != "rows" and value is not None}, step)
    return result
