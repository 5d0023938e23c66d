"""``--from-dicom``: convert a folder of DICOM series with the ``dcm2niix`` wheel's binary
(BIDS sidecars on, compressed output, one file per series named ``<series number>_<series
description>``) into a temporary folder that is then imported as a flat folder."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

log = logging.getLogger("xnat_container")


class ConversionError(Exception):
    pass


def binary() -> str:
    try:
        import dcm2niix
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConversionError("the dcm2niix package is not installed") from exc
    return str(dcm2niix.bin)


def _without_credentials(env) -> dict:
    """The converter needs no XNAT login: it does not inherit the job's credentials."""
    return {k: v for k, v in env.items()
            if not k.startswith(("XNAT_", "REMOTE_XNAT_")) and k != "NETRC"}


def convert(dicom_dir: Path, out_dir: Path, timeout: float = 3600) -> list[Path]:
    """Run dcm2niix; the NIFTI files written (with their .json/.bval/.bvec beside them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [binary(), "-b", "y", "-ba", "y", "-z", "y", "-f", "%s_%d", "-o", str(out_dir),
           str(dicom_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=_without_credentials(os.environ))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConversionError(f"dcm2niix did not run: {exc}") from exc
    images = sorted(p for p in out_dir.iterdir() if p.name.endswith((".nii", ".nii.gz")))
    for line in proc.stdout.splitlines():
        if line.startswith(("Warning", "Error")):
            log.warning("dcm2niix: %s", line)
    if not images:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        raise ConversionError(f"dcm2niix found no DICOM series to convert in {dicom_dir} "
                              f"(exit {proc.returncode}: {last[0]})")
    log.info("dcm2niix converted %d series from %s", len(images), dicom_dir)
    return images
