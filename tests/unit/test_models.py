"""Model resolution: bad files, assembly of the packaged default, hub ids offline."""

from __future__ import annotations

import hashlib
import struct

import pytest

from ghostwright.server import models
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


def test_assembly_concatenates_verifies_and_stamps(tmp_path):
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for index, part in enumerate(parts):
        part.write_bytes(bytes([index]) * 1000)
    digest = hashlib.sha256(b"".join(part.read_bytes() for part in parts)).hexdigest()
    target = tmp_path / "cache" / "model.gguf"
    models._assemble(parts, target, digest)
    assert target.read_bytes() == b"".join(part.read_bytes() for part in parts)
    assert models._is_verified(target, digest)
    assert not list(target.parent.glob("*.part"))  # no temp file left behind


def test_assembly_with_a_wrong_hash_leaves_nothing(tmp_path):
    part = tmp_path / "part0"
    part.write_bytes(b"x" * 100)
    target = tmp_path / "cache" / "model.gguf"
    with pytest.raises(GhostwrightError, match="wrong sha256"):
        models._assemble([part], target, "0" * 64)
    assert not target.exists() and not list(target.parent.iterdir())


def test_a_modified_cache_file_is_no_longer_trusted(tmp_path):
    target = tmp_path / "model.gguf"
    target.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert models._is_verified(target, digest)
    target.write_bytes(b"abd")
    assert not models._is_verified(target, digest)


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
    with pytest.raises(GhostwrightError, match="unreachable; set `model` to a local .gguf path"):
        models.resolve_model(
            "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-q8_0.gguf"
        )


def test_unreachable_hub_host_fails_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    with pytest.raises(GhostwrightError, match="unreachable"):
        models.download_hub_model("hf:owner/repo/never-cached-file.gguf")
