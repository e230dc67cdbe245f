"""A student's own, smaller vocabulary: the tokens the repository's code uses.

While the editor types, the KV cache already holds the prompt and the time per generated token
decides; in a small model with a large vocabulary that time goes mostly to the output layer, which
multiplies the hidden state with every token's row. Gemma 3 has 262,144 tokens for 140 languages;
rich's training samples use 5,388 of them. Measured interleaved on the same prompt, a token takes
5.9 ms with 40,000 rows instead of 8.6 with all; typing with the KV cache, the context student
with 49,832 tokens answered 2.22x faster than its teacher, with Gemma's whole vocabulary 1.43x.

What is kept (`choose_vocabulary`): every token of the training samples, as transformers and as
llama.cpp tokenize them; the `general` best-scored pieces of the model's own vocabulary (the most
frequent in its training) among those written only in characters the samples use, so code the
samples never showed still finds its usual pieces (Gemma's best 24,000 overall are spread over
140 languages and missed "bracket" and "YES": 46 of 200 HumanEval single-line targets needed a
token left out, 14 with 48,000 in the repository's alphabet); every byte-fallback and
user-defined token (runs of newlines and spaces), and the special tokens. Then the merge paths:
llama.cpp's SentencePiece tokenizer builds a token by repeatedly joining the best-scoring
adjacent pair, so a token is reachable only when the pieces it is joined from exist;
`merge_path` replays that for every kept token and keeps what it forms on the way. With those,
any text whose tokens were all kept tokenizes to exactly the same tokens (renumbered) as with the
full vocabulary (all 2,682 texts of rich's samples), and other text falls back to shorter pieces
or bytes (rich's 200 first source files: 2.5% more tokens).

Only SentencePiece vocabularies (`tokenizer.ggml.model` "llama": Gemma) are trimmed; a BPE
vocabulary would need its merge list rewritten too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gguf
import numpy as np

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.embeddings import embedding_layers

if TYPE_CHECKING:
    from ghostwright.training.loop import Run

VOCABULARIES = ("full", "repository")
TOKEN_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type")
ALWAYS_KEPT = (gguf.TokenType.BYTE, gguf.TokenType.USER_DEFINED, gguf.TokenType.UNKNOWN)
SPACE = "\u2581"  # how SentencePiece writes a space inside a piece
GONE = -1  # the new id of a token that was left out
# A cached teacher logit whose token the student no longer has: probability zero after the
# softmax, yet finite, so the divergence stays a number (0 x finite).
ABSENT_LOGIT = -1.0e4


@dataclass(frozen=True)
class Vocabulary:
    """The kept token ids of the full vocabulary, ascending; token `kept[i]` becomes id `i`."""

    kept: np.ndarray
    full_size: int

    def __len__(self) -> int:
        return len(self.kept)

    @cached_property
    def new_ids(self) -> np.ndarray:
        """full id -> new id, `GONE` for a token left out."""
        table = np.full(self.full_size, GONE, dtype=np.int64)
        table[self.kept] = np.arange(len(self.kept))
        return table

    def renumber(self, ids: Sequence[int]) -> list[int]:
        """New ids of `ids`; negative ids (ignored labels) stay as they are."""
        table = self.new_ids
        renumbered = [int(table[i]) if i >= 0 else i for i in ids]
        if any(new == GONE for new, old in zip(renumbered, ids, strict=True) if old >= 0):
            raise GhostwrightError("a training sample has a token the trimmed vocabulary lacks")
        return renumbered

    def save(self, path: Path) -> None:
        with atomic_path(path) as partial:
            document = {"full_size": self.full_size, "kept": self.kept.tolist()}
            partial.write_text(json.dumps(document))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        document = json.loads(path.read_text())
        return cls(np.array(document["kept"], dtype=np.int64), int(document["full_size"]))


@dataclass(frozen=True)
class GgufVocabulary:
    """A GGUF model's tokenizer as the trimming needs it."""

    tokens: list[str]
    scores: np.ndarray
    types: np.ndarray
    special_ids: set[int]

    @classmethod
    def read(cls, model_gguf: Path) -> GgufVocabulary:
        reader = gguf.GGUFReader(str(model_gguf))
        kind = reader.get_field("tokenizer.ggml.model")
        if kind is None or kind.contents() != "llama":
            found = kind.contents() if kind is not None else "none"
            raise GhostwrightError(
                f"vocabulary=repository needs a SentencePiece vocabulary; {model_gguf.name} "
                f"has {found!r} (use vocabulary=full)"
            )
        special = {
            int(field.contents())
            for name, field in reader.fields.items()
            if name.startswith("tokenizer.ggml.") and name.endswith("_token_id")
        }
        return cls(
            list(reader.get_field(TOKEN_ARRAYS[0]).contents()),
            np.asarray(reader.get_field(TOKEN_ARRAYS[1]).contents(), dtype=np.float64),
            np.asarray(reader.get_field(TOKEN_ARRAYS[2]).contents(), dtype=np.int64),
            special,
        )


def choose_vocabulary(
    vocabulary: GgufVocabulary, used: Iterable[int], general: int, alphabet: set[str]
) -> Vocabulary:
    """The used tokens, the `general` best-scored pieces written in `alphabet`, byte-fallback,
    user-defined and special tokens, and everything on the merge paths of those (module
    docstring)."""
    types = vocabulary.types
    written = [
        index
        for index in np.flatnonzero(types == gguf.TokenType.NORMAL)
        if alphabet.issuperset(vocabulary.tokens[index])
    ]
    ranked = np.array(written, dtype=np.int64)
    best = ranked[np.argsort(-vocabulary.scores[ranked], kind="stable")][:general]
    always = np.flatnonzero(np.isin(types, [int(kind) for kind in ALWAYS_KEPT]))
    kept = {*map(int, used), *map(int, best), *map(int, always), *vocabulary.special_ids}
    ids = {token: index for index, token in enumerate(vocabulary.tokens)}
    for token in list(kept):
        if types[token] == gguf.TokenType.NORMAL:
            kept |= merge_path(vocabulary.tokens[token], ids, vocabulary.scores)
    return Vocabulary(np.array(sorted(kept), dtype=np.int64), len(vocabulary.tokens))


def alphabet_of(texts: Iterable[str]) -> set[str]:
    """The characters of `texts` as SentencePiece pieces write them (a space is "▁")."""
    return {char.replace(" ", SPACE) for text in texts for char in text} | {SPACE}


def merge_path(piece: str, ids: dict[str, int], scores: np.ndarray) -> set[int]:
    """Every token llama.cpp's SentencePiece tokenizer forms while it tokenizes `piece`: start
    from single characters, join the adjacent pair whose join is a token with the highest score
    (the leftmost on a tie) until no pair joins (llama-vocab.cpp, `llm_tokenizer_spm`)."""
    symbols = list(piece)
    formed = {ids[symbol] for symbol in symbols if symbol in ids}
    while len(symbols) > 1:
        best, best_score = -1, -np.inf
        for left in range(len(symbols) - 1):
            joined = ids.get(symbols[left] + symbols[left + 1])
            if joined is not None and scores[joined] > best_score:
                best, best_score = left, scores[joined]
        if best < 0:
            break
        symbols[best : best + 2] = [symbols[best] + symbols[best + 1]]
        formed.add(ids[symbols[best]])
    return formed


def trim_embeddings(model: Any, vocabulary: Vocabulary) -> None:
    """Keep only the kept rows of the token embedding and of the output layer (one matrix when
    tied), in place; the model's config names the new size."""
    import torch

    layers = embedding_layers(model)
    tied = len(layers) > 1 and layers[1].weight is layers[0].weight
    rows = torch.as_tensor(vocabulary.kept)
    for layer in layers[:1] if tied else layers:
        weight = layer.weight
        layer.weight = torch.nn.Parameter(
            weight.detach()[rows].clone(), requires_grad=weight.requires_grad
        )
        if isinstance(layer, torch.nn.Embedding):
            layer.num_embeddings = len(vocabulary)
            if layer.padding_idx is not None:
                layer.padding_idx = int(vocabulary.new_ids[layer.padding_idx])
        else:
            layer.out_features = len(vocabulary)
    if tied:
        layers[1].weight = layers[0].weight
    model.config.vocab_size = len(vocabulary)
    text_config = getattr(model.config, "text_config", None)
    if text_config is not None:
        text_config.vocab_size = len(vocabulary)


def trimmed_field(name: str, contents: Any, vocabulary: Vocabulary) -> Any:
    """A GGUF metadata value for the trimmed vocabulary: the token arrays keep the kept entries,
    special token ids are renumbered; any other value is returned as it is."""
    if name in TOKEN_ARRAYS:
        return [contents[i] for i in vocabulary.kept]
    if name.startswith("tokenizer.ggml.") and name.endswith("_token_id"):
        new = int(vocabulary.new_ids[int(contents)])
        if new == GONE:
            raise GhostwrightError(f"the trimmed vocabulary lost the special token of {name}")
        return new
    if name == "tokenizer.ggml.merges":
        raise GhostwrightError("a BPE vocabulary cannot be trimmed (use vocabulary=full)")
    return contents


def trim_run_vocabulary(run: Run, full: GgufVocabulary) -> Vocabulary:
    """The student in `run` keeps the tokens its samples use, decided once per run
    (`teacher/vocabulary.json`) so a resumed run trims the same; samples and cached teacher
    logits are renumbered into it."""
    from ghostwright.server.models import resolve_model
    from ghostwright.training.batches import Example

    path = run.run_dir / "teacher" / "vocabulary.json"
    if path.is_file():
        vocabulary = Vocabulary.load(path)
    else:
        texts = [run.tokenizer.decode(e.ids) for e in run.train_examples + run.validation_examples]
        used = used_tokens(run, resolve_model(run.config["model"]), texts)
        general = run.config["vocabulary_general"]
        vocabulary = choose_vocabulary(full, used, general, alphabet_of(texts))
        vocabulary.save(path)
    renumber = vocabulary.renumber
    run.train_examples = [Example(renumber(e.ids), renumber(e.labels)) for e in run.train_examples]
    run.validation_examples = [
        Example(renumber(e.ids), renumber(e.labels)) for e in run.validation_examples
    ]
    run.teacher_cache = run.teacher_cache.renumbered(vocabulary.new_ids, ABSENT_LOGIT)
    trim_embeddings(run.model, vocabulary)
    run.vocabulary = vocabulary
    return vocabulary


def used_tokens(run: Run, model_gguf: Path, texts: list[str]) -> set[int]:
    """Every token of the student's samples as transformers tokenized them and as llama.cpp,
    which serves the student, tokenizes their `texts` (they differ on a few long runs of
    spaces)."""
    from ghostwright.indexer.llama_native import load_quietly

    used = {token for e in run.train_examples + run.validation_examples for token in e.ids}
    llm = load_quietly(model_path=str(model_gguf), vocab_only=True)
    try:
        for text in texts:
            used.update(llm.tokenize(text.encode(), add_bos=False, special=True))
    finally:
        llm.close()
    return used
