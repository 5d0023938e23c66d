"""Port of NrgXnat/xnat-rest-tests (commit 374f756) to the emulator: resources and files.

Uploads at every level (multipart, as RestAssured ``multiPart(File)`` sends them: part
name ``file``, ``application/octet-stream``), archive extraction, sub-directories, zip
downloads, file filtering, renames and project deletion.  Test data is made in the test
(fake DICOM bytes, a tiny JPEG header) plus one NIFTI from nibabel's test data.
"""

from __future__ import annotations

import io
import os
import tarfile
import xml.etree.ElementTree as ET
import zipfile

import nibabel.testing
import pytest
from rest_suite_support import expect, new_project, new_scan, new_session, new_subject, rows

NS = {"xnat": "http://nrg.wustl.edu/xnat"}

DICOM = {f"{i}.dcm": b"\x00" * 128 + b"DICM" + bytes([i]) * (200 + i) for i in range(1, 7)}
LOUIE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"  # louie.jpg stand-in
DUMMY_TXT = b"This is a dummy text file.\n"
NIFTI_PATH = os.path.join(nibabel.testing.data_path, "example4d.nii.gz")


# --------------------------------------------------------------------------- helpers

def multipart(name: str, data: bytes) -> dict:
    """What RestAssured ``multiPart(File)`` sends."""
    return {"file": (name, data, "application/octet-stream")}


def file_upload_setup(http, project):
    """TestFileUpload.setupFileUploadProject: subject "1" (male), session MR1 dated 2000-01-01."""
    new_subject(http, project, "1", gender="male")
    new_session(http, project, "1", "MR1", date="2000-01-01")
    return (f"/data/projects/{project}",
            f"/data/projects/{project}/subjects/1",
            f"/data/projects/{project}/subjects/1/experiments/MR1")


def assert_download(http, url: str, content: bytes):
    """restDriver.validateUpload: the file at ``url`` has exactly ``content``."""
    r = expect(http.get(url), 200)
    assert r.content == content, url


def assert_resource_files(http, level_url: str, label: str, expected: dict[str, bytes]):
    """restDriver.validateResource: listing names/sizes and every file's bytes."""
    listing = rows(http.get(f"{level_url}/resources/{label}/files", params={"format": "json"}))
    got = {}
    for row in listing:
        path = row["URI"].split("/files/", 1)[1]
        got[path] = row
        assert row["collection"] == label
    assert sorted(got) == sorted(expected)
    for path, content in expected.items():
        assert got[path]["Size"] == str(len(content))
        assert_download(http, f"{level_url}/resources/{label}/files/{path}", content)


def session_date(http, session_url: str) -> str:
    r = expect(http.get(session_url, params={"format": "xml"}), 200)
    return ET.fromstring(r.content).find("xnat:date", NS).text


# --------------------------------------------------------------------------- uploads per level

@pytest.mark.parametrize("name,content", [("1.dcm", DICOM["1.dcm"]), ("dummy.txt", DUMMY_TXT)],
                         ids=["image", "text"])
def test_upload_to_precreated_scan_resource(http, project, name, content):
    """Create scans 1 and 2, ``PUT {scan1}/resources/DICOM`` -> 200, upload a file into
    it -> 200; the resource lists the file (size) and serves its bytes; the resources
    listing reports ``file_count`` 1.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testImageUploadWResourcePrecreate and
    testTextUploadWResourcePrecreate (grxnat:ResourceSubinterface.uploadResource: PUT
    resource 200, then the files, then reads the resources listing); reference §4, §5.
    """
    _, _, session_url = file_upload_setup(http, project)
    new_scan(http, session_url, "1", series_description="LOCALIZER", quality="usable")
    new_scan(http, session_url, "2", series_description="localizer", quality="questionable")
    scan_url = f"{session_url}/scans/1"

    expect(http.put(f"{scan_url}/resources/DICOM"), 200)
    expect(http.put(f"{scan_url}/resources/DICOM/files/{name}", files=multipart(name, content)), 200)

    assert_resource_files(http, scan_url, "DICOM", {name: content})
    [resource] = rows(http.get(f"{scan_url}/resources", params={"format": "json"}))
    assert resource["label"] == "DICOM"
    assert resource["file_count"] == "1"
    assert resource["file_size"] == str(len(content))
    assert rows(http.get(f"{session_url}/scans/2/resources", params={"format": "json"})) == []


def test_resources_upload_at_three_levels_and_zip_layout(http, project):
    """Multipart PUT of one file into resource TEST of the session, the subject and the
    project -> 200 each; each is listed and downloadable; the session resource's
    ``files?format=zip&compression=0`` holds ``MR1/resources/TEST/files/1.dcm``; the
    session date is unchanged by the uploads.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testResourcesUpload (first half);
    reference §5.1, §5.5 (zip entry layout).
    """
    project_url, subject_url, session_url = file_upload_setup(http, project)
    assert session_date(http, session_url) == "2000-01-01"

    for level_url, name in ((session_url, "1.dcm"), (subject_url, "2.dcm"), (project_url, "3.dcm")):
        expect(http.put(f"{level_url}/resources/TEST/files/{name}",
                        files=multipart(name, DICOM[name])), 200)
    assert_resource_files(http, session_url, "TEST", {"1.dcm": DICOM["1.dcm"]})
    assert_resource_files(http, subject_url, "TEST", {"2.dcm": DICOM["2.dcm"]})
    assert_resource_files(http, project_url, "TEST", {"3.dcm": DICOM["3.dcm"]})

    r = expect(http.get(f"{session_url}/resources/TEST/files",
                        params={"format": "zip", "compression": "0"}), 200)
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.read("MR1/resources/TEST/files/1.dcm") == DICOM["1.dcm"]
    assert session_date(http, session_url) == "2000-01-01"


def test_resource_subdirectories_listing_zip_and_folder_delete(http, project):
    """Files ``1.dcm``, ``sub/2.dcm``, ``sub/folder/3.dcm`` uploaded by URL path into a
    not-yet-existing project resource -> 200 each; ``GET files/sub/?format=json`` lists
    2 files, with ``recursive=false`` 1; ``files/sub/?format=zip`` has 2 entries;
    ``DELETE files/sub/folder`` -> 200 leaves 1 file under ``sub/``.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testResourcesUpload (sub-directory
    half); reference §5.1 (nested relpath, auto-created resource), §5.2 (folder delete),
    §5.3 (``relpath/`` lists a folder, ``recursive=false``).
    """
    files_url = f"/data/projects/{project}/resources/TEST2/files"
    for path in ("1.dcm", "sub/2.dcm", "sub/folder/3.dcm"):
        expect(http.put(f"{files_url}/{path}", files=multipart("3.dcm", DICOM["3.dcm"])), 200)

    assert len(rows(http.get(f"{files_url}/sub/", params={"format": "json"}))) == 2
    assert len(rows(http.get(f"{files_url}/sub/", params={"format": "json", "recursive": "false"}))) == 1
    r = expect(http.get(f"{files_url}/sub/", params={"format": "zip"}), 200)
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert len(zf.infolist()) == 2

    expect(http.delete(f"{files_url}/sub/folder"), 200)
    assert len(rows(http.get(f"{files_url}/sub/", params={"format": "json"}))) == 1


@pytest.mark.parametrize("level", ["session", "subject", "project"])
def test_upload_to_level_resource_is_served_by_both_file_urls(http, project, level):
    """Multipart PUT to ``{level}/resources/{R}/files/1.dcm`` auto-creates ``R`` -> 200;
    the file is served by ``{level}/resources/{R}/files/1.dcm`` and by the shortcut
    ``{level}/files/1.dcm``.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testMRResourceUpload,
    testSubjectResourceUpload, testProjectResourceUpload (the Java does not assert the
    upload status; reference §5.1 says 200); reference §1 (``{level}/files`` shortcut).
    """
    project_url, subject_url, session_url = file_upload_setup(http, project)
    level_url, label, content = {
        "session": (session_url, "DICOM", DICOM["2.dcm"]),
        "subject": (subject_url, "TEST1", DICOM["3.dcm"]),
        "project": (project_url, "TEST1", DICOM["3.dcm"]),
    }[level]
    expect(http.put(f"{level_url}/resources/{label}/files/1.dcm", files=multipart("x.dcm", content)), 200)
    assert_download(http, f"{level_url}/resources/{label}/files/1.dcm", content)
    assert_download(http, f"{level_url}/files/1.dcm", content)


def test_scan_upload(http, project):
    """Scan ``MR1_scan1`` (non-numeric ID); multipart PUT to its ``resources/DICOM/files/1.dcm``
    -> 200; served by the resource URL and by ``{scan}/files/1.dcm``. A NIFTI (nibabel's
    ``example4d.nii.gz``) uploaded the same way round-trips byte for byte (no extraction).

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testScanUpload (NIFTI part added; it
    exercises reference §5.1: a lone ``.gz`` is only gunzipped with ``extract=true``).
    """
    _, _, session_url = file_upload_setup(http, project)
    new_scan(http, session_url, "MR1_scan1")
    scan_url = f"{session_url}/scans/MR1_scan1"
    expect(http.put(f"{scan_url}/resources/DICOM/files/1.dcm", files=multipart("1.dcm", DICOM["1.dcm"])), 200)
    assert_download(http, f"{scan_url}/resources/DICOM/files/1.dcm", DICOM["1.dcm"])
    assert_download(http, f"{scan_url}/files/1.dcm", DICOM["1.dcm"])

    with open(NIFTI_PATH, "rb") as fh:
        nifti = fh.read()
    expect(http.put(f"{scan_url}/resources/NIFTI/files/example4d.nii.gz",
                    files=multipart("example4d.nii.gz", nifti)), 200)
    assert_download(http, f"{scan_url}/resources/NIFTI/files/example4d.nii.gz", nifti)


def test_scan_resource_created_by_upload(http, project):
    """Scans 1 and 2 exist, no resource pre-created: multipart PUT of ``2.dcm`` to
    ``{scan1}/resources/TEST/files/3.dcm`` -> 200; stored as ``3.dcm`` (URL path wins over
    the part's filename) and served by both file URLs.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testTextIMGUploadWOPrecreate;
    reference §5.1 ("With a URL relpath, that path is the destination").
    """
    _, _, session_url = file_upload_setup(http, project)
    new_scan(http, session_url, "1", series_description="LOCALIZER", quality="usable")
    new_scan(http, session_url, "2", series_description="localizer", quality="questionable")
    scan_url = f"{session_url}/scans/1"
    expect(http.put(f"{scan_url}/resources/TEST/files/3.dcm", files=multipart("2.dcm", DICOM["2.dcm"])), 200)
    assert_download(http, f"{scan_url}/resources/TEST/files/3.dcm", DICOM["2.dcm"])
    assert_download(http, f"{scan_url}/files/3.dcm", DICOM["2.dcm"])
    [row] = rows(http.get(f"{scan_url}/resources/TEST/files", params={"format": "json"}))
    assert row["Name"] == "3.dcm"


@pytest.mark.parametrize("label,params", [("1_MR1_2", {"format": "xml", "req_format": "qs", "type": "LOCALIZER"}),
                                          ("MR1_recon1", {})], ids=["with_type", "bare"])
def test_reconstruction_upload(http, project, label, params):
    """``PUT {session}/reconstructions/{R}`` (with ``type=LOCALIZER``, or with no query at
    all) -> 200; a multipart upload to ``{recon}/resources/X/files/f.dcm`` -> 200 and the
    file is served by that URL and by ``{recon}/files/f.dcm``.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testReconstructionUpload and
    testReconUpload; reference §4 (recon PUT 200).
    """
    _, _, session_url = file_upload_setup(http, project)
    recon_url = f"{session_url}/reconstructions/{label}"
    expect(http.put(recon_url, params=params or None), 200)
    expect(http.put(f"{recon_url}/resources/TEST/files/3.dcm", files=multipart("3.dcm", DICOM["3.dcm"])), 200)
    assert_download(http, f"{recon_url}/resources/TEST/files/3.dcm", DICOM["3.dcm"])
    assert_download(http, f"{recon_url}/files/3.dcm", DICOM["3.dcm"])


def test_manual_qc_out_resource_upload(http, project):
    """``PUT {session}/assessors/MR1_ManualQC?xsiType=xnat:qcManualAssessorData&xnat:qcManualAssessorData/pass=true``
    -> 201; multipart PUT to ``{assessor}/out/resources/DICOM/files/1.dcm`` -> 200; served
    by that URL and by ``{assessor}/out/files/1.dcm``.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testManQCUpload; reference §1
    (assessor ``{TYPE}/resources`` with TYPE in/out), §4 (assessor PUT 201).
    """
    _, _, session_url = file_upload_setup(http, project)
    assessor_url = f"{session_url}/assessors/MR1_ManualQC"
    expect(http.put(assessor_url, params={"xsiType": "xnat:qcManualAssessorData",
                                          "xnat:qcManualAssessorData/pass": "true"}), 201)
    expect(http.put(f"{assessor_url}/out/resources/DICOM/files/1.dcm",
                    files=multipart("1.dcm", DICOM["1.dcm"])), 200)
    assert_download(http, f"{assessor_url}/out/resources/DICOM/files/1.dcm", DICOM["1.dcm"])
    assert_download(http, f"{assessor_url}/out/files/1.dcm", DICOM["1.dcm"])


# --------------------------------------------------------------------------- extraction

def _archive(kind: str) -> tuple[str, bytes]:
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in DICOM.items():
                zf.writestr(f"mr_1/{name}", data)
        return "mr_1.zip", buf.getvalue()
    mode, filename = {"tar": ("w", "mr_1.tar"), "tar.gz": ("w:gz", "mr_1.tar.gz"),
                      "tgz": ("w:gz", "mr_1.tgz")}[kind]
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in DICOM.items():
            info = tarfile.TarInfo(f"mr_1/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return filename, buf.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tgz"])
@pytest.mark.parametrize("level", ["session", "scan", "subject", "project"])
def test_upload_archive_with_extract(http, project, level, kind):
    """Multipart POST of ``mr_1.{zip,tar,tar.gz,tgz}`` to ``{level}/resources/TEST/files``
    (no file path) with ``extract=true`` -> 200; each member is then served at
    ``{level}/resources/TEST/files/mr_1/N.dcm`` with its bytes.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.test{MR,Scan,Subject,Project}ResourceUpload
    {Zip,Tar,TarGz,Tgz} (tar/tgz forms 1.8.0+); reference §5.1 (extraction keeps archive paths).
    """
    project_url, subject_url, session_url = file_upload_setup(http, project)
    if level == "scan":
        new_scan(http, session_url, "MR1_scan1")
    level_url = {"session": session_url, "subject": subject_url, "project": project_url,
                 "scan": f"{session_url}/scans/MR1_scan1"}[level]
    filename, data = _archive(kind)
    expect(http.post(f"{level_url}/resources/TEST/files", params={"extract": "true"},
                     files=multipart(filename, data)), 200)
    for name, content in DICOM.items():
        assert_download(http, f"{level_url}/resources/TEST/files/mr_1/{name}", content)
    paths = sorted(row["URI"].split("/files/", 1)[1]
                   for row in rows(http.get(f"{level_url}/resources/TEST/files", params={"format": "json"})))
    assert paths == sorted(f"mr_1/{name}" for name in DICOM)


# --------------------------------------------------------------------------- listings

def test_resources_total_records(http, project):
    """``{session}/resources?format=json`` reports ``totalRecords`` "0" (with
    ``file_stats=true``, without, and with ``file_stats=false``); after multipart uploads
    into TEST1, TEST2, TEST3 (-> 200 each) it reports "3" in all three forms.

    Ports NrgXnat/xnat-rest-tests:.../TestFileUpload.testMRResourcesTotalRecordsCount;
    reference §3.1 (totalRecords is a quoted string), §3.3 (resources table).
    """
    _, _, session_url = file_upload_setup(http, project)
    variants = [{"file_stats": "true"}, {}, {"file_stats": "false"}]

    def totals():
        return [expect(http.get(f"{session_url}/resources", params={"format": "json", **v}), 200)
                .json()["ResultSet"]["totalRecords"] for v in variants]

    assert totals() == ["0", "0", "0"]
    for n in ("1", "2", "3"):
        expect(http.put(f"{session_url}/resources/TEST{n}/files/{n}.dcm",
                        files=multipart(f"{n}.dcm", DICOM[f"{n}.dcm"])), 200)
    assert totals() == ["3", "3", "3"]


def test_file_filtering_by_content_and_index(http, project):
    """Five files uploaded with ``content=TEST1|TEST2|TEST3``: the files listing has 5 rows,
    ``file_content=TEST2`` 2 rows, ``file_content=TEST3`` 1 row; ``file_content=TEST3&index=1``
    -> 404; ``file_content=TEST2&index=1`` returns that file's bytes.

    Ports NrgXnat/xnat-rest-tests:.../TestFileFiltering.testFileFiltering; reference §5.1
    (``content`` upload param), §5.4 (``file_content``, ``index`` filters).
    """
    new_subject(http, project, "S1")
    new_session(http, project, "S1", "MR1")
    files_url = f"/data/projects/{project}/subjects/S1/experiments/MR1/resources/TEST/files"
    for name, content in (("Louie1.jpg", "TEST1"), ("Louie2.jpg", "TEST1"), ("Louie3.jpg", "TEST2"),
                          ("Louie4.jpg", "TEST2"), ("Louie5.jpg", "TEST3")):
        expect(http.put(f"{files_url}/{name}", params={"content": content},
                        files=multipart("louie.jpg", LOUIE)), 200)

    assert len(rows(http.get(files_url, params={"format": "json"}))) == 5
    test2 = rows(http.get(files_url, params={"format": "json", "file_content": "TEST2"}))
    assert sorted(row["Name"] for row in test2) == ["Louie3.jpg", "Louie4.jpg"]
    assert all(row["file_content"] == "TEST2" for row in test2)
    assert len(rows(http.get(files_url, params={"format": "json", "file_content": "TEST3"}))) == 1
    expect(http.get(files_url, params={"file_content": "TEST3", "index": "1"}), 404)
    r = expect(http.get(files_url, params={"file_content": "TEST2", "index": "1"}), 200)
    assert r.content == LOUIE


# --------------------------------------------------------------------------- renames / deletes

def test_experiment_rename_keeps_resources(http, project):
    """``PUT {session}?label=MOD1`` -> 200; the session resource and the scan resource are
    then reachable (listing and bytes) under the new label.

    Ports NrgXnat/xnat-rest-tests:.../TestRename.testExptRename; reference §4 (rename).
    """
    new_subject(http, project, "S1")
    new_session(http, project, "S1", "MR_ORIG")
    old_url = f"/data/projects/{project}/subjects/S1/experiments/MR_ORIG"
    new_scan(http, old_url, "1", series_description="FLAIR", type="FLAIR")
    expect(http.put(f"{old_url}/resources/TESTRESOURCE/files/louie.jpg", files=multipart("louie.jpg", LOUIE)), 200)
    expect(http.put(f"{old_url}/scans/1/resources/TESTRESOURCE2/files/1.dcm",
                    files=multipart("1.dcm", DICOM["1.dcm"])), 200)

    expect(http.put(old_url, params={"label": "MOD1"}), 200)
    new_url = f"/data/projects/{project}/subjects/S1/experiments/MOD1"
    assert_resource_files(http, new_url, "TESTRESOURCE", {"louie.jpg": LOUIE})
    assert_resource_files(http, f"{new_url}/scans/1", "TESTRESOURCE2", {"1.dcm": DICOM["1.dcm"]})


def test_subject_rename_keeps_resources(http, project):
    """``PUT {subject}?label=MOD2`` renames; the subject resource and its session's resource
    are reachable under ``/subjects/MOD2``.

    Ports NrgXnat/xnat-rest-tests:.../TestRename.testSubjRename (Java does not check the
    rename status; reference §4 says 200 empty).
    """
    new_subject(http, project, "2")
    new_session(http, project, "2", "MR_S2")
    old_subject = f"/data/projects/{project}/subjects/2"
    new_scan(http, f"{old_subject}/experiments/MR_S2", "1", series_description="FLAIR", type="FLAIR")
    expect(http.put(f"{old_subject}/resources/TESTRESOURCE2/files/1.dcm",
                    files=multipart("1.dcm", DICOM["1.dcm"])), 200)
    expect(http.put(f"{old_subject}/experiments/MR_S2/resources/TESTRESOURCE/files/louie.jpg",
                    files=multipart("louie.jpg", LOUIE)), 200)

    expect(http.put(old_subject, params={"label": "MOD2"}), 200)
    new_subject_url = f"/data/projects/{project}/subjects/MOD2"
    assert_resource_files(http, new_subject_url, "TESTRESOURCE2", {"1.dcm": DICOM["1.dcm"]})
    assert_resource_files(http, f"{new_subject_url}/experiments/MR_S2", "TESTRESOURCE", {"louie.jpg": LOUIE})


def test_deleting_one_project_leaves_another_projects_resources(http):
    """Two projects each with a resource holding ``louie.jpg``; ``DELETE`` of the second
    project (``removeFiles=true``) -> 200; the first project's file is intact.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectURIs.testProjectDeleteCrossover.
    """
    first, second = new_project(http), new_project(http)
    expect(http.put(f"/data/projects/{first}/resources/TESTING/files/louie.jpg",
                    files=multipart("louie.jpg", LOUIE)), 200)
    expect(http.put(f"/data/projects/{second}/resources/TESTING2/files/louie.jpg",
                    files=multipart("louie.jpg", LOUIE)), 200)
    assert_resource_files(http, f"/data/projects/{first}", "TESTING", {"louie.jpg": LOUIE})
    expect(http.delete(f"/data/projects/{second}", params={"removeFiles": "true"}), 200)
    assert_resource_files(http, f"/data/projects/{first}", "TESTING", {"louie.jpg": LOUIE})
    expect(http.get(f"/data/projects/{second}", params={"format": "xml"}), 404)
