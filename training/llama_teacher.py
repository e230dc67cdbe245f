"""The teacher as the server runs it: its GGUF (and GGUF adapter) in llama.cpp, for labelling.

A student of another model of the same family (the 1.5B teaching the 0.5B) learns from the
teacher's quantized GGUF exactly as users are served by it. llama.cpp is also the cheaper way to
run it on a CPU: the 1.5B reads 150 tokens/s there against 51 through transformers in fp32
(measured on 2 AVX512 cores), and labelling is the slow part of distillation.

Each example's token ids (the student's own tokenization) are evaluated as they are, with every
position's logits kept, so teacher and student see the same tokens and position t of the
teacher predicts token t + 1 as `losses.supervised_states` expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import Example
from ghostwright.training.losses import IGNORE


class LlamaTeacher:
    """A llama.cpp context over the teacher's GGUF that returns logits of labelled positions."""

    def __init__(self, model_gguf: Path, adapter_gguf: str = "", n_ctx: int = 2048) -> None:
        from ghostwright.indexer.llama_native import load_quietly
        from ghostwright.server.backends.hardware import physical_cores

        options: dict[str, Any] = {"lora_path": adapter_gguf} if adapter_gguf else {}
        try:
            self.llm = load_quietly(
                model_path=str(model_gguf),
                n_ctx=n_ctx,
                n_batch=min(n_ctx, 512),
                logits_all=True,
                n_threads=physical_cores(),
                **options,
            )
        except (ValueError, RuntimeError) as exc:
            raise GhostwrightError(f"cannot load the teacher {model_gguf}: {exc}") from exc
        self.n_ctx = n_ctx

    def positions(self, example: Example) -> np.ndarray:
        """(labelled positions, vocabulary) float32 logits, in `supervised_states` order."""
        if len(example.ids) > self.n_ctx:
            raise GhostwrightError(f"a sample of {len(example.ids)} tokens exceeds {self.n_ctx}")
        self.llm.reset()
        self.llm.eval(example.ids)
        predicting = [t for t in range(len(example.ids) - 1) if example.labels[t + 1] != IGNORE]
        return np.array(self.llm.scores[predicting], dtype=np.float32)

    def top_k(self, examples: list[Example], top_k: int) -> dict[str, np.ndarray]:
        """A teacher-cache shard: values (float16), ids (int32) and lengths, as the transformers
        teacher writes them."""
        values, ids, lengths = [], [], []
        for example in examples:
            logits = self.positions(example)
            chosen = np.argpartition(-logits, top_k - 1, axis=1)[:, :top_k]
            chosen_values = np.take_along_axis(logits, chosen, axis=1)
            order = np.argsort(-chosen_values, axis=1)  # descending, as torch.topk returns them
            values.append(np.take_along_axis(chosen_values, order, axis=1).astype(np.float16))
            ids.append(np.take_along_axis(chosen, order, axis=1).astype(np.int32))
            lengths.append(len(logits))
        return {
            "values": np.concatenate(values),
            "ids": np.concatenate(ids),
            "lengths": np.array(lengths, dtype=np.int64),
        }

    def cross_entropy(self, examples: list[Example]) -> float | None:
        """Mean next-token cross-entropy over the labelled positions (None: no examples)."""
        total, count = 0.0, 0
        for example in examples:
            logits = self.positions(example).astype(np.float64)
            targets = [label for label in example.labels[1:] if label != IGNORE]
            peak = logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits - peak).sum(axis=1)) + peak[:, 0]
            total += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
            count += len(targets)
        return total / count if count else None

    def close(self) -> None:
        self.llm.close()
