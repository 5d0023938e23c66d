"""Snapshots of a NIFTI image, the way XNAT's UI looks for them.

``ORIGINAL``: three orthogonal views through the centre of the image (axial, coronal,
sagittal, left to right), each scaled to its physical size; ``THUMBNAIL``: the axial view,
at most 128 pixels. Views are in RAS space whatever the voxel order on disk, shown in the
radiological convention of XNAT's DICOM snapshots: the subject's right on the image's left
(axial, coronal), anterior on the left (sagittal), superior / anterior at the top. Grey levels
span the 2nd to 98th percentile of the three views. A 4D image is shown by one volume (the
caller picks it: the middle one, or the first b=0 volume of a DWI series).

Only the data the views need is read: three slices through nibabel's array proxy for an
uncompressed file, one volume for a compressed one (a gzip stream cannot be read out of order
cheaply).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from .gz import open_gzip

PANEL = 256            # pixels across the largest physical extent in ORIGINAL
THUMB = 128
GAP = 4


def _voxel_index(img, volume: int) -> tuple:
    extra = len(img.shape) - 3
    if extra <= 0:
        return ()
    return (min(max(volume, 0), img.shape[3] - 1),) + (0,) * (extra - 1)


def _as_real(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.names:                       # RGB(A) NIFTI: mean of the channels
        arr = np.mean([arr[n].astype(np.float32) for n in arr.dtype.names], axis=0)
    elif np.iscomplexobj(arr):
        arr = np.abs(arr)
    return np.asarray(arr, dtype=np.float32)


class _Mapped:
    """Slices of an uncompressed image through a memory map: a sagittal plane touches one
    value per row, which nibabel's reader would fetch with one read each."""

    def __init__(self, proxy):
        self.proxy = proxy
        try:
            self.raw = proxy.get_unscaled() if getattr(proxy, "_mmap", False) else None
        except Exception:  # noqa: BLE001 - fall back to nibabel's own slicing
            self.raw = None
        if not isinstance(self.raw, np.memmap):
            self.raw = None

    def __getitem__(self, index):
        if self.raw is None:
            return self.proxy[index]
        arr = np.asarray(self.raw[index])
        slope, inter = getattr(self.proxy, "slope", 1.0), getattr(self.proxy, "inter", 0.0)
        if slope != 1.0 or inter != 0.0:
            arr = arr * np.float32(slope) + np.float32(inter)
        return arr


def _gzip_volume(img, filename: str, shape: tuple, tail: tuple) -> np.ndarray:
    """One volume of a compressed image: the stream is read up to its end, no further."""
    header = img.header
    dtype = header.get_data_dtype()
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    offset = int(img.dataobj.offset)
    index = 0
    if tail:     # flat index of the volume among dimensions 4+ (Fortran order)
        index = int(np.ravel_multi_index(tail, img.shape[3:], order="F"))
    start = offset + index * voxels * dtype.itemsize
    with open_gzip(filename) as stream:
        stream.seek(start)
        data = stream.read(voxels * dtype.itemsize)
    block = np.frombuffer(data, dtype=dtype).reshape(shape[:3], order="F")
    slope, inter = img.dataobj.slope, img.dataobj.inter
    block = _as_real(block)
    if slope != 1.0 or inter != 0.0:
        block = block * np.float32(slope) + np.float32(inter)
    return block


def views(img, volume: int = 0) -> list[tuple[np.ndarray, float, float]]:
    """[(2-D array as displayed, row spacing mm, column spacing mm)] for axial, coronal and
    sagittal views, in RAS space, radiological display."""
    shape = tuple(img.shape) + (1,) * max(0, 3 - len(img.shape))
    zooms = tuple(img.header.get_zooms()) + (1.0,) * 3
    ornt = nib.io_orientation(img.affine) if len(img.shape) >= 3 else \
        np.array([[0, 1], [1, 1], [2, 1]])
    ornt = np.nan_to_num(ornt, nan=0).astype(int)
    if sorted(ornt[:, 0].tolist()) != [0, 1, 2]:       # degenerate affine: take voxel order
        ornt = np.array([[0, 1], [1, 1], [2, 1]])
    axis_of = {int(ornt[v, 0]): v for v in range(3)}   # RAS axis -> voxel axis
    flip_of = {int(ornt[v, 0]): int(ornt[v, 1]) for v in range(3)}
    centre = [n // 2 for n in shape[:3]]
    tail = _voxel_index(img, volume)
    proxy = img.dataobj
    filename = str(getattr(img.file_map.get("image"), "filename", "") or "")
    block = None
    if filename.lower().endswith(".gz"):
        block = _gzip_volume(img, filename, shape, tail)
    elif len(img.shape) < 3:
        block = _as_real(np.asarray(proxy[:, :])).reshape(shape[:3])
    else:
        proxy = _Mapped(proxy)
    out = []
    for normal in (2, 1, 0):                            # axial, coronal, sagittal
        v = axis_of[normal]
        index = [slice(None)] * 3
        index[v] = centre[v]
        if block is not None:
            plane = block[tuple(index)]
        else:
            plane = _as_real(np.asarray(proxy[tuple(index) + tail]))
        rest = [a for a in range(3) if a != v]          # voxel axes left, in order
        ras = [int(ornt[a, 0]) for a in rest]
        if ras[0] > ras[1]:
            plane = plane.T
            rest, ras = rest[::-1], ras[::-1]
        for k, r in enumerate(ras):
            if flip_of[r] < 0:
                plane = np.flip(plane, axis=k)
        # plane[i, j]: i along ras[0] (R or A), j along ras[1] (A or S), both increasing;
        # displayed: rows top = +ras[1], columns left = +ras[0]
        shown = plane.T[::-1, ::-1]
        out.append((shown, float(zooms[rest[1]]), float(zooms[rest[0]])))
    return out


def window(arrays: list[np.ndarray], low: float = 2.0, high: float = 98.0) -> tuple[float, float]:
    values = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    if values.size == 0:
        return 0.0, 1.0
    if values.size > 200_000:
        values = values[:: values.size // 200_000 + 1]
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _grey(arr: np.ndarray, lo: float, hi: float) -> Image.Image:
    scaled = (np.nan_to_num(arr, nan=lo) - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")


def render(img, volume: int = 0) -> tuple[Image.Image, Image.Image]:
    """(ORIGINAL, THUMBNAIL) images."""
    panels = views(img, volume)
    lo, hi = window([p[0] for p in panels])
    extents = [max(a.shape[0] * rs, a.shape[1] * cs) for a, rs, cs in panels]
    px_per_mm = PANEL / max(max(extents), 1e-6)
    pictures = []
    for arr, row_mm, col_mm in panels:
        size = (max(1, round(arr.shape[1] * col_mm * px_per_mm)),
                max(1, round(arr.shape[0] * row_mm * px_per_mm)))
        pictures.append(_grey(arr, lo, hi).resize(size, Image.Resampling.BILINEAR))
    width = sum(p.width for p in pictures) + GAP * (len(pictures) - 1)
    height = max(p.height for p in pictures)
    original = Image.new("L", (width, height), 0)
    x = 0
    for p in pictures:
        original.paste(p, (x, (height - p.height) // 2))
        x += p.width + GAP
    thumb = pictures[0].copy()
    thumb.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    return original, thumb


def write(img, folder: Path, name: str, volume: int = 0, fmt: str = "gif") -> tuple[Path, Path]:
    """Render and save ``<name>_qc.<fmt>`` (ORIGINAL) and ``<name>_qc_t.<fmt>`` (THUMBNAIL),
    XNAT's own file names for snapshots."""
    original, thumb = render(img, volume)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"{name}_qc.{fmt}", folder / f"{name}_qc_t.{fmt}")
    original.save(paths[0], format=fmt.upper())
    thumb.save(paths[1], format=fmt.upper())
    return paths
