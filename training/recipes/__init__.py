"""Training recipes: setup / train / save / resume."""
