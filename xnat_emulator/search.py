"""XNAT's stored searches (``xdat:bundle`` / ``xdat:stored_search``) over the archive.

A small subset of XNAT's search engine (``W18:restlet/resources/search/SearchResource.java``,
``SavedSearchResource``, ``CachedSearchResource``), enough for pyxnat's ``select(...).where()``
and NrgXnat/xnat-rest-tests TestSearch / TestTableNamingLimits:

* the root element (``xdat:root_element_name``) chooses the rows: subjects, or experiments of
  that type and its subtypes, that the user can read;
* ``xdat:search_field`` entries choose the columns, headed by the lower-cased ``field_ID``
  (display field IDs such as ``LABEL``, ``PROJECT``, ``DATE``, ``SUBJECT_LABEL``); the key
  column (``subject_id``, ``session_id`` for image sessions, ``expt_id`` otherwise) comes
  first, as XNAT adds the element's primary key;
* ``xdat:criteria`` on ``{element}.{FIELD}`` (or an xpath) with ``=``, ``LIKE`` (``%``
  wildcards), ``!=``, ``<``, ``>``, ``<=``, ``>=``, in ``AND``/``OR`` ``search_where`` and
  ``child_set`` groups. ``PROJECTS`` is the ``<P1>,<P2>`` list of owning and sharing projects.

Display fields XNAT computes that are not modelled read as empty strings. No HTTP here.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading

from lxml import etree

from . import items
from .errors import Unprocessable
from .formats import Table

XDAT_NS = "http://nrg.wustl.edu/security"
_X = f"{{{XDAT_NS}}}"


def _text(el, name: str) -> str:
    child = el.find(_X + name)
    return (child.text or "").strip() if child is not None else ""


class SearchEngine:
    def __init__(self, store, docs, auth):
        self.store = store
        self.docs = docs
        self.auth = auth
        self._cache: dict[str, tuple[str, bytes]] = {}  # search ID -> (login, document)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- saved and cached searches ------------------------------------------------------------

    def default_search(self, xsi_type: str) -> bytes:
        """``GET /data/search/saved/@{type}``: the type's default listing search."""
        canonical = self.docs.canonical_type(xsi_type)
        if canonical is None:
            from .errors import NotFound
            raise NotFound(f"Unknown data type {xsi_type}")
        root = etree.Element(_X + "stored_search", nsmap={"xdat": XDAT_NS})
        root.set("ID", f"@{canonical}")
        root.set("allow-diff-columns", "0")
        root.set("secure", "false")
        root.set("brief-description", canonical.split(":")[-1])
        etree.SubElement(root, _X + "root_element_name").text = canonical
        for seq, field_id in enumerate(self._default_fields(canonical)):
            field = etree.SubElement(root, _X + "search_field")
            etree.SubElement(field, _X + "element_name").text = canonical
            etree.SubElement(field, _X + "field_ID").text = field_id
            etree.SubElement(field, _X + "sequence").text = str(seq)
            etree.SubElement(field, _X + "type").text = "string"
            etree.SubElement(field, _X + "header").text = field_id.title()
        return items.serialize(root)

    def _default_fields(self, xsi_type: str) -> list[str]:
        if self.docs.is_a(xsi_type, "xnat:subjectData"):
            return ["LABEL", "PROJECT", "INSERT_DATE"]
        fields = ["LABEL", "PROJECT", "DATE", "INSERT_DATE"]
        if self.docs.is_a(xsi_type, "xnat:imageAssessorData"):
            fields += ["SESSION_LABEL"]
        elif self.docs.is_a(xsi_type, "xnat:subjectAssessorData"):
            fields += ["SUBJECT_LABEL"]
        return fields

    def cache(self, who, document: bytes) -> str:
        self.parse(document)  # 422 now rather than at read time
        with self._lock:
            search_id = f"{who.login}_{next(self._ids)}"
            self._cache[search_id] = (who.login, document)
        return search_id

    def cached(self, who, search_id: str) -> bytes | None:
        with self._lock:
            entry = self._cache.get(search_id)
        if entry is None or (entry[0] != who.login and not who.admin):
            return None
        return entry[1]

    # -- running ------------------------------------------------------------------------------

    def parse(self, document: bytes):
        try:
            root = etree.fromstring(document, etree.XMLParser(resolve_entities=False,
                                                              no_network=True))
        except etree.XMLSyntaxError as exc:
            raise Unprocessable(f"Unable to parse the search document: {exc}") from exc
        if etree.QName(root).localname not in ("bundle", "stored_search"):
            raise Unprocessable("The search document must be an xdat:stored_search.")
        element = _text(root, "root_element_name")
        xsi_type = self.docs.canonical_type(element)
        if xsi_type is None:
            raise Unprocessable(f"Unknown root element {element}")
        fields = sorted(
            ((int(_text(f, "sequence") or 0), _text(f, "element_name"), _text(f, "field_ID"))
             for f in root.findall(_X + "search_field")), key=lambda t: t[0])
        return xsi_type, [(el, fid) for _, el, fid in fields], root.find(_X + "search_where")

    def run(self, who, document: bytes) -> Table:
        xsi_type, fields, where = self.parse(document)
        subjects = self.docs.is_a(xsi_type, "xnat:subjectData")
        if subjects:
            key = "subject_id"
            records = [s for s in self.store.list_subjects(None) if self._readable(who, s)]
        else:
            key = "session_id" if self.docs.is_a(xsi_type, "xnat:imageSessionData") \
                else "expt_id"
            assessors = self.docs.is_a(xsi_type, "xnat:imageAssessorData")
            records = [e for e in self.store.list_experiments(assessors=assessors)
                       if self.docs.is_a(e.xsi_type, xsi_type) and self._readable(who, e)]
        columns = [key] + [fid.lower() for _, fid in fields if fid.lower() != key]
        rows = []
        for record in records:
            values = _Values(self, record, subjects)
            if where is not None and not self._matches(where, values):
                continue
            rows.append([record.id] + [values.get(fid) for _, fid in fields
                                       if fid.lower() != key])
        return Table(columns, rows)

    def _readable(self, who, record) -> bool:
        for pid in [record.project] + [p for p, _ in self.store.shares(record.id)]:
            project = self.store.get_project(pid)
            if project and self.auth.can_read(who, project):
                return True
        return False

    def _matches(self, group, values: "_Values") -> bool:
        method = (group.get("method") or "AND").upper()
        results = []
        for child in group:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "criteria":
                results.append(self._criterion(child, values))
            elif name == "child_set":
                results.append(self._matches(child, values))
        if not results:
            return True
        return any(results) if method == "OR" else all(results)

    def _criterion(self, criteria, values: "_Values") -> bool:
        field = _text(criteria, "schema_field")
        field_id = field.split(".", 1)[1] if "." in field and "/" not in field else field
        op = (_text(criteria, "comparison_type") or "=").strip().upper()
        wanted = _text(criteria, "value")
        actual = values.get(field_id)
        if op == "LIKE" or op == "ILIKE":
            return fnmatch.fnmatch(actual.lower(), wanted.lower().replace("%", "*"))
        if op in ("=", "IS"):
            return actual == wanted or (wanted.upper() == "NULL" and actual == "")
        if op in ("!=", "<>", "IS NOT"):
            return actual != wanted
        try:
            a, b = float(actual), float(wanted)
        except ValueError:
            a, b = actual, wanted
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}.get(op, False)


class _Values:
    """Display-field values of one subject or experiment, computed on demand."""

    def __init__(self, engine: SearchEngine, record, subject: bool):
        self.engine = engine
        self.record = record
        self.subject = subject
        self._doc = None

    def doc(self):
        if self._doc is None:
            self._doc = items.load(self.record.xml)
        return self._doc

    def get(self, field_id: str) -> str:
        store, r = self.engine.store, self.record
        name = field_id.upper()
        simple = {"ID": r.id, "LABEL": r.label, "PROJECT": r.project,
                  "INSERT_DATE": r.insert_date, "INSERT_USER": r.insert_user,
                  "SUBJECT_ID": r.id if self.subject else (getattr(r, "subject_id", "") or ""),
                  "SESSION_ID": "" if self.subject else (r.session_id or r.id),
                  "EXPT_ID": "" if self.subject else r.id}
        if name in simple:
            return simple[name] or ""
        if name == "PROJECTS":
            pids = [r.project] + [p for p, _ in store.shares(r.id)]
            return ",".join(f"<{p}>" for p in pids)
        if name == "DATE" and not self.subject:
            return r.date or ""
        if name in ("SUBJECT_LABEL", "GENDER_TEXT", "GENDER", "HANDEDNESS_TEXT", "DOB", "AGE") \
                and not self.subject:
            subject = store.get_subject(r.subject_id) if r.subject_id else None
            if name == "SUBJECT_LABEL":
                return subject.label if subject else ""
            if name.startswith("GENDER") or name.startswith("HANDEDNESS") or name == "DOB":
                if subject is None:
                    return ""
                path = {"GENDER": "gender", "HANDEDNESS": "handedness", "DOB": "dob"}[
                    name.split("_")[0]]
                return self.engine.docs.get_field(
                    items.load(subject.xml), "xnat:subjectData",
                    f"demographics[@xsi:type=xnat:demographicData]/{path}") or ""
            return ""
        if name in ("SESSION_LABEL",) and not self.subject and r.session_id:
            session = store.get_experiment(r.session_id)
            return session.label if session else ""
        if name.endswith("_SCAN_COUNT_AGG") and not self.subject:
            return str(len(store.list_scans(r.id)))
        if name == "TYPE":
            name = "SESSION_TYPE"
        xsi_type = "xnat:subjectData" if self.subject else r.xsi_type
        if self.engine.docs.is_custom(xsi_type):
            return ""
        path = field_id.split("/", 1)[1] if "/" in field_id else field_id.lower()
        for candidate in (path, field_id):
            try:
                value = self.engine.docs.get_field(self.doc(), xsi_type, candidate)
            except Exception:  # noqa: BLE001 - not a path of this type
                value = None
            if value is not None:
                return value
        return ""
