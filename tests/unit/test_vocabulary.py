"""The student's trimmed vocabulary: what is kept, the merge paths, renumbering, GGUF fields."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.vocabulary import (
    GgufVocabulary,
    Vocabulary,
    alphabet_of,
    choose_vocabulary,
    merge_path,
    trimmed_field,
)

NORMAL, CONTROL = gguf.TokenType.NORMAL, gguf.TokenType.CONTROL
BYTE, USER = gguf.TokenType.BYTE, gguf.TokenType.USER_DEFINED
# id: text, score, type (SentencePiece numbers pieces by falling score)
TOY = [
    ("<pad>", 0.0, CONTROL),  # 0
    ("<eos>", 0.0, CONTROL),  # 1
    ("<bos>", 0.0, CONTROL),  # 2
    ("<unused0>", 0.0, CONTROL),  # 3
    ("<0x0A>", 0.0, BYTE),  # 4
    ("\n\n", 0.0, USER),  # 5
    ("▁", -1.0, NORMAL),  # 6
    ("a", -2.0, NORMAL),  # 7
    ("b", -3.0, NORMAL),  # 8
    ("c", -4.0, NORMAL),  # 9
    ("ab", -5.0, NORMAL),  # 10
    ("bc", -6.0, NORMAL),  # 11
    ("abc", -7.0, NORMAL),  # 12
    ("▁a", -8.0, NORMAL),  # 13
    ("z", -9.0, NORMAL),  # 14
]


def toy_vocabulary() -> GgufVocabulary:
    tokens, scores, types = zip(*TOY, strict=True)
    return GgufVocabulary(
        list(tokens), np.array(scores), np.array([int(t) for t in types]), {0, 1, 2}
    )


def ids_and_scores(scores: dict[str, float]) -> tuple[dict[str, int], np.ndarray]:
    names = list(scores)
    return {name: index for index, name in enumerate(names)}, np.array(list(scores.values()))


def test_merge_path_joins_the_best_scored_pair_first():
    ids, scores = ids_and_scores({"a": -1, "b": -1, "c": -1, "ab": -2, "bc": -3, "abc": -4})
    assert merge_path("abc", ids, scores) == {0, 1, 2, 3, 5}  # a, b, c, ab, abc: not bc
    ids, scores = ids_and_scores({"a": -1, "b": -1, "c": -1, "ab": -3, "bc": -2, "abc": -4})
    assert merge_path("abc", ids, scores) == {0, 1, 2, 4, 5}  # a, b, c, bc, abc: not ab


def test_merge_path_takes_the_leftmost_pair_on_a_tie_and_stops_when_nothing_joins():
    ids, scores = ids_and_scores({"a": -1, "b": -1, "ab": -2, "ba": -2, "aba": -3})
    assert merge_path("aba", ids, scores) == {0, 1, 2, 4}  # (ab) a -> aba: not ba
    ids, scores = ids_and_scores({"x": -1, "y": -1, "xyz": -2})
    assert merge_path("xyz", ids, scores) == {0, 1}  # xy is no token: xyz is out of reach


def test_the_kept_vocabulary_holds_used_general_byte_special_tokens_and_merge_paths():
    everything = {text for text, _, _ in TOY}
    vocabulary = choose_vocabulary(toy_vocabulary(), {12}, 1, everything)
    # used: abc (12) and its path a, b, c, ab; general: the best-scored piece ▁ (6); bytes (4),
    # user-defined (5), special ids (0, 1, 2). Not kept: the unused control token, bc, ▁a, z.
    assert vocabulary.kept.tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12]
    assert vocabulary.full_size == len(TOY)
    widened = choose_vocabulary(toy_vocabulary(), {12}, 3, everything)
    assert {6, 7, 8} <= set(widened.kept.tolist()) and 14 not in widened.kept


def test_general_pieces_are_those_written_in_the_samples_characters():
    alphabet = alphabet_of(["a b", "ab"])
    assert alphabet == {"a", "b", "\u2581"}
    kept = choose_vocabulary(toy_vocabulary(), set(), 100, alphabet).kept.tolist()
    assert {6, 7, 8, 10, 13} <= set(kept)  # ▁, a, b, ab, ▁a
    assert not {9, 11, 12, 14} & set(kept)  # c, bc, abc, z: characters the samples lack


def test_renumbering_keeps_ignored_labels_and_refuses_a_token_left_out(tmp_path):
    vocabulary = Vocabulary(np.array([0, 2, 5, 9]), 10)
    assert vocabulary.renumber([2, -100, 9, 0]) == [1, -100, 3, 0]
    with pytest.raises(GhostwrightError, match="lacks"):
        vocabulary.renumber([3])
    vocabulary.save(tmp_path / "vocabulary.json")
    loaded = Vocabulary.load(tmp_path / "vocabulary.json")
    assert loaded.kept.tolist() == [0, 2, 5, 9] and loaded.full_size == 10
    assert loaded.new_ids.tolist() == [0, -1, 1, -1, -1, 2, -1, -1, -1, 3]


def test_gguf_fields_are_trimmed_and_special_ids_renumbered():
    vocabulary = Vocabulary(np.array([0, 1, 2, 7]), 10)
    tokens = [f"t{i}" for i in range(10)]
    assert trimmed_field("tokenizer.ggml.tokens", tokens, vocabulary) == ["t0", "t1", "t2", "t7"]
    assert trimmed_field("tokenizer.ggml.scores", list(range(10)), vocabulary) == [0, 1, 2, 7]
    assert trimmed_field("tokenizer.ggml.eos_token_id", 7, vocabulary) == 3
    assert trimmed_field("gemma3.block_count", 18, vocabulary) == 18
    with pytest.raises(GhostwrightError, match="lost the special token"):
        trimmed_field("tokenizer.ggml.unknown_token_id", 3, vocabulary)
    with pytest.raises(GhostwrightError, match="BPE vocabulary cannot be trimmed"):
        trimmed_field("tokenizer.ggml.merges", ["a b"], vocabulary)


def test_a_bpe_vocabulary_is_refused(tmp_path):
    path = tmp_path / "bpe.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(GhostwrightError, match="needs a SentencePiece vocabulary"):
        GgufVocabulary.read(path)
