"""Fixtures for the viewer tests."""

import pytest


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """The widget remembers its settings in a folder of the test's own, never the user's."""
    monkeypatch.setenv("NAPARI_OMEZARR_EXPORT_CONFIG_DIR", str(tmp_path / "config"))
