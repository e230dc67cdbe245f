"""Context-distillation data: the same hole prompted with and without repository context.

For each hole the server's own pipeline builds two prompts: the teacher's, as the editor gets
them (the full code window and the snippets retrieval finds in the repository index), and the
student's: no snippets and a shorter code window (`student_prompt_tokens`). The completion is
the code that was there. A student trained to match the teacher's predictions on the short
prompt learns to complete as if it had the context, so it is served with shorter prompts and
no retrieval, and answers sooner: prompt processing is most of a cold completion on a CPU.

Holes come from the eval harness's miner over the training files (cross-file lines among
them); the validation split is the held-out files, as everywhere else. The index holds the
repository without its held-out files; chunks around the hole in its own file are never
retrieved (the retriever leaves out whatever overlaps the visible window). Only holes for which
retrieval found something are kept: for the others both prompts are the same.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ghostwright.indexer.files import SourceFile, iter_source_files
from ghostwright.indexer.secrets import scrub
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.pipeline.complete import Completer, CompletionRequest
from ghostwright.server.sources import read_source
from ghostwright.training.data.build import DataOptions, write_dataset
from ghostwright.training.evaluate.data import EvalCase
from ghostwright.training.evaluate.repo_holes import mine_file, split_files

CONTEXT_VERSION = 1
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
    """Write `<out>/context-v<N>/` (train.jsonl with `teacher_prompt`, validation.jsonl,
    manifest.json) and return it."""
    from ghostwright.server.engine import open_completer
    from ghostwright.training.evaluate.cli import EVAL_RETRIEVAL_S, index_without

    files = [f for f in iter_source_files(root, options.languages, options.exclude) if f.language]
    if len(files) < 2:
        raise GhostwrightError(f"{root} has fewer than two source files to split")
    held_out, training = split_files(files, options.seed)
    index, described = index_without(root, settings, [f.relative for f in held_out], options.seed)
    rows: dict[str, list[dict]] = {"train": [], "validation": []}
    try:
        with open_completer(settings, index, retrieval_budget_s=EVAL_RETRIEVAL_S) as teacher:
            short = replace(teacher.options.budget, prompt_tokens=student_prompt_tokens)
            # The same model: no retriever, a shorter window.
            bare = Completer(teacher.backend, replace(teacher.options, budget=short))
            splits = [("train", item) for item in training] + [("validation", f) for f in held_out]
            for done, (split, item) in enumerate(splits):
                for case in _holes(item, holes_per_file, options.seed):
                    row = _pair(teacher, bare, case, str(root / item.relative), item.relative)
                    if row is not None:
                        rows[split].append(row)
                if progress is not None:
                    progress(done + 1, len(splits))
    finally:
        index.close()
        index.embedder.close()
    if not rows["train"]:
        raise GhostwrightError(f"retrieval found no context for any hole in {root}")
    counts = {split: dict(Counter(row["kind"] for row in items)) for split, items in rows.items()}
    manifest = {
        "version": CONTEXT_VERSION,
        "kind": "context",
        "format": teacher.backend.prompt_format.name,
        "root": str(root),
        "seed": options.seed,
        "student_prompt_tokens": student_prompt_tokens,
        "index": described,
        "samples": counts,
    }
    target = out / f"context-{student_prompt_tokens}-v{CONTEXT_VERSION}"
    write_dataset(target, rows, manifest)
    return target


def _holes(item: SourceFile, count: int, seed: int) -> list[EvalCase]:
    try:
        text = scrub(read_source(item.path))
    except GhostwrightError:  # unreadable since it was listed: no holes
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
