"""Fidelity 3: create and update by query string and by XML document; XNAT's status codes.

xnat-rest.md §4 (loadItem rules and the create/modify/delete table), §12.4 (literal bodies).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

XNAT_NS = "http://nrg.wustl.edu/xnat"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _field(http, url: str, column: str, **filters) -> str:
    r = http.get(url, params={"format": "json", "columns": f"ID,label,{column}", **filters})
    assert r.status_code == 200, r.text[:300]
    rows = r.json()["ResultSet"]["Result"]
    assert len(rows) == 1, rows
    return rows[0][column]


def _is_restlet_page(r, message: str) -> bool:
    return r.text.startswith("<html>") and f"<h3>{message}" in r.text


@pytest.fixture
def session(http, project):
    p = f"/data/projects/{project}"
    subj = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"})
    assert subj.status_code == 201
    exp = http.put(f"{p}/subjects/S1/experiments/E1", params={"xsiType": "xnat:mrSessionData"})
    assert exp.status_code == 201
    return {"p": project, "url": f"{p}/subjects/S1/experiments/E1", "subject": subj.text,
            "exp": exp.text}


# -- status codes by query string ---------------------------------------------------------------

def test_put_subject_201_new_200_existing_with_accession_id(http, project):
    """xnat-rest.md §4 table: PUT subject "new -> 201, existing -> 200; body = subject accession
    ID (text/plain, e.g. XNAT_S00001)"."""
    url = f"/data/projects/{project}/subjects/SUBJ1"
    r = http.put(url, params={"xsiType": "xnat:subjectData", "req_format": "qs"})
    assert r.status_code == 201
    assert r.headers["Content-Type"].startswith("text/plain")
    sid = r.text
    assert sid.startswith("XNAT_S") and len(sid) == len("XNAT_S00001")
    r = http.put(url, params={"xsiType": "xnat:subjectData", "gender": "female"})
    assert (r.status_code, r.text) == (200, sid)


def test_put_experiment_and_assessor_201_new_200_existing(http, session):
    """xnat-rest.md §4 table: experiments "new 201 / existing 200, body = experiment ID";
    assessors "new 201 / 200 + ID" (RT:TestFileUpload expects 201 for a new assessor)."""
    r = http.put(session["url"], params={"xsiType": "xnat:mrSessionData", "date": "2021-02-03"})
    assert (r.status_code, r.text) == (200, session["exp"])
    url = f"{session['url']}/assessors/QC1"
    r = http.put(url, params={"xsiType": "xnat:qcAssessmentData", "req_format": "qs"})
    assert r.status_code == 201 and r.text.startswith("XNAT_E")
    aid = r.text
    r = http.put(url, params={"xsiType": "xnat:qcAssessmentData"})
    assert (r.status_code, r.text) == (200, aid)
    r = http.put(url)  # existing assessor, no type: updates
    assert (r.status_code, r.text) == (200, aid)


def test_put_scan_200_empty_new_and_existing(http, session):
    """xnat-rest.md §4 table: PUT scan "200, empty body (new or update)"."""
    url = f"{session['url']}/scans/1"
    r = http.put(url, params={"xsiType": "xnat:mrScanData", "type": "T1"})
    assert (r.status_code, r.text) == (200, "")
    r = http.put(url, params={"type": "T1w"})
    assert (r.status_code, r.text) == (200, "")
    assert _field(http, f"{session['url']}/scans", "type") == "T1w"


def test_put_project_200_empty_new_and_existing(http):
    """xnat-rest.md §4 table: `PUT /data/projects/{P}` -> 200, empty body."""
    pid = "PUTP_" + os.urandom(3).hex()
    r = http.put(f"/data/projects/{pid}", params={"name": f"Name {pid}"})
    assert (r.status_code, r.text) == (200, "")
    r = http.put(f"/data/projects/{pid}", params={"description": "changed"})
    assert (r.status_code, r.text) == (200, "")
    assert _field(http, "/data/projects", "description", ID=pid) == "changed"
    assert _field(http, "/data/projects", "name", ID=pid) == f"Name {pid}"


def test_post_projects_returns_url_then_409(http, emulator):
    """xnat-rest.md §4 table: `POST /data/projects` (ID= params) -> 200 + body = full URL of the
    new project; again -> 409 "Project already exists."."""
    pid = "POSTP_" + os.urandom(3).hex()
    r = http.post("/data/projects", params={"ID": pid})
    assert r.status_code == 200
    assert r.text == f"{emulator.url}/data/projects/{pid}"
    r = http.post("/data/projects", params={"ID": pid})
    assert r.status_code == 409 and _is_restlet_page(r, "Project already exists.")


def test_project_invalid_id_is_417(http):
    """xnat-rest.md §4 table: project "417 ID mismatch/invalid chars (^[A-Za-z0-9_-]+$)"."""
    assert http.put("/data/projects/bad.id").status_code == 417


def test_put_resource_200_then_409(http, session):
    """xnat-rest.md §4 table: PUT resource -> "200, empty"; existing label -> "409 Specified
    resource already exists."."""
    for base in (f"/data/projects/{session['p']}", session["url"], f"{session['url']}/scans/1"):
        if base.endswith("/scans/1"):
            http.put(base, params={"xsiType": "xnat:mrScanData"})
        r = http.put(f"{base}/resources/NIFTI", params={"format": "NIFTI"})
        assert (r.status_code, r.text) == (200, ""), base
        r = http.put(f"{base}/resources/NIFTI")
        assert r.status_code == 409, base
        assert _is_restlet_page(r, "Specified resource already exists.")


def test_new_scan_without_xsi_type_is_417(http, session):
    """xnat-rest.md §4 table: "no xsiType on new scan -> 417 Need PUT Contents"."""
    r = http.put(f"{session['url']}/scans/7", params={"type": "T2"})
    assert r.status_code == 417 and _is_restlet_page(r, "Need PUT Contents")
    assert http.get(f"{session['url']}/scans/7", params={"format": "xml"}).status_code == 404


def test_new_experiment_without_xsi_type_is_417(http, session):
    """xnat-rest.md §4 table: experiments "no xsiType & not existing -> 417"."""
    r = http.put(f"/data/projects/{session['p']}/subjects/S1/experiments/NOTYPE")
    assert r.status_code == 417


def test_scan_generic_type_400_and_type_change_409(http, session):
    """xnat-rest.md §4 table: "xsiType=xnat:imageScanData -> 400 Multiple scan modalities...";
    "different xsiType on existing -> 409 Specified xsiType differs from existing xsiType"."""
    url = f"{session['url']}/scans/1"
    r = http.put(url, params={"xsiType": "xnat:imageScanData"})
    assert r.status_code == 400 and "Multiple scan modalities" in r.text
    assert http.put(url, params={"xsiType": "xnat:mrScanData"}).status_code == 200
    r = http.put(url, params={"xsiType": "xnat:ctScanData"})
    assert r.status_code == 409
    assert _is_restlet_page(r, "Specified xsiType differs from existing xsiType")


def test_subject_in_missing_project_is_422(http):
    """xnat-rest.md §4 table: subject "project missing -> 422 Submitted subject record must
    include the project attribute."."""
    r = http.put("/data/projects/NO_SUCH_PRJ_Q/subjects/S1", params={"xsiType": "xnat:subjectData"})
    assert r.status_code == 422
    assert _is_restlet_page(r, "Submitted subject record must include the project attribute.")


def test_unknown_xsi_type_is_400(http, session):
    """xnat-rest.md §4: "Unknown xsiType -> ElementNotFoundException -> 400"."""
    p = session["p"]
    assert http.put(f"/data/projects/{p}/subjects/S9",
                    params={"xsiType": "xnat:noSuchData"}).status_code == 400
    assert http.put(f"/data/projects/{p}/subjects/S1/experiments/E9",
                    params={"xsiType": "foo:barSessionData"}).status_code == 400
    assert http.put(f"{session['url']}/scans/9",
                    params={"xsiType": "xnat:noSuchScanData"}).status_code == 400
    assert http.get(f"/data/projects/{p}/subjects/S9", params={"format": "xml"}).status_code == 404


def test_invalid_subject_label_is_417(http, project):
    """xnat-rest.md §4 table: subject "417 Invalid character in subject label."."""
    r = http.put(f"/data/projects/{project}/subjects/bad.label",
                 params={"xsiType": "xnat:subjectData"})
    assert r.status_code == 417 and "Invalid character in subject label." in r.text


def test_experiment_under_unknown_subject_creates_it(http, project):
    """xnat-rest.md §4 table: "unknown subject label in URL is auto-created (createNewSubject)"."""
    r = http.put(f"/data/projects/{project}/subjects/NEWSUBJ/experiments/E1",
                 params={"xsiType": "xnat:petSessionData"})
    assert r.status_code == 201
    rows = http.get(f"/data/projects/{project}/subjects", params={"format": "json"}).json()
    assert [s["label"] for s in rows["ResultSet"]["Result"]] == ["NEWSUBJ"]


# -- fields by shortcut and xpath -------------------------------------------------------------------

def test_fields_by_shortcut_and_xpath(http, project):
    """xnat-rest.md §4 loadItem (4): "keys with / or shortcut keys (via fieldMapping) set fields";
    §4 Numbers: subject `age` shortcut `26` reads `'26'`, mrSessionData/age `42` reads `'42.0'`."""
    p = f"/data/projects/{project}"
    assert http.put(f"{p}/subjects/S1", params={
        "xsiType": "xnat:subjectData", "gender": "female", "age": "26",
        "xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/handedness": "left",
    }).status_code == 201
    assert _field(http, f"{p}/subjects", "gender") == "female"
    assert _field(http, f"{p}/subjects", "handedness") == "left"
    assert _field(http, f"{p}/subjects", "age") == "26"
    assert http.put(f"{p}/subjects/S1/experiments/E1", params={
        "xsiType": "xnat:mrSessionData", "xnat:mrSessionData/age": "42", "scanner": "Prisma",
        "xnat:experimentData/date": "2022-05-06"}).status_code == 201
    url = f"{p}/experiments"
    r = http.get(url, params={"format": "json", "xsiType": "xnat:mrSessionData",
                              "columns": "ID,xnat:mrSessionData/age,scanner,date"})
    row = r.json()["ResultSet"]["Result"][0]
    assert row["xnat:mrsessiondata/age"] == "42.0"
    assert row["scanner"] == "Prisma" and row["date"] == "2022-05-06"


def test_req_format_qs_ignores_body(http, project):
    """xnat-rest.md §4: "req_format=qs (sent by xnatpy) just means don't parse the body"."""
    r = http.put(f"/data/projects/{project}/subjects/S1",
                 params={"xsiType": "xnat:subjectData", "req_format": "qs"},
                 data=b"this is not xml", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201


# -- XML documents --------------------------------------------------------------------------------

def _subject_doc(label: str, gender: str = "male") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<xnat:Subject ID="" project="" '
            f'label="{label}" group="control" xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">'
            '<xnat:demographics xsi:type="xnat:demographicData"><xnat:dob>1990-01-01</xnat:dob>'
            f"<xnat:gender>{gender}</xnat:gender></xnat:demographics></xnat:Subject>").encode()


def test_xml_document_text_xml(http, project):
    """xnat-rest.md §4 XML documents: "PUT the object URL with Content-Type: text/xml ...
    creates/updates from the document; status codes as above"."""
    url = f"/data/projects/{project}/subjects/SX"
    r = http.put(url, data=_subject_doc("SX"), headers={"Content-Type": "text/xml"})
    assert r.status_code == 201 and r.text.startswith("XNAT_S")
    assert _field(http, f"/data/projects/{project}/subjects", "group") == "control"
    assert _field(http, f"/data/projects/{project}/subjects", "dob") == "1990-01-01"
    r2 = http.put(url, data=_subject_doc("SX", "female"), headers={"Content-Type": "text/xml"})
    assert (r2.status_code, r2.text) == (200, r.text)
    assert _field(http, f"/data/projects/{project}/subjects", "gender") == "female"


def test_xml_document_inbody_and_query_overrides(http, project):
    """xnat-rest.md §4 loadItem: (2) "inbody=true -> whole body parsed as XML"; (4) "always then
    the query string ... overriding the body"."""
    r = http.put(f"/data/projects/{project}/subjects/SI", params={"inbody": "true",
                                                                  "gender": "female"},
                 data=_subject_doc("SI"), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert _field(http, f"/data/projects/{project}/subjects", "gender") == "female"


def test_xml_document_multipart_like_pyxnat(http, project):
    """xnat-rest.md §4: pyxnat create(xml=path) sends multipart with part `data.xml`
    (Content-Type text/xml) and `?allowDataDeletion=...` -> created."""
    boundary = "----------ThIs_Is_tHe_bouNdaRY_$"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data.xml\"; "
            f"filename=\"data.xml\"\r\nContent-Type: text/xml\r\n\r\n").encode() + \
        _subject_doc("SM") + f"\r\n--{boundary}--\r\n".encode()
    r = http.put(f"/data/projects/{project}/subjects/SM", params={"allowDataDeletion": "false"},
                 data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201
    assert _field(http, f"/data/projects/{project}/subjects", "gender") == "male"


def test_xml_session_with_nested_scans(http, session):
    """xnat-rest.md §4 example document (RT sample_session.xml): `xnat:MRSession` with
    `xnat:scans/xnat:scan` (mrScanData, otherDicomScanData `3-OT`) -> session and scans created."""
    doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<xnat:MRSession ID="" project="{session["p"]}"'
           f' label="E2" xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">'
           f"<xnat:subject_ID>{session['subject']}</xnat:subject_ID><xnat:scans>"
           '<xnat:scan ID="1" xsi:type="xnat:mrScanData" type="LOCALIZER"><xnat:quality>usable'
           "</xnat:quality></xnat:scan>"
           '<xnat:scan ID="3-OT" xsi:type="xnat:otherDicomScanData" type="SCANNED DOCUMENT">'
           "<xnat:quality>usable</xnat:quality></xnat:scan></xnat:scans></xnat:MRSession>")
    r = http.put(f"/data/projects/{session['p']}/experiments/E2", data=doc.encode(),
                 headers={"Content-Type": "text/xml"})
    assert r.status_code == 201, r.text
    rows = http.get(f"/data/experiments/{r.text}/scans", params={"format": "json"}).json()
    scans = {s["ID"]: s for s in rows["ResultSet"]["Result"]}
    assert set(scans) == {"1", "3-OT"}
    assert scans["3-OT"]["xsiType"] == "xnat:otherDicomScanData"
    assert scans["1"]["quality"] == "usable" and scans["1"]["type"] == "LOCALIZER"


def test_xml_label_differs_on_existing_is_400(http, session):
    """xnat-rest.md §4 table: experiments "400 Label must be modified through separate URI. if
    XML label differs"."""
    doc = (f'<xnat:MRSession label="OTHER" xmlns:xnat="{XNAT_NS}"></xnat:MRSession>')
    r = http.put(session["url"], data=doc, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400 and "Label must be modified through separate URI." in r.text


def test_xml_parse_error_is_422(http, project):
    """xnat-rest.md §4 loadItem (2): "parse errors -> 422"."""
    r = http.put(f"/data/projects/{project}/subjects/SB", data=b"<xnat:Subject",
                 headers={"Content-Type": "text/xml"})
    assert r.status_code == 422


# -- rename -------------------------------------------------------------------------------------

def test_subject_label_rename_and_clash(http, project):
    """xnat-rest.md §4 table: "?label=NEW on existing subject: rename; returns early 200 empty";
    "409 Specified label is already in use."."""
    p = f"/data/projects/{project}"
    sid = http.put(f"{p}/subjects/OLD", params={"xsiType": "xnat:subjectData"}).text
    http.put(f"{p}/subjects/TAKEN", params={"xsiType": "xnat:subjectData"})
    r = http.put(f"{p}/subjects/OLD", params={"label": "NEW"})
    assert (r.status_code, r.text) == (200, "")
    assert http.get(f"{p}/subjects/NEW", params={"format": "xml"}).status_code == 200
    assert http.get(f"{p}/subjects/OLD", params={"format": "xml"}).status_code == 404
    assert _field(http, f"{p}/subjects", "label", ID=sid) == "NEW"
    r = http.put(f"{p}/subjects/NEW", params={"label": "TAKEN"})
    assert r.status_code == 409 and "Specified label is already in use." in r.text


def test_experiment_label_rename(http, session):
    """xnat-rest.md §4 table: experiment actions on PUT: "?label=NEW (rename) -> 200 + ID"."""
    r = http.put(session["url"], params={"label": "E1_RENAMED"})
    assert (r.status_code, r.text) == (200, session["exp"])
    r = http.get(f"/data/projects/{session['p']}/experiments/E1_RENAMED", params={"format": "xml"})
    assert r.status_code == 200 and 'label="E1_RENAMED"' in r.text


# -- delete -------------------------------------------------------------------------------------

def _files_holding(root: Path, marker: bytes) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and f.stat().st_size == len(marker)
            and f.read_bytes() == marker]


@pytest.mark.parametrize("remove", [True, False])
def test_delete_with_and_without_remove_files(http, session, emulator, remove):
    """xnat-rest.md §4 table: "DELETE project/experiment/scan -> 200; removeFiles=true deletes
    files (SecureResource.delete/deleteItem)"."""
    marker = b"delete-marker-" + os.urandom(8).hex().encode()
    url = f"{session['url']}/resources/RAW/files/m.bin"
    assert http.put(url, data=marker,
                    headers={"Content-Type": "application/octet-stream"}).status_code == 200
    assert len(_files_holding(emulator.data_dir, marker)) == 1
    params = {"removeFiles": "true"} if remove else {}
    r = http.delete(session["url"], params=params)
    assert (r.status_code, r.text) == (200, "")
    assert http.get(session["url"], params={"format": "xml"}).status_code == 404
    assert len(_files_holding(emulator.data_dir, marker)) == (0 if remove else 1)


def test_delete_subject_scan_resource_project(http, session):
    """xnat-rest.md §4 table: DELETE subject -> 200 empty; 404 "Unable to find the specified
    subject." afterwards; DELETE resource -> 200; DELETE project -> 200."""
    url = session["url"]
    assert http.put(f"{url}/scans/1", params={"xsiType": "xnat:mrScanData"}).status_code == 200
    assert http.put(f"{url}/scans/1/resources/R").status_code == 200
    assert http.delete(f"{url}/scans/1/resources/R").status_code == 200
    assert http.get(f"{url}/scans/1/resources/R/files").status_code == 404
    assert http.delete(f"{url}/scans/1", params={"removeFiles": "true"}).status_code == 200
    assert http.get(f"{url}/scans/1", params={"format": "xml"}).status_code == 404
    p = f"/data/projects/{session['p']}"
    r = http.delete(f"{p}/subjects/S1", params={"removeFiles": "true"})
    assert (r.status_code, r.text) == (200, "")
    r = http.delete(f"{p}/subjects/S1")
    assert r.status_code == 404 and "Unable to find the specified subject." in r.text
    assert http.get(f"/data/experiments/{session['exp']}", params={"format": "xml"}).status_code \
        == 404
    assert http.delete(p, params={"removeFiles": "true"}).status_code == 200
    assert http.get(p, params={"format": "xml"}).status_code == 404
