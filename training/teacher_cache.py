"""The teacher's predictions, computed once and kept on disk.

For every training example, at every position that predicts a completion token, the teacher's
top k logits and their token ids (float16 / int32, about 6 bytes x k per position) go into
compressed shards of `SHARD` examples. A shard is written atomically and skipped when it already
exists, so an interrupted run picks up where it stopped, and the teacher never runs twice over
the same data. `manifest.json` names the teacher and k; a cache made by another teacher is
refused rather than silently mixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import Example, collate, length_batches
from ghostwright.training.losses import softcapped, supervised_states, teacher_top_k

SHARD = 64  # examples per file
MANIFEST = "manifest.json"


class TeacherCache:
    """Top-k teacher logits per example, in the order of the examples they were made from."""

    def __init__(self, values: list[np.ndarray], ids: list[np.ndarray]) -> None:
        self.values, self.ids = values, ids

    def batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(values (N, k) float32, ids (N, k) int64) of these examples' positions, concatenated
        in the order the loss visits them (`supervised_states`: sample by sample)."""
        values = np.concatenate([self.values[i] for i in indices])
        ids = np.concatenate([self.ids[i] for i in indices])
        return torch.from_numpy(values.astype(np.float32)), torch.from_numpy(ids.astype(np.int64))

    def renumbered(self, new_ids: np.ndarray, absent_logit: float) -> TeacherCache:
        """The cache in a student's trimmed vocabulary (`new_ids`: full id -> new id, negative
        when left out). A left-out token keeps its place with `absent_logit` on a kept id, so
        the teacher's distribution is renormalised over what the student can say."""
        values, ids = [], []
        for part_values, part_ids in zip(self.values, self.ids, strict=True):
            mapped = new_ids[part_ids]
            absent = mapped < 0
            values.append(np.where(absent, np.float16(absent_logit), part_values))
            ids.append(np.where(absent, 0, mapped).astype(np.int32))
        return TeacherCache(values, ids)


Label = Callable[[list[Example]], dict[str, np.ndarray]]  # a shard's examples -> its arrays


def build_teacher_cache(
    label: Label,
    examples: list[Example],
    folder: Path,
    *,
    identity: dict,
    top_k: int,
    progress: Callable[[int, int], None] | None = None,
) -> TeacherCache:
    """Label `examples` (the shards not on disk yet) and load the whole cache. `label` is the
    teacher: `torch_labeller` (a transformers model) or `LlamaTeacher.top_k` (its GGUF in
    llama.cpp); both return values, ids and lengths."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {**identity, "top_k": top_k, "examples": len(examples), "shard": SHARD}
    _check_manifest(folder, manifest)
    shards = range(0, len(examples), SHARD)
    for done, start in enumerate(shards):
        path = folder / f"shard-{start // SHARD:05d}.npz"
        if not path.is_file():
            arrays = label(examples[start : start + SHARD])
            with atomic_path(path) as partial, partial.open("wb") as handle:
                np.savez_compressed(handle, **arrays)
        if progress is not None:
            progress(done + 1, len(shards))
    return load_teacher_cache(folder, len(examples))


def torch_labeller(teacher: Any, top_k: int, batch_size: int, bf16: bool, pad_id: int) -> Label:
    """The top-k labelling of a transformers teacher, batched."""
    return lambda examples: _teacher_arrays(teacher, examples, top_k, batch_size, bf16, pad_id)


def load_teacher_cache(folder: Path, count: int) -> TeacherCache:
    values: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    for start in range(0, count, SHARD):
        with np.load(folder / f"shard-{start // SHARD:05d}.npz") as shard:
            bounds = np.cumsum(shard["lengths"])[:-1]
            values += np.split(shard["values"], bounds)
            ids += np.split(shard["ids"], bounds)
    return TeacherCache(values, ids)


@torch.no_grad()
def _teacher_arrays(
    teacher: Any, examples: list[Example], top_k: int, batch_size: int, bf16: bool, pad_id: int
) -> dict[str, np.ndarray]:
    """values, ids (positions of all examples, k) and lengths (positions per example)."""
    head = softcapped(
        teacher.get_output_embeddings(), getattr(teacher.config, "final_logit_softcapping", None)
    )
    per_example: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for indices in length_batches(examples, batch_size):
        batch = collate([examples[i] for i in indices], pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = teacher.get_decoder()(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            states, _ = supervised_states(hidden, batch["labels"])
            values, ids = teacher_top_k(head(states), top_k)
        counts = [sum(1 for label in examples[i].labels[1:] if label >= 0) for i in indices]
        for index, part_values, part_ids in zip(
            indices, values.split(counts), ids.split(counts), strict=True
        ):
            per_example[index] = (part_values, part_ids)
    order = range(len(examples))
    return {
        "values": torch.cat([per_example[i][0] for i in order]).numpy(),
        "ids": torch.cat([per_example[i][1] for i in order]).numpy(),
        "lengths": np.array([len(per_example[i][0]) for i in order], dtype=np.int64),
    }


def _check_manifest(folder: Path, manifest: dict) -> None:
    path = folder / MANIFEST
    if path.is_file():
        found = json.loads(path.read_text())
        if found != manifest:
            raise GhostwrightError(
                f"{folder} holds another teacher's logits ({found}); delete it or start a new run"
            )
        return
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(manifest, indent=2))
