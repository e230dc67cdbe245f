"""The teacher's labels for a distillation run: its top-k logits over the training examples (the
`teacher_cache`) and its cross-entropy on the validation sample, made once and reused.

A transformers teacher (pruned and context students) labels in the run's `teacher/` folder. A
family teacher labels in llama.cpp from its own GGUF, as it is served: 3x faster there than
through transformers on a CPU; its labels may live in a shared `teacher_cache` folder, one per
teacher, data and sample, so a second run on the same data reuses them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghostwright.server.models import resolve_model
from ghostwright.training import loop
from ghostwright.training.batches import Example
from ghostwright.training.teacher_cache import TeacherCache, build_teacher_cache, torch_labeller

if TYPE_CHECKING:
    from ghostwright.training.loop import Run

Progress = Callable[[int, int], None] | None


def teacher_identity(config: dict[str, Any]) -> dict[str, Any]:
    """What the cached logits depend on: another teacher or data means another cache."""
    identity = {
        "model": config.get("teacher_model") or config["model"],
        "adapter": config["teacher_adapter"],
        "dataset": config["dataset"],
        "max_tokens": config["max_tokens"],
        "seed": config["seed"],
    }
    if config["student"] == "family":
        identity |= {"student": config["model"], "labelled_by": "llama.cpp"}
    return identity


def label_with_torch(
    run: Run, teacher: Any, teacher_examples: list[Example] | None, progress: Progress
) -> TeacherCache:
    """`teacher` (a transformers model) labels what it will be asked: its own prompts
    (`teacher_examples`, the context student's) or the training examples."""
    top_k = run.config["distill"]["top_k"]
    pad_id = run.tokenizer.pad_token_id or 0
    return build_teacher_cache(
        torch_labeller(teacher, top_k, run.config["batch_size"], run.bf16, pad_id),
        teacher_examples or run.train_examples,
        run.run_dir / "teacher",
        identity=teacher_identity(run.config),
        top_k=top_k,
        progress=progress,
    )


def teacher_validation_loss(run: Run) -> float | None:
    """Cross-entropy of the model in `run` now (the teacher, before it is pruned into the
    student; the context student before training) on the validation sample, cached."""
    path = run.run_dir / "teacher" / "validation.json"
    return _cached_loss(
        path, lambda: loop.validation_loss(run) if run.validation_examples else None
    )


def _cached_loss(path: Path, measure: Callable[[], float | None]) -> float | None:
    """The loss `path` holds, else `measure`'s, kept there for a resumed run."""
    if path.is_file():
        return json.loads(path.read_text())["loss"]
    loss = measure()
    if loss is not None:
        path.write_text(json.dumps({"loss": loss}))
    return loss


def label_with_llama_cpp(run: Run, progress: Progress) -> tuple[TeacherCache, float | None]:
    """The family teacher's top-k logits over the training examples and its cross-entropy on
    the validation sample, from its GGUF (and GGUF adapter) in llama.cpp; both cached, so a
    resumed run only loads the model."""
    from ghostwright.training.llama_teacher import LlamaTeacher

    config = run.config
    top_k = config["distill"]["top_k"]
    folder = shared_teacher_folder(run)
    teacher = LlamaTeacher(
        resolve_model(config["teacher_model"]),
        config["teacher_adapter"],
        n_ctx=config["max_tokens"],
    )
    try:
        cache = build_teacher_cache(
            lambda examples: teacher.top_k(examples, top_k),
            run.train_examples,
            folder,
            identity=teacher_identity(config),
            top_k=top_k,
            progress=progress,
        )
        path = folder / "validation.json"
        return cache, _cached_loss(path, lambda: teacher.cross_entropy(loop.validation_sample(run)))
    finally:
        teacher.close()


def shared_teacher_folder(run: Run) -> Path:
    """Under `teacher_cache` (when set), one folder per teacher, data and sample, so a second
    run on the same data (a full fine-tune after a LoRA, another learning rate) reuses the
    labels; else in the run."""
    config = run.config
    if not config.get("teacher_cache"):
        return run.run_dir / "teacher"
    labelled = {
        **teacher_identity(config),
        "top_k": config["distill"]["top_k"],
        "examples": len(run.train_examples),
        "teacher_examples": config["teacher_examples"],
    }
    digest = hashlib.sha256(json.dumps(labelled, sort_keys=True).encode()).hexdigest()
    return Path(config["teacher_cache"]) / digest[:16]
