"""ElementNames: a nested-form document (``<xnat:scan xsi:type="xnat:mrScanData">``) is renamed
to its type's global element from the target's own schemas, read as types come: the schema
named by the type's prefix first, the others only when it does not declare the type."""

from __future__ import annotations

import pytest
from lxml import etree

from xnat_container.copy.targets import ElementNames
from xnat_container.xnat.errors import ConnectionFailed, NotFound

XSD = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:{p}="{ns}" '
       'targetNamespace="{ns}"><xs:element name="{element}" type="{p}:{type}"/></xs:schema>')
SCHEMAS = {
    "xnat": XSD.format(p="xnat", ns="http://nrg.wustl.edu/xnat", element="MRScan",
                       type="mrScanData"),
    "fs": XSD.format(p="fs", ns="http://nrg.wustl.edu/fs", element="Freesurfer",
                     type="fsData"),
}


class FakeTarget:
    """Answers /xapi/schemas from SCHEMAS; records what was asked; fails on demand."""

    def __init__(self, listing=("security", "xnat", "fs"), schemas=SCHEMAS):
        self.listing = list(listing)
        self.schemas = schemas
        self.asked: list[str] = []
        self.fail_next = 0

    def get_json(self, path):
        assert path == "/xapi/schemas"
        return self.listing

    def get_bytes(self, path):
        name = path.rsplit("/xapi/schemas/", 1)[1]
        self.asked.append(name)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionFailed("cannot connect", reason="refused")
        if name not in self.schemas:
            raise NotFound(404, "GET", path, "", "no such schema")
        return self.schemas[name].encode()


def _scan():
    return etree.fromstring('<xnat:scan xmlns:xnat="http://nrg.wustl.edu/xnat" '
                            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                            'xsi:type="xnat:mrScanData" ID="1"/>')


def test_the_prefix_schema_is_read_first_and_once():
    target = FakeTarget()
    names = ElementNames(target)
    el = names.as_root(_scan(), "xnat:mrScanData")
    assert el.tag == "{http://nrg.wustl.edu/xnat}MRScan"
    assert "{http://www.w3.org/2001/XMLSchema-instance}type" not in el.attrib
    names.as_root(_scan(), "xnat:mrScanData")
    assert target.asked == ["xnat"]


def test_other_schemas_only_for_a_type_the_prefix_schema_lacks():
    target = FakeTarget(listing=("security", "xnat", "freesurfer"),
                        schemas={"xnat": SCHEMAS["xnat"], "freesurfer": SCHEMAS["fs"]})
    names = ElementNames(target)
    names.as_root(_scan(), "xnat:mrScanData")
    el = etree.fromstring('<xnat:assessor xmlns:xnat="http://nrg.wustl.edu/xnat"/>')
    assert names.as_root(el, "fs:fsData").tag == "{http://nrg.wustl.edu/fs}Freesurfer"
    assert target.asked == ["xnat", "security", "freesurfer"]
    unknown = etree.fromstring('<xnat:assessor xmlns:xnat="http://nrg.wustl.edu/xnat"/>')
    assert names.as_root(unknown, "zz:nothing").tag == unknown.tag     # left as it was
    assert target.asked == ["xnat", "security", "freesurfer"]          # nothing left to read


def test_a_connection_failure_keeps_the_schema_to_read_again():
    target = FakeTarget()
    target.fail_next = 1
    names = ElementNames(target)
    with pytest.raises(ConnectionFailed):
        names.as_root(_scan(), "xnat:mrScanData")
    assert names.as_root(_scan(), "xnat:mrScanData").tag == "{http://nrg.wustl.edu/xnat}MRScan"
    assert target.asked == ["xnat", "xnat"]
