"""`ghostwright http` over the deterministic fake backend, for fast end-to-end tests.

Usage: fake_http.py WORKSPACE [--port N] [--host H] [--api-key K] [--model NAME] [--retrieval]
Only tests start this file; user settings can never select the fake backend.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fake_server import load

from ghostwright.server.config import Settings
from ghostwright.server.http_api.app import run
from ghostwright.server.http_api.host import Host

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--model", default="fake")
    parser.add_argument("--retrieval", action="store_true")
    args = parser.parse_args()
    # Retrieval waits for the index's answer: the first request in a test must see the snippets.
    settings = Settings(
        model=args.model, retrieval=args.retrieval, latency_budget_ms=0, retrieval_time_ms=5000
    )
    sys.exit(run(Host(args.workspace, settings, load), args.host, args.port, args.api_key))
