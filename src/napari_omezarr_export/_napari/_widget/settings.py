"""Remember the export widget's last-used options as JSON in the user's config folder.

Only plain values are stored (pyramid, storage and the destination folder); a missing or
unreadable file gives the defaults. ``NAPARI_OMEZARR_EXPORT_CONFIG_DIR`` moves the folder
(tests point it at a temporary directory). This module knows no napari or Qt.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.options import StorageOptions

__all__ = ["DEFAULTS", "load_settings", "save_settings", "settings_path"]

log = logging.getLogger(__name__)

ENV_VAR = "NAPARI_OMEZARR_EXPORT_CONFIG_DIR"
FILE_NAME = "export-widget.json"
DEFAULTS: dict[str, Any] = {
    "levels": 0,
    "image_method": "mean",
    "label_method": "nearest",
    "downsample_z": False,
    "ngff_version": "0.4",
    "codec": "blosc-zstd",
    "level": StorageOptions().level,
    "chunk_target_mib": 4,
    "folder": "",
    "recent_urls": [],  # the "Open OME-Zarr URL" widget's, newest first
}


def settings_path() -> Path:
    """Return the settings file: in ``$NAPARI_OMEZARR_EXPORT_CONFIG_DIR`` or the config dir.

    Returns
    -------
    Path
        The JSON file (it may not exist yet).
    """
    folder = os.environ.get(ENV_VAR)
    if not folder:
        from platformdirs import user_config_dir

        folder = user_config_dir("napari-omezarr-export", appauthor=False)
    return Path(folder) / FILE_NAME


def load_settings() -> dict[str, Any]:
    """Return the saved options merged over `DEFAULTS` (unknown keys and bad types dropped).

    Returns
    -------
    dict
        One value per key of `DEFAULTS`.
    """
    path = settings_path()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return dict(DEFAULTS)
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable export settings %s: %s", path, exc)
        return dict(DEFAULTS)
    if not isinstance(saved, dict):
        return dict(DEFAULTS)
    merged = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = saved.get(key, default)
        if type(value) is type(default):
            merged[key] = value
    return merged


def save_settings(values: dict[str, Any]) -> None:
    """Save the known keys of ``values``; failures are logged, never raised.

    Parameters
    ----------
    values : dict
        Options keyed as in `DEFAULTS`.
    """
    path = settings_path()
    document = {key: values[key] for key in DEFAULTS if key in values}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    except OSError as exc:
        log.warning("Could not save export settings to %s: %s", path, exc)
