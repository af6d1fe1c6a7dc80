"""The export widget's Pyramid and Storage panels: controls that build the core's options.

Each panel turns its controls into a frozen options object (`PyramidPanel.options`,
`StoragePanel.options`) and back from saved settings; the chunk shape follows a memory target
until the user edits it, and is checked as they type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, SpinBox

from napari_omezarr_export.core.api import (
    check_chunks,
    chunks_for_memory_target,
    format_shape,
    parse_shape,
)
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import (
    CODECS,
    IMAGE_METHODS,
    LABEL_METHODS,
    PyramidOptions,
    StorageOptions,
)

__all__ = ["PyramidPanel", "StoragePanel", "wrap_text"]

LEVEL_CHOICES = [("automatic", 0)] + [(str(n), n) for n in range(1, 13)]
VERSION_CHOICES = [
    ("0.4 (zarr v2)", "0.4"),
    ("0.5 (zarr v3)", "0.5"),
    ("0.6 (zarr v3, rc0: fewer readers)", "0.6"),
]
ZARR_V3_VERSIONS = ("0.5", "0.6")  # the formats that can shard
TARGET_CHOICES = [(f"{n} MiB", n) for n in (1, 2, 4, 8, 16, 32, 64)]


class PyramidPanel(Container):
    """Number of levels (automatic by default), downsampling methods, z downsampling."""

    def __init__(self) -> None:
        self._levels = ComboBox(label="Levels", choices=LEVEL_CHOICES, value=0)
        self._image_method = ComboBox(label="Image method", choices=IMAGE_METHODS)
        self._label_method = ComboBox(label="Labels method", choices=LABEL_METHODS)
        self._downsample_z = CheckBox(label="Downsample z", value=False)
        self._shapes = Label(label="Level shapes", value="–")
        wrap_text(self._shapes)
        super().__init__(
            widgets=[
                self._levels,
                self._image_method,
                self._label_method,
                self._downsample_z,
                self._shapes,
            ]
        )
        self.margins = (0, 0, 0, 0)

    def options(self) -> PyramidOptions:
        """Return the pyramid options.

        Returns
        -------
        PyramidOptions
            Levels (None when automatic), methods and z downsampling.
        """
        return PyramidOptions(
            levels=self._levels.value or None,
            image_method=self._image_method.value,
            label_method=self._label_method.value,
            downsample_z=bool(self._downsample_z.value),
        )

    def show_shapes(self, shapes: Sequence[Sequence[int]] | None, reason: str = "") -> None:
        """Show the planned level shapes, or why there are none.

        Parameters
        ----------
        shapes : sequence of shape, optional
            One shape per level.
        reason : str
            Why nothing could be planned (shown instead of the shapes); a dash when empty.
        """
        if not shapes:
            self._shapes.value = f"none: {reason}" if reason else "–"
            return
        lines = [f"{i}: {' × '.join(str(n) for n in s)}" for i, s in enumerate(shapes)]
        self._shapes.value = "\n".join(lines)

    def settings(self) -> dict[str, Any]:
        """Return the values to remember.

        Returns
        -------
        dict
            Keys ``levels``, ``image_method``, ``label_method``, ``downsample_z``.
        """
        return {
            "levels": int(self._levels.value),
            "image_method": self._image_method.value,
            "label_method": self._label_method.value,
            "downsample_z": bool(self._downsample_z.value),
        }

    def restore(self, values: dict[str, Any]) -> None:
        """Set the controls from remembered values (invalid ones are ignored).

        Parameters
        ----------
        values : dict
            As returned by `settings`.
        """
        _set(self._levels, values.get("levels"), [v for _, v in LEVEL_CHOICES])
        _set(self._image_method, values.get("image_method"), IMAGE_METHODS)
        _set(self._label_method, values.get("label_method"), LABEL_METHODS)
        self._downsample_z.value = bool(values.get("downsample_z", False))


def wrap_text(label: Label) -> None:
    """Let a label's text wrap to the width it is given, left-aligned, never widening the dock.

    Parameters
    ----------
    label : magicgui Label
        The label (magicgui gives labels a fixed size policy: the text would set the dock's
        width, and the height would not follow the wrapped lines).
    """
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QSizePolicy

    native = label.native
    native.setWordWrap(True)
    native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    policy = native.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Preferred)
    policy.setVerticalPolicy(QSizePolicy.Policy.Minimum)  # as tall as the wrapped text needs
    native.setSizePolicy(policy)


def _set(widget: Any, value: Any, allowed: Sequence[Any]) -> None:
    if value in allowed:
        widget.value = value


class StoragePanel(Container):
    """NGFF version, chunk shape (from a memory target, or typed), shards, codec and level."""

    def __init__(self) -> None:
        self._version = ComboBox(label="Format", choices=VERSION_CHOICES, value="0.4")
        self._target = ComboBox(label="Chunk target", choices=TARGET_CHOICES, value=4)
        self._auto = CheckBox(label="Auto chunks", value=True)
        self._chunks = LineEdit(label="Chunks", tooltip="Chunk shape in axis order")
        self._shards = LineEdit(label="Shards", tooltip="Shard shape (zarr v3); empty: none")
        self._codec = ComboBox(label="Codec", choices=CODECS, value="blosc-zstd")
        self._level = SpinBox(label="Codec level", value=3, min=0, max=22)
        self._check = Label(label="", value="")
        wrap_text(self._check)
        super().__init__(
            widgets=[
                self._version,
                self._target,
                self._auto,
                self._chunks,
                self._shards,
                self._codec,
                self._level,
                self._check,
            ]
        )
        self.margins = (0, 0, 0, 0)
        self._geometry: tuple[tuple[int, ...], Any, str] | None = None
        self._version.changed.connect(self._sync_enabled)
        self._codec.changed.connect(self._sync_enabled)
        self._auto.changed.connect(self._sync_enabled)
        self._target.changed.connect(self._auto_chunks)
        self._auto.changed.connect(self._auto_chunks)
        self._chunks.changed.connect(self._validate)
        self._shards.changed.connect(self._validate)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        self._shards.enabled = self._version.value in ZARR_V3_VERSIONS
        self._level.enabled = self._codec.value != "none"
        self._chunks.enabled = not self._auto.value
        self._target.enabled = bool(self._auto.value)
        self._level.max = 22 if self._codec.value == "zstd" else 9

    def set_geometry(self, shape: Sequence[int] | None, dtype: Any = None, axes: str = "") -> None:
        """Tell the panel the image's NGFF shape, dtype and axes, to size and check chunks.

        Parameters
        ----------
        shape : sequence of int or None
            Level-0 shape in NGFF order; None when nothing is selected.
        dtype : numpy dtype, optional
            The image dtype.
        axes : str
            Axis names such as ``"czyx"``.
        """
        geometry = None if shape is None else (tuple(shape), dtype, axes)
        if geometry == self._geometry:
            return
        self._geometry = geometry
        self._chunks.label = f"Chunks ({axes})" if axes else "Chunks"
        self._auto_chunks()

    def _auto_chunks(self) -> None:
        if not self._auto.value:
            return
        if self._geometry is None:
            self._chunks.value = ""
            return
        shape, dtype, axes = self._geometry
        target = int(self._target.value) * 2**20
        self._chunks.value = format_shape(chunks_for_memory_target(shape, dtype, target, axes))

    def _validate(self) -> str:
        try:
            message = self._problem()
        except (ValueError, InvalidOptionError) as exc:
            message = str(exc)
        self._check.value = message
        return message

    def _problem(self) -> str:
        if self._geometry is None:
            return ""
        shards = parse_shape(self._shards.value) if self._shards.enabled else None
        shape, dtype, _ = self._geometry
        return check_chunks(shape, parse_shape(self._chunks.value), dtype, shards)

    def options(self) -> StorageOptions:
        """Return the storage options; raise `InvalidOptionError` for bad chunks or shards.

        Returns
        -------
        StorageOptions
            Version, chunks, shards, codec and level.
        """
        message = self._validate()
        if message:
            raise InvalidOptionError(message)
        sharded = self._version.value in ZARR_V3_VERSIONS
        shards = parse_shape(self._shards.value) if sharded else None
        return StorageOptions(
            ngff_version=self._version.value,
            chunks=parse_shape(self._chunks.value),
            shards=shards,
            codec=self._codec.value,
            level=int(self._level.value),
        )

    def settings(self) -> dict[str, Any]:
        """Return the values to remember.

        Returns
        -------
        dict
            Keys ``ngff_version``, ``codec``, ``level`` and ``chunk_target_mib``.
        """
        return {
            "ngff_version": self._version.value,
            "codec": self._codec.value,
            "level": int(self._level.value),
            "chunk_target_mib": int(self._target.value),
        }

    def restore(self, values: dict[str, Any]) -> None:
        """Set the controls from remembered values (invalid ones are ignored).

        Parameters
        ----------
        values : dict
            As returned by `settings`.
        """
        _set(self._version, values.get("ngff_version"), [v for _, v in VERSION_CHOICES])
        _set(self._codec, values.get("codec"), CODECS)
        _set(self._target, values.get("chunk_target_mib"), [v for _, v in TARGET_CHOICES])
        level = values.get("level")
        if isinstance(level, int) and 0 <= level <= self._level.max:
            self._level.value = level
