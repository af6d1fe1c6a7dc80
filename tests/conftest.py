"""Shared fixtures. Viewer tests run under Xvfb (pytest-xvfb) with Mesa's software OpenGL."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NAPARI_ASYNC", "0")


@pytest.fixture
def rng():
    """A seeded random generator so that every test run sees the same data."""
    import numpy as np

    return np.random.default_rng(1234)
