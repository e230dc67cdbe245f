"""Record real outputs of the packaged default model for the post-processing golden tests.

Run: python tests/unit/golden/capture.py > tests/unit/golden/postprocess.json
then review every `expected` by hand: the file is a record of judgement, not of current output.
The cursor in each snippet is marked with `‸`.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from ghostwright.server.config import Settings
from ghostwright.server.engine import open_completer
from ghostwright.server.pipeline.complete import CompletionRequest

SNIPPETS = {
    "return-expression": "def area(width, height):\n    return ‸\n",
    "new-line-in-body": (
        "import os\n\n\ndef list_python_files(root):\n    result = []\n"
        "    for name in os.listdir(root):\n        ‸\n"
    ),
    "after-block-opener": "def read_lines(path):‸\n\n\ndef main():\n    pass\n",
    "call-argument-before-closer": (
        "import json\n\n\ndef load(path):\n    with open(path) as handle:\n"
        "        return json.load(‸)\n"
    ),
    "print-loop": (
        "def show(files):\n    for file in files:\n        print(file)\n    for file in files:\n"
        "        ‸"
    ),
    "repeat-previous-line": "x = 1\nprint(x)\nprint(x)\n‸",
    "top-level-imports": "import os\nimport sys\n‸\n",
    "dict-literal": 'DEFAULTS = {\n    "host": "localhost",\n    "port": 8080,\n    ‸\n}\n',
    "javascript-function": "function add(a, b) {\n  ‸\n}\n\nmodule.exports = { add };\n",
    "class-method": (
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, item):\n        self.items.append(item)\n\n"
        "    def pop(self):\n        ‸\n"
    ),
    "docstring-start": 'def parse_version(text):\n    """‸\n',
    "if-condition": "def sign(x):\n    if x > 0:\n        return 1\n    elif ‸\n",
    "string-argument": "import logging\n\nlogger = logging.getLogger(‸)\n",
    "comment-line": "# Compute the factorial of n recursively\ndef factorial(n):\n    ‸\n",
    "list-comprehension": "numbers = [1, 2, 3, 4]\nsquares = [‸]\n",
}


def split(snippet: str) -> tuple[str, int, int]:
    before, after = snippet.split("‸")
    line = before.count("\n")
    return before + after, line, len(before) - (before.rfind("\n") + 1)


def main() -> None:
    cases = []
    with open_completer(Settings()) as completer:
        for name, snippet in SNIPPETS.items():
            text, line, column = split(snippet)
            request = CompletionRequest(text, line, column, path=name)
            prepared = completer.prepare(request)
            result = completer.complete(request)
            cases.append(
                {
                    "name": name,
                    "raw": result.raw,
                    "complete": result.stop_reason == "eos",
                    "healed": prepared.healed,
                    "hole": asdict(prepared.hole),
                    "expected": result.completion,
                }
            )
    print(json.dumps(cases, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
