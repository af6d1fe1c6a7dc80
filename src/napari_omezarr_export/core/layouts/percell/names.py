"""The one place that knows where a PerCell region lives in a ``.percell`` experiment.

The design document's name-based layout: ``images.zarr/<condition>/[<timepoint>/]<region>``,
the same path under ``labels.zarr`` and ``masks.zarr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.targets import local_path

__all__ = ["STORES", "PercellRegion", "experiment_path"]

STORES = ("images.zarr", "labels.zarr", "masks.zarr")
_SAFE_NAME = re.compile(r"^[^/\\\x00]+$")


@dataclass(frozen=True)
class PercellRegion:
    """Where a region goes inside an experiment.

    Parameters
    ----------
    condition : str
        The condition folder, e.g. ``"control"``.
    region : str
        The region (field of view) name.
    timepoint : str, optional
        The timepoint folder; omitted from the path when None (the usual case).
    """

    condition: str
    region: str
    timepoint: str | None = None

    def __post_init__(self) -> None:
        for what in ("condition", "region", "timepoint"):
            name = getattr(self, what)
            if name is None and what == "timepoint":
                continue
            if not name or name in (".", "..") or not _SAFE_NAME.match(str(name)):
                raise InvalidOptionError(
                    f"PerCell {what} name {name!r} cannot be a folder name; use letters, digits, "
                    "'-' or '_'."
                )

    @property
    def parts(self) -> tuple[str, ...]:
        """The path inside each store: condition, [timepoint,] region."""
        return tuple(p for p in (self.condition, self.timepoint, self.region) if p is not None)


def experiment_path(path: str | Path) -> Path:
    """Return the experiment folder: ``.percell`` is added when the name lacks it."""
    path = local_path(path)  # refuses remote targets and paths inside a file
    return path if path.suffix == ".percell" else path.with_name(path.name + ".percell")
