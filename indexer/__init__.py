"""ghostwright repository index: files, chunks, embeddings, FAISS + SQLite."""
