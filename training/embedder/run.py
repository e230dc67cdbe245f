"""`ghostwright train embedder`: mine pairs, measure, train, export, check, measure, install.

Both measurements use the GGUF embedders through llama.cpp, the way the index runs them, on the
held-out pairs: the packaged all-MiniLM-L6-v2 before, the exported fine-tune after. The
fine-tune is installed (`server/installs/`) only when its held-out MRR beats the packaged model's,
and only after its llama.cpp vectors matched the torch model's.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ghostwright.indexer.atomic import atomic_path
from ghostwright.indexer.bert_gguf import convert_bert_to_gguf
from ghostwright.indexer.embedder import (
    DEFAULT_EMBEDDER,
    LlamaEmbedder,
    default_embedder_dir,
    default_embedder_gguf,
)
from ghostwright.indexer.errors import IndexerError
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.embedders import EMBEDDERS_DIR
from ghostwright.server.installs.write import install_file
from ghostwright.training.embedder.contrastive import ContrastiveOptions, Encoder, train
from ghostwright.training.embedder.measure import retrieval_scores
from ghostwright.training.embedder.pairs import MinedPairs, mine_pairs
from ghostwright.training.progress import TrainProgress
from ghostwright.training.run_setup import run_folder

RUN_KIND = "embedder"
MIN_HELD_OUT = 10
CHECK_TEXTS = 32
MIN_COSINE = 0.98  # llama.cpp (f16 weights) vs torch, per text
# Files besides the weights that make a sentence-transformers folder the converter reads.
MODEL_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class EmbedderRun:
    root: Path
    options: ContrastiveOptions
    max_pairs: int = 4000
    threads: int = 0
    resume: bool = False
    install: bool = True
    force: bool = False
    base_dir: Path | None = None  # a sentence-transformers BERT folder; None: the packaged one


def train_embedder(run: EmbedderRun, progress: TrainProgress) -> dict:
    """The whole run; returns the report (also written to the run folder as report.json)."""
    root = run.root.resolve()
    progress.phase("data", f"mining retrieval pairs from {root}")
    mined = mine_pairs(root, seed=run.options.seed, max_pairs=run.max_pairs)
    counts = mined.counts()
    if len(mined.held_out) < MIN_HELD_OUT or len(mined.train) < run.options.batch_size:
        raise GhostwrightError(
            f"{root} gave too few retrieval pairs to learn from ({counts['train']} to train, "
            f"{counts['held_out']} held out); it needs documented definitions or calls between "
            "files"
        )
    run_dir = run_folder(root / ".ghostwright", RUN_KIND, run.resume)
    base_dir, base_gguf = _base(run, run_dir)
    progress.phase("before", f"measuring {base_gguf.name} on {len(mined.held_out)} held-out pairs")
    before = _measure(base_gguf, mined, run.threads)

    progress.phase("train", f"training on {len(mined.train)} pairs in {run_dir}")
    encoder = Encoder(base_dir, run.options.max_tokens)
    training = train(encoder, mined.train, run_dir, run.options, progress.step)

    progress.phase("export", "exporting the embedder to GGUF")
    exported = export_embedder(encoder, base_dir, run_dir, f"{root.name}-embedder")
    check = check_embedder(encoder, exported, _check_texts(encoder, mined))
    progress.phase("after", "measuring the fine-tuned embedder")
    after = _measure(exported, mined, run.threads)

    report = {
        "repository": str(root),
        "pairs": counts,
        "options": asdict(run.options),
        "training": training,
        "check": check,
        "before": {"embedder": base_gguf.name, **before},
        "after": {"embedder": exported.name, **after},
        "mrr_gain": round(after["mrr"] - before["mrr"], 4),
        "installed": None,
    }
    if not check["passed"]:
        report["reason"] = "the GGUF's vectors differ from the trained model's"
    elif after["mrr"] <= before["mrr"] and not run.force:
        report["reason"] = "held-out MRR did not improve"
    elif run.install:
        report["installed"] = str(install_embedder(exported, report, root))
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report


def export_embedder(encoder: Encoder, source: Path, run_dir: Path, name: str) -> Path:
    """The trained model as a sentence-transformers folder (tokenizer and pooling from `source`,
    the folder it started from), then as GGUF for llama.cpp."""
    folder = run_dir / "model"
    encoder.model.save_pretrained(folder, safe_serialization=True)
    for item in MODEL_FILES:
        if (source / item).is_file():
            shutil.copyfile(source / item, folder / item)
    shutil.copytree(source / "1_Pooling", folder / "1_Pooling", dirs_exist_ok=True)
    target = run_dir / f"{name}.gguf"
    with atomic_path(target) as partial:
        convert_bert_to_gguf(folder, partial, name=name)
    return target


def check_embedder(encoder: Encoder, gguf: Path, texts: list[str]) -> dict:
    """Cosine between llama.cpp's and torch's vector of each text; passes when all are close."""
    served = LlamaEmbedder(gguf)
    try:
        ours, theirs = served.embed(texts), encoder.embed(texts)
    finally:
        served.close()
    cosines = (ours * theirs).sum(axis=1)
    worst = float(cosines.min()) if len(cosines) else 1.0
    return {"texts": len(texts), "min_cosine": round(worst, 5), "passed": worst >= MIN_COSINE}


def _check_texts(encoder: Encoder, mined: MinedPairs) -> list[str]:
    """Held-out queries and code that fit the model's window: past it llama.cpp and transformers
    cut the text at slightly different places, which says nothing about the conversion."""
    fitting = []
    for text in [text for pair in mined.held_out for text in (pair.query, pair.positive)]:
        if len(encoder.tokenizer(text)["input_ids"]) <= encoder.max_tokens:
            fitting.append(text)
        if len(fitting) == CHECK_TEXTS:
            break
    return fitting


def install_embedder(gguf: Path, report: dict, root: Path) -> Path:
    """Install the GGUF into `.ghostwright/embedders/` under a content-addressed name, with the
    report's before/after figures in its record."""
    with gguf.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:12]
    fields = {key: report[key] for key in ("before", "after", "pairs")}
    name = f"{gguf.stem}-{digest}.gguf"
    return install_file(gguf, root / EMBEDDERS_DIR, name, "embedder", fields)


def check_embedder_setting(setting: str) -> None:
    """The trained embedder serves only where the setting is `default`: say so before training."""
    if setting not in ("", DEFAULT_EMBEDDER):
        raise GhostwrightError(
            f"the `embedder` setting names {setting}; a trained embedder would not be used "
            "(set it to `default`)"
        )


def _measure(gguf: Path, mined: MinedPairs, threads: int) -> dict:
    embedder = LlamaEmbedder(gguf, threads=threads)
    try:
        return retrieval_scores(embedder.embed, mined.held_out, mined.corpus)
    finally:
        embedder.close()


def _base(run: EmbedderRun, run_dir: Path) -> tuple[Path, Path]:
    """(the folder training starts from, its GGUF): the packaged MiniLM unless told otherwise."""
    if run.base_dir is not None:
        gguf = run_dir / "base.gguf"
        if not gguf.is_file():
            run_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(gguf) as partial:
                convert_bert_to_gguf(run.base_dir, partial, name="base")
        return run.base_dir, gguf
    try:
        return default_embedder_dir(), default_embedder_gguf()
    except IndexerError as exc:
        raise GhostwrightError(str(exc)) from exc
