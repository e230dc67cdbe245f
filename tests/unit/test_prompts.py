"""Prompt formats per family, detected from synthetic vocabularies (no weights)."""

from __future__ import annotations

import pytest

from ghostwright.server.prompt_formats import (
    PREFIX_ONLY,
    ContextFile,
    detect_format,
    format_names,
    select_format,
)


class SetVocabulary:
    """A vocabulary whose special tokens are exactly `tokens`."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = set(tokens)

    def is_single_token(self, text: str) -> bool:
        return text in self.tokens


QWEN = SetVocabulary(
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|endoftext|>",
    "<|im_end|>",
)
CODEGEMMA = SetVocabulary(
    "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>", "<eos>"
)
STARCODER2 = SetVocabulary(
    "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>", "<|endoftext|>"
)
SANTACODER = SetVocabulary("<fim-prefix>", "<fim-suffix>", "<fim-middle>", "<|endoftext|>")
DEEPSEEK = SetVocabulary(
    "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<｜end▁of▁sentence｜>", "<|EOT|>"
)
CODELLAMA = SetVocabulary("▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>")
GEMMA3 = SetVocabulary(
    "<unused0>", "<unused1>", "<unused2>", "<unused3>", "<start_of_turn>", "<eos>", "<bos>"
)


@pytest.mark.parametrize(
    ("vocab", "name", "prompt"),
    [
        (QWEN, "qwen2.5-coder", "<|fim_prefix|>a(<|fim_suffix|>)\n<|fim_middle|>"),
        (CODEGEMMA, "codegemma", "<|fim_prefix|>a(<|fim_suffix|>)\n<|fim_middle|>"),
        (STARCODER2, "starcoder", "<fim_prefix>a(<fim_suffix>)\n<fim_middle>"),
        (SANTACODER, "starcoder", "<fim-prefix>a(<fim-suffix>)\n<fim-middle>"),
        (DEEPSEEK, "deepseek-coder", "<｜fim▁begin｜>a(<｜fim▁hole｜>)\n<｜fim▁end｜>"),
        (CODELLAMA, "codellama", "▁<PRE> a( ▁<SUF>)\n ▁<MID>"),
        (GEMMA3, PREFIX_ONLY, "a("),
    ],
)
def test_family_detected_and_rendered(vocab, name, prompt):
    fmt = detect_format(vocab)
    assert fmt.name == name
    assert fmt.render("a(", ")\n") == prompt


def test_stop_markers_are_the_ones_the_vocabulary_has():
    assert detect_format(QWEN).stop == (
        "<|endoftext|>",
        "<|fim_pad|>",
        "<|file_sep|>",
        "<|repo_name|>",
        "<|im_end|>",
    )
    assert detect_format(CODELLAMA).stop == ("▁<EOT>",)
    assert detect_format(DEEPSEEK).stop == ("<｜end▁of▁sentence｜>", "<|EOT|>")


def test_a_marker_that_is_not_one_token_rules_the_family_out():
    broken = SetVocabulary("<fim_prefix>", "<fim_suffix>")  # no <fim_middle>
    assert detect_format(broken).name == PREFIX_ONLY


def test_qwen_repo_level_form_puts_other_files_first():
    fmt = detect_format(QWEN)
    prompt = fmt.render(
        "x = ",
        "\n",
        path="pkg/b.py",
        repo="demo",
        context_files=[ContextFile("pkg/a.py", "def f():\n    pass\n")],
    )
    assert prompt == (
        "<|repo_name|>demo\n"
        "<|file_sep|>pkg/a.py\ndef f():\n    pass\n"
        "<|file_sep|>pkg/b.py\n"
        "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"
    )


def test_starcoder_repo_level_form():
    prompt = detect_format(STARCODER2).render("a", "b", path="m.py", repo="r")
    assert prompt == "<repo_name>r\n<file_sep>m.py\n<fim_prefix>a<fim_suffix>b<fim_middle>"


def test_formats_without_repo_markers_open_the_prefix_with_context_files():
    fmt = detect_format(DEEPSEEK)
    assert fmt.render("a", "b", path="x.py", context_files=[ContextFile("y.py", "z")]) == (
        "<｜fim▁begin｜># file: y.py\nz\n\na<｜fim▁hole｜>b<｜fim▁end｜>"
    )
    assert fmt.render("a", "b", path="x.c", context_files=[ContextFile("y.h", "int z;")]) == (
        "<｜fim▁begin｜>// file: y.h\nint z;\n\na<｜fim▁hole｜>b<｜fim▁end｜>"
    )


def test_prefix_only_ignores_the_suffix_in_the_prompt():
    fmt = detect_format(GEMMA3)
    assert not fmt.is_fim
    assert fmt.render("def f():\n    return ", "\n\nprint(f())") == "def f():\n    return "


def test_setting_forces_a_family_in_the_models_spelling():
    assert select_format("codellama", CODELLAMA).fim_prefix == "▁<PRE>"
    assert select_format("codellama", None).fim_prefix == "<PRE>"
    assert select_format("qwen", QWEN).name == "qwen2.5-coder"
    assert select_format("prefix-only", QWEN).name == PREFIX_ONLY
    assert select_format("auto", STARCODER2).name == "starcoder"


def test_unknown_setting_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="choose one of auto, prefix-only"):
        select_format("gpt-9", QWEN)
    assert "codegemma" in format_names()


def test_training_target_ends_with_the_end_marker():
    assert detect_format(QWEN).render_training_target("x + 1") == "x + 1<|endoftext|>"


def test_the_trained_format_is_never_detected_only_selected():
    assert detect_format(GEMMA3).name == "prefix-only"  # the base model never saw the markers
    fmt = select_format("ghostwright-fim", GEMMA3)
    assert fmt.render("a(", ")\n") == "<unused0><unused1>)\n<unused2>a("  # suffix first
    assert fmt.render_training_target("x") == "x<unused3>"
