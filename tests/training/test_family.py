"""Same-family distillation and the qwen2 export path on tiny random qwen2 GGUFs built in the test
(`conftest.tiny_qwen2_gguf`): the teacher labels in llama.cpp what transformers predicts, the
student learns it and resumes exactly, and LoRA adapters and whole students come out of the
exporter as llama.cpp reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ghostwright.training import checkpoints, loop  # noqa: E402
from ghostwright.training.batches import Example  # noqa: E402
from ghostwright.training.config import load_config  # noqa: E402
from ghostwright.training.losses import IGNORE  # noqa: E402
from ghostwright.training.models import load_causal_lm  # noqa: E402
from ghostwright.training.recipes import distill  # noqa: E402

TEXTS = ["def add(a, b):\n    return a + b\n", "class Cart:\n    def total(self):\n"]


def family_config(teacher: Path, student: Path, data: Path, run: Path, **overrides) -> dict:
    values = [
        f"model={student}",
        f"student_model={student}",
        f"dataset={data}",
        f"output_dir={run}",
        f"teacher_cache={run.parent / 'teacher-cache'}",
        "batch_size=2",
        "max_tokens=128",
        "teacher_max_tokens=128",
        "lr=3e-3",
        "warmup_steps=1",
        "checkpoint_every=3",
        "eval_every=0",
        "precision=fp32",
        "replay_share=0",
        "distill.top_k=8",
        "distill.kd_weight_start=1.0",
        "vocabulary=full",
        *(f"{key}={value}" for key, value in overrides.items()),
    ]
    config = load_config(None, values, "distill_family.yaml")
    config["teacher_model"] = str(teacher)  # as `ghostwright distill` sets the family's roles
    config["teacher_examples"] = config["max_steps"] * config["batch_size"]
    return config


@torch.no_grad()
def divergence_from_teacher(recipe: loop.Run) -> float:
    """Mean forward KL from the cached teacher over every training example."""
    from ghostwright.training.batches import collate
    from ghostwright.training.losses import distillation_loss, supervised_states

    total, count = 0.0, 0
    for indices in recipe.batches:
        batch = collate([recipe.train_examples[i] for i in indices], 0)
        hidden = recipe.model.get_decoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        states, targets = supervised_states(hidden, batch["labels"])
        values, ids = recipe.teacher_cache.batch(indices)
        logits = recipe.model.get_output_embeddings()(states)
        total += float(distillation_loss(logits, values, ids)) * len(targets)
        count += len(targets)
    return total / count


def test_the_llama_cpp_teacher_labels_what_transformers_predicts(tiny_qwen2_teacher):
    """The family teacher labels in llama.cpp from its GGUF; its top-k per completion token
    are transformers' top-k of the same GGUF, in `supervised_states` order."""
    from ghostwright.training.llama_teacher import LlamaTeacher

    model, _ = load_causal_lm(str(tiny_qwen2_teacher))
    examples = [
        Example([5, 40, 41, 42, 43], [IGNORE, IGNORE, IGNORE, 42, 43]),
        Example([5, 50, 51], [IGNORE, IGNORE, 51]),
    ]
    teacher = LlamaTeacher(tiny_qwen2_teacher, n_ctx=64)
    try:
        shard = teacher.top_k(examples, 4)
        cross_entropy = teacher.cross_entropy(examples)
    finally:
        teacher.close()
    with torch.no_grad():
        first = model(input_ids=torch.tensor([examples[0].ids])).logits[0]
        second = model(input_ids=torch.tensor([examples[1].ids])).logits[0]
    rows = torch.stack([first[2], first[3], second[1]])
    expected = torch.topk(rows, 4)
    assert shard["lengths"].tolist() == [2, 1]
    assert shard["ids"].tolist() == expected.indices.tolist()
    assert torch.allclose(torch.from_numpy(shard["values"]).float(), expected.values, atol=1e-2)
    targets = torch.tensor([42, 43, 51])
    reference = torch.nn.functional.cross_entropy(rows, targets)
    assert cross_entropy == pytest.approx(float(reference), rel=1e-3)


def test_family_distillation_learns_and_resumes_exactly(
    tiny_qwen2_teacher, tiny_qwen2_student, dataset, tmp_path
):
    def recipe(name: str, steps: int, **overrides) -> loop.Run:
        config = family_config(
            tiny_qwen2_teacher,
            tiny_qwen2_student,
            dataset,
            tmp_path / name,
            max_steps=steps,
            **overrides,
        )
        return distill.setup(config)

    # only the teacher to learn from: its random predictions and the labels disagree
    whole = recipe("whole", 20, lr=1e-2, **{"distill.kd_weight_end": 1.0})
    before = divergence_from_teacher(whole)
    summary = loop.train(whole)
    assert divergence_from_teacher(whole) < 0.8 * before
    assert summary["teacher_validation_loss"] > 0

    straight = recipe("straight", 6)
    loop.train(straight)
    first = recipe("split", 6)

    def stop_at_three(step: int, steps: int, record: dict) -> None:
        first.stop_requested = step == 3

    loop.train(first, stop_at_three)
    labels = {path: path.stat().st_mtime_ns for path in (tmp_path / "teacher-cache").rglob("*")}
    second = recipe("split", 6)
    assert checkpoints.load_checkpoint(second) and second.step == 3
    loop.train(second)
    # the teacher never ran again: the split run shares the straight run's labels
    assert {path: path.stat().st_mtime_ns for path in labels} == labels
    assert len(list((tmp_path / "teacher-cache").iterdir())) == 2  # 20 steps' and 6 steps'
    for name, tensor in checkpoints.trainable_state(straight).items():
        assert torch.allclose(tensor, checkpoints.trainable_state(second)[name], atol=1e-6), name


@pytest.mark.parametrize("training", ["lora", "full"])
def test_a_family_student_exports_as_a_whole_qwen2_gguf_llama_cpp_agrees_with(
    training, tiny_qwen2_teacher, tiny_qwen2_student, dataset, tmp_path
):
    """The trained student (LoRA merged, or every weight but the embedding) written over the
    student's own GGUF and read back by llama.cpp: the whole-model logit check passes, and the
    training did change what the model predicts."""
    from ghostwright.training.export import export_model_gguf
    from ghostwright.training.publish import _merged
    from ghostwright.training.verify import check_adapter

    config = family_config(
        tiny_qwen2_teacher,
        tiny_qwen2_student,
        dataset,
        tmp_path / "run",
        max_steps=8,
        student_training=training,
    )
    recipe = distill.setup(config)
    loop.train(recipe)
    model = _merged(recipe.model)
    exported = export_model_gguf(model, tiny_qwen2_student, tmp_path / "student.gguf", "f16")
    check = check_adapter(model, exported, None, TEXTS)
    assert check.passed and check.kl_mean < 1e-3, check
    untrained = check_adapter(model, tiny_qwen2_student, None, TEXTS)
    assert untrained.kl_mean > 100 * check.kl_mean  # the export carries what was learnt


def test_a_qwen2_lora_adapter_exports_to_gguf_and_llama_cpp_applies_it(
    tiny_qwen2_student, tmp_path
):
    """qwen2 stores q/k unpermuted (unlike llama): the adapter's factors go in as they are, and
    llama.cpp + the GGUF adapter predicts what transformers + peft predicts."""
    from ghostwright.training.config import load_config
    from ghostwright.training.export import export_lora_gguf
    from ghostwright.training.models import load_model
    from ghostwright.training.verify import check_adapter

    config = load_config(None, [f"model={tiny_qwen2_student}"], "lora_default.yaml")
    model, _ = load_model(config)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)  # a fresh LoRA is zero: give it an effect
    model.save_pretrained(tmp_path / "adapter")
    adapter = export_lora_gguf(tmp_path / "adapter", tiny_qwen2_student, tmp_path / "a.gguf")
    check = check_adapter(model, tiny_qwen2_student, adapter, TEXTS)
    assert check.passed and check.kl_mean < 1e-3, check
    without = check_adapter(model, tiny_qwen2_student, None, TEXTS)
    assert without.kl_mean > 100 * check.kl_mean
