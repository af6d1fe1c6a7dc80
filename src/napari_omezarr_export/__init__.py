"""Save napari layers as OME-Zarr, and open OME-Zarr, .percell and Brieflow stores.

The public Python API below is napari-free: importing it loads numpy, zarr and dask only.
"""

from __future__ import annotations

from napari_omezarr_export.core.api import (
    ExportPlan,
    iter_write_image,
    iter_write_labels,
    iter_write_plate_field,
    plan_image,
    plan_labels,
    preview_labels,
    preview_metadata,
    target_path,
    write_image,
    write_labels,
    write_plate_field,
)
from napari_omezarr_export.core.errors import (
    BrieflowTableError,
    ExportError,
    InvalidOptionError,
    NotOmeZarrError,
    OmeZarrError,
    PercellFormatError,
    StoreFormatError,
    TargetExistsError,
    WriteCancelledError,
    WriteFailedError,
)
from napari_omezarr_export.core.layouts.brieflow.write import (
    brieflow_store_path,
    write_brieflow_image,
)
from napari_omezarr_export.core.layouts.percell.write import PercellRegion, write_percell_region
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)

__version__ = "0.1.0"

__all__ = [
    "BrieflowTableError",
    "ChannelStyle",
    "ExportError",
    "ExportPlan",
    "InvalidOptionError",
    "LabelsSpec",
    "LayerSpec",
    "NotOmeZarrError",
    "OmeZarrError",
    "PercellFormatError",
    "PercellRegion",
    "PyramidOptions",
    "StorageOptions",
    "StoreFormatError",
    "TargetExistsError",
    "WriteCancelledError",
    "WriteFailedError",
    "__version__",
    "brieflow_store_path",
    "iter_write_image",
    "iter_write_labels",
    "iter_write_plate_field",
    "plan_image",
    "plan_labels",
    "preview_labels",
    "preview_metadata",
    "read",
    "target_path",
    "write_brieflow_image",
    "write_image",
    "write_labels",
    "write_percell_region",
    "write_plate_field",
]


def __getattr__(name: str) -> object:
    """Load the read verb on first use: it imports dask, 0.1 s that writing scripts never need."""
    if name in ("read", "LayerSpec"):
        from napari_omezarr_export.core import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
