"""The execution sandbox: right answers pass, wrong ones fail, nothing escapes to the host."""

from __future__ import annotations

import os

import pytest

from ghostwright.training.evaluate import sandbox

CHECK = (
    "def add(a, b):\n    return {body}\n\ndef check(f):\n    assert f(2, 3) == 5\n\ncheck(add)\n"
)


@pytest.fixture(params=["bubblewrap", "audit-hook"])
def mode(request, monkeypatch):
    if request.param == "bubblewrap":
        if sandbox.bubblewrap() is None:
            pytest.skip("bwrap is not installed or cannot create a sandbox here")
    else:
        monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    return request.param


def test_canonical_passes_and_wrong_fails(mode):
    assert sandbox.run_python(CHECK.format(body="a + b")).passed
    wrong = sandbox.run_python(CHECK.format(body="a - b"))
    assert wrong.status == "failed" and "AssertionError" in wrong.detail


def test_infinite_loop_times_out(mode):
    assert sandbox.run_python("while True:\n    pass\n", timeout_s=1.5).status == "timeout"


def test_memory_bomb_fails_instead_of_eating_the_host(mode):
    result = sandbox.run_python("x = bytearray(8 * 1024**3)\n", memory_mb=512)
    assert result.status == "failed" and "MemoryError" in result.detail


def test_deleting_host_files_is_impossible(mode, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    code = (
        "import os, shutil\n"
        f"for attempt in (lambda: os.remove({str(victim)!r}),\n"
        f"                lambda: shutil.rmtree({str(tmp_path)!r}),\n"
        f"                lambda: open({str(victim)!r}, 'w').write('gone')):\n"
        "    try:\n        attempt()\n    except Exception:\n        pass\n"
    )
    sandbox.run_python(code)
    assert victim.read_text() == "keep me"


def test_environment_secrets_are_not_inherited(mode, monkeypatch):
    monkeypatch.setenv("GHOSTWRIGHT_TEST_TOKEN", "hunter2")
    code = (
        "import os\n"
        "assert 'GHOSTWRIGHT_TEST_TOKEN' not in os.environ\n"
        "assert not any('hunter2' in value for value in os.environ.values())\n"
    )
    assert sandbox.run_python(code).passed
    assert os.environ["GHOSTWRIGHT_TEST_TOKEN"] == "hunter2"


def test_the_working_directory_is_private_and_writable(mode):
    code = "open('scratch.txt', 'w').write('ok')\nassert open('scratch.txt').read() == 'ok'\n"
    assert sandbox.run_python(code).passed


def test_bubblewrap_hides_host_files_and_network(tmp_path):
    if sandbox.bubblewrap() is None:
        pytest.skip("bwrap is not installed or cannot create a sandbox here")
    secret = tmp_path / "secret.txt"
    secret.write_text("api-key")
    code = (
        "import os, socket\n"
        f"assert not os.path.exists({str(secret)!r})\n"
        "assert not os.path.exists(os.path.expanduser('~/.ssh'))\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "except OSError:\n    pass\nelse:\n    raise SystemExit('network reachable')\n"
    )
    result = sandbox.run_python(code)
    assert result.passed, result.detail


def test_audit_hook_refuses_subprocesses(monkeypatch):
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    result = sandbox.run_python("import subprocess\nsubprocess.run(['true'])\n")
    assert result.status == "failed" and "not allowed" in result.detail
