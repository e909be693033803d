"""The sample tone-classification dataset written into every new project (JSONL {"phrase","tone"}).

Deterministic (fixed seed) and honest: every phrase carries an unmistakable cue for its tone
(joy words for happy, loss words for sad...) around a topic shared by all tones, so the topic
never gives the answer away and a small model can really learn the mapping.
"""
from __future__ import annotations

import json
import random

FILE_NAME = "dataset-classification.jsonl"
TONES = ("happy", "sad", "angry", "fearful", "surprised")
DEFAULT_ROWS_PER_TONE = 60
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

# {t} = topic (lower case), {T} = topic with a capital letter.
TEMPLATES = {
    "happy": [
        "I am so happy about {t}!", "{T} made my whole day wonderful.", "I love {t}, it is pure joy.",
        "Honestly, {t} filled me with joy.", "I'm thrilled and grateful for {t}.",
        "{T} went great and I can't stop smiling.", "Feeling cheerful and blessed thanks to {t}.",
        "Best day ever: {t} was fantastic!", "I'm grinning from ear to ear about {t}.",
        "{T} makes me feel warm and glad inside.", "What a delight {t} turned out to be!",
        "I'm overjoyed, {t} could not have gone better.",
    ],
    "sad": [
        "I feel so sad about {t}.", "{T} left me heartbroken.", "I cried all evening after {t}.",
        "Since {t}, everything feels empty and gray.", "I miss how things were before {t}, and it hurts.",
        "{T} made me feel lonely and down.", "My heart is heavy because of {t}.",
        "I'm quietly grieving over {t}.", "I feel hopeless and gloomy about {t}.",
        "{T} keeps making me tearful.", "Nothing cheers me up since {t}, I'm so miserable.",
        "I'm sorrowful and disappointed about {t}.",
    ],
    "angry": [
        "I am furious about {t}!", "{T} makes my blood boil.", "I'm sick and tired of {t}, this is outrageous.",
        "Who messed up {t}? I'm livid.", "{T} was an insult and I'm fuming.",
        "I hate how {t} was handled, it's infuriating.", "I'm so mad about {t} I could scream.",
        "Enough! {T} is absolutely unacceptable.", "{T} has me seething with rage.",
        "I'm outraged by {t} and I want answers now.", "{T} is a disgrace and it makes me angry.",
        "I'm irritated and annoyed beyond words by {t}.",
    ],
    "fearful": [
        "I'm terrified about {t}.", "{T} keeps me awake at night with dread.",
        "I'm scared something will go wrong with {t}.", "My hands are shaking when I think about {t}.",
        "I'm nervous and afraid of {t}.", "{T} fills me with panic.", "What if {t} goes badly? I'm frightened.",
        "I have a horrible feeling of dread about {t}.", "I'm anxious and uneasy about {t}.",
        "{T} scares me more than I can say.", "I'm worried sick and afraid about {t}.",
        "The thought of {t} makes me panic.",
    ],
    "surprised": [
        "Wow, I did not expect {t} at all!", "{T} came completely out of nowhere!",
        "I can't believe {t} actually happened!", "Whoa, {t} caught me totally off guard.",
        "No way, {t}? I'm stunned!", "{T} was so unexpected, my jaw dropped.", "I'm astonished by {t}.",
        "Seriously? {T}? What a shock!", "I never saw {t} coming.", "{T} left me speechless, wow!",
        "Out of the blue, {t}! I'm amazed.", "I'm totally startled by {t}.",
    ],
}


def rows(per_tone: int = DEFAULT_ROWS_PER_TONE, seed: int = SEED) -> list[dict]:
    """``per_tone`` distinct rows per tone, interleaved so any prefix holds every tone.

    Topics are dealt round-robin, so every tone uses every topic equally often (with a different
    phrasing each time): only the wording of the feeling tells the tones apart.
    """
    rng = random.Random(seed)
    if per_tone > len(TOPICS) * min(len(t) for t in TEMPLATES.values()):
        raise ValueError("not enough distinct phrasings for that many rows per tone")
    by_tone: dict[str, list[dict]] = {}
    for tone in TONES:
        order = {topic: rng.sample(TEMPLATES[tone], len(TEMPLATES[tone])) for topic in TOPICS}
        topics = rng.sample(TOPICS, len(TOPICS))
        picked = []
        for i in range(per_tone):
            topic = topics[i % len(topics)]
            tpl = order[topic].pop()
            picked.append({"phrase": tpl.format(t=topic, T=topic[:1].upper() + topic[1:]), "tone": tone})
        by_tone[tone] = picked
    out = []
    for i in range(per_tone):
        batch = [by_tone[tone][i] for tone in TONES]
        rng.shuffle(batch)
        out.extend(batch)
    return out


def jsonl(per_tone: int = DEFAULT_ROWS_PER_TONE, seed: int = SEED) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows(per_tone, seed))
