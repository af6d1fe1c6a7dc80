"""The only code that knows napari: readers, writers, widget and sample data for npe2."""
