"""brieflow."""
