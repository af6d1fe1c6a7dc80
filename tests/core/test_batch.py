"""The batch runner: complete outputs are skipped, failures reported, dry runs write nothing."""

from __future__ import annotations

import io

import numpy as np
import pytest

from napari_omezarr_export import StorageOptions, iter_write_image, read, write_image
from napari_omezarr_export.cli.runner import run_batch
from napari_omezarr_export.core.batch import Job, run_jobs
from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.reader import store_opens
from store_factories import cells_image


def _job(rng, out, *, fail=None):
    data = cells_image(rng, c=1, y=32, x=32)

    def run():
        if fail is not None:
            raise fail
        yield 1, 2
        write_image(data, out, axes="cyx", storage=StorageOptions(ngff_version="0.5"))
        yield 2, 2

    return Job(str(out.name), out, "write a test image", run, lambda: store_opens(out))


def test_a_complete_output_is_skipped_and_a_failure_does_not_stop_the_batch(tmp_path, rng):
    done = tmp_path / "done.ome.zarr"
    list(_job(rng, done).run())
    jobs = [
        _job(rng, done),
        _job(rng, tmp_path / "bad.ome.zarr", fail=StoreFormatError("The source is broken.")),
        _job(rng, tmp_path / "new.ome.zarr"),
    ]

    results = run_jobs(jobs)

    assert [r.status for r in results] == ["skipped", "failed", "written"]
    assert results[1].message == "The source is broken."
    assert store_opens(tmp_path / "new.ome.zarr")
    assert not (tmp_path / "bad.ome.zarr").exists()


def test_an_unexpected_error_names_its_type_and_the_output(tmp_path, rng):
    results = run_jobs([_job(rng, tmp_path / "x.ome.zarr", fail=RuntimeError("codec said no"))])
    assert results[0].status == "failed"
    assert "RuntimeError" in results[0].message and "x.ome.zarr" in results[0].message


def test_a_dry_run_writes_nothing_and_the_table_says_what_would_be_written(tmp_path, rng):
    out = io.StringIO()
    code = run_batch([_job(rng, tmp_path / "new.ome.zarr")], dry_run=True, out=out)

    assert code == 0 and not (tmp_path / "new.ome.zarr").exists()
    table = out.getvalue().splitlines()
    assert table[0].split() == ["status", "source", "output", "note"]
    assert table[1].startswith("would write") and "write a test image" in table[1]
    assert table[-1] == "1 would write"


def test_a_failed_job_makes_the_exit_code_1_and_is_listed_with_its_reason(tmp_path, rng):
    out = io.StringIO()
    jobs = [Job.failed("broken.tif", "Not a TIFF file."), _job(rng, tmp_path / "ok.ome.zarr")]

    assert run_batch(jobs, out=out) == 1
    assert "Not a TIFF file." in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "1 failed, 1 written"


def test_ctrl_c_mid_write_keeps_the_old_store_and_leaves_no_staging(tmp_path, rng):
    target = tmp_path / "a.ome.zarr"
    old = cells_image(rng, c=1, y=32, x=32)
    write_image(old, target, axes="cyx")
    new = cells_image(rng, c=1, y=256, x=256)
    storage = StorageOptions(chunks=(1, 32, 32))

    def run():
        return iter_write_image(new, target, axes="cyx", storage=storage)

    steps = []

    def interrupt(_job, step):
        steps.append(step)
        raise KeyboardInterrupt

    job = Job("a", target, "rewrite", run, lambda: False)
    with pytest.raises(KeyboardInterrupt):
        run_jobs([job], on_progress=interrupt)

    assert steps and steps[0][0] < steps[0][1]  # stopped mid-write, not after it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ome.zarr"]
    [spec] = read(target)
    np.testing.assert_array_equal(np.asarray(spec.data[0]), old[0])
