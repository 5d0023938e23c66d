"""import-nifti pieces without a server: layout, scan IDs, source safety, fields, snapshots."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile

import nibabel as nib
import numpy as np
import pytest
from lxml import etree
from nibabel.testing import data_path

from xnat_container.nifti import fields, snapshots, validate
from xnat_container.nifti.layout import discover
from xnat_container.nifti.source import Source, SourceError

X = "{http://nrg.wustl.edu/xnat}"


def _img(path, shape=(4, 5, 6)):
    nib.save(nib.Nifti1Image(np.ones(shape, np.int16), np.eye(4)), str(path))


def test_scan_ids_are_stable_when_files_are_added(tmp_path):
    anat = tmp_path / "sub-01" / "ses-a" / "anat"
    func = tmp_path / "sub-01" / "ses-a" / "func"
    anat.mkdir(parents=True)
    func.mkdir(parents=True)
    _img(anat / "sub-01_ses-a_T1w.nii.gz")
    _img(func / "sub-01_ses-a_task-rest_run-2_bold.nii.gz")
    first = {s.scan_id: (s.type, s.rel) for s in discover(tmp_path).scans()}
    _img(anat / "sub-01_ses-a_acq-fast_T1w.nii.gz")
    _img(func / "sub-01_ses-a_task-rest_run-1_bold.nii.gz")
    second = {s.scan_id: (s.type, s.rel) for s in discover(tmp_path).scans()}
    assert {k: second[k] for k in first} == first
    assert second["task-rest_run-1_bold"][0] == "task-rest_bold"
    assert second["acq-fast_T1w"][0] == "acq-fast_T1w"
    assert discover(tmp_path).sessions[0].label == "01_a"


def test_bids_inheritance_merges_sidecars(tmp_path):
    func = tmp_path / "sub-01" / "func"
    func.mkdir(parents=True)
    _img(func / "sub-01_task-x_bold.nii")
    (tmp_path / "task-x_bold.json").write_text(json.dumps({"RepetitionTime": 3, "EchoTime": 1}))
    (func / "sub-01_task-x_bold.json").write_text(json.dumps({"EchoTime": 0.03}))
    (scan,) = discover(tmp_path).scans()
    assert scan.meta == {"RepetitionTime": 3, "EchoTime": 0.03}
    assert [p.name for p in scan.companions] == ["sub-01_task-x_bold.json"]


def test_symlink_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.nii"
    _img(outside)
    src = tmp_path / "src"
    src.mkdir()
    _img(src / "a.nii")
    os.symlink(outside, src / "b.nii")
    found = discover(src, "flat", "S")
    assert [s.scan_id for s in found.scans()] == ["a"]
    assert found.rejected == [("b.nii", "symbolic link pointing outside the source folder")]


@pytest.mark.parametrize("name", ["/abs.nii", "../up.nii", "a/../../up.nii"])
def test_unsafe_archive_entries(tmp_path, name):
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(name, b"x")
    with pytest.raises(SourceError, match="unsafe entry"):
        Source(z).__enter__()
    t = tmp_path / "x.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(SourceError, match="unsafe entry"):
        Source(t).__enter__()


def test_tar_with_symlink_is_refused(tmp_path):
    t = tmp_path / "x.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        info = tarfile.TarInfo("link.nii")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(SourceError, match="link"):
        Source(t).__enter__()


def test_sidecar_seconds_become_milliseconds():
    img = nib.load(os.path.join(data_path, "functional.nii"))
    header = fields.header_fields(img)
    doc = etree.fromstring(fields.scan_document(
        "5", "task-rest_bold", "rest", "MR",
        {"RepetitionTime": 2.5, "EchoTime": 0.0301, "InversionTime": 1.1, "FlipAngle": 77.5},
        header))
    p = doc.find(f"{X}parameters")
    assert [p.findtext(f"{X}{k}") for k in ("tr", "te", "ti", "flip")] == \
        ["2500", "30.1", "1100", "77.5"]
    pet = etree.fromstring(fields.scan_document("1", "pet", "pet", "PT", {}, header))
    assert pet.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "xnat:petScanData"
    assert fields.session_modality([({"Modality": "CT"}, ""), ({}, "pet")], None) == "PT"
    assert fields.session_modality([({}, "anat")], None) == "MR"
    assert fields.session_modality([({"Modality": "PT"}, "")], "CT") == "CT"


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
@pytest.mark.parametrize("version", [1, 2])
def test_snapshot_orientation_is_ras_radiological(tmp_path, ext, version):
    """A bright block in the subject's right-anterior-superior corner, stored LPI on disk,
    shows top-left in every view (right/anterior on the image's left, superior/anterior up)."""
    vol = np.full((40, 50, 30), 100, np.int16)
    vol[12:, 15:, 10:] = 1000
    ras = nib.Nifti1Image(vol, np.diag([2.0, 2.0, 2.0, 1.0]))
    lpi = ras.as_reoriented(nib.orientations.ornt_transform(
        nib.io_orientation(ras.affine), nib.orientations.axcodes2ornt("LPI")))
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    path = tmp_path / f"x{ext}"
    nib.save(cls(np.asanyarray(lpi.dataobj), lpi.affine), str(path))
    for view, _, _ in snapshots.views(nib.load(str(path))):
        h, w = view.shape
        assert view[: h // 4, : w // 4].min() == 1000
        assert view[-(h // 8):, -(w // 8):].max() == 100
    original, thumb = snapshots.render(nib.load(str(path)))
    assert original.size[0] > original.size[1] and max(thumb.size) <= 128


def test_4d_uses_one_volume_and_validation_reasons(tmp_path):
    vol = np.zeros((8, 8, 8, 3), np.float32)
    vol[..., 1] = 5.0
    path = tmp_path / "f.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(path))
    img = nib.load(str(path))
    assert all(v.max() == 5.0 for v, _, _ in snapshots.views(img, 1))
    assert all(v.max() == 0.0 for v, _, _ in snapshots.views(img, 0))
    assert validate.check(path).ok
    raw = path.read_bytes()
    path.write_bytes(raw[:-20])
    assert not validate.check(path).ok
