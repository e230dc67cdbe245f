"""LSP handlers: the only modules that see lsprotocol types. Each registers itself on the server."""
