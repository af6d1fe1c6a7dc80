"""Where a distributed write's regions get their pixels: inside their task, or from dask.

A region computes its part of the source graph inside its write task (the scheduler sees one
write task per region), band by band, or whole when its bands need a task in common; a
persisted source goes through the scheduler, and a P2P-rechunked one is written by the
client. All must write the same store as one process. Real LocalCluster (in-process workers),
real stores on disk.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
from dask.utils import key_split

from napari_omezarr_export import PyramidOptions, StorageOptions, write_image
from napari_omezarr_export.core.write.region_sources import task_source
from validation import assert_valid_store

distributed = pytest.importorskip("distributed", reason="the cluster extra")

STORAGE = StorageOptions(ngff_version="0.4", chunks=(1, 64, 64))
PYRAMID = PyramidOptions(levels=3)
FIRST = (slice(0, 1), slice(0, 256), slice(0, 256))
LAST = (slice(0, 1), slice(256, 512), slice(256, 512))


def _pattern(block_info=None):
    """A block made where dask computes it: no pixels in the graph."""
    (c0, c1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    z, y, x = np.mgrid[c0:c1, y0:y1, x0:x1]
    return ((y * 7 + x * 13 + z * 101) % 3000).astype(np.uint16)


def _lazy(shape=(1, 512, 512), chunks=(1, 128, 128)):
    return da.map_blocks(_pattern, chunks=da.core.normalize_chunks(chunks, shape), dtype="u2")


def _files(store: Path) -> dict[str, bytes]:
    return {
        p.relative_to(store).as_posix(): p.read_bytes() for p in store.rglob("*") if p.is_file()
    }


def _written_alone(data, target: Path) -> Path:
    return write_image(data, target, pyramid=PYRAMID, storage=STORAGE, client=False)[0]


def _written_with_tasks(client, data, target: Path) -> tuple[Path, set[str]]:
    """Write ``data`` on the cluster; return the store and the names of the tasks that ran."""
    with distributed.get_task_stream(client) as stream:
        [store] = write_image(data, target, pyramid=PYRAMID, storage=STORAGE, client=client)
    return store, {key_split(task["key"]) for task in stream.data}


def test_a_lazy_source_is_computed_inside_the_region_tasks(client, tmp_path):
    data = _lazy()
    expected = _written_alone(data, tmp_path / "one")
    got, ran = _written_with_tasks(client, data, tmp_path / "many")
    assert _files(got) == _files(expected)
    assert_valid_store(got)
    # The scheduler ran the regions and their small results, never a source block on its own.
    assert "write_region" in ran
    assert key_split(data.name) not in ran
    assert not any(name.startswith(("getitem", "_pattern")) for name in ran)


def test_a_source_whose_regions_share_work_is_written_the_same(client, tmp_path):
    lazy = _lazy().astype(np.float32)
    data = (lazy - lazy.mean()).clip(0, None).astype(np.uint16)  # every region needs the mean
    expected = _written_alone(data, tmp_path / "one")
    got, ran = _written_with_tasks(client, data, tmp_path / "many")
    assert _files(got) == _files(expected)
    assert "write_region" in ran


_LOADS: Counter = Counter()
_LOADS_LOCK = threading.Lock()


def _counted(block_info=None):
    """`_pattern`, counting how often each block is made."""
    with _LOADS_LOCK:
        _LOADS[tuple(block_info[None]["chunk-location"])] += 1
    return _pattern(block_info)


@pytest.mark.parametrize(
    ("chunks", "most"),
    [((1, 64, 64), 1), ((1, 128, 512), 2), ((1, 256, 256), 1), ((1, 512, 512), 4)],
    ids=["band-sized", "strips", "region-sized", "one-chunk"],
)
def test_each_source_chunk_is_made_once_per_region_that_reads_it(client, tmp_path, chunks, most):
    # Bands are 64 rows; a chunk taller than a band is read by several bands of its region,
    # which then computes the region once instead of the chunk once per band. A chunk larger
    # than a region (4 regions of 256x256 here) is made once by each region.
    data = da.map_blocks(
        _counted, chunks=da.core.normalize_chunks(chunks, (1, 512, 512)), dtype="u2"
    )
    expected = _written_alone(data, tmp_path / "one")
    _LOADS.clear()
    got, _ = _written_with_tasks(client, data, tmp_path / "many")
    assert _files(got) == _files(expected)
    assert set(_LOADS) == {tuple(i) for i in np.ndindex(data.numblocks)}
    assert max(_LOADS.values()) == most, _LOADS


def test_a_p2p_rechunked_source_is_written_by_the_client_and_says_so(client, tmp_path, caplog):
    strips = da.map_blocks(_pattern, chunks=((1,), (32,) * 16, (512,)), dtype="u2")
    data = strips.rechunk((1, 128, 128), method="p2p")
    expected = _written_alone(strips, tmp_path / "one")
    with caplog.at_level(logging.WARNING):
        got, ran = _written_with_tasks(client, data, tmp_path / "many")
    assert _files(got) == _files(expected)
    assert "write_region" not in ran  # P2P cannot be split into regions
    assert "rechunk with method='tasks'" in caplog.text


def test_a_persisted_source_is_read_from_the_workers(client, tmp_path):
    data = client.persist(_lazy())
    distributed.wait(data)
    expected = _written_alone(data, tmp_path / "one")
    got, ran = _written_with_tasks(client, data, tmp_path / "many")
    assert _files(got) == _files(expected)
    assert "write_region" in ran


def test_a_task_source_reads_its_region_band_by_band_in_the_written_dtype():
    data = _lazy()
    (block,) = dask.optimize(data[LAST])
    source = task_source(block, np.dtype("f4"))
    assert source is not None
    opened = source.open()
    assert opened.shape == (1, 256, 256)
    band = opened[:, 10:20, :]
    assert band.dtype == np.float32
    np.testing.assert_array_equal(band, data[LAST][:, 10:20, :].compute().astype("f4"))


def test_a_persisted_block_is_no_task_source(client):
    data = client.persist(_lazy())
    (block,) = dask.optimize(data[FIRST])
    assert task_source(block, np.dtype("u2")) is None
