"""Training data from a repository: FIM and comment-to-code samples, split by file."""
