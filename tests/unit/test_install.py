"""Installing an adapter: only correct and better ones, atomically, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.records import CURRENT, current_adapter
from ghostwright.server.installs.write import Candidate, install

PASSED = {"passed": True, "kl_mean": 0.008, "top1_agreement": 0.977}


def candidate(tmp_path: Path, name: str, before: float, after: float, check=PASSED) -> Candidate:
    adapter = tmp_path / name
    adapter.write_bytes(b"GGUF" + name.encode())
    return Candidate(
        adapter, "ghostwright-fim", "gemma", check, {"exact_match": before}, {"exact_match": after}
    )


def test_a_better_adapter_becomes_current(tmp_path: Path):
    adapters = tmp_path / "adapters"
    install(candidate(tmp_path, "a.gguf", 0.15, 0.20), adapters)
    current = current_adapter(adapters)
    assert current["adapter"] == "a.gguf" and current["gain_exact_match"] == pytest.approx(0.05)
    assert Path(current["path"]).read_bytes() == b"GGUFa.gguf"
    assert current["prompt_format"] == "ghostwright-fim" and current["forced"] is False


def test_worse_or_broken_adapters_are_refused_and_leave_the_current_one(tmp_path: Path):
    adapters = tmp_path / "adapters"
    install(candidate(tmp_path, "a.gguf", 0.15, 0.20), adapters)
    with pytest.raises(GhostwrightError, match="does not beat the current model"):
        install(candidate(tmp_path, "b.gguf", 0.20, 0.19), adapters)
    failed = {"passed": False, "kl_mean": 0.7, "top1_agreement": 0.6}
    with pytest.raises(GhostwrightError, match="failed the logit check"):
        install(candidate(tmp_path, "c.gguf", 0.1, 0.9, failed), adapters)
    assert current_adapter(adapters)["adapter"] == "a.gguf"
    assert sorted(p.name for p in adapters.iterdir()) == ["a.gguf", CURRENT]
    install(candidate(tmp_path, "b.gguf", 0.20, 0.19), adapters, force=True)
    assert current_adapter(adapters)["forced"] is True


def test_a_failed_copy_leaves_nothing_half_written(tmp_path: Path, monkeypatch):
    adapters = tmp_path / "adapters"
    install(candidate(tmp_path, "a.gguf", 0.15, 0.20), adapters)

    def disk_full(source, target):
        Path(target).write_bytes(b"GG")  # a partial write, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.copyfile", disk_full)
    with pytest.raises(GhostwrightError, match="No space left"):
        install(candidate(tmp_path, "b.gguf", 0.1, 0.5), adapters)
    assert sorted(p.name for p in adapters.iterdir()) == ["a.gguf", CURRENT]
    assert json.loads((adapters / CURRENT).read_text())["adapter"] == "a.gguf"


def test_no_or_dangling_current_adapter(tmp_path: Path):
    assert current_adapter(tmp_path) is None
    (tmp_path / CURRENT).write_text('{"adapter": "gone.gguf"}')
    assert current_adapter(tmp_path) is None
    (tmp_path / CURRENT).write_text("{not json")
    assert current_adapter(tmp_path) is None


def test_a_pruned_student_that_keeps_enough_becomes_the_served_model(tmp_path: Path):
    from dataclasses import replace

    from ghostwright.server.config import Settings
    from ghostwright.server.installs.records import teacher_record, with_installed_adapter
    from ghostwright.server.installs.write import install_student

    repo = tmp_path / "repo"
    adapters = repo / ".ghostwright" / "adapters"
    install(candidate(tmp_path, "teacher.gguf", 0.15, 0.20), adapters)
    teacher = current_adapter(adapters)
    timed = (
        {"exact_match": 0.20, "latency_p50_ms": 900.0},
        {"exact_match": 0.17, "latency_p50_ms": 500.0},
    )
    student = replace(
        candidate(tmp_path, "s.gguf", 0, 0), before=timed[0], after=timed[1], teacher=teacher
    )
    with pytest.raises(GhostwrightError, match="keeps 85% of the teacher's exact match"):
        install_student(student, adapters, min_retained=0.9)
    assert current_adapter(adapters)["adapter"] == "teacher.gguf"  # untouched

    install_student(student, adapters, min_retained=0.8)
    record = current_adapter(adapters)
    assert record["model"] == "s.gguf" and record["distilled"] == "pruned"
    assert record["retained"] == pytest.approx(0.85) and record["speedup"] == pytest.approx(1.8)
    served = with_installed_adapter(replace(Settings(), model="default"), repo)
    assert served.model == str(adapters / "s.gguf") and served.adapter == ""
    weighed = with_installed_adapter(Settings(), repo)  # `auto` weighs it against the tiers
    assert weighed.model == "auto" and weighed.installed_student == str(adapters)
    assert record["teacher_model"] == "gemma"  # the teacher was its own base model
    assert with_installed_adapter(replace(Settings(), model="mine.gguf"), repo).model == "mine.gguf"
    assert teacher_record(repo)["path"] == teacher["path"]  # the next distillation's teacher


def test_a_context_student_is_served_with_its_window_unless_the_user_chose_one(tmp_path: Path):
    from dataclasses import replace

    from ghostwright.server.config import Settings
    from ghostwright.server.installs.records import with_installed_adapter
    from ghostwright.server.installs.write import install_student

    repo = tmp_path / "repo"
    adapters = repo / ".ghostwright" / "adapters"
    student = candidate(tmp_path, "c.gguf", 0.20, 0.19)
    serve = {"prompt_tokens": 512, "retrieval": False}
    install_student(student, adapters, min_retained=0.9, distilled="context", serve=serve)
    assert current_adapter(adapters)["model"] == "c.gguf"
    served = with_installed_adapter(Settings(), repo)
    assert served.model.endswith("c.gguf") and served.prompt_tokens == 512
    assert served.retrieval is False and served.adapter == ""
    mine = with_installed_adapter(replace(Settings(), prompt_tokens=1024), repo)
    assert mine.prompt_tokens == 1024 and mine.retrieval is False


def test_under_auto_an_installed_adapter_brings_the_model_it_was_trained_on(tmp_path: Path):
    from dataclasses import replace

    from ghostwright.server.config import Settings
    from ghostwright.server.installs.records import with_installed_adapter

    repo = tmp_path / "repo"
    trained = replace(candidate(tmp_path, "a.gguf", 0.15, 0.20), base_model="default")
    install(trained, repo / ".ghostwright" / "adapters")
    served = with_installed_adapter(Settings(), repo)  # model = auto
    assert served.adapter.endswith("a.gguf") and served.model == "default"  # gemma, its base
    named = with_installed_adapter(replace(Settings(), model="gemma-3-270m"), repo)
    assert named.adapter.endswith("a.gguf") and named.model == "gemma-3-270m"
    other = with_installed_adapter(replace(Settings(), model="qwen2.5-coder-1.5b"), repo)
    assert other.model == "qwen2.5-coder-1.5b" and other.adapter == ""  # not trained for it


def test_a_run_under_auto_trains_on_one_named_tier(tmp_path: Path, monkeypatch):
    """An adapter fits only its base: a run under `auto` pins auto's current pick (or the
    installed adapter's base, which auto then serves) so a later change of pick cannot split
    the adapter from its model."""
    from dataclasses import replace
    from types import SimpleNamespace

    from ghostwright.server import auto_model
    from ghostwright.server.config import Settings
    from ghostwright.training.run_setup import training_base as _training_base

    pick = SimpleNamespace(tier=SimpleNamespace(name="qwen2.5-coder-0.5b"))
    monkeypatch.setattr(auto_model, "choose_model", lambda settings: pick)
    home = tmp_path / "repo" / ".ghostwright"
    assert _training_base(Settings(), home, "b") == "qwen2.5-coder-0.5b"
    trained = replace(candidate(tmp_path, "a.gguf", 0.15, 0.20), base_model="gemma-3-270m")
    install(trained, home / "adapters")
    assert _training_base(Settings(), home, "b") == "gemma-3-270m"
    named = replace(Settings(), model="qwen2.5-coder-1.5b")
    assert _training_base(named, home, "b") == "qwen2.5-coder-1.5b"
    assert _training_base(replace(Settings(), model="default"), home, "b") == "default"


def test_a_truncated_or_corrupt_installed_model_is_passed_over_with_one_warning(
    tmp_path: Path, caplog
):
    adapters = tmp_path / "adapters"
    install(candidate(tmp_path, "a.gguf", 0.15, 0.20), adapters)
    assert current_adapter(adapters)["bytes"] == len(b"GGUFa.gguf")
    (adapters / "a.gguf").write_bytes(b"GGUFa")  # a copy cut short
    with caplog.at_level("WARNING"):
        assert current_adapter(adapters) is None
        assert current_adapter(adapters) is None
    assert [r.message for r in caplog.records] == [
        f"installed {adapters / 'a.gguf'} is truncated or damaged (5 of 10 bytes): serving "
        "without it"
    ]
    (adapters / "a.gguf").write_bytes(b"\0" * 10)  # the right size, but not a model
    assert current_adapter(adapters) is None
