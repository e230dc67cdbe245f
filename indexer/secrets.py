"""Secret-looking text: found so that it is never indexed, and scrubbed from training samples.

Secret *files* are refused by name in `files.py`; this module looks inside the text of the files
that pass. Three kinds of evidence count:

- a private-key block (`-----BEGIN ... PRIVATE KEY-----`);
- a credential with a known shape (AWS access key ids, GitHub, GitLab, Slack, Stripe, Google,
  OpenAI-style and Hugging Face tokens, JWTs);
- a string assigned to a name such as password, secret, token or api_key whose characters look
  random (12 or more key-like characters, letters and digits mixed, Shannon entropy of at least
  3.5 bits per character), so that `password = "changeme123"`, `token = os.environ["TOKEN"]`,
  `token_url = "https://..."` and `KEY_NAME = "SECRET_KEY_VAR"` stay, and `token = "x8Kf2..."` goes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY"
    r"(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
KNOWN_TOKENS = re.compile(
    r"\b(?:"
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|(?:sk|rk)_live_[A-Za-z0-9]{20,}"  # Stripe
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}"  # OpenAI / Anthropic style
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"  # JWT
    r")"
)
SECRET_NAMES = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key"
    r"|private[_-]?key|client[_-]?secret|credentials?)"
)
ASSIGNED_SECRET = re.compile(
    rf"""(?ix)
    [\w.\-]*{SECRET_NAMES}[\w.\-]*["']?   # the name, possibly quoted as a dict or JSON key
    \s*(?::=|=>|[:=])\s*                   # assignment or key/value separator
    (?P<quote>["'`])(?P<value>[A-Za-z0-9+/_\-=.]{{12,}})(?P=quote)
    """
)
MIN_ENTROPY_BITS = 3.5
REDACTED = "<redacted>"


@dataclass(frozen=True)
class SecretMatch:
    start: int
    end: int
    kind: str


def find_secrets(text: str) -> list[SecretMatch]:
    """Spans of `text` that hold secrets, in order, not overlapping."""
    found = [SecretMatch(m.start(), m.end(), "private key") for m in PRIVATE_KEY.finditer(text)]
    found += [SecretMatch(m.start(), m.end(), "token") for m in KNOWN_TOKENS.finditer(text)]
    for match in ASSIGNED_SECRET.finditer(text):
        if _looks_random(match["value"]):
            found.append(SecretMatch(match.start("value"), match.end("value"), "assigned secret"))
    return _without_overlaps(sorted(found, key=lambda item: (item.start, -item.end)))


def contains_secret(text: str) -> bool:
    return bool(find_secrets(text))


def scrub(text: str) -> str:
    """`text` with every secret replaced by a placeholder (for training samples)."""
    parts, position = [], 0
    for match in find_secrets(text):
        parts += [text[position : match.start], REDACTED]
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


def shannon_entropy(value: str) -> float:
    """Bits per character: about 2-3 for words, 4 and more for random keys."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    """Letters and digits mixed, with high entropy: keys, not words, names or constants."""
    mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    return mixed and shannon_entropy(value) >= MIN_ENTROPY_BITS


def _without_overlaps(matches: list[SecretMatch]) -> list[SecretMatch]:
    kept: list[SecretMatch] = []
    for match in matches:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept
