"""Opening a Brieflow phenotype store shows each cell's merge-table row on hover."""

import pandas as pd

from store_factories import make_brieflow_run


def test_opening_the_store_attaches_the_features(tmp_path, rng, make_napari_viewer):
    run = make_brieflow_run(tmp_path, rng)
    viewer = make_napari_viewer()
    viewer.open(str(run), plugin="napari-omezarr-export")
    for name in ("cells", "nuclei"):
        features = viewer.layers[name].features
        assert features["index"].tolist() == [3, 5, 7]
        assert features.set_index("index").loc[3, "gene_symbol"] == "ACTB"
        assert pd.isna(features.set_index("index").loc[5, "barcode"])
    status = viewer.layers["cells"].get_status((10, 20))  # hovering cell 3
    assert status["value"].startswith("3; ") and "gene_symbol: ACTB" in status["value"]
