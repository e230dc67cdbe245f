"""A bare JSON-RPC peer over the server's stdio, for sending what no polite client would."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

FAKE_SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]


class RawPeer:
    def __init__(self, command: list[str] = FAKE_SERVER) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.incoming: queue.Queue[dict] = queue.Queue()
        self.responses: dict[object, dict] = {}
        self.received: list[dict] = []  # notifications and server-to-client requests
        threading.Thread(target=self._read, daemon=True).start()
        self._next = 0

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                if not byte:
                    return
                header += byte
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            self.incoming.put(json.loads(stream.read(length)))

    def send_raw(self, body: bytes) -> None:
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: object = None) -> None:
        self.send_raw(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def request(self, method: str, params: object = None) -> int:
        self._next += 1
        message = {"jsonrpc": "2.0", "id": self._next, "method": method, "params": params}
        self.send_raw(json.dumps(message).encode())
        return self._next

    def response(self, request_id: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while request_id not in self.responses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no response to {request_id}")
            try:
                message = self.incoming.get(timeout=remaining)
            except queue.Empty:
                continue
            self._keep(message)
        return self.responses.pop(request_id)

    def _keep(self, message: dict) -> None:
        if "id" in message and "method" not in message:
            self.responses[message["id"]] = message
        else:
            self.received.append(message)

    def call(self, method: str, params: object = None, timeout: float = 30.0) -> dict:
        return self.response(self.request(method, params), timeout)

    def initialize(self, options: dict | None = None, root: Path | None = None) -> dict:
        root_uri = root.as_uri() if root else None
        result = self.call(
            "initialize",
            {
                "processId": None,
                "rootUri": root_uri,
                "capabilities": {},
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})
        for _ in range(200):
            status = self.call("workspace/executeCommand", {"command": "ghostwright.status"})
            if status["result"]["state"] == "ready":
                return result
            time.sleep(0.05)
        raise AssertionError("server never became ready")

    def notifications(self, method: str) -> list[dict]:
        """Notifications of `method` received so far (responses are kept for `response`)."""
        while not self.incoming.empty():
            self._keep(self.incoming.get())
        found = [message for message in self.received if message.get("method") == method]
        self.received = [message for message in self.received if message not in found]
        return found

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0])

    def close(self) -> int:
        self.call("shutdown")
        self.notify("exit")
        return self.process.wait(30)
