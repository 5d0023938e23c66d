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


def nest_scans(source: etree._Element, cleaned: etree._Element,
               scans: list[tuple[str, bytes]]) -> bool:
    """Put ``scans`` ((scan ID, the scan's exported ``<xnat:scan xsi:type=...>`` XML)),
    cleaned, into ``cleaned`` (the session ``clean`` made of ``source``) as its scans
    collection, where the source document has it: XNAT creates a session's scans from one
    PUT of the session. False (nothing changed) when the source has no scans collection or
    a scan is not in its nested form."""
    children = [c for c in source if isinstance(c.tag, str)]
    wrapper = next((c for c in children if local(c) == "scans"), None)
    if wrapper is None:
        return False
    elements = []
    for scan_id, xml in scans:
        el = clean(parse(xml))
        if local(el) != "scan" or not el.get(f"{{{XSI_NS}}}type"):
            return False
        el.set("ID", scan_id)
        elements.append(el)
    drop = CHILD_COLLECTIONS | CONTEXT_REFERENCES
    before = children[:children.index(wrapper)]
    position = sum(1 for c in before if local(c) not in drop)
    nested = etree.Element(wrapper.tag)
    nested.extend(elements)
    cleaned.insert(position, nested)
    return True


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
