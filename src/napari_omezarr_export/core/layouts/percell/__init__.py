"""PerCell experiments (``.percell``): the public verbs of this layout.

Reading goes through the read entry (`core.reader`); these are what writers and the napari
adapter use. Where each group lives is known only to `names`.
"""

from napari_omezarr_export.core.layouts.percell.names import (
    DEFAULT_CONDITION,
    PercellRegion,
    experiment_path,
)
from napari_omezarr_export.core.layouts.percell.write import (
    RegionOptions,
    RegionPlan,
    free_region,
    iter_write_percell_region,
    plan_percell_region,
    preview_percell_region,
    write_percell_region,
)

__all__ = [
    "DEFAULT_CONDITION",
    "PercellRegion",
    "RegionOptions",
    "RegionPlan",
    "experiment_path",
    "free_region",
    "iter_write_percell_region",
    "plan_percell_region",
    "preview_percell_region",
    "write_percell_region",
]
