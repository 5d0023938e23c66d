"""A realistic sample project, written over HTTP the way users' tools write to XNAT.

Several subjects with demographics and custom fields; MR, PET and CT sessions; scans with
parameters and real data (NIFTI from nibabel's test files, DICOM from pydicom's); a QC
assessor with an ``out`` resource; resources at project, subject, session and scan level.
Used by the copy tests, the benchmarks and the demo.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests


def _nibabel_file(name: str) -> Path:
    from nibabel.testing import data_path
    return Path(data_path) / name


def _pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file
    return Path(get_testdata_file(name))


@dataclass
class SampleSpec:
    subjects: int = 3
    with_files: bool = True


SESSIONS = (
    # (suffix, xsiType, scan type, scans)
    ("MR1", "xnat:mrSessionData", "xnat:mrScanData",
     [("1", "T1w", "example4d.nii.gz"), ("2", "bold", "example_nifti2.nii.gz")]),
    ("PET1", "xnat:petSessionData", "xnat:petScanData", [("1", "PET AC", "anatomical.nii")]),
    ("CT1", "xnat:ctSessionData", "xnat:ctScanData", [("1", "HEAD", None)]),
)


def build_sample_project(base_url: str, auth: tuple[str, str], project: str,
                         spec: SampleSpec | None = None) -> dict[str, int]:
    """Create ``project`` and fill it; returns counts of what was written."""
    spec = spec or SampleSpec()
    s = requests.Session()
    s.auth = auth
    counts = {"subjects": 0, "sessions": 0, "scans": 0, "files": 0, "assessors": 0}

    def put(path: str, ok=(200, 201), **kwargs) -> requests.Response:
        r = s.put(base_url + path, timeout=60, **kwargs)
        if r.status_code not in ok:
            raise RuntimeError(f"PUT {path} -> {r.status_code}: {r.text[:200]}")
        return r

    def upload(path: str, name: str, data: bytes, **params) -> None:
        put(f"{path}/files/{name}", params={"inbody": "true", **params}, data=data)
        counts["files"] += 1

    put(f"/data/projects/{project}", params={
        "name": f"{project} sample", "description": "Sample project with every level",
        "keywords": "sample demo"})
    p = f"/data/projects/{project}"
    if spec.with_files:
        put(f"{p}/resources/PROTOCOL", params={"format": "PDF", "content": "protocol"})
        upload(f"{p}/resources/PROTOCOL", "protocol.txt", b"Scan protocol v1\n")
    for i in range(1, spec.subjects + 1):
        subject = f"SUB{i:03d}"
        put(f"{p}/subjects/{subject}", params={
            "gender": "female" if i % 2 else "male", "age": str(30 + i), "handedness": "right",
            "xnat:subjectData/fields/field[name=site]/field": "Oxford",
            "xnat:subjectData/fields/field[name=cohort]/field": f"C{i % 2}"})
        counts["subjects"] += 1
        sp = f"{p}/subjects/{subject}"
        if spec.with_files:
            put(f"{sp}/resources/CONSENT")
            upload(f"{sp}/resources/CONSENT", "consent.txt", f"consent {subject}\n".encode())
        for suffix, session_type, scan_type, scans in SESSIONS:
            label = f"{subject}_{suffix}"
            put(f"{sp}/experiments/{label}", params={
                "xsiType": session_type, "date": f"2024-0{(i % 9) + 1}-1{i % 9}",
                f"{session_type}/fields/field[name=visit]/field": "baseline",
                "scanner": "Scanner A", "operator": "RA"})
            counts["sessions"] += 1
            ep = f"{sp}/experiments/{label}"
            for scan_id, kind, nifti in scans:
                params = {"xsiType": scan_type, "type": kind, "quality": "usable",
                          "series_description": f"{kind} series", "frames": "10"}
                if scan_type == "xnat:mrScanData":
                    params.update({"parameters/tr": "2.3", "parameters/te": "0.03",
                                   "parameters/flip": "9", "parameters/voxelRes/x": "1.0",
                                   "fieldStrength": "3.0"})
                put(f"{ep}/scans/{scan_id}", params=params)
                counts["scans"] += 1
                if not spec.with_files:
                    continue
                if nifti:
                    rp = f"{ep}/scans/{scan_id}/resources/NIFTI"
                    put(rp, params={"format": "NIFTI", "content": "NIFTI_RAW"})
                    upload(rp, nifti, _nibabel_file(nifti).read_bytes())
                dicom = "MR_small.dcm" if scan_type != "xnat:ctScanData" else "CT_small.dcm"
                rp = f"{ep}/scans/{scan_id}/resources/DICOM"
                put(rp, params={"format": "DICOM", "content": "RAW"})
                upload(rp, f"{scan_id}-1.dcm", _pydicom_file(dicom).read_bytes())
            if spec.with_files:
                put(f"{ep}/resources/NOTES")
                upload(f"{ep}/resources/NOTES", "notes/session.txt", f"{label}\n".encode(),
                       format="TXT")
                _upload_zip(put, f"{ep}/resources/LOGS", counts)
            if session_type == "xnat:mrSessionData":
                a = f"{label}_QC"
                put(f"{ep}/assessors/{a}", params={"xsiType": "xnat:qcAssessmentData",
                                                   "date": "2024-02-02"})
                counts["assessors"] += 1
                if spec.with_files:
                    put(f"{ep}/assessors/{a}/out/resources/QC", params={"format": "TXT"})
                    upload(f"{ep}/assessors/{a}/out/resources/QC", "qc.txt", b"pass\n")
    return counts


def _upload_zip(put, resource: str, counts: dict[str, int]) -> None:
    """Ten small log files in one zip, extracted on upload (a many-small-files resource)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for n in range(10):
            zf.writestr(f"logs/run{n}.log", f"log line {n}\n" * (n + 1))
    put(f"{resource}/files/logs.zip", params={"inbody": "true", "extract": "true"},
        data=buffer.getvalue())
    counts["files"] += 10
