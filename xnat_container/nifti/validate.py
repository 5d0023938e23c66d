"""Check every image before anything is uploaded: nibabel reads the header, and the data must
all be there.

Uncompressed: the file must hold ``vox_offset + voxels * bytes per voxel`` bytes (what a full
read would need, without reading it). Compressed: the gzip stream is read to its end, so a
truncated or corrupt stream (CRC) is found; its length must match the header as well.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


import nibabel as nib
import numpy as np

from .gz import open_gzip

CHUNK = 1 << 22


@dataclass
class Checked:
    path: Path
    ok: bool
    reason: str = ""
    image: object = None            # the nibabel image (header + array proxy) when ok


def expected_bytes(img) -> int:
    header = img.header
    shape = img.shape
    itemsize = np.dtype(header.get_data_dtype()).itemsize
    return int(img.dataobj.offset) + int(np.prod(shape, dtype=np.int64)) * itemsize


def check(path: Path) -> Checked:
    try:
        with open(path, "rb") as raw:
            head = raw.read(2)
    except OSError as exc:
        return Checked(path, False, f"cannot read the file: {exc.strerror or exc}")
    if not head:
        return Checked(path, False, "empty (0-byte) file")
    gzipped = head == b"\x1f\x8b"
    if path.name.lower().endswith(".gz") and not gzipped:
        return Checked(path, False, "named .nii.gz but not gzip-compressed: rename it to .nii")
    if not path.name.lower().endswith(".gz") and gzipped:
        return Checked(path, False, "gzip-compressed but named .nii: rename it to .nii.gz")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds; all mean unreadable
        return Checked(path, False, f"not a readable NIFTI file: {_one_line(exc)}")
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        return Checked(path, False, f"not a NIFTI-1 or NIFTI-2 image ({type(img).__name__})")
    shape = img.shape
    if len(shape) < 2 or any(n < 1 for n in shape):
        return Checked(path, False, f"image has no voxels (shape {shape})")
    need = expected_bytes(img)
    compressed = path.name.lower().endswith(".gz")
    try:
        have = _gzip_length(path) if compressed else path.stat().st_size
    except Exception as exc:  # noqa: BLE001 - zlib, isal and EOF errors alike
        return Checked(path, False, f"corrupt or truncated gzip stream: {_one_line(exc)}")
    if have < need:
        what = "decompressed data" if compressed else "file"
        return Checked(path, False, f"truncated: the header needs {need} bytes, the {what} "
                                    f"has {have}")
    return Checked(path, True, image=img)


def _gzip_length(path: Path) -> int:
    """Decompressed length, reading the whole stream (raises when it is cut short)."""
    with open(path, "rb") as raw:
        raw.seek(0, 2)
        if raw.tell() < 18:
            raise EOFError("file too short for a gzip stream")
        raw.seek(-4, 2)
        trailer_size = struct.unpack("<I", raw.read(4))[0]
    total = 0
    with open_gzip(path) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
    if total % (1 << 32) != trailer_size:
        raise EOFError("gzip trailer does not match the data")
    return total


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
