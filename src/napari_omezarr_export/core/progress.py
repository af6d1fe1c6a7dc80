"""The progress every write reports: ``(done, total)``, in chunks or in groups."""

from __future__ import annotations

__all__ = ["Progress"]

Progress = tuple[int, int]
"""``(done, total)``: how many of a write's chunks (or a layout's groups) are written."""
