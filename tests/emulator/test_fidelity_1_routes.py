"""Fidelity 1: routes under /data/... and /data/archive/... (xnat-rest.md §1 "Routes", §5.5).

Every data route is attached twice (``/X`` and ``/archive/X``); objects, resources at every
level, nested file paths, the ``{level}/files`` shortcut, ``scans/ALL/files`` and
``scans/1,2/files`` are all reachable.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom.data
import pytest

MR_SMALL = pydicom.data.get_testdata_file("MR_small.dcm")
CT_SMALL = pydicom.data.get_testdata_file("CT_small.dcm")
PREFIXES = ("/data", "/data/archive")


def _rows(r):
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    return r.json()["ResultSet"]["Result"]


def _upload(http, url: str, data: bytes):
    r = http.put(url, data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])


@pytest.fixture
def tree(http, project):
    """Subject S1, MR session E1 with scans 1 (T1), 2 (T2), 3 (CT), assessor A1, and a
    resource with one nested file at every level."""
    p = f"/data/projects/{project}"
    subj = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text
    exp = http.put(f"{p}/subjects/S1/experiments/E1",
                   params={"xsiType": "xnat:mrSessionData"}).text
    e = f"{p}/subjects/S1/experiments/E1"
    for sid, typ, xsi in (("1", "T1", "xnat:mrScanData"), ("2", "T2", "xnat:mrScanData"),
                          ("3", "CT head", "xnat:ctScanData")):
        assert http.put(f"{e}/scans/{sid}", params={"xsiType": xsi, "type": typ}).status_code == 200
    ass = http.put(f"{e}/assessors/A1", params={"xsiType": "xnat:qcAssessmentData"}).text
    mr = Path(MR_SMALL).read_bytes()
    _upload(http, f"{p}/resources/PRJ/files/docs/readme.txt", b"project level\n")
    _upload(http, f"{p}/subjects/S1/resources/SUBJ/files/a/b/subj.txt", b"subject level\n")
    _upload(http, f"{e}/resources/EXP/files/exp.txt", b"experiment level\n")
    for sid in ("1", "2", "3"):
        _upload(http, f"{e}/scans/{sid}/resources/DICOM/files/dir/{sid}.dcm", mr)
    _upload(http, f"{e}/assessors/A1/resources/QC/files/qc/report.txt", b"qc\n")
    return {"p": project, "subject": subj, "exp": exp, "assessor": ass, "mr": mr}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_object_routes_under_both_prefixes(http, tree, prefix):
    """xnat-rest.md §1 Routes: "every data route is attached twice, as /X and /archive/X";
    projects, subjects, experiments (project, subject, /experiments), scans, assessors -> 200."""
    p, s, e, a = tree["p"], tree["subject"], tree["exp"], tree["assessor"]
    urls = [
        f"{prefix}/projects/{p}",
        f"{prefix}/projects/{p}/subjects/S1",
        f"{prefix}/projects/{p}/subjects/{s}",
        f"{prefix}/subjects/{s}",
        f"{prefix}/projects/{p}/experiments/E1",
        f"{prefix}/projects/{p}/subjects/S1/experiments/E1",
        f"{prefix}/experiments/{e}",
        f"{prefix}/experiments/{e}/scans/1",
        f"{prefix}/projects/{p}/subjects/S1/experiments/E1/scans/2",
        f"{prefix}/experiments/{e}/assessors/{a}",
        f"{prefix}/projects/{p}/experiments/E1/assessors/A1",
    ]
    for url in urls:
        r = http.get(url, params={"format": "xml"})
        assert r.status_code == 200, (url, r.status_code, r.text[:200])
        assert r.headers["Content-Type"].startswith("text/xml"), url
    listings = [
        f"{prefix}/projects", f"{prefix}/projects/{p}/subjects", f"{prefix}/subjects",
        f"{prefix}/projects/{p}/experiments", f"{prefix}/projects/{p}/subjects/S1/experiments",
        f"{prefix}/experiments", f"{prefix}/experiments/{e}/scans",
        f"{prefix}/experiments/{e}/assessors",
    ]
    for url in listings:
        assert _rows(http.get(url, params={"format": "json"})), url


def test_both_prefixes_answer_identically(http, tree):
    """xnat-rest.md §11.1: "Serve /data/X and /data/archive/X identically" (same XML body)."""
    p = tree["p"]
    for tail in (f"projects/{p}/subjects/S1", f"projects/{p}/experiments/E1",
                 f"experiments/{tree['exp']}/scans/1"):
        a = http.get(f"/data/{tail}", params={"format": "xml"})
        b = http.get(f"/data/archive/{tail}", params={"format": "xml"})
        assert a.status_code == b.status_code == 200
        assert a.content == b.content


@pytest.mark.parametrize("prefix", PREFIXES)
def test_resources_and_nested_files_at_every_level(http, tree, prefix):
    """xnat-rest.md §1 Routes: "{any of project|subject|experiment|scan|assessor}/resources[/{RES}
    [/files[/{path...}]]]" and §5.1 "nested a/b/c.txt allowed": listing, file GET -> 200 + bytes."""
    p, e, a = tree["p"], tree["exp"], tree["assessor"]
    cases = [
        (f"{prefix}/projects/{p}", "PRJ", "docs/readme.txt", b"project level\n"),
        (f"{prefix}/projects/{p}/subjects/S1", "SUBJ", "a/b/subj.txt", b"subject level\n"),
        (f"{prefix}/subjects/{tree['subject']}", "SUBJ", "a/b/subj.txt", b"subject level\n"),
        (f"{prefix}/experiments/{e}", "EXP", "exp.txt", b"experiment level\n"),
        (f"{prefix}/projects/{p}/subjects/S1/experiments/E1", "EXP", "exp.txt",
         b"experiment level\n"),
        (f"{prefix}/experiments/{e}/scans/1", "DICOM", "dir/1.dcm", tree["mr"]),
        (f"{prefix}/experiments/{e}/assessors/{a}", "QC", "qc/report.txt", b"qc\n"),
    ]
    for base, label, relpath, data in cases:
        res = _rows(http.get(f"{base}/resources", params={"format": "json"}))
        assert [r["label"] for r in res] == [label], base
        files = _rows(http.get(f"{base}/resources/{label}/files", params={"format": "json"}))
        assert [f["Name"] for f in files] == [relpath.rsplit("/", 1)[-1]], base
        assert files[0]["URI"].endswith(f"/files/{relpath}"), files[0]["URI"]
        r = http.get(f"{base}/resources/{label}/files/{relpath}")
        assert r.status_code == 200 and r.content == data, (base, r.status_code)
        # numeric resource id in the URL (xnat-rest.md §5.1 "Numeric ids are looked up")
        rid = res[0]["xnat_abstractresource_id"]
        r = http.get(f"{base}/resources/{rid}/files/{relpath}")
        assert r.status_code == 200 and r.content == data, (base, rid, r.status_code)


def test_level_files_shortcut_lists_that_levels_resources_only(http, tree):
    """xnat-rest.md §1 "shortcut {level}/files (all resources of that level)", §5.5
    "experiment-level files = experiment resources only"."""
    p, e = tree["p"], tree["exp"]
    exp_files = _rows(http.get(f"/data/experiments/{e}/files", params={"format": "json"}))
    assert [f["Name"] for f in exp_files] == ["exp.txt"]
    prj_files = _rows(http.get(f"/data/projects/{p}/files", params={"format": "json"}))
    assert [f["Name"] for f in prj_files] == ["readme.txt"]
    subj_files = _rows(http.get(f"/data/archive/projects/{p}/subjects/S1/files",
                                params={"format": "json"}))
    assert [f["Name"] for f in subj_files] == ["subj.txt"]
    scan_files = _rows(http.get(f"/data/experiments/{e}/scans/2/files", params={"format": "json"}))
    assert [f["Name"] for f in scan_files] == ["2.dcm"]


def test_scans_all_and_id_list_files(http, tree):
    """xnat-rest.md §5.5: "use scans/ALL/files for all scans, scans/1,2/files, or scan types in
    place of ids" (listing and zip)."""
    e = tree["exp"]
    names = lambda spec: sorted(f["Name"] for f in _rows(
        http.get(f"/data/experiments/{e}/scans/{spec}/files", params={"format": "json"})))
    assert names("ALL") == ["1.dcm", "2.dcm", "3.dcm"]
    assert names("1,2") == ["1.dcm", "2.dcm"]
    assert names("T2") == ["2.dcm"]
    r = http.get(f"/data/archive/projects/{tree['p']}/subjects/S1/experiments/E1/scans/1,3/files",
                 params={"format": "zip"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == [
        "E1/scans/1-T1/resources/DICOM/files/dir/1.dcm",
        "E1/scans/3-CT_head/resources/DICOM/files/dir/3.dcm",
    ]


def test_unknown_route_is_404(http, tree):
    """xnat-rest.md §6 Not found: missing subject -> 404 "Unable to find the specified subject."
    (Restlet status page, §1 Error bodies); missing scan -> 404."""
    p = tree["p"]
    r = http.get(f"/data/archive/projects/{p}/subjects/NOPE", params={"format": "xml"})
    assert r.status_code == 404
    assert r.text.startswith("<html>")
    assert "<h3>Unable to find the specified subject." in r.text
    r = http.get(f"/data/experiments/{tree['exp']}/scans/99", params={"format": "xml"})
    assert r.status_code == 404
    assert "Unable to find the specified scan." in r.text
