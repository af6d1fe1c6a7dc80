"""Brieflow runs: the public verbs of this layout.

Reading goes through the read entry (`core.reader`); these are what writers and the napari
adapter use. File names, in both directions, are known only to `names`.
"""

from napari_omezarr_export.core.layouts.brieflow.names import (
    BRIEFLOW_STEPS,
    PLATE_STEPS,
    brieflow_plate_path,
    brieflow_store_path,
)
from napari_omezarr_export.core.layouts.brieflow.write import (
    BrieflowOptions,
    flatten_cycles,
    iter_write_brieflow_image,
    preview_brieflow_image,
    write_brieflow_image,
)

__all__ = [
    "BRIEFLOW_STEPS",
    "PLATE_STEPS",
    "BrieflowOptions",
    "brieflow_plate_path",
    "brieflow_store_path",
    "flatten_cycles",
    "iter_write_brieflow_image",
    "preview_brieflow_image",
    "write_brieflow_image",
]
