"""ngff."""
