"""ghostwright language server, completion pipeline, model backends and CLI."""
