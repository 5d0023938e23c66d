"""Fidelity 4: single objects as XML (format=xml) and JSON (items/data_fields/children).

xnat-rest.md §6 (ItemXMLRepresentation, ItemJSONBuilder), §1 format (HTML default for single
objects), §4 example documents.
"""

from __future__ import annotations

import pytest
from lxml import etree

XNAT_NS = "http://nrg.wustl.edu/xnat"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"
NS = {"xnat": XNAT_NS, "xsi": XSI_NS}
DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def _x(tag: str) -> str:
    return f"{{{XNAT_NS}}}{tag}"


def _get_xml(http, url: str):
    r = http.get(url, params={"format": "xml"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("text/xml")
    assert r.text.startswith(DECL)
    return etree.fromstring(r.content)


def _get_json(http, url: str) -> dict:
    r = http.get(url, params={"format": "json"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["items"] and len(body["items"]) == 1
    return body["items"][0]


def _children(item: dict, field: str) -> list[dict]:
    return next((c["items"] for c in item["children"] if c["field"] == field), [])


@pytest.fixture
def base(http, project):
    p = f"/data/projects/{project}"
    sid = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text
    return {"p": project, "url": p, "subject": sid}


# -- XML shape ----------------------------------------------------------------------------------

def test_single_object_defaults_to_html(http, base):
    """xnat-rest.md §1 format: "Subject/Experiment/Scan/Project single objects register TEXT_HTML
    then TEXT_XML -> HTML by default"."""
    r = http.get(f"{base['url']}/subjects/S1")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")


def test_subject_xml_root_namespaces_and_attributes(http, base):
    """xnat-rest.md §6: `<?xml version="1.0" encoding="UTF-8"?>` then root named by the type's
    proper name (`xnat:Subject`), attributes ID, project, label, all installed namespaces."""
    r = http.get(f"{base['url']}/subjects/S1", params={"format": "xml"})
    assert r.text.startswith(f'{DECL}\n<xnat:Subject ID="{base["subject"]}" project="{base["p"]}"'
                             ' label="S1"')
    root = etree.fromstring(r.content)
    assert root.tag == _x("Subject")
    for prefix, uri in (("xnat", XNAT_NS), ("xsi", XSI_NS), ("xdat", "http://nrg.wustl.edu/security"),
                        ("cat", "http://nrg.wustl.edu/catalog"), ("prov", "http://www.nbirn.net/prov")):
        assert root.nsmap.get(prefix) == uri, prefix


def test_subject_demographics_and_custom_fields_round_trip(http, base):
    """xnat-rest.md §6: "xnat:demographics xsi:type=xnat:demographicData", custom fields
    (xnat:fields/xnat:field) and whatever was stored come back (RT test_subject_v1.xml)."""
    doc = (f'<xnat:Subject ID="" project="" group="control" label="S2" src="12" '
           f'xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">'
           '<xnat:fields><xnat:field name="cohort">A1</xnat:field>'
           '<xnat:field name="site">north</xnat:field></xnat:fields>'
           '<xnat:demographics xsi:type="xnat:demographicData"><xnat:dob>1990-01-01</xnat:dob>'
           "<xnat:gender>male</xnat:gender><xnat:handedness>right</xnat:handedness>"
           "<xnat:education>12</xnat:education><xnat:weight>70.5</xnat:weight>"
           "</xnat:demographics></xnat:Subject>")
    r = http.put(f"{base['url']}/subjects/S2", data=doc, headers={"Content-Type": "text/xml"})
    assert r.status_code == 201
    root = _get_xml(http, f"{base['url']}/subjects/S2")
    assert root.get("group") == "control" and root.get("src") == "12"
    demo = root.find("xnat:demographics", NS)
    assert demo.get(XSI_TYPE) == "xnat:demographicData"
    assert [(c.tag.split("}")[1], c.text) for c in demo] == [
        ("dob", "1990-01-01"), ("gender", "male"), ("handedness", "right"), ("education", "12"),
        ("weight", "70.5")]
    fields = {f.get("name"): f.text for f in root.findall("xnat:fields/xnat:field", NS)}
    assert fields == {"cohort": "A1", "site": "north"}
    # schema order: xnat:subjectData has ... fields ... demographics
    names = [etree.QName(c).localname for c in root]
    assert names.index("fields") < names.index("demographics")


def test_custom_field_by_query_string(http, base):
    """xnat-rest.md §8 (pyxnat attrs.set) and §4 loadItem: an xpath key
    `xnat:subjectData/fields/field[name=x]/field` sets a custom field, exported under xnat:fields."""
    r = http.put(f"{base['url']}/subjects/S1", params={
        "xsiType": "xnat:subjectData", "xnat:subjectData/fields/field[name=score]/field": "17"})
    assert r.status_code == 200
    root = _get_xml(http, f"{base['url']}/subjects/S1")
    [field] = root.findall("xnat:fields/xnat:field", NS)
    assert (field.get("name"), field.text) == ("score", "17")


def test_experiment_children_in_schema_order(http, base):
    """xnat-rest.md §6: "children in schema order (... xnat:date, xnat:subject_ID,
    xnat:scans/xnat:scan ...)" regardless of the order fields were sent."""
    url = f"{base['url']}/subjects/S1/experiments/E1"
    r = http.put(url, params={"xsiType": "xnat:mrSessionData", "fieldStrength": "3.0",
                              "scanner": "Prisma", "note": "n", "date": "2020-01-02"})
    assert r.status_code == 201
    assert http.put(f"{url}/scans/1", params={"xsiType": "xnat:mrScanData", "type": "T1",
                                              "quality": "usable"}).status_code == 200
    root = _get_xml(http, url)
    assert root.tag == _x("MRSession")
    names = [etree.QName(c).localname for c in root]
    order = ["date", "note", "subject_ID", "scanner", "scans", "fieldStrength"]
    assert [n for n in names if n in order] == order
    assert root.findtext("xnat:subject_ID", namespaces=NS) == base["subject"]
    scan = root.find("xnat:scans/xnat:scan", NS)
    assert scan.get("ID") == "1" and scan.get("type") == "T1"
    assert scan.get(XSI_TYPE) == "xnat:mrScanData"
    assert scan.findtext("xnat:quality", namespaces=NS) == "usable"


@pytest.mark.parametrize("xsi,root_name", [
    ("xnat:mrSessionData", "MRSession"), ("xnat:petSessionData", "PETSession"),
    ("xnat:ctSessionData", "CTSession"), ("xnat:otherDicomSessionData", "OtherDicomSession"),
    ("xnat:eegSessionData", "EEGSession"), ("xnat:petmrSessionData", "PETMRSession"),
    ("xnat:subjectVariablesData", "SubjectVariables"),
])
def test_session_and_subject_assessor_types(http, base, xsi, root_name):
    """xnat-rest.md §6: root element named by the type's proper name (`xnat:MRSession`,
    `xnat:PETSession` ...); JSON meta `xsi:type`; listings report the xsiType."""
    url = f"{base['url']}/subjects/S1/experiments/X_{root_name}"
    r = http.put(url, params={"xsiType": xsi, "date": "2019-09-09"})
    assert r.status_code == 201
    root = _get_xml(http, url)
    assert root.tag == _x(root_name)
    assert root.get("ID") == r.text and root.get("label") == f"X_{root_name}"
    assert root.findtext("xnat:date", namespaces=NS) == "2019-09-09"
    item = _get_json(http, url)
    assert item["meta"]["xsi:type"] == xsi
    assert item["data_fields"]["ID"] == r.text and item["data_fields"]["date"] == "2019-09-09"


@pytest.mark.parametrize("xsi,root_name", [
    ("xnat:mrScanData", "MRScan"), ("xnat:petScanData", "PETScan"), ("xnat:ctScanData", "CTScan"),
    ("xnat:otherDicomScanData", "OtherDicomScan"),
])
def test_scan_types(http, base, xsi, root_name):
    """xnat-rest.md §6: "scans as xnat:MRScan..."; nested in the session as
    `xnat:scans/xnat:scan ... xsi:type=...`."""
    url = f"{base['url']}/subjects/S1/experiments/E1"
    assert http.put(url, params={"xsiType": "xnat:mrSessionData"}).status_code in (200, 201)
    assert http.put(f"{url}/scans/5", params={"xsiType": xsi, "type": "X",
                                              "series_description": "desc"}).status_code == 200
    root = _get_xml(http, f"{url}/scans/5")
    assert root.tag == _x(root_name)
    assert root.get("ID") == "5" and root.get("type") == "X"
    assert root.findtext("xnat:series_description", namespaces=NS) == "desc"
    session = _get_xml(http, url)
    nested = session.find("xnat:scans/xnat:scan", NS)
    assert nested.get(XSI_TYPE) == xsi
    item = _get_json(http, f"{url}/scans/5")
    assert item["meta"]["xsi:type"] == xsi
    assert item["data_fields"]["type"] == "X"


def test_scan_parameters_round_trip_xml_and_json(http, base):
    """xnat-rest.md §6 (whatever was stored round-trips) and ItemJSONBuilder: "data_fields hold
    typed JSON values"; "inline single sub-elements are flattened with / keys"."""
    url = f"{base['url']}/subjects/S1/experiments/E1"
    assert http.put(url, params={"xsiType": "xnat:mrSessionData"}).status_code == 201
    doc = (f'<xnat:MRScan ID="2" type="BOLD" xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">'
           "<xnat:quality>usable</xnat:quality><xnat:frames>120</xnat:frames>"
           '<xnat:parameters><xnat:voxelRes x="2.0" y="2.0" z="3.5"/>'
           "<xnat:orientation>Tra</xnat:orientation><xnat:tr>2000.0</xnat:tr>"
           "<xnat:te>30.0</xnat:te><xnat:flip>90</xnat:flip></xnat:parameters></xnat:MRScan>")
    r = http.put(f"{url}/scans/2", params={"xsiType": "xnat:mrScanData"}, data=doc,
                 headers={"Content-Type": "text/xml"})
    assert (r.status_code, r.text) == (200, "")
    root = _get_xml(http, f"{url}/scans/2")
    params = root.find("xnat:parameters", NS)
    assert params.find("xnat:voxelRes", NS).attrib == {"x": "2.0", "y": "2.0", "z": "3.5"}
    assert params.findtext("xnat:tr", namespaces=NS) == "2000.0"
    assert params.findtext("xnat:orientation", namespaces=NS) == "Tra"
    data = _get_json(http, f"{url}/scans/2")["data_fields"]
    assert data["parameters/tr"] == 2000.0
    assert data["parameters/flip"] == 90
    assert data["parameters/orientation"] == "Tra"
    assert data["frames"] == 120
    assert data["parameters/voxelRes/x"] == 2.0


def test_json_items_children_demographics_and_scans(http, base):
    """xnat-rest.md §6 JSON: `{"items":[{"meta":{...,"xsi:type":...},"data_fields":{...},
    "children":[{"field":"scans/scan","items":[...]}]}]}`; typed/multiple children go into
    children[].field (demographics, fields/field)."""
    p = base["url"]
    assert http.put(f"{p}/subjects/S1", params={
        "gender": "female", "xnat:subjectData/fields/field[name=a]/field": "1"}).status_code == 200
    item = _get_json(http, f"{p}/subjects/S1")
    assert set(item) >= {"meta", "data_fields", "children"}
    assert item["meta"]["xsi:type"] == "xnat:subjectData"
    assert item["meta"]["isHistory"] is False
    assert item["data_fields"]["label"] == "S1" and item["data_fields"]["ID"] == base["subject"]
    [demo] = _children(item, "demographics")
    assert demo["meta"]["xsi:type"] == "xnat:demographicData"
    assert demo["data_fields"]["gender"] == "female"
    [field] = _children(item, "fields/field")
    assert field["data_fields"] == {"name": "a", "field": "1"}
    url = f"{p}/subjects/S1/experiments/E1"
    assert http.put(url, params={"xsiType": "xnat:mrSessionData", "date": "2000-01-01"}
                    ).status_code == 201
    assert http.put(f"{url}/scans/1", params={"xsiType": "xnat:mrScanData"}).status_code == 200
    item = _get_json(http, url)
    assert item["data_fields"]["subject_ID"] == base["subject"]
    assert item["data_fields"]["project"] == base["p"]
    [scan] = _children(item, "scans/scan")
    assert scan["meta"]["xsi:type"] == "xnat:mrScanData"
    assert scan["data_fields"]["ID"] == "1"


@pytest.mark.parametrize("xsi,root_name", [
    ("xnat:qcAssessmentData", "QCAssessment"), ("xnat:qcManualAssessorData", "QCManualAssessment"),
])
def test_image_assessors(http, base, xsi, root_name):
    """xnat-rest.md §4 (assessors 201 + ID) and §6 (root by proper name, imageSession_ID)."""
    url = f"{base['url']}/subjects/S1/experiments/E1"
    assert http.put(url, params={"xsiType": "xnat:mrSessionData"}).status_code == 201
    session_id = http.get(url, params={"format": "json"}).json()["items"][0]["data_fields"]["ID"]
    r = http.put(f"{url}/assessors/A1", params={"xsiType": xsi, "note": "qc note"})
    assert r.status_code == 201
    root = _get_xml(http, f"{url}/assessors/A1")
    assert root.tag == _x(root_name)
    assert root.get("ID") == r.text and root.get("label") == "A1"
    assert root.findtext("xnat:imageSession_ID", namespaces=NS) == session_id
    assert root.findtext("xnat:note", namespaces=NS) == "qc note"
    session = _get_xml(http, url)
    nested = session.find("xnat:assessors/xnat:assessor", NS)
    assert nested is not None and nested.get(XSI_TYPE) == xsi


CUSTOM_ASSESSOR = (
    '<vol:volumetricAssessorData ID="" project="{p}" label="VOL1" '
    'xmlns:vol="http://example.org/vol" xmlns:xnat="http://nrg.wustl.edu/xnat">'
    "<xnat:date>2024-01-01</xnat:date>"
    '<vol:regions><vol:region name="hippocampus" hemisphere="L">3012.5</vol:region>'
    '<vol:region name="hippocampus" hemisphere="R">2987.0</vol:region></vol:regions>'
    "<vol:software version=\"7.1\">FreeSurfer</vol:software>"
    "</vol:volumetricAssessorData>")


@pytest.fixture
def plugin_site(make_emulator):
    """A site with two plugin types installed (XNAT knows no others), a project and subject S1:
    ``(http, base)`` like the ``http`` and ``base`` fixtures."""
    emu = make_emulator(data_types=("vol:volumetricAssessorData", "mri:fancySessionData"))
    with emu.http() as http:
        p = "/data/projects/PLUGINS"
        assert http.put(p).status_code == 200
        sid = http.put(f"{p}/subjects/S1", params={"xsiType": "xnat:subjectData"}).text
        yield http, {"p": "PLUGINS", "url": p, "subject": sid}


def test_custom_assessor_type_returned_as_sent(plugin_site):
    """Issue item 4 / xnat-rest.md §6: a custom *AssessorData type (an installed plugin's, which
    the emulator's XSD lacks) is stored and returned as the XML that was sent (its own
    namespace, elements and attributes)."""
    http, base = plugin_site
    url = f"{base['url']}/subjects/S1/experiments/E1"
    assert http.put(url, params={"xsiType": "xnat:mrSessionData"}).status_code == 201
    sent = CUSTOM_ASSESSOR.format(p=base["p"])
    r = http.put(f"{url}/assessors/VOL1", data=sent, headers={"Content-Type": "text/xml"})
    assert r.status_code == 201, r.text
    root = _get_xml(http, f"{url}/assessors/VOL1")
    assert root.tag == "{http://example.org/vol}volumetricAssessorData"
    assert root.get("ID") == r.text and root.get("label") == "VOL1"
    original = etree.fromstring(sent.encode())
    strip = lambda el: [(c.tag, dict(c.attrib), c.text, [(g.tag, dict(g.attrib), g.text)
                                                       for g in c]) for c in el]
    assert strip(root) == strip(original)
    rows = http.get(f"{url}/assessors", params={"format": "json"}).json()["ResultSet"]["Result"]
    assert [(a["label"], a["xsiType"]) for a in rows] == [("VOL1", "vol:volumetricAssessorData")]


def test_custom_session_type_returned_as_sent(plugin_site):
    """Issue item 4: "any other xnat:*SessionData"/"unknown custom types are stored and returned as
    the XML that was sent" (a plugin session type with a nested scan; the plugin is installed)."""
    http, base = plugin_site
    sent = (f'<?xml version="1.0" encoding="UTF-8"?>\n<mri:fancySessionData ID="" project="{base["p"]}"'
            ' label="F1" xmlns:mri="http://example.org/mri" xmlns:xnat="http://nrg.wustl.edu/xnat">'
            f"<xnat:subject_ID>{base['subject']}</xnat:subject_ID>"
            '<mri:protocol step="3">spiral</mri:protocol></mri:fancySessionData>')
    r = http.put(f"{base['url']}/subjects/S1/experiments/F1", data=sent.encode(),
                 headers={"Content-Type": "text/xml"})
    assert r.status_code == 201, r.text
    root = _get_xml(http, f"/data/experiments/{r.text}")
    assert root.tag == "{http://example.org/mri}fancySessionData"
    prot = root.find("{http://example.org/mri}protocol")
    assert (prot.get("step"), prot.text) == ("3", "spiral")
    r2 = http.put(f"{base['url']}/subjects/S1/experiments/F1", data=sent.encode(),
                  headers={"Content-Type": "text/xml"})
    assert (r2.status_code, r2.text) == (200, r.text)


def test_project_xml(http, base):
    """xnat-rest.md §6: project as `xnat:Project` with ID; name/description fields."""
    assert http.put(base["url"], params={"description": "a project"}).status_code == 200
    root = _get_xml(http, base["url"])
    assert root.tag == _x("Project") and root.get("ID") == base["p"]
    assert root.findtext("xnat:description", namespaces=NS) == "a project"


def test_resource_object_is_catalog_xml_even_for_json(http, base):
    """xnat-rest.md §6 Resource object: "catalog XML (always text/xml, even with format=json) that
    must start `<?xml version="1.0" encoding="UTF-8"?>\\n<cat:Catalog`"."""
    url = f"{base['url']}/subjects/S1/resources/R"
    assert http.put(f"{url}/files/a.txt", data=b"a", headers={"Content-Type": "text/plain"}
                    ).status_code == 200
    for params in ({}, {"format": "json"}):
        r = http.get(url, params=params)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/xml")
        assert r.text.startswith(f"{DECL}\n<cat:Catalog")


def test_not_found_messages(http, base):
    """xnat-rest.md §6 Not found: subject -> 404 "Unable to find the specified subject. The project
    P does not contain a subject identifiable by the ID or label S."; experiment -> "Unable to find
    the specified experiment."; resource -> "Unable to find the specified catalog."."""
    r = http.get(f"{base['url']}/subjects/NOPE", params={"format": "xml"})
    assert r.status_code == 404
    assert (f"Unable to find the specified subject. The project {base['p']} does not contain a "
            "subject identifiable by the ID or label NOPE.") in r.text
    r = http.get(f"{base['url']}/experiments/NOPE", params={"format": "xml"})
    assert r.status_code == 404 and "Unable to find the specified experiment." in r.text
    r = http.get(f"{base['url']}/subjects/S1/resources/NOPE")
    assert r.status_code == 404 and "Unable to find the specified catalog." in r.text
