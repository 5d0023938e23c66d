"""``xnat-container import-nifti`` end to end on the emulator, with real NIFTI data."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from copyhelpers import FaultyProxy
from nifti_data import NIBABEL, build_bids, build_flat, env_for

X = "{http://nrg.wustl.edu/xnat}"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("nifti")
    cache = base / "cache"
    cache.mkdir()
    return {"bids": build_bids(base / "bids", cache), "flat": build_flat(base / "flat"),
            "base": base}


def run(emulator, source, project, report_dir, *args):
    cmd = [sys.executable, "-m", "xnat_container", "import-nifti", str(source), "--project",
           project, "--url", emulator.url, "--report-dir", str(report_dir), *args]
    proc = subprocess.run(cmd, env=env_for(emulator), capture_output=True, text=True,
                          timeout=300)
    path = report_dir / "report.json"
    return proc, json.loads(path.read_text()) if path.exists() else None


def session_doc(http, project, subject, session):
    r = http.get(f"/data/projects/{project}/subjects/{subject}/experiments/{session}",
                 params={"format": "xml"})
    assert r.status_code == 200, r.text
    return etree.fromstring(r.content)


def scans_of(doc) -> dict:
    return {s.get("ID"): s for s in doc.iter(f"{X}scan")}


def files(http, project, subject, session, level="scans/ALL/files"):
    rows = http.get(f"/data/projects/{project}/subjects/{subject}/experiments/{session}/{level}",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    out = {}
    for row in rows:
        uri = row["URI"]
        scan = uri.split("/scans/")[1].split("/")[0] if "/scans/" in uri else ""
        out[(scan, row["collection"], row["Name"])] = row
    return out


def test_bids_import_exact_result_and_idempotent_rerun(emulator, http, project, data, tmp_path):
    proc, report = run(emulator, data["bids"], project, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert report["done"]["created"] == {"subject": 2, "experiment": 2, "scan": 5}
    assert report["verification"]["failed"] == 0
    assert report["skipped"]["not_imported"] == [
        {"path": "derivatives/notes.txt", "reason": "outside sub-* folders (not imported)"}]
    subjects = {r["label"] for r in http.get(f"/data/projects/{project}/subjects",
                                              params={"format": "json"}).json()
                ["ResultSet"]["Result"]}
    assert subjects == {"01", "02"}

    doc = session_doc(http, project, "01", "01_1")
    assert etree.QName(doc).localname == "MRSession" and doc.get("modality") == "MR"
    assert doc.findtext(f"{X}date") == "2024-03-05" and doc.findtext(f"{X}time") == "09:15:00"
    assert doc.findtext(f"{X}fieldStrength") == "3"
    scans = scans_of(doc)
    assert {i: s.get("type") for i, s in scans.items()} == {
        "T1w": "T1w", "task-rest_bold": "task-rest_bold", "dwi": "dwi",
        "dir-AP_epi": "dir-AP_epi"}
    assert all(s.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "xnat:mrScanData"
               for s in scans.values())
    t1 = scans["T1w"]
    assert t1.findtext(f"{X}series_description") == "MPRAGE 1mm"
    assert t1.find(f"{X}scanner").attrib == {"manufacturer": "Siemens", "model": "TrioTim"}
    assert t1.findtext(f"{X}frames") == "25"
    assert t1.findtext(f"{X}fieldStrength") == "3"
    p = t1.find(f"{X}parameters")
    assert {k: p.findtext(f"{X}{k}") for k in ("tr", "te", "ti", "flip", "orientation")} == {
        "tr": "2300", "te": "2.98", "ti": "900", "flip": "9", "orientation": "Tra"}
    assert p.find(f"{X}voxelRes").attrib == {"units": "mm", "x": "2", "y": "2", "z": "2"}
    assert p.find(f"{X}matrix").attrib == {"x": "33", "y": "41"}
    assert p.find(f"{X}fov").attrib == {"x": "66", "y": "82"}
    assert p.find(f"{X}addParam").text == "2"
    bold = scans["task-rest_bold"].find(f"{X}parameters")
    assert (bold.findtext(f"{X}tr"), bold.findtext(f"{X}te"), bold.findtext(f"{X}flip")) == \
        ("2000", "30", "78")
    assert scans["task-rest_bold"].findtext(f"{X}frames") == str(3 * 20)
    assert scans["task-rest_bold"].findtext(f"{X}series_description") == \
        "sub-01_ses-1_task-rest_bold"
    dwi = scans["dwi"]
    assert dwi.findtext(f"{X}series_description") == "CBU_DTI_64D_1A"
    assert dwi.find(f"{X}parameters").findtext(f"{X}te") == "93"
    assert dwi.find(f"{X}parameters").findtext(f"{X}tr") == "6600"

    got = files(http, project, "01", "01_1")
    assert {k for k in got if k[1] != "SNAPSHOTS"} == {
        ("T1w", "NIFTI", "sub-01_ses-1_T1w.nii"), ("T1w", "BIDS", "sub-01_ses-1_T1w.json"),
        ("task-rest_bold", "NIFTI", "sub-01_ses-1_task-rest_bold.nii"),
        ("task-rest_bold", "BIDS", "sub-01_ses-1_task-rest_bold.json"),
        ("task-rest_bold", "BIDS", "sub-01_ses-1_task-rest_events.tsv"),
        ("dwi", "NIFTI", "sub-01_ses-1_dwi.nii.gz"), ("dwi", "BIDS", "sub-01_ses-1_dwi.json"),
        ("dwi", "BIDS", "sub-01_ses-1_dwi.bval"), ("dwi", "BIDS", "sub-01_ses-1_dwi.bvec"),
        ("dir-AP_epi", "NIFTI", "sub-01_ses-1_dir-AP_epi.nii.gz"),
        ("dir-AP_epi", "BIDS", "sub-01_ses-1_dir-AP_epi.json")}
    nifti = got[("T1w", "NIFTI", "sub-01_ses-1_T1w.nii")]
    assert (nifti["file_format"], nifti["file_content"]) == ("NIFTI", "NIFTI_RAW")
    # NRG's convention (reference nifti-and-stack.md): NIFTI format NIFTI, content NIFTI_RAW,
    # BIDS format and content BIDS, both tagged BIDS, once, whether the upload created the
    # resource (T1w) or a PUT did (dwi: three BIDS files)
    for scan in ("T1w", "dwi"):
        rows = http.get(f"/data/projects/{project}/subjects/01/experiments/01_1/scans/{scan}"
                        "/resources", params={"format": "json"}).json()["ResultSet"]["Result"]
        assert {r["label"]: (r["format"], r["content"], r["tags"]) for r in rows
                if r["label"] != "SNAPSHOTS"} == {"NIFTI": ("NIFTI", "NIFTI_RAW", "BIDS"),
                                                  "BIDS": ("BIDS", "BIDS", "BIDS")}
    snaps = {k[2]: v["file_content"] for k, v in got.items()
             if k[1] == "SNAPSHOTS" and k[0] == "T1w"}
    assert snaps == {"01_1_T1w_qc.gif": "ORIGINAL", "01_1_T1w_qc_t.gif": "THUMBNAIL"}
    session_files = {k[2] for k in files(http, project, "01", "01_1", "files")}
    assert session_files == {"dataset_description.json", "participants.tsv",
                             "task-rest_bold.json", "sub-01_ses-1_scans.tsv"}
    doc2 = session_doc(http, project, "02", "02")
    assert list(scans_of(doc2)) == ["T1w"]          # the NIFTI-2 image
    assert scans_of(doc2)["T1w"].findtext(f"{X}frames") == str(12 * 2)

    # re-run: nothing uploaded, nothing created
    proc, again = run(emulator, data["bids"], project, tmp_path / "again")
    assert proc.returncode == 0, proc.stderr
    assert again["plan"]["objects_to_create"] == {} and again["plan"]["files_to_transfer"] == 0
    assert again["done"]["files_uploaded"] == 0
    assert again["plan"]["files_present"] == report["done"]["files_uploaded"]

    # a changed file is reported and left alone, replaced with --overwrite
    changed = data["bids"] / "sub-01/ses-1/func/sub-01_ses-1_task-rest_events.tsv"
    original = changed.read_text()
    changed.write_text("onset\tduration\n0\t2\n5\t2\n")
    try:
        proc, diff = run(emulator, data["bids"], project, tmp_path / "diff")
        assert proc.returncode == 3, proc.stderr
        assert [d["path"] for d in diff["skipped"]["differing_files"]] == \
            ["sub-01_ses-1_task-rest_events.tsv"]
        assert diff["done"]["files_uploaded"] == 0
        proc, over = run(emulator, data["bids"], project, tmp_path / "over", "--overwrite")
        assert proc.returncode == 0, proc.stderr
        assert over["done"]["files_uploaded"] == 1
        r = http.get(f"/data/projects/{project}/subjects/01/experiments/01_1/scans/"
                     "task-rest_bold/resources/BIDS/files/sub-01_ses-1_task-rest_events.tsv")
        assert r.text == changed.read_text()
    finally:
        changed.write_text(original)


def test_creating_upload_cut_after_the_work_tags_once(emulator, http, project, data,
                                                      tmp_path):
    """The upload that creates the T1w NIFTI resource (tags=BIDS) reaches XNAT, which creates
    and tags the resource, but its answer never arrives. XNAT appends an upload's tags at
    every upload, so it is not simply retried: the resource is PUT (409, it exists) and the
    file sent again without tags. The import ends verified, the resource tagged BIDS once."""
    proxy = FaultyProxy(emulator.url, "PUT", r"/scans/T1w/resources/NIFTI/files/",
                        cut_after=True)
    try:
        proxy_site = type("Site", (), {"url": proxy.url})()
        proc, report = run(proxy_site, data["bids"], project, tmp_path)
    finally:
        proxy.stop()
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    assert proxy.failed == 2          # one T1w image in each of the two subjects' sessions
    for subject, session in (("01", "01_1"), ("02", "02")):
        rows = http.get(f"/data/projects/{project}/subjects/{subject}/experiments/{session}"
                        "/scans/T1w/resources", params={"format": "json"}).json()[
            "ResultSet"]["Result"]
        nifti = next(r for r in rows if r["label"] == "NIFTI")
        assert (nifti["format"], nifti["content"], nifti["tags"]) == \
            ("NIFTI", "NIFTI_RAW", "BIDS")


def test_flat_import_of_nibabel_files(emulator, http, project, data, tmp_path):
    proc, report = run(emulator, data["flat"], project, tmp_path, "--subject", "S1",
                       "--session", "S1_MR1")
    assert proc.returncode == 0, proc.stderr
    assert report["done"]["created"] == {"subject": 1, "experiment": 1, "scan": 4}
    scans = scans_of(session_doc(http, project, "S1", "S1_MR1"))
    assert {i: s.get("type") for i, s in scans.items()} == {
        "anatomical": "t1_mprage", "functional": "functional", "example4d": "example4d",
        "example_nifti2": "example_nifti2"}
    func = scans["functional"].find(f"{X}parameters")
    assert func.findtext(f"{X}tr") == "2000"          # from the header of a 4D image
    assert func.find(f"{X}voxelRes").attrib == {"units": "mm", "x": "4", "y": "4", "z": "8"}
    assert scans["anatomical"].find(f"{X}parameters").findtext(f"{X}te") == "4"
    got = files(http, project, "S1", "S1_MR1")
    assert ("anatomical", "BIDS", "anatomical.json") in got
    assert ("example_nifti2", "NIFTI", "example_nifti2.nii.gz") in got


def test_flat_needs_a_subject(emulator, project, data, tmp_path):
    proc, _ = run(emulator, data["flat"], project, tmp_path)
    assert proc.returncode == 2
    assert "needs --subject" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_and_truncated_files_are_rejected(emulator, http, project, data, tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    shutil.copy(NIBABEL / "anatomical.nii", src / "good.nii")
    whole = (NIBABEL / "anatomical.nii").read_bytes()
    (src / "truncated.nii").write_bytes(whole[: len(whole) // 2])
    gz = (NIBABEL / "example4d.nii.gz").read_bytes()
    (src / "truncated_gz.nii.gz").write_bytes(gz[: len(gz) - 5000])
    (src / "garbage.nii").write_bytes(b"this is not a NIFTI file at all" * 20)
    proc, report = run(emulator, src, project, tmp_path / "r1", "--subject", "BAD",
                       "--strict")
    assert proc.returncode == 1
    assert report["status"] == "rejected"
    rejected = {r["path"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == {"truncated.nii", "truncated_gz.nii.gz", "garbage.nii"}
    assert rejected["truncated.nii"].startswith("truncated: the header needs")
    assert "gzip" in rejected["truncated_gz.nii.gz"]
    assert "not a readable NIFTI" in rejected["garbage.nii"]
    assert http.get(f"/data/projects/{project}/subjects",
                    params={"format": "json"}).json()["ResultSet"]["Result"] == []
    proc, report = run(emulator, src, project, tmp_path / "r2", "--subject", "BAD")
    assert proc.returncode == 1
    assert report["status"] == "incomplete"
    assert report["done"]["created"] == {"subject": 1, "experiment": 1, "scan": 1}
    assert "truncated.nii" in proc.stdout
    assert list(scans_of(session_doc(http, project, "BAD", "BAD"))) == ["good"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives(emulator, http, project, data, tmp_path, kind):
    archive = tmp_path / f"ds.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in sorted(data["bids"].rglob("*")):
                zf.write(p, Path("ds") / p.relative_to(data["bids"]))
    else:
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(data["bids"], "ds")
    proc, report = run(emulator, archive, project, tmp_path / "r", "--no-snapshots")
    assert proc.returncode == 0, proc.stderr
    assert report["done"]["created"] == {"subject": 2, "experiment": 2, "scan": 5}
    got = files(http, project, "01", "01_1")
    assert not any(k[1] == "SNAPSHOTS" for k in got)


def test_unsafe_archive_is_refused(emulator, project, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.nii", b"x")
    proc, _ = run(emulator, archive, project, tmp_path / "r", "--subject", "X")
    assert proc.returncode == 2
    assert "unsafe entry" in proc.stderr
    assert not (tmp_path.parent / "escape.nii").exists()


def test_snapshots_decode_and_dry_run(emulator, http, project, data, tmp_path):
    proc, report = run(emulator, data["flat"], project, tmp_path / "dry", "--subject", "D",
                       "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "planned"
    assert "scan anatomical  type t1_mprage" in proc.stdout
    assert http.get(f"/data/projects/{project}/subjects",
                    params={"format": "json"}).json()["ResultSet"]["Result"] == []
    proc, report = run(emulator, data["flat"], project, tmp_path / "real", "--subject", "D")
    assert proc.returncode == 0, proc.stderr
    base = f"/data/projects/{project}/subjects/D/experiments/D/scans"
    for scan in ("anatomical", "functional", "example4d", "example_nifti2"):
        rows = http.get(f"{base}/{scan}/resources/SNAPSHOTS/files",
                        params={"format": "json"}).json()["ResultSet"]["Result"]
        contents = {r["file_content"]: r["Name"] for r in rows}
        assert set(contents) == {"ORIGINAL", "THUMBNAIL"}
        for content, name in contents.items():
            body = http.get(f"{base}/{scan}/resources/SNAPSHOTS/files/{name}").content
            img = Image.open(io.BytesIO(body))
            img.load()
            assert img.format == "GIF"
            if content == "THUMBNAIL":
                assert max(img.size) <= 128
            else:
                assert img.size[0] > img.size[1]          # three views side by side
        legacy = http.get(f"{base}/{scan}/resources/SNAPSHOTS/files",
                          params={"file_content": "THUMBNAIL", "format": "json"}).json()
        assert len(legacy["ResultSet"]["Result"]) == 1


def test_from_dicom(emulator, http, project, tmp_path):
    from pydicom.data import get_testdata_file

    from nifti_data import SIEMENS_DTI

    dicom = tmp_path / "dicom"
    (dicom / "a").mkdir(parents=True)
    (dicom / "b").mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), dicom / "a" / "MR_small.dcm")
    for f in SIEMENS_DTI:
        shutil.copy(f, dicom / "b" / f.name)
    proc, report = run(emulator, dicom, project, tmp_path / "r", "--from-dicom",
                       "--subject", "DCM")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    scans = scans_of(session_doc(http, project, "DCM", "DCM"))
    assert set(scans) == {"12_CBU_DTI_64D_1A", "1"}      # <series number>_<description>
    assert scans["1"].findtext(f"{X}modality") == "MR"
    dti = scans["12_CBU_DTI_64D_1A"]
    assert dti.get("type") == "CBU_DTI_64D_1A"
    assert dti.find(f"{X}parameters").findtext(f"{X}tr") == "6600"
    got = files(http, project, "DCM", "DCM")
    assert ("12_CBU_DTI_64D_1A", "BIDS", "12_CBU_DTI_64D_1A.bval") in got
    assert any(k[1] == "SNAPSHOTS" for k in got)
