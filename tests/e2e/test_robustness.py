"""What a misbehaving client sends must never take the server down."""

from __future__ import annotations

import time

import pytest
from rpc import RawPeer

URI = "file:///work/demo/big.py"


@pytest.fixture
def peer():
    connection = RawPeer()
    connection.initialize()
    yield connection
    if connection.process.poll() is None:
        connection.process.kill()


def open_doc(peer: RawPeer, text: str, uri: str = URI) -> None:
    peer.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )


def inline_params(line: int, character: int, uri: str = URI) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


def test_malformed_json_and_unknown_methods(peer):
    peer.send_raw(b"{this is not json")
    peer.send_raw(b'{"jsonrpc": "2.0", "id": 999, "method": 42}')
    unknown = peer.call("ghostwright/noSuchMethod", {})
    assert unknown["error"]["code"] == -32601
    peer.notify("ghostwright/noSuchNotification", {"x": 1})
    bad_params = peer.call("textDocument/inlineCompletion", {"textDocument": 3})
    assert "error" in bad_params
    assert (
        peer.call("workspace/executeCommand", {"command": "ghostwright.status"})["result"]["state"]
        == "ready"
    )
    # Neovim encodes an empty Lua table as {}: arguments that are an object, not an array.
    odd = {"command": "ghostwright.status", "arguments": {}}
    assert peer.call("workspace/executeCommand", odd)["result"]["state"] == "ready"


def test_five_megabyte_document(peer):
    text = "".join(f"value_{i} = compute({i})\n" for i in range(220_000)) + "x = "
    assert len(text) >= 5_000_000  # 6.6 MB
    open_doc(peer, text)
    last = text.count("\n")
    started = time.monotonic()
    result = peer.call("textDocument/inlineCompletion", inline_params(last, 4), timeout=60)
    assert result["result"]["items"][0]["insertText"] == "value + 1"
    assert time.monotonic() - started < 30


def test_a_burst_of_requests_with_cancels_keeps_the_server_up_and_bounded(peer):
    open_doc(peer, "def f(value):\n    return \n")
    before = peer.rss_kib()
    ids = []
    for index in range(200):
        request_id = peer.request("textDocument/inlineCompletion", inline_params(1, 11))
        ids.append(request_id)
        if index % 2:
            peer.notify("$/cancelRequest", {"id": request_id})
        time.sleep(0.01)
    answers = [peer.response(request_id, timeout=60) for request_id in ids]
    assert len(answers) == 200
    cancelled = [a for a in answers if "error" in a]
    assert all(a["error"]["code"] == -32800 for a in cancelled)  # RequestCancelled
    assert len(cancelled) >= 50  # most cancels arrive while their request is still running
    last = peer.call("textDocument/inlineCompletion", inline_params(1, 11))
    assert last["result"]["items"][0]["insertText"] == "value + 1"
    assert peer.rss_kib() - before < 50 * 1024  # bounded: well under 50 MiB of growth


def test_shutdown_and_exit_are_clean(peer):
    assert peer.close() == 0
