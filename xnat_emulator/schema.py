"""XNAT's data model as the emulator needs it, read from the XSD it serves.

The emulator serves ``schemas/xnat.xsd`` at ``/xapi/schemas/xnat`` (xnatpy builds its classes from
it, pyxnat lists attribute paths from it) and reads the same file here, so that what clients are told
and what the server does cannot drift apart. From the file this module answers:

* which data types exist, their canonical spelling and root element name (``xsiType`` parameters,
  ``/data/search/elements``, the root of ``?format=xml`` documents);
* inheritance (``xsiType=xnat:imageSessionData`` selects MR, PET, CT... sessions);
* child elements in schema order and attributes (XML/JSON documents are written in that order);
* field value types (a ``xs:float`` field set to ``42`` reads back ``42.0``);
* where a client's field path (``xnat:mrSessionData/age``, ``scanner/model``,
  ``fields/field[name=x]/field``) lands in a document (:meth:`Schema.resolve`).

Names of types: named types are ``xnat:<name>`` (``prov:process`` / ``prov:processStep`` for
provenance, see ``_PROV_XSD``). Anonymous complex types (``scanner``, ``parameters``,
``sharing/share``...) get a synthetic name ``<owner type>/<element path>``, e.g.
``xnat:imageSessionData/scanner`` or ``xnat:mrScanData/parameters/voxelRes``: it contains a ``/``,
it is accepted by :meth:`Schema.children`, :meth:`Schema.attributes` and
:meth:`Schema.simple_content`, but it is not a data type (:meth:`Schema.has_type` is false) and
must never be written out as an ``xsi:type``.

Lookups of type names, element names and path steps are case-insensitive (XNAT's own element
lookup is forgiving about case); every answer uses the schema's canonical spelling.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XS_NS = "http://www.w3.org/2001/XMLSchema"
XNAT_NS = "http://nrg.wustl.edu/xnat"
PROV_NS = "http://www.nbirn.net/prov"
XSD_PATH = Path(__file__).resolve().parent / "schemas" / "xnat.xsd"

_PREFIXES = {XS_NS: "xs", XNAT_NS: "xnat", PROV_NS: "prov"}
_XS = f"{{{XS_NS}}}"

# xnat.xsd types provenance elements as prov:process (XNAT's birnprov.xsd), a schema the emulator
# does not serve. Its small structure is described here so that paths such as
# "provenance/processStep/program" resolve; the fields are the ones pyxnat writes and reads
# (pyxnat/core/provenance.py: process_step_xml, Provenance.get).
_PROV_XSD = b"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:prov="http://www.nbirn.net/prov"
           targetNamespace="http://www.nbirn.net/prov" elementFormDefault="qualified">
  <xs:complexType name="process">
    <xs:sequence>
      <xs:element name="processStep" type="prov:processStep" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="processStep">
    <xs:sequence>
      <xs:element name="program">
        <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
          <xs:attribute name="version" type="xs:string"/>
          <xs:attribute name="arguments" type="xs:string"/>
        </xs:extension></xs:simpleContent></xs:complexType>
      </xs:element>
      <xs:element name="timestamp" type="xs:dateTime"/>
      <xs:element name="cvs" type="xs:string" minOccurs="0"/>
      <xs:element name="user" type="xs:string"/>
      <xs:element name="machine" type="xs:string"/>
      <xs:element name="platform">
        <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
          <xs:attribute name="version" type="xs:string"/>
        </xs:extension></xs:simpleContent></xs:complexType>
      </xs:element>
      <xs:element name="compiler" minOccurs="0">
        <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
          <xs:attribute name="version" type="xs:string"/>
        </xs:extension></xs:simpleContent></xs:complexType>
      </xs:element>
      <xs:element name="library" minOccurs="0" maxOccurs="unbounded">
        <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
          <xs:attribute name="version" type="xs:string"/>
        </xs:extension></xs:simpleContent></xs:complexType>
      </xs:element>
    </xs:sequence>
  </xs:complexType>
</xs:schema>
"""


@dataclass(frozen=True)
class Child:
    """One child element of a complex type, in schema order."""

    name: str  # local name, e.g. "demographics", "scans", "field"
    type: str  # "xnat:abstractDemographicData" / synthetic "owner/path" for complex, "xs:float"... for simple
    multiple: bool  # maxOccurs > 1 or unbounded (on the element or an enclosing sequence/choice)


@dataclass(frozen=True)
class Attr:
    """One XML attribute of a complex type."""

    name: str
    type: str  # "xs:string", "xs:float", ...


@dataclass(frozen=True)
class Step:
    """One step of a resolved field path.

    ``xsi_type`` is the complex type the step enters: the declared type of a complex element, the
    more specific type given by an ``[@xsi:type=...]`` predicate, or a synthetic anonymous-type
    name; ``None`` for attributes and simple elements. ``predicate`` is a selector among repeated
    elements, e.g. ``("name", "myfield")`` for ``field[name=myfield]``.
    """

    name: str
    kind: str  # "element" or "attribute"
    xsi_type: str | None
    predicate: tuple[str, str] | None = None


@dataclass(frozen=True)
class FieldPath:
    """A client field path resolved against the schema.

    ``leaf_type`` is the ``xs:`` type of the value the path designates (the simple content type
    when it ends on an element with text plus attributes, e.g. ``scanner``). When a path ends on
    an element with element content (``demographics``, ``parameters/voxelRes``) it designates no
    value and ``leaf_type`` is that element's complex type name instead (it does not start with
    ``xs:``).
    """

    steps: tuple[Step, ...]
    leaf_type: str


@dataclass
class _TypeDef:
    name: str
    base: str | None = None
    children: list[Child] = field(default_factory=list)  # own, schema order
    attributes: list[Attr] = field(default_factory=list)  # own
    simple: str | None = None  # xs: type of the text content, for simpleContent types


class Schema:
    """Read-only view of the types in ``xnat.xsd`` (plus the provenance types), see module doc."""

    def __init__(self, xsd: bytes, extra_xsds: tuple[bytes, ...] = (_PROV_XSD,)):
        self._types: dict[str, _TypeDef] = {}  # canonical or synthetic name -> definition
        self._named: list[str] = []  # named complex types, document order
        self._elements: dict[str, str] = {}  # "xnat:MRSession" -> "xnat:mrSessionData", doc order
        for text in (xsd, *extra_xsds):
            self._read_schema(etree.fromstring(text))
        self._lookup: dict[str, str] = {}  # lower-case type or element name -> canonical type
        for name in self._named:
            self._lookup[name.lower()] = name
        for element, type_name in self._elements.items():
            if self._lookup.setdefault(element.lower(), type_name) != type_name:
                raise ValueError(f"element {element} clashes with another name")
        self._check_references()

    # ----------------------------------------------------------------- reading the XSD
    def _read_schema(self, root: etree._Element) -> None:
        prefix = _PREFIXES[root.get("targetNamespace")]
        for node in root:
            if node.tag == _XS + "element":
                self._elements[f"{prefix}:{node.get('name')}"] = self._qualify(node.get("type"), node)
            elif node.tag == _XS + "complexType":
                name = f"{prefix}:{node.get('name')}"
                self._named.append(name)
                self._read_complex(node, name)
            elif node.tag == _XS + "simpleType":
                raise ValueError("named simple types are not supported; use xs: types inline")

    def _read_complex(self, node: etree._Element, name: str) -> None:
        tdef = self._types[name] = _TypeDef(name)
        content = node
        for wrapper in ("complexContent", "simpleContent"):
            inner = node.find(_XS + wrapper)
            if inner is None:
                continue
            derivation = inner.find(_XS + "extension")
            if derivation is None:
                derivation = inner.find(_XS + "restriction")
            base = self._qualify(derivation.get("base"), derivation)
            if wrapper == "complexContent":
                tdef.base = base
            else:
                tdef.simple = base
            content = derivation
        self._read_particles(content, tdef, multiple=False)
        for attr in content.findall(_XS + "attribute"):
            tdef.attributes.append(Attr(attr.get("name"), self._simple_type_of(attr)))

    def _read_particles(self, node: etree._Element, tdef: _TypeDef, multiple: bool) -> None:
        for item in node:
            if item.tag == _XS + "element":
                many = multiple or _is_many(item)
                tdef.children.append(Child(item.get("name"), self._element_type(item, tdef), many))
            elif item.tag in (_XS + "sequence", _XS + "choice", _XS + "all"):
                self._read_particles(item, tdef, multiple or _is_many(item))

    def _element_type(self, element: etree._Element, owner: _TypeDef) -> str:
        if element.get("type"):
            return self._qualify(element.get("type"), element)
        inline = element.find(_XS + "complexType")
        if inline is not None:
            synthetic = f"{owner.name}/{element.get('name')}"
            self._read_complex(inline, synthetic)
            return synthetic
        return self._simple_type_of(element)

    def _simple_type_of(self, node: etree._Element) -> str:
        """xs: type of an attribute or simple element (inline restrictions count as their base)."""
        if node.get("type"):
            return self._qualify(node.get("type"), node)
        restriction = node.find(f"{_XS}simpleType/{_XS}restriction")
        if restriction is not None:
            return self._qualify(restriction.get("base"), restriction)
        return "xs:string"  # untyped (xs:anyType / anySimpleType): XNAT stores such values as text

    @staticmethod
    def _qualify(qname: str, node: etree._Element) -> str:
        prefix, _, local = qname.rpartition(":")
        namespace = node.nsmap.get(prefix or None)
        if namespace not in _PREFIXES:
            raise ValueError(f"unknown namespace for type {qname!r}")
        return f"{_PREFIXES[namespace]}:{local}"

    def _check_references(self) -> None:
        for tdef in list(self._types.values()):
            refs = [tdef.base] + [c.type for c in tdef.children]
            for ref in refs:
                if ref and not ref.startswith("xs:") and ref not in self._types:
                    raise ValueError(f"{tdef.name} refers to undefined type {ref}")
        for type_name in self._elements.values():
            if type_name not in self._types:
                raise ValueError(f"global element of undefined type {type_name}")

    # ----------------------------------------------------------------- type names
    def canonical_type(self, name: str) -> str | None:
        """Canonical type for a type or global element name, any case, prefix optional.

        ``xnat:mrsessiondata``, ``xnat:MRSession``, ``mrSessionData`` -> ``xnat:mrSessionData``;
        ``None`` if unknown (XNAT answers such an ``xsiType`` with 400).
        """
        key = name.strip().lower()
        return self._lookup.get(key) or (None if ":" in key else self._lookup.get("xnat:" + key))

    def has_type(self, xsi_type: str) -> bool:
        """True for a named data type (or its global element name), any case."""
        return self.canonical_type(xsi_type) is not None

    def element_for_type(self, xsi_type: str) -> str:
        """Root element name for documents of a type: ``xnat:mrSessionData`` -> ``xnat:MRSession``.

        Types without a global element (``xnat:imageSessionData``...) use ``xnat:<local name>``.
        """
        canonical = self._require(xsi_type)
        for element, type_name in self._elements.items():
            if type_name == canonical:
                return element
        return canonical

    def type_names(self) -> list[str]:
        """Every named ``xnat:*`` complex type, schema order (for ``/data/search/elements``)."""
        return [n for n in self._named if n.startswith("xnat:")]

    def data_types(self) -> list[str]:
        """Types that have a global element, i.e. can be the root of a document; element order."""
        return list(dict.fromkeys(t for t in self._elements.values() if t.startswith("xnat:")))

    # ----------------------------------------------------------------- inheritance
    def ancestors(self, xsi_type: str) -> list[str]:
        """The type itself, then its base, its base's base... (complexContent/extension chain)."""
        chain, current = [], self._require(xsi_type)
        while current is not None:
            chain.append(current)
            current = self._types[current].base
        return chain

    def is_a(self, xsi_type: str, ancestor: str) -> bool:
        """Whether ``xsi_type`` is ``ancestor`` or derives from it; unknown names are never related."""
        canonical, target = self.canonical_type(xsi_type), self.canonical_type(ancestor)
        return canonical is not None and target is not None and target in self.ancestors(canonical)

    def subtypes(self, xsi_type: str) -> list[str]:
        """Every named type that is_a ``xsi_type``: itself first, then the others in schema order."""
        target = self._require(xsi_type)
        return [target] + [n for n in self._named if n != target and target in self.ancestors(n)]

    # ----------------------------------------------------------------- structure
    def children(self, xsi_type: str) -> list[Child]:
        """All child elements, base type's first (XSD extension appends to the base sequence)."""
        return [c for t in reversed(self._chain(xsi_type)) for c in self._types[t].children]

    def attributes(self, xsi_type: str) -> list[Attr]:
        """All attributes, base type's first."""
        return [a for t in reversed(self._chain(xsi_type)) for a in self._types[t].attributes]

    def simple_content(self, xsi_type: str) -> str | None:
        """xs: type of the text of elements of this type (``scanner``, ``addParam``, ``field``...).

        ``None`` for types whose elements hold child elements / attributes only.
        """
        for name in self._chain(xsi_type):
            if self._types[name].simple:
                return self._types[name].simple
        return None

    # ----------------------------------------------------------------- field paths
    def resolve(self, xsi_type: str, path: str) -> FieldPath | None:
        """Resolve a field path as clients send it (query parameters, ``columns=``, search fields).

        Supported forms, relative to ``xsi_type``:

        * ``label``, ``ID``, ``date``, ``parameters/tr``, ``scanner/model``, ``parameters/voxelRes/x``;
        * with a leading type: ``xnat:mrSessionData/age``, ``xnat:subjectassessordata/id``; the type
          (any case, or its element name) must be ``xsi_type`` or one of its ancestors;
        * ``demographics[@xsi:type=xnat:demographicData]/gender`` (``@`` optional): the step enters
          that subtype of the declared type;
        * ``fields/field[name=foo]/field`` and ``parameters/addParam[name=foo]/addField``: the
          predicate selects among repeated elements (the key must be one of their attributes); a
          final segment equal to the element's name or its type's local name is the element's text;
        * ``demographics/gender``: an empty abstract type with a single direct subtype
          (abstractDemographicData, abstractSubjectMetadata) is entered as that subtype;
        * ``provenance/processStep/program_version``: ``<element>_<attribute>`` is accepted for
          ``<element>/<attribute>`` when no field has the literal name (XNAT's flattened names).

        Matching is case-insensitive. ``None`` when the path does not exist in the schema.
        """
        current = self._existing(xsi_type)
        segments = _split_path(path)
        if current is None or not segments:
            return None
        first_name = segments[0][0]
        if ":" in first_name:
            prefix_type = self.canonical_type(first_name)
            if segments[0][1] or prefix_type is None or not self.is_a(current, prefix_type):
                return None
            segments = segments[1:]
            if not segments:
                return None

        steps: list[Step] = []
        leaf: str | None = current
        for index, (name, predicate) in enumerate(segments):
            is_last = index == len(segments) - 1
            if leaf is None or leaf.startswith("xs:"):
                return None  # nothing below a simple value
            current = self._concrete(leaf)
            if current != leaf and steps:  # say which subtype the abstract element really holds
                steps[-1] = Step(steps[-1].name, "element", current, steps[-1].predicate)
            child = _find(self.children(current), name)
            if child is not None:
                step = self._element_step(child, predicate)
                if step is None:
                    return None
                steps.append(step)
                leaf = step.xsi_type or child.type
                continue
            attr = _find(self.attributes(current), name)
            if attr is not None and predicate is None:
                steps.append(Step(attr.name, "attribute", None))
                leaf = attr.type
                continue
            if (is_last and predicate is None and steps and steps[-1].kind == "element"
                    and self.simple_content(current)
                    and name.lower() in (steps[-1].name.lower(), _local(current).lower())):
                leaf = self.simple_content(current)  # ".../field[name=x]/field": the text itself
                continue
            flattened = self._flattened(current, name) if predicate is None else None
            if flattened is None:
                return None
            steps.extend(flattened[0])
            leaf = flattened[1]
        if not leaf.startswith("xs:"):
            leaf = self.simple_content(leaf) or leaf
        return FieldPath(tuple(steps), leaf)

    def _element_step(self, child: Child, predicate: tuple[str, str] | None) -> Step | None:
        complex_type = None if child.type.startswith("xs:") else child.type
        if predicate is None:
            return Step(child.name, "element", complex_type)
        key, value = predicate
        if key.lower() in ("xsi:type", "xsi_type"):
            subtype = self.canonical_type(value)
            if complex_type is None or subtype is None or not self.is_a(subtype, complex_type):
                return None
            return Step(child.name, "element", subtype)
        attr = _find(self.attributes(complex_type), key) if complex_type else None
        if attr is None:
            return None
        return Step(child.name, "element", complex_type, (attr.name, value))

    def _flattened(self, current: str, name: str) -> tuple[list[Step], str] | None:
        for match in re.finditer("_", name):
            child = _find(self.children(current), name[:match.start()])
            if child is None or child.type.startswith("xs:"):
                continue
            attr = _find(self.attributes(child.type), name[match.end():])
            if attr is not None:
                return [Step(child.name, "element", child.type), Step(attr.name, "attribute", None)], attr.type
        return None

    def _concrete(self, type_name: str) -> str:
        """An empty abstract placeholder type with one direct subtype stands for that subtype."""
        tdef = self._types[type_name]
        if tdef.children or tdef.attributes or tdef.base:
            return type_name
        direct = [n for n in self._named if self._types[n].base == type_name]
        return direct[0] if len(direct) == 1 else type_name

    # ----------------------------------------------------------------- helpers
    def _existing(self, name: str) -> str | None:
        return name if name in self._types else self.canonical_type(name)

    def _require(self, name: str) -> str:
        canonical = self.canonical_type(name)
        if canonical is None:
            raise KeyError(f"unknown XNAT data type {name!r}")
        return canonical

    def _chain(self, name: str) -> list[str]:
        """Ancestors of a named type, or just the synthetic name of an anonymous one."""
        if "/" in name and name in self._types:
            return [name]
        return self.ancestors(name)


def _is_many(node: etree._Element) -> bool:
    max_occurs = node.get("maxOccurs", "1")
    return max_occurs == "unbounded" or int(max_occurs) > 1


def _local(type_name: str) -> str:
    return type_name.rsplit("/", 1)[-1].split(":", 1)[-1]


def _find(items, name: str):
    """Exact name match first, then case-insensitive."""
    for item in items:
        if item.name == name:
            return item
    lowered = name.lower()
    return next((item for item in items if item.name.lower() == lowered), None)


_SEGMENT = re.compile(r"^\s*(?P<name>[^\[\]]+?)\s*(?:\[(?P<pred>[^\]]*)\])?\s*$")
_PREDICATE = re.compile(r"^\s*@?(?P<key>[\w:.-]+)\s*=\s*(?P<value>.*?)\s*$")


def _split_path(path: str) -> list[tuple[str, tuple[str, str] | None]]:
    """``a/b[k=v]/c`` -> ``[("a", None), ("b", ("k", "v")), ("c", None)]``; ``[]`` if malformed."""
    parts, depth, current = [], 0, ""
    for char in path.strip().strip("/"):
        depth += (char == "[") - (char == "]")
        if char == "/" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    segments = []
    for part in parts:
        match = _SEGMENT.match(part)
        if match is None:
            return []
        predicate = None
        if match.group("pred") is not None:
            pred = _PREDICATE.match(match.group("pred"))
            if pred is None:
                return []
            predicate = (pred.group("key"), pred.group("value").strip("'\""))
        segments.append((match.group("name"), predicate))
    return segments


@functools.lru_cache(maxsize=1)
def schema_text() -> bytes:
    """The XSD bytes served at ``/xapi/schemas/xnat``."""
    return XSD_PATH.read_bytes()


@functools.lru_cache(maxsize=1)
def load_schema() -> Schema:
    """The parsed schema, built once per process (it is immutable)."""
    return Schema(schema_text())
