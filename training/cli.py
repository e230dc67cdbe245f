"""`ghostwright train` (data step, then the LoRA recipe, for Stage A or Stage B) and
`ghostwright distill` (the same data, then a faster student of the model the server runs).

Stage A learns the FIM format and general code from a corpus every machine has offline (the
Python standard library); its dataset and runs live in the user cache. Stage B learns the
user's repository, with Stage A samples replayed so the general skill stays; its dataset and
runs live in `<repo>/.ghostwright/`. Only argparse is imported until the command runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.run_setup import (
    family_roles,
    prepare,
    save_config,
    start_from_stage_a,
)

if TYPE_CHECKING:
    from ghostwright.training.publish import Target


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """`ghostwright train`'s options (server/cli.py registers the command)."""
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


def add_distill_arguments(parser: argparse.ArgumentParser) -> None:
    """`ghostwright distill`'s options (server/cli.py registers the command)."""
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


def run_distill(args: argparse.Namespace, settings: Settings) -> int:
    quiet_libraries()
    from ghostwright.server.installs.records import teacher_record
    from ghostwright.training.publish import publish_student
    from ghostwright.training.recipes import distill

    if not 0 <= args.min_retained <= 1:
        raise GhostwrightError("--min-retained must be between 0 and 1")
    if args.stage == "a" and args.student != "family":
        raise GhostwrightError("--stage a is the family student's general stage (--student family)")
    recipe_yaml = STUDENT_RECIPES[args.student]
    kind = f"distill-{args.student}"
    config, progress, run_dir, target = prepare(args, settings, recipe_yaml, kind)
    teacher = teacher_record(target.repository)
    if args.student == "family":
        teacher = family_roles(config, args, run_dir, teacher)
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
    save_config(config, run_dir)
    progress.phase("teacher", "computing the teacher's predictions (once; cached in the run)")

    def teacher_progress(done: int, total: int) -> None:
        progress.cases("teacher", done, total)
        if done == total:
            progress.phase("train", f"training the student in {run_dir}")

    recipe = distill.run(config, args.resume, progress.step, teacher_progress)
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
    from ghostwright.training.recipes import lora_finetune

    config, progress, run_dir, target = prepare(args, settings, "lora_default.yaml", None)
    if args.stage == "b":
        start_from_stage_a(config)
    save_config(config, run_dir)
    progress.phase("train", f"training {run_dir}")
    recipe = lora_finetune.run(config, resume=args.resume, progress=progress.step)
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
    from ghostwright.training.recipes import lora_finetune

    config["teacher_model"], config["model"] = config["model"], config["student_model"]
    config["init_adapter"] = "none"
    save_config(config, run_dir)
    progress.phase("train", f"training the student in {run_dir}")
    recipe = lora_finetune.run(config, resume=args.resume, progress=progress.step)
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
