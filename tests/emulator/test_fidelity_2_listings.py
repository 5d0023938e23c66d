"""Fidelity 2: listings as JSON, CSV and XML; default columns; columns=, xsiType=, filters, paging.

xnat-rest.md §3.1 (envelope, CSV as XFTTable.toCSV, XML), §3.2 (columns and filters), §3.3
(per-endpoint default columns).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest


def _result(r):
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    return r.json()["ResultSet"]["Result"]


def _csv(r):
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    return r.text


@pytest.fixture
def archive(http, project):
    """Subjects S1 (male), S2 (female), S3; MR session MR1 and PET session PET1 of S1, CT1 of S2;
    scans 1 (T1) and 2 of MR1; a QC assessor of MR1; a resource with a file on S1."""
    p = f"/data/projects/{project}"
    ids = {}
    for label, gender in (("S1", "male"), ("S2", "female"), ("S3", "")):
        params = {"xsiType": "xnat:subjectData"}
        if gender:
            params["gender"] = gender
        r = http.put(f"{p}/subjects/{label}", params=params)
        assert r.status_code == 201
        ids[label] = r.text
    for subj, label, xsi, date in (("S1", "MR1", "xnat:mrSessionData", "2020-01-02"),
                                   ("S1", "PET1", "xnat:petSessionData", "2020-03-04"),
                                   ("S2", "CT1", "xnat:ctSessionData", "")):
        params = {"xsiType": xsi}
        if date:
            params["date"] = date
        r = http.put(f"{p}/subjects/{subj}/experiments/{label}", params=params)
        assert r.status_code == 201
        ids[label] = r.text
    mr = f"{p}/experiments/MR1"
    assert http.put(f"{mr}/scans/1", params={"xsiType": "xnat:mrScanData", "type": "T1",
                                               "series_description": "t1_mprage"}).status_code == 200
    assert http.put(f"{mr}/scans/2", params={"xsiType": "xnat:mrScanData"}).status_code == 200
    r = http.put(f"{mr}/assessors/QC1", params={"xsiType": "xnat:qcAssessmentData"})
    assert r.status_code == 201
    ids["QC1"] = r.text
    r = http.put(f"{p}/subjects/S1/resources/NOTES/files/n.txt", data=b"hello\n",
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    ids["project"] = project
    return ids


# -- JSON envelope -------------------------------------------------------------------------------

def test_json_envelope_strings_and_total_records(http, archive):
    """xnat-rest.md §3.1: `{"ResultSet":{"Result":[...], "totalRecords": "N"}}`, metadata appended
    as `"key": "value"` with a space after comma and colon; "Every cell is a string"."""
    r = http.get(f"/data/projects/{archive['project']}/subjects", params={"format": "json"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.text.startswith('{"ResultSet":{"Result":[')
    assert r.text.endswith(', "totalRecords": "3"}}')
    body = r.json()["ResultSet"]
    assert body["totalRecords"] == "3"
    for row in body["Result"]:
        assert all(isinstance(v, str) for v in row.values()), row


def test_listing_defaults_to_json_without_format(http, archive):
    """xnat-rest.md §1 format: "listings register JSON first -> JSON by default"."""
    r = http.get(f"/data/projects/{archive['project']}/experiments")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert len(r.json()["ResultSet"]["Result"]) == 3


def test_every_cell_a_string_also_for_numbers(http, archive):
    """xnat-rest.md §3.1 "Every cell is a string (XFTTable.toJSON ... toString())": resource
    file_count/file_size and scan xnat_imagescandata_id, file Size are strings."""
    p = archive["project"]
    res = _result(http.get(f"/data/projects/{p}/subjects/S1/resources", params={"format": "json"}))
    assert res[0]["file_count"] == "1" and res[0]["file_size"] == "6"
    assert isinstance(res[0]["xnat_abstractresource_id"], str)
    scans = _result(http.get(f"/data/projects/{p}/experiments/MR1/scans",
                             params={"format": "json"}))
    assert all(isinstance(s["xnat_imagescandata_id"], str) for s in scans)
    files = _result(http.get(f"/data/projects/{p}/subjects/S1/resources/NOTES/files",
                             params={"format": "json"}))
    assert files[0]["Size"] == "6"


# -- default columns ---------------------------------------------------------------------------

def test_projects_default_columns(http, archive):
    """xnat-rest.md §3.3: /data/projects -> ID,secondary_ID,name,description,pi_firstname,
    pi_lastname + URI `/data/projects/{ID}`."""
    rows = _result(http.get("/data/projects", params={"format": "json"}))
    row = next(r for r in rows if r["ID"] == archive["project"])
    assert set(row) == {"ID", "secondary_ID", "name", "description", "pi_firstname",
                        "pi_lastname", "URI"}
    assert row["URI"] == f"/data/projects/{archive['project']}"


def test_subjects_default_columns_csv_header(http, archive):
    """xnat-rest.md §12.4 CSV sample: header `ID,project,label,insert_date,insert_user,URI`,
    URI `/data/subjects/{ID}`; §3.3 timestamps `2017-03-02 09:57:35.695`."""
    text = _csv(http.get(f"/data/projects/{archive['project']}/subjects",
                         params={"format": "csv"}))
    lines = text.split("\n")
    assert lines[0] == "ID,project,label,insert_date,insert_user,URI"
    assert text.endswith("\n") and "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    s1 = next(r for r in rows if r["label"] == "S1")
    assert s1["ID"] == archive["S1"] and s1["project"] == archive["project"]
    assert s1["URI"] == f"/data/subjects/{archive['S1']}"
    assert s1["insert_user"] == "admin"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{1,3}", s1["insert_date"])


def test_project_experiments_default_columns(http, archive):
    """xnat-rest.md §3.3: project experiments -> ID,project,date,xsiType,label,insert_date
    (+xnat:subjectassessordata/id), URI `/data/experiments/{ID}`."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/experiments",
                            params={"format": "json"}))
    assert {r["label"] for r in rows} == {"MR1", "PET1", "CT1"}
    for row in rows:
        assert set(row) == {"ID", "project", "date", "xsiType", "label", "insert_date",
                            "xnat:subjectassessordata/id", "URI"}
        assert row["URI"] == f"/data/experiments/{row['ID']}"
        assert row["xnat:subjectassessordata/id"] == row["ID"]
    by_label = {r["label"]: r for r in rows}
    assert by_label["MR1"]["xsiType"] == "xnat:mrSessionData"
    assert by_label["MR1"]["date"] == "2020-01-02"
    assert by_label["CT1"]["date"] == ""


def test_subject_experiments_listing(http, archive):
    """xnat-rest.md §3.3: `/projects/{P}/subjects/{S}/experiments` has the same columns and only
    that subject's experiments."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/subjects/S1/experiments",
                            params={"format": "json"}))
    assert {r["label"] for r in rows} == {"MR1", "PET1"}


def test_data_experiments_adds_subject_or_session_columns(http, archive):
    """xnat-rest.md §3.3 /data/experiments: "same + subject_ID,subject_label if root is a
    subjectAssessor, session_ID,session_label if imageAssessor"."""
    rows = _result(http.get("/data/experiments", params={
        "format": "json", "xsiType": "xnat:mrSessionData", "project": archive["project"]}))
    assert [r["label"] for r in rows] == ["MR1"]
    assert rows[0]["subject_ID"] == archive["S1"] and rows[0]["subject_label"] == "S1"
    rows = _result(http.get("/data/experiments", params={
        "format": "json", "xsiType": "xnat:qcAssessmentData", "project": archive["project"]}))
    assert [r["label"] for r in rows] == ["QC1"]
    assert rows[0]["session_ID"] == archive["MR1"] and rows[0]["session_label"] == "MR1"


def test_scans_default_columns(http, archive):
    """xnat-rest.md §3.3 scans: xnat_imagescandata_id,ID,type,quality,xsiType,note,
    series_description + URI `/data/experiments/{sessionID}/scans/{scanID}`; quality default
    `unknown`."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/experiments/MR1/scans",
                            params={"format": "json"}))
    assert [r["ID"] for r in rows] == ["1", "2"]
    for row in rows:
        assert set(row) == {"xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note",
                            "series_description", "URI"}
        assert row["URI"] == f"/data/experiments/{archive['MR1']}/scans/{row['ID']}"
        assert row["quality"] == "unknown"
        assert row["xsiType"] == "xnat:mrScanData"
    assert rows[0]["type"] == "T1" and rows[0]["series_description"] == "t1_mprage"


def test_assessors_listing_columns(http, archive):
    """xnat-rest.md §12.4: assessors of a session -> rows `date, xsiType, session_label,
    "xnat:imageassessordata/id", insert_date, session_ID, project, ID, label, URI`, URI
    `/data/experiments/{assessorID}`."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/experiments/MR1/assessors",
                            params={"format": "json"}))
    assert len(rows) == 1
    assert set(rows[0]) == {"date", "xsiType", "session_label", "xnat:imageassessordata/id",
                            "insert_date", "session_ID", "project", "ID", "label", "URI"}
    assert rows[0]["URI"] == f"/data/experiments/{archive['QC1']}"
    assert rows[0]["session_ID"] == archive["MR1"]


def test_resources_listing_fixed_columns(http, archive):
    """xnat-rest.md §3.3 resources: fixed, ignores columns, no URI, no ID; title `Resources`,
    totalRecords; category `resources`, element_name `xnat:resourceCatalog`."""
    url = f"/data/projects/{archive['project']}/subjects/S1/resources"
    for params in ({"format": "json"}, {"format": "json", "columns": "label"}):
        r = http.get(url, params=params)
        rows = _result(r)
        assert set(rows[0]) == {"xnat_abstractresource_id", "label", "element_name", "category",
                                "cat_id", "cat_desc", "file_count", "file_size", "tags",
                                "content", "format"}
        assert rows[0]["element_name"] == "xnat:resourceCatalog"
        assert rows[0]["category"] == "resources"
        meta = r.json()["ResultSet"]
        assert meta["title"] == "Resources" and meta["totalRecords"] == "1"


def test_files_listing_envelope(http, archive):
    """xnat-rest.md §3.3/§12.4 files: `{"ResultSet":{"Columns":[{"key":"URI","serverRoot":""}],
    "Result":[...], "title": "Files"}}`, no totalRecords, columns Name,Size,URI,collection,
    file_tags,file_format,file_content,cat_ID,digest."""
    r = http.get(f"/data/projects/{archive['project']}/subjects/S1/resources/NOTES/files",
                 params={"format": "json"})
    assert r.status_code == 200
    assert r.text.startswith('{"ResultSet":{"Columns":[{"key":"URI","serverRoot":""}],"Result":[')
    assert r.text.endswith(', "title": "Files"}}')
    rs = r.json()["ResultSet"]
    assert "totalRecords" not in rs
    assert set(rs["Result"][0]) == {"Name", "Size", "URI", "collection", "file_tags",
                                    "file_format", "file_content", "cat_ID", "digest"}


# -- CSV and XML ---------------------------------------------------------------------------------

def test_csv_escaping_as_xfttable(http):
    """xnat-rest.md §3.1 CSV: escapeCsv (quote only with `,` `"` CR/LF; quotes doubled),
    "newlines inside values replaced by a space", `\\n` line endings."""
    pid = "CSVQ_" + os.urandom(3).hex()
    r = http.put(f"/data/projects/{pid}", params={
        "name": f'Name, with "quotes" {pid}', "description": "line one\nline two"})
    assert r.status_code == 200
    text = _csv(http.get("/data/projects", params={"format": "csv", "ID": pid}))
    assert text == (
        "ID,secondary_ID,name,description,pi_firstname,pi_lastname,URI\n"
        f'{pid},{pid},"Name, with ""quotes"" {pid}",line one line two,,,/data/projects/{pid}\n')


def test_xml_table(http, archive):
    """xnat-rest.md §3.1 XML: `<ResultSet totalRecords="N" ...><results><columns><column>ID
    </column>...</columns>\\n<rows><row><cell>v</cell>...</row>...</rows></results></ResultSet>`."""
    r = http.get(f"/data/projects/{archive['project']}/subjects",
                 params={"format": "xml", "columns": "ID,label"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/xml")
    assert r.text.startswith('<ResultSet totalRecords="3"')
    assert "<results><columns><column>ID</column><column>label</column><column>URI</column>" \
           "</columns>\n<rows><row><cell>" in r.text
    root = ET.fromstring(r.text)
    cells = [[c.text or "" for c in row] for row in root.iter("row")]
    assert sorted(c[1] for c in cells) == ["S1", "S2", "S3"]


# -- columns= ------------------------------------------------------------------------------------

def test_columns_shortcuts_and_uri_appended(http, archive):
    """xnat-rest.md §3.2: columns= shortcut aliases; "URI is always appended by formatHeaders"."""
    text = _csv(http.get(f"/data/projects/{archive['project']}/subjects",
                         params={"format": "csv", "columns": "ID,label,gender"}))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.split("\n")[0] == "ID,label,gender,URI"
    assert {r["label"]: r["gender"] for r in rows} == {"S1": "male", "S2": "female", "S3": ""}


def test_columns_xpath_matching_a_shortcut_is_named_by_the_shortcut(http, archive):
    """xnat-rest.md §3.2 formatHeaders: "if the column's xpath equals (case-insensitive) a
    shortcut's xpath -> the shortcut key"."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/subjects", params={
        "format": "json",
        "columns": "ID,xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender"}))
    assert set(rows[0]) == {"ID", "gender", "URI"}


def test_columns_other_xpath_is_lowercased(http, archive):
    """xnat-rest.md §3.2: "otherwise the lower-cased xpath (e.g. xnat:mrsessiondata/age)"."""
    p = archive["project"]
    assert http.put(f"/data/projects/{p}/experiments/MR1",
                    params={"xsiType": "xnat:mrSessionData",
                            "xnat:mrSessionData/age": "42"}).status_code == 200
    rows = _result(http.get(f"/data/projects/{p}/experiments", params={
        "format": "json", "xsiType": "xnat:mrSessionData", "columns": "ID,xnat:mrSessionData/age"}))
    assert rows == [{"ID": archive["MR1"], "xnat:mrsessiondata/age": "42.0",
                     "URI": f"/data/experiments/{archive['MR1']}"}]


def test_columns_unknown_alias_dropped(http, archive):
    """xnat-rest.md §3.2 "unknown aliases are silently dropped (e.g. xsiType on subjects, URI,
    path)"; §12.2 "the subject table ignores xsiType, returns ID,URI"."""
    text = _csv(http.get(f"/data/projects/{archive['project']}/subjects",
                         params={"format": "csv", "columns": "ID,xsiType,nonsense,URI"}))
    assert text.split("\n")[0] == "ID,URI"


def test_columns_default_keyword(http, archive):
    """xnat-rest.md §3.2: "DEFAULT or absent -> defaults"."""
    a = _result(http.get(f"/data/projects/{archive['project']}/subjects",
                         params={"format": "json", "columns": "DEFAULT"}))
    b = _result(http.get(f"/data/projects/{archive['project']}/subjects",
                         params={"format": "json"}))
    assert a == b


# -- xsiType and field filters -------------------------------------------------------------------

def test_xsi_type_single_narrows_rows(http, archive):
    """xnat-rest.md §3.2: "xsiType=T (single, no comma) makes T the query root -> only rows of
    that type/subtypes"."""
    p = archive["project"]
    rows = _result(http.get(f"/data/projects/{p}/experiments",
                            params={"format": "json", "xsiType": "xnat:petSessionData"}))
    assert [r["label"] for r in rows] == ["PET1"]
    rows = _result(http.get(f"/data/projects/{p}/experiments",
                            params={"format": "json", "xsiType": "xnat:imageSessionData"}))
    assert {r["label"] for r in rows} == {"MR1", "PET1", "CT1"}


def test_xsi_type_comma_list_ignored(http, archive):
    """xnat-rest.md §3.2: "a comma list is ignored for root selection ... must not 4xx"."""
    rows = _result(http.get(f"/data/projects/{archive['project']}/experiments", params={
        "format": "json", "xsiType": "xnat:mrSessionData,xnat:petSessionData"}))
    assert {r["label"] for r in rows} == {"MR1", "PET1", "CT1"}


def test_field_filters_exact_list_and_wildcard(http, archive):
    """xnat-rest.md §3.2 Filters: shortcut or xpath keys become WHERE clauses; comma list = OR;
    `*` -> LIKE."""
    url = f"/data/projects/{archive['project']}/subjects"
    labels = lambda **kw: sorted(r["label"] for r in _result(
        http.get(url, params={"format": "json", **kw})))
    assert labels(label="S1") == ["S1"]
    assert labels(label="S1,S3") == ["S1", "S3"]
    assert labels(label="S*") == ["S1", "S2", "S3"]
    assert labels(gender="female") == ["S2"]
    assert labels(**{"xnat:subjectData/label": "S2"}) == ["S2"]
    rows = _result(http.get("/data/experiments", params={"format": "json",
                                                         "ID": archive["PET1"]}))
    assert [r["label"] for r in rows] == ["PET1"]


def test_limit_offset_and_sort(http, archive):
    """xnat-rest.md §3.1 Paging: limit/offset (`*` = all); sortBy + sortOrder=DESC."""
    url = f"/data/projects/{archive['project']}/subjects"
    labels = lambda **kw: [r["label"] for r in _result(
        http.get(url, params={"format": "json", "sortBy": "label", **kw}))]
    assert labels() == ["S1", "S2", "S3"]
    assert labels(sortOrder="DESC") == ["S3", "S2", "S1"]
    assert labels(limit="2") == ["S1", "S2"]
    assert labels(limit="2", offset="1") == ["S2", "S3"]
    assert labels(limit="*", offset="*") == ["S1", "S2", "S3"]


def test_missing_project_listing_is_404(http):
    """xnat-rest.md §3.3 "Missing project in a listing URL -> 404"."""
    r = http.get("/data/projects/NO_SUCH_PROJECT_X/subjects", params={"format": "json"})
    assert r.status_code == 404
    r = http.get("/data/projects/NO_SUCH_PROJECT_X/experiments", params={"format": "json"})
    assert r.status_code == 404


def test_listing_json_is_valid_json_with_unicode(http, project):
    """xnat-rest.md §3.1: cells are the values' strings (non-ASCII kept)."""
    r = http.put(f"/data/projects/{project}/subjects/SU", params={
        "xsiType": "xnat:subjectData", "src": "Zürich"})
    assert r.status_code == 201
    r = http.get(f"/data/projects/{project}/subjects",
                 params={"format": "json", "columns": "label,src"})
    assert json.loads(r.content.decode("utf-8"))["ResultSet"]["Result"][0]["src"] == "Zürich"


def test_html_table(http, archive):
    """xnat-rest.md §3.1 HTML: `<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"
    lang="en"><body><table class="x_rs_t" ...>...</table></body></html>`."""
    r = http.get(f"/data/projects/{archive['project']}/subjects", params={"format": "html"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.text.startswith('<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">'
                             '<body><table class="x_rs_t"')
    assert r.text.endswith("</table></body></html>")
    assert r.text.count("<tr>") == 4  # header + 3 subjects


def test_csv_has_no_metadata_and_files_csv(http, archive):
    """xnat-rest.md §3.1 CSV: "No metadata"; pyxnat reads every listing as CSV (files too)."""
    text = _csv(http.get(f"/data/projects/{archive['project']}/subjects/S1/resources/NOTES/files",
                         params={"format": "csv"}))
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "Name,Size,URI,collection,file_tags,file_format,file_content,cat_ID,digest"
    assert len(lines) == 2 and "totalRecords" not in text and "Files" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["Name"] == "n.txt" and row["Size"] == "6"
