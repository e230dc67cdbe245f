"""After training: export the adapter to GGUF, check it in llama.cpp, gate it, install it.

Each step can stop the adapter from becoming current, and none leaves a half-written file behind:
the export is atomic, a failed logit check or a lost comparison raises before `install` touches
`current.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.records import with_installed_adapter
from ghostwright.training.data.build import DataOptions
from ghostwright.training.progress import TrainProgress

if TYPE_CHECKING:
    from ghostwright.training.vocabulary import Vocabulary

CHECK_TEXTS = 8  # held-out samples the logit check runs over


@dataclass(frozen=True)
class Target:
    """Where the adapter is measured and installed."""

    corpus: Path  # the tree the dataset came from: its held-out files are the gate's cases
    options: DataOptions  # the data step's options (split seed, languages, exclusions)
    repository: Path | None  # Stage B: the user's repository; Stage A: None (user-wide)
    adapters_dir: Path


def publish(
    recipe: Any,
    target: Target,
    settings: Settings,
    progress: TrainProgress,
    *,
    force: bool = False,
    gate_limit: int | None = None,
    before: Settings | None = None,
) -> dict:
    """Export, check, gate and install; returns what happened (installed or why not). The gate
    compares with `before` (default: what is installed now)."""
    from ghostwright.server.installs.write import Candidate, install
    from ghostwright.server.models import is_gguf_spec, resolve_model
    from ghostwright.server.prompt_formats import select_format
    from ghostwright.training.export import export_lora_gguf, write_modelfile
    from ghostwright.training.verify import check_adapter

    config = recipe.config
    base = config["model"]
    if not is_gguf_spec(base):
        raise GhostwrightError("exporting an adapter needs a GGUF base model (model=*.gguf)")
    base_gguf = resolve_model(base)
    run_dir = Path(config["output_dir"])
    progress.phase("export", "exporting the adapter to GGUF")
    adapter = export_lora_gguf(
        Path(recipe.summary["adapter"]), base_gguf, run_dir / f"{run_dir.name}.gguf"
    )

    progress.phase("verify", "checking llama.cpp + adapter against transformers + peft")
    check = check_adapter(recipe.model, base_gguf, adapter, _held_out_texts(config)).as_dict()
    (run_dir / "export-check.json").write_text(json.dumps(check, indent=2))

    dataset_format = _dataset_format(config)
    # Both sides run on the base the adapter was trained on, whatever `model = auto` would pick.
    settings = replace(settings, model=base)
    current = before or with_installed_adapter(replace(settings, adapter=""), target.repository)
    candidate_settings = replace(settings, adapter=str(adapter), prompt_format=dataset_format)
    scores, cases = _gate(target, current, candidate_settings, run_dir, progress, gate_limit)
    outcome = {"check": check, "gate": {**scores, "cases": cases}, "installed": None}
    candidate = Candidate(
        adapter,
        dataset_format,
        base,
        check,
        scores["before"],
        scores["after"],
        peft_dir=recipe.summary["adapter"],
    )
    try:
        installed = install(candidate, target.adapters_dir, force=force)
    except GhostwrightError as exc:
        outcome["not_installed"] = str(exc)
        return outcome
    outcome["installed"] = str(installed)
    fmt = select_format(dataset_format, None)
    outcome["modelfile"] = str(
        write_modelfile(target.adapters_dir / "Modelfile", base_gguf, installed, fmt)
    )
    return outcome


def publish_student(
    recipe: Any,
    target: Target,
    settings: Settings,
    progress: TrainProgress,
    *,
    teacher: dict | None,
    min_retained: float,
    force: bool = False,
    gate_limit: int | None = None,
) -> dict:
    """Export the distilled student, check it in llama.cpp, gate it against its teacher (the
    installed adapter `teacher`, or the model alone) and install it when it keeps
    `min_retained` of the teacher's held-out exact match.

    Every student is exported as a whole GGUF with its LoRA (if any) merged, served as the model:
    an adapter applied at run time costs llama.cpp about a quarter more time per token (measured
    11.9 -> 14.8 ms on the default model), which a student exists to save. Pruned student: fewer
    blocks. Context student: served with its shorter window and retrieval off, against the
    teacher as the editor serves it (snippets from an index of the repository without its
    held-out files). Sequence and family students: another (smaller) model."""
    from ghostwright.server.installs.write import (
        Candidate,
        install_student,
        retained_of,
        speedup_of,
    )
    from ghostwright.server.models import resolve_model

    config = recipe.config
    run_dir = Path(config["output_dir"])
    kind = config["student"]
    teacher_model = config.get("teacher_model") or config["model"]
    base_gguf = resolve_model(config["model"])  # the student's own base (sequence: another)
    output = run_dir / f"{run_dir.name}.gguf"
    model = _merged(recipe.model)
    vocabulary = getattr(recipe, "vocabulary", None)  # a distilled student's trimmed one
    texts = _held_out_texts(config)
    student, check = _quantized_student(
        model, config, base_gguf, output, texts, progress, vocabulary
    )
    (run_dir / "export-check.json").write_text(json.dumps(check, indent=2))

    dataset_format = _dataset_format(config)
    teacher_settings = replace(
        settings,
        model=teacher_model,
        adapter=teacher["path"] if teacher else "",
        prompt_format=teacher.get("prompt_format", dataset_format) if teacher else dataset_format,
    )
    serve = {}
    if kind == "context":
        serve = {"prompt_tokens": config["student_prompt_tokens"], "retrieval": False}
    student_settings = replace(
        settings, model=str(student), adapter="", prompt_format=dataset_format, **serve
    )
    scores, cases = _gate(
        target, teacher_settings, student_settings, run_dir, progress, gate_limit, kind == "context"
    )
    candidate = Candidate(
        student,
        dataset_format,
        config["model"],
        check,
        scores["before"],
        scores["after"],
        peft_dir=_peft_folder(recipe.summary["adapter"]),
        teacher=teacher,
    )
    outcome = {
        "check": check,
        "gate": {**scores, "cases": cases},
        "retained": retained_of(candidate),
        "speedup": speedup_of(candidate),
        "installed": None,
    }
    try:
        installed = install_student(
            candidate,
            target.adapters_dir,
            min_retained=min_retained,
            force=force,
            distilled=kind,
            serve=serve,
            teacher_model=teacher_model,
        )
        outcome["installed"] = str(installed)
    except GhostwrightError as exc:
        outcome["not_installed"] = str(exc)
    return outcome


def _peft_folder(trained: str) -> str:
    """The trained weights' folder when it is a peft adapter (a later run can start from it)."""
    return trained if (Path(trained) / "adapter_config.json").is_file() else ""


def _merged(model: Any) -> Any:
    """The student as plain transformers weights: a peft LoRA folded into its base."""
    merge = getattr(model, "merge_and_unload", None)
    return merge() if merge is not None else model


def _quantized_student(
    model: Any,
    config: dict,
    base_gguf: Path,
    output: Path,
    texts: list[str],
    progress: TrainProgress,
    vocabulary: Vocabulary | None,
) -> tuple[Path, dict]:
    """The whole-model export at the configured quantization, or with `auto` the first of
    `AUTO_QUANTIZATIONS` that passes the logit check: a trained student loses more to 4-bit
    rounding than its teacher (measured, pruned: KL 0.156 at q4_k_m, 0.002 at q8_0; context
    student: 0.153 and 0.005; the teacher's own q4_k_m round trip: 0.005)."""
    from ghostwright.training.export import AUTO_QUANTIZATIONS, export_model_gguf
    from ghostwright.training.verify import check_adapter

    chosen, embedding = config["quantization"], config["embedding_quantization"]
    tried: list[dict] = []
    for quantization in AUTO_QUANTIZATIONS if chosen == "auto" else (chosen,):
        progress.phase("export", f"exporting the student to GGUF ({quantization})")
        student = export_model_gguf(model, base_gguf, output, quantization, embedding, vocabulary)
        progress.phase("verify", f"checking the {quantization} student against transformers")
        check = check_adapter(model, student, None, texts).as_dict()
        tried.append({"quantization": quantization, **check})
        if check["passed"]:
            break
    described = {
        "quantization": quantization,
        "embedding_quantization": embedding,
        "vocabulary": len(vocabulary) if vocabulary is not None else None,
    }
    return student, {**check, **described, "tried": tried}


def _gate(
    target: Target,
    before: Settings,
    after: Settings,
    run_dir: Path,
    progress: TrainProgress,
    gate_limit: int | None,
    before_with_snippets: bool = False,
) -> tuple[dict, int]:
    """Both models on the same held-out holes of the corpus: ({before, after}, cases)."""
    from ghostwright.training.gate import GATE_CASES, gate_cases, measure

    holes = gate_cases(target.corpus, target.options, gate_limit or GATE_CASES)
    cases = holes.cases
    if not cases:
        raise GhostwrightError(f"no held-out code in {target.corpus} to measure on")
    index = None
    if before_with_snippets:  # the teacher's snippets: the repository without its held-out files
        from ghostwright.training.evaluate.cli import index_without

        held_out = holes.description["held_out_files"]
        index = index_without(target.corpus, before, held_out, target.options.seed)[0]
    scores = {}
    try:
        for side, side_settings in (("before", before), ("after", after)):
            message = f"measuring {_describe(side_settings)} on held-out code"
            progress.phase(f"gate-{side}", message)
            scores[side] = measure(
                side_settings,
                cases,
                run_dir / f"gate-{side}.json",
                lambda done, total, name=f"gate-{side}": progress.cases(name, done, total),
                index=index if side == "before" else None,
            )
    finally:
        if index is not None:
            index.close()
            index.embedder.close()
    return scores, len(cases)


def _dataset_format(config: dict) -> str:
    return json.loads((Path(config["dataset"]) / "manifest.json").read_text())["format"]


def _held_out_texts(config: dict) -> list[str]:
    """The first validation samples (training ones when there are none) as whole texts."""
    folder = Path(config["dataset"])
    texts: list[str] = []
    for split in ("validation", "train"):
        path = folder / f"{split}.jsonl"
        if path.is_file() and not texts:
            with path.open(encoding="utf-8") as handle:
                for line, _ in zip(handle, range(CHECK_TEXTS), strict=False):
                    row = json.loads(line)
                    texts.append(row["prompt"] + row["completion"])
    return texts


def _describe(settings: Settings) -> str:
    if settings.adapter:
        return f"adapter {Path(settings.adapter).name}"
    if settings.model.endswith(".gguf"):
        return f"model {Path(settings.model).name}"
    return "the base model"
