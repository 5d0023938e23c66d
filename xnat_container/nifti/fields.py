"""Sidecar and NIFTI header -> XNAT documents for sessions and scans.

Sidecars give times in seconds, XNAT stores milliseconds (``tr``, ``te``, ``ti``). Documents
are written the way XNAT nests them in a subject document (``<xnat:experiment
xsi:type=...>``, ``<xnat:scan xsi:type=...>``, elements in the order of ``xnat.xsd``), so a
re-run compares them with what the server returns; the transfer renames them to their global
element (``xnat:MRSession``, ``xnat:MRScan``) before the PUT.
"""

from __future__ import annotations

import math
import re

import nibabel as nib
import numpy as np
from lxml import etree

XNAT_NS = "http://nrg.wustl.edu/xnat"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"xnat": XNAT_NS, "xsi": XSI_NS}
MODALITIES = {"MR": ("xnat:mrSessionData", "xnat:mrScanData"),
              "PT": ("xnat:petSessionData", "xnat:petScanData"),
              "CT": ("xnat:ctSessionData", "xnat:ctScanData")}
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2}))?")
_TIME = re.compile(r"^(\d{2}:\d{2}:\d{2})")
_TIME_UNIT_MS = {"sec": 1000.0, "msec": 1.0, "usec": 0.001}


def _q(name: str) -> str:
    return f"{{{XNAT_NS}}}{name}"


def number(value, scale: float = 1.0) -> str | None:
    """A number as XNAT shows it (``2000``, ``2.5``); None for missing or non-numeric."""
    try:
        x = float(value) * scale
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    text = f"{x:.6g}"
    return text if "e" not in text else repr(round(x, 6))


def scan_modality(meta: dict, datatype: str, forced: str | None, session: str) -> str:
    if forced:
        return forced
    value = str(meta.get("Modality", "")).upper()
    if value == "PET":
        value = "PT"
    if value in MODALITIES:
        return value
    if datatype == "pet":
        return "PT"
    return session


def session_modality(metas: list[tuple[dict, str]], forced: str | None) -> str:
    """``--modality``, else the sidecars' (PET wins over MR over CT: a PET session holds its
    CT), else MR."""
    if forced:
        return forced
    seen = {scan_modality(m, d, None, "") for m, d in metas}
    for modality in ("PT", "MR", "CT"):
        if modality in seen:
            return modality
    return "MR"


def _sub(parent, tag: str, text=None, **attrs):
    attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
    if text in (None, "") and not attrs:
        return None
    el = etree.SubElement(parent, _q(tag))
    for k, v in attrs.items():
        el.set(k, str(v))
    if text not in (None, ""):
        el.text = str(text)
    return el


def _text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value).strip() or None


def session_document(label: str, modality: str, metas: list[dict]) -> bytes:
    """The session: date and time of its earliest acquisition, scanner and field strength."""
    xsi_type = MODALITIES[modality][0]
    root = etree.Element(_q("experiment"), nsmap=NSMAP)
    root.set(f"{{{XSI_NS}}}type", xsi_type)
    root.set("label", label)
    root.set("modality", modality)
    date, time = _earliest_acquisition(metas)
    _sub(root, "date", date)
    _sub(root, "time", time)
    first = next((m for m in metas if m.get("Manufacturer") or m.get("ManufacturersModelName")),
                 {})
    _sub(root, "scanner", None, manufacturer=_text(first, "Manufacturer"),
         model=_text(first, "ManufacturersModelName"))
    if modality == "MR":
        field_strength = next((number(m["MagneticFieldStrength"]) for m in metas
                               if number(m.get("MagneticFieldStrength")) is not None), None)
        _sub(root, "fieldStrength", field_strength)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _earliest_acquisition(metas: list[dict]) -> tuple[str | None, str | None]:
    found = []
    for m in metas:
        match = _DATE_TIME.match(str(m.get("AcquisitionDateTime") or ""))
        if match:
            found.append((match.group(1), match.group(2) or ""))
    if not found:
        return None, None
    date, time = min(found)
    return date, time or None


def header_fields(img) -> dict:
    """What the NIFTI header says: voxel size, matrix, field of view, orientation, frames,
    and the repetition time of a 4D series (in ms)."""
    shape = img.shape
    zooms = img.header.get_zooms()
    out: dict = {"shape": tuple(int(n) for n in shape)}
    out["voxel"] = [float(z) for z in zooms[:3]] + [None] * (3 - len(zooms[:3]))
    out["matrix"] = (int(shape[0]), int(shape[1]))
    out["fov"] = (round(shape[0] * float(zooms[0])), round(shape[1] * float(zooms[1])))
    out["frames"] = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    out["volumes"] = int(np.prod(shape[3:], dtype=np.int64)) if len(shape) > 3 else 1
    try:
        codes = nib.aff2axcodes(img.affine)
        out["orientation"] = {"S": "Tra", "I": "Tra", "A": "Cor", "P": "Cor",
                              "R": "Sag", "L": "Sag"}.get(codes[2]) if len(codes) > 2 else None
    except Exception:  # noqa: BLE001 - a degenerate affine has no orientation
        out["orientation"] = None
    out["tr_ms"] = None
    if len(shape) > 3 and len(zooms) > 3 and zooms[3] > 0:
        unit = img.header.get_xyzt_units()[1]
        if unit in _TIME_UNIT_MS:
            out["tr_ms"] = float(zooms[3]) * _TIME_UNIT_MS[unit]
    return out


def scan_document(scan_id: str, scan_type: str, series_description: str, modality: str,
                  meta: dict, header: dict, bvals: list[float] | None = None) -> bytes:
    xsi_type = MODALITIES[modality][1]
    root = etree.Element(_q("scan"), nsmap=NSMAP)
    root.set(f"{{{XSI_NS}}}type", xsi_type)
    root.set("ID", scan_id)
    root.set("type", scan_type)
    _sub(root, "series_description", series_description)
    _sub(root, "scanner", None, manufacturer=_text(meta, "Manufacturer"),
         model=_text(meta, "ManufacturersModelName"),
         softwareVersion=_text(meta, "SoftwareVersions"))
    _sub(root, "modality", modality)
    _sub(root, "frames", header.get("frames"))
    match = _TIME.match(str(meta.get("AcquisitionTime") or ""))
    _sub(root, "startTime", match.group(1) if match else None)
    date = _DATE_TIME.match(str(meta.get("AcquisitionDateTime") or ""))
    _sub(root, "start_date", date.group(1) if date else None)
    _sub(root, "protocolName", _text(meta, "ProtocolName"))
    _sub(root, "bodyPartExamined", _text(meta, "BodyPartExamined"))
    if modality == "MR":
        _sub(root, "coil", _text(meta, "ReceiveCoilName"))
        _sub(root, "fieldStrength", number(meta.get("MagneticFieldStrength")))
        _mr_parameters(root, meta, header, bvals)
    elif modality == "CT":
        params = etree.SubElement(root, _q("parameters"))
        _geometry(params, header)
        _sub(params, "kvp", number(meta.get("XRayTubeVoltage") or meta.get("KVP")))
        if len(params) == 0:
            root.remove(params)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _geometry(params, header: dict) -> None:
    vx, vy, vz = (number(v) for v in header.get("voxel", [None] * 3))
    _sub(params, "voxelRes", None, units="mm" if vx else None, x=vx, y=vy, z=vz)
    _sub(params, "orientation", header.get("orientation"))
    fov = header.get("fov")
    if fov:
        _sub(params, "fov", None, x=fov[0], y=fov[1])
    return None


def _mr_parameters(root, meta: dict, header: dict, bvals: list[float] | None) -> None:
    params = etree.SubElement(root, _q("parameters"))
    _geometry(params, header)
    matrix = header.get("matrix")
    if matrix:
        _sub(params, "matrix", None, x=matrix[0], y=matrix[1])
    tr = number(meta.get("RepetitionTime"), 1000.0)
    if tr is None and header.get("tr_ms"):
        tr = number(header["tr_ms"])
    _sub(params, "tr", tr)
    te = meta.get("EchoTime")
    if isinstance(te, list):
        te = te[0] if te else None
    _sub(params, "te", number(te, 1000.0))
    _sub(params, "ti", number(meta.get("InversionTime"), 1000.0))
    _sub(params, "flip", number(meta.get("FlipAngle")))
    _sub(params, "sequence", _text(meta, "SequenceName"))
    _sub(params, "imageType", _text(meta, "ImageType"))
    _sub(params, "scanSequence", _text(meta, "ScanningSequence"))
    _sub(params, "seqVariant", _text(meta, "SequenceVariant"))
    _sub(params, "scanOptions", _text(meta, "ScanOptions"))
    _sub(params, "pixelBandwidth", number(meta.get("PixelBandwidth")))
    _sub(params, "phaseEncodingDirection", _text(meta, "PhaseEncodingDirection"))
    if bvals:
        diffusion = etree.SubElement(params, _q("diffusion"))
        distinct = sorted({round(b) for b in bvals})
        _sub(diffusion, "bValues", " ".join(str(b) for b in distinct))
        _sub(diffusion, "bMax", str(max(distinct)))
        _sub(diffusion, "orientations", str(sum(1 for b in bvals if round(b) > 0)))
    series_number = _text(meta, "SeriesNumber")
    if series_number:
        _sub(params, "addParam", series_number, name="SeriesNumber")
    if len(params) == 0:
        root.remove(params)


def read_bvals(text: str) -> list[float] | None:
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        return None
    return values or None
