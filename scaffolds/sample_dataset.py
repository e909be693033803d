"""The sample dataset written into every new project: tone classification as chat conversations.

Each JSONL row is ``{"messages": [system, user, assistant]}`` (the OpenAI / AI Toolkit chat
format): the system turn names the task and the five tones, the user turn is a phrase, the
assistant answers with its tone in one word, so a person can check a fine-tune by eye. ``rows()``
gives the same data as flat ``{"phrase", "tone"}`` records.

Deterministic (fixed seed) and honest: every phrase ends with a reaction carrying an unmistakable
cue for its tone (joy words for happy, crying for sad...) after a topic shared by all tones, so
the topic never gives the answer away and even a tiny model can really learn the mapping.
"""
from __future__ import annotations

import json
import random

FILE_NAME = "dataset-classification.jsonl"
TONES = ("happy", "sad", "angry", "fearful", "surprised")
DEFAULT_ROWS_PER_TONE = 60
SYSTEM_PROMPT = "Name the tone of the message in one word: happy, sad, angry, fearful or surprised."
SEED = 20240917

TOPICS = [
    "my new job", "the weekend trip", "my sister's wedding", "the exam results", "our team's last game",
    "the neighbour's dog", "my old car", "the new apartment", "the concert last night", "my birthday",
    "the project deadline", "the train ride home", "the letter from the bank", "the call from my doctor",
    "my vegetable garden", "the meeting with my boss", "the school play", "the storm yesterday",
    "the dinner party", "my grandmother's visit", "the job interview", "the hiking trip",
    "the package that arrived", "the news about the company", "the first day of school",
    "the flight to Lisbon", "my brother's phone call", "the final score", "the renovation",
    "the results of the vote",
]

# A phrase = a neutral sentence about a topic + a short reaction that carries the tone. Topics and
# frames are shared by every tone; only the reaction differs, and it always ends the phrase (so
# even a tiny model finds the cue at the same distance from the answer).
FRAMES = [
    "{T}.", "About {t}:", "Then there was {t}.", "Today I heard about {t}.", "So, {t}.",
    "Yesterday it was {t}.", "Thinking of {t}:", "And now {t}.",
]
REACTIONS = {
    "happy": [
        "I am so happy!", "What a joy, I love it!", "I feel happy and grateful.", "It made me so happy.",
        "Pure joy, I love it.", "I'm happy and smiling all day.", "Such joy!", "I love this, so happy.",
    ],
    "sad": [
        "I feel so sad.", "It makes me sad, I cried.", "I'm sad and I miss how it was.", "So sad, I cried all night.",
        "I feel sad and lonely.", "It left me sad.", "I cried, it is so sad.", "Sad. I miss it already.",
    ],
    "angry": [
        "I am so angry!", "I'm furious, I hate this.", "It makes me angry.", "I hate it, I'm furious!",
        "So angry right now.", "I'm angry and fed up.", "Furious! I hate this.", "This makes me furious.",
    ],
    "fearful": [
        "I am so scared.", "I'm afraid, it terrifies me.", "It makes me scared.", "I'm terrified and afraid.",
        "So scared right now.", "I'm afraid of what comes next.", "Terrified. I'm so scared.",
        "This makes me afraid.",
    ],
    "surprised": [
        "Wow, I'm so surprised!", "What a shock, I didn't expect that!", "I'm surprised, wow.",
        "Totally unexpected, I'm shocked!", "Wow, so unexpected!", "I'm shocked and surprised.",
        "Surprised! Never saw it coming.", "Wow, what a surprise.",
    ],
}


def rows(per_tone: int = DEFAULT_ROWS_PER_TONE, seed: int = SEED) -> list[dict]:
    """``per_tone`` distinct rows per tone, interleaved so any prefix holds every tone.

    Topics are dealt round-robin, so every tone uses every topic equally often: only the
    reaction tells the tones apart.
    """
    rng = random.Random(seed)
    by_tone: dict[str, list[dict]] = {}
    for tone in TONES:
        combos = [(frame, reaction) for frame in FRAMES for reaction in REACTIONS[tone]]
        if per_tone > len(TOPICS) * len(combos):
            raise ValueError("not enough distinct phrasings for that many rows per tone")
        topics = rng.sample(TOPICS, len(TOPICS))
        order = {topic: rng.sample(combos, len(combos)) for topic in topics}
        picked = []
        for i in range(per_tone):
            topic = topics[i % len(topics)]
            frame, reaction = order[topic].pop()
            opening = frame.format(t=topic, T=topic[:1].upper() + topic[1:])
            picked.append({"phrase": f"{opening} {reaction}", "tone": tone})
        by_tone[tone] = picked
    out = []
    for i in range(per_tone):
        batch = [by_tone[tone][i] for tone in TONES]
        rng.shuffle(batch)
        out.extend(batch)
    return out


def conversation(phrase: str, tone: str | None = None) -> dict:
    """One row of the sample: the task, the phrase and (for training) the answer."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": phrase}]
    if tone is not None:
        messages.append({"role": "assistant", "content": tone})
    return {"messages": messages}


def jsonl(per_tone: int = DEFAULT_ROWS_PER_TONE, seed: int = SEED, *, flat: bool = False) -> str:
    """The sample as JSONL: conversations, or (``flat``) ``{"phrase", "tone"}`` rows for a text_template project."""
    return "".join(json.dumps(r if flat else conversation(r["phrase"], r["tone"]), ensure_ascii=False) + "\n"
                   for r in rows(per_tone, seed))
