"""Distillation data made by the served pipeline itself, from holes mined in the repository.

Context pairs (context distillation): for each hole the server's own pipeline builds two prompts:
the teacher's, as the editor gets them (the full code window and the snippets retrieval finds in the
repository index), and the student's: no snippets and a shorter code window
(`student_prompt_tokens`). The completion is the code that was there. A student trained to match the
teacher's predictions on the short prompt learns to complete as if it had the context, so it is
served with shorter prompts and no retrieval, and answers sooner: prompt processing is most of a
cold completion on a CPU.

Holes come from the eval harness's miner over the training files (cross-file lines among
them); the validation split is the held-out files, as everywhere else. The index holds the
repository without its held-out files; chunks around the hole in its own file are never
retrieved (the retriever leaves out whatever overlaps the visible window). Only holes for which
retrieval found something are kept: for the others both prompts are the same.

Teacher completions (sequence-level distillation, for a student with another vocabulary): the
teacher completes each training hole exactly as the editor would ask it; the student learns to
write that, in its own prompt format. Validation holes keep the code that was there, so the
validation loss measures the student, not its imitation.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

from ghostwright.indexer.files import SourceFile
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.pipeline.complete import Completer, CompletionRequest
from ghostwright.server.prompt_formats import PromptFormat
from ghostwright.training.data.build import DataOptions, write_dataset
from ghostwright.training.data.reader import training_files, training_text
from ghostwright.training.data.samples import render
from ghostwright.training.evaluate.data import EvalCase
from ghostwright.training.evaluate.repo_holes import mine_file, split_files

SERVED_VERSION = 1
HOLES_PER_FILE = 24


def build_context_pairs(
    root: Path,
    out: Path,
    settings: Settings,
    options: DataOptions,
    *,
    student_prompt_tokens: int,
    holes_per_file: int = HOLES_PER_FILE,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write `<out>/context-<tokens>-v<N>/` (train.jsonl with `teacher_prompt`,
    validation.jsonl, manifest.json) and return it."""
    from ghostwright.server.engine import open_completer
    from ghostwright.training.evaluate.cli import EVAL_RETRIEVAL_S, index_without

    splits = split_holes(root, options, holes_per_file)
    held_out = sorted({item.relative for item, _ in splits["validation"]})
    index, described = index_without(root, settings, held_out, options.seed)
    rows: dict[str, list[dict]] = {"train": [], "validation": []}
    try:
        with open_completer(settings, index, retrieval_budget_s=EVAL_RETRIEVAL_S) as teacher:
            short = replace(teacher.options.budget, prompt_tokens=student_prompt_tokens)
            # The same model: no retriever, a shorter window.
            bare = Completer(teacher.backend, replace(teacher.options, budget=short))
            for split, item, case in _each(splits, progress):
                row = _pair(teacher, bare, case, str(root / item.relative), item.relative)
                if row is not None:
                    rows[split].append(row)
            fmt = teacher.backend.prompt_format.name
    finally:
        index.close()
        index.embedder.close()
    if not rows["train"]:
        raise GhostwrightError(f"retrieval found no context for any hole in {root}")
    extra = {"student_prompt_tokens": student_prompt_tokens, "index": described}
    target = out / f"context-{student_prompt_tokens}-v{SERVED_VERSION}"
    return _write(target, rows, "context", fmt, root, options, extra)


def build_teacher_completions(
    root: Path,
    out: Path,
    teacher_settings: Settings,
    student_format: PromptFormat,
    options: DataOptions,
    *,
    holes_per_file: int = HOLES_PER_FILE,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write `<out>/sequence-<format>-v<N>/`: training holes filled by the teacher, validation
    holes by the original code, all rendered in the student's `student_format`."""
    from ghostwright.server.engine import open_completer

    splits = split_holes(root, options, holes_per_file)
    window = (options.prefix_chars, options.suffix_chars)
    rows: dict[str, list[dict]] = {"train": [], "validation": []}
    with open_completer(replace(teacher_settings, retrieval=False)) as teacher:
        for split, item, case in _each(splits, progress):
            middle = case.target
            if split == "train":
                request = CompletionRequest(case.text, case.line, case.column, path=item.relative)
                middle = teacher.complete(request).completion
                if not middle.strip():
                    continue  # the teacher would show nothing: nothing to learn
            hole = (case.prefix, middle, case.suffix)
            kind = f"sequence-{case.stratum}"
            rows[split].append(
                asdict(render(student_format, item.relative, hole, kind, window=window))
            )
    if not rows["train"]:
        raise GhostwrightError(f"the teacher completed none of the holes in {root}")
    extra = {"teacher": {"model": teacher_settings.model, "adapter": teacher_settings.adapter}}
    target = out / f"sequence-{student_format.name}-v{SERVED_VERSION}"
    return _write(target, rows, "sequence", student_format.name, root, options, extra)


def split_holes(
    root: Path, options: DataOptions, holes_per_file: int
) -> dict[str, list[tuple[SourceFile, EvalCase]]]:
    """The eval harness's holes of the training files ("train") and of the held-out ones."""
    files = training_files(root, languages=options.languages, exclude=options.exclude)
    if len(files) < 2:
        raise GhostwrightError(f"{root} has fewer than two source files to split")
    held_out, training = split_files(files, options.seed)
    return {
        split: [
            (item, case) for item in items for case in _holes(item, holes_per_file, options.seed)
        ]
        for split, items in (("train", training), ("validation", held_out))
    }


def _each(
    splits: dict[str, list[tuple[SourceFile, EvalCase]]],
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[str, SourceFile, EvalCase]]:
    total = sum(len(items) for items in splits.values())
    done = 0
    for split, items in splits.items():
        for item, case in items:
            yield split, item, case
            done += 1
            if progress is not None and (done % 25 == 0 or done == total):
                progress(done, total)


def _write(
    target: Path,
    rows: dict[str, list[dict]],
    kind: str,
    fmt: str,
    root: Path,
    options: DataOptions,
    extra: dict,
) -> Path:
    counts = {split: dict(Counter(row["kind"] for row in items)) for split, items in rows.items()}
    manifest = {
        "version": SERVED_VERSION,
        "kind": kind,
        "format": fmt,
        "root": str(root),
        "seed": options.seed,
        **extra,
        "samples": counts,
    }
    write_dataset(target, rows, manifest)
    return target


def _holes(item: SourceFile, count: int, seed: int) -> list[EvalCase]:
    text = training_text(item)
    if text is None:  # unreadable since it was listed: no holes
        return []
    rng = random.Random(f"context:{seed}:{item.relative}")
    return mine_file(item, text, rng, count, {})


def _pair(
    teacher: Completer, bare: Completer, case: EvalCase, path: str, relative: str
) -> dict | None:
    request = CompletionRequest(case.text, case.line, case.column, path=path)
    with_context = teacher.prepare(request)
    without = bare.prepare(replace(request, retrieval=False))
    if with_context.prompt == without.prompt:
        return None
    fmt = teacher.backend.prompt_format
    return {
        "prompt": without.prompt,
        "teacher_prompt": with_context.prompt,
        "completion": fmt.render_training_target(without.healed + case.target),
        "kind": f"context-{case.stratum}",
        "path": relative,
        "order": "spm" if fmt.suffix_first else "psm",
    }
