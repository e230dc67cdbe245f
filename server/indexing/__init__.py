"""The workspace's repository index as the server uses it: opening and keeping it live
(`workspace.py`), its language-server side (`lsp.py`) and `ghostwright index` / `search`
(`commands.py`)."""
