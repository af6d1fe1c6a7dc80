"""A small Brieflow run folder as the pipeline leaves it: TIFF tiles, parquet and TSV tables.

`make_tiff_run` writes, under ``<tmp>/brieflow_output`` (file names as Brieflow's targets
build them, ``P-{plate}_W-{well}_T-{tile}[_C-{cycle}]__{type}``):

- ``preprocess/images/sbs/P-1_W-A1_T-0_C-{1,2}__image.tiff`` (3, 32, 32) uint16;
- ``preprocess/images/phenotype/P-1_W-A1_T-0__image.tiff`` (2, 32, 32);
- ``sbs/images/P-1_W-A1_T-0__aligned.tiff`` (2 cycles, 3 channels, 32, 32);
- ``phenotype/images/P-1_W-A1_T-{0,1}__{aligned,nuclei,cells}.tiff`` (2, 32, 32) and (32, 32);
- ``merge/parquets/P-1_W-A1__merge_final.parquet``: cells 1-3 of tile 0 and cell 1 of tile 1,
  with a missing gene, a missing area and a missing nullable integer;
- ``aggregate/tsvs/CeCl-all_ChCo-DAPI_GFP__aggregated.tsv`` and
  ``cluster/DAPI_GFP/all/2/phate_leiden_clustering.tsv``;

and ``<tmp>/config.yml`` with the ``output.omezarr`` block (all six steps, per_image).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SBS_CHANNELS = ["DAPI", "G", "T"]
PHENOTYPE_CHANNELS = ["DAPI", "GFP"]
SIZE = 32
SBS_PIXEL = 1.3
PHENOTYPE_PIXEL = 0.325

CONFIG = """\
all:
  root_fp: brieflow_output/
preprocess:
  sbs_channel_order: [DAPI, G, T]
  phenotype_channel_order: [DAPI, GFP]
sbs:
  channel_names: [DAPI, G, T]
phenotype:
  channel_names: [DAPI, GFP]
output:
  omezarr:
    enabled: {enabled}
    after_steps: {steps}
    layout: "{layout}"
    write_args:
      compressor: "{compressor}"
"""
ALL_STEPS = '["preprocess", "sbs", "phenotype", "merge", "aggregate", "cluster"]'


def write_config(
    path: Path,
    *,
    enabled: str = "true",
    steps: str = ALL_STEPS,
    layout: str = "per_image",
    compressor: str = "default",
) -> Path:
    """Write a Brieflow ``config.yml`` with an ``output.omezarr`` block; return its path."""
    text = CONFIG.format(enabled=enabled, steps=steps, layout=layout, compressor=compressor)
    path.write_text(text, encoding="utf-8")
    return path


def tile_labels(shift: int = 0) -> np.ndarray:
    """Three square cells 1, 2, 3 (nucleus id == cell id), as Brieflow's masks number them."""
    labels = np.zeros((SIZE, SIZE), np.uint16)
    for i, cell in enumerate((1, 2, 3)):
        y = 4 + 9 * i
        labels[y : y + 6, 4 + shift : 12 + shift] = cell
    return labels


def merge_final() -> pd.DataFrame:
    """A merge table: cells 1-3 of tile 0 and cell 1 of tile 1, with missing values."""
    return pd.DataFrame(
        {
            "plate": [1, 1, 1, 1],
            "well": ["A1", "A1", "A1", "A1"],
            "tile": [0, 0, 0, 1],
            "cell_0": [1, 2, 3, 1],
            "gene_symbol": ["ACTB", None, "TP53", "MYC"],
            "area": [36.0, np.nan, 40.5, 30.0],
            "site": pd.array([5, None, 7, 8], dtype="Int64"),
            "mapped": pd.array([True, None, False, True], dtype="boolean"),
        }
    )


def make_tiff_run(
    tmp_path: Path, rng: np.random.Generator, *, metadata: bool = True
) -> tuple[Path, Path]:
    """Write the run folder and its config (see the module's docstring); return both paths."""
    import tifffile

    run = tmp_path / "brieflow_output"

    def tiff(relative: str, data: np.ndarray) -> None:
        path = run / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # Brieflow's own call; tifffile warns of 3-plane data
            warnings.simplefilter("ignore", DeprecationWarning)
            tifffile.imwrite(path, data)

    def image(*shape: int) -> np.ndarray:
        return rng.integers(0, 4096, size=(*shape, SIZE, SIZE), dtype=np.uint16)

    for cycle in (1, 2):
        tiff(f"preprocess/images/sbs/P-1_W-A1_T-0_C-{cycle}__image.tiff", image(3))
    tiff("preprocess/images/phenotype/P-1_W-A1_T-0__image.tiff", image(2))
    tiff("sbs/images/P-1_W-A1_T-0__aligned.tiff", image(2, 3))
    for tile in (0, 1):
        stem = f"phenotype/images/P-1_W-A1_T-{tile}"
        tiff(f"{stem}__aligned.tiff", image(2))
        tiff(f"{stem}__nuclei.tiff", tile_labels(tile))
        tiff(f"{stem}__cells.tiff", tile_labels(tile))
    merge = run / "merge" / "parquets" / "P-1_W-A1__merge_final.parquet"
    merge.parent.mkdir(parents=True)
    merge_final().to_parquet(merge)
    aggregate = run / "aggregate" / "tsvs" / "CeCl-all_ChCo-DAPI_GFP__aggregated.tsv"
    aggregate.parent.mkdir(parents=True)
    pd.DataFrame(
        {"gene_symbol_0": ["ACTB", "nontargeting"], "cell_count": [12, 30], "x": [0.5, None]}
    ).to_csv(aggregate, sep="\t", index=False)
    cluster = run / "cluster" / "DAPI_GFP" / "all" / "2" / "phate_leiden_clustering.tsv"
    cluster.parent.mkdir(parents=True)
    pd.DataFrame({"gene_symbol_0": ["ACTB", "MYC"], "cluster": [0, 1]}).to_csv(
        cluster, sep="\t", index=False
    )
    if metadata:
        folder = run / "preprocess" / "metadata"
        (folder / "sbs").mkdir(parents=True)
        (folder / "phenotype").mkdir()
        pd.DataFrame(
            {"tile": [0, 0], "cycle": [1, 2], "pixel_size_x": SBS_PIXEL, "pixel_size_y": SBS_PIXEL}
        ).to_parquet(folder / "sbs" / "P-1_W-A1__combined_metadata.parquet")
        pd.DataFrame(
            {"tile": [0, 1], "pixel_size_x": PHENOTYPE_PIXEL, "pixel_size_y": PHENOTYPE_PIXEL}
        ).to_parquet(folder / "phenotype" / "P-1_W-A1__combined_metadata.parquet")
    return run, write_config(tmp_path / "config.yml")
