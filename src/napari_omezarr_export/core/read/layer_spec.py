"""The napari-free description of one layer to show, shared by every reading module.

A :class:`LayerSpec` holds lazy data plus keyword arguments using napari's names, but no napari
object: colours are ``#rrggbb`` strings and label colours a plain dict, which the ``_napari``
adapter turns into colormaps. :class:`Reference` carries an image's world transform per axis
name so that labels and masks can be put in register with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from napari_omezarr_export.core.read.multiscales import Multiscale

__all__ = ["LayerSpec", "Reference", "affine_over", "affine_without", "units_of"]

Matrix = tuple[tuple[float, ...], ...]

MASK_RGBA = (1.0, 0.0, 1.0, 1.0)
TRANSPARENT = (0.0, 0.0, 0.0, 0.0)


@dataclass
class LayerSpec:
    """One layer to add to a viewer.

    Parameters
    ----------
    layer_type : {"image", "labels"}
        The napari layer type.
    data : list of dask.array.Array
        Levels, largest first (one element when not multiscale).
    kwargs : dict
        napari keyword arguments (``name``, ``scale``, ``translate``, ``axis_labels``,
        ``units``, ``metadata``, ``visible``, ``opacity``, ``blending``, ``contrast_limits``,
        ``features`` ...), all plain Python / numpy / pandas values.
    color : str or None
        Image layers: the ``#rrggbb`` colour of a black-to-colour colormap.
    label_colors : dict or None
        Labels layers: ``{label value or None: (r, g, b, a) floats}``.
    """

    layer_type: Literal["image", "labels"]
    data: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    color: str | None = None
    label_colors: dict[Any, tuple[float, ...]] | None = None

    @property
    def multiscale(self) -> bool:
        """True when there is more than one level."""
        return len(self.data) > 1

    @property
    def name(self) -> str:
        """The layer name."""
        return str(self.kwargs.get("name", ""))


@dataclass(frozen=True)
class Reference:
    """An image's per-axis world transform, to register labels and masks with it.

    Parameters
    ----------
    path : Path or None
        The image group.
    axes : dict
        ``{axis name: (scale, translate, level-0 size, unit)}`` for every non-channel axis.
    affine : tuple of tuple of float, optional
        NGFF 0.6: the image's layer ``affine`` over the axes of ``axes``, in their order.
    """

    path: Path | None
    axes: dict[str, tuple[float, float, int, str | None]]
    affine: Matrix | None = None

    @classmethod
    def from_multiscale(cls, ms: Multiscale, scale: tuple[float, ...] | None = None) -> Reference:
        """Build a reference from an opened image (optionally with a corrected scale)."""
        scale = scale or ms.scale
        shape = ms.shapes[0]
        kept = [i for i, a in enumerate(ms.axes) if a.name != "c" and a.type != "channel"]
        axes = {
            ms.axes[i].name: (scale[i], ms.translate[i], shape[i], ms.axes[i].unit) for i in kept
        }
        affine = None
        if ms.affine is not None:
            affine = affine_over(ms.affine, kept)
        return cls(ms.path, axes, affine)

    def affine_for(self, names: tuple[str, ...]) -> Matrix | None:
        """The image's ``affine`` for a layer with these axes, or None when it has none.

        Also None when the axes left out are mixed with the others by the matrix (a label
        image with fewer axes cannot follow such a transform).
        """
        if self.affine is None or any(n not in self.axes for n in names):
            return None
        order = list(self.axes)
        kept = [order.index(n) for n in names]
        dropped = [i for i in range(len(order)) if i not in kept]
        if any(self.affine[r][c] or self.affine[c][r] for r in kept for c in dropped):
            return None
        return affine_over(self.affine, kept)

    def register(
        self, names: tuple[str, ...], shape: tuple[int, ...]
    ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[str | None, ...]] | None:
        """Scale, translate and units putting an array with these axes onto the image.

        Axes are matched by name; the scale follows the ratio of the level-0 extents, so a
        label image with scale [1, 1] (PerCell 3) or a different size still lands in register.
        Returns None when an axis is not found in the image.
        """
        if any(n not in self.axes for n in names):
            return None
        scale, shift, units = [], [], []
        for n, size in zip(names, shape, strict=True):
            s, t, ref_size, unit = self.axes[n]
            scale.append(s * ref_size / size if size and size != ref_size else s)
            shift.append(t)
            units.append(unit)
        return tuple(scale), tuple(shift), tuple(units)


def affine_over(matrix: Matrix, kept: list[int]) -> Matrix:
    """Rows and columns ``kept`` of a homogeneous matrix, plus its last (shift) row/column."""
    index = [*kept, len(matrix) - 1]
    return tuple(tuple(float(matrix[r][c]) for c in index) for r in index)


def affine_without(matrix: Matrix, axis: int | None) -> Matrix:
    """A homogeneous matrix without one axis (the channel axis a layer split off), as is if None.

    Parameters
    ----------
    matrix : tuple of tuple of float
        ``(n+1) x (n+1)``.
    axis : int or None
        The axis to drop.

    Returns
    -------
    tuple of tuple of float
        ``n x n`` (or unchanged).
    """
    if axis is None:
        return matrix
    return affine_over(matrix, [i for i in range(len(matrix) - 1) if i != axis])


def units_of(units: tuple[str | None, ...]) -> tuple[str, ...]:
    """Replace missing units by ``"pixel"`` (napari's default unit)."""
    return tuple(u if isinstance(u, str) and u else "pixel" for u in units)
