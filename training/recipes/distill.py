"""Distillation recipe: a student trained to predict what the teacher predicts.

The teacher is the model the server runs (GGUF through transformers, installed adapter merged).
Before training it runs once over the training examples and its top-k logits per completion
position are cached on disk (`teacher_cache`). The student trains on a mix of a divergence from
the cached teacher distribution and cross-entropy on the labels (`losses`), the mix moving
linearly over the run. Two students:

- `pruned`: the teacher itself with its blocks pruned to `keep_layers` (the token embedding,
  which is also the output layer, stays frozen).
- `context`: the same model with a LoRA (starting from the teacher's adapter); the teacher reads
  each hole with the repository snippets retrieval found, the student without them
  (`data/served.py`).

- `family`: a smaller model of the teacher's family with the same vocabulary (the 0.5B for the
  1.5B), a LoRA over it or all its weights but the token embedding (`student_training`). The
  teacher labels in llama.cpp from its own GGUF (`llama_teacher`), as it is served: 3x faster
  there than through transformers on a CPU. `ghostwright distill --student family --stage a`
  restores the student's FIM on the standard library (installed user-wide); `--stage b` then
  teaches it the repository.

All are exported as whole GGUF models (the LoRA merged). The student's token embedding is
rounded to the GGUF type it will be served with (`embedding_quantization`, `export.round_embedding`)
before it trains, after the teacher has labelled the data: it learns to match the teacher with the
cheaper output layer it will really have. With `vocabulary: repository` (the default) the student
also keeps only the tokens its samples need (`training/vocabulary.py`): its output layer shrinks
about ninefold, the samples and the cached teacher logits are renumbered into it.

Everything else (data, batches, schedule, checkpoints and exact resume, signals, metrics) is the
LoRA recipe's. The validation loss is plain cross-entropy, so student and teacher compare.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.models import resolve_model
from ghostwright.training.batches import Example, collate, length_batches, load_example_pairs
from ghostwright.training.export import round_embedding
from ghostwright.training.losses import (
    DIVERGENCES,
    distillation_loss,
    focal_cross_entropy,
    linear_schedule,
    softcapped,
    supervised_states,
)
from ghostwright.training.recipes.lora_finetune import (
    LoRAFinetuneRecipe,
    load_adapter_weights,
    load_causal_lm,
    load_model,
    starting_adapter,
)
from ghostwright.training.vocabulary import GgufVocabulary

if TYPE_CHECKING:
    from ghostwright.training.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

STUDENTS = ("pruned", "context", "family")
STUDENT_TRAINING = ("lora", "full")
PRUNING = ("importance", "even")


def check_choices(config: dict[str, Any]) -> None:
    """Refuse a misspelt choice before the teacher spends minutes on the data."""
    from ghostwright.server.models import is_gguf_spec
    from ghostwright.training.export import EMBEDDING_QUANTIZATIONS, QUANTIZATIONS
    from ghostwright.training.vocabulary import VOCABULARIES

    choices = {
        "student": (config["student"], STUDENTS),
        "prune": (config["prune"], PRUNING),
        "distill.divergence": (config["distill"]["divergence"], DIVERGENCES),
        "quantization": (config["quantization"], ("auto", *QUANTIZATIONS)),
        "embedding_quantization": (config["embedding_quantization"], EMBEDDING_QUANTIZATIONS),
        "vocabulary": (config["vocabulary"], VOCABULARIES),
        "student_training": (config.get("student_training", "lora"), STUDENT_TRAINING),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise GhostwrightError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    if config["vocabulary"] == "repository" and not is_gguf_spec(config["model"]):
        raise GhostwrightError(
            "vocabulary=repository trims a GGUF teacher's vocabulary; use vocabulary=full"
        )


class DistillRecipe(LoRAFinetuneRecipe):
    """One distillation run in `config["output_dir"]`; the student is `self.model`."""

    cache_progress: Any = None  # (done, total) of teacher shards, for the caller's progress
    keep: list[int] | None = None  # the pruned student's blocks
    teacher_examples: list[Example] | None = None  # context: the teacher's own prompts
    vocabulary: Vocabulary | None = None  # the student's trimmed vocabulary (None: the teacher's)
    full_vocabulary: GgufVocabulary | None = None  # the teacher's, when it is to be trimmed

    @property
    def vocabulary_size(self) -> int | None:
        """The student's trimmed vocabulary size; None when it keeps the teacher's."""
        return len(self.vocabulary) if self.vocabulary is not None else None

    @property
    def reads_context(self) -> bool:
        return self.config["student"] == "context"

    @property
    def of_family(self) -> bool:
        """The student is another model (`config["model"]`); the teacher is `teacher_model`."""
        return self.config["student"] == "family"

    @property
    def peft_student(self) -> bool:
        """The trained weights are a peft LoRA (else the student's own tensors)."""
        return self.reads_context or (
            self.of_family and self.config.get("student_training", "lora") == "lora"
        )

    def _build_model(self) -> tuple[Any, Any]:
        from ghostwright.training.student import load_teacher

        check_choices(self.config)
        if self.config["vocabulary"] == "repository":  # refused now if it cannot be trimmed
            self.full_vocabulary = GgufVocabulary.read(resolve_model(self.config["model"]))
        if self.of_family:
            return self._family_student()
        teacher, tokenizer = load_teacher(self.config["model"], self.config["teacher_adapter"])
        if not self.reads_context:
            return teacher, tokenizer  # pruned after it has labelled the data
        self.teacher = teacher
        # The student continues the teacher's own adapter (a fresh LoRA when there is none).
        own = {**self.config, "init_adapter": self.config["teacher_adapter"]}
        student, tokenizer = load_model(own)
        if start := starting_adapter(own):
            load_adapter_weights(student, start)
        round_embedding(student, self.config["embedding_quantization"])
        return student, tokenizer

    def _family_student(self) -> tuple[Any, Any]:
        """A LoRA over the smaller model (continuing `init_adapter` if set), or the model itself
        with every weight trainable but the token embedding: its rows are read one per token,
        and leaving them out spares the optimizer state of a fifth of the 0.5B."""
        if self.config.get("student_training", "lora") == "lora":
            student, tokenizer = load_model(self.config)
            if start := starting_adapter(self.config):
                load_adapter_weights(student, start)
        else:
            student, tokenizer = load_causal_lm(self.config["model"])
            student.get_input_embeddings().weight.requires_grad_(False)
        round_embedding(student, self.config["embedding_quantization"])
        return student, tokenizer

    def _examples(self, split: str, required: bool = True, folder: str = "") -> list[Example]:
        if not (self.reads_context and split == "train" and not folder):
            return super()._examples(split, required, folder)
        path = Path(self.config["dataset"]) / "train.jsonl"
        if not path.is_file():
            raise GhostwrightError(f"no train.jsonl in dataset {self.config['dataset']}")
        students, self.teacher_examples, too_long = load_example_pairs(
            path,
            self._tokenize,
            self.config["max_tokens"],
            self.config["teacher_max_tokens"],
            self._opening(),
        )
        self.too_long += too_long
        return students

    def _replay(self) -> list[Example]:
        return [] if self.reads_context else super()._replay()  # replay rows have no context

    def _teacher_identity(self) -> dict[str, Any]:
        """What the cached logits depend on: another teacher or data means another cache."""
        identity = {
            "model": self.config.get("teacher_model") or self.config["model"],
            "adapter": self.config["teacher_adapter"],
            "dataset": self.config["dataset"],
            "max_tokens": self.config["max_tokens"],
            "seed": self.config["seed"],
        }
        if self.of_family:
            identity |= {"student": self.config["model"], "labelled_by": "llama.cpp"}
        return identity

    def _before_training(self) -> None:
        from ghostwright.training.student import prune_layers, train_blocks_only
        from ghostwright.training.teacher_cache import build_teacher_cache, torch_labeller

        self._limit_examples(self.config["teacher_examples"])
        if self.of_family:
            self._label_in_llama_cpp()
            if self.config["vocabulary"] == "repository":
                self._trim_vocabulary()
            return
        top_k = self.config["distill"]["top_k"]
        teacher = self.teacher if self.reads_context else self.model
        pad_id = self.tokenizer.pad_token_id or 0
        self.teacher_cache = build_teacher_cache(
            torch_labeller(teacher, top_k, self.config["batch_size"], self.bf16, pad_id),
            self.teacher_examples or self.train_examples,
            self.run_dir / "teacher",
            identity=self._teacher_identity(),
            top_k=top_k,
            progress=self.cache_progress,
        )
        # Pruned: the teacher's own; context: the teacher without its snippets (the start).
        self.teacher_validation_loss = self._teacher_validation_loss()
        if self.reads_context:
            del self.teacher  # labelled everything it will be asked; the memory is the student's
        else:
            round_embedding(self.model, self.config["embedding_quantization"])  # teacher done
            total = self.model.config.num_hidden_layers
            self.keep = self._blocks_to_keep(total)
            prune_layers(self.model, self.keep)
            train_blocks_only(self.model)
            logger.info("student: blocks %s of %d", self.keep, total)
        if self.config["vocabulary"] == "repository":
            self._trim_vocabulary()

    def _label_in_llama_cpp(self) -> None:
        """The family teacher's top-k logits over the training examples and its cross-entropy
        on the validation sample, from its GGUF (and GGUF adapter) in llama.cpp; both cached in
        `teacher/`, so a resumed run only loads the model."""
        from ghostwright.training.llama_teacher import LlamaTeacher
        from ghostwright.training.teacher_cache import build_teacher_cache

        top_k = self.config["distill"]["top_k"]
        folder = self._shared_teacher_folder()
        teacher = LlamaTeacher(
            resolve_model(self.config["teacher_model"]),
            self.config["teacher_adapter"],
            n_ctx=self.config["max_tokens"],
        )
        try:
            self.teacher_cache = build_teacher_cache(
                lambda examples: teacher.top_k(examples, top_k),
                self.train_examples,
                folder,
                identity=self._teacher_identity(),
                top_k=top_k,
                progress=self.cache_progress,
            )
            path = folder / "validation.json"
            if path.is_file():
                self.teacher_validation_loss = json.loads(path.read_text())["loss"]
            else:
                self.teacher_validation_loss = teacher.cross_entropy(self.validation_sample())
                path.write_text(json.dumps({"loss": self.teacher_validation_loss}))
        finally:
            teacher.close()

    def _shared_teacher_folder(self) -> Path:
        """Where the family teacher's labels are kept: under `teacher_cache`, one folder per
        teacher, data and sample, so a second run on the same data (a full fine-tune after a
        LoRA, another learning rate) reuses them; else in the run."""
        if not self.config.get("teacher_cache"):
            return self.run_dir / "teacher"
        labelled = {
            **self._teacher_identity(),
            "top_k": self.config["distill"]["top_k"],
            "examples": len(self.train_examples),
            "teacher_examples": self.config["teacher_examples"],
        }
        digest = hashlib.sha256(json.dumps(labelled, sort_keys=True).encode()).hexdigest()
        return Path(self.config["teacher_cache"]) / digest[:16]

    def _trim_vocabulary(self) -> None:
        """The student keeps the tokens its samples use (`training/vocabulary.py`), decided once
        per run (`teacher/vocabulary.json`) so a resumed run trims the same; samples and cached
        teacher logits are renumbered into it."""
        from ghostwright.training.vocabulary import (
            ABSENT_LOGIT,
            Vocabulary,
            alphabet_of,
            choose_vocabulary,
            trim_embeddings,
        )

        path = self.run_dir / "teacher" / "vocabulary.json"
        if path.is_file():
            vocabulary = Vocabulary.load(path)
        else:
            texts = [self.tokenizer.decode(e.ids) for e in self.train_examples]
            texts += [self.tokenizer.decode(e.ids) for e in self.validation_examples]
            used = self._used_tokens(resolve_model(self.config["model"]), texts)
            general = self.config["vocabulary_general"]
            alphabet = alphabet_of(texts)
            vocabulary = choose_vocabulary(self.full_vocabulary, used, general, alphabet)
            vocabulary.save(path)
        renumber = vocabulary.renumber
        self.train_examples = [_renumbered(e, renumber) for e in self.train_examples]
        self.validation_examples = [_renumbered(e, renumber) for e in self.validation_examples]
        self.teacher_cache = self.teacher_cache.renumbered(vocabulary.new_ids, ABSENT_LOGIT)
        trim_embeddings(self.model, vocabulary)
        self.vocabulary = vocabulary
        logger.info("student vocabulary: %d of %d tokens", len(vocabulary), vocabulary.full_size)

    def _used_tokens(self, model_gguf: Path, texts: list[str]) -> set[int]:
        """Every token of the student's samples as transformers tokenized them and as
        llama.cpp, which serves the student, tokenizes their `texts` (they differ on a few long
        runs of spaces)."""
        from ghostwright.indexer.llama_native import load_quietly

        examples = self.train_examples + self.validation_examples
        used = {token for example in examples for token in example.ids}
        llm = load_quietly(model_path=str(model_gguf), vocab_only=True)
        try:
            for text in texts:
                used.update(llm.tokenize(text.encode(), add_bos=False, special=True))
        finally:
            llm.close()
        return used

    def _blocks_to_keep(self, total: int) -> list[int]:
        """Blocks by influence on validation samples (or evenly spaced); decided once per run
        (`teacher/blocks.json`, beside the cache) so a resumed run prunes the same ones."""
        from ghostwright.training.student import block_influence, kept_layers, most_influential

        path = self.run_dir / "teacher" / "blocks.json"
        if path.is_file():
            return json.loads(path.read_text())["keep"]
        count, method = self.config["keep_layers"], self.config["prune"]
        if method == "even":
            keep, influence = kept_layers(total, count), None
        elif method == "importance":
            sample = self.validation_examples or self.train_examples
            chosen = random.Random(self.config["seed"]).sample(sample, min(len(sample), 32))
            pad = self.tokenizer.pad_token_id or 0
            batches = [collate([chosen[i] for i in ids], pad) for ids in length_batches(chosen, 4)]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                influence = block_influence(self.model, batches)
            keep = most_influential(influence, count)
        else:  # check_choices allows nothing else
            raise AssertionError(method)
        path.write_text(json.dumps({"keep": keep, "method": method, "influence": influence}))
        return keep

    def _limit_examples(self, count: int) -> None:
        """Keep a seeded sample of `count` training examples: the teacher labels only what the
        student will see (0: all)."""
        if 0 < count < len(self.train_examples):
            rng = random.Random(self.config["seed"])
            chosen = rng.sample(range(len(self.train_examples)), count)
            self.train_examples = [self.train_examples[i] for i in chosen]
            if self.teacher_examples is not None:
                self.teacher_examples = [self.teacher_examples[i] for i in chosen]
            self.batches = length_batches(self.train_examples, self.config["batch_size"])

    def _teacher_validation_loss(self) -> float | None:
        """The teacher's cross-entropy on the validation sample (cached with the logits)."""
        path = self.run_dir / "teacher" / "validation.json"
        if path.is_file():
            return json.loads(path.read_text())["loss"]
        if not self.validation_examples:
            return None
        loss = self.validation_loss()
        path.write_text(json.dumps({"loss": loss}))
        return loss

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        head = softcapped(
            self.model.get_output_embeddings(),
            getattr(self.model.config, "final_logit_softcapping", None),
        )
        settings = self.config["distill"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.model.get_decoder()(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            states, targets = supervised_states(hidden, batch["labels"])
            if targets.numel() == 0:
                return hidden.sum() * 0.0, 0
            logits = head(states).float()
        cross_entropy = focal_cross_entropy(logits, targets, settings["focal_gamma"])
        if "index" not in batch:  # validation: cross-entropy alone, comparable with the teacher
            return cross_entropy, int(targets.numel())
        values, ids = self.teacher_cache.batch(batch["index"].tolist())
        divergence = distillation_loss(
            logits, values, ids, settings["divergence"], settings["temperature"]
        )
        weight = linear_schedule(
            settings["kd_weight_start"],
            settings["kd_weight_end"],
            self.step,
            self.config["max_steps"],
        )
        return weight * divergence + (1 - weight) * cross_entropy, int(targets.numel())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        if self.peft_student:
            return super().trainable_state()
        return {
            name: parameter.detach().clone()
            for name, parameter in self.model.named_parameters()
            if parameter.requires_grad
        }

    def load_trainable_state(self, weights: dict[str, torch.Tensor]) -> None:
        if self.peft_student:
            super().load_trainable_state(weights)
            return
        missing = set(self.trainable_state()) - set(weights)
        if missing:
            raise GhostwrightError(f"the checkpoint lacks {sorted(missing)[:3]}: another student")
        self.model.load_state_dict(weights, strict=False)

    def save_weights(self) -> Path:
        """The student's trained weights and how to rebuild it (`student.json`); the context
        student is a peft adapter folder, and so is a family student trained as a LoRA."""
        from safetensors.torch import save_file

        if self.peft_student:
            return super().save_weights()

        target = self.run_dir / "student"
        target.mkdir(exist_ok=True)
        save_file(
            {name: tensor.contiguous() for name, tensor in self.trainable_state().items()},
            str(target / "weights.safetensors"),
        )
        description = {
            "teacher": self.config.get("teacher_model") or self.config["model"],
            "student_base": self.config["model"] if self.of_family else None,
            "teacher_adapter": self.config["teacher_adapter"],
            "keep_layers": self.keep,
            "vocabulary": self.vocabulary_size,
        }
        (target / "student.json").write_text(json.dumps(description, indent=2))
        return target

    def _summary(self) -> dict:
        summary = super()._summary()
        summary["teacher_validation_loss"] = self.teacher_validation_loss
        summary["keep_layers"] = self.keep
        summary["vocabulary"] = self.vocabulary_size
        return summary


def _renumbered(example: Example, renumber: Callable[[Sequence[int]], list[int]]) -> Example:
    return Example(renumber(example.ids), renumber(example.labels))
