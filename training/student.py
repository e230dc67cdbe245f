"""The teacher and the students of distillation, as transformers models.

The teacher is what the server runs: its GGUF loaded by transformers, with the installed adapter
(the peft folder it was exported from) merged in. The layer-pruned student is that teacher with
some transformer blocks left out: evenly spaced, first and last kept, each kept block with its
own weights and attention type (Gemma 3 mixes sliding-window and global layers; the exported
GGUF records the kept pattern layer by layer). Fewer blocks make prompt processing, where a
cold completion spends most of its time on a CPU, proportionally cheaper.

Which blocks go: by default those that change their input least (block influence, 1 - cosine
similarity between a block's input and output hidden states, averaged over tokens: ShortGPT, Men
et al. 2024); measured on the repository's validation samples before training, it left a
12-of-18 gemma-270m at cross-entropy 10.4 where evenly spaced blocks left it at 21.1 (teacher
1.4): distillation heals it from a far better start. `prune: even` spaces them evenly instead.
"""

from __future__ import annotations

import json
import logging
import random
from typing import TYPE_CHECKING, Any

import torch

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import collate, length_batches
from ghostwright.training.embeddings import round_embedding
from ghostwright.training.models import (
    load_adapter_weights,
    load_causal_lm,
    load_model,
    starting_adapter,
)

if TYPE_CHECKING:
    from ghostwright.training.loop import Run

logger = logging.getLogger(__name__)


def load_teacher(model: str, peft_dir: str = "") -> tuple[Any, Any]:
    """(teacher in fp32 with the adapter merged, tokenizer); `peft_dir` empty: the model alone."""
    teacher, tokenizer = load_causal_lm(model)
    if peft_dir:
        from peft import PeftModel

        try:
            teacher = PeftModel.from_pretrained(teacher, peft_dir).merge_and_unload()
        except (OSError, ValueError, RuntimeError) as exc:
            raise GhostwrightError(f"cannot merge the teacher's adapter {peft_dir}: {exc}") from exc
    teacher.eval()
    return teacher, tokenizer


@torch.no_grad()
def block_influence(model: Any, batches: list[dict[str, torch.Tensor]]) -> list[float]:
    """Per block, the mean of 1 - cos(input, output) over the real tokens of `batches`."""
    layers = model.get_decoder().layers
    totals = [0.0] * len(layers)

    def measure(index: int) -> Any:
        def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
            before = kwargs.get("hidden_states", args[0] if args else None)
            after = output[0] if isinstance(output, tuple) else output
            change = 1 - torch.nn.functional.cosine_similarity(before, after, dim=-1)
            totals[index] += float(change[mask].float().mean())

        return hook

    handles = [
        layer.register_forward_hook(measure(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    try:
        for batch in batches:
            mask = batch["attention_mask"].bool()
            model.get_decoder()(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            )
    finally:
        for handle in handles:
            handle.remove()
    return [total / max(1, len(batches)) for total in totals]


def most_influential(influence: list[float], keep: int) -> list[int]:
    """The `keep` blocks with the highest influence, in model order."""
    if not 1 <= keep <= len(influence):
        raise GhostwrightError(f"keep_layers must be between 1 and {len(influence)}, not {keep}")
    ranked = sorted(range(len(influence)), key=lambda i: influence[i], reverse=True)
    return sorted(ranked[:keep])


def kept_layers(total: int, keep: int) -> list[int]:
    """`keep` block indices out of `total`, evenly spaced, the first and the last among them."""
    if not 1 <= keep <= total:
        raise GhostwrightError(f"keep_layers must be between 1 and {total}, not {keep}")
    if keep == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def prune_layers(model: Any, keep: list[int]) -> Any:
    """`model` (changed in place) with only the blocks in `keep`, renumbered from 0."""
    decoder = model.get_decoder()
    layers = decoder.layers
    decoder.layers = torch.nn.ModuleList(layers[i] for i in keep)
    for position, layer in enumerate(decoder.layers):
        for module in layer.modules():  # attention (and its KV cache slot) knows its index
            if hasattr(module, "layer_idx"):
                module.layer_idx = position
    config = model.config
    config.num_hidden_layers = len(keep)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in keep]
    return model


def train_blocks_only(model: Any) -> None:
    """Everything trains but the token embedding: it is also the 262k-wide output layer
    (tied) and the student shares the teacher's vocabulary, so it stays as the teacher has it."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.get_input_embeddings().weight.requires_grad_(False)


def is_peft_student(config: dict[str, Any]) -> bool:
    """The trained weights are a peft LoRA (else the student's own tensors)."""
    training = config.get("student_training", "lora")
    return config["student"] == "context" or (config["student"] == "family" and training == "lora")


def context_student(config: dict[str, Any]) -> tuple[Any, Any]:
    """The teacher's model continuing the teacher's own adapter (a fresh LoRA when there is
    none), with the embedding it will be served with."""
    own = {**config, "init_adapter": config["teacher_adapter"]}
    student, tokenizer = load_model(own)
    if start := starting_adapter(own):
        load_adapter_weights(student, start)
    round_embedding(student, config["embedding_quantization"])
    return student, tokenizer


def family_student(config: dict[str, Any]) -> tuple[Any, Any]:
    """A LoRA over the smaller model (continuing `init_adapter` if set), or the model itself
    with every weight trainable but the token embedding: its rows are read one per token,
    and leaving them out spares the optimizer state of a fifth of the 0.5B."""
    if config.get("student_training", "lora") == "lora":
        student, tokenizer = load_model(config)
        if start := starting_adapter(config):
            load_adapter_weights(student, start)
    else:
        student, tokenizer = load_causal_lm(config["model"])
        student.get_input_embeddings().weight.requires_grad_(False)
    round_embedding(student, config["embedding_quantization"])
    return student, tokenizer


def prune_into_student(run: Run) -> None:
    """The teacher in `run` (done labelling) becomes the pruned student: the embedding it
    will be served with, the chosen blocks, all of them trainable."""
    round_embedding(run.model, run.config["embedding_quantization"])
    total = run.model.config.num_hidden_layers
    run.keep = blocks_to_keep(run, total)
    prune_layers(run.model, run.keep)
    train_blocks_only(run.model)
    logger.info("student: blocks %s of %d", run.keep, total)


def blocks_to_keep(run: Run, total: int) -> list[int]:
    """Blocks by influence on validation samples (or evenly spaced); decided once per run
    (`teacher/blocks.json`, beside the cache) so a resumed run prunes the same ones."""
    path = run.run_dir / "teacher" / "blocks.json"
    if path.is_file():
        return json.loads(path.read_text())["keep"]
    count, method = run.config["keep_layers"], run.config["prune"]
    if method == "even":
        keep, influence = kept_layers(total, count), None
    elif method == "importance":
        sample = run.validation_examples or run.train_examples
        chosen = random.Random(run.config["seed"]).sample(sample, min(len(sample), 32))
        pad = run.tokenizer.pad_token_id or 0
        batches = [collate([chosen[i] for i in ids], pad) for ids in length_batches(chosen, 4)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.bf16):
            influence = block_influence(run.model, batches)
        keep = most_influential(influence, count)
    else:  # the recipe's check_choices allows nothing else
        raise AssertionError(method)
    path.write_text(json.dumps({"keep": keep, "method": method, "influence": influence}))
    return keep
