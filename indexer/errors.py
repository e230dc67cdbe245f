"""The indexer's error type: a message meant for the user, shown as one line."""

from __future__ import annotations


class IndexerError(Exception):
    """Something the user can fix (a missing model, an unreadable index directory)."""
