"""_widget."""
