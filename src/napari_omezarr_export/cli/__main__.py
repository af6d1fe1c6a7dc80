"""``python -m napari_omezarr_export.cli``: the same as the ``napari-omezarr-export`` script."""

from napari_omezarr_export.cli import main_exit

main_exit()
