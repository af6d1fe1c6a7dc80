"""Sources that are not OME-Zarr, opened lazily for conversion: TIFF and OME-TIFF files.

`napari_omezarr_export.core.sources.tiff.open_tiff` gives a TIFF's first image as a lazy dask
array with its axis names, channel names and pixel sizes. The command line's ``convert`` and
the Brieflow exports build on it; nothing here knows napari, or writes.
"""
