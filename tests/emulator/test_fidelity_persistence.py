"""Fidelity: the archive survives a restart (metadata in SQLite, files on disk); HTTP sessions
do not (Tomcat keeps them in memory: a cookie-only request after a restart gets 401).

xnat-rest.md §2 (JSESSIONID sessions, 401 for missing/expired auth), §7 (accession IDs).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pydicom.data
from nibabel.testing import data_path

from xnat_emulator.testing import EmulatorProcess

EXAMPLE4D = os.path.join(data_path, "example4d.nii.gz")
MR_SMALL = pydicom.data.get_testdata_file("MR_small.dcm")


def test_archive_survives_restart_sessions_do_not(tmp_path):
    """Issue "Also": a project with a subject, experiment, scan and file is all there after a
    restart; HTTP sessions are not (cookie-only -> 401 + WWW-Authenticate, xnat-rest.md §2);
    the accession sequence continues (§7 "next id = first unused"). The site has a plugin
    type installed (``--data-type``, kept by the restart)."""
    nifti = Path(EXAMPLE4D).read_bytes()
    dicom = Path(MR_SMALL).read_bytes()
    emu = EmulatorProcess(tmp_path / "data", "--data-type", "vol:volumetricAssessorData")
    try:
        with emu.http() as http:
            p = "/data/projects/PERSIST"
            assert http.put(p, params={"name": "Persisted", "description": "kept"}).status_code \
                == 200
            sid = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData",
                                                       "gender": "female"}).text
            e = f"{p}/subjects/S1/experiments/MR1"
            eid = http.put(e, params={"xsiType": "xnat:mrSessionData", "date": "2020-02-02"}).text
            assert http.put(f"{e}/scans/1", params={"xsiType": "xnat:mrScanData",
                                                    "type": "T1"}).status_code == 200
            for name, data in (("NIFTI/files/example4d.nii.gz", nifti),
                               ("DICOM/files/dcm/MR_small.dcm", dicom)):
                r = http.put(f"{e}/scans/1/resources/{name}", data=data,
                             headers={"Content-Type": "application/octet-stream"})
                assert r.status_code == 200
            custom = ('<vol:volumetricAssessorData label="VOL1" xmlns:vol="http://example.org/vol">'
                      '<vol:region name="hippocampus">3012.5</vol:region>'
                      '</vol:volumetricAssessorData>')
            assert http.put(f"{e}/assessors/VOL1", data=custom,
                            headers={"Content-Type": "text/xml"}).status_code == 201
            before_custom = http.get(f"{e}/assessors/VOL1", params={"format": "xml"}).content
            before_xml = http.get(e, params={"format": "xml"}).content
            before_files = http.get(f"{e}/scans/1/files", params={"format": "json"}).json()
            sid_cookie = http.get("/data/JSESSION").text
        cookie = emu.http(anonymous=True)
        cookie.cookies.set("JSESSIONID", sid_cookie)
        assert cookie.get("/data/auth").status_code == 200

        emu.restart()

        r = cookie.get("/data/projects", params={"format": "json"})
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
        with emu.http() as http:
            rows = http.get("/data/projects", params={"format": "json", "ID": "PERSIST"}).json()
            [project] = rows["ResultSet"]["Result"]
            assert (project["name"], project["description"]) == ("Persisted", "kept")
            subjects = http.get(f"{p}/subjects", params={"format": "json",
                                                         "columns": "ID,label,gender"}).json()
            assert [(s["ID"], s["label"], s["gender"]) for s in subjects["ResultSet"]["Result"]] \
                == [(sid, "S1", "female")]
            assert http.get(e, params={"format": "xml"}).content == before_xml
            # an object of the installed plugin type is still served as it was sent
            assert http.get(f"{e}/assessors/VOL1", params={"format": "xml"}).content \
                == before_custom
            assessors = http.get(f"{e}/assessors", params={"format": "json"}).json()
            assert [a["xsiType"] for a in assessors["ResultSet"]["Result"]] \
                == ["vol:volumetricAssessorData"]
            assert http.get(f"/data/experiments/{eid}", params={"format": "xml"}).status_code \
                == 200
            assert http.get(f"{e}/scans/1/files", params={"format": "json"}).json() == before_files
            got = http.get(f"{e}/scans/1/resources/NIFTI/files/example4d.nii.gz").content
            assert hashlib.md5(got).hexdigest() == hashlib.md5(nifti).hexdigest()
            assert http.get(f"{e}/scans/1/resources/DICOM/files/dcm/MR_small.dcm").content \
                == dicom
            # accession numbers continue instead of restarting at 00001
            nxt = http.put(f"{p}/subjects/S2", params={"xsiType": "xnat:subjectData"}).text
            assert nxt != sid and int(nxt[-5:]) == int(sid[-5:]) + 1
    finally:
        emu.stop()
