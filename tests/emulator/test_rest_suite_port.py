"""Port of NrgXnat/xnat-rest-tests (commit 374f756) to the emulator: archive data model.

Subjects, experiments, scans, assessors, XML documents, custom variables, projects,
search and XAPI schema scenarios.  Every test states the Java test it ports; the Java
suite ran against real XNAT, so its expectations win over our reference unless the
reference cites newer source (each disagreement is noted in the docstring).

The Java tests drive XNAT through the grxnat helper library (NrgXnat/grxnat,
``XnatInterface`` and its ``*Subinterface`` classes); where a Java line calls a helper,
the HTTP request here is the one that helper sends (cited as ``grxnat:<Class>``).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
from rest_suite_support import (expect, new_project, new_scan, new_session, new_subject, rows,
                                uid)

XNAT_NS = "http://nrg.wustl.edu/xnat"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"xnat": XNAT_NS, "xsi": XSI_NS, "prov": "http://www.nbirn.net/prov"}
XML_HEADERS = {"Content-Type": "text/xml"}


# --------------------------------------------------------------------------- helpers

def xml_of(r) -> ET.Element:
    expect(r, 200)
    return ET.fromstring(r.content)


def text_of(root: ET.Element, path: str) -> str | None:
    el = root.find(path, NS)
    return None if el is None else el.text


def new_assessor(http, session_url: str, label: str, xsi: str = "xnat:qcAssessmentData",
                 **fields) -> str:
    r = http.put(f"{session_url}/assessors/{label}", params={"xsiType": xsi, **fields})
    expect(r, 201)
    return r.text.strip()


def scans_of(http, session_url: str) -> list[dict]:
    """grxnat:ScanSubinterface.readScans."""
    return rows(http.get(f"{session_url}/scans", params={
        "format": "json", "columns": "ID,type,quality,xsiType,note,series_description,URI,UID"}))


def _xml(root_tag: str, attrs: str, body: str, extra_ns: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<{root_tag} {attrs} xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}"{extra_ns}>'
            f"{body}</{root_tag}>")


# Test documents from NrgXnat/xnat-rest-tests:src/test/resources/data (namespace list trimmed).
def subject_xml(version: int, label: str = "1") -> str:
    education = "" if version == 2 else "<xnat:education>12</xnat:education>"
    extra = "<xnat:weight>12.0</xnat:weight><xnat:height>12.0</xnat:height>" if version == 3 else ""
    return _xml("xnat:Subject", f'ID="" project="" group="control" label="{label}" src="12"',
                '<xnat:demographics xsi:type="xnat:demographicData">'
                "<xnat:dob>1990-01-01</xnat:dob><xnat:gender>male</xnat:gender>"
                f"<xnat:handedness>right</xnat:handedness>{education}"
                f"<xnat:race>12</xnat:race><xnat:ethnicity>12</xnat:ethnicity>{extra}"
                "</xnat:demographics>")


def expt_xml(coil: str = "test", date: str = "2001-01-01", delay: str | None = None,
             marker: str = "test", label: str = "TEST_E1") -> str:
    delay_el = f"<xnat:delay>{delay}</xnat:delay>" if delay is not None else ""
    return _xml("xnat:MRSession", f'ID="" project="" label="{label}" modality="MRI"',
                f"<xnat:date>{date}</xnat:date>{delay_el}<xnat:subject_ID/>"
                "<xnat:scanner>test</xnat:scanner><xnat:operator>test</xnat:operator>"
                "<xnat:scans>"
                '<xnat:scan ID="1" type="MPRAGE" xsi:type="xnat:mrScanData"><xnat:quality>usable</xnat:quality></xnat:scan>'
                '<xnat:scan ID="2" type="BOLD" xsi:type="xnat:mrScanData"><xnat:quality>usable</xnat:quality></xnat:scan>'
                "</xnat:scans>"
                f"<xnat:coil>{coil}</xnat:coil><xnat:marker>{marker}</xnat:marker>"
                "<xnat:stabilization>test</xnat:stabilization>")


def manual_qc_xml(version: int, label: str = "TEST_E1_R1") -> str:
    v1 = version == 1
    return _xml("xnat:QCManualAssessment", f'ID="" project="" label="{label}"',
                "<xnat:imageSession_ID/>"
                f"<xnat:rater>{'The Radiologist' if v1 else 'Other Radiologist'}</xnat:rater>"
                f"<xnat:incidentalFindings>{'there are some legions' if v1 else 'there are some lesions'}"
                "</xnat:incidentalFindings>"
                "<xnat:scans>"
                '<xnat:scan xsi:type="xnat:mrQcScanData"><xnat:imageScan_ID>4</xnat:imageScan_ID>'
                "<xnat:coverage>all</xnat:coverage><xnat:comments>hello world</xnat:comments>"
                f"<xnat:pass>{1 if v1 else 0}</xnat:pass><xnat:wrap>lots of wrap</xnat:wrap>"
                "<xnat:susceptibility>4</xnat:susceptibility></xnat:scan>"
                '<xnat:scan xsi:type="xnat:mrQcScanData"><xnat:imageScan_ID>5</xnat:imageScan_ID>'
                "<xnat:coverage>all</xnat:coverage><xnat:comments>steak</xnat:comments>"
                "<xnat:pass>1</xnat:pass></xnat:scan>"
                "</xnat:scans>"
                "<xnat:comments>This is a test comment</xnat:comments>"
                f"<xnat:pass>{1 if v1 else 0}</xnat:pass><xnat:payable>{1 if v1 else 0}</xnat:payable>")


# --------------------------------------------------------------------------- scans

def test_scan_properties_update_with_and_without_xsitype(http, project):
    """Scan PUT: no params -> 200; note via plain key, with/without xsiType, and via
    ``xnat:imageScanData/note`` or ``xnat:mrScanData/note`` xpaths -> 200 and stored;
    a different xsiType on an existing scan -> 409 "Specified xsiType differs from
    existing xsiType" and nothing changes.

    Ports NrgXnat/xnat-rest-tests:src/test/java/org/nrg/testing/xnat/tests/TestArchive.testSetScanProperties
    (added in 1.8.6); reference xnat-rest.md §4 (scan row: PUT with only ``note=`` -> 200; 409 message).
    """
    new_subject(http, project, "S1")
    new_session(http, project, "S1", "MR1", date="2001-01-01")
    session_url = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    new_scan(http, session_url, "1", series_description="localizer", quality="usable")
    scan_url = f"{session_url}/scans/1"

    expect(http.put(scan_url), 200)
    [scan] = scans_of(http, session_url)
    assert scan["ID"] == "1"
    assert scan["series_description"] == "localizer"
    assert scan["note"] == ""  # Java: assertNull(note); listings render null as ""

    expect(http.put(scan_url, params={"xsiType": "xnat:mrScanData", "note": "This is note 1"}), 200)
    assert scans_of(http, session_url)[0]["note"] == "This is note 1"

    expect(http.put(scan_url, params={"note": "This is note 2"}), 200)
    assert scans_of(http, session_url)[0]["note"] == "This is note 2"

    r = http.put(scan_url, params={"xsiType": "xnat:petScanData",
                                   "note": "It would be bad if this was ever set"})
    expect(r, 409)
    assert "Specified xsiType differs from existing xsiType" in r.text
    assert scans_of(http, session_url)[0]["note"] == "This is note 2"

    expect(http.put(scan_url, params={"xnat:imageScanData/note": "This is note 3"}), 200)
    assert scans_of(http, session_url)[0]["note"] == "This is note 3"

    expect(http.put(scan_url, params={"xnat:mrScanData/note": "This is note 4"}), 200)
    assert scans_of(http, session_url)[0]["note"] == "This is note 4"


def test_scan_xpath_of_other_modality_is_silently_ignored(http, project):
    """PUT ``xnat:ctScanData/note=test`` on an MR scan -> 200 ("silently failing",
    XNAT-7176): the scan stays ``xnat:mrScanData`` and its note stays empty.

    Ports NrgXnat/xnat-rest-tests:.../TestScans.testImplicitScanTypeChangeValidation (1.8.6+).
    The Java test creates the scan by DICOM import; here it is created by REST.
    """
    new_subject(http, project, "S1")
    new_session(http, project, "S1", "MR1")
    session_url = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    new_scan(http, session_url, "1")
    assert scans_of(http, session_url)[0]["xsiType"] == "xnat:mrScanData"

    expect(http.put(f"{session_url}/scans/1", params={"xnat:ctScanData/note": "test"}), 200)
    [scan] = scans_of(http, session_url)
    assert scan["xsiType"] == "xnat:mrScanData"
    assert scan["note"] == ""


def test_fix_scan_types_copies_type_from_same_series_description(http, project):
    """``PUT {session}?fixScanTypes=true`` -> 200 and every scan of the session whose
    series description was labelled elsewhere in the project gets that type
    (``localizer`` scans of MR1 become ``MAPPED`` because MR2's ``localizer`` is ``MAPPED``).

    Ports NrgXnat/xnat-rest-tests:.../TestArchive.testFixScanTypes; reference §4 lists
    ``fixScanTypes`` only as an accepted action (200 + ID) without its effect.
    """
    new_subject(http, project, "S1")
    new_session(http, project, "S1", "MR1", date="2001-01-01")
    mr1 = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    new_scan(http, mr1, "1", series_description="localizer", quality="usable")
    new_scan(http, mr1, "2", series_description="localizer", quality="questionable")
    for scan_id in ("1", "2"):
        expect(http.put(f"{mr1}/scans/{scan_id}/resources/DICOM", params={"format": "DICOM"}), 200)
    new_session(http, project, "S1", "MR2", date="2001-01-02")
    mr2 = f"/data/projects/{project}/subjects/S1/experiments/MR2"
    new_scan(http, mr2, "1", series_description="localizer", type="MAPPED", quality="usable")

    expect(http.put(mr1, params={"fixScanTypes": "true"}), 200)

    scans = rows(http.get(f"{mr1}/scans", params={"format": "json"}))
    assert len(scans) == 2
    assert [s["type"] for s in scans] == ["MAPPED", "MAPPED"]


# --------------------------------------------------------------------------- subjects

def test_subject_put_query_string_fields(http, project):
    """PUT a new subject with shortcut query params (``req_format=qs``) -> 201; its XML
    carries group/src attributes, investigator and demographics.

    Ports NrgXnat/xnat-rest-tests:.../TestSubjectResources.testSubjectResourceQueryCRUD
    (expected document: src/test/resources/data/qs_subject_v1.xml); reference §3.2 shortcuts, §4, §6.
    """
    r = http.put(f"/data/projects/{project}/subjects/1", params={
        "format": "xml", "req_format": "qs", "group": "control", "src": "12",
        "pi_firstname": "Tim", "pi_lastname": "Olsen", "dob": "2000-01-01",
        "gender": "male", "handedness": "left"})
    expect(r, 201)

    root = xml_of(http.get(f"/data/projects/{project}/subjects/1", params={"format": "xml"}))
    assert root.tag == f"{{{XNAT_NS}}}Subject"
    assert root.get("label") == "1"
    assert root.get("group") == "control"
    assert root.get("src") == "12"
    assert root.get("project") == project
    assert text_of(root, "xnat:investigator/xnat:firstname") == "Tim"
    assert text_of(root, "xnat:investigator/xnat:lastname") == "Olsen"
    demo = root.find("xnat:demographics", NS)
    assert demo is not None and demo.get(f"{{{XSI_NS}}}type") == "xnat:demographicData"
    assert text_of(demo, "xnat:dob") == "2000-01-01"
    assert text_of(demo, "xnat:gender") == "male"
    assert text_of(demo, "xnat:handedness") == "left"


def test_subject_xml_crud_and_allow_data_deletion(http, project):
    """Subject XML lifecycle: listing (html) works with no subjects; POST XML to
    ``/projects/P/subjects`` -> 200 with the new subject's URL as body; PUT a document
    lacking ``education`` keeps it unless ``allowDataDeletion=true``; a document adding
    weight/height stores ``12.0``; DELETE -> 200 then GET -> 404.

    Ports NrgXnat/xnat-rest-tests:.../TestSubjectResources.testSubjectResourceXMLCrud
    (docs test_subject_v1/v2/v3.xml; XML creation = grxnat:SubjectXMLPutExtension, POST,
    asserts 200); reference §4 (XML documents, allowDataDeletion).
    """
    subjects = f"/data/projects/{project}/subjects"
    expect(http.get(subjects, params={"format": "html"}), 200)

    r = expect(http.post(subjects, params={"format": "xml"}, data=subject_xml(1),
                         headers=XML_HEADERS), 200)
    new_id = r.text.strip().rstrip("/").split("/")[-1]
    listing = rows(http.get(subjects, params={"format": "json"}))
    assert [(s["ID"], s["label"]) for s in listing] == [(new_id, "1")]

    def demographics():
        root = xml_of(http.get(f"{subjects}/1", params={"format": "xml"}))
        assert root.get("group") == "control" and root.get("src") == "12"
        demo = root.find("xnat:demographics", NS)
        return {child.tag.split("}")[1]: child.text for child in demo}

    assert demographics() == {"dob": "1990-01-01", "gender": "male", "handedness": "right",
                              "education": "12", "race": "12", "ethnicity": "12"}
    expect(http.get(subjects, params={"format": "html"}), 200)

    expect(http.put(f"{subjects}/1", params={"format": "xml"}, data=subject_xml(2),
                    headers=XML_HEADERS), 200)
    assert demographics()["education"] == "12"  # not deleted without allowDataDeletion

    expect(http.put(f"{subjects}/1", params={"format": "xml", "allowDataDeletion": "true"},
                    data=subject_xml(2), headers=XML_HEADERS), 200)
    assert "education" not in demographics()

    expect(http.put(f"{subjects}/1", params={"format": "xml"}, data=subject_xml(3),
                    headers=XML_HEADERS), 200)
    demo = demographics()
    assert demo["education"] == "12"
    assert demo["weight"] == "12.0" and demo["height"] == "12.0"
    expect(http.get(subjects, params={"format": "html"}), 200)

    expect(http.delete(f"{subjects}/1"), 200)
    expect(http.get(f"{subjects}/1", params={"format": "xml"}), 404)


# --------------------------------------------------------------------------- experiments

@pytest.mark.parametrize("document", [
    pytest.param(expt_xml(date="2001"), id="bad_date"),
    pytest.param(expt_xml(delay="12.5"), id="bad_int"),
    pytest.param(expt_xml(marker="Long string to exceed 255 chars " * 9), id="bad_length"),
])
def test_experiment_xml_validation_errors_are_400(http, project, document):
    """POST an MR session XML to ``/projects/P/subjects/S/experiments`` whose values fail
    schema validation (date ``2001``, integer ``delay`` 12.5, ``marker`` > 255 chars) -> 400.

    Ports NrgXnat/xnat-rest-tests:.../TestSubjAssessmentResources.testDateFormatValidation,
    testIntegerFormatValidation, testLengthValidation (test_expt_bad_*.xml). XNAT source:
    ProjSubExptList.handlePost sets 400 with ``ValidationResults.toFullString()``.
    Not in the reference.
    """
    new_subject(http, project, "1")
    r = http.post(f"/data/projects/{project}/subjects/1/experiments", params={"format": "xml"},
                  data=document, headers=XML_HEADERS)
    expect(r, 400)
    assert rows(http.get(f"/data/projects/{project}/experiments", params={"format": "json"})) == []


def test_experiment_xml_post_to_unknown_subject_is_404(http, project):
    """POST a valid session XML to ``/projects/P/subjects/INVALIDSUBJECT/experiments`` -> 404
    (the subject segment of a listing URL is resolved first; no auto-creation here).

    Ports NrgXnat/xnat-rest-tests:.../TestSubjAssessmentResources.testInvalidSubjectValidation.
    Differs from reference §4, where PUT to ``.../subjects/{S}/experiments/{E}`` auto-creates
    an unknown subject: that is the single-experiment URL, this is the listing URL
    (XNAT ProjSubExptList constructor: "Unable to identify subject").
    """
    r = http.post(f"/data/projects/{project}/subjects/INVALIDSUBJECT/experiments",
                  params={"format": "xml"}, data=expt_xml(), headers=XML_HEADERS)
    expect(r, 404)


def test_experiment_xml_crud(http, project):
    """Session XML lifecycle: POST to the subject's experiments -> 200 with URL body; XML
    round-trips scans/coil; PUT a changed document (coil) to the session URL -> 200;
    listing (html) stays 200; DELETE -> 200; GET -> 404.

    Ports NrgXnat/xnat-rest-tests:.../TestSubjAssessmentResources.testSubjectAssessmentXMLCRUD
    (test_expt_v1/v2.xml; creation = grxnat:SubjectAssessorXMLExtension, POST, 200).
    """
    new_subject(http, project, "1")
    experiments = f"/data/projects/{project}/subjects/1/experiments"
    expect(http.get(experiments, params={"format": "html"}), 200)

    r = expect(http.post(experiments, params={"format": "xml"}, data=expt_xml(),
                         headers=XML_HEADERS), 200)
    new_id = r.text.strip().rstrip("/").split("/")[-1]
    assert r.text.strip().endswith(f"/{new_id}")

    root = xml_of(http.get(f"{experiments}/TEST_E1", params={"format": "xml"}))
    assert root.tag == f"{{{XNAT_NS}}}MRSession"
    assert root.get("ID") == new_id and root.get("label") == "TEST_E1"
    assert root.get("project") == project
    assert text_of(root, "xnat:date") == "2001-01-01"
    assert text_of(root, "xnat:coil") == "test"
    assert text_of(root, "xnat:scanner") == "test"
    scans = root.findall("xnat:scans/xnat:scan", NS)
    assert [(s.get("ID"), s.get("type"), s.get(f"{{{XSI_NS}}}type")) for s in scans] == [
        ("1", "MPRAGE", "xnat:mrScanData"), ("2", "BOLD", "xnat:mrScanData")]

    expect(http.put(f"{experiments}/TEST_E1", params={"format": "xml"},
                    data=expt_xml(coil="test2"), headers=XML_HEADERS), 200)
    expect(http.get(experiments, params={"format": "html"}), 200)
    root = xml_of(http.get(f"{experiments}/TEST_E1", params={"format": "xml"}))
    assert text_of(root, "xnat:coil") == "test2"
    assert text_of(root, "xnat:marker") == "test"

    expect(http.delete(f"{experiments}/TEST_E1", params={"removeFiles": "true"}), 200)
    expect(http.get(experiments, params={"format": "html"}), 200)
    expect(http.get(f"{experiments}/TEST_E1", params={"format": "xml"}), 404)


def test_contextless_experiment_delete(http, project):
    """``DELETE /data/experiments/{assessorID}`` -> 200 and the session has no assessors;
    ``DELETE /data/experiments/{sessionID}`` -> 200 and the subject has no experiments.

    Ports NrgXnat/xnat-rest-tests:.../TestContextlessExperiments.testContextlessExptDelete (1.8.5+).
    """
    new_subject(http, project, "S1")
    session_id = new_session(http, project, "S1", "MR1")
    session_url = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    qc_id = new_assessor(http, session_url, "MR1_QC")

    expect(http.delete(f"/data/experiments/{qc_id}"), 200)
    assert rows(http.get(f"{session_url}/assessors", params={"format": "json"})) == []
    expect(http.delete(f"/data/experiments/{session_id}"), 200)
    assert rows(http.get(f"/data/projects/{project}/subjects/S1/experiments",
                         params={"format": "json"})) == []


# --------------------------------------------------------------------------- assessors

def test_assessor_xml_crud_and_sharing(http, project):
    """Manual-QC assessor XML lifecycle plus sharing through accession-number URLs:
    POST XML to ``.../assessors`` -> 200; PUT v2 -> 200; ``{assessor}/projects`` lists 1
    project; DELETE -> 200, both assessor listings empty and GET -> 404; recreate;
    ``PUT /data/experiments/{S}/assessors/{A}/projects/{P1}`` -> 200 (2 projects);
    ``DELETE`` of that share -> 200 (1 project); DELETE by accession URL -> 200, a second
    DELETE -> 404.

    Ports NrgXnat/xnat-rest-tests:.../TestExptAssessmentResources.testExptAssessmentXmlCrud
    (test_asst_v1/v2.xml; creation = grxnat:SessionAssessorXMLExtension, POST, 200;
    deletion = grxnat:SessionAssessorSubinterface.deleteSessionAssessor, 200).
    """
    project1 = new_project(http)
    expect(http.post(f"/data/projects/{project}/subjects", params={"format": "xml"},
                     data=subject_xml(1), headers=XML_HEADERS), 200)
    r = expect(http.post(f"/data/projects/{project}/subjects/1/experiments",
                         params={"format": "xml"}, data=expt_xml(), headers=XML_HEADERS), 200)
    session_id = r.text.strip().rstrip("/").split("/")[-1]
    assessors = f"/data/projects/{project}/subjects/1/experiments/TEST_E1/assessors"
    by_accession = f"/data/experiments/{session_id}/assessors"

    r = expect(http.post(assessors, params={"format": "xml"}, data=manual_qc_xml(1),
                         headers=XML_HEADERS), 200)
    assessor_id = r.text.strip().rstrip("/").split("/")[-1]
    root = xml_of(http.get(f"{assessors}/TEST_E1_R1", params={"format": "xml"}))
    assert root.tag == f"{{{XNAT_NS}}}QCManualAssessment"
    assert root.get("ID") == assessor_id and root.get("label") == "TEST_E1_R1"
    assert text_of(root, "xnat:imageSession_ID") == session_id
    assert text_of(root, "xnat:rater") == "The Radiologist"
    assert [text_of(s, "xnat:imageScan_ID") for s in root.findall("xnat:scans/xnat:scan", NS)] == ["4", "5"]
    expect(http.get(assessors, params={"format": "html"}), 200)

    expect(http.put(f"{assessors}/TEST_E1_R1", params={"format": "xml"}, data=manual_qc_xml(2),
                    headers=XML_HEADERS), 200)
    expect(http.get(assessors, params={"format": "html"}), 200)
    root = xml_of(http.get(f"{assessors}/TEST_E1_R1", params={"format": "xml"}))
    assert text_of(root, "xnat:rater") == "Other Radiologist"
    assert text_of(root, "xnat:incidentalFindings") == "there are some lesions"

    assert len(rows(http.get(f"{assessors}/TEST_E1_R1/projects", params={"format": "json"}))) == 1

    expect(http.delete(f"{assessors}/TEST_E1_R1"), 200)
    assert rows(http.get(assessors, params={"format": "json"})) == []
    assert rows(http.get(by_accession, params={"format": "json"})) == []
    expect(http.get(f"{assessors}/TEST_E1_R1", params={"format": "xml"}), 404)

    r = expect(http.post(assessors, params={"format": "xml"}, data=manual_qc_xml(1),
                         headers=XML_HEADERS), 200)
    assessor_id = r.text.strip().rstrip("/").split("/")[-1]
    assert len(rows(http.get(by_accession, params={"format": "json"}))) == 1
    expect(http.get(f"{by_accession}/{assessor_id}", params={"format": "xml"}), 200)
    shares = f"{by_accession}/{assessor_id}/projects"
    assert len(rows(http.get(shares, params={"format": "json"}))) == 1

    expect(http.put(f"{shares}/{project1}", params={"format": "xml"}), 200)
    assert len(rows(http.get(shares, params={"format": "json"}))) == 2
    expect(http.delete(f"{shares}/{project1}", params={"format": "json"}), 200)
    assert len(rows(http.get(shares, params={"format": "json"}))) == 1

    expect(http.get(f"{by_accession}/{assessor_id}", params={"format": "xml"}), 200)
    assert len(rows(http.get(by_accession, params={"format": "json"}))) == 1
    expect(http.delete(f"{by_accession}/{assessor_id}", params={"format": "xml"}), 200)
    assert rows(http.get(by_accession, params={"format": "json"})) == []
    expect(http.delete(f"{by_accession}/{assessor_id}", params={"format": "xml"}), 404)


@pytest.mark.parametrize("create_with_timestamp", [True, False], ids=["create", "edit"])
@pytest.mark.parametrize("timestamp", ["2020-01-01 01:02:03", "2020-01-01T01:02:03",
                                       "2020-01-01T01:02:03Z"], ids=["space", "T", "TZ"])
def test_xml_provenance_timestamp_is_normalised(http, project, create_with_timestamp, timestamp):
    """A QC assessor document whose ``prov:timestamp`` is written with a space, a ``T`` or
    ``T...Z`` is accepted by PUT (200 or 201), on creation and on edit, and comes back
    in ``format=xml`` as ``2020-01-01T01:02:03``.

    Ports NrgXnat/xnat-rest-tests:.../TestXmlOddities.testXmlTimestamp{Space,T,TZ}{Create,Edit}
    (1.8.9.1+, XNAT-7869; document qc_with_prov.xml).
    """
    new_subject(http, project, "S1")
    session_id = new_session(http, project, "S1", "MR1")
    session_url = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    label = uid("QC")
    accession = "" if create_with_timestamp else new_assessor(http, session_url, label)
    document = _xml(
        "xnat:QCAssessment", f'ID="{accession}" project="{project}" label="{label}"',
        f"<xnat:imageSession_ID>{session_id}</xnat:imageSession_ID>"
        "<xnat:provenance><prov:processStep>"
        '<prov:program arguments="-s -all" version="">recon-all -all</prov:program>'
        f"<prov:timestamp>{timestamp}</prov:timestamp><prov:cvs/><prov:user>1</prov:user>"
        "<prov:machine>cube</prov:machine><prov:platform>linux</prov:platform>"
        "</prov:processStep></xnat:provenance>",
        extra_ns=f' xmlns:prov="{NS["prov"]}"')
    expect(http.put(f"{session_url}/assessors/{label}", data=document,
                    headers={"Content-Type": "application/xml"}), 200, 201)
    r = expect(http.get(f"{session_url}/assessors/{label}", params={"format": "xml"}), 200)
    assert "2020-01-01T01:02:03" in r.text


# --------------------------------------------------------------------------- custom variables

def test_custom_variable_put_and_list(http, project):
    """Custom field set by query xpath ``xnat:mrSessionData/fields/field[name=test01]/field``
    (PUT -> 200), then replaced by a new value and by a form-encoded PUT body; the
    experiment listing with ``columns=xnat:mrSessionData/fields/field/field,.../name``
    reports it under the lower-cased xpath headers
    ``xnat:mrsessiondata/fields/field/field`` and ``.../name``, old values gone.

    Ports NrgXnat/xnat-rest-tests:.../TestCustomVariables.testCustomVariablePutGet.
    NOTE: that Java class requires a plugin named "bogus", so it is skipped on real
    servers; its expectations agree with reference §3.2 (lower-cased xpath headers,
    ``xnat:mrsessiondata/age``-style) and §4 (form body fields, query overrides).
    """
    new_subject(http, project, "S1", group="control", src="12", dob="2001-01-01",
                gender="male", handedness="left")
    new_session(http, project, "S1", "MR1", date="1999-12-31")
    session_url = f"/data/projects/{project}/subjects/S1/experiments/MR1"
    field = "xnat:mrSessionData/fields/field[name=test01]/field"

    def values() -> set[tuple[str, str]]:
        listing = rows(http.get(f"/data/projects/{project}/subjects/S1/experiments", params={
            "xnat:mrSessionData/label": "MR1", "format": "json",
            "columns": "xnat:mrSessionData/fields/field/field,xnat:mrSessionData/fields/field/name"}))
        return {(row.get("xnat:mrsessiondata/fields/field/field"),
                 row.get("xnat:mrsessiondata/fields/field/name")) for row in listing}

    expect(http.put(session_url, params={field: "12"}), 200)
    assert ("12", "test01") in values()

    expect(http.put(session_url, params={field: "14"}), 200)
    assert ("14", "test01") in values()
    assert ("12", "test01") not in values()

    expect(http.put(session_url, data={field: "15"}), 200)  # application/x-www-form-urlencoded
    assert ("15", "test01") in values()
    assert ("14", "test01") not in values()


# --------------------------------------------------------------------------- projects

def test_project_listing_html(http):
    """``GET /data/projects?format=html`` -> 200.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectResources.testProjectList; reference §1/§3.1 (HTML table).
    """
    r = expect(http.get("/data/projects", params={"format": "html"}), 200)
    assert r.headers["Content-Type"].startswith("text/html")


def test_project_alias_set_by_query_and_usable_in_urls(http):
    """PUT a new project with ``alias=`` (``format=xml&req_format=qs``) -> 200; the project
    is readable as XML by its ID and by its alias.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectResources.testQueryCRUD; reference §7 (aliases).
    """
    pid = uid("P")
    alias = f"{pid}_ALIAS"
    expect(http.put(f"/data/projects/{pid}", params={"format": "xml", "req_format": "qs",
                                                     "alias": alias}), 200)
    root = xml_of(http.get(f"/data/projects/{pid}", params={"format": "xml"}))
    assert root.tag == f"{{{XNAT_NS}}}Project" and root.get("ID") == pid
    root = xml_of(http.get(f"/data/projects/{alias}", params={"format": "xml"}))
    assert root.get("ID") == pid


PROJECT_XML = (
    '<xnat:Project ID="" secondary_ID="" xmlns:xnat="http://nrg.wustl.edu/xnat" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<xnat:name>{name}</xnat:name>"
    "<xnat:description>This is a project created via TestNG tests through the REST API.</xnat:description>"
    "<xnat:keywords>test keywords</xnat:keywords>{protocols}"
    '<xnat:PI ID="2"><xnat:title>Dr.</xnat:title><xnat:firstname>Daniel</xnat:firstname>'
    "<xnat:lastname>Marcus</xnat:lastname><xnat:institution>Washington University</xnat:institution>"
    "<xnat:department>Dept. of Psychology</xnat:department><xnat:email>example@example.com</xnat:email>"
    "</xnat:PI></xnat:Project>")


def test_project_xml_crud(http):
    """Project from an XML document with empty ``ID``: PUT (``format=xml``, text/xml)
    -> 200 and the ID is taken from the URL; PUT of a changed document -> 200; resubmit
    -> 200; DELETE ``?removeFiles=true`` -> 200; GET -> 404.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectResources.testProjectXmlCRUD
    (test_project_v1/v2.xml; grxnat:ProjectXMLPutExtension; deletion = grxnat
    ProjectSubinterface.deleteProject); reference §4 (project PUT, "ID mismatch").
    """
    pid = uid("P")
    v1 = PROJECT_XML.format(name="TEST 1", protocols=(
        '<xnat:studyProtocol name="Subjects" data-type="xnat:subjectData" xsi:type="xnat:datatypeProtocol"/>'
        '<xnat:studyProtocol name="MRs" data-type="xnat:mrSessionData" xsi:type="xnat:datatypeProtocol"/>'))
    v2 = PROJECT_XML.format(name="TEST 1 v2", protocols="")

    def check(name):
        root = xml_of(http.get(f"/data/projects/{pid}", params={"format": "xml"}))
        assert root.get("ID") == pid
        assert text_of(root, "xnat:name") == name
        assert text_of(root, "xnat:keywords") == "test keywords"
        assert text_of(root, "xnat:PI/xnat:firstname") == "Daniel"
        assert text_of(root, "xnat:PI/xnat:lastname") == "Marcus"

    expect(http.put(f"/data/projects/{pid}", params={"format": "xml"}, data=v1,
                    headers={"Content-Type": "application/xml"}), 200)
    check("TEST 1")
    expect(http.put(f"/data/projects/{pid}", params={"format": "xml"}, data=v2,
                    headers={"Content-Type": "application/xml"}), 200)
    check("TEST 1 v2")
    expect(http.put(f"/data/projects/{pid}", params={"format": "xml"}, data=v2,
                    headers={"Content-Type": "application/xml"}), 200)
    check("TEST 1 v2")
    expect(http.delete(f"/data/projects/{pid}", params={"removeFiles": "true"}), 200)
    expect(http.get(f"/data/projects/{pid}", params={"format": "xml"}), 404)


@pytest.mark.parametrize("code", ["4", "0", "11"])
def test_project_prearchive_code_put(http, project, code):
    """``PUT /data/projects/{P}/prearchive_code/{4|0|11}`` -> 200.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectURIs.testPrearchiveConfig; reference §4
    (project setting sub-URLs).
    """
    expect(http.put(f"/data/projects/{project}/prearchive_code/{code}"), 200)


# --------------------------------------------------------------------------- search

def test_search_elements_listing(http):
    """``GET /data/search/elements?format=json`` -> 200 table (ELEMENT_NAME, SINGULAR,
    PLURAL, SECURED, COUNT): ``xnat:mrSessionData`` is "MR Session"/"MR Sessions" and
    ``xnat:investigatorData`` is the only unsecured element by default.

    Ports NrgXnat/xnat-rest-tests:.../search/TestSearch.testElements (singular/plural names
    from grxnat DataType.MR_SESSION); columns from XNAT SearchElementListResource.
    Reference §8 only names ``ELEMENT_NAME``.
    """
    elements = rows(http.get("/data/search/elements", params={"format": "json"}))
    by_name = {e["ELEMENT_NAME"]: e for e in elements}
    mr = by_name["xnat:mrSessionData"]
    assert mr["SINGULAR"] == "MR Session"
    assert mr["PLURAL"] == "MR Sessions"
    unsecured = [e["ELEMENT_NAME"] for e in elements if e["SECURED"] == "false"]
    assert unsecured == ["xnat:investigatorData"]
    assert not any(name.startswith("xdat:") for name in by_name)


MR_SEARCH_XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<xdat:bundle ID="" xmlns:xdat="http://nrg.wustl.edu/security" xmlns:xnat="http://nrg.wustl.edu/xnat" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <xdat:root_element_name>xnat:mrSessionData</xdat:root_element_name>
{fields}
    <xdat:search_where method="AND">
        <xdat:child_set method="OR">
            <xdat:criteria override_value_formatting="0">
                <xdat:schema_field>xnat:mrSessionData.PROJECTS</xdat:schema_field>
                <xdat:comparison_type> LIKE </xdat:comparison_type>
                <xdat:value>%&lt;{project}&gt;%</xdat:value>
            </xdat:criteria>
        </xdat:child_set>
    </xdat:search_where>
</xdat:bundle>"""

_SEARCH_FIELDS = [("xnat:mrSessionData", "LABEL", "string", "Label"),
                  ("xnat:mrSessionData", "PROJECT", "string", "Project"),
                  ("xnat:mrSessionData", "DATE", "date", "Date"),
                  ("xnat:subjectData", "SUBJECT_LABEL", "string", "Subject"),
                  ("xnat:subjectData", "GENDER_TEXT", "string", "M/F"),
                  ("xnat:mrSessionData", "AGE", "float", "Age"),
                  ("xnat:mrSessionData", "TYPE", "string", "Type"),
                  ("xnat:mrSessionData", "SCANNER", "string", "Scanner"),
                  ("xnat:mrSessionData", "MR_SCAN_COUNT_AGG", "string", "Scans")]


def test_cached_search_sorted_by_date(http, project):
    """POST an ``xdat:bundle`` (MR sessions whose PROJECTS contain ``<P>``) to
    ``/data/search?format=json&cache=true&refresh=true`` -> 200 with ``ResultSet.ID``;
    ``GET /data/search/{ID}?format=json&sortBy=date&sortOrder=ASC|DESC`` returns the
    rows ordered by date, identified by their ``session_id`` column.

    Ports NrgXnat/xnat-rest-tests:.../search/TestSearch.testBasicSearch (search/mrSearchXML.xml;
    calls = grxnat:SearchSubinterface.cacheSearch/retrieveCachedSearchResults; row key
    ``session_id`` = grxnat SearchRow.getSessionId). Reference §8 covers only the POST.
    """
    new_subject(http, project, "S1")
    early = new_session(http, project, "S1", "MR_EARLY", date="2012-01-01")
    late = new_session(http, project, "S1", "MR_LATE", date="2015-05-03")
    fields = "\n".join(
        f"    <xdat:search_field><xdat:element_name>{el}</xdat:element_name>"
        f"<xdat:field_ID>{fid}</xdat:field_ID><xdat:sequence>{i}</xdat:sequence>"
        f"<xdat:type>{typ}</xdat:type><xdat:header>{hdr}</xdat:header></xdat:search_field>"
        for i, (el, fid, typ, hdr) in enumerate(_SEARCH_FIELDS))
    body = MR_SEARCH_XML.format(fields=fields, project=project)

    r = expect(http.post("/data/search", params={"format": "json", "cache": "true", "refresh": "true"},
                         data=body, headers={"Content-Type": "application/xml"}), 200)
    search_id = r.json()["ResultSet"]["ID"]
    assert search_id

    def ordered(order):
        result = rows(http.get(f"/data/search/{search_id}", params={
            "format": "json", "sortBy": "date", "sortOrder": order}))
        return [row["session_id"] for row in result]

    assert ordered("ASC") == [early, late]
    assert ordered("DESC") == [late, early]


def test_default_saved_search_can_be_cached_and_read(http):
    """``GET /data/search/saved/@xnat:qcManualAssessorData`` -> 200 (the type's default
    search document); POSTing it to ``/data/search?format=json&cache=true&refresh=true``
    -> 200 with ``ResultSet.ID`` (repeatedly); ``GET /data/search/{ID}?format=json`` lists
    the manual QC's label. Project ID of 32 characters.

    Ports NrgXnat/xnat-rest-tests:.../TestTableNamingLimits.testLongSiteSearch (1.8.4+,
    XNAT-6784). The Java test also uses a 24-letter user name; the site admin is used here.
    """
    pid = new_project(http, "P" + uuid.uuid4().hex[:31])
    new_subject(http, pid, "S1")
    new_session(http, pid, "S1", "MR1")
    session_url = f"/data/projects/{pid}/subjects/S1/experiments/MR1"
    new_assessor(http, session_url, "MR1_MANQC", xsi="xnat:qcManualAssessorData")

    r = expect(http.get("/data/search/saved/@xnat:qcManualAssessorData"), 200)
    search_xml = r.text
    search_id = None
    for _ in range(5):
        r = expect(http.post("/data/search", params={"format": "json", "cache": "true", "refresh": "true"},
                             data=search_xml, headers={"Content-Type": "text/xml"}), 200)
        search_id = r.json()["ResultSet"]["ID"]
    labels = [row.get("label") for row in rows(http.get(f"/data/search/{search_id}",
                                                         params={"format": "json"}))]
    assert "MR1_MANQC" in labels


# --------------------------------------------------------------------------- XAPI schemas

def test_xapi_schemas_list(http):
    """``GET /xapi/schemas`` -> 200 JSON list of more than 10 schema names including
    ``xnat``, ``xdat``, ``assessments`` and ``pipeline/workflow``.

    Ports NrgXnat/xnat-rest-tests:.../TestXapiSchema.testSchemas. Stricter than reference
    §9 ("serving ["xnat"] + xnat.xsd is the minimum" for xnatpy).
    """
    names = expect(http.get("/xapi/schemas"), 200).json()
    assert len(names) > 10
    assert {"xnat", "xdat", "assessments", "pipeline/workflow"} <= set(names)


def test_xapi_every_listed_schema_is_served(http):
    """Every name from ``GET /xapi/schemas`` is served by ``GET /xapi/schemas/{name}``
    (``pipeline/workflow`` = namespace/schema form) -> 200 with an ``<xs:schema`` body.

    Ports NrgXnat/xnat-rest-tests:.../TestXapiSchema.testSchemasSchema (ValidSchemaMatcher
    checks ``contains("<xs:schema")``); reference §9 (xnatpy fetches each, any non-200 raises).
    """
    names = expect(http.get("/xapi/schemas"), 200).json()
    assert len(names) > 10
    for name in names:
        r = expect(http.get(f"/xapi/schemas/{name}"), 200)
        assert "<xs:schema" in r.text, name
