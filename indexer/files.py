"""Which files of a repository ghostwright may read: the one rule set for the index, training
data and evaluation.

A file is taken when git would track it (`.gitignore` respected: `git ls-files` in a git checkout,
the root `.gitignore` through pathspec otherwise), it is text, it is not larger than `max_bytes`,
it is not a symbolic link, and it is not a secret by name (`.env*`, keys, certificates, credential
and kubeconfig files). Secrets *inside* accepted files are found by `secrets.py`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 512 * 1024
BINARY_SNIFF_BYTES = 8192
# Never read, whatever .gitignore says (matched against the file name, case-insensitively).
SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.ppk",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials",
    "credentials.*",
    "*credentials*.json",
    "kubeconfig",
    "*.kubeconfig",
    ".dockercfg",
    "*.tfstate",
    "*.tfstate.*",
    "secrets.*",
    "*.secret",
    "*.secrets",
)
# Folders never worth reading even without a .gitignore.
SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".ghostwright",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "build",
}
LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
}


@dataclass(frozen=True)
class SourceFile:
    """A readable file of the repository."""

    path: Path  # absolute
    relative: str  # POSIX path relative to the repository root
    language: str  # "" for plain text


# Editors' language ids (LSP `languageId`) that are not already one of our names.
EDITOR_LANGUAGE_IDS = {"javascriptreact": "javascript", "typescriptreact": "typescript"}


def language_for(path: str | Path, language_id: str = "") -> str:
    """Our language name: from the file's extension, else from the editor's language id."""
    found = LANGUAGES.get(Path(path).suffix.lower(), "")
    if found or not language_id:
        return found
    known = set(LANGUAGES.values())
    return language_id if language_id in known else EDITOR_LANGUAGE_IDS.get(language_id, "")


def repository_path(root: Path, path: str) -> str | None:
    """`path` as a POSIX path relative to the repository `root` (a relative `path` is taken as
    one already); None for a file outside it. Symlinks are resolved; a deleted file, which
    cannot be, is compared as given. The one rule for the index, retrieval and feedback."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    for form in (candidate.resolve(), candidate):
        try:
            return form.relative_to(root).as_posix()
        except ValueError:
            continue
    return None


def is_secret_file(relative: str) -> bool:
    name = PurePosixPath(relative).name.lower()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_FILE_PATTERNS)


def looks_binary(head: bytes) -> bool:
    """A NUL byte near the start: what git and grep also take for binary."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def is_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        return looks_binary(handle.read(BINARY_SNIFF_BYTES))


def iter_source_files(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    languages: Sequence[str] = (),
    only: Iterable[str] | None = None,
    skipped: Counter[str] | None = None,
) -> Iterator[SourceFile]:
    """Files under `root` that pass every rule, in a stable (sorted) order.

    `only` limits the scan to these relative paths (a watcher's changed files); `skipped` counts
    the files left out, by reason.
    """
    root = root.resolve()
    includes = pathspec.GitIgnoreSpec.from_lines(include) if include else None
    excludes = pathspec.GitIgnoreSpec.from_lines(exclude)
    skipped = skipped if skipped is not None else Counter()
    candidates = set(_candidates(root))
    if only is not None:
        wanted = set(only)
        skipped["ignored"] += len(wanted - candidates)
        candidates &= wanted
    for relative in sorted(candidates):
        if (includes is not None and not includes.match_file(relative)) or excludes.match_file(
            relative
        ):
            skipped["excluded"] += 1
            continue
        if is_secret_file(relative):
            skipped["secret file"] += 1
            continue
        language = language_for(relative)
        if languages and language not in languages:
            skipped["language"] += 1
            continue
        reason = _unreadable_reason(root / relative, max_bytes)
        if reason:
            skipped[reason] += 1
            continue
        yield SourceFile(root / relative, relative, language)


def _unreadable_reason(path: Path, max_bytes: int) -> str:
    """Why `path` cannot be indexed, or "" when it can."""
    try:
        if path.is_symlink():
            return "symlink"  # may point outside the repository, or into a loop
        if not path.is_file():
            return "missing"
        if path.stat().st_size > max_bytes:
            return "too large"
        if is_binary(path):
            return "binary"
    except OSError:
        return "unreadable"  # vanished or unreadable between listing and reading
    return ""


def _candidates(root: Path) -> list[str]:
    """Relative paths git would track; a plain walk filtered by the root .gitignore elsewhere."""
    if (root / ".git").exists():
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
        )
        if listed.returncode == 0:
            return [name for name in listed.stdout.decode("utf-8", "replace").split("\0") if name]
        logger.warning("git ls-files failed in %s; falling back to .gitignore", root)
    ignore_file = root / ".gitignore"
    lines = ignore_file.read_text(errors="replace").splitlines() if ignore_file.is_file() else []
    ignored = pathspec.GitIgnoreSpec.from_lines(lines)
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [name for name in subdirs if name not in SKIPPED_DIRS]
        for name in files:
            relative = Path(directory, name).relative_to(root).as_posix()
            if not ignored.match_file(relative):
                found.append(relative)
    return found
