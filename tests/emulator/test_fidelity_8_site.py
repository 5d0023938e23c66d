"""Fidelity 8: site endpoints clients probe: buildInfo, siteConfig, schemas, search elements,
/data/version.

xnat-rest.md §1 (no /data/version route), §2 (buildInfo), §8 (pyxnat inspect.datatypes,
attributes_test needs /xapi/schemas/xnat), §9 (xnatpy connect steps 4-5).
"""

from __future__ import annotations

import csv
import io

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"


def test_build_info_version(http):
    """xnat-rest.md §2: "GET /xapi/siteConfig/buildInfo -> JSON with at least version"; §9 xnatpy
    `GET /xapi/siteConfig/buildInfo?format=json -> ['version']`; pyxnat test_16 reads
    version['version']."""
    for params in ({}, {"format": "json"}):
        r = http.get("/xapi/siteConfig/buildInfo", params=params)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("application/json")
        info = r.json()
        assert isinstance(info["version"], str)
        assert info["version"].startswith(("1.8", "1.9"))


def test_site_config(http):
    """xnat-rest.md §8: pyxnat user_and_project_management_test uses /xapi/siteConfig; §10
    siteUrl/processingUrl are site preferences."""
    r = http.get("/xapi/siteConfig")
    assert r.status_code == 200
    config = r.json()
    assert config["siteId"] == "XNAT"
    assert "siteUrl" in config and "processingUrl" in config


def test_schemas_list_and_xnat_xsd(http):
    """xnat-rest.md §9 step 5: "GET /xapi/schemas?format=json -> JSON list of names, then
    GET /xapi/schemas/{name} for each (any non-200 raises) - serving ["xnat"] + xnat.xsd is the
    minimum"."""
    r = http.get("/xapi/schemas", params={"format": "json"})
    assert r.status_code == 200
    names = r.json()
    assert isinstance(names, list) and "xnat" in names
    for name in names:
        assert http.get(f"/xapi/schemas/{name}").status_code == 200, name
    r = http.get("/xapi/schemas/xnat")
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{XS}}}schema"
    assert root.get("targetNamespace") == "http://nrg.wustl.edu/xnat"
    types = {t.get("name") for t in root.iter(f"{{{XS}}}complexType")}
    assert {"mrSessionData", "subjectData", "mrScanData", "qcAssessmentData"} <= types


def test_search_elements(http):
    """xnat-rest.md §8: "inspect.datatypes() -> GET /data/search/elements?format=csv
    (ELEMENT_NAME)"."""
    r = http.get("/data/search/elements", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    names = {row["ELEMENT_NAME"] for row in csv.DictReader(io.StringIO(r.text))}
    assert {"xnat:subjectData", "xnat:mrSessionData", "xnat:petSessionData",
            "xnat:ctSessionData", "xnat:qcAssessmentData", "xnat:projectData"} <= names
    rows = http.get("/data/search/elements", params={"format": "json"}).json()
    assert rows["ResultSet"]["totalRecords"] == str(len(rows["ResultSet"]["Result"]))


def test_data_version_is_404(http):
    """xnat-rest.md §1: "No /data/version route in 1.7+ (clients treat its failure as 1.7+) ->
    return 404"."""
    for path in ("/data/version", "/REST/version"):
        r = http.get(path)
        assert r.status_code == 404, path


def test_unknown_site_path_404(http):
    """xnat-rest.md §1 Error bodies: an unknown restlet path gets the Restlet status page."""
    r = http.get("/data/no_such_thing_here")
    assert r.status_code == 404 and r.text.startswith("<html>")
