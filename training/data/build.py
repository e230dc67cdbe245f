"""Repository -> a versioned dataset of training samples, split by file, deduplicated.

The files are the ones the index accepts (`indexer.files`: .gitignore, size, binary and secret
files); secret-looking strings inside them are replaced before any sample is cut
(`indexer.secrets.scrub`). A file's samples all go to one split, so validation measures code the
model has not seen. Output, written atomically into `<out>/<name>-v<N>/`:

- `train.jsonl`, `validation.jsonl`: one sample per line (prompt, completion, kind, path, order);
- `manifest.json`: version, format, seed, shares, and the counts printed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ghostwright.indexer.files import SourceFile
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import PromptFormat
from ghostwright.training.data.reader import training_files, training_text
from ghostwright.training.data.samples import (
    PREFIX_CHARS,
    SUFFIX_CHARS,
    Sample,
    comment_to_code_holes,
    fim_holes,
    render,
)
from ghostwright.training.evaluate.repo_holes import split_files

DATASET_VERSION = 2


@dataclass(frozen=True)
class DataOptions:
    """How many samples of which kind; the YAML config's `data:` section fills these in."""

    seed: int = 0  # also the split seed: `ghostwright eval repo --seed` holds the same files out
    fim_per_file: int = 24
    comment_share: float = 0.2  # of all samples, at most: comment-to-code is what files offer
    spm_share: float = 0.0  # suffix-prefix-middle order, for FIM formats only
    languages: tuple[str, ...] = ()  # empty: every file the index would take
    exclude: tuple[str, ...] = ()  # gitignore-style patterns left out of the corpus
    prefix_chars: int = PREFIX_CHARS  # code shown before a hole (whole lines)
    suffix_chars: int = SUFFIX_CHARS  # and after it


@dataclass
class DatasetCounts:
    files: dict[str, int] = field(default_factory=dict)  # per split
    samples: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> kind -> n
    duplicates: int = 0


def build_dataset(
    root: Path, out: Path, fmt: PromptFormat, options: DataOptions = DataOptions(), name: str = ""
) -> Path:
    """Write the dataset of `root` under `out` and return its folder."""
    files = training_files(root, languages=options.languages, exclude=options.exclude)
    if not files:
        raise GhostwrightError(f"{root} has no source files ghostwright can learn from")
    splits = split_by_file(files, options.seed)
    counts = DatasetCounts()
    rows: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for split, members in splits.items():
        samples = list(_samples(members, fmt, options))
        unique = [s for s in samples if _fresh(s, seen)]
        counts.duplicates += len(samples) - len(unique)
        counts.files[split] = len(members)
        counts.samples[split] = dict(sorted(Counter(s.kind for s in unique).items()))
        rows[split] = [asdict(sample) for sample in unique]
    if not rows["train"]:
        raise GhostwrightError(f"{root} gave no training samples (files too small?)")
    target = out / f"{name or root.resolve().name}-v{DATASET_VERSION}"
    write_dataset(target, rows, _manifest(root, fmt, options, counts))
    return target


def split_by_file(files: list[SourceFile], seed: int) -> dict[str, list[SourceFile]]:
    """The evaluation harness's own split: validation files are the ones `eval repo` holds out,
    so the gate never scores the adapter on code it was trained on."""
    held_out, context = split_files(files, seed)
    return {"train": context, "validation": held_out}


def _samples(files: list[SourceFile], fmt: PromptFormat, options: DataOptions) -> Iterable[Sample]:
    window = (options.prefix_chars, options.suffix_chars)
    for item in files:
        text = training_text(item)
        if text is None:
            continue  # unreadable now (binary, vanished): the next build will see it
        rng = random.Random(f"{options.seed}:{item.relative}")
        fim = fim_holes(text, item.language, rng, options.fim_per_file)
        comment = comment_to_code_holes(text, item.language)
        # About comment_share of a file's samples are comment-to-code, when it has that many.
        wanted = round(len(fim) * options.comment_share / (1 - options.comment_share))
        comment = rng.sample(comment, min(wanted, len(comment)))
        for kind, hole in fim:
            spm = rng.random() < options.spm_share
            yield render(fmt, item.relative, hole, kind, spm, window)
        for hole in comment:
            yield render(fmt, item.relative, hole, "comment-to-code", window=window)


def _fresh(sample: Sample, seen: set[str]) -> bool:
    key = hashlib.sha256(f"{sample.prompt}\0{sample.completion}".encode()).hexdigest()
    if key in seen:
        return False
    seen.add(key)
    return True


def _manifest(root: Path, fmt: PromptFormat, options: DataOptions, counts: DatasetCounts) -> dict:
    return {
        "version": DATASET_VERSION,
        "repository": str(root.resolve()),
        "format": fmt.name,
        "options": asdict(options),
        **asdict(counts),
    }


def write_dataset(target: Path, rows: dict[str, list[dict]], manifest: dict) -> None:
    """Write into a temporary folder, then swap it in: a reader sees all of it or none."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for split, items in rows.items():
        with (partial / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for item in items:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, target)
