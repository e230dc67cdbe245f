"""The local feedback log (SQLite) and `ghostwright feedback stats|export|purge`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ghostwright.server.cli import main
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.feedback.log import (
    FeedbackLog,
    Shown,
    feedback_path,
    surviving_share,
)


def shown(text: str = "return a + b") -> Shown:
    return Shown("src/add.py", "python", 3, 4, "def add(a, b):\n    ", "\n", text, "default", 120.0)


@pytest.fixture
def log(tmp_path: Path) -> FeedbackLog:
    opened = FeedbackLog(feedback_path(tmp_path))
    yield opened
    opened.close()


def test_outcomes_are_recorded_once_and_overwritten_only_follows_an_acceptance(log):
    accepted, dismissed, open_ = (log.shown(shown(), at=float(t)) for t in range(3))
    assert log.decided(accepted, "accepted", accepted_chars=12)
    assert not log.decided(accepted, "dismissed")  # decided already
    assert log.decided(dismissed, "dismissed")
    assert not log.decided(dismissed, "overwritten")  # nothing was accepted to overwrite
    assert log.survived(accepted, 0.75) and not log.survived(dismissed, 1.0)
    assert log.decided(accepted, "overwritten")
    assert not log.decided("no-such-id", "accepted")
    with pytest.raises(GhostwrightError, match="outcome must be one of"):
        log.decided(open_, "liked")
    rows = list(log.rows())
    assert [row["id"] for row in rows] == [accepted, dismissed, open_]  # oldest first
    assert rows[0]["outcome"] == "overwritten" and rows[0]["accepted_chars"] == 12
    assert rows[0]["survived"] == 0.75 and rows[0]["prefix"] == "def add(a, b):\n    "
    assert rows[2]["outcome"] is None


def test_stats_count_outcomes_and_the_acceptance_rate(log):
    for outcome in ("accepted", "accepted", "partial", "dismissed"):
        log.decided(log.shown(shown()), outcome)
    log.shown(shown())
    stats = log.stats()
    assert stats["shown"] == 5 and stats["undecided"] == 1
    assert stats["outcomes"] == {"accepted": 2, "partial": 1, "dismissed": 1, "overwritten": 0}
    assert stats["acceptance_rate"] == 0.75 and stats["mean_survival"] is None


def test_the_share_of_a_suggestion_still_in_the_file():
    assert surviving_share("return a + b", "    return a + b\n") == 1.0
    assert surviving_share("return a + b", "    return a - b\n") == pytest.approx(11 / 12)
    assert surviving_share("return a + b", "pass") < 0.5
    assert surviving_share("", "anything") == 0.0


def test_a_log_from_a_newer_version_or_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(GhostwrightError, match="newer ghostwright"):
        FeedbackLog(path)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all, certainly not sqlite" * 10)
    with pytest.raises(GhostwrightError, match="cannot open the feedback log"):
        FeedbackLog(garbage)


def test_the_feedback_command_shows_exports_and_purges_only_when_told(tmp_path, capsys):
    log = FeedbackLog(feedback_path(tmp_path))
    log.decided(log.shown(shown()), "accepted")
    log.shown(shown("pass"))
    log.close()
    repo = ["--repo", str(tmp_path)]

    assert main(["feedback", "stats", "--json", *repo]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["shown"] == 2 and stats["acceptance_rate"] == 1.0

    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out), *repo]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in records] == ["return a + b", "pass"]

    with pytest.raises(SystemExit) as refused:
        main(["feedback", "purge", *repo])
    assert refused.value.code == 2
    assert "deletes 2 records" in capsys.readouterr().err
    assert main(["feedback", "purge", "--yes", *repo]) == 0
    assert "deleted 2 records" in capsys.readouterr().err
    assert main(["feedback", "stats", "--json", *repo]) == 0
    assert json.loads(capsys.readouterr().out)["shown"] == 0


def test_the_feedback_command_without_a_log_or_with_a_missing_repository(tmp_path, capsys):
    assert main(["feedback", "stats", "--repo", str(tmp_path)]) == 0
    assert "no feedback recorded" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        main(["feedback", "stats", "--repo", str(tmp_path / "nope")])
    assert missing.value.code == 2
    assert capsys.readouterr().err.startswith("ghostwright: error: no such repository")


def test_a_version_1_log_is_migrated_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "feedback.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE suggestions (id TEXT PRIMARY KEY, shown_at REAL NOT NULL, path TEXT NOT NULL,"
        " language TEXT NOT NULL, line INTEGER NOT NULL, column INTEGER NOT NULL, prefix TEXT NOT"
        " NULL, suffix TEXT NOT NULL, text TEXT NOT NULL, model TEXT NOT NULL, latency_ms REAL NOT"
        " NULL, outcome TEXT, accepted_chars INTEGER, decided_at REAL, survived REAL);"
        "INSERT INTO suggestions VALUES ('a', 1, 'x.py', 'python', 0, 0, '', '', 'pass', 'm', 1,"
        " 'accepted', 4, 2, NULL); PRAGMA user_version = 1;"
    )
    old.commit()
    old.close()
    log = FeedbackLog(path)
    assert log.survived("a", 0.5, final="pass  # kept")
    (row,) = log.rows()
    assert row["final"] == "pass  # kept" and row["outcome"] == "accepted"
    log.close()


TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0kLmN0pQrStUvWxYz"  # split: no scanner trips on this file


def test_the_log_never_stores_a_secret_and_redacts_an_older_log_on_reading(log):
    from ghostwright.server.feedback.log import CONTEXT_CHARS, shown_at

    # A key straddling the window's edge is redacted whole, not cut into an unknown fragment.
    text = "x = 1\n" * 10 + f'KEY = "{TOKEN}"\n' + "y = 2\n" * ((CONTEXT_CHARS - 20) // 6) + "z = "
    record, _ = shown_at(text, text.count("\n"), 4, "3", path="a.py", language="python",
                         model="m", latency_ms=1.0)  # fmt: skip
    assert TOKEN[-10:] not in record.prefix and "y = 2" in record.prefix
    identifier = log.shown(record)
    log.written(identifier, f"z = '{TOKEN}'")
    raw = log.shown(shown(f"return '{TOKEN}'"))
    log._db.execute("UPDATE suggestions SET prefix = ? WHERE id = ?", (TOKEN, raw))  # as typed
    assert all(TOKEN not in json.dumps(row) for row in log.rows())
    stored = log._db.execute("SELECT prefix, text, final FROM suggestions").fetchall()
    assert sum(TOKEN in json.dumps(row) for row in stored) == 1  # only the simulated old row
