"""The benchmark workloads and their synthetic, realistic input data.

Images are smooth cell-sized blobs over a smooth background, with Poisson (shot) noise, in a
12-bit range; labels are piecewise constant with thousands of ids and wavy boundaries. Never
uniform random noise: no microscope produces it and no codec compresses it, so it would make
every writer look compression-bound.

Each workload's input is generated once and cached as a ``.npy`` file, so that every writer's
fresh subprocess loads exactly the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parent / "output"


@dataclass(frozen=True)
class Workload:
    """One benchmark case: what to write and how (the settings every writer shares)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    axes: str  # NGFF axis names, e.g. "cyx"
    levels: int
    kind: str = "image"  # "image" or "labels"
    chunks: tuple[int, ...] | None = None  # None: 1 on every axis but y/x, 1024 on y/x
    seed: int = 0
    description: str = ""

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        if self.chunks is not None:
            return self.chunks
        return tuple(
            min(1024, n) if a in "yx" else 1 for a, n in zip(self.axes, self.shape, strict=True)
        )

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def method(self) -> str:
        return "nearest" if self.kind == "labels" else "mean"

    @property
    def n_channels(self) -> int:
        return self.shape[self.axes.index("c")] if "c" in self.axes else 1

    def level_shapes(self) -> list[tuple[int, ...]]:
        """Factor-2 y/x levels, ``ceil(n / 2)``, full resolution first."""
        shapes = [tuple(self.shape)]
        for _ in range(1, self.levels):
            shapes.append(
                tuple(
                    math.ceil(n / 2) if a in "yx" else n
                    for a, n in zip(self.axes, shapes[-1], strict=True)
                )
            )
        return shapes

    def data_path(self) -> Path:
        dims = "x".join(str(n) for n in self.shape)
        return OUTPUT / "data" / f"{self.name}_{self.kind}_{dims}_{self.dtype}_s{self.seed}.npy"


WORKLOADS: dict[str, Workload] = {
    "W1": Workload(
        "W1", (3, 2048, 2048), "uint16", "cyx", 3, description="3x2048x2048 uint16, 3 levels"
    ),
    "W2": Workload(
        "W2",
        (4, 8192, 8192),
        "uint16",
        "cyx",
        5,
        description="4x8192x8192 uint16 (512 MiB), 5 levels",
    ),
    "W3": Workload(
        "W3",
        (8192, 8192),
        "int32",
        "yx",
        5,
        kind="labels",
        description="8192x8192 int32 labels, 5 levels, nearest",
    ),
    "W4": Workload(
        "W4",
        (2, 64, 1024, 1024),
        "uint16",
        "czyx",
        3,
        description="2x64x1024x1024 CZYX uint16, 3 levels on y/x only",
    ),
}

# --quick: the same cases, 16x to 64x smaller, for a fast look at the code path.
QUICK_SHAPES = {
    "W1": (3, 1024, 1024),
    "W2": (4, 2048, 2048),
    "W3": (2048, 2048),
    "W4": (2, 16, 512, 512),
}


def get_workloads(names: list[str], quick: bool = False) -> list[Workload]:
    """Return the named workloads, shrunk when ``quick``."""
    out = []
    for name in names:
        wl = WORKLOADS[name]
        if quick:
            wl = replace(wl, shape=QUICK_SHAPES[name], levels=min(wl.levels, 3))
        out.append(wl)
    return out


def tiny_workload(kind: str = "image") -> Workload:
    """A 1x256x256 (or 256x256 labels) case with 2 levels and 128-pixel chunks, for tests."""
    if kind == "labels":
        return Workload("tiny-labels", (256, 256), "int32", "yx", 2, "labels", (128, 128))
    return Workload("tiny", (1, 256, 256), "uint16", "cyx", 2, "image", (1, 128, 128))


# --- data ------------------------------------------------------------------------------------


def _smooth(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """A smooth field in [0, 1] (float32) with features about ``sigma`` pixels wide."""
    from napari_omezarr_export.core.samples import smooth_blobs

    return smooth_blobs(shape, rng, sigma=sigma, amplitude=1.0).astype(np.float32)


def _image_plane(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One fluorescence-like uint16 plane: cells on a smooth background, shot noise."""
    background = 150.0 + 250.0 * _smooth(shape, rng, max(shape) / 8)
    cells = _smooth(shape, rng, 24.0)
    # Keep the brightest parts of a fine-scale field: cell-sized bright blobs, dark gaps.
    cells = np.clip((cells - 0.55) * 2.5, 0.0, None)
    cells **= 1.5
    clean = background + 3000.0 * cells
    return np.minimum(rng.poisson(clean), 4095).astype(np.uint16)


def _labels(shape: tuple[int, int], rng: np.random.Generator, cell: int = 48) -> np.ndarray:
    """Piecewise-constant int32 labels: jittered blocks of about ``cell`` pixels with wavy
    boundaries (block ids looked up at smoothly displaced coordinates), ~20 % background."""
    ny, nx = (math.ceil(n / cell) + 2 for n in shape)
    ids = rng.permutation(ny * nx).astype(np.int32).reshape(ny, nx) + 1
    ids[rng.random((ny, nx)) < 0.2] = 0
    dy = (_smooth(shape, rng, 2.0 * cell) - 0.5) * cell
    dx = (_smooth(shape, rng, 2.0 * cell) - 0.5) * cell
    out = np.empty(shape, dtype=np.int32)
    cols = np.arange(shape[1], dtype=np.float32)
    for y0 in range(0, shape[0], 1024):  # in bands, to keep the temporaries small
        rows = np.arange(y0, min(y0 + 1024, shape[0]), dtype=np.float32)[:, None]
        yy = ((rows + dy[y0 : y0 + len(rows)]) / cell + 1).astype(np.int64)
        xx = ((cols + dx[y0 : y0 + len(rows)]) / cell + 1).astype(np.int64)
        out[y0 : y0 + len(rows)] = ids[np.clip(yy, 0, ny - 1), np.clip(xx, 0, nx - 1)]
    return out


def generate(wl: Workload) -> np.ndarray:
    """Make the workload's input data (deterministic for its seed)."""
    rng = np.random.default_rng(wl.seed)
    yx = wl.shape[-2:]
    if wl.kind == "labels":
        return _labels(yx, rng).reshape(wl.shape)
    out = np.empty(wl.shape, dtype=wl.dtype)
    planes = out.reshape(-1, *yx)
    if "z" in wl.axes:
        # A z-stack: a few independent planes per channel, blended smoothly along z.
        n_z = wl.shape[wl.axes.index("z")]
        for c in range(wl.n_channels):
            a, b = _image_plane(yx, rng), _image_plane(yx, rng)
            for z in range(n_z):
                t = z / max(1, n_z - 1)
                blend = (1 - t) * a + t * b
                planes[c * n_z + z] = np.minimum(rng.poisson(blend), 4095)
        return out
    for i in range(len(planes)):
        planes[i] = _image_plane(yx, rng)
    return out


def ensure_data(wl: Workload, *, in_subprocess: bool = False) -> Path:
    """Write the workload's input as ``.npy`` once; return its path.

    With ``in_subprocess`` the data is made in a child process, so that the caller's memory
    (which the writers' subprocesses could inherit as a high-water mark) stays small.
    """
    path = wl.data_path()
    if not path.is_file() and in_subprocess:
        import dataclasses
        import json
        import subprocess
        import sys

        code = (
            "import json, sys; from benchmarks.workloads import Workload, ensure_data; "
            "f = json.loads(sys.argv[1]); "
            "ensure_data(Workload(**{k: tuple(v) if isinstance(v, list) else v "
            "for k, v in f.items()}))"
        )
        root = Path(__file__).resolve().parent.parent
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(dataclasses.asdict(wl))], cwd=root, check=True
        )
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = generate(wl)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, data)
        tmp.replace(path)
    return path
