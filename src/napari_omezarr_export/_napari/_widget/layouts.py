"""The export widget's destination layouts: OME-Zarr image, .percell region, Brieflow, plate.

Each layout turns the chosen layers into a core write generator and the paths it will write.
The plain image and the HCS plate field use the widget's pyramid and storage options (a field
is an image inside ``<plate>/<row>/<column>/<field>``, in the plate's own NGFF version); the
PerCell and Brieflow layouts follow their design documents' chunks, codecs and pyramids, which
the status line says, and preview exactly what they write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from magicgui.widgets import ComboBox, Container, LineEdit, Select, SpinBox

from napari_omezarr_export._napari._convert import ImageExport, labels_spec
from napari_omezarr_export.core.api import (
    iter_write_plate_field,
    split_well,  # the core's own well-name rule (core.write.plate), re-exported by the API
    target_path,
    transpose_lazily,
)
from napari_omezarr_export.core.errors import ExportError
from napari_omezarr_export.core.layouts.brieflow import (
    BRIEFLOW_STEPS,
    brieflow_store_path,
    iter_write_brieflow_image,
    preview_brieflow_image,
)
from napari_omezarr_export.core.layouts.percell import (
    DEFAULT_CONDITION,
    PercellRegion,
    experiment_path,
    iter_write_percell_region,
    preview_percell_region,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.reader import PLATE_FIELD_KEY

__all__ = ["LAYOUTS", "PLATE_NEEDS_IMAGES", "LayoutPanel"]

LAYOUTS = [
    ("OME-Zarr image (labels inside)", "image"),
    ("PerCell experiment region (.percell)", "percell"),
    ("Brieflow per-image store", "brieflow"),
    ("HCS plate field (plate, well, field)", "plate"),
]
LayoutKind = Literal["image", "percell", "brieflow", "plate"]
MAX_FIELD = 9999
PLATE_NEEDS_IMAGES = (
    "An HCS plate field needs image layers: they are its channels (the selected Labels layers "
    "are saved inside the field). Select the field's image layers too."
)
Steps = tuple[Iterator[Progress], list[Path]]


def _narrow(combo: ComboBox) -> None:
    """Let a combo box with long choices be narrower than its longest choice."""
    from qtpy.QtWidgets import QComboBox

    policy = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    combo.native.setSizeAdjustPolicy(policy)
    combo.native.setMinimumContentsLength(12)


class LayoutPanel(Container):
    """The layout choice and the names each layout needs (region, or well and tile)."""

    def __init__(self) -> None:
        self.choice = ComboBox(label="Layout", choices=LAYOUTS)
        _narrow(self.choice)
        self.condition = LineEdit(label="Condition", value=DEFAULT_CONDITION)
        self.timepoint = LineEdit(label="Timepoint", value="")
        self.region = LineEdit(label="Region", value="region_1")
        self.masks = Select(label="Masks", choices=(), allow_multiple=True)
        self.masks.native.setMaximumHeight(70)
        self.step = ComboBox(label="Step", choices=BRIEFLOW_STEPS, value="phenotype")
        self.well = LineEdit(label="Well", value="A1")
        self.tile = LineEdit(label="Tile", value="0")
        self.image_type = LineEdit(label="Type", value="")
        self.cycles = ComboBox(label="SBS cycles", choices=["none", "axis", "flatten"])
        self.plate_well = LineEdit(label="Well", value="A1")
        self.field = SpinBox(label="Field", value=0, min=0, max=MAX_FIELD)
        self._percell = [self.condition, self.timepoint, self.region, self.masks]
        self._brieflow = [self.step, self.well, self.tile, self.image_type, self.cycles]
        self._plate = [self.plate_well, self.field]
        super().__init__(widgets=[self.choice, *self._percell, *self._brieflow, *self._plate])
        self.margins = (0, 0, 0, 0)
        self.choice.changed.connect(self._show_fields)
        self._show_fields()

    @property
    def kind(self) -> LayoutKind:
        """Which layout is chosen."""
        return self.choice.value

    def _show_fields(self) -> None:
        for widget in self._percell:
            widget.visible = self.kind == "percell"
        for widget in self._brieflow:
            widget.visible = self.kind == "brieflow"
        for widget in self._plate:
            widget.visible = self.kind == "plate"

    def set_labels(self, layers: Sequence[Any]) -> None:
        """Offer the selected Labels layers as masks; pre-select those marked as masks."""
        self.masks.choices = [(layer.name, layer) for layer in layers]
        self.masks.value = [
            layer for layer in layers if layer.metadata.get("percell_type") == "mask"
        ]

    def suggest_region(self, layers: Sequence[Any]) -> None:
        """Fill the region names from layers that came from a .percell experiment."""
        found = (PercellRegion.from_metadata(layer.metadata) for layer in layers)
        where = next((w for w in found if w is not None), None)
        if where is not None:
            self.condition.value, self.region.value = where.condition, where.region
            self.timepoint.value = where.timepoint or ""

    def suggest_plate_field(self, layers: Sequence[Any]) -> None:
        """Fill the well and field from layers that were opened from a plate's field."""
        found = (layer.metadata.get(PLATE_FIELD_KEY) for layer in layers)
        where = next((w for w in found if isinstance(w, dict) and "well" in w), None)
        if where is None:
            return
        folder = str(where.get("path", "")).rsplit("/", 1)[-1]
        number = int(folder) if folder.isdigit() else where.get("field", 0)
        self.plate_well.value = str(where["well"])
        self.field.value = min(int(number), MAX_FIELD)

    def target(self, destination: Path) -> Path:
        """The folder or store the chosen layout writes to, from the destination path."""
        if self.kind == "percell":
            return experiment_path(destination)
        if self.kind == "brieflow":
            return self._brieflow_path(destination)
        if self.kind == "plate":
            return self.field_path(destination)
        return target_path(destination)

    def field_path(self, plate: Path) -> Path:
        """The field the plate layout writes: ``<plate>/<row>/<column>/<field>``.

        Raises
        ------
        InvalidOptionError
            When the well is not a well name (letters, then digits).
        """
        row, column = split_well(self.plate_well.value.strip())
        return target_path(plate) / row / column / str(self.field.value)

    @property
    def plate_note(self) -> str:
        """What the plate layout does, for the status line."""
        return (
            f"Export writes field {self.field.value} of well {self.plate_well.value.strip()} "
            "into the plate (Save as), in the plate's NGFF version, then lists it in its well "
            "and the well in the plate; the other fields are not touched."
        )

    def _brieflow_path(self, root: Path) -> Path:
        return brieflow_store_path(
            root, step=self.step.value, well=self.well.value, tile=self.tile.value,
            image_type=self.image_type.value or None,
        )  # fmt: skip

    def steps(
        self,
        image: ImageExport | None,
        labels: Sequence[Any],
        destination: Path,
        options: dict | None = None,
    ) -> Steps:
        """Return the write generator and the paths it writes, for the chosen layout.

        Parameters
        ----------
        image : ImageExport or None
            The channels, from the selected image layers.
        labels : sequence of napari Labels layers
            The selected Labels layers.
        destination : Path
            The path in "Save as".
        options : dict, optional
            The widget's ``pyramid`` and ``storage`` options (the plate layout uses them).

        Returns
        -------
        tuple
            The generator of ``(done, total)`` and the paths written.
        """
        if self.kind == "plate":
            return self._plate_steps(image, destination, options or {})
        if self.kind == "percell":
            return self._percell_steps(image, labels, destination)
        if self.kind == "brieflow":
            return self._brieflow_steps(image, labels, destination)
        raise ExportError(  # the plain image layout runs the widget's own plan
            f"The {self.kind!r} layout has no steps of its own; export it through its plan."
        )

    def preview(self, image: ImageExport | None, labels: Sequence[Any], dest: Path) -> dict:
        """Return the attributes the PerCell or Brieflow layout will write, keyed by group.

        Parameters
        ----------
        image : ImageExport or None
            The channels.
        labels : sequence of napari Labels layers
            The selected Labels layers.
        dest : Path
            The path in "Save as" (a placeholder works: keys are relative).

        Returns
        -------
        dict of str to dict
            Attributes per group path.
        """
        if self.kind == "percell":
            data, where, options = self._percell_arguments(image, labels)
            return preview_percell_region(data, dest, where, **options)
        data, options = self._brieflow_arguments(image, labels)
        return preview_brieflow_image(data, dest, **options)

    def _percell_arguments(
        self, image: ImageExport | None, labels: Sequence[Any]
    ) -> tuple[Any, PercellRegion, dict]:
        if image is None:
            raise ExportError("A PerCell region needs image layers: they are its channels.")
        masks = [layer for layer in labels if layer in self.masks.value]
        segmentations = [layer for layer in labels if layer not in masks]
        if len(segmentations) > 1:
            raise ExportError(
                "A PerCell region holds one segmentation; choose the other Labels layers as "
                "masks, or select fewer layers."
            )
        where = PercellRegion(
            self.condition.value, self.region.value, self.timepoint.value or None
        )
        seg = labels_spec(*segmentations[0].as_layer_data_tuple()[:2]) if segmentations else None
        options = {
            "channels": image.channels, "axes": image.axes, "scale": image.scale,
            "units": image.units, "segmentation": seg,
            "masks": [labels_spec(*m.as_layer_data_tuple()[:2]) for m in masks],
        }  # fmt: skip
        return image.data, where, options

    def _percell_steps(
        self, image: ImageExport | None, labels: Sequence[Any], dest: Path
    ) -> Steps:
        data, where, options = self._percell_arguments(image, labels)
        steps = iter_write_percell_region(data, dest, where, **options)
        written = where.group_paths(
            experiment_path(dest),
            segmentation=options["segmentation"] is not None,
            masks=[m.name for m in options["masks"]],
        )
        return steps, written

    def _brieflow_arguments(
        self, image: ImageExport | None, labels: Sequence[Any]
    ) -> tuple[Any, dict]:
        if image is None:
            raise ExportError("A Brieflow store needs image layers: they are its channels.")
        by_name = {layer.name.lower(): layer for layer in labels}
        unknown = sorted(set(by_name) - {"nuclei", "cells"})
        if unknown:
            raise ExportError(
                f"Brieflow stores carry labels named 'nuclei' and 'cells'; rename or unselect "
                f"{', '.join(repr(n) for n in unknown)}."
            )
        data, scale, units = image.data, image.scale, image.units
        if "t" in image.axes:  # stacked layers are (c, t, y, x); Brieflow wants the cycle first
            order = [image.axes.index("t"), image.axes.index("c"), *range(2, len(image.axes))]
            data = transpose_lazily(data, order)
            scale, units = [scale[i] for i in order], [units[i] for i in order]
        options = {
            "step": self.step.value, "well": self.well.value, "tile": self.tile.value,
            "image_type": self.image_type.value or None, "channels": image.channels,
            "cycles": self.cycles.value, "scale": scale, "units": units,
            "nuclei": by_name["nuclei"].data if "nuclei" in by_name else None,
            "cells": by_name["cells"].data if "cells" in by_name else None,
        }  # fmt: skip
        return data, options

    def _brieflow_steps(
        self, image: ImageExport | None, labels: Sequence[Any], root: Path
    ) -> Steps:
        data, options = self._brieflow_arguments(image, labels)
        return iter_write_brieflow_image(data, root, **options), [self._brieflow_path(root)]

    def _plate_steps(self, image: ImageExport | None, plate: Path, options: dict) -> Steps:
        if image is None:
            raise ExportError(PLATE_NEEDS_IMAGES)
        written = [self.field_path(plate)]
        steps = iter_write_plate_field(
            image.data, plate, well=self.plate_well.value.strip(), field=self.field.value,
            **image.as_kwargs(), **options,
        )  # fmt: skip
        return steps, written
