"""Tokenized samples -> batches of similar length, in an order that can be resumed exactly.

Each sample is the tokens llama.cpp opens every prompt with (Gemma's BOS) + prompt + completion;
labels are IGNORE on the prompt, so the loss is on the code the model should write. A sample
longer than `max_tokens` is left out rather than cut: a cut prompt loses its opening markers
and would teach a prompt the server never sends. Samples are grouped by length so batches carry
little padding; the order of batches is a seeded shuffle, so a resumed run continues with the very
batch it would have trained on next.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.losses import IGNORE

logger = logging.getLogger(__name__)

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class Example:
    ids: list[int]
    labels: list[int]


def load_examples(
    path: Path, tokenize: Tokenize, max_tokens: int, opening: Sequence[int] = ()
) -> tuple[list[Example], int]:
    """The samples of a JSONL file that fit `max_tokens`, and how many did not."""
    examples, too_long = [], 0
    for row in _rows(path):
        example = _example(row["prompt"], row["completion"], tokenize, opening)
        if len(example.ids) > max_tokens:
            too_long += 1
            continue
        examples.append(example)
    return examples, too_long


def load_example_pairs(
    path: Path,
    tokenize: Tokenize,
    max_tokens: int,
    teacher_max_tokens: int,
    opening: Sequence[int] = (),
) -> tuple[list[Example], list[Example], int]:
    """(student, teacher) examples, index-aligned, of rows that also carry the teacher's own
    prompt (`teacher_prompt`, context distillation): a row is kept when both fit. The
    completion is tokenized alone in both, so both predict the very same tokens."""
    students, teachers, too_long = [], [], 0
    for row in _rows(path):
        student = _example(row["prompt"], row["completion"], tokenize, opening)
        teacher = _example(
            row.get("teacher_prompt", row["prompt"]), row["completion"], tokenize, opening
        )
        if len(student.ids) > max_tokens or len(teacher.ids) > teacher_max_tokens:
            too_long += 1
            continue
        students.append(student)
        teachers.append(teacher)
    return students, teachers, too_long


def _rows(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def prompt_and_completion_ids(
    prompt: str, completion: str, tokenize: Tokenize, opening: Sequence[int]
) -> tuple[list[int], list[int]]:
    """The training rule: the model's opening tokens and the prompt, then the completion
    tokenized alone (so its tokens do not depend on where the prompt ends)."""
    return [*opening, *tokenize(prompt)], tokenize(completion)


def _example(prompt: str, completion: str, tokenize: Tokenize, opening: Sequence[int]) -> Example:
    prompt_ids, completion_ids = prompt_and_completion_ids(prompt, completion, tokenize, opening)
    return Example(prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids)


def length_batches(examples: list[Example], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of neighbouring lengths."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def batch_order(batches: int, seed: int, epoch: int) -> list[int]:
    order = list(range(batches))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, labels (IGNORE on padding)."""
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        ids[row, : len(example.ids)] = torch.tensor(example.ids)
        labels[row, : len(example.labels)] = torch.tensor(example.labels)
        mask[row, : len(example.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def read_split(
    config: dict[str, Any], tokenizer: Any, split: str, required: bool = True, folder: str = ""
) -> tuple[list[Example], int]:
    """The split's examples that fit `max_tokens`, and how many did not."""
    path = Path(folder or config["dataset"]) / f"{split}.jsonl"
    if not path.is_file():
        if required:
            raise GhostwrightError(f"no {split}.jsonl in dataset {config['dataset']}")
        return [], 0
    found, too_long = load_examples(
        path, token_ids(tokenizer), config["max_tokens"], opening(tokenizer)
    )
    if too_long:
        logger.info("%s: %d samples longer than max_tokens left out", path, too_long)
    return found, too_long


def replay(config: dict[str, Any], tokenizer: Any, own: int) -> tuple[list[Example], int]:
    """Stage A samples mixed into Stage B (`replay_share` of the result): it must not forget."""
    share, folder = config.get("replay_share", 0.0), config.get("replay_dataset")
    if not folder or share <= 0:
        return [], 0
    found, too_long = read_split(config, tokenizer, "train", folder=folder)
    wanted = min(len(found), round(own * share / (1 - share)))
    return random.Random(config["seed"]).sample(found, wanted), too_long


def token_ids(tokenizer: Any) -> Callable[[str], list[int]]:
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]


def opening(tokenizer: Any) -> list[int]:
    """What the tokenizer opens a text with (Gemma: BOS), as llama.cpp does for every prompt."""
    return tokenizer("", add_special_tokens=True)["input_ids"]
