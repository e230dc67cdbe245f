"""Before a training run trains: its config (recipe YAML, overrides, what a resumed run keeps),
its folder, the corpus it learns from and where it installs, and the dataset built from it.
Shared by `ghostwright train`, `distill` and the DPO stage (`cli.py`, `preference_stage.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghostwright.server.config import Settings, project_root
from ghostwright.server.errors import GhostwrightError

if TYPE_CHECKING:
    from ghostwright.training.publish import Target


def prepare(
    args: argparse.Namespace,
    settings: Settings,
    recipe_yaml: str,
    kind: str | None,
) -> tuple[dict[str, Any], Any, Path, Target]:
    """Config (YAML, overrides, model), progress, run folder (new, or the newest to resume,
    keeping its data and start) and target; builds the dataset when the config names none."""
    from ghostwright.training.config import load_config
    from ghostwright.training.progress import TrainProgress

    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise GhostwrightError("--max-steps must be at least 1")
        overrides.append(f"max_steps={args.max_steps}")
    if args.gate_cases is not None and args.gate_cases < 1:
        raise GhostwrightError("--gate-cases must be at least 1")
    config = load_config(args.config, overrides, recipe_yaml)
    progress = TrainProgress(args.progress_json)
    home = home_of(args)
    kind = kind or f"stage-{args.stage}"
    run_dir = Path(config["output_dir"] or run_folder(home, kind, args.resume))
    saved = run_dir / "train-config.json"
    previous = json.loads(saved.read_text()) if args.resume and saved.is_file() else None
    if config.get("model", "default") == "default":
        kept = (previous or {}).get("model")  # a resumed run keeps its base
        config["model"] = kept or training_base(settings, home, args.stage)
    if previous is not None:  # the run's own data and start, whatever changed since
        for key in (
            "dataset",
            "replay_dataset",
            "init_adapter",
            "teacher_adapter",
            "teacher_examples",
        ):
            if key in config:
                config[key] = config.get(key) or previous.get(key, "")
    target = target_of(args, config, home)
    if not config["dataset"] and config.get("student") == "sequence":
        progress.phase("data", f"the teacher completes {target.corpus}'s holes")
        config["dataset"] = str(sequence_dataset(target, config, home, settings, progress))
    elif not config["dataset"] and config.get("student") == "context":
        progress.phase("data", f"prompting {target.corpus}'s holes with and without snippets")
        config["dataset"] = str(context_dataset(target, config, home, settings, progress))
    elif not config["dataset"]:
        progress.phase("data", f"building the training data from {target.corpus}")
        config["dataset"] = str(fim_dataset(target, config, home, args.stage))
    if kind == "distill-pruned" and not config.get("replay_dataset"):
        stage_a = stage_a_datasets()
        config["replay_dataset"] = str(stage_a[-1]) if stage_a else ""
    if kind == "distill-family" and args.stage == "b" and not config.get("replay_dataset"):
        general = stage_a_datasets("family-a")  # the general stage's samples, same format
        config["replay_dataset"] = str(general[-1]) if general else ""
    config["output_dir"] = str(run_dir)
    return config, progress, run_dir, target


def save_config(config: dict[str, Any], run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train-config.json").write_text(json.dumps(config, indent=2))


def target_of(args: argparse.Namespace, config: dict[str, Any], home: Path) -> Target:
    """The corpus the stage learns from and where its adapter is installed."""
    from ghostwright.server.installs.records import ADAPTERS_DIR, user_adapters_dir
    from ghostwright.training.data.build import DataOptions
    from ghostwright.training.data.samples import window_for
    from ghostwright.training.publish import Target

    prefix_chars, suffix_chars = window_for(config["max_tokens"])
    options = DataOptions(prefix_chars=prefix_chars, suffix_chars=suffix_chars)
    if args.stage == "b":
        return Target(home.parent, options, home.parent, home.parent / ADAPTERS_DIR)
    # The standard library's own modules: installed packages and test suites are left out (the
    # former vary by machine, the latter are mostly fixtures).
    stage_a = replace(
        options,
        languages=("python",),
        exclude=("site-packages/", "dist-packages/", "test/", "tests/", "idle_test/"),
    )
    return Target(Path(sysconfig.get_paths()["stdlib"]), stage_a, None, user_adapters_dir())


def start_from_stage_a(config: dict[str, Any]) -> None:
    """Stage B continues the installed Stage A adapter and replays Stage A samples."""
    from ghostwright.server.installs.records import current_adapter, user_adapters_dir

    start = str(config.get("init_adapter") or "")
    if start == "none":  # asked for a fresh LoRA
        start = ""
    elif not start:
        peft_dir = (current_adapter(user_adapters_dir()) or {}).get("peft_dir", "")
        start = peft_dir if peft_dir and Path(peft_dir).is_dir() else ""
    config["init_adapter"] = start
    if not config.get("replay_dataset"):
        stage_a = stage_a_datasets()
        config["replay_dataset"] = str(stage_a[-1]) if stage_a else ""


def home_of(args: argparse.Namespace) -> Path:
    """Where this stage keeps datasets and runs."""
    if args.stage == "a":
        return user_cache() / "stage-a"
    repo = (args.repo or project_root(Path.cwd())).resolve()
    if not repo.is_dir():
        raise GhostwrightError(f"not a directory: {repo}")
    return repo / ".ghostwright"


def fim_dataset(target: Target, config: dict[str, Any], home: Path, stage: str) -> Path:
    from ghostwright.training.data.build import build_dataset

    fmt = training_format(config["model"])
    # The family's data is in the teacher's own FIM format, kept apart from Stage A's.
    name = f"family-{stage}" if config.get("student") == "family" else f"stage-{stage}"
    folder = build_dataset(target.corpus, home / "datasets", fmt, target.options, name=name)
    counts = json.loads((folder / "manifest.json").read_text())
    print(f"dataset {folder}: {json.dumps(counts['samples'])}", file=sys.stderr)
    return folder


def family_roles(
    config: dict[str, Any], args: argparse.Namespace, run_dir: Path, teacher: dict | None
) -> dict | None:
    """The family student trains `student_model` (the general stage's installed student, when
    the repository stage finds one) and learns from `model` with its installed GGUF adapter
    (only an adapter of that very model; llama.cpp applies it). Returns the teacher's record."""
    from ghostwright.server.installs.records import is_student, model_file, user_adapters_dir

    saved = run_dir / "train-config.json"
    if args.resume and saved.is_file():  # a resumed run keeps its roles
        previous = json.loads(saved.read_text())
        config["teacher_model"], config["model"] = previous["teacher_model"], previous["model"]
    else:
        general = current_general_student(user_adapters_dir())
        if args.stage == "b" and general and config["student_model"] == "auto":
            config["student_model"] = general["path"]
        elif config["student_model"] == "auto":
            config["student_model"] = FAMILY_STUDENTS.get(config["model"], "")
        if not config["student_model"]:
            raise GhostwrightError(
                f"no smaller model of {config['model']}'s family is packaged; set student_model="
            )
        config["teacher_model"], config["model"] = config["model"], config["student_model"]
    config["init_adapter"] = "none"
    config["teacher_cache"] = config["teacher_cache"] or str(
        run_dir.parent.parent / "teacher-cache"
    )
    if teacher and not is_student(teacher):
        fits = model_file(str(teacher.get("base_model") or "default"))
        if fits == model_file(config["teacher_model"]):
            config["teacher_adapter"] = config["teacher_adapter"] or teacher["path"]
            return teacher
    return None


# The packaged student of each packaged teacher: same family, same vocabulary.
FAMILY_STUDENTS = {"qwen2.5-coder-1.5b": "qwen2.5-coder-0.5b"}


def current_general_student(adapters_dir: Path) -> dict | None:
    """The installed general-stage family student, if that is what is installed user-wide."""
    from ghostwright.server.installs.records import current_adapter

    record = current_adapter(adapters_dir)
    return record if record and record.get("distilled") == "family" else None


def sequence_dataset(
    target: Target, config: dict[str, Any], home: Path, settings: Settings, progress: Any
) -> Path:
    """The teacher's completions of the repository's holes, in the student's prompt format."""
    from ghostwright.training.data.served import build_teacher_completions

    if not config.get("student_model"):
        raise GhostwrightError("a sequence-level student needs student_model=PATH.gguf")
    return build_teacher_completions(
        target.corpus,
        home / "datasets",
        teacher_settings(target, settings, config),
        training_format(config["student_model"]),
        target.options,
        progress=lambda done, total: progress.cases("data", done, total),
    )


def teacher_settings(target: Target, settings: Settings, config: dict[str, Any]) -> Settings:
    """The model the server runs now with the installed adapter (the distillation's teacher)."""
    from ghostwright.server.installs.records import teacher_record

    teacher = teacher_record(target.repository)
    served = replace(settings, model=config["model"], adapter="")
    if teacher is None:
        return served
    return replace(served, adapter=teacher["path"], prompt_format=teacher["prompt_format"])


def context_dataset(
    target: Target, config: dict[str, Any], home: Path, settings: Settings, progress: Any
) -> Path:
    """Holes prompted by the served model's pipeline with and without retrieved snippets."""
    from ghostwright.training.data.served import build_context_pairs

    served = teacher_settings(target, settings, config)
    if not served.adapter:
        raise GhostwrightError(
            "context distillation needs a fine-tuned teacher: run `ghostwright train` first"
        )
    return build_context_pairs(
        target.corpus,
        home / "datasets",
        served,
        target.options,
        student_prompt_tokens=config["student_prompt_tokens"],
        progress=lambda done, total: progress.cases("data", done, total),
    )


def run_folder(home: Path, kind: str, resume: bool) -> Path:
    """`<home>/runs/<kind>-<time>`, or with `resume` the newest such run (an error if none)."""
    runs = sorted((home / "runs").glob(f"{kind}-*"))
    if resume:
        if not runs:
            raise GhostwrightError(f"no {kind} run to resume in {home / 'runs'}")
        return runs[-1]
    return home / "runs" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def stage_a_datasets(name: str = "stage-a") -> list[Path]:
    return sorted((user_cache() / "stage-a" / "datasets").glob(f"{name}-v*"))


def training_base(settings: Settings, home: Path, stage: str) -> str:
    """The model a run trains on: the one the user named, else the one served. `auto` is pinned
    to a tier here, since an adapter fits only the model it was trained on and auto may pick
    another one later (an installed adapter keeps auto on its own base)."""
    from ghostwright.server.auto_model import choose_model
    from ghostwright.server.installs.records import UNCHOSEN_MODELS, installed_adapter
    from ghostwright.server.models import AUTO_MODEL

    if settings.model.strip() not in UNCHOSEN_MODELS:
        return settings.model
    if settings.model.strip() != AUTO_MODEL:
        return "default"
    record = installed_adapter(home.parent if stage == "b" else None)
    if record is not None and not record.get("model") and record.get("base_model"):
        return str(record["base_model"])
    # An adapter trains on a packaged tier, never on an installed student `auto` might pick.
    return choose_model(replace(settings, installed_student="")).tier.name


def user_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright"))


def training_format(model: str) -> Any:
    """The model's own FIM format, or ghostwright's trained one for models without FIM tokens."""
    from ghostwright.indexer.llama_native import load_quietly
    from ghostwright.server.backends.llama_loading import LlamaVocabulary
    from ghostwright.server.models import is_gguf_spec, resolve_model
    from ghostwright.server.prompt_formats import TRAINED_FIM, detect_format, select_format

    if not is_gguf_spec(model):
        return select_format(TRAINED_FIM, None)  # an HF folder: no GGUF vocabulary to read
    # Vocabulary only, no weights; closed here, as every Llama must be before exit.
    llm = load_quietly(model_path=str(resolve_model(model)), vocab_only=True)
    try:
        vocabulary = LlamaVocabulary(llm)
        detected = detect_format(vocabulary)
        return detected if detected.is_fim else select_format(TRAINED_FIM, vocabulary)
    finally:
        llm.close()
