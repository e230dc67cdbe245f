"""Model resolution: bad files, assembly of the packaged default, hub ids offline."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from ghostwright.server import models, packaged_models
from ghostwright.server.errors import GhostwrightError


def gguf_header(version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, 0, 0)


def test_missing_directory_and_foreign_files_are_rejected(tmp_path):
    with pytest.raises(GhostwrightError, match="model file not found"):
        models.check_gguf_file(tmp_path / "nope.gguf")
    with pytest.raises(GhostwrightError, match="not a file"):
        models.check_gguf_file(tmp_path)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(GhostwrightError, match="not a GGUF model file"):
        models.check_gguf_file(text)


def test_truncated_header_and_unknown_version(tmp_path):
    short = tmp_path / "short.gguf"
    short.write_bytes(gguf_header()[:10])
    with pytest.raises(GhostwrightError, match="truncated"):
        models.check_gguf_file(short)
    future = tmp_path / "future.gguf"
    future.write_bytes(gguf_header(version=99))
    with pytest.raises(GhostwrightError, match="unsupported GGUF version 99"):
        models.check_gguf_file(future)
    good = tmp_path / "ok.gguf"
    good.write_bytes(gguf_header())
    assert models.check_gguf_file(good) == good


def toy_tier(tmp_path, count: int = 3, size: int | None = None):
    """A tier whose pieces are files in `tmp_path` (piece i holds bytes of value i)."""
    from dataclasses import replace

    pieces = []
    for index in range(count):
        piece = tmp_path / "site-packages" / f"toy_part{index + 1}" / "data" / f"part{index}.bin"
        piece.parent.mkdir(parents=True)
        piece.write_bytes(bytes([index]) * 1000)
        pieces.append(piece)
    whole = b"".join(piece.read_bytes() for piece in pieces)
    tier = replace(
        packaged_models.QWEN_05B,
        name="toy",
        file_name="toy.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole) if size is None else size,
        pieces=tuple((f"toy-part{i + 1}", str(p)) for i, p in enumerate(pieces)),
        pip_command="pip install --force-reinstall toy-part{1..3}",
    )
    return tier, pieces, whole


@pytest.fixture
def toy_site(monkeypatch):
    """Pieces are looked up as plain paths instead of installed distributions."""

    def located(tier):
        return [Path(path) if Path(path).is_file() else None for _, path in tier.pieces]

    monkeypatch.setattr(packaged_models, "_piece_paths", located)


def test_assembly_concatenates_verifies_stamps_and_frees_the_pieces(tmp_path, toy_site):
    tier, pieces, whole = toy_tier(tmp_path)
    cache = tmp_path / "cache"
    assert packaged_models.is_installed(tier, cache)
    target = packaged_models.ensure_tier(tier, cache)
    assert target.read_bytes() == whole
    assert packaged_models._is_verified(target, tier.sha256, quick=True)
    assert not list(cache.glob("*.part"))  # no temp file left behind
    assert not any(piece.exists() for piece in pieces)  # one copy on disk, not two
    assert packaged_models.is_installed(tier, cache)  # the verified copy is what counts now
    assert packaged_models.ensure_tier(tier, cache) == target


def test_a_wrong_hash_leaves_nothing_and_keeps_the_pieces(tmp_path, toy_site):
    from dataclasses import replace

    tier, pieces, _ = toy_tier(tmp_path)
    tier = replace(tier, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(GhostwrightError, match="the assembled toy has the wrong sha256; pip"):
        packaged_models.ensure_tier(tier, cache)
    assert not list(cache.iterdir())
    assert all(piece.exists() for piece in pieces)


def test_a_truncated_piece_is_named_before_anything_is_written(tmp_path, toy_site):
    tier, pieces, _ = toy_tier(tmp_path)
    pieces[1].write_bytes(b"\x01" * 10)
    cache = tmp_path / "cache"
    with pytest.raises(GhostwrightError, match="add up to 2,010 bytes, not 3,000: one is trunc"):
        packaged_models.ensure_tier(tier, cache)
    assert not cache.exists() or not list(cache.iterdir())


def test_a_missing_piece_or_tier_names_the_pip_command(tmp_path, toy_site):
    tier, pieces, _ = toy_tier(tmp_path)
    pieces[2].unlink()
    assert not packaged_models.is_installed(tier, tmp_path / "cache")
    with pytest.raises(GhostwrightError) as missing:
        packaged_models.ensure_tier(tier, tmp_path / "cache")
    assert str(missing.value) == (
        "model toy misses toy-part3: pip install --force-reinstall toy-part{1..3}"
    )
    for piece in pieces[:2]:
        piece.unlink()
    with pytest.raises(GhostwrightError, match="^model toy is not installed: pip install"):
        packaged_models.ensure_tier(tier, tmp_path / "cache")


def test_a_modified_cache_file_is_no_longer_trusted(tmp_path):
    target = tmp_path / "model.gguf"
    target.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert packaged_models._is_verified(target, digest)
    target.write_bytes(b"abd")
    assert not packaged_models._is_verified(target, digest)


def test_every_tier_name_is_a_model_setting():
    from ghostwright.server.config import parse_settings

    for name in ("auto", *packaged_models.tier_names(), "default"):
        assert models.is_gguf_spec(name)
        settings, warnings = parse_settings({"model": name})
        assert settings.model == name and not warnings
    assert packaged_models.tier_names() == [
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-0.5b",
        "gemma-3-270m",
    ]


def test_default_model_resolves_to_the_verified_cache(default_model_path):
    assert models.resolve_model(None) == default_model_path
    assert models.resolve_model("default") == default_model_path
    assert default_model_path.read_bytes()[:4] == b"GGUF"


@pytest.mark.parametrize("spec", ["hf:onlyowner", "hf:owner/repo", "hf:owner/repo/file.bin"])
def test_malformed_hub_ids(spec):
    with pytest.raises(GhostwrightError, match="expected hf:OWNER/REPO/FILE.gguf"):
        models.resolve_model(spec)


def test_hub_offline_error_names_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(GhostwrightError, match="unreachable; set `model` to auto, a packaged tier"):
        models.resolve_model(
            "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-q8_0.gguf"
        )


def test_unreachable_hub_host_fails_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    with pytest.raises(GhostwrightError, match="unreachable"):
        models.download_hub_model("hf:owner/repo/never-cached-file.gguf")
