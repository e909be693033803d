#!/usr/bin/env bash
# The README's main command: fine-tune a tiny model on this machine (CPU is enough), serve it with an
# OpenAI-compatible endpoint, ask it a phrase it never saw, tear it down. Run from the repo root:
#
#     scripts/demo_local.sh
#
# Everything is offline except the first `pip install`s. Environment knobs:
#   DEMO_DIR=path      where the workspace goes (default: a new temp folder; kept afterwards)
#   DEMO_STEPS=200     training steps          PYTHON=python3.11   the interpreter for .venv
#   FTSTUDIO_LOCAL_PYTHON=/path/to/python   skip building the project venv (use that interpreter)
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WORK=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ftstudio-demo.XXXXXX")}
STEPS=${DEMO_STEPS:-200}
mkdir -p "$WORK"
say() { printf '\n== %s\n' "$*" >&2; }

# 1. ftstudio itself (+ what building the tiny model needs; the project's own training/serving
#    venv is built by the local backend from the generated setup/requirements.txt).
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/ftstudio ]; then
  say "installing ftstudio (pip install -e .)"
  .venv/bin/pip install -q -e .
fi
if ! .venv/bin/python -c "import torch, transformers, tokenizers, safetensors" 2>/dev/null; then
  say "installing what the tiny model builder needs"
  .venv/bin/pip install -q "torch==2.13.0" "transformers==5.23.0" "tokenizers" "safetensors"
fi
FT=.venv/bin/ftstudio

# 2. a toy tone dataset as chat conversations (the keyword decides the tone) and a tiny model whose
#    tokenizer knows its words
say "building the tiny model offline in $WORK"
.venv/bin/python - "$WORK/tones.jsonl" "$WORK/corpus.jsonl" "$WORK/knowledge.jsonl" <<'EOF'
import json, random, sys
words = {"happy": ["love", "enjoy", "adore"], "sad": ["miss", "lost", "mourn"],
         "angry": ["hate", "despise", "resent"], "calm": ["watched", "noticed", "checked"]}
objects = ["dog", "car", "job", "garden", "phone", "city", "teacher", "team", "house", "friend"]
times = ["today", "tonight", "this week", "again", "so much", "every day"]
held_out = {"I love my dog today": "happy", "I hate my phone tonight": "angry",
            "I miss my garden this week": "sad", "I checked my car again": "calm"}
rng = random.Random(7)
rows = []
for tone, ws in words.items():
    phrases = [f"I {w} my {o} {t}" for w in ws for o in objects for t in times]
    rows += [{"phrase": p, "tone": tone} for p in rng.sample([p for p in phrases if p not in held_out], 50)]
rng.shuffle(rows)
system = "Name the tone of the message in one word."
with open(sys.argv[1], "w") as fh:  # the chat format of OpenAI and AI Toolkit: {"messages": [...]}
    fh.writelines(json.dumps({"messages": [{"role": "system", "content": system},
                                           {"role": "user", "content": r["phrase"]},
                                           {"role": "assistant", "content": r["tone"]}]}) + "\n" for r in rows)
# the tokenizer's corpus (vocabulary only, not training data) also covers the held-out phrases
with open(sys.argv[2], "w") as fh:
    fh.writelines(json.dumps(r) + "\n" for r in rows + [{"phrase": p, "tone": t} for p, t in held_out.items()])
# what the base "knows" before the fine-tune, as a real base would: which words carry which tone, in
# plain text ("... means angry"), never from the held-out phrases; the fine-tune teaches the chat task
known = [(f"I {w} my {o} {t}", tone) for tone, ws in words.items() for w in ws for o in objects for t in times]
with open(sys.argv[3], "w") as fh:
    fh.writelines(json.dumps({"phrase": p, "tone": tone}) + "\n"
                  for p, tone in rng.sample([(p, tone) for p, tone in known if p not in held_out], 200))
EOF
.venv/bin/python -m scaffolds.tinymodel "$WORK/tiny-model" --corpus "$WORK/corpus.jsonl" \
  --pretrain "$WORK/knowledge.jsonl" >/dev/null

# 3. the project (local target)
say "ftstudio new demo --target local"
rm -rf "$WORK/demo"
$FT new demo --model "$WORK/tiny-model" --target local --dir "$WORK" --dataset "$WORK/tones.jsonl" \
  --set max_steps="$STEPS" --set learning_rate=0.01 --set per_device_train_batch_size=8 \
  --set source_max_len=64 --set lora_r=8 --set lora_alpha=16 --set lora_dropout=0 --set warmup_steps=0 \
  --non-interactive
P=(--project "$WORK/demo")

# 4. train (the first run builds the project's Python environment: a minute or two)
say "ftstudio run --follow"
$FT run --follow "${P[@]}"

# 5. serve; from here on, always tear down
say "ftstudio deploy"
trap '$FT down --yes "${P[@]}" >/dev/null 2>&1 || true' EXIT
URL=$($FT deploy --json "${P[@]}" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["url"])')

# 6. ask it a phrase that was not in the training data
PHRASE="I hate my phone tonight"
say "asking $URL: \"$PHRASE\""
KEY=$($FT secret get INFERENCE_API_KEY --inference "${P[@]}")
ANSWER=$(curl -sS "$URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -d "{\"model\": \"demo\", \"messages\": [{\"role\": \"system\", \"content\": \"Name the tone of the message in one word.\"}, {\"role\": \"user\", \"content\": \"$PHRASE\"}], \"max_tokens\": 5, \"temperature\": 0}" \
  | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"].strip())')
echo "Q: $PHRASE"
echo "A: $ANSWER"

# 7. tear down (the workspace stays in $WORK)
say "ftstudio down --yes"
trap - EXIT
$FT down --yes "${P[@]}"
echo "Workspace kept in $WORK" >&2
