"""`ghostwright http`: llama.cpp's `/infill`, OpenAI's `/v1/completions` and comment-to-code over
HTTP, answered by the same pipeline, index and installed models as the language server."""
