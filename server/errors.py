"""The one exception type whose message is meant for the user, not for a traceback."""

from __future__ import annotations


class GhostwrightError(Exception):
    """A failure the user can act on; its message is one line that says what to change."""
