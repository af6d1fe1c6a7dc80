"""NGFF 0.6 (RFC-5) coordinate transformations as homogeneous matrices.

Every transform of NGFF 0.6 that is linear plus a shift (``identity``, ``scale``,
``translation``, ``mapAxis``, ``projectAxis``, ``affine``, ``rotation`` and ``sequence``,
``byDimension`` or ``bijection`` of them) becomes one ``(M+1) x (N+1)`` matrix acting on column
vectors ``[x_0 .. x_N-1, 1]``: exactly what napari's layer ``affine`` takes when ``M == N``.
Displacement fields and coordinate maps are not matrices: they count as the identity, and their
names are returned so that the reader can warn which transform it did not apply.

Pure: a matrix stored in a zarr array (``"path"``) is read by the caller's ``load`` function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import STORE_FIX

__all__ = [
    "FIELD_KINDS",
    "Placement",
    "describe",
    "inverse_matrix",
    "is_diagonal",
    "transform_matrix",
]

MATRIX_KINDS = ("identity", "scale", "translation", "mapAxis", "rotation")

# Transforms stored as vector fields: not a matrix, shown untransformed with a warning.
FIELD_KINDS = ("displacements", "coordinates")

LoadArray = Callable[[str], Any]


@dataclass(frozen=True)
class Placement:
    """A homogeneous matrix and the transforms it could not include.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(M+1) x (N+1)``, last row ``[0 .. 0 1]``.
    skipped : tuple of str
        A description of each transform treated as the identity (fields, unknown kinds).
    """

    matrix: np.ndarray
    skipped: tuple[str, ...] = ()


def describe(transform: object) -> str:
    """How a warning names a transform: its type, and its name or path when it has them."""
    if not isinstance(transform, dict):
        return repr(transform)
    kind = transform.get("type", "?")
    label = transform.get("name") or transform.get("path")
    return f"{kind} {label!r}" if label else str(kind)


def is_diagonal(matrix: np.ndarray) -> bool:
    """True when a square homogeneous matrix is a positive scale plus a shift."""
    linear = matrix[:-1, :-1]
    diagonal = np.diag(np.diag(linear))
    return bool(np.array_equal(linear, diagonal) and np.all(np.diag(linear) > 0))


def _vector(where: object, transform: dict, key: str, size: int) -> np.ndarray:
    values = transform.get(key)
    try:
        vector = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StoreFormatError(f"{where}: {key} {values!r} is not numeric.{STORE_FIX}") from exc
    if vector.shape != (size,) or not np.all(np.isfinite(vector)):
        raise StoreFormatError(
            f"{where}: the {key} transform {values!r} must list {size} finite numbers.{STORE_FIX}"
        )
    return vector


def _stored_matrix(where: object, transform: dict, key: str, load: LoadArray | None) -> Any:
    if key in transform:
        return transform[key]
    path = transform.get("path")
    if isinstance(path, str) and path and load is not None:
        return load(path)
    raise StoreFormatError(
        f"{where}: the {key} transform {describe(transform)} gives neither '{key}' nor a "
        f"readable 'path'.{STORE_FIX}"
    )


def _matrix_param(
    where: object, transform: dict, key: str, shape: tuple[int, int], load: LoadArray | None
) -> np.ndarray:
    raw = _stored_matrix(where, transform, key, load)
    try:
        matrix = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StoreFormatError(f"{where}: {key} {raw!r} is not numeric.{STORE_FIX}") from exc
    if matrix.shape != shape or not np.all(np.isfinite(matrix)):
        raise StoreFormatError(
            f"{where}: the {key} matrix of {describe(transform)} must be {shape[0]} x "
            f"{shape[1]} finite numbers, not of shape {matrix.shape}.{STORE_FIX}"
        )
    return matrix


def _homogeneous(linear: np.ndarray, shift: np.ndarray) -> np.ndarray:
    rows, cols = linear.shape
    matrix = np.zeros((rows + 1, cols + 1))
    matrix[:rows, :cols] = linear
    matrix[:rows, cols] = shift
    matrix[rows, cols] = 1.0
    return matrix


def _indices(where: object, transform: dict, key: str, bound: int) -> list[int]:
    values = transform.get(key, [])
    if (
        not isinstance(values, list)
        or not all(isinstance(v, int) and 0 <= v < bound for v in values)
        or len(set(values)) != len(values)
    ):
        raise StoreFormatError(
            f"{where}: {key} {values!r} of {describe(transform)} must list distinct indices "
            f"below {bound}.{STORE_FIX}"
        )
    return values


def _by_dimension(
    where: object, transform: dict, n_in: int, n_out: int, load: LoadArray | None
) -> Placement:
    parts = transform.get("transformations")
    if not isinstance(parts, list) or not parts:
        raise StoreFormatError(f"{where}: byDimension lists no transformations.{STORE_FIX}")
    matrix = np.zeros((n_out + 1, n_in + 1))
    matrix[n_out, n_in] = 1.0
    skipped: list[str] = []
    for part in parts:
        inner = part.get("transformation") if isinstance(part, dict) else None
        if not isinstance(inner, dict):
            raise StoreFormatError(
                f"{where}: byDimension entry {part!r} has no 'transformation'.{STORE_FIX}"
            )
        ins = _indices(where, part, "inputAxes", n_in)
        outs = _indices(where, part, "outputAxes", n_out)
        sub = transform_matrix(where, inner, len(ins), len(outs), load=load)
        skipped += sub.skipped
        for r, out in enumerate(outs):
            for c, inp in enumerate(ins):
                matrix[out, inp] = sub.matrix[r, c]
            matrix[out, n_in] = sub.matrix[r, len(ins)]
    return Placement(matrix, tuple(skipped))


def _sequence(
    where: object, transform: dict, n_in: int, n_out: int, load: LoadArray | None
) -> Placement:
    steps = transform.get("transformations")
    if not isinstance(steps, list) or not steps:
        raise StoreFormatError(f"{where}: a sequence lists no transformations.{STORE_FIX}")
    matrix = np.eye(n_in + 1)
    skipped: list[str] = []
    ndim = n_in
    for i, step in enumerate(steps):
        # Only a projectAxis changes the dimensionality inside a sequence; the last step lands
        # in the output system.
        if isinstance(step, dict) and step.get("type") == "projectAxis":
            dropped = len(step.get("droppedInputs") or [])
            step_out = ndim - dropped + len(step.get("createdOutputs") or [])
        else:
            step_out = n_out if i == len(steps) - 1 else ndim
        part = transform_matrix(where, step, ndim, step_out, load=load)
        matrix = part.matrix @ matrix
        skipped += part.skipped
        ndim = step_out
    if ndim != n_out:
        raise StoreFormatError(
            f"{where}: the sequence {describe(transform)} ends in {ndim} dimensions, not "
            f"{n_out}.{STORE_FIX}"
        )
    return Placement(matrix, tuple(skipped))


def _project_axis(where: object, transform: dict, n_in: int, n_out: int) -> np.ndarray:
    dropped = _indices(where, transform, "droppedInputs", n_in)
    created = _indices(where, transform, "createdOutputs", n_out)
    kept = [i for i in range(n_in) if i not in dropped]
    targets = [o for o in range(n_out) if o not in created]
    if len(kept) != len(targets):
        raise StoreFormatError(
            f"{where}: projectAxis {describe(transform)} maps {n_in} to {n_out} dimensions "
            f"but drops {len(dropped)} and creates {len(created)}.{STORE_FIX}"
        )
    linear = np.zeros((n_out, n_in))
    for out, inp in zip(targets, kept, strict=True):
        linear[out, inp] = 1.0
    return _homogeneous(linear, np.zeros(n_out))


def _same_size(where: object, transform: dict, n_in: int, n_out: int) -> None:
    if n_in != n_out:
        raise StoreFormatError(
            f"{where}: {describe(transform)} maps {n_in} to {n_out} dimensions; it must keep "
            f"the number of dimensions.{STORE_FIX}"
        )


def transform_matrix(
    where: object,
    transform: object,
    n_in: int,
    n_out: int | None = None,
    *,
    load: LoadArray | None = None,
) -> Placement:
    """Return one NGFF 0.6 transform as a homogeneous matrix.

    Parameters
    ----------
    where : object
        The group, named in error messages.
    transform : object
        The transform as found in the metadata.
    n_in, n_out : int
        The dimensions of its input and output coordinate systems (``n_out`` defaults to
        ``n_in``).
    load : callable, optional
        Reads a zarr array at a path relative to the group, for matrices stored by ``path``.

    Returns
    -------
    Placement
        The ``(n_out+1) x (n_in+1)`` matrix and the transforms treated as the identity
        (displacement fields, coordinate maps, unknown kinds).

    Raises
    ------
    StoreFormatError
        For malformed parameters.
    """
    n_out = n_in if n_out is None else n_out
    if not isinstance(transform, dict) or not isinstance(transform.get("type"), str):
        raise StoreFormatError(f"{where}: transform {transform!r} has no type.{STORE_FIX}")
    kind = transform["type"]
    if kind == "sequence":
        return _sequence(where, transform, n_in, n_out, load)
    if kind == "byDimension":
        return _by_dimension(where, transform, n_in, n_out, load)
    if kind == "bijection":
        return transform_matrix(where, transform.get("forward"), n_in, n_out, load=load)
    if kind == "projectAxis":
        return Placement(_project_axis(where, transform, n_in, n_out))
    if kind == "affine":
        matrix = _matrix_param(where, transform, "affine", (n_out, n_in + 1), load)
        return Placement(_homogeneous(matrix[:, :-1], matrix[:, -1]))
    if kind not in MATRIX_KINDS:  # vector fields (FIELD_KINDS) and kinds unknown here
        if n_in != n_out:
            raise StoreFormatError(
                f"{where}: {describe(transform)} maps {n_in} to {n_out} dimensions and cannot "
                "be shown untransformed."
            )
        return Placement(np.eye(n_in + 1), (describe(transform),))
    _same_size(where, transform, n_in, n_out)
    if kind == "identity":
        return Placement(np.eye(n_in + 1))
    if kind == "scale":
        return Placement(
            _homogeneous(np.diag(_vector(where, transform, "scale", n_in)), np.zeros(n_in))
        )
    if kind == "translation":
        return Placement(
            _homogeneous(np.eye(n_in), _vector(where, transform, "translation", n_in))
        )
    if kind == "rotation":
        rotation = _matrix_param(where, transform, "rotation", (n_in, n_in), load)
        return Placement(_homogeneous(rotation, np.zeros(n_in)))
    order = _indices(where, transform, "mapAxis", n_in)  # mapAxis: output i = input order[i]
    if len(order) != n_in:
        raise StoreFormatError(
            f"{where}: mapAxis {order!r} must list each of the {n_in} axes once.{STORE_FIX}"
        )
    linear = np.zeros((n_in, n_in))
    for out, inp in enumerate(order):
        linear[out, inp] = 1.0
    return Placement(_homogeneous(linear, np.zeros(n_in)))


def inverse_matrix(
    where: object, transform: dict, n_in: int, n_out: int, *, load: LoadArray | None = None
) -> Placement:
    """The matrix taking a transform's output back to its input (``n_out+1 x n_in+1`` inverted).

    A ``bijection`` gives its own ``inverse``; any other transform is inverted numerically
    when its matrix is square and invertible.

    Raises
    ------
    StoreFormatError
        When the transform cannot be inverted.
    """
    if transform.get("type") == "bijection":
        return transform_matrix(where, transform.get("inverse"), n_out, n_in, load=load)
    forward = transform_matrix(where, transform, n_in, n_out, load=load)
    try:
        if n_in != n_out:
            raise np.linalg.LinAlgError("not square")
        return Placement(np.linalg.inv(forward.matrix), forward.skipped)
    except np.linalg.LinAlgError as exc:
        raise StoreFormatError(
            f"{where}: {describe(transform)} cannot be inverted, so its input cannot be placed "
            "in its output's coordinate system."
        ) from exc
