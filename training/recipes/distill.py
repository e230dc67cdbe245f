"""Distillation recipe: a student trained to predict what the teacher predicts.

The teacher is the model the server runs (GGUF through transformers, installed adapter merged).
Before training it runs once over the training examples and its top-k logits per completion
position are cached on disk (`teacher_cache`). The student trains on a mix of a divergence from
the cached teacher distribution and cross-entropy on the labels (`losses`), the mix moving
linearly over the run. Two students:

- `pruned`: the teacher itself with its blocks pruned to `keep_layers` (the token embedding,
  which is also the output layer, stays frozen).
- `context`: the same model with a LoRA (starting from the teacher's adapter); the teacher reads
  each hole with the repository snippets retrieval found, the student without them
  (`data/served.py`).

- `family`: a smaller model of the teacher's family with the same vocabulary (the 0.5B for the
  1.5B), a LoRA over it or all its weights but the token embedding (`student_training`). The
  teacher labels in llama.cpp from its own GGUF (`llama_teacher`), as it is served: 3x faster
  there than through transformers on a CPU. `ghostwright distill --student family --stage a`
  restores the student's FIM on the standard library (installed user-wide); `--stage b` then
  teaches it the repository.

All are exported as whole GGUF models (the LoRA merged). The student's token embedding is
rounded to the GGUF type it will be served with (`embedding_quantization`, `export.round_embedding`)
before it trains, after the teacher has labelled the data: it learns to match the teacher with the
cheaper output layer it will really have. With `vocabulary: repository` (the default) the student
also keeps only the tokens its samples need (`training/vocabulary.py`): its output layer shrinks
about ninefold, the samples and the cached teacher logits are renumbered into it.

The batches, schedule, checkpoints and exact resume are the shared loop's (`training/loop.py`),
the examples are read as the LoRA recipe reads them; the students are built in `student.py`,
the teacher's labels made in `teacher_labels.py`, the vocabulary trimmed in `vocabulary.py`. The
validation loss is plain cross-entropy, so student and teacher compare.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.models import resolve_model
from ghostwright.training import checkpoints, loop
from ghostwright.training.batches import (
    Example,
    load_example_pairs,
    opening,
    read_split,
    replay,
    token_ids,
)
from ghostwright.training.losses import (
    DIVERGENCES,
    distillation_loss,
    focal_cross_entropy,
    linear_schedule,
    softcapped,
    supervised_states,
)
from ghostwright.training.student import (
    context_student,
    family_student,
    is_peft_student,
    load_teacher,
    prune_into_student,
)
from ghostwright.training.teacher_labels import (
    label_with_llama_cpp,
    label_with_torch,
    teacher_validation_loss,
)
from ghostwright.training.vocabulary import GgufVocabulary, trim_run_vocabulary

logger = logging.getLogger(__name__)

STUDENTS = ("pruned", "context", "family")
STUDENT_TRAINING = ("lora", "full")
PRUNING = ("importance", "even")


def check_choices(config: dict[str, Any]) -> None:
    """Refuse a misspelt choice before the teacher spends minutes on the data."""
    from ghostwright.server.models import is_gguf_spec
    from ghostwright.training.embeddings import EMBEDDING_QUANTIZATIONS
    from ghostwright.training.export import QUANTIZATIONS
    from ghostwright.training.vocabulary import VOCABULARIES

    choices = {
        "student": (config["student"], STUDENTS),
        "prune": (config["prune"], PRUNING),
        "distill.divergence": (config["distill"]["divergence"], DIVERGENCES),
        "quantization": (config["quantization"], ("auto", *QUANTIZATIONS)),
        "embedding_quantization": (config["embedding_quantization"], EMBEDDING_QUANTIZATIONS),
        "vocabulary": (config["vocabulary"], VOCABULARIES),
        "student_training": (config.get("student_training", "lora"), STUDENT_TRAINING),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise GhostwrightError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    if config["vocabulary"] == "repository" and not is_gguf_spec(config["model"]):
        raise GhostwrightError(
            "vocabulary=repository trims a GGUF teacher's vocabulary; use vocabulary=full"
        )


def run(
    config: dict[str, Any],
    resume: bool = True,
    progress: Callable | None = None,
    teacher_progress: Callable[[int, int], None] | None = None,
) -> loop.Run:
    """Set up (the teacher labels what is not cached yet), resume, train, save the student."""
    trained = loop.train_to_end(setup(config, teacher_progress), resume, progress)
    trained.summary["adapter"] = str(save_weights(trained))
    return trained


def setup(
    config: dict[str, Any], teacher_progress: Callable[[int, int], None] | None = None
) -> loop.Run:
    check_choices(config)
    loop.seed_everything(config)
    full_vocabulary = None
    if config["vocabulary"] == "repository":  # refused now if it cannot be trimmed
        full_vocabulary = GgufVocabulary.read(resolve_model(config["model"]))
    kind, teacher = config["student"], None
    if kind == "family":
        model, tokenizer = family_student(config)
    else:
        teacher, tokenizer = load_teacher(config["model"], config["teacher_adapter"])
        model = context_student(config)[0] if kind == "context" else teacher
    run = loop.Run(config, model, tokenizer, [], [], student_loss, peft=is_peft_student(config))
    run.bf16 = loop.use_bf16(config)
    teacher_examples = read_examples(run)
    loop.require_a_batch(run)
    teacher_examples = limit_examples(run, teacher_examples)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if kind == "family":
        run.teacher_cache, teacher_loss = label_with_llama_cpp(run, teacher_progress)
    else:
        run.teacher_cache = label_with_torch(run, teacher, teacher_examples, teacher_progress)
        # Pruned: the teacher's own; context: the teacher without its snippets (the start).
        teacher_loss = teacher_validation_loss(run)
        del teacher  # labelled everything it will be asked; the memory is the student's
        if kind == "pruned":
            prune_into_student(run)
    if full_vocabulary is not None:
        vocabulary = trim_run_vocabulary(run, full_vocabulary)
        logger.info("student vocabulary: %d of %d tokens", len(vocabulary), vocabulary.full_size)
    run.facts = {
        "teacher_validation_loss": teacher_loss,
        "keep_layers": run.keep,
        "vocabulary": len(run.vocabulary) if run.vocabulary is not None else None,
    }
    return loop.start(run)


def read_examples(run: loop.Run) -> list[Example] | None:
    """The student's training and validation examples into `run`; returns the teacher's own
    prompts when they differ (the context student's teacher reads the snippets too)."""
    config, tokenizer = run.config, run.tokenizer
    run.validation_examples, _ = read_split(config, tokenizer, "validation", required=False)
    if config["student"] != "context":
        train, run.too_long = read_split(config, tokenizer, "train")
        replayed, _ = replay(config, tokenizer, len(train))
        run.train_examples = train + replayed
        return None
    path = Path(config["dataset"]) / "train.jsonl"
    if not path.is_file():
        raise GhostwrightError(f"no train.jsonl in dataset {config['dataset']}")
    run.train_examples, teacher_examples, run.too_long = load_example_pairs(
        path,
        token_ids(tokenizer),
        config["max_tokens"],
        config["teacher_max_tokens"],
        opening(tokenizer),
    )
    return teacher_examples


def limit_examples(run: loop.Run, teacher_examples: list[Example] | None) -> list[Example] | None:
    """Keep a seeded sample of `teacher_examples` (config) training examples: the teacher labels
    only what the student will see (0: all)."""
    count = run.config["teacher_examples"]
    if not 0 < count < len(run.train_examples):
        return teacher_examples
    chosen = random.Random(run.config["seed"]).sample(range(len(run.train_examples)), count)
    run.train_examples = [run.train_examples[i] for i in chosen]
    return [teacher_examples[i] for i in chosen] if teacher_examples is not None else None


def student_loss(run: loop.Run, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Divergence from the cached teacher distribution mixed with cross-entropy on the labels,
    the mix moving over the run; on validation batches (no `index`) cross-entropy alone."""
    model = run.model
    head = softcapped(
        model.get_output_embeddings(), getattr(model.config, "final_logit_softcapping", None)
    )
    settings = run.config["distill"]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.bf16):
        hidden = model.get_decoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        states, targets = supervised_states(hidden, batch["labels"])
        if targets.numel() == 0:
            return hidden.sum() * 0.0, 0
        logits = head(states).float()
    cross_entropy = focal_cross_entropy(logits, targets, settings["focal_gamma"])
    if "index" not in batch:
        return cross_entropy, int(targets.numel())
    values, ids = run.teacher_cache.batch(batch["index"].tolist())
    divergence = distillation_loss(
        logits, values, ids, settings["divergence"], settings["temperature"]
    )
    weight = linear_schedule(
        settings["kd_weight_start"], settings["kd_weight_end"], run.step, run.config["max_steps"]
    )
    return weight * divergence + (1 - weight) * cross_entropy, int(targets.numel())


def save_weights(run: loop.Run) -> Path:
    """The student's trained weights and how to rebuild it (`student.json`); the context
    student is a peft adapter folder, and so is a family student trained as a LoRA."""
    from safetensors.torch import save_file

    if run.peft:
        return checkpoints.save_adapter(run)
    config = run.config
    target = run.run_dir / "student"
    target.mkdir(exist_ok=True)
    save_file(
        {name: tensor.contiguous() for name, tensor in checkpoints.trainable_state(run).items()},
        str(target / "weights.safetensors"),
    )
    description = {
        "teacher": config.get("teacher_model") or config["model"],
        "student_base": config["model"] if config["student"] == "family" else None,
        "teacher_adapter": config["teacher_adapter"],
        "keep_layers": run.keep,
        "vocabulary": run.facts.get("vocabulary"),
    }
    (target / "student.json").write_text(json.dumps(description, indent=2))
    return target
