"""Real NIFTI data for the import tests: nibabel's own files, a BIDS tree built from them with
sidecars, and a DWI series made by dcm2niix from nibabel's Siemens DTI mosaic DICOM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import dcm2niix
from nibabel.testing import data_path

NIBABEL = Path(data_path)
SIEMENS_DTI = [NIBABEL.parent.parent / "nicom" / "tests" / "data" / n for n in ("0.dcm", "1.dcm")]

T1W_SIDECAR = {"Modality": "MR", "MagneticFieldStrength": 3, "Manufacturer": "Siemens",
               "ManufacturersModelName": "TrioTim", "SeriesDescription": "MPRAGE 1mm",
               "RepetitionTime": 2.3, "EchoTime": 0.00298, "InversionTime": 0.9,
               "FlipAngle": 9, "SeriesNumber": 2, "AcquisitionDateTime": "2024-03-05T09:15:00",
               "SequenceName": "tfl3d1_16ns", "ScanningSequence": "GR\\IR",
               "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"], "Custom": "kept in BIDS"}
BOLD_SIDECAR = {"Modality": "MR", "MagneticFieldStrength": 3, "Manufacturer": "Siemens",
                "ManufacturersModelName": "TrioTim", "RepetitionTime": 2.0, "EchoTime": 0.03,
                "FlipAngle": 78, "TaskName": "rest", "SeriesNumber": 5,
                "AcquisitionDateTime": "2024-03-05T09:30:00", "PhaseEncodingDirection": "j-"}
EPI_SIDECAR = {"Modality": "MR", "RepetitionTime": 6.5, "EchoTime": 0.05, "FlipAngle": 90,
               "PhaseEncodingDirection": "j-", "IntendedFor": ["func/x.nii.gz"]}


def dwi_from_dicom(out: Path) -> Path:
    """dcm2niix on nibabel's Siemens DTI mosaic: <out>/dwi.nii.gz + .json + .bval + .bvec."""
    src = out / "dicom"
    src.mkdir(parents=True, exist_ok=True)
    for f in SIEMENS_DTI:
        shutil.copy(f, src / f.name)
    subprocess.run([dcm2niix.bin, "-b", "y", "-z", "y", "-f", "dwi", "-o", str(out), str(src)],
                   check=True, capture_output=True)
    shutil.rmtree(src)
    return out / "dwi.nii.gz"


def build_bids(root: Path, cache: Path) -> Path:
    """sub-01/ses-1 {anat T1w, func task-rest bold, dwi, fmap dir-AP epi} and sub-02 (no
    session level) {anat T1w in NIFTI-2}, with top-level files."""
    dwi = cache / "dwi.nii.gz"
    if not dwi.exists():
        dwi_from_dicom(cache)
    ses = root / "sub-01" / "ses-1"
    for d in ("anat", "func", "dwi", "fmap"):
        (ses / d).mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "test", "BIDSVersion": "1.8.0"}))
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t30\nsub-02\t40\n")
    (root / "task-rest_bold.json").write_text(json.dumps({"SliceTiming": [0, 0.5, 1.0],
                                                          "TaskName": "rest"}))
    shutil.copy(NIBABEL / "anatomical.nii", ses / "anat" / "sub-01_ses-1_T1w.nii")
    (ses / "anat" / "sub-01_ses-1_T1w.json").write_text(json.dumps(T1W_SIDECAR))
    shutil.copy(NIBABEL / "functional.nii", ses / "func" / "sub-01_ses-1_task-rest_bold.nii")
    (ses / "func" / "sub-01_ses-1_task-rest_bold.json").write_text(json.dumps(BOLD_SIDECAR))
    (ses / "func" / "sub-01_ses-1_task-rest_events.tsv").write_text("onset\tduration\n0\t1\n")
    for ext in (".nii.gz", ".json", ".bval", ".bvec"):
        shutil.copy(cache / f"dwi{ext}", ses / "dwi" / f"sub-01_ses-1_dwi{ext}")
    shutil.copy(NIBABEL / "example4d.nii.gz", ses / "fmap" / "sub-01_ses-1_dir-AP_epi.nii.gz")
    (ses / "fmap" / "sub-01_ses-1_dir-AP_epi.json").write_text(json.dumps(EPI_SIDECAR))
    (ses / "sub-01_ses-1_scans.tsv").write_text("filename\tacq_time\n")
    anat2 = root / "sub-02" / "anat"
    anat2.mkdir(parents=True)
    shutil.copy(NIBABEL / "example_nifti2.nii.gz", anat2 / "sub-02_T1w.nii.gz")
    (root / "derivatives").mkdir()
    (root / "derivatives" / "notes.txt").write_text("not imported")
    return root


def build_flat(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("anatomical.nii", "functional.nii", "example4d.nii.gz",
                 "example_nifti2.nii.gz"):
        shutil.copy(NIBABEL / name, root / name)
    (root / "anatomical.json").write_text(json.dumps(
        {"SeriesDescription": "t1_mprage", "RepetitionTime": 2.0, "EchoTime": 0.004}))
    return root


def env_for(emulator, password: str = "admin") -> dict:
    env = dict(os.environ, XNAT_USER="admin", XNAT_PASS=password)
    env.pop("XNAT_HOST", None)
    return env
