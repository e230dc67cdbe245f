"""The whole fine-tune path at toy size on a real model (the smallest tier): data -> train ->
kill -> resume -> export -> logit check -> install -> load in llama.cpp -> complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytestmark = pytest.mark.model

SOURCE = '''def area(width, height):
    """Return the area."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''
# The smallest packaged tier, named: `auto` would train whichever tier fits this machine.
BASE = "model=gemma-3-270m"
TOY = [
    BASE,
    "batch_size=2",
    "max_tokens=64",
    "lr=1.0e-3",
    "warmup_steps=1",
    "checkpoint_every=1",
    "eval_every=0",
    "lora.rank=2",
    "lora.alpha=4",
    "lora.targets=[q_proj, v_proj]",
    "max_steps=3",
]


def test_toy_fine_tune_end_to_end(tmp_path: Path, default_model_path: Path):
    from ghostwright.server.config import Settings
    from ghostwright.server.engine import open_completer
    from ghostwright.server.installs.records import with_installed_adapter
    from ghostwright.server.installs.write import Candidate, install
    from ghostwright.server.pipeline.complete import CompletionRequest
    from ghostwright.server.prompt_formats import TRAINED_FIM, select_format
    from ghostwright.training import checkpoints, loop
    from ghostwright.training.config import load_config
    from ghostwright.training.data.build import DataOptions, build_dataset
    from ghostwright.training.export import export_lora_gguf
    from ghostwright.training.recipes import lora_finetune
    from ghostwright.training.verify import check_adapter

    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    data = build_dataset(
        repo,
        tmp_path / "data",
        select_format(TRAINED_FIM, None),
        DataOptions(fim_per_file=4, prefix_chars=100, suffix_chars=40),
    )
    run = tmp_path / "run"
    overrides = [f"dataset={data}", f"output_dir={run}", *TOY]

    command = [sys.executable, "-m", "ghostwright.training.recipes.lora_finetune", *overrides]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint-000001.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (run / "checkpoint-000001.pt").exists() and not (run / "metrics.json").exists()

    recipe = lora_finetune.setup(load_config(None, overrides, "lora_default.yaml"))
    assert checkpoints.load_checkpoint(recipe) and 1 <= recipe.step < 3
    assert loop.train(recipe)["steps"] == 3
    adapter_dir = checkpoints.save_adapter(recipe)

    gguf_adapter = export_lora_gguf(adapter_dir, default_model_path, run / "toy.gguf")
    check = check_adapter(recipe.model, default_model_path, gguf_adapter, [SOURCE], max_tokens=48)
    assert check.passed, check
    installed = install(
        Candidate(
            gguf_adapter,
            TRAINED_FIM,
            "default",
            check.as_dict(),
            {"exact_match": 0.0},
            {"exact_match": 0.0},
        ),
        repo / ".ghostwright" / "adapters",
        force=True,  # a 3-step toy adapter is not expected to beat anything
    )
    settings = with_installed_adapter(replace(Settings(), max_tokens=8), repo)
    assert settings.adapter == str(installed) and settings.prompt_format == TRAINED_FIM
    with open_completer(settings) as completer:
        assert completer.backend.prompt_format.name == TRAINED_FIM
        result = completer.complete(CompletionRequest("def f(x):\n    return ", 1, 11))
    assert result.error == "" and result.stop_reason not in ("error",)


def test_train_command_gates_and_installs_with_json_progress(tmp_path: Path):
    """`ghostwright train` as the language server runs it: JSON progress, then the gate on
    held-out holes; a toy adapter is refused unless it wins, and `--force` installs it."""
    import json

    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    command = [
        *(sys.executable, "-m", "ghostwright.server", "train", "--repo", str(repo)),
        *("--progress-json", "--gate-cases", "4", "--force"),
        *TOY,
        "max_steps=2",
        "replay_share=0",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    phases = [event["phase"] for event in events if event["event"] == "phase"]
    assert phases == ["data", "train", "export", "verify", "gate-before", "gate-after", "install"]
    steps = [event for event in events if event["event"] == "step"]
    assert [event["step"] for event in steps] == [1, 2] and steps[-1]["eta_s"] == 0
    cases = [event for event in events if event["event"] == "cases"]
    assert cases[-1] == {"event": "cases", "phase": "gate-after", "done": 4, "total": 4}
    result = events[-1]
    assert result["event"] == "done" and result["check"]["passed"]
    assert result["gate"]["cases"] == 4 and result["gate"]["before"]["n"] == 4
    record = json.loads((repo / ".ghostwright" / "adapters" / "current.json").read_text())
    assert Path(result["installed"]).name == record["adapter"]
    assert record["before"]["exact_match"] == result["gate"]["before"]["exact_match"]
    assert Path(record["peft_dir"], "adapter_model.safetensors").is_file()
    modelfile = Path(result["modelfile"]).read_text()  # for Ollama users
    assert f"ADAPTER {result['installed']}\n" in modelfile
    assert 'TEMPLATE """<unused0><unused1>{{ .Suffix }}<unused2>{{ .Prompt }}"""' in modelfile


def test_dpo_stage_after_stage_b_from_the_feedback_log_and_holes(tmp_path: Path):
    """`ghostwright train --stage dpo`: pairs from a feedback log and wrong holes, trl's DPO from
    the installed Stage B adapter, export, check, gate against Stage B, install."""
    import json

    from ghostwright.server.feedback.log import FeedbackLog, feedback_path, shown_at

    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    base = [sys.executable, "-m", "ghostwright.server", "train", "--repo", str(repo)]
    stage_b = [*base, "--progress-json", "--gate-cases", "4", "--force", *TOY, "replay_share=0"]
    done = subprocess.run([*stage_b, "max_steps=1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    log = FeedbackLog(feedback_path(repo))
    text = SOURCE.replace("    return width * height", "    ")
    for suggestion, outcome in (("return width * height", "accepted"), ("pass", "dismissed")):
        shown, _ = shown_at(text, 2, 4, suggestion, path="shape0.py", language="python",
                            model="m", latency_ms=1.0)  # fmt: skip
        identifier = log.shown(shown)
        log.decided(identifier, outcome)
        log.written(identifier, "return width * height")
    log.close()

    dpo = [*base, "--stage", "dpo", "--progress-json", "--gate-cases", "4", "--force"]
    dpo += ["--hole-pairs", "3", "epochs=1", "batch_size=2", "grad_accum=1", "max_tokens=256"]
    done = subprocess.run(dpo, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    phases = [event["phase"] for event in events if event["event"] == "phase"]
    assert phases == ["data", "train", "export", "verify", "gate-before", "gate-after", "install"]
    result = events[-1]
    # The log gives an accepted-over-dismissed pair and a kept-edit pair (the dismissed "pass").
    pairs = [
        json.loads(line) for line in Path(result["adapter"]).parent.joinpath("pairs.jsonl").open()
    ]
    sources = [pair["source"] for pair in pairs]
    assert sources.count("accepted-vs-dismissed") == 1 and sources.count("kept-edit") == 1
    assert 1 <= sources.count("holes") <= 3
    assert result["check"]["passed"] and result["gate"]["cases"] == 4
    record = json.loads((repo / ".ghostwright" / "adapters" / "current.json").read_text())
    assert Path(result["installed"]).name == record["adapter"]
    assert record["peft_dir"] == result["adapter"] and "/dpo-" in record["peft_dir"]


def test_distill_command_prunes_checks_gates_and_installs_the_student(tmp_path: Path):
    """`ghostwright distill` as the language server runs it, at toy size on the real model:
    teacher logits cached, 16 of 18 blocks kept and trained, exported as a whole GGUF (f16 here:
    a 2-step student is too rough to survive 4-bit rounding), checked in llama.cpp, gated
    against the teacher, installed as the served model, loaded and asked for a completion."""
    import json

    from ghostwright.server.config import Settings
    from ghostwright.server.engine import open_completer
    from ghostwright.server.installs.records import with_installed_adapter
    from ghostwright.server.pipeline.complete import CompletionRequest

    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    command = [
        *(sys.executable, "-m", "ghostwright.server", "distill", "--repo", str(repo)),
        *("--progress-json", "--gate-cases", "4", "--min-retained", "0", BASE),
        *("batch_size=2", "max_tokens=64", "max_steps=2", "teacher_examples=8", "lr=1e-5"),
        *("keep_layers=16", "quantization=f16", "checkpoint_every=1", "eval_every=0"),
        "replay_share=0",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    phases = [event["phase"] for event in events if event["event"] == "phase"]
    assert phases == [
        *("data", "teacher", "train", "export", "verify"),
        *("gate-before", "gate-after", "install"),
    ]
    teacher = [event for event in events if event.get("phase") == "teacher" and "done" in event]
    assert teacher[-1]["done"] == teacher[-1]["total"] == 1  # 8 examples: one shard
    result = events[-1]
    assert result["event"] == "done" and result["check"]["passed"], result["check"]
    assert len(result["keep_layers"]) == 16
    kept = trimmed_vocabulary(Path(result["student"]).parent, Path(result["installed"]))
    assert gguf_summary(Path(result["installed"])) == ("gemma3", 16, kept, "Q4_0")
    record = json.loads((repo / ".ghostwright" / "adapters" / "current.json").read_text())
    assert Path(result["installed"]).name == record["model"] and "adapter" not in record
    assert record["before"]["n"] == record["after"]["n"] == 4
    assert record["retained"] >= 0 and record["speedup"] > 0

    # Under `default` the student replaces the model (under `auto` it is one more tier).
    settings = with_installed_adapter(replace(Settings(), model="default", max_tokens=8), repo)
    assert settings.model == result["installed"] and settings.adapter == ""
    with open_completer(settings) as completer:
        result = completer.complete(CompletionRequest("def f(x):\n    return ", 1, 11))
    assert result.error == ""


def test_context_distillation_from_a_fine_tuned_teacher(tmp_path: Path):
    """`ghostwright distill --student context` at toy size: a toy teacher adapter is trained and
    installed first; the data pairs each hole's served prompt (with retrieved snippets) with a
    short bare one; the LoRA student is exported, checked, gated against the teacher with
    snippets, and installed as a whole model (LoRA merged, Q4_0 output layer it trained with) to
    be served with its short window and retrieval off."""
    import json

    from ghostwright.server.config import Settings
    from ghostwright.server.installs.records import with_installed_adapter

    repo = tmp_path / "repo"
    repo.mkdir()
    helpers = "def scale(value, factor):\n    return value * factor\n"
    (repo / "helpers.py").write_text(helpers)
    for number in range(6):
        uses = (
            f"from helpers import scale\n\n\ndef grow{number}(x):\n    return scale(x, {number})\n"
        )
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}") + uses)
    server = (sys.executable, "-m", "ghostwright.server")
    train = [*server, "train", "--repo", str(repo), "--gate-cases", "2", "--force", *TOY]
    done = subprocess.run([*train, "max_steps=1", "replay_share=0"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    command = [
        *(*server, "distill", "--student", "context", "--repo", str(repo)),
        *("--progress-json", "--gate-cases", "4", "--min-retained", "0", BASE),
        *("max_steps=2", "teacher_examples=4", "batch_size=2", "student_prompt_tokens=96"),
        *("max_tokens=256", "teacher_max_tokens=1800", "checkpoint_every=1", "eval_every=0"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["event"] == "done" and result["check"]["passed"], result["check"]
    dataset = Path(
        json.loads((Path(result["student"]).parent / "train-config.json").read_text())["dataset"]
    )
    row = json.loads((dataset / "train.jsonl").read_text().splitlines()[0])
    assert len(row["teacher_prompt"]) > len(row["prompt"])  # snippets and a longer window
    record = json.loads((repo / ".ghostwright" / "adapters" / "current.json").read_text())
    assert record["distilled"] == "context" and record["serve"]["prompt_tokens"] == 96
    assert Path(result["installed"]).name == record["model"] and "adapter" not in record
    assert result["gate"]["before"]["n"] == 4
    served = with_installed_adapter(Settings(), repo)
    assert served.model == result["installed"] and served.adapter == ""
    assert served.prompt_tokens == 96 and served.retrieval is False
    kept = trimmed_vocabulary(Path(result["student"]).parent, Path(result["installed"]))
    assert gguf_summary(Path(result["installed"])) == ("gemma3", 18, kept, "Q4_0")


def trimmed_vocabulary(run: Path, installed: Path) -> int:
    """The student's vocabulary size, after checking that its GGUF tokenizes every training
    text whose tokens it kept (the samples the teacher labelled at least) exactly as the full
    vocabulary does, renumbered, and the rest into tokens it has."""
    import json

    from ghostwright.indexer.llama_native import load_quietly
    from ghostwright.server.models import resolve_model
    from ghostwright.training.vocabulary import Vocabulary

    vocabulary = Vocabulary.load(run / "teacher" / "vocabulary.json")
    assert 1000 < len(vocabulary) < vocabulary.full_size == 262144
    config = json.loads((run / "train-config.json").read_text())
    rows = (Path(config["dataset"]) / "train.jsonl").read_text().splitlines()
    texts = [text for row in map(json.loads, rows) for text in (row["prompt"], row["completion"])]
    full = load_quietly(model_path=str(resolve_model("default")), vocab_only=True)
    trimmed = load_quietly(model_path=str(installed), vocab_only=True)
    same = 0
    try:
        for text in texts:
            expected = vocabulary.new_ids[full.tokenize(text.encode(), add_bos=True, special=True)]
            found = trimmed.tokenize(text.encode(), add_bos=True, special=True)
            assert found and max(found) < len(vocabulary)
            if (expected >= 0).all():
                assert found == expected.tolist(), text
                same += 1
        assert same >= 8, same
    finally:
        full.close()
        trimmed.close()
    return len(vocabulary)


def gguf_summary(path: Path) -> tuple[str, int, int, str]:
    """(architecture, blocks, vocabulary size, token embedding type) of a GGUF model."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.get_field("general.architecture").contents()
    blocks = reader.get_field(f"{arch}.block_count").contents()
    embedding = next(t for t in reader.tensors if t.name == "token_embd.weight")
    return arch, blocks, int(embedding.shape[1]), embedding.tensor_type.name


def test_sequence_distillation_into_a_model_with_another_vocabulary(
    tmp_path: Path, smollm2_model_path: Path
):
    """`ghostwright distill --student sequence` at toy size: gemma-3-270m (262k Gemma
    vocabulary) completes the training holes; a LoRA on SmolLM2-135M (49k vocabulary) learns
    those completions in its own prompt format, is merged and exported as a whole SmolLM2
    GGUF, checked, gated against the teacher and installed as the served model."""
    import json

    from ghostwright.server.config import Settings
    from ghostwright.server.installs.records import with_installed_adapter

    student_model = smollm2_model_path
    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    command = [
        *(sys.executable, "-m", "ghostwright.server", "distill", "--student", "sequence"),
        *("--repo", str(repo), "--progress-json", "--gate-cases", "4", "--min-retained", "0"),
        f"student_model={student_model}",
        *TOY,
        "max_steps=2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["event"] == "done" and result["check"]["passed"], result["check"]
    config = json.loads((Path(result["student"]).parent / "train-config.json").read_text())
    manifest = json.loads((Path(config["dataset"]) / "manifest.json").read_text())
    assert manifest["kind"] == "sequence" and manifest["samples"]["train"]
    record = json.loads((repo / ".ghostwright" / "adapters" / "current.json").read_text())
    assert record["distilled"] == "sequence" and record["serve"] == {}
    served = with_installed_adapter(replace(Settings(), model="default"), repo)
    assert served.model == result["installed"] and served.adapter == ""
    weighed = with_installed_adapter(Settings(), repo)  # one more tier for `auto`
    assert Path(weighed.installed_student) == Path(result["installed"]).parent
    assert gguf_summary(Path(result["installed"])) == ("llama", 30, 49152, "Q4_0")
