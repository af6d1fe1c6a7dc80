"""Read and check the ``output.omezarr`` block of a Brieflow ``config.yml``.

Brieflow's export design::

    output:
      omezarr:
        enabled: true
        after_steps: ["preprocess", "sbs", "phenotype", "merge", "aggregate", "cluster"]
        layout: "per_image"        # or "plate"
        write_args:
          compressor: "default"    # or blosc-zstd, blosc-lz4, zstd, none

Every wrong value is refused with a message naming the key and the allowed values. Channel
names come from the same file (``sbs.channel_names``, ``phenotype.channel_names``, and
``preprocess.{sbs,phenotype}_channel_order``), since Brieflow's TIFFs carry none.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.brieflow.names import EXPORT_STEPS
from napari_omezarr_export.core.options import CODECS, StorageOptions

__all__ = ["LAYOUTS", "ExportConfig", "load_export_config", "parse_export_config"]

log = logging.getLogger(__name__)

LAYOUTS = ("per_image", "plate")
_KNOWN_KEYS = {"enabled", "after_steps", "layout", "write_args"}
_COMPRESSORS = ("default", *CODECS)


@dataclass(frozen=True)
class ExportConfig:
    """What a Brieflow run's ``output.omezarr`` block asks for.

    Attributes
    ----------
    enabled : bool
        False: nothing is exported.
    steps : tuple of str
        The steps to export, in pipeline order.
    layout : {"per_image", "plate"}
        One store per tile, or one HCS plate per image type (sbs and phenotype).
    storage : StorageOptions
        NGFF 0.4 (zarr v2) for per-image stores and tables, with the chosen codec.
    channels : dict
        Channel names by source (``"sbs"``, ``"phenotype"``, ``"preprocess/sbs"``,
        ``"preprocess/phenotype"``), when the config names them.
    """

    enabled: bool
    steps: tuple[str, ...]
    layout: str = "per_image"
    storage: StorageOptions = field(default_factory=StorageOptions)
    channels: dict[str, list[str]] = field(default_factory=dict)


def _fail(key: str, value: object, allowed: str) -> InvalidOptionError:
    return InvalidOptionError(
        f"output.omezarr.{key} is {value!r} in the config; {allowed}. Nothing was exported."
    )


def _steps(value: Any) -> tuple[str, ...]:
    allowed = ", ".join(repr(s) for s in EXPORT_STEPS)
    if isinstance(value, str) or not isinstance(value, list):
        raise _fail("after_steps", value, f"give a list of steps, from {allowed}")
    unknown = [s for s in value if s not in EXPORT_STEPS]
    if unknown:
        raise _fail("after_steps", unknown, f"the steps are {allowed}")
    return tuple(s for s in EXPORT_STEPS if s in value)


def _storage(write_args: Any) -> StorageOptions:
    if write_args is None:
        return StorageOptions(ngff_version="0.4")
    if not isinstance(write_args, dict):
        raise _fail("write_args", write_args, "give a mapping such as {compressor: default}")
    for key in sorted(set(write_args) - {"compressor"}):
        log.warning("output.omezarr.write_args.%s is not used by this exporter.", key)
    compressor = write_args.get("compressor", "default")
    compressor = "none" if compressor is None else compressor
    if compressor not in _COMPRESSORS:
        allowed = ", ".join(repr(c) for c in _COMPRESSORS)
        raise _fail("write_args.compressor", compressor, f"choose one of {allowed}")
    codec = "blosc-zstd" if compressor == "default" else compressor
    return StorageOptions(ngff_version="0.4", codec=codec)


def _channel_names(config: dict) -> dict[str, list[str]]:
    def names(block: str, key: str) -> list[str] | None:
        section = config.get(block)
        value = section.get(key) if isinstance(section, dict) else None
        return [str(v) for v in value] if isinstance(value, list) and value else None

    sbs, phenotype = names("sbs", "channel_names"), names("phenotype", "channel_names")
    # Preprocessed tiles hold the channels the later steps name; *_channel_order is the order
    # raw files are read in (it may be flipped), so it only names them when nothing else does.
    found = {
        "sbs": sbs,
        "phenotype": phenotype,
        "preprocess/sbs": sbs or names("preprocess", "sbs_channel_order"),
        "preprocess/phenotype": phenotype or names("preprocess", "phenotype_channel_order"),
    }
    return {k: v for k, v in found.items() if v is not None}


def parse_export_config(config: Any, *, where: str = "the config") -> ExportConfig:
    """Check a parsed ``config.yml`` and return its export settings.

    Parameters
    ----------
    config : dict
        The whole Brieflow config, as YAML parsed it.
    where : str
        How to name the file in messages.

    Returns
    -------
    ExportConfig
        The settings; ``enabled`` False means nothing is to be exported.

    Raises
    ------
    InvalidOptionError
        The block is missing, or a key has a value the exporter cannot follow.
    """
    output = config.get("output") if isinstance(config, dict) else None
    block = output.get("omezarr") if isinstance(output, dict) else None
    if not isinstance(block, dict):
        raise InvalidOptionError(
            f"{where} has no output.omezarr block, so it does not say what to export. Add "
            "one, such as:\n  output:\n    omezarr:\n      enabled: true\n      after_steps: "
            '["preprocess", "sbs", "phenotype", "merge"]\n      layout: "per_image"'
        )
    for key in sorted(set(block) - _KNOWN_KEYS):
        log.warning("output.omezarr.%s in %s is not used by this exporter.", key, where)
    enabled = block.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _fail("enabled", enabled, "write true or false")
    steps = _steps(block.get("after_steps", []))
    layout = block.get("layout", "per_image")
    if layout not in LAYOUTS:
        raise _fail("layout", layout, "choose 'per_image' or 'plate'")
    if layout == "plate" and "preprocess" in steps:
        raise _fail(
            "layout",
            layout,
            "Brieflow's plates hold sbs and phenotype tiles only (its preprocess images "
            "nest each cycle under a tile); remove 'preprocess' from after_steps, or choose "
            "'per_image'",
        )
    storage = _storage(block.get("write_args"))
    return ExportConfig(enabled, steps, layout, storage, _channel_names(config))


def load_export_config(path: str | os.PathLike[str]) -> ExportConfig:
    """Read a Brieflow ``config.yml`` and return its export settings.

    Parameters
    ----------
    path : path
        The config file.

    Returns
    -------
    ExportConfig
        As `parse_export_config` returns it.

    Raises
    ------
    InvalidOptionError
        The file cannot be read or is not YAML, pyyaml is missing, or the block is wrong.
    """
    from napari_omezarr_export.core.layouts.brieflow.table_write import require_table_packages

    require_table_packages()
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidOptionError(
            f"The config {path} could not be read ({exc.strerror or exc}); check the path."
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidOptionError(
            f"The config {path} is not valid YAML ({exc}); fix it, then run again."
        ) from exc
    return parse_export_config(config, where=str(path))
