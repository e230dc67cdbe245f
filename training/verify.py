"""Check an exported adapter: llama.cpp + GGUF adapter must predict what HF + peft predicts.

The same token ids go through both; at every position the next-token distributions are compared
by KL divergence (HF's as the reference) and by whether their top token agrees. A wrong tensor
name, a missing permutation or a wrong scale shows up as a KL far above the base model's own
quantization gap, and the adapter is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_KL = 0.05  # mean nats per position; a correct export measured about 0.005 here
MIN_TOP1 = 0.9


@dataclass(frozen=True)
class LogitCheck:
    positions: int
    kl_mean: float
    kl_max: float
    top1_agreement: float

    @property
    def passed(self) -> bool:
        return self.kl_mean <= MAX_KL and self.top1_agreement >= MIN_TOP1

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "max_kl": MAX_KL, "min_top1": MIN_TOP1}


def check_adapter(
    hf_model: Any,
    tokenizer: Any,
    base_gguf: Path,
    adapter_gguf: Path | None,
    texts: list[str],
    max_tokens: int = 128,
) -> LogitCheck:
    """Compare HF (+ peft) and llama.cpp (+ the GGUF adapter) on `texts`."""
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
            ids = tokenizer(text)["input_ids"][:max_tokens]
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
    return LogitCheck(len(kls), float(np.mean(kls)), float(np.max(kls)), float(np.mean(agree)))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
