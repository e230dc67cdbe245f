"""Distillation on tiny random models: pruning, the teacher cache, training and exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ghostwright.server.errors import GhostwrightError  # noqa: E402
from ghostwright.training import checkpoints, loop  # noqa: E402
from ghostwright.training.batches import Example  # noqa: E402
from ghostwright.training.config import load_config  # noqa: E402
from ghostwright.training.losses import IGNORE  # noqa: E402
from ghostwright.training.recipes import distill  # noqa: E402
from ghostwright.training.student import (  # noqa: E402
    block_influence,
    kept_layers,
    load_teacher,
    most_influential,
    prune_layers,
)
from ghostwright.training.teacher_cache import build_teacher_cache, torch_labeller  # noqa: E402


def config_for(model: Path, data: Path, run: Path, **overrides) -> dict:
    values = [
        f"model={model}",
        f"dataset={data}",
        f"output_dir={run}",
        "batch_size=2",
        "max_tokens=128",
        "lr=3e-3",
        "warmup_steps=1",
        "checkpoint_every=3",
        "eval_every=0",
        "precision=fp32",
        "keep_layers=2",
        "replay_share=0",
        "distill.top_k=8",
        "vocabulary=full",  # trimming needs a GGUF teacher: the whole-path tests trim
        *(f"{key}={value}" for key, value in overrides.items()),
    ]
    return load_config(None, values, "distill_default.yaml")


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


def test_kept_layers_are_evenly_spaced_with_first_and_last():
    assert kept_layers(18, 12) == [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17]
    assert kept_layers(18, 9) == [0, 2, 4, 6, 8, 11, 13, 15, 17]
    assert kept_layers(4, 1) == [3] and kept_layers(4, 4) == [0, 1, 2, 3]
    with pytest.raises(GhostwrightError, match="keep_layers must be between 1 and 4"):
        kept_layers(4, 5)


def test_most_influential_keeps_the_blocks_that_change_most_in_model_order():
    assert most_influential([0.8, 0.1, 0.3, 0.05, 0.2], 3) == [0, 2, 4]
    with pytest.raises(GhostwrightError, match="between 1 and 2"):
        most_influential([0.1, 0.2], 0)


def test_pruning_keeps_the_chosen_blocks_renumbered(tiny_teacher):
    model, tokenizer = load_teacher(str(tiny_teacher))
    layers = list(model.get_decoder().layers)
    ids = torch.tensor([tokenizer("def add(a, b):")["input_ids"]])
    influence = block_influence(model, [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}])
    assert len(influence) == 4 and all(value >= 0 for value in influence)

    prune_layers(model, [0, 3])
    kept = model.get_decoder().layers
    assert list(kept) == [layers[0], layers[3]] and model.config.num_hidden_layers == 2
    assert [layer.self_attn.layer_idx for layer in kept] == [0, 1]
    assert model(input_ids=ids).logits.shape[:2] == ids.shape  # and it still runs, with a cache
    assert model.generate(ids, max_new_tokens=2, do_sample=False).shape[1] == ids.shape[1] + 2


def test_a_rounded_embedding_is_on_the_gguf_grid_and_exports_without_loss(tiny_teacher):
    """The student trains with the Q4_0 embedding it will be served with: rounding changes
    the values once, and quantizing them again (what the export does) changes nothing."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    from ghostwright.training.embeddings import round_embedding

    model, _ = load_teacher(str(tiny_teacher))
    original = model.get_input_embeddings().weight.detach().clone()
    head = model.get_output_embeddings().weight.detach().clone()  # untied in this model
    round_embedding(model, "default")
    assert torch.equal(model.get_input_embeddings().weight, original)  # llama.cpp's own choice
    round_embedding(model, "q4_0")
    rounded = model.get_input_embeddings().weight.detach()
    assert not torch.equal(rounded, original)
    assert (rounded - original).abs().max() < original.abs().max() / 7  # 4 bits of its block
    q4_0 = GGMLQuantizationType.Q4_0
    for values in (rounded, model.get_output_embeddings().weight.detach()):
        assert np.array_equal(
            quants.dequantize(quants.quantize(values.numpy(), q4_0), q4_0), values
        )
    assert not torch.equal(model.get_output_embeddings().weight, head)  # the output layer too


@pytest.mark.parametrize("tied", [True, False])
def test_a_trimmed_vocabulary_keeps_exactly_the_kept_logits(tied, make_tiny_llama):
    """Trimming the embedding (and output layer) changes nothing but which logits exist: on
    renumbered ids the trimmed model's logits are the full model's at the kept tokens."""
    import numpy as np

    from ghostwright.training.vocabulary import Vocabulary, trim_embeddings

    model = make_tiny_llama(40, layers=1, tied=tied).eval()
    vocabulary = Vocabulary(np.array([0, 1, 2, 5, 8, 13, 21, 34]), 40)
    ids = [1, 5, 34, 8, 21]
    with torch.no_grad():
        full = model(input_ids=torch.tensor([ids])).logits[0]
    trim_embeddings(model, vocabulary)
    with torch.no_grad():
        trimmed = model(input_ids=torch.tensor([vocabulary.renumber(ids)])).logits[0]
    assert trimmed.shape == (5, 8) and model.config.vocab_size == 8
    assert torch.allclose(trimmed, full[:, vocabulary.kept], atol=1e-5)
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert (head.weight is embedding.weight) == tied


def test_cached_teacher_logits_follow_the_student_into_its_vocabulary():
    """Kept tokens are renumbered; a token the student lacks keeps its place with a logit too
    low to matter, so the divergence is over what the student can say and stays finite."""
    import numpy as np

    from ghostwright.training.losses import distillation_loss
    from ghostwright.training.teacher_cache import TeacherCache
    from ghostwright.training.vocabulary import ABSENT_LOGIT, Vocabulary

    cache = TeacherCache(
        [np.array([[3.0, 2.0, 1.0]], dtype=np.float16)], [np.array([[7, 4, 2]], dtype=np.int32)]
    )
    vocabulary = Vocabulary(np.array([0, 2, 7]), 10)  # token 4 left out
    values, ids = cache.renumbered(vocabulary.new_ids, ABSENT_LOGIT).batch([0])
    assert ids.tolist() == [[2, 0, 1]] and values.tolist() == [[3.0, ABSENT_LOGIT, 1.0]]
    student = torch.tensor([[0.0, 1.0, 3.0]])
    loss = distillation_loss(student, values, ids)
    # the teacher renormalised over tokens 7 and 2: softmax(3, 1)
    p = torch.softmax(torch.tensor([3.0, 1.0]), 0)
    q = torch.log_softmax(student[0], 0)[[2, 1]]
    assert torch.isfinite(loss) and torch.isclose(loss, (p * (p.log() - q)).sum(), atol=1e-4)


def test_teacher_cache_holds_its_top_k_per_completion_token_and_is_made_once(
    tiny_teacher, tmp_path
):
    model, _ = load_teacher(str(tiny_teacher))
    examples = [
        Example([1, 5, 6, 7, 8], [IGNORE, IGNORE, IGNORE, 7, 8]),  # two completion tokens
        Example([1, 9, 10], [IGNORE, IGNORE, 10]),  # one
    ]
    label = torch_labeller(model, top_k=3, batch_size=2, bf16=False, pad_id=0)
    build = dict(identity={"model": "tiny"}, top_k=3)
    cache = build_teacher_cache(label, examples, tmp_path, **build)
    values, ids = cache.batch([1, 0])  # in the order the loss visits positions
    with torch.no_grad():
        first = model(input_ids=torch.tensor([examples[0].ids])).logits[0]
        second = model(input_ids=torch.tensor([examples[1].ids])).logits[0]
    expected = torch.topk(torch.stack([second[1], first[2], first[3]]), 3)
    assert ids.tolist() == expected.indices.tolist()
    assert torch.allclose(values, expected.values, atol=1e-2)  # stored as float16

    shard = next(tmp_path.glob("shard-*.npz"))
    written = shard.stat().st_mtime_ns
    build_teacher_cache(label, examples, tmp_path, **build)
    assert shard.stat().st_mtime_ns == written  # the teacher did not run again
    with pytest.raises(GhostwrightError, match="another teacher's logits"):
        build_teacher_cache(label, examples, tmp_path, **{**build, "identity": {"model": "x"}})


def test_distillation_learns_and_resumes_exactly(tiny_teacher, dataset, tmp_path):
    whole = distill.setup(config_for(tiny_teacher, dataset, tmp_path / "whole", max_steps=20))
    assert len(whole.keep) == 2 and whole.model.config.num_hidden_layers == 2
    before = divergence_from_teacher(whole)
    summary = loop.train(whole)
    assert divergence_from_teacher(whole) < 0.8 * before
    assert summary["teacher_validation_loss"] > 0 and summary["keep_layers"] == whole.keep

    config = config_for(tiny_teacher, dataset, tmp_path / "split", max_steps=6)
    straight = distill.setup(config_for(tiny_teacher, dataset, tmp_path / "straight", max_steps=6))
    loop.train(straight)
    first = distill.setup(config)

    def stop_at_three(step: int, steps: int, record: dict) -> None:
        first.stop_requested = step == 3

    loop.train(first, stop_at_three)
    shards = {path: path.stat().st_mtime_ns for path in (tmp_path / "split").glob("teacher/*")}
    second = distill.setup(config)
    assert checkpoints.load_checkpoint(second) and second.step == 3
    loop.train(second)
    assert {path: path.stat().st_mtime_ns for path in shards} == shards  # cache reused
    for name, tensor in checkpoints.trainable_state(straight).items():
        assert torch.allclose(tensor, checkpoints.trainable_state(second)[name], atol=1e-6), name
    saved = distill.save_weights(second)
    assert (saved / "weights.safetensors").is_file() and (saved / "student.json").is_file()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"student": "tiny"}, "student must be one of pruned, context, family, not 'tiny'"),
        ({"distill.divergence": "kl"}, "distill.divergence must be one of forward_kl"),
        ({"prune": "random"}, "prune must be one of importance, even"),
        ({"quantization": "q3"}, "quantization must be one of auto, q4_k_m"),
        ({"vocabulary": "code"}, "vocabulary must be one of full, repository"),
        ({"vocabulary": "repository"}, "vocabulary=repository trims a GGUF teacher's"),
    ],
)
def test_a_misspelt_choice_is_refused_before_any_work(override, message, dataset, tmp_path):
    with pytest.raises(GhostwrightError, match=message):
        distill.setup(config_for(tmp_path / "no-model", dataset, tmp_path, **override))
