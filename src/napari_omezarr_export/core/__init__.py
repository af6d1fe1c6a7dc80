"""The napari-free core: NGFF metadata, pyramids, stores, discovery and reading."""
