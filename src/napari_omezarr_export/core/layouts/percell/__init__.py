"""percell."""
