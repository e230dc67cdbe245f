"""`ghostwright train`: data step, then the LoRA recipe, for Stage A or Stage B.

Stage A learns the FIM format and general code from a corpus every machine has offline (the
Python standard library); its dataset and runs live in the user cache. Stage B learns the
user's repository, with Stage A samples replayed so the general skill stays; its dataset and
runs live in `<repo>/.ghostwright/`. Only argparse is imported until the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sysconfig
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ghostwright.server.config import Settings, project_root
from ghostwright.server.errors import GhostwrightError


def add_train_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("train", help="fine-tune the model on your repository (LoRA)")
    parser.add_argument("--repo", type=Path, help="repository for Stage B (default: this one)")
    parser.add_argument("--stage", choices=("a", "b"), default="b")
    parser.add_argument("--config", type=Path, help="recipe YAML (default: the packaged one)")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--resume", action="store_true", help="continue the newest run")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    return parser


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    # bitsandbytes (imported by peft) warns about missing GPU kernels on every CPU start.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from ghostwright.training.config import load_config
    from ghostwright.training.recipes.lora_finetune import run

    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise GhostwrightError("--max-steps must be at least 1")
        overrides.append(f"max_steps={args.max_steps}")
    config = load_config(args.config, overrides, "lora_default.yaml")
    if config.get("model", "default") == "default":
        config["model"] = settings.model
    home = _home(args)
    run_dir = Path(config["output_dir"] or _run_dir(home, args.stage, args.resume))
    saved = run_dir / "train-config.json"
    if args.resume and saved.is_file():  # the run's own data, whatever changed since
        previous = json.loads(saved.read_text())
        config["dataset"] = config["dataset"] or previous["dataset"]
        config["replay_dataset"] = config.get("replay_dataset") or previous["replay_dataset"]
    config["dataset"] = config["dataset"] or str(_dataset(args, config, home))
    if args.stage == "b" and not config.get("replay_dataset"):
        stage_a = _stage_a_datasets()
        config["replay_dataset"] = str(stage_a[-1]) if stage_a else ""
    config["output_dir"] = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(config, indent=2))
    summary = run(config, resume=args.resume, progress_bar=True)
    print(json.dumps({key: summary[key] for key in ("steps", "final_loss", "bf16", "adapter")}))
    return 0


def _home(args: argparse.Namespace) -> Path:
    """Where this stage keeps datasets and runs."""
    if args.stage == "a":
        return _cache() / "stage-a"
    repo = (args.repo or project_root(Path.cwd())).resolve()
    if not repo.is_dir():
        raise GhostwrightError(f"not a directory: {repo}")
    return repo / ".ghostwright"


def _dataset(args: argparse.Namespace, config: dict[str, Any], home: Path) -> Path:
    from ghostwright.training.data.build import DataOptions, build_dataset
    from ghostwright.training.data.samples import window_for

    prefix_chars, suffix_chars = window_for(config["max_tokens"])
    options = DataOptions(prefix_chars=prefix_chars, suffix_chars=suffix_chars)
    fmt = training_format(config["model"])
    if args.stage == "a":
        # The standard library's own modules: installed packages and test suites are left out
        # (the former vary by machine, the latter are mostly fixtures).
        source = Path(sysconfig.get_paths()["stdlib"])
        options = replace(
            options,
            languages=("python",),
            exclude=("site-packages/", "dist-packages/", "test/", "tests/", "idle_test/"),
        )
    else:
        source = home.parent
    folder = build_dataset(source, home / "datasets", fmt, options, name=f"stage-{args.stage}")
    counts = json.loads((folder / "manifest.json").read_text())
    print(f"dataset {folder}: {json.dumps(counts['samples'])}")
    return folder


def _run_dir(home: Path, stage: str, resume: bool) -> Path:
    runs = sorted((home / "runs").glob(f"stage-{stage}-*"))
    if resume:
        if not runs:
            raise GhostwrightError(f"no run of stage {stage} to resume in {home / 'runs'}")
        return runs[-1]
    return home / "runs" / f"stage-{stage}-{time.strftime('%Y%m%d-%H%M%S')}"


def _stage_a_datasets() -> list[Path]:
    return sorted((_cache() / "stage-a" / "datasets").glob("stage-a-v*"))


def _cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright"))


def training_format(model: str) -> Any:
    """The model's own FIM format, or ghostwright's trained one for models without FIM tokens."""
    from ghostwright.indexer.llama_native import load_quietly
    from ghostwright.server.backends.llama_cpp import LlamaVocabulary
    from ghostwright.server.models import resolve_model
    from ghostwright.server.pipeline.prompts import TRAINED_FIM, detect_format, select_format

    if not (model == "default" or model.endswith(".gguf")):
        return select_format(TRAINED_FIM, None)  # an HF folder: no GGUF vocabulary to read
    # Vocabulary only, no weights; closed here, as every Llama must be before exit.
    llm = load_quietly(model_path=str(resolve_model(model)), vocab_only=True)
    try:
        vocabulary = LlamaVocabulary(llm)
        detected = detect_format(vocabulary)
        return detected if detected.is_fim else select_format(TRAINED_FIM, vocabulary)
    finally:
        llm.close()
