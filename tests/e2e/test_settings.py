"""Settings from the workspace file and from the editor, with one warning per bad value."""

from __future__ import annotations

from rpc import RawPeer


def test_workspace_file_and_editor_settings(tmp_path):
    (tmp_path / ".ghostwright.toml").write_text('max_lines = 0\nprompt_format = "codellama"\n')
    peer = RawPeer()
    try:
        peer.initialize({"ghostwright": {"threads": "many"}}, root=tmp_path)
        shown = [m["params"]["message"] for m in peer.notifications("window/showMessage")]
        assert sum("max_lines" in message for message in shown) == 1
        assert sum("threads" in message for message in shown) == 1
        peer.notify("workspace/didChangeConfiguration", {"settings": {"threads": "many"}})
        peer.call("workspace/executeCommand", {"command": "ghostwright.status"})
        again = [m["params"]["message"] for m in peer.notifications("window/showMessage")]
        assert not any("threads" in message for message in again)  # not repeated
        status = peer.call("workspace/executeCommand", {"command": "ghostwright.status"})
        assert status["result"]["state"] == "ready"
    finally:
        assert peer.close() == 0


def test_broken_workspace_file_is_a_warning_not_a_crash(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ghostwright\nmodel = 3\n")
    peer = RawPeer()
    try:
        peer.initialize(root=tmp_path)
        shown = [m["params"]["message"] for m in peer.notifications("window/showMessage")]
        assert any("could not be read" in message for message in shown)
    finally:
        assert peer.close() == 0
