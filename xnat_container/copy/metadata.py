"""Object XML for copying: strip what is site-specific, keep every field.

XNAT exports an object with its accession ID, owning project, nested child collections and
catalog references. The copy sends each object on its own, so those are removed; references
to other objects' accession IDs that the URL does not set are remapped to the target's IDs
(copy-peers.md §10 "Object XML"). Everything else (fields, custom fields, demographics, scan
parameters, plugin types' elements) is kept as the source has it: no attribute lists.
"""

from __future__ import annotations

import re

from lxml import etree

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)

# Children held as objects of their own, or server-side state.
CHILD_COLLECTIONS = {"experiments", "scans", "assessors", "resources", "reconstructions",
                     "in", "out", "sharing", "prearchivePath", "file"}
# References the target sets itself from the URL it is written to.
CONTEXT_REFERENCES = {"subject_ID", "image_session_ID", "imageSession_ID"}
# A project's identity on its site (ID, secondary ID, name, aliases must be unique there):
# the target project keeps its own.
PROJECT_SITE_FIELDS = {"aliases", "name"}
ACCESSION_RE = re.compile(r"^[A-Za-z0-9]+_[SE]\d{5,}$")


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, _PARSER)


def local(el) -> str:
    return etree.QName(el).localname


def clean(element: etree._Element, *, project_level: bool = False) -> etree._Element:
    """A copy of ``element`` without IDs, owner, child collections or context references."""
    el = etree.fromstring(etree.tostring(element), _PARSER)
    for attr in ("ID", "project", f"{{{XSI_NS}}}schemaLocation"):
        el.attrib.pop(attr, None)
    if project_level:
        el.attrib.pop("secondary_ID", None)
    drop = CHILD_COLLECTIONS | CONTEXT_REFERENCES | (PROJECT_SITE_FIELDS if project_level else set())
    for child in list(el):
        if not isinstance(child.tag, str) or local(child) in drop:
            el.remove(child)
    return el


def remap_ids(el: etree._Element, id_map: dict[str, str]) -> list[str]:
    """Replace source accession IDs in texts and attributes by target IDs.

    Plugin types keep references to other objects in fields of their own (XSync needs a
    transformer per type for this); any value that is exactly a known source accession ID is
    one. Returns the values that look like accession IDs but are unknown (left unchanged).
    """
    unknown = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        if node.text and ACCESSION_RE.match(node.text.strip()):
            value = node.text.strip()
            if value in id_map:
                node.text = id_map[value]
            else:
                unknown.append(value)
        for key, value in node.attrib.items():
            if ACCESSION_RE.match(value):
                if value in id_map:
                    node.set(key, id_map[value])
                else:
                    unknown.append(value)
    return unknown


def comparable(xml: bytes | etree._Element, *, project_level: bool = False) -> bytes:
    """Canonical bytes of the cleaned document: equal iff the metadata is the same."""
    el = parse(xml) if isinstance(xml, bytes) else xml
    cleaned = clean(el, project_level=project_level)
    for node in cleaned.iter():
        if isinstance(node.tag, str) and ACCESSION_RE.match((node.text or "").strip()):
            node.text = "ACCESSION"
        for key, value in list(node.attrib.items()) if isinstance(node.tag, str) else []:
            if ACCESSION_RE.match(value):
                node.set(key, "ACCESSION")
    return etree.tostring(cleaned, method="c14n", exclusive=True)


def to_bytes(el: etree._Element) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="UTF-8")
