"""The learning-loop benchmark's replay of git history (tests/bench/git_replay.py), at toy size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

from git_replay import added_lines, commits, simulated_outcome  # noqa: E402

FIRST = "def area(w, h):\n    return w * h\n"
SECOND = "def area(w, h):\n    result = w * h\n    return result\n\n\ndef nothing():\n    pass\n"


def test_added_lines_become_typing_moments(tmp_path):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    for text in (FIRST, SECOND):
        (tmp_path / "shapes.py").write_text(text)
        (tmp_path / "notes.txt").write_text(text)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "edit"], check=True)
    history = commits(tmp_path)
    assert len(history) == 2
    edits = added_lines(tmp_path, history[0], history[1])
    # The blank lines are not typing moments; notes.txt is not code.
    assert [(e.path, e.line, e.target) for e in edits] == [
        ("shapes.py", 1, "result = w * h"),
        ("shapes.py", 2, "return result"),
        ("shapes.py", 5, "def nothing():"),
        ("shapes.py", 6, "pass"),
    ]
    assert edits[0].column == 4
    assert edits[0].document().split("\n")[1] == "    "  # the indentation typed, no more


def test_the_simulated_user():
    target = "result = scale(width, height)"
    assert simulated_outcome(target + "\n", target) == ("accepted", len(target))
    assert simulated_outcome(target + "\nreturn result", target) == ("partial", len(target))
    # Right up to "scale(": accept-word takes "result = scale(" but not half a word.
    assert simulated_outcome("result = scale(w, h)", target) == ("partial", len("result = scale("))
    assert simulated_outcome("result = scaled(w)", target) == ("partial", len("result = "))
    assert simulated_outcome("res", target) == ("dismissed", None)  # less than a word
    assert simulated_outcome("total = 0", target) == ("dismissed", None)
    assert simulated_outcome("", target) == ("dismissed", None)
