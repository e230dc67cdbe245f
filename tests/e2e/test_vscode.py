"""The VS Code extension: install, lint, unit tests and a packaged .vsix (what CI ships)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ghostwright.server.config import vscode_properties

EXTENSION = Path(__file__).parents[2] / "editors" / "vscode"
NPM = shutil.which("npm")


def test_the_settings_schema_is_the_servers():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    properties = manifest["contributes"]["configuration"]["properties"]
    server = {key: value for key, value in properties.items() if key in vscode_properties()}
    assert server == vscode_properties(), (
        "regenerate with `python -m ghostwright.server.config --vscode`"
    )


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
def test_extension_lints_passes_its_tests_and_packages():
    def npm(*args: str) -> None:
        done = subprocess.run([NPM, *args], cwd=EXTENSION, capture_output=True, text=True)
        assert done.returncode == 0, f"npm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"

    npm("ci", "--no-audit", "--no-fund")
    npm("run", "lint")
    npm("test")
    (EXTENSION / "ghostwright.vsix").unlink(missing_ok=True)
    npm("run", "package")
    assert (EXTENSION / "ghostwright.vsix").stat().st_size > 10_000
