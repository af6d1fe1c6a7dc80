"""HCS plates written by ngff-zarr (NGFF 0.4 and 0.5) and ome-writers open as mosaics.

ome-zarr-py's plates are tests/core/test_plate.py's. Each peer writes a 2 x 3 plate of two
fields a well, every plane holding its own value; the mosaic must show every well in its box,
every field on the slider with the values written, and the channel names the peer wrote.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_omezarr_export
from validation import assert_valid_store

ROWS, COLUMNS, FIELDS = "AB", ("1", "2", "3"), 2
CHANNELS = ["DAPI", "GFP"]
SHAPE = (24, 32)  # (y, x) of every field


def _plane(well_index: int, field: int, channel: int) -> np.ndarray:
    """A plane no other plane equals: a base per (well, field, channel) plus a ramp."""
    base = 1000 * (channel + 1) + 100 * well_index + 10 * field
    return (base + np.arange(SHAPE[0] * SHAPE[1]).reshape(SHAPE) % 7).astype("uint16")


def _truth() -> dict[tuple[str, int], np.ndarray]:
    """``{(well, field): (c, y, x) data}`` for every well of the plate."""
    wells = [r + c for r in ROWS for c in COLUMNS]
    return {
        (well, f): np.stack([_plane(i, f, c) for c in range(len(CHANNELS))])
        for i, well in enumerate(wells)
        for f in range(FIELDS)
    }


def _write_ngff_zarr(path, version: str) -> None:
    """The plate group first (``to_hcs_zarr``: rows, columns, wells), then each field."""
    import ngff_zarr as nz

    wells = [
        nz.PlateWell(path=f"{r}/{c}", rowIndex=i, columnIndex=j)
        for i, r in enumerate(ROWS)
        for j, c in enumerate(COLUMNS)
    ]
    plate = nz.Plate(
        rows=[nz.PlateRow(name=r) for r in ROWS],
        columns=[nz.PlateColumn(name=c) for c in COLUMNS],
        wells=wells,
        name="peer plate",
        field_count=FIELDS,
        version=version,
    )
    # write_hcs_well_image alone writes wells and fields but no plate attributes at the root
    nz.to_hcs_zarr(nz.HCSPlate(str(path), plate), str(path))
    window = nz.OmeroWindow(min=0, max=65535, start=0, end=4000)
    omero = nz.Omero(
        channels=[nz.OmeroChannel(color="FFFFFF", window=window, label=n) for n in CHANNELS]
    )
    for (well, field), data in _truth().items():
        image = nz.to_ngff_image(data, dims=["c", "y", "x"], scale={"y": 0.5, "x": 0.5})
        multiscales = nz.to_multiscales(image, scale_factors=[2])
        multiscales.metadata.omero = omero
        nz.write_hcs_well_image(str(path), multiscales, plate, well[0], well[1:],
                                field_index=field, version=version)  # fmt: skip


def _write_ome_writers(path) -> None:
    """One acquisition whose position axis lists every field of every well (plate mode)."""
    import ome_writers as ow

    positions = [
        ow.Position(name=f"{well}f{field}", plate_row=well[0], plate_column=well[1:])
        for well, field in _truth()
    ]
    settings = ow.AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            ow.Dimension(name="p", type="position", coords=positions),
            ow.Dimension(name="c", type="channel", coords=[ow.Channel(name=n) for n in CHANNELS]),
            ow.Dimension(name="y", type="space", count=SHAPE[0], scale=0.5, unit="micrometer"),
            ow.Dimension(name="x", type="space", count=SHAPE[1], scale=0.5, unit="micrometer"),
        ],
        dtype="uint16",
        plate=ow.Plate(row_names=list(ROWS), column_names=list(COLUMNS)),
        format=ow.OmeZarrFormat(backend="zarr-python"),
        overwrite=True,
    )
    with ow.create_stream(settings) as stream:  # frames in acquisition order: position, channel
        for data in _truth().values():
            for plane in data:
                stream.append(plane)


def _assert_mosaic(path, *, levels: int) -> None:
    specs = napari_omezarr_export.read(path)
    assert [(s.layer_type, s.name) for s in specs] == [
        ("image", "DAPI"),
        ("image", "GFP"),
        ("labels", "wells"),
    ]
    wells = specs[0].kwargs["metadata"]["plate"]["wells"]
    assert sorted(wells) == sorted(r + c for r in ROWS for c in COLUMNS)
    for spec in specs[:2]:
        assert spec.kwargs["axis_labels"] == ("field", "y", "x")
        assert spec.kwargs["scale"] == (1.0, 0.5, 0.5)
        assert len(spec.data) == levels and spec.data[0].shape[0] == FIELDS
    for (well, field), data in _truth().items():
        assert len(wells[well]["fields"]) == FIELDS
        y0, x0, y1, x1 = wells[well]["box"]
        for channel, spec in enumerate(specs[:2]):
            shown = np.asarray(spec.data[0][field, y0:y1, x0:x1])
            np.testing.assert_array_equal(shown[: SHAPE[0], : SHAPE[1]], data[channel])
            assert not shown[SHAPE[0] :].any() and not shown[:, SHAPE[1] :].any()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ngff_zarr_plate(tmp_path, version):
    path = tmp_path / f"ngff_zarr_{version}.ome.zarr"
    _write_ngff_zarr(path, version)
    assert_valid_store(path)
    _assert_mosaic(path, levels=2)
    well = napari_omezarr_export.read(path / "B" / "3")
    np.testing.assert_array_equal(
        np.asarray(well[1].data[0][1, : SHAPE[0], : SHAPE[1]]), _truth()[("B3", 1)][1]
    )


def test_ome_writers_plate(tmp_path):
    path = tmp_path / "ome_writers.ome.zarr"
    _write_ome_writers(path)
    assert_valid_store(path)
    _assert_mosaic(path, levels=1)  # ome-writers 0.3 writes no downsampled levels
