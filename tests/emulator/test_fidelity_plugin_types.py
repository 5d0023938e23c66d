"""Fidelity: plugin data types. XNAT knows the data types of its own schemas and of its
installed plugins, nothing else; the emulator's are its XSD's plus ``--data-type`` ones.

What real XNAT does with a type it lacks (sources read for this file):

* ``?xsiType=`` naming an unknown type: ``SecureResource.loadItem`` (NrgXnat/xnat-web
  ``src/main/java/org/nrg/xnat/restlet/resources/SecureResource.java`` @15bb6aa) catches XFT's
  ``ElementNotFoundException`` as ``ClientException(CLIENT_ERROR_BAD_REQUEST)``: **400**
  (xnat-rest.md §4).
* an XML document whose root element (or a nested item's ``xsi:type``) is unknown: XFT's
  ``SAXReader.startElement`` (NrgXnat/xnat ``libs/xdat/src/main/java/org/nrg/xft/schema/
  Wrappers/XMLWrapper/SAXReader.java``, read in its copy danielmarcus/xnat-monorepo@5998106)
  calls ``GenericWrapperElement.GetElement(localName, uri)``, which throws
  ``ElementNotFoundException`` for a type XFT lacks, and answers
  ``throw new SAXException("Invalid Element '" + uri + ":" + localName + "'")``;
  ``loadItem`` catches that SAXException as ``ClientException(CLIENT_ERROR_UNPROCESSABLE_ENTITY,
  e)``: **422**. The restlets (``SubjAssessmentResource.handlePut``,
  ``ScanResource.handlePut``) end with ``catch (ActionException e) {
  setStatus(e.getStatus(), e.getMessage()) }``; ``ActionException(Status, Throwable)`` is
  ``Exception(cause)`` (scchess/Xnat ``src/main/java/org/nrg/action/ActionException.java``),
  so the message is the cause's ``toString()``:
  ``org.xml.sax.SAXException: Invalid Element '{namespace}:{localName}'``. Nothing is saved:
  the parse fails before any item exists.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from xnat_emulator.cli import config_from_args, main, parse_args
from xnat_emulator.items import Documents
from xnat_emulator.testing import EmulatorProcess

FS = "fs:fsData=xnat:imageAssessorData"
FS_XML = ('<?xml version="1.0" encoding="UTF-8"?>'
          '<fs:fsData xmlns:fs="http://nrg.wustl.edu/fs" xmlns:xnat="http://nrg.wustl.edu/xnat"'
          ' label="{label}"><xnat:date>2024-01-01</xnat:date><fs:measures><fs:volumetric>'
          '<fs:ICV>1500000</fs:ICV></fs:volumetric></fs:measures></fs:fsData>')
SESSION_WITH_SCAN = ('<xnat:MRSession label="{label}" xmlns:xnat="http://nrg.wustl.edu/xnat" '
                     'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><xnat:scans>'
                     '<xnat:scan ID="1" type="T1" xsi:type="{scan_type}"/></xnat:scans>'
                     '</xnat:MRSession>')
XML = {"Content-Type": "text/xml"}


def _rows(http, path: str, **params) -> list[dict]:
    r = http.get(path, params={"format": "json", **params})
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return r.json()["ResultSet"]["Result"]


def _elements(http) -> set[str]:
    return {row["ELEMENT_NAME"] for row in _rows(http, "/data/search/elements")}


def _session(http, project: str, label: str = "MR1") -> str:
    e = f"/data/projects/{project}/subjects/S1/experiments/{label}"
    assert http.put(e, params={"xsiType": "xnat:mrSessionData"}).status_code == 201
    return e


# -- a site without the plugin ------------------------------------------------------------------

def test_document_of_unknown_type_refused_with_422(http, project):
    """An XML document whose root is a type the site lacks (fs:fsData, FreeSurfer plugin not
    installed) -> 422 ``org.xml.sax.SAXException: Invalid Element
    'http://nrg.wustl.edu/fs:fsData'`` (SAXReader.startElement + SecureResource.loadItem, see
    the module docstring), as an assessor and as an experiment; nothing is created."""
    e = _session(http, project)
    for url in (f"{e}/assessors/FS1", f"/data/projects/{project}/subjects/S1/experiments/FS1"):
        r = http.put(url, data=FS_XML.format(label="FS1"), headers=XML)
        assert r.status_code == 422, (url, r.status_code, r.text[:300])
        assert r.text.startswith("<html>")
        assert ("<h3>org.xml.sax.SAXException: Invalid Element 'http://nrg.wustl.edu/fs:fsData'"
                "</h3>") in r.text
    assert _rows(http, f"{e}/assessors") == []
    assert [row["label"] for row in _rows(http, f"/data/projects/{project}/experiments")] \
        == ["MR1"]
    assert "fs:fsData" not in _elements(http)


def test_unknown_xsi_type_query_refused_with_400(http, project):
    """xnat-rest.md §4: "Unknown `xsiType` -> ElementNotFoundException -> 400", also for a
    plugin's type the site does not have."""
    e = _session(http, project)
    r = http.put(f"{e}/assessors/FS1", params={"xsiType": "fs:fsData"})
    assert r.status_code == 400, r.text[:300]
    assert _rows(http, f"{e}/assessors") == []


def test_nested_scan_of_unknown_type_refuses_the_whole_document(http, project):
    """A session document with a scan of an unknown ``xsi:type``: SAXReader fails on the
    nested reference (``Invalid Element '{uri}:{localName}'`` of the scan element) before any
    item exists -> 422, and neither the session nor the scan is saved."""
    url = f"/data/projects/{project}/subjects/S1/experiments/MRX"
    r = http.put(url, data=SESSION_WITH_SCAN.format(label="MRX", scan_type="foo:barScanData"),
                 headers=XML)
    assert r.status_code == 422, r.text[:300]
    assert "Invalid Element 'http://nrg.wustl.edu/xnat:scan'" in r.text
    assert http.get(url, params={"format": "xml"}).status_code == 404


# -- a site with the plugin ---------------------------------------------------------------------

def test_installed_plugin_type_accepted_and_listed(make_emulator):
    """With the plugin installed (``data_types``): fs:fsData is listed by
    ``/data/search/elements`` (where xnat_container checks a target's types) and has fields;
    a document of it is stored (201) and listed with its type; ``?xsiType=fs:fsData`` alone
    (any case) creates one whose XML reads back as fs:fsData; a plugin scan type named
    ``...ScanData`` needs no base (it is a scan)."""
    emu = make_emulator(data_types=(FS, "mri:fancyScanData"))
    with emu.http() as http:
        assert http.put("/data/projects/PL").status_code == 200
        e = _session(http, "PL")
        assert {"fs:fsData", "mri:fancyScanData"} <= _elements(http)
        assert http.get("/data/search/elements/fs:fsData",
                        params={"format": "json"}).status_code == 200
        r = http.put(f"{e}/assessors/FS1", data=FS_XML.format(label="FS1"), headers=XML)
        assert r.status_code == 201, r.text[:300]
        r = http.put(f"{e}/assessors/FS2", params={"xsiType": "FS:FSDATA"})
        assert r.status_code == 201, r.text[:300]
        doc = http.get(f"{e}/assessors/FS2", params={"format": "xml"}).text
        assert "<fs:fsData " in doc
        assert [(a["label"], a["xsiType"]) for a in _rows(http, f"{e}/assessors")] \
            == [("FS1", "fs:fsData"), ("FS2", "fs:fsData")]
        url = "/data/projects/PL/subjects/S1/experiments/MR2"
        r = http.put(url, data=SESSION_WITH_SCAN.format(label="MR2", scan_type="mri:fancyScanData"),
                     headers=XML)
        assert r.status_code == 201, r.text[:300]
        assert [(s["ID"], s["xsiType"]) for s in _rows(http, f"{url}/scans")] \
            == [("1", "mri:fancyScanData")]


PLUGIN_SESSION = ('<mri:fancySessionData label="{label}" xmlns:mri="http://nrg.wustl.edu/mri" '
                  'xmlns:xnat="http://nrg.wustl.edu/xnat" '
                  'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{inner}'
                  '</mri:fancySessionData>')


def test_plugin_document_nested_types_judged_unless_its_own(make_emulator):
    """In a plugin session's document a nested item of a type the site lacks (here another
    prefix's scan) fails SAXReader as in any document: 422, nothing saved. Nested types of
    the plugin's own prefix are its schema's (installed with it, unknown to the emulator)."""
    emu = make_emulator(data_types=("mri:fancySessionData",))
    with emu.http() as http:
        assert http.put("/data/projects/PN").status_code == 200
        url = "/data/projects/PN/subjects/S1/experiments/{}"
        foreign = ('<xnat:scans><xnat:scan ID="1" type="T1" xsi:type="foo:barScanData"/>'
                   '</xnat:scans>')
        r = http.put(url.format("F1"), data=PLUGIN_SESSION.format(label="F1", inner=foreign),
                     headers=XML)
        assert r.status_code == 422, r.text[:300]
        assert "Invalid Element 'http://nrg.wustl.edu/xnat:scan'" in r.text
        assert http.get(url.format("F1"), params={"format": "xml"}).status_code == 404
        own = '<mri:extra xsi:type="mri:extraData" level="2"/>'
        r = http.put(url.format("F2"), data=PLUGIN_SESSION.format(label="F2", inner=own),
                     headers=XML)
        assert r.status_code == 201, r.text[:300]
        assert 'level="2"' in http.get(url.format("F2"), params={"format": "xml"}).text


def test_plugin_objects_survive_restart_and_need_their_plugin(tmp_path):
    """An fs:fsData assessor and a plugin-typed scan are served alike after a restart with the
    same ``--data-type`` settings. Started without them, the emulator refuses to start (exit
    2, the missing types named): its archive holds objects of a plugin it lacks."""
    data = tmp_path / "data"
    emu = EmulatorProcess(data, "--data-type", FS, "--data-type", "mri:fancyScanData")
    try:
        with emu.http() as http:
            assert http.put("/data/projects/PL").status_code == 200
            e = _session(http, "PL")
            assert http.put(f"{e}/assessors/FS1", data=FS_XML.format(label="FS1"),
                            headers=XML).status_code == 201
            url = "/data/projects/PL/subjects/S1/experiments/MR2"
            assert http.put(url, data=SESSION_WITH_SCAN.format(
                label="MR2", scan_type="mri:fancyScanData"), headers=XML).status_code == 201
            before = [http.get(u, params={"format": "xml"}).content
                      for u in (f"{e}/assessors/FS1", url, f"{url}/scans/1")]
        emu.restart()
        with emu.http() as http:
            assert [http.get(u, params={"format": "xml"}).content
                    for u in (f"{e}/assessors/FS1", url, f"{url}/scans/1")] == before
            assert {"fs:fsData", "mri:fancyScanData"} <= _elements(http)
    finally:
        emu.stop()
    proc = subprocess.run([sys.executable, "-m", "xnat_emulator", "--port", "0",
                           "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "fs:fsData, mri:fancyScanData" in proc.stderr and "--data-type" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- the setting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["fsData", "fs:", "fs:fsData", "fs:fsData=xnat:noSuchData",
                                  "xnat:mrSessionData"])
def test_bad_data_type_settings_refused(spec):
    """A type without a prefix, without a base that its name does not tell, with an unknown
    base, or one the XSD already has is a setting error, not a silent guess."""
    with pytest.raises(ValueError):
        Documents().install_plugin_type(spec)


def test_cli_data_type_and_keep_alive_flags(tmp_path, capsys):
    """``--data-type`` repeats; ``--keep-alive-timeout`` sets the idle timeout (default 20 s,
    Tomcat's keepAliveTimeout = connectionTimeout in XNAT's server.xml); a bad type stops the
    start with exit 2 and one line."""
    config = config_from_args(parse_args(["--data-dir", str(tmp_path), "--data-type", FS,
                                          "--data-type", "mri:fancyScanData",
                                          "--keep-alive-timeout", "5"]))
    assert config.data_types == (FS, "mri:fancyScanData") and config.keep_alive_timeout == 5
    assert config_from_args(parse_args(["--data-dir", str(tmp_path)])).keep_alive_timeout == 20
    assert main(["--data-dir", str(tmp_path / "d"), "--port", "0", "--data-type", "fs:fsData"]) \
        == 2
    assert "fs:fsData=xnat:imageAssessorData" in capsys.readouterr().err
