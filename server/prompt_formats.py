"""Prompt templates per model family: THE one template source (training imports it too).

A family is recognised from the model's vocabulary: each of its markers must be a single token,
otherwise the model was never trained on it and the family does not apply. Models without FIM
tokens (the packaged gemma-3-270m) get the prefix-only format; the suffix still reaches
post-processing, so completions never repeat the code after the cursor.

Comment-to-code uses the same templates: the hole is the body after a docstring or comment block
(`comment_to_code.py` finds it), so the model learns one format, and training renders its
comment-to-code samples with the very same `render`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ghostwright.server.comment_syntax import line_comment

AUTO = "auto"
PREFIX_ONLY = "prefix-only"
TRAINED_FIM = "ghostwright-fim"


class Vocabulary(Protocol):
    """What format detection needs to know about a tokenizer."""

    def is_single_token(self, text: str) -> bool:
        """True when `text`, parsed with special tokens, is exactly one token."""
        ...


@dataclass(frozen=True)
class ContextFile:
    """Another file of the repository shown to the model before the current one."""

    path: str
    text: str


@dataclass(frozen=True)
class PromptFormat:
    """Concrete marker strings of one family, as spelled in the model's own vocabulary."""

    name: str
    fim_prefix: str = ""
    fim_suffix: str = ""
    fim_middle: str = ""
    repo_name: str = ""
    file_sep: str = ""
    stop: tuple[str, ...] = ()
    # CodeLlama was trained with a space after <PRE> and before <SUF>/<MID>.
    spaced: bool = False
    # Suffix-prefix-middle order (StarCoder's SPM layout): the prefix ends the prompt.
    suffix_first: bool = False

    @property
    def is_fim(self) -> bool:
        return bool(self.fim_prefix)

    @property
    def is_repo_level(self) -> bool:
        return bool(self.repo_name and self.file_sep)

    def render(
        self,
        prefix: str,
        suffix: str,
        *,
        path: str = "",
        repo: str = "",
        context_files: Sequence[ContextFile] = (),
    ) -> str:
        """The prompt text for a hole between `prefix` and `suffix` (stable parts first).

        Context files go in the repo-level header for models trained on one; for the others,
        they open the prefix, as code the current file could have started with.
        """
        if self.is_repo_level:
            header = self._repo_header(path, repo, context_files)
        else:
            header, prefix = "", "".join(snippet_as_code(f, path) for f in context_files) + prefix
        if not self.is_fim:
            return header + prefix
        if self.suffix_first:
            return f"{header}{self.fim_prefix}{self.fim_suffix}{suffix}{self.fim_middle}{prefix}"
        if self.spaced:
            return f"{header}{self.fim_prefix} {prefix} {self.fim_suffix}{suffix} {self.fim_middle}"
        return f"{header}{self.fim_prefix}{prefix}{self.fim_suffix}{suffix}{self.fim_middle}"

    def render_training_target(self, middle: str) -> str:
        """What the model should generate after `render(...)`: the middle and an end marker."""
        end = self.stop[0] if self.stop else ""
        return middle + end

    def _repo_header(self, path: str, repo: str, context_files: Sequence[ContextFile]) -> str:
        """Qwen2.5-Coder / StarCoder2 repo-level layout: other files, then this file's path.

        Other models see each snippet as plain code under a comment naming its file: on held-out
        rich holes (cross-file and whole-line) gemma matched 14/134 targets that way, 12/134 with
        Copilot-style commented-out snippets, 11/134 without snippets. The Instruct Qwen keeps
        this header (tests/bench/snippet_layout.py, 60 held-out rich holes, the 1.5B): 24/60 with
        it and 24/60 as commented code, but 6/15 against 5/15 on the cross-file holes.
        """
        if not (path or context_files):
            return ""
        parts = [f"{self.repo_name}{repo or 'repo'}\n"]
        parts += [f"{self.file_sep}{item.path}\n{item.text.rstrip()}\n" for item in context_files]
        parts.append(f"{self.file_sep}{path or 'untitled'}\n")
        return "".join(parts)

    def context_cost_text(self, item: ContextFile, path: str) -> str:
        """The text one context file adds to the prompt (what its token cost is counted on)."""
        if self.is_repo_level:
            return f"{self.file_sep}{item.path}\n{item.text.rstrip()}\n"
        return snippet_as_code(item, path)


def snippet_as_code(item: ContextFile, current_path: str) -> str:
    """`item` under a comment naming its file (in the syntax of the file being edited)."""
    return f"{line_comment(current_path)} file: {item.path}\n{item.text.rstrip()}\n\n"


@dataclass(frozen=True)
class Family:
    """A model family: every accepted spelling of each marker, first spelling preferred."""

    name: str
    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    middle: tuple[str, ...]
    stop: tuple[str, ...] = ()
    repo_name: tuple[str, ...] = ()
    file_sep: tuple[str, ...] = ()
    # Tokens that must also exist, to tell apart families that share FIM markers.
    signature: tuple[str, ...] = ()
    spaced: bool = False
    suffix_first: bool = False
    aliases: tuple[str, ...] = field(default=())
    # A format ghostwright teaches through fine-tuning: never detected from a vocabulary (the
    # base model has not seen it), only selected by an adapter trained on it.
    trained_only: bool = False

    def resolve(self, vocab: Vocabulary | None) -> PromptFormat | None:
        """The format in this vocabulary's spelling, or None when a marker is not one token."""
        pick = _pick_default if vocab is None else (lambda options: _pick(vocab, options))
        markers = [pick(options) for options in (self.prefix, self.suffix, self.middle)]
        if None in markers or any(pick((token,)) is None for token in self.signature):
            return None
        repo_name, file_sep = pick(self.repo_name), pick(self.file_sep)
        stops = tuple(s for s in (pick((token,)) for token in self.stop) if s is not None)
        return PromptFormat(
            name=self.name,
            fim_prefix=markers[0],
            fim_suffix=markers[1],
            fim_middle=markers[2],
            repo_name=repo_name or "",
            file_sep=file_sep or "",
            stop=stops,
            spaced=self.spaced,
            suffix_first=self.suffix_first,
        )


def _pick(vocab: Vocabulary, options: Iterable[str]) -> str | None:
    return next((text for text in options if vocab.is_single_token(text)), None)


def _pick_default(options: Sequence[str]) -> str | None:
    return options[0] if options else None


# Order matters: families sharing markers are told apart by their signature tokens.
FAMILIES: tuple[Family, ...] = (
    Family(
        "qwen2.5-coder",
        prefix=("<|fim_prefix|>",),
        suffix=("<|fim_suffix|>",),
        middle=("<|fim_middle|>",),
        stop=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>"),
        repo_name=("<|repo_name|>",),
        file_sep=("<|file_sep|>",),
        signature=("<|fim_pad|>",),
        aliases=("qwen", "qwen-coder"),
    ),
    Family(
        "codegemma",
        prefix=("<|fim_prefix|>",),
        suffix=("<|fim_suffix|>",),
        middle=("<|fim_middle|>",),
        stop=("<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<eos>"),
        signature=("<|file_separator|>",),
    ),
    Family(
        "starcoder",
        prefix=("<fim_prefix>", "<fim-prefix>"),
        suffix=("<fim_suffix>", "<fim-suffix>"),
        middle=("<fim_middle>", "<fim-middle>"),
        stop=("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim-prefix>"),
        repo_name=("<repo_name>", "<reponame>"),
        file_sep=("<file_sep>",),
        aliases=("starcoder2", "santacoder"),
    ),
    Family(
        "deepseek-coder",
        prefix=("<｜fim▁begin｜>",),
        suffix=("<｜fim▁hole｜>",),
        middle=("<｜fim▁end｜>",),
        stop=("<｜end▁of▁sentence｜>", "<|EOT|>"),
        aliases=("deepseek",),
    ),
    # For models without FIM tokens (the packaged gemma-3-270m): reserved tokens of its own
    # vocabulary, each a single token, become the markers the fine-tune teaches. Suffix first,
    # so the prompt ends in the prefix and the middle is a plain continuation, the one skill the
    # base model already has (28% single-line pass@1 from the prefix alone); a LoRA then only
    # has to teach it to read the suffix and to stop. Trained in PSM order instead, 300 steps
    # reached 4%.
    Family(
        TRAINED_FIM,
        prefix=("<unused0>",),
        suffix=("<unused1>",),
        middle=("<unused2>",),
        stop=("<unused3>",),
        trained_only=True,
        suffix_first=True,
    ),
    Family(
        "codellama",
        prefix=("<PRE>", "▁<PRE>"),
        suffix=("<SUF>", "▁<SUF>"),
        middle=("<MID>", "▁<MID>"),
        stop=("<EOT>", "▁<EOT>"),
        spaced=True,
    ),
)

PREFIX_ONLY_FORMAT = PromptFormat(name=PREFIX_ONLY)


def format_names() -> list[str]:
    """Every value the `prompt_format` setting accepts."""
    return [AUTO, PREFIX_ONLY, *(family.name for family in FAMILIES)]


def detect_format(vocab: Vocabulary) -> PromptFormat:
    """The first family whose markers are all single tokens, else prefix-only."""
    for family in FAMILIES:
        resolved = None if family.trained_only else family.resolve(vocab)
        if resolved is not None:
            return resolved
    return PREFIX_ONLY_FORMAT


def select_format(setting: str, vocab: Vocabulary | None) -> PromptFormat:
    """Apply the `prompt_format` setting: `auto` detects, a family name forces that family.

    A forced family keeps the model's own spelling of each marker when the vocabulary has one.
    """
    setting = setting.strip().lower() or AUTO
    if setting == AUTO:
        return detect_format(vocab) if vocab is not None else PREFIX_ONLY_FORMAT
    if setting == PREFIX_ONLY:
        return PREFIX_ONLY_FORMAT
    for family in FAMILIES:
        if setting == family.name or setting in family.aliases:
            resolved = family.resolve(vocab) if vocab is not None else None
            return resolved or family.resolve(None) or PREFIX_ONLY_FORMAT
    raise ValueError(
        f"unknown prompt format {setting!r}; choose one of {', '.join(format_names())}"
    )
