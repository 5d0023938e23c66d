"""Fidelity 6: accession IDs, numeric resource ids, labels per project, label-or-ID addressing,
project aliases.

xnat-rest.md §7 (identity rules), §5.1 (numeric resource ids), §3.3 (resource rows), §8 (pyxnat
Experiment lookup).
"""

from __future__ import annotations

import csv
import io
import os

import pytest


def _rows(r):
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    return r.json()["ResultSet"]["Result"]


def test_accession_ids_site_sequences(make_emulator):
    """xnat-rest.md §7: "{siteId}_S%05d subjects, _E%05d experiments and assessors (shared
    sequence)"; "Scans have no accession number"."""
    emu = make_emulator(site_id="MYSITE")
    with emu.http() as http:
        assert http.put("/data/projects/IDS").status_code == 200
        p = "/data/projects/IDS"
        assert http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text \
            == "MYSITE_S00001"
        assert http.put(f"{p}/subjects/S1/experiments/E1",
                        params={"xsiType": "xnat:mrSessionData"}).text == "MYSITE_E00001"
        assert http.put(f"{p}/subjects/S1/experiments/E1/assessors/A1",
                        params={"xsiType": "xnat:qcAssessmentData"}).text == "MYSITE_E00002"
        assert http.put(f"{p}/subjects/S1/experiments/E2",
                        params={"xsiType": "xnat:petSessionData"}).text == "MYSITE_E00003"
        assert http.put(f"{p}/subjects/S2", params={"xsiType": "xnat:subjectData"}).text \
            == "MYSITE_S00002"
        # scans keep their own ID; only the internal xnat_imagescandata_id is numeric
        r = http.put(f"{p}/subjects/S1/experiments/E1/scans/3-OT",
                     params={"xsiType": "xnat:otherDicomScanData"})
        assert (r.status_code, r.text) == (200, "")
        [scan] = _rows(http.get(f"{p}/experiments/E1/scans", params={"format": "json"}))
        assert scan["ID"] == "3-OT" and scan["xnat_imagescandata_id"].isdigit()


def test_site_id_normalised_for_accession_ids(make_emulator):
    """xnat-rest.md §7: "siteId strips spaces/quotes/^, - -> _"."""
    emu = make_emulator(site_id="My-Site")
    with emu.http() as http:
        assert http.put("/data/projects/NORM").status_code == 200
        r = http.put("/data/projects/NORM/subjects/S1", params={"xsiType": "xnat:subjectData"})
        assert r.text == "My_Site_S00001"


def test_numeric_resource_ids_usable_in_urls(http, project):
    """xnat-rest.md §7 "Resources have integer xnat_abstractresource_id (global sequence)";
    §5.1 "Numeric ids are looked up as ids or labels"; §11.5 "Numeric resource ids accepted in
    URLs" for upload, listing, GET and DELETE."""
    p = f"/data/projects/{project}"
    http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"})
    assert http.put(f"{p}/resources/FIRST").status_code == 200
    assert http.put(f"{p}/subjects/S1/resources/SECOND").status_code == 200
    [first] = _rows(http.get(f"{p}/resources", params={"format": "json"}))
    [second] = _rows(http.get(f"{p}/subjects/S1/resources", params={"format": "json"}))
    a, b = int(first["xnat_abstractresource_id"]), int(second["xnat_abstractresource_id"])
    assert b > a
    url = f"{p}/subjects/S1/resources/{b}/files/by_id.txt"
    assert http.put(url, data=b"via id", headers={"Content-Type": "text/plain"}).status_code == 200
    assert http.get(f"{p}/subjects/S1/resources/SECOND/files/by_id.txt").content == b"via id"
    files = _rows(http.get(f"{p}/subjects/S1/resources/{b}/files", params={"format": "json"}))
    assert files[0]["cat_ID"] == str(b) and f"/resources/{b}/files/" in files[0]["URI"]
    # the URI from the listing is directly usable
    assert http.get(files[0]["URI"]).content == b"via id"
    assert http.delete(f"{p}/subjects/S1/resources/{b}").status_code == 200
    assert _rows(http.get(f"{p}/subjects/S1/resources", params={"format": "json"})) == []


def test_labels_unique_per_project_not_per_site(http, project):
    """xnat-rest.md §7: "Labels unique per project"; the same label in two projects names two
    subjects with different accession IDs."""
    other = project[:40] + "_B"
    assert http.put(f"/data/projects/{other}").status_code == 200
    a = http.put(f"/data/projects/{project}/subjects/SAME", params={"xsiType": "xnat:subjectData"})
    b = http.put(f"/data/projects/{other}/subjects/SAME", params={"xsiType": "xnat:subjectData"})
    assert a.status_code == b.status_code == 201 and a.text != b.text
    ea = http.put(f"/data/projects/{project}/subjects/SAME/experiments/MR",
                  params={"xsiType": "xnat:mrSessionData"})
    eb = http.put(f"/data/projects/{other}/subjects/SAME/experiments/MR",
                  params={"xsiType": "xnat:mrSessionData"})
    assert ea.status_code == eb.status_code == 201 and ea.text != eb.text
    # the same label again in the same project is the same subject (200, same ID)
    again = http.put(f"/data/projects/{project}/subjects/SAME",
                     params={"xsiType": "xnat:subjectData"})
    assert (again.status_code, again.text) == (200, a.text)


def test_label_or_id_addressing_inside_a_project(http, project):
    """xnat-rest.md §7 Addressing: `/projects/{P}/subjects/{S}` accepts project label or accession
    ID, same for experiments; `/data/subjects/{ID}` and `/data/experiments/{ID}` need accession
    IDs."""
    p = f"/data/projects/{project}"
    sid = http.put(f"{p}/subjects/LBL", params={"xsiType": "xnat:subjectData"}).text
    eid = http.put(f"{p}/subjects/LBL/experiments/ELBL",
                   params={"xsiType": "xnat:mrSessionData"}).text
    by_label = http.get(f"{p}/subjects/LBL", params={"format": "xml"})
    by_id = http.get(f"{p}/subjects/{sid}", params={"format": "xml"})
    assert by_label.status_code == by_id.status_code == 200
    assert by_label.content == by_id.content
    for url in (f"{p}/experiments/ELBL", f"{p}/experiments/{eid}",
                f"{p}/subjects/{sid}/experiments/ELBL", f"{p}/subjects/LBL/experiments/{eid}",
                f"/data/experiments/{eid}"):
        r = http.get(url, params={"format": "xml"})
        assert r.status_code == 200 and f'ID="{eid}"' in r.text, url
    assert http.get(f"/data/subjects/{sid}", params={"format": "xml"}).status_code == 200
    assert http.get("/data/subjects/LBL", params={"format": "xml"}).status_code == 404
    assert http.get("/data/experiments/ELBL", params={"format": "xml"}).status_code == 404
    # a PUT by ID updates the same object (200 + ID)
    r = http.put(f"{p}/subjects/{sid}", params={"gender": "male"})
    assert (r.status_code, r.text) == (200, sid)


def test_project_alias_addressing(http):
    """xnat-rest.md §7: "{P} may also be a project alias (getProjectByIDorAlias)"; §8 pyxnat
    aliases() -> `GET /data/projects?columns=alias&format=csv`."""
    suffix = os.urandom(3).hex()
    pid, alias = f"ALIASED_{suffix}", f"ALIAS_{suffix}"
    r = http.put(f"/data/projects/{pid}", params={"alias": alias})
    assert r.status_code == 200
    sid = http.put(f"/data/projects/{alias}/subjects/S1",
                   params={"xsiType": "xnat:subjectData"}).text
    assert sid.startswith("XNAT_S")
    r = http.get(f"/data/projects/{alias}", params={"format": "xml"})
    assert r.status_code == 200 and f'ID="{pid}"' in r.text
    rows = _rows(http.get(f"/data/archive/projects/{alias}/subjects", params={"format": "json"}))
    assert [(s["ID"], s["project"]) for s in rows] == [(sid, pid)]
    text = http.get("/data/projects", params={"format": "csv", "columns": "ID,alias",
                                              "ID": pid}).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["alias"] == alias


def test_pyxnat_experiment_lookup_columns(http, project):
    """xnat-rest.md §8: pyxnat `GET /data/experiments?xsiType=xnat:subjectAssessorData&ID={x}&
    columns=ID,project,xnat:subjectAssessorData/subject_id&format=csv` needs headers subject_ID,
    project."""
    p = f"/data/projects/{project}"
    sid = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text
    eid = http.put(f"{p}/subjects/S1/experiments/E1",
                   params={"xsiType": "xnat:mrSessionData"}).text
    r = http.get("/data/experiments", params={
        "xsiType": "xnat:subjectAssessorData", "ID": eid,
        "columns": "ID,project,xnat:subjectAssessorData/subject_id", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    assert (rows[0]["ID"], rows[0]["project"], rows[0]["subject_ID"]) == (eid, project, sid)


@pytest.mark.parametrize("label", ["bad label", "a.b", "x/y"])
def test_invalid_labels_refused(http, project, label):
    """xnat-rest.md §7: "valid id/label charset ^[A-Za-z0-9_-]+$"; §4 417 "Invalid character in
    subject label." (a `/` never reaches the subject handler: 404)."""
    r = http.put(f"/data/projects/{project}/subjects/{label}",
                 params={"xsiType": "xnat:subjectData"})
    assert r.status_code in ((404,) if "/" in label else (417,))
