"""Installed adapters, students and embedders: writing an install (`write.py`), reading what
is installed (`records.py`), noticing a new one while serving (`watch.py`, `lsp.py`)."""
