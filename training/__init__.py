"""ghostwright training: datasets from the user's repository, fine-tuning, evaluation, export."""
