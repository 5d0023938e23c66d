"""Fidelity 5: file upload rules, duplicates, overwrite, extraction, listings, zip, GET/HEAD/DELETE.

xnat-rest.md §5.1 (upload), §5.2 (delete), §5.3 (single file GET/HEAD), §5.4 (listing rows),
§5.5 (zip layout), §12.1 (pyxnat wire trace), §12.4 (duplicates body). Real data: nibabel's
and pydicom's test files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from email.utils import parsedate_to_datetime

import pydicom.data
import pytest
from nibabel.testing import data_path

EXAMPLE4D = os.path.join(data_path, "example4d.nii.gz")
NIFTI2 = os.path.join(data_path, "example_nifti2.nii.gz")
ANATOMICAL = os.path.join(data_path, "anatomical.nii")
MR_SMALL = pydicom.data.get_testdata_file("MR_small.dcm")
CT_SMALL = pydicom.data.get_testdata_file("CT_small.dcm")
OCTET = {"Content-Type": "application/octet-stream"}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _files(http, url: str) -> dict[str, dict]:
    r = http.get(url, params={"format": "json"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return {row["URI"].split("/files/", 1)[1]: row for row in r.json()["ResultSet"]["Result"]}


@pytest.fixture
def sess(http, project):
    p = f"/data/projects/{project}"
    sid = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text
    url = f"{p}/subjects/S1/experiments/MR1"
    eid = http.put(url, params={"xsiType": "xnat:mrSessionData"}).text
    assert http.put(f"{url}/scans/1", params={"xsiType": "xnat:mrScanData",
                                              "type": "T1 MPRAGE"}).status_code == 200
    return {"p": project, "pu": p, "subject": sid, "exp": eid, "url": url,
            "scan": f"{url}/scans/1"}


# -- upload body rules ----------------------------------------------------------------------------

def test_pyxnat_inbody_post_to_numeric_id_without_content_type(http, sess):
    """xnat-rest.md §12.1 step 5: `POST B/resources/123/files/n?format=NIFTI&content=T1&tags=tag&
    overwrite=false&inbody=true` with the raw bytes (no Content-Type) -> 200, empty body."""
    assert http.put(f"{sess['scan']}/resources/NIFTI").status_code == 200
    res = http.get(f"{sess['scan']}/resources", params={"format": "json"}).json()
    rid = res["ResultSet"]["Result"][0]["xnat_abstractresource_id"]
    data = _read(EXAMPLE4D)
    r = http.post(f"{sess['scan']}/resources/{rid}/files/example4d.nii.gz",
                  params={"format": "NIFTI", "content": "T1", "tags": "tag", "overwrite": "false",
                          "inbody": "true"}, data=io.BytesIO(data),
                  headers={"Content-Length": str(len(data))})
    assert "Content-Type" not in r.request.headers
    assert (r.status_code, r.text) == (200, "")
    rows = _files(http, f"{sess['scan']}/resources/NIFTI/files")
    row = rows["example4d.nii.gz"]
    assert row["Size"] == str(len(data))
    assert row["digest"] == hashlib.md5(data).hexdigest()
    assert (row["file_format"], row["file_content"]) == ("NIFTI", "T1")
    assert http.get(f"{sess['scan']}/resources/NIFTI/files/example4d.nii.gz").content == data


@pytest.mark.parametrize("ctype", ["application/octet-stream", "text/plain", "application/zip",
                                   "application/dicom", "image/png", "application/pdf"])
def test_supported_content_types_are_the_file(http, sess, ctype):
    """xnat-rest.md §5.1: "Content-Type in the supported list (application/octet-stream,
    text/plain, ... application/zip, application/dicom, image/*, application/pdf) -> raw body is
    the file, name = URL relpath"."""
    data = _read(MR_SMALL)
    r = http.put(f"{sess['url']}/resources/RAW/files/x/{ctype.replace('/', '_')}.bin", data=data,
                 headers={"Content-Type": ctype})
    assert (r.status_code, r.text) == (200, "")
    got = http.get(f"{sess['url']}/resources/RAW/files/x/{ctype.replace('/', '_')}.bin")
    assert got.content == data


def test_multipart_upload_file_parts(http, sess):
    """xnat-rest.md §5.1: "multipart/form-data -> each file part is a file (name = part filename,
    backslash paths stripped); non-file parts are params. With a URL relpath, that path is the
    destination"."""
    mr, ct = _read(MR_SMALL), _read(CT_SMALL)
    r = http.post(f"{sess['scan']}/resources/DICOM/files",
                  files={"a": ("MR_small.dcm", mr, "application/dicom"),
                         "b": ("C:\\dicom\\CT_small.dcm", ct, "application/octet-stream")},
                  data={"format": "DICOM"})
    assert (r.status_code, r.text) == (200, "")
    rows = _files(http, f"{sess['scan']}/resources/DICOM/files")
    assert set(rows) == {"MR_small.dcm", "CT_small.dcm"}
    assert rows["MR_small.dcm"]["digest"] == hashlib.md5(mr).hexdigest()
    assert rows["CT_small.dcm"]["Size"] == str(len(ct))
    assert rows["CT_small.dcm"]["file_format"] == "DICOM"
    r = http.put(f"{sess['scan']}/resources/DICOM/files/renamed/one.dcm",
                 files={"file": ("MR_small.dcm", mr, "application/octet-stream")})
    assert r.status_code == 200
    assert "renamed/one.dcm" in _files(http, f"{sess['scan']}/resources/DICOM/files")


def test_multipart_with_inbody_is_406(http, sess):
    """xnat-rest.md §5.1: "multipart/form-data together with inbody=true -> 406 In-body File posts
    must include the file directly..."."""
    r = http.put(f"{sess['url']}/resources/R/files/a.txt", params={"inbody": "true"},
                 files={"file": ("a.txt", b"a", "text/plain")})
    assert r.status_code == 406
    assert "<h3>In-body File posts must include the file directly" in r.text


def test_unsupported_body_without_inbody_is_400(http, sess):
    """xnat-rest.md §5.1: "neither -> 400 You tried to PUT a payload of X to this service, but
    didn't provide any data. ... PUT with the query-string parameter inbody=true or use
    multipart/form-data encoding."; size 0 -> "(found request entity size of 0)"."""
    url = f"{sess['url']}/resources/R/files/a.bin"
    r = http.put(url, data=b"abc", headers={"Content-Type": "application/x-unknown-thing"})
    assert r.status_code == 400
    assert "You tried to PUT a payload of" in r.text
    assert "but didn't provide any data" in r.text
    assert "inbody=true or use multipart/form-data encoding." in r.text
    r = http.put(url)
    assert r.status_code == 400
    assert "found request entity size of 0" in r.text
    assert http.get(url).status_code == 404


def test_empty_inbody_body_is_500(http, sess):
    """xnat-rest.md §5.1: "Body size < 1 and not application/zip -> FileUploadException -> 500"."""
    r = http.put(f"{sess['url']}/resources/R/files/empty.bin", data=b"", headers=OCTET)
    assert r.status_code == 500


def test_upload_auto_creates_resource(http, sess):
    """xnat-rest.md §5.1: "a label that does not exist is created as a catalog resource (label =
    URL segment)"."""
    assert http.put(f"{sess['pu']}/subjects/S1/resources/AUTO/files/a.txt", data=b"a",
                    headers={"Content-Type": "text/plain"}).status_code == 200
    rows = http.get(f"{sess['pu']}/subjects/S1/resources", params={"format": "json"}).json()
    [res] = rows["ResultSet"]["Result"]
    assert (res["label"], res["element_name"]) == ("AUTO", "xnat:resourceCatalog")


# -- duplicates and overwrite ---------------------------------------------------------------------

def test_reupload_without_overwrite_reports_duplicates(http, sess):
    """xnat-rest.md §5.1: "Existing file without overwrite: 200 with body
    {"duplicates":["hello.txt"]} (served as text/html) and the file is left unchanged"."""
    url = f"{sess['url']}/resources/R/files/hello.txt"
    assert http.put(url, data=b"first\n", headers={"Content-Type": "text/plain"}).status_code == 200
    r = http.put(url, data=b"second\n", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    assert r.text == '{"duplicates":["hello.txt"]}'
    assert r.headers["Content-Type"].startswith("text/html")
    assert http.get(url).content == b"first\n"
    r = http.put(url, params={"overwrite": "false"}, data=b"third\n", headers=OCTET)
    assert r.text == '{"duplicates":["hello.txt"]}'


def test_overwrite_replaces(http, sess):
    """xnat-rest.md §5.1: "overwrite=true replaces"; listing Size/digest follow the new bytes."""
    url = f"{sess['url']}/resources/R/files/sub/hello.txt"
    assert http.put(url, data=b"first\n", headers=OCTET).status_code == 200
    new = _read(ANATOMICAL)
    r = http.put(url, params={"overwrite": "true"}, data=new, headers=OCTET)
    assert (r.status_code, r.text) == (200, "")
    assert http.get(url).content == new
    row = _files(http, f"{sess['url']}/resources/R/files")["sub/hello.txt"]
    assert row["Size"] == str(len(new)) and row["digest"] == hashlib.md5(new).hexdigest()


# -- extraction -----------------------------------------------------------------------------------

def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(entries: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar", "tgz", "tar.gz"])
def test_extract_archives_under_resource_root(http, sess, kind):
    """xnat-rest.md §5.1 Extraction: extract and name matching .zip/.tar/.tgz/.tar.gz -> entries
    written under the resource root keeping archive-internal paths; "the URL relpath / zip name
    is ignored" (pyxnat test_17 hello_dir.zip)."""
    entries = {"hello_dir/hello_xnat_dir.txt": b"Hello XNAT dir!\n",
               "hello_dir/hello_dir2/hello_xnat_dir2.txt": b"Hello XNAT dir2!\n",
               "hello_dir/mr.dcm": _read(MR_SMALL)}
    body = _zip(entries) if kind == "zip" else _tar(entries, "w" if kind == "tar" else "w:gz")
    url = f"{sess['scan']}/resources/EXT/files/upload/hello_dir.{kind}"
    r = http.put(url, params={"extract": "true"}, data=body, headers=OCTET)
    assert (r.status_code, r.text) == (200, "")
    rows = _files(http, f"{sess['scan']}/resources/EXT/files")
    assert set(rows) == set(entries)
    for name, data in entries.items():
        assert http.get(f"{sess['scan']}/resources/EXT/files/{name}").content == data


def test_without_extract_archive_is_stored_as_is(http, sess):
    """xnat-rest.md §5.1: "without extract the zip itself is stored as hello_dir.zip"."""
    body = _zip({"a.txt": b"a"})
    assert http.put(f"{sess['url']}/resources/Z/files/hello_dir.zip", data=body,
                    headers={"Content-Type": "application/zip"}).status_code == 200
    assert set(_files(http, f"{sess['url']}/resources/Z/files")) == {"hello_dir.zip"}


def test_extract_lone_gz_gunzips_real_nifti(http, sess):
    """xnat-rest.md §5.1: "single .gz - so x.nii.gz with extract=true gets gunzipped"."""
    data = _read(EXAMPLE4D)
    r = http.put(f"{sess['scan']}/resources/NIFTI/files/example4d.nii.gz",
                 params={"extract": "true"}, data=data, headers=OCTET)
    assert r.status_code == 200
    rows = _files(http, f"{sess['scan']}/resources/NIFTI/files")
    assert set(rows) == {"example4d.nii"}
    raw = gzip.decompress(data)
    assert rows["example4d.nii"]["Size"] == str(len(raw))
    assert http.get(f"{sess['scan']}/resources/NIFTI/files/example4d.nii").content == raw


def test_extract_duplicates_listed(http, sess):
    """xnat-rest.md §5.1 Extraction: "duplicates listed unless overwrite"."""
    url = f"{sess['url']}/resources/D/files/x.zip"
    body = _zip({"a.txt": b"a", "b/c.txt": b"c"})
    assert http.put(url, params={"extract": "true"}, data=body, headers=OCTET).text == ""
    r = http.put(url, params={"extract": "true"}, data=body, headers=OCTET)
    assert r.status_code == 200
    assert sorted(r.json()["duplicates"]) == ["a.txt", "b/c.txt"]


@pytest.mark.parametrize("bad", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt"])
def test_zip_slip_entry_refused_and_nothing_stored(http, sess, emulator, bad):
    """Issue item 5 "Archive entry names checked (zip slip)" (xnat-rest.md §5.1 extraction writes
    entries under the resource root): an entry escaping the resource is refused (400), and the
    archive stores nothing."""
    body = _zip({"good.txt": b"good", bad: b"evil"})
    url = f"{sess['url']}/resources/SLIP/files/x.zip"
    r = http.put(url, params={"extract": "true"}, data=body, headers=OCTET)
    assert r.status_code == 400
    r = http.get(f"{sess['url']}/resources/SLIP/files", params={"format": "json"})
    assert r.status_code in (200, 404)
    if r.status_code == 200:
        assert r.json()["ResultSet"]["Result"] == []
    assert not any(p.name == "evil.txt" for p in emulator.data_dir.rglob("evil.txt"))


# -- params applied to the resource -------------------------------------------------------------

def test_format_content_tags_applied_to_resource_and_entries(http, sess):
    """xnat-rest.md §5.1 Params: "format, content, description, tags (repeatable; each may be a,b)
    are applied to the new catalog entries and also to the resource ... tags are appended"."""
    base = f"{sess['url']}/resources/NII"
    r = http.put(f"{base}/files/a.nii", params=[("format", "NIFTI"), ("content", "T1_RAW"),
                                                ("tags", "raw"), ("tags", "t1,brain")],
                 data=_read(ANATOMICAL), headers=OCTET)
    assert r.status_code == 200
    [res] = http.get(f"{sess['url']}/resources", params={"format": "json"}).json()[
        "ResultSet"]["Result"]
    assert (res["format"], res["content"]) == ("NIFTI", "T1_RAW")
    assert res["tags"].split(",") == ["raw", "t1", "brain"]
    row = _files(http, f"{base}/files")["a.nii"]
    assert (row["file_format"], row["file_content"]) == ("NIFTI", "T1_RAW")
    assert set(row["file_tags"].split(",")) == {"raw", "t1", "brain"}
    http.put(f"{base}/files/b.nii", params={"tags": "extra"}, data=b"b", headers=OCTET)
    [res] = http.get(f"{sess['url']}/resources", params={"format": "json"}).json()[
        "ResultSet"]["Result"]
    assert res["tags"].split(",") == ["raw", "t1", "brain", "extra"]
    assert res["file_count"] == "2"
    # appended again, repeats and all (configureEntry adds a tag row per tag given)
    http.put(f"{base}/files/c.nii", params={"tags": "raw"}, data=b"c", headers=OCTET)
    [res] = http.get(f"{sess['url']}/resources", params={"format": "json"}).json()[
        "ResultSet"]["Result"]
    assert res["tags"].split(",") == ["raw", "t1", "brain", "extra", "raw"]


# -- listings: URI, Size, digest ------------------------------------------------------------------

def test_file_listing_uri_prefix_follows_request(http, sess):
    """xnat-rest.md §5.4 baseURI: "/data + (/projects/{P}/subjects/{subjectID} if the request URL
    had both project and subject) + scan: /experiments/{sessionID}/scans/{scanID}"; subject
    resource file -> /data/projects/P/subjects/XNAT_S00001/resources/45/files/hello.txt."""
    assert http.put(f"{sess['pu']}/subjects/S1/resources/R/files/hello.txt", data=b"h",
                    headers=OCTET).status_code == 200
    rows = http.get(f"{sess['pu']}/subjects/S1/resources/R/files",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    rid = rows[0]["cat_ID"]
    assert rows[0]["URI"] == (f"/data/projects/{sess['p']}/subjects/{sess['subject']}/resources/"
                              f"{rid}/files/hello.txt")
    assert rows[0]["collection"] == "R" and rows[0]["Name"] == "hello.txt"
    assert http.put(f"{sess['scan']}/resources/NIFTI/files/a.nii", data=b"n",
                    headers=OCTET).status_code == 200
    rows = http.get(f"/data/experiments/{sess['exp']}/scans/1/resources/NIFTI/files",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    assert rows[0]["URI"] == (f"/data/experiments/{sess['exp']}/scans/1/resources/"
                              f"{rows[0]['cat_ID']}/files/a.nii")


def test_digest_can_be_switched_off(make_emulator):
    """xnat-rest.md §5.4: "digest = MD5 hex when site checksums is on (else empty)"."""
    emu = make_emulator(checksums=False)
    with emu.http() as http:
        assert http.put("/data/projects/NOSUM").status_code == 200
        data = _read(MR_SMALL)
        assert http.put("/data/projects/NOSUM/resources/R/files/mr.dcm", data=data,
                        headers=OCTET).status_code == 200
        row = _files(http, "/data/projects/NOSUM/resources/R/files")["mr.dcm"]
        assert row["digest"] == "" and row["Size"] == str(len(data))


# -- zip downloads ----------------------------------------------------------------------------------

def test_zip_layout_at_every_level(http, sess):
    """xnat-rest.md §5.5 Entry path: scan `{sessionLabel}/scans/{scanId}-{type}/resources/{res}/
    files/{relpath}`, experiment `{sessionLabel}/resources/...`, subject `{subjectLabel}/resources/
    ...`, project `{projectId}/resources/...`; Content-Disposition filename="{name}.zip"; file
    entries only."""
    uploads = {
        f"{sess['scan']}/resources/DICOM/files/dcm/mr.dcm": _read(MR_SMALL),
        f"{sess['url']}/resources/NOTES/files/n.txt": b"note",
        f"{sess['pu']}/subjects/S1/resources/SR/files/deep/s.txt": b"subject",
        f"{sess['pu']}/resources/PR/files/p.txt": b"project",
    }
    for url, data in uploads.items():
        assert http.put(url, data=data, headers=OCTET).status_code == 200
    cases = [
        (f"{sess['scan']}/resources/DICOM/files", "MR1",
         {"MR1/scans/1-T1_MPRAGE/resources/DICOM/files/dcm/mr.dcm"}),
        (f"{sess['url']}/scans/ALL/files", "MR1",
         {"MR1/scans/1-T1_MPRAGE/resources/DICOM/files/dcm/mr.dcm"}),
        (f"{sess['url']}/resources/NOTES/files", "MR1", {"MR1/resources/NOTES/files/n.txt"}),
        (f"{sess['pu']}/subjects/S1/resources/SR/files", "S1",
         {"S1/resources/SR/files/deep/s.txt"}),
        (f"{sess['pu']}/resources/PR/files", sess["p"],
         {f"{sess['p']}/resources/PR/files/p.txt"}),
    ]
    for url, root, names in cases:
        r = http.get(url, params={"format": "zip"})
        assert r.status_code == 200, url
        assert r.headers["Content-Type"] == "application/zip"
        assert r.headers["Content-Disposition"] == f'attachment; filename="{root}.zip"'
        zf = zipfile.ZipFile(io.BytesIO(r.content))
        assert set(zf.namelist()) == names, url
        assert not any(n.endswith("/") for n in zf.namelist())
    zf = zipfile.ZipFile(io.BytesIO(http.get(cases[0][0], params={"format": "zip"}).content))
    assert zf.read("MR1/scans/1-T1_MPRAGE/resources/DICOM/files/dcm/mr.dcm") == _read(MR_SMALL)


def test_empty_zip_is_404(http, sess):
    """xnat-rest.md §5.5: "Empty -> 404"."""
    assert http.put(f"{sess['url']}/resources/EMPTY").status_code == 200
    assert http.get(f"{sess['url']}/resources/EMPTY/files",
                    params={"format": "zip"}).status_code == 404


# -- single file GET / HEAD / DELETE ------------------------------------------------------------

def test_single_file_get_headers(http, sess):
    """xnat-rest.md §5.3: Content-Type by extension (txt -> text/plain, else
    application/octet-stream), Last-Modified, Cache-Control: must-revalidate,
    Content-Disposition: attachment; filename="name" for application/* types."""
    nii = _read(NIFTI2)
    assert http.put(f"{sess['scan']}/resources/N/files/d/example_nifti2.nii.gz", data=nii,
                    headers=OCTET).status_code == 200
    assert http.put(f"{sess['scan']}/resources/N/files/readme.txt", data=b"read me\n",
                    headers=OCTET).status_code == 200
    r = http.get(f"{sess['scan']}/resources/N/files/d/example_nifti2.nii.gz")
    assert r.status_code == 200 and r.content == nii
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == 'attachment; filename="example_nifti2.nii.gz"'
    assert r.headers["Cache-Control"] == "must-revalidate"
    assert parsedate_to_datetime(r.headers["Last-Modified"]).year >= 2024
    r = http.get(f"{sess['scan']}/resources/N/files/readme.txt")
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "Content-Disposition" not in r.headers


def test_head_like_get_without_body(http, sess):
    """xnat-rest.md §5.3 HEAD: "answers HEAD like GET without body (headers incl. Last-Modified,
    Content-Length)"; pyxnat last_modified() reads it."""
    data = _read(CT_SMALL)
    url = f"{sess['scan']}/resources/DICOM/files/ct.dcm"
    assert http.put(url, data=data, headers=OCTET).status_code == 200
    g = http.get(url)
    h = http.head(url)
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Length"] == str(len(data))
    assert h.headers["Last-Modified"] == g.headers["Last-Modified"]
    assert h.headers["Content-Type"] == g.headers["Content-Type"]


def test_missing_file_404_message(http, sess):
    """xnat-rest.md §5.3: "Not found -> 404 Unable to find catalog entry for given uri."."""
    assert http.put(f"{sess['url']}/resources/R/files/a.txt", data=b"a",
                    headers=OCTET).status_code == 200
    r = http.get(f"{sess['url']}/resources/R/files/nope.txt")
    assert r.status_code == 404 and "Unable to find catalog entry for given uri." in r.text


def test_delete_file_and_folder(http, sess):
    """xnat-rest.md §5.2: DELETE .../files/{relpath} -> entry removed, 200; `relpath/` deletes a
    folder (RT:TestFileUpload deletes files/sub/folder -> 200)."""
    base = f"{sess['url']}/resources/R/files"
    for name in ("keep.txt", "sub/folder/a.txt", "sub/folder/b.txt", "gone.txt"):
        assert http.put(f"{base}/{name}", data=name.encode(), headers=OCTET).status_code == 200
    r = http.delete(f"{base}/gone.txt")
    assert (r.status_code, r.text) == (200, "")
    assert http.get(f"{base}/gone.txt").status_code == 404
    assert http.delete(f"{base}/sub/folder").status_code == 200
    assert set(_files(http, base)) == {"keep.txt"}


def test_file_listing_uri_at_every_level(http, sess):
    """xnat-rest.md §5.4 baseURI: "/data + (/projects/{P}/subjects/{subjectID} if the request URL
    had both project and subject) + scan: /experiments/{sessionID}/scans/{scanID}; assessor:
    /experiments/{sid}/assessors/{aid}[/{type}]; experiment: /experiments/{eid}; project-only:
    /projects/{P}. IDs, not labels" (the /archive prefix does not appear)."""
    p, s, e = sess["p"], sess["subject"], sess["exp"]
    aid = http.put(f"{sess['url']}/assessors/QC", params={"xsiType": "xnat:qcAssessmentData"}).text
    cases = [
        (f"/data/archive/projects/{p}/resources/R", f"/data/projects/{p}"),
        (f"/data/archive/projects/{p}/subjects/S1/resources/R", f"/data/projects/{p}/subjects/{s}"),
        (f"/data/projects/{p}/experiments/MR1/resources/R", f"/data/experiments/{e}"),
        (f"/data/archive/projects/{p}/subjects/S1/experiments/MR1/resources/R",
         f"/data/projects/{p}/subjects/{s}/experiments/{e}"),
        (f"/data/projects/{p}/subjects/S1/experiments/MR1/scans/1/resources/R",
         f"/data/projects/{p}/subjects/{s}/experiments/{e}/scans/1"),
        (f"/data/experiments/{e}/assessors/QC/resources/R", f"/data/experiments/{e}/assessors/{aid}"),
        (f"/data/experiments/{e}/assessors/{aid}/out/resources/OUT",
         f"/data/experiments/{e}/assessors/{aid}/out"),
    ]
    for url, base in cases:
        r = http.put(f"{url}/files/x.txt", data=b"x", headers=OCTET)
        assert r.status_code == 200, (url, r.text[:200])
        [row] = http.get(f"{url}/files", params={"format": "json"}).json()["ResultSet"]["Result"]
        assert row["URI"] == f"{base}/resources/{row['cat_ID']}/files/x.txt", url
        assert http.get(row["URI"]).content == b"x"


@pytest.mark.parametrize("value,extracted", [("", True), ("yes", True), ("true", True),
                                             ("false", False), ("0", False)])
def test_boolean_query_params(http, sess, value, extracted):
    """xnat-rest.md §1 Boolean query params: "true iff present and value not (case-insensitive)
    false/0 (so extract= or extract=yes are true)"."""
    url = f"{sess['url']}/resources/B/files/bundle.zip"
    r = http.put(f"{url}?extract={value}", data=_zip({"inner.txt": b"i"}), headers=OCTET)
    assert r.status_code == 200
    names = set(_files(http, f"{sess['url']}/resources/B/files"))
    assert names == ({"inner.txt"} if extracted else {"bundle.zip"})


@pytest.mark.parametrize("fmt,mode,ext", [("tar.gz", "r:gz", "tar.gz"), ("tar", "r:", "tar")])
def test_tar_downloads_same_layout(http, sess, fmt, mode, ext):
    """xnat-rest.md §5.5: "Any .../files?format=zip (also tar.gz, tar ...) returns one archive";
    same entry path rule."""
    data = _read(MR_SMALL)
    assert http.put(f"{sess['scan']}/resources/DICOM/files/mr.dcm", data=data,
                    headers=OCTET).status_code == 200
    r = http.get(f"{sess['url']}/scans/ALL/files", params={"format": fmt})
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == f'attachment; filename="MR1.{ext}"'
    with tarfile.open(fileobj=io.BytesIO(r.content), mode=mode) as tf:
        names = tf.getnames()
        assert names == ["MR1/scans/1-T1_MPRAGE/resources/DICOM/files/mr.dcm"]
        assert tf.extractfile(names[0]).read() == data
