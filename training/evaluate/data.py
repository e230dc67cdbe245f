"""Public FIM benchmarks as evaluation cases: a document, a cursor and the text that belongs there.

The data is never copied into the repository: it is read from `--data DIR`, else the
GHOSTWRIGHT_EVALDATA environment variable, else `../shared/evaldata` when present.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ghostwright.server.errors import GhostwrightError

ENV_VARIABLE = "GHOSTWRIGHT_EVALDATA"
HUMANEVAL_FILES = {
    "humaneval-single": "HumanEval-SingleLineInfilling.jsonl.gz",
    "humaneval-multi": "HumanEval-MultiLineInfilling.jsonl.gz",
    "humaneval-span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "humaneval-span-light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
SANTACODER_LANGUAGES = {"py": "python", "js": "javascript", "java": "java"}


@dataclass(frozen=True)
class EvalCase:
    """One hole: the editor shows `prefix + suffix` with the cursor between them."""

    case_id: str
    prefix: str
    suffix: str
    target: str
    language: str = "python"
    stratum: str = ""
    test: str = ""  # executable check, for pass@k benchmarks
    entry_point: str = ""
    trivial: bool = False  # the target is a lone closer, `else:` and the like

    @property
    def text(self) -> str:
        return self.prefix + self.suffix

    @property
    def line(self) -> int:
        return self.prefix.count("\n")

    @property
    def column(self) -> int:
        return len(self.prefix) - (self.prefix.rfind("\n") + 1)


def find_data_dir(explicit: Path | None = None) -> Path:
    """The evaluation data folder, or a clear error naming the ways to provide it."""
    candidates = [explicit] if explicit else []
    if not explicit and os.environ.get(ENV_VARIABLE):
        candidates.append(Path(os.environ[ENV_VARIABLE]))
    if not candidates:
        repo_root = Path(__file__).resolve().parents[2]
        candidates += [Path.cwd() / "../shared/evaldata", repo_root / "../shared/evaldata"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise GhostwrightError(
        f"evaluation data not found (looked in {', '.join(str(c) for c in candidates)}); "
        f"pass --data DIR or set {ENV_VARIABLE}"
    )


def _rows(path: Path) -> Iterator[dict]:
    if not path.is_file():
        raise GhostwrightError(f"benchmark file missing: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def line_aligned(prompt: str, middle: str, suffix: str) -> tuple[str, str, str]:
    """A hole of whole lines as an editor sees it: the cursor on an empty line of its own.

    Returns (prefix, suffix, target) such that prefix + target + suffix is the original file.
    """
    prefix = prompt if prompt.endswith("\n") else prompt + "\n"
    if middle.endswith("\n"):  # the hole owns its line break: it moves to the suffix
        return prefix, "\n" + suffix, middle[:-1]
    rest = suffix if suffix.startswith("\n") else "\n" + suffix
    return prefix, rest, middle


def load_humaneval(data_dir: Path, benchmark: str) -> list[EvalCase]:
    """HumanEval infilling (single-line, multi-line, random spans), with executable tests."""
    path = data_dir / "humaneval-infilling" / HUMANEVAL_FILES[benchmark]
    whole_lines = benchmark in ("humaneval-single", "humaneval-multi")
    cases = []
    for row in _rows(path):
        if whole_lines:
            prefix, suffix, target = line_aligned(
                row["prompt"], row["canonical_solution"], row["suffix"]
            )
        else:
            prefix, suffix, target = row["prompt"], row["suffix"], row["canonical_solution"]
        cases.append(
            EvalCase(
                case_id=row["task_id"],
                prefix=prefix,
                suffix=suffix,
                target=target,
                test=row["test"],
                entry_point=row["entry_point"],
                stratum=benchmark.removeprefix("humaneval-"),
            )
        )
    return cases


def load_santacoder(data_dir: Path, languages: tuple[str, ...] = ()) -> list[EvalCase]:
    """SantaCoder FIM: one-line holes in Python, JavaScript and Java, scored by exact match."""
    path = data_dir / "santacoder-fim" / "santacoder-fim-task.jsonl.gz"
    cases = []
    for row in _rows(path):
        language = SANTACODER_LANGUAGES.get(row["language"], row["language"])
        if languages and language not in languages:
            continue
        prefix, suffix, target = line_aligned(
            row["prompt"], row["canonical_solution"], row["suffix"]
        )
        cases.append(
            EvalCase(
                case_id=row["name"],
                prefix=prefix,
                suffix=suffix,
                target=target,
                language=language,
                stratum=language,
                trivial=is_trivial(target),
            )
        )
    return cases


def is_trivial(target: str) -> bool:
    """Targets any model gets by pattern: closers, `else`, `pass`, `break` and the like."""
    body = target.strip().rstrip(";")
    if not body:
        return True
    if all(char in ")]}" for char in body.replace(" ", "")):
        return True
    return body in {
        "else:",
        "else {",
        "} else {",
        "try:",
        "pass",
        "break",
        "continue",
        "return",
        "end",
        "});",
        "})",
        "default:",
        "finally:",
    }
