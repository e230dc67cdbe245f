"""`ghostwright train` (data step, then the LoRA recipe, for Stage A or Stage B) and
`ghostwright distill` (the same data, then a faster student of the model the server runs).

Stage A learns the FIM format and general code from a corpus every machine has offline (the
Python standard library); its dataset and runs live in the user cache. Stage B learns the
user's repository, with Stage A samples replayed so the general skill stays; its dataset and
runs live in `<repo>/.ghostwright/`. Only argparse is imported until the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
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


def add_train_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("train", help="fine-tune the model on your repository (LoRA)")
    parser.add_argument("--repo", type=Path, help="repository for Stage B (default: this one)")
    parser.add_argument(
        "--stage",
        choices=("a", "b", "dpo"),
        default="b",
        help="a: general FIM skill; b: your repository (default); dpo: after b, what you kept "
        "over what it offered (feedback log and repository holes); key=value sets beta, "
        "epochs, learning_rate ...",
    )
    parser.add_argument(
        "--hole-pairs",
        type=int,
        default=200,
        help="dpo: pairs from repository holes the model gets wrong (default 200)",
    )
    _add_run_options(parser, "install even if it does not beat the current model")
    return parser


def _add_run_options(parser: argparse.ArgumentParser, force_help: str) -> None:
    """What `train` and `distill` share: recipe, length, resume, the gate and install, output."""
    parser.add_argument("--config", type=Path, help="recipe YAML (default: the packaged one)")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--resume", action="store_true", help="continue the newest run")
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument(
        "--no-install", action="store_true", help="train only: no export, check, gate or install"
    )
    parser.add_argument(
        "--gate-cases", type=int, help="held-out holes the gate compares on (default 200)"
    )
    parser.add_argument(
        "--progress-json", action="store_true", help="progress as JSON lines on stdout"
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value")


STUDENT_RECIPES = {
    "pruned": "distill_default.yaml",
    "context": "distill_context.yaml",
    "sequence": "distill_sequence.yaml",
    "family": "distill_family.yaml",
}


def add_distill_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "distill", help="distill the served model into a faster student for your repository"
    )
    parser.add_argument("--repo", type=Path, help="repository (default: this one)")
    parser.add_argument(
        "--student",
        choices=tuple(STUDENT_RECIPES),
        default="pruned",
        help="pruned: fewer blocks, a whole faster model; context: the same model, learning "
        "to complete from a short window without snippets as if it had them; sequence: a LoRA "
        "on another (smaller) model, student_model=PATH, learning the teacher's completions; "
        "family: the smaller model of the teacher's family (the 0.5B for the 1.5B) learning "
        "the teacher's token distributions (default: pruned)",
    )
    parser.add_argument(
        "--stage",
        choices=("a", "b"),
        default="b",
        help="family student: a, the general stage on the standard library (installed for "
        "every repository); b, this repository (default)",
    )
    parser.add_argument(
        "--min-retained",
        type=float,
        default=0.9,
        help="share of the teacher's held-out exact match the student must keep (default 0.9)",
    )
    _add_run_options(parser, "install even if the student keeps less than --min-retained")
    return parser


def run_distill(args: argparse.Namespace, settings: Settings) -> int:
    quiet_libraries()
    from ghostwright.server.adapters import teacher_record
    from ghostwright.training.publish import publish_student
    from ghostwright.training.recipes.distill import DistillRecipe
    from ghostwright.training.recipes.lora_finetune import train_run

    if not 0 <= args.min_retained <= 1:
        raise GhostwrightError("--min-retained must be between 0 and 1")
    if args.stage == "a" and args.student != "family":
        raise GhostwrightError("--stage a is the family student's general stage (--student family)")
    recipe_yaml = STUDENT_RECIPES[args.student]
    kind = f"distill-{args.student}"
    config, progress, run_dir, target = _prepare(args, settings, recipe_yaml, kind)
    teacher = teacher_record(target.repository)
    if args.student == "family":
        teacher = _family_roles(config, args, run_dir, teacher)
    if args.student == "sequence":  # the teacher runs in llama.cpp: its GGUF adapter is enough
        return _run_sequence(args, settings, config, progress, run_dir, target, teacher)
    if not config["teacher_adapter"] and teacher and args.student != "family":
        config["teacher_adapter"] = teacher.get("peft_dir", "")
        if not config["teacher_adapter"]:
            teacher = None  # an adapter without its peft folder cannot be merged: model alone
    if not config["teacher_examples"]:
        config["teacher_examples"] = (
            config["max_steps"] * config["batch_size"] * config["grad_accum"]
        )
    _save_config(config, run_dir)
    progress.phase("teacher", "computing the teacher's predictions (once; cached in the run)")

    def teacher_progress(done: int, total: int) -> None:
        progress.cases("teacher", done, total)
        if done == total:
            progress.phase("train", f"training the student in {run_dir}")

    def recipe_class(config: dict) -> DistillRecipe:
        recipe = DistillRecipe(config)
        recipe.cache_progress = teacher_progress
        return recipe

    recipe = train_run(config, args.resume, progress.step, recipe_class)  # type: ignore[arg-type]
    summary = {
        key: recipe.summary[key]
        for key in ("steps", "final_loss", "bf16", "keep_layers", "teacher_validation_loss")
    }
    summary["student"] = recipe.summary["adapter"]
    if recipe.summary["stopped"]:
        return _stopped(progress, recipe, summary)
    if not args.no_install:
        summary |= publish_student(
            recipe,
            target,
            settings,
            progress,
            teacher=teacher,
            min_retained=args.min_retained,
            force=args.force,
            gate_limit=args.gate_cases,
        )
        progress.phase("install", _student_message(summary))
    progress.result(summary)
    return 0


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    quiet_libraries()
    if args.stage == "dpo":
        from ghostwright.training.preference_stage import run_dpo_stage

        return run_dpo_stage(args, settings)
    from ghostwright.training.publish import publish
    from ghostwright.training.recipes.lora_finetune import train_run

    config, progress, run_dir, target = _prepare(args, settings, "lora_default.yaml", None)
    if args.stage == "b":
        _start_from_stage_a(config)
    _save_config(config, run_dir)
    progress.phase("train", f"training {run_dir}")
    recipe = train_run(config, resume=args.resume, progress=progress.step)
    summary = {key: recipe.summary[key] for key in ("steps", "final_loss", "bf16", "adapter")}
    if recipe.summary["stopped"]:
        return _stopped(progress, recipe, summary)
    if not args.no_install:
        summary |= publish(
            recipe, target, settings, progress, force=args.force, gate_limit=args.gate_cases
        )
        progress.phase("install", _install_message(summary))
    progress.result(summary)
    return 0


def _prepare(
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
    home = _home(args)
    kind = kind or f"stage-{args.stage}"
    run_dir = Path(config["output_dir"] or run_folder(home, kind, args.resume))
    saved = run_dir / "train-config.json"
    previous = json.loads(saved.read_text()) if args.resume and saved.is_file() else None
    if config.get("model", "default") == "default":
        kept = (previous or {}).get("model")  # a resumed run keeps its base
        config["model"] = kept or _training_base(settings, home, args.stage)
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
    target = _target(args, config, home)
    if not config["dataset"] and config.get("student") == "sequence":
        progress.phase("data", f"the teacher completes {target.corpus}'s holes")
        config["dataset"] = str(_sequence_dataset(target, config, home, settings, progress))
    elif not config["dataset"] and config.get("student") == "context":
        progress.phase("data", f"prompting {target.corpus}'s holes with and without snippets")
        config["dataset"] = str(_context_dataset(target, config, home, settings, progress))
    elif not config["dataset"]:
        progress.phase("data", f"building the training data from {target.corpus}")
        config["dataset"] = str(_dataset(target, config, home, args.stage))
    if kind == "distill-pruned" and not config.get("replay_dataset"):
        stage_a = _stage_a_datasets()
        config["replay_dataset"] = str(stage_a[-1]) if stage_a else ""
    if kind == "distill-family" and args.stage == "b" and not config.get("replay_dataset"):
        general = _stage_a_datasets("family-a")  # the general stage's samples, same format
        config["replay_dataset"] = str(general[-1]) if general else ""
    config["output_dir"] = str(run_dir)
    return config, progress, run_dir, target


def _save_config(config: dict[str, Any], run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train-config.json").write_text(json.dumps(config, indent=2))


def _stopped(progress: Any, recipe: Any, summary: dict) -> int:
    progress.phase("stopped", f"stopped at step {recipe.step}; --resume continues the run")
    progress.result({**summary, "stopped": True})
    return 130


def _student_message(summary: dict) -> str:
    gate = summary["gate"]
    before, after = gate["before"], gate["after"]
    measured = (
        f"on {gate['cases']} held-out holes the student keeps {summary['retained']:.0%} of the "
        f"teacher's exact match ({before['exact_match']:.1%} -> {after['exact_match']:.1%}) and "
        f"is {summary['speedup']:.2f}x as fast (median {before['latency_p50_ms']:.0f} -> "
        f"{after['latency_p50_ms']:.0f} ms)"
    )
    if summary["installed"]:
        return f"installed {summary['installed']} ({measured})"
    return f"not installed: {summary['not_installed']} ({measured})"


def quiet_libraries() -> None:
    """Keep the terminal for our own progress: library chatter the user cannot act on goes."""
    import warnings

    # bitsandbytes (imported by peft) warns about missing GPU kernels on every CPU start.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    # peft saving an adapter of a GGUF-loaded model finds no HF config folder: harmless.
    warnings.filterwarnings("ignore", message="Could not find a config file", module=r"peft\..*")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()  # GGUF de-quantizing and weight-loading bars


def _install_message(summary: dict) -> str:
    gate = summary["gate"]
    before, after = gate["before"]["exact_match"], gate["after"]["exact_match"]
    was, now = gate["before"]["latency_p50_ms"], gate["after"]["latency_p50_ms"]
    measured = (
        f"exact match on {gate['cases']} held-out holes: {before:.1%} -> {after:.1%}; "
        f"median latency {was:.0f} -> {now:.0f} ms"
    )
    if summary["installed"]:
        return f"installed {summary['installed']} ({measured})"
    return f"not installed: {summary['not_installed']}"


def _target(args: argparse.Namespace, config: dict[str, Any], home: Path) -> Target:
    """The corpus the stage learns from and where its adapter is installed."""
    from ghostwright.server.adapters import ADAPTERS_DIR, user_adapters_dir
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


def _start_from_stage_a(config: dict[str, Any]) -> None:
    """Stage B continues the installed Stage A adapter and replays Stage A samples."""
    from ghostwright.server.adapters import current_adapter, user_adapters_dir

    start = str(config.get("init_adapter") or "")
    if start == "none":  # asked for a fresh LoRA
        start = ""
    elif not start:
        peft_dir = (current_adapter(user_adapters_dir()) or {}).get("peft_dir", "")
        start = peft_dir if peft_dir and Path(peft_dir).is_dir() else ""
    config["init_adapter"] = start
    if not config.get("replay_dataset"):
        stage_a = _stage_a_datasets()
        config["replay_dataset"] = str(stage_a[-1]) if stage_a else ""


def _home(args: argparse.Namespace) -> Path:
    """Where this stage keeps datasets and runs."""
    if args.stage == "a":
        return _cache() / "stage-a"
    repo = (args.repo or project_root(Path.cwd())).resolve()
    if not repo.is_dir():
        raise GhostwrightError(f"not a directory: {repo}")
    return repo / ".ghostwright"


def _dataset(target: Target, config: dict[str, Any], home: Path, stage: str) -> Path:
    from ghostwright.training.data.build import build_dataset

    fmt = training_format(config["model"])
    # The family's data is in the teacher's own FIM format, kept apart from Stage A's.
    name = f"family-{stage}" if config.get("student") == "family" else f"stage-{stage}"
    folder = build_dataset(target.corpus, home / "datasets", fmt, target.options, name=name)
    counts = json.loads((folder / "manifest.json").read_text())
    print(f"dataset {folder}: {json.dumps(counts['samples'])}", file=sys.stderr)
    return folder


def _family_roles(
    config: dict[str, Any], args: argparse.Namespace, run_dir: Path, teacher: dict | None
) -> dict | None:
    """The family student trains `student_model` (the general stage's installed student, when
    the repository stage finds one) and learns from `model` with its installed GGUF adapter
    (only an adapter of that very model; llama.cpp applies it). Returns the teacher's record."""
    from ghostwright.server.adapters import is_student, model_file, user_adapters_dir

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
    from ghostwright.server.adapters import current_adapter

    record = current_adapter(adapters_dir)
    return record if record and record.get("distilled") == "family" else None


def _run_sequence(
    args: argparse.Namespace,
    settings: Settings,
    config: dict[str, Any],
    progress: Any,
    run_dir: Path,
    target: Target,
    teacher: dict | None,
) -> int:
    """The student is an ordinary LoRA fine-tune of `student_model` on the teacher's
    completions; published like the other students (kept share of the teacher's exact match)."""
    from ghostwright.training.publish import publish_student
    from ghostwright.training.recipes.lora_finetune import train_run

    config["teacher_model"], config["model"] = config["model"], config["student_model"]
    config["init_adapter"] = "none"
    _save_config(config, run_dir)
    progress.phase("train", f"training the student in {run_dir}")
    recipe = train_run(config, resume=args.resume, progress=progress.step)
    summary = {key: recipe.summary[key] for key in ("steps", "final_loss", "bf16")}
    summary["student"] = recipe.summary["adapter"]
    if recipe.summary["stopped"]:
        return _stopped(progress, recipe, summary)
    if not args.no_install:
        summary |= publish_student(
            recipe,
            target,
            settings,
            progress,
            teacher=teacher,
            min_retained=args.min_retained,
            force=args.force,
            gate_limit=args.gate_cases,
        )
        progress.phase("install", _student_message(summary))
    progress.result(summary)
    return 0


def _sequence_dataset(
    target: Target, config: dict[str, Any], home: Path, settings: Settings, progress: Any
) -> Path:
    """The teacher's completions of the repository's holes, in the student's prompt format."""
    from ghostwright.training.data.served import build_teacher_completions

    if not config.get("student_model"):
        raise GhostwrightError("a sequence-level student needs student_model=PATH.gguf")
    return build_teacher_completions(
        target.corpus,
        home / "datasets",
        _teacher_settings(target, settings, config),
        training_format(config["student_model"]),
        target.options,
        progress=lambda done, total: progress.cases("data", done, total),
    )


def _teacher_settings(target: Target, settings: Settings, config: dict[str, Any]) -> Settings:
    """The model the server runs now with the installed adapter (the distillation's teacher)."""
    from ghostwright.server.adapters import teacher_record

    teacher = teacher_record(target.repository)
    served = replace(settings, model=config["model"], adapter="")
    if teacher is None:
        return served
    return replace(served, adapter=teacher["path"], prompt_format=teacher["prompt_format"])


def _context_dataset(
    target: Target, config: dict[str, Any], home: Path, settings: Settings, progress: Any
) -> Path:
    """Holes prompted by the served model's pipeline with and without retrieved snippets."""
    from ghostwright.training.data.served import build_context_pairs

    served = _teacher_settings(target, settings, config)
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


def _stage_a_datasets(name: str = "stage-a") -> list[Path]:
    return sorted((_cache() / "stage-a" / "datasets").glob(f"{name}-v*"))


def _training_base(settings: Settings, home: Path, stage: str) -> str:
    """The model a run trains on: the one the user named, else the one served. `auto` is pinned
    to a tier here, since an adapter fits only the model it was trained on and auto may pick
    another one later (an installed adapter keeps auto on its own base)."""
    from ghostwright.server.adapters import UNCHOSEN_MODELS, installed_adapter
    from ghostwright.server.auto_model import choose_model
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


def _cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright"))


def training_format(model: str) -> Any:
    """The model's own FIM format, or ghostwright's trained one for models without FIM tokens."""
    from ghostwright.indexer.llama_native import load_quietly
    from ghostwright.server.backends.llama_cpp import LlamaVocabulary
    from ghostwright.server.models import is_gguf_spec, resolve_model
    from ghostwright.server.pipeline.prompts import TRAINED_FIM, detect_format, select_format

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
