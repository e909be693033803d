"""GPU memory a LoRA / QLoRA fine-tune needs, from the model's shape and the run's settings: the basis
of the minimum GPU, shown term by term so a user can check it (all in GiB).

- weights: the frozen base. qlora: the linear layers in 4-bit NF4, 0.5 byte/param plus quantization
  constants (an fp32 scale per 64 weights, 0.0625 byte; ~0.016 with double quantization); embeddings and an
  untied lm_head stay unquantized and peft's prepare_model_for_kbit_training casts them to fp32.
  lora / olive (olive-config.json's pass is LoRA): every weight in the compute dtype.
- lora: adapters of r x (in + out) per targeted linear layer, fp32, with their gradients (4 bytes) and
  optimizer states (AdamW 8 bytes; the 8-bit paged AdamW train.py uses for qlora, 2).
- activations: gradient checkpointing (train.py turns it on on a GPU) keeps each layer's input
  (batch x sequence x hidden; fp32 for qlora, whose fp32 embeddings make the residual stream fp32) plus one
  layer's full activations while it is recomputed: (17 x hidden + 8 x intermediate) x dtype/2 bytes per
  token for a gated MLP (Korthikanti et al. 2022; SDPA keeps no sequence^2 term), plus each adapter's input.
- logits: batch x sequence x vocabulary in the compute dtype, plus the fp32 log-softmax and its gradient
  (the loss upcasts): the largest term for small models with large vocabularies.
- overhead: the CUDA context, kernels and cuBLAS workspaces.
Every row is taken as long as source_max_len (the worst case). A profile fits when the total is within
BUDGET of its usable memory (USABLE of the nominal size: a T4 shows 14.7 GiB of its 16); the rest absorbs
allocator fragmentation and the estimate's error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from core import azure_facts as azure_spec

GIB = 1024 ** 3
USABLE = 0.92
BUDGET = 0.90
OVERHEAD_GIB = 1.0
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}
NF4_BYTES = {False: 0.5 + 4 / 64, True: 0.5 + 0.127 / 8}  # double_quant -> bytes per quantized weight
ADAM_STATE_BYTES = {"qlora": 2, "lora": 8, "olive": 8}
# MLPs without a gate (two matrices, not three): everything else in the catalog is gated (SwiGLU/GeGLU).
UNGATED = {"PhiForCausalLM", "GPT2LMHeadModel", "GPTNeoXForCausalLM", "GPTJForCausalLM", "OPTForCausalLM"}
GUESS_VOCAB = 128_256


@dataclass(frozen=True)
class Shape:
    """What the estimate needs of a model's architecture (HF config names in models.json "config")."""

    params: int
    hidden: int
    layers: int
    intermediate: int
    q_dim: int
    kv_dim: int
    vocab: int
    tied: bool
    gated: bool = True
    guessed: bool = False

    def linear_io(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer name in one decoder layer."""
        d, q, kv, ff = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        return {"q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d), "dense": (q, d),
                "out_proj": (q, d), "qkv_proj": (d, q + 2 * kv), "gate_proj": (d, ff), "up_proj": (d, ff),
                "down_proj": (ff, d), "gate_up_proj": (d, 2 * ff), "fc1": (d, ff), "fc2": (ff, d)}

    def targeted(self, target_modules: Union[str, list, tuple, None]) -> list[tuple[int, int]]:
        io = self.linear_io()
        if not target_modules or target_modules == "all-linear":
            names = ("q_proj", "k_proj", "v_proj", "o_proj") + (
                ("gate_proj", "up_proj", "down_proj") if self.gated else ("fc1", "fc2"))
        else:
            names = tuple(target_modules)
        # a name we do not know: assume a hidden -> hidden projection
        return [io.get(n, (self.hidden, self.hidden)) for n in names]


def shape_of(model: dict) -> Optional[Shape]:
    """The model's shape from its "config" (catalog: HF config.json names), else guessed from its size."""
    params = model.get("params")
    if not params:
        return None
    gated = model.get("architecture") not in UNGATED
    cfg = model.get("config") or {}
    cfg = cfg.get("text_config") or cfg  # multimodal configs nest the language model's

    def number(key: str, default: Optional[int] = None) -> int:
        value = cfg.get(key) or default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(key)
        return value

    try:
        d, heads = number("hidden_size"), number("num_attention_heads", 1)
        head_dim = number("head_dim", max(1, d // heads))
        return Shape(params=int(params), hidden=d, layers=number("num_hidden_layers"),
                     intermediate=number("intermediate_size", 4 * d), q_dim=heads * head_dim,
                     kv_dim=number("num_key_value_heads", heads) * head_dim, vocab=number("vocab_size"),
                     tied=cfg.get("tie_word_embeddings") is True, gated=gated)
    except (AttributeError, ValueError):
        return guess_shape(int(params), gated=gated)


def guess_shape(params: int, *, gated: bool = True) -> Shape:
    """A decoder of ``params`` with today's proportions: hidden ~ 128 x layers, intermediate 3.5 x hidden,
    4:1 grouped-query attention, a Llama-3-sized vocabulary, embeddings tied below 4B (as in Llama 3.2,
    Qwen, Gemma, SmolLM) and untied above."""
    d = max(64, 64 * round((params * 128 / 12) ** (1 / 3) / 64))
    tied = params < 4e9
    vocab = max(1, min(GUESS_VOCAB, int(0.3 * params / d)))  # the embeddings can't be most of the model
    body = max(0, params - vocab * d * (1 if tied else 2))
    layers = max(1, round(body / (13 * d * d)))  # ~2.5 d^2 attention + 10.5 d^2 MLP per layer
    return Shape(params=params, hidden=d, layers=layers, intermediate=int(3.5 * d), q_dim=d, kv_dim=d // 4,
                 vocab=vocab, tied=tied, gated=gated, guessed=True)


@dataclass
class Estimate:
    recipe: str
    batch: int
    seq_len: int
    dtype: str
    terms: dict[str, float] = field(default_factory=dict)  # GiB, in the order they are summed
    shape_guessed: bool = False

    @property
    def total(self) -> float:
        return sum(self.terms.values())

    def basis(self) -> str:
        parts = " + ".join(f"{k} {v:.1f}" for k, v in self.terms.items())
        guess = "; shape guessed from the parameter count" if self.shape_guessed else ""
        return (f"{parts} = {self.total:.1f} GiB ({self.recipe}, batch {self.batch} x {self.seq_len} tokens, "
                f"{self.dtype}{guess})")

    def to_dict(self) -> dict:
        return {"total_gib": round(self.total, 2), "terms_gib": {k: round(v, 2) for k, v in self.terms.items()},
                "recipe": self.recipe, "batch": self.batch, "source_max_len": self.seq_len,
                "compute_dtype": self.dtype, "shape": "guessed" if self.shape_guessed else "config"}


def estimate(model: dict, recipe: str, *, seq_len: int, batch: int, lora_r: int,
             target_modules: Union[str, list, None] = "all-linear", dtype: str = "float16",
             double_quant: bool = True) -> Optional[Estimate]:
    """Training memory of ``model`` for these settings, or None when its size is unknown."""
    s = shape_of(model)
    if s is None:
        return None
    a = DTYPE_BYTES.get(dtype, 4)
    embed = s.vocab * s.hidden * (1 if s.tied else 2)
    if recipe == "qlora":
        weights = max(0, s.params - embed) * NF4_BYTES[bool(double_quant)] + embed * 4  # fp32 embeddings
        residual = 4  # the fp32 embeddings' output keeps the residual stream in fp32
    else:
        weights = s.params * a
        residual = a
    layers_io = s.targeted(target_modules)
    adapters = lora_r * s.layers * sum(i + o for i, o in layers_io)
    lora = adapters * (4 + 4 + ADAM_STATE_BYTES.get(recipe, 8))
    one_layer = (17 * s.hidden + (8 if s.gated else 4) * s.intermediate) * a / 2
    adapter_inputs = sum(i + lora_r for i, _o in layers_io) * a  # dropout copies of x, and x @ A
    tokens = batch * seq_len
    activations = tokens * (s.layers * s.hidden * residual + one_layer + adapter_inputs)
    logits = tokens * s.vocab * (a + 8)
    terms = {"weights": weights / GIB, "lora": lora / GIB, "activations": activations / GIB,
             "logits": logits / GIB, "overhead": OVERHEAD_GIB}
    return Estimate(recipe=recipe, batch=batch, seq_len=seq_len, dtype=dtype, terms=terms, shape_guessed=s.guessed)


def gpu_memory_gb(profile: str) -> float:
    return float(azure_spec.GPU_PROFILES[profile]["gpu_memory_gb"])


def budget_gib(profile: str) -> float:
    """What an estimate may use on ``profile``: BUDGET of the memory the device shows."""
    return gpu_memory_gb(profile) * USABLE * BUDGET


def profiles_by_memory() -> list[str]:
    """Every GPU profile, smallest memory first; serverless before dedicated at the same size (no idle nodes)."""
    spec = azure_spec.GPU_PROFILES
    return sorted(spec, key=lambda p: (gpu_memory_gb(p), not spec[p]["serverless"]))


def fits(est: Optional[Estimate], profile: str) -> bool:
    return est is not None and est.total <= budget_gib(profile) + 1e-9

