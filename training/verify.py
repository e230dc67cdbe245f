"""Check an exported adapter: llama.cpp + GGUF adapter must predict what HF + peft predicts.

The same token ids go through both, as llama.cpp's own tokenizer (the one the server uses) makes
them from the text: a student with a trimmed vocabulary has no other. At every position the
next-token distributions are compared by KL divergence (HF's as the reference) and by whether
their top token agrees. A wrong tensor name, a missing permutation or a wrong scale shows up as
a KL far above the base model's own quantization gap, and the adapter is refused.

A whole (student) model is held to a looser bound: its export rounds every weight training
changed to 4-6 bits afresh, where an adapter rides on the base weights transformers itself read
from the GGUF. A correct q4_k_m export of a merged context student measured KL 0.084 / top-1 87%
and kept its exact match on held-out code (15.0% against 15.5% as an adapter); a wrong tensor
layout measures KL above 1. Whether the rounding costs quality is the gate's question. (Students
trained with a Q4_0 embedding measured 0.153-0.158 at q4_k_m and 0.004 at q8_0, which
`quantization: auto` then takes.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_KL = 0.05  # mean nats per position; a correct export measured about 0.005 here
MIN_TOP1 = 0.9
MODEL_MAX_KL = 0.1  # a whole model, quantized anew
MODEL_MIN_TOP1 = 0.85


@dataclass(frozen=True)
class LogitCheck:
    positions: int
    kl_mean: float
    kl_max: float
    top1_agreement: float
    max_kl: float = MAX_KL
    min_top1: float = MIN_TOP1

    @property
    def passed(self) -> bool:
        return self.kl_mean <= self.max_kl and self.top1_agreement >= self.min_top1

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check_adapter(
    hf_model: Any,
    base_gguf: Path,
    adapter_gguf: Path | None,
    texts: list[str],
    max_tokens: int = 128,
) -> LogitCheck:
    """Compare HF (+ peft) and llama.cpp (+ the GGUF adapter) on `texts`; without an adapter
    `base_gguf` is a whole exported model (`MODEL_MAX_KL`, `MODEL_MIN_TOP1`)."""
    import torch

    from ghostwright.indexer.llama_native import load_quietly

    llm = load_quietly(
        model_path=str(base_gguf),
        lora_path=str(adapter_gguf) if adapter_gguf else None,
        n_ctx=max_tokens + 8,
        logits_all=True,
    )
    kls, agree = [], []
    try:
        hf_model.eval()
        for text in texts:
            ids = llm.tokenize(text.encode(), add_bos=True, special=True)[:max_tokens]
            with torch.no_grad():
                reference = hf_model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
            llm.reset()
            llm.eval(ids)
            ours = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
            p, q = _log_softmax(reference), _log_softmax(ours)
            kls += list((np.exp(p) * (p - q)).sum(axis=1))
            agree += list(reference.argmax(axis=1) == ours.argmax(axis=1))
    finally:
        llm.close()
    bounds = (MAX_KL, MIN_TOP1) if adapter_gguf else (MODEL_MAX_KL, MODEL_MIN_TOP1)
    return LogitCheck(
        len(kls), float(np.mean(kls)), float(np.max(kls)), float(np.mean(agree)), *bounds
    )


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
