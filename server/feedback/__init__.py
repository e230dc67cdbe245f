"""The local log of suggestions and what became of them: the log itself (`log.py`), its
language-server side (`lsp.py`) and `ghostwright feedback` (`commands.py`)."""
