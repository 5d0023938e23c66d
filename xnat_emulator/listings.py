"""Listing tables per endpoint: default columns, ``columns=``, filters, sorting and paging.

xnat-rest.md §3.2-3.3. Columns the rows already hold (IDs, labels, dates, types) are read
without parsing XML, so a project's 10,000 experiments list fast; other shortcut and xpath
columns are read from each object's document.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from . import items
from .archive import CONTROL_KEYS
from .formats import Table
from .items import Documents
from .shortcuts import BY_LEVEL, READ_ONLY, shortcut_for_xpath
from .store import Experiment, Project, Scan, Store, Subject

DEFAULTS = {
    "project": ["ID", "secondary_ID", "name", "description", "pi_firstname", "pi_lastname"],
    "subject": ["ID", "project", "label", "insert_date", "insert_user"],
    "experiment": ["ID", "project", "date", "xsiType", "label", "insert_date",
                   "xnat:subjectassessordata/id"],
    "assessor": ["date", "xsiType", "session_label", "xnat:imageassessordata/id", "insert_date",
                 "session_ID", "project", "ID", "label"],
    "scan": ["xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note",
             "series_description"],
}
ROOT_TYPES = {
    "project": "xnat:projectData", "subject": "xnat:subjectData",
    "experiment": "xnat:subjectAssessorData", "assessor": "xnat:imageAssessorData",
    "scan": "xnat:imageScanData",
}
RESOURCE_COLUMNS = ["xnat_abstractresource_id", "label", "element_name", "category", "cat_id",
                    "cat_desc", "file_count", "file_size", "tags", "content", "format"]
FILE_COLUMNS = ["Name", "Size", "URI", "collection", "file_tags", "file_format",
                "file_content", "cat_ID", "digest"]
NOT_FILTERS = CONTROL_KEYS | {"limit", "offset", "sortBy", "sortOrder", "label_as_ID",
                              "file_format", "file_content", "locator", "structure"}


@dataclass
class Row:
    """One object of a listing: cheap values up front, its document parsed on demand."""

    values: dict[str, str]
    xml: str
    xsi_type: str
    uri: str
    _doc: object = field(default=None, repr=False)

    def document(self):
        if self._doc is None:
            self._doc = items.load(self.xml)
        return self._doc


@dataclass
class Column:
    header: str
    read: Callable[[Row], str]


class Listings:
    def __init__(self, store: Store, docs: Documents):
        self.store = store
        self.docs = docs

    # -- rows per level -----------------------------------------------------------------------

    def project_rows(self, projects: list[Project]) -> list[Row]:
        return [Row({"ID": p.id, "secondary_ID": p.secondary_id, "name": p.name,
                     "description": p.description, "insert_date": p.insert_date,
                     "insert_user": p.insert_user, "xsiType": "xnat:projectData"},
                    p.xml, "xnat:projectData", f"/data/projects/{p.id}") for p in projects]

    def subject_rows(self, subjects: list[Subject], project_id: str | None) -> list[Row]:
        rows = []
        for s in subjects:
            shared = project_id is not None and s.project != project_id
            label = self.store.share_label(s.id, project_id) if shared else s.label
            rows.append(Row({"ID": s.id, "project": project_id if shared else s.project,
                             "label": label, "insert_date": s.insert_date,
                             "insert_user": s.insert_user, "last_modified": s.last_modified,
                             "xsiType": "xnat:subjectData"},
                            s.xml, "xnat:subjectData", f"/data/subjects/{s.id}"))
        return rows

    def experiment_rows(self, experiments: list[Experiment], project_id: str | None) -> list[Row]:
        subjects: dict[str, Subject | None] = {}
        sessions: dict[str, Experiment | None] = {}
        rows = []
        for e in experiments:
            shared = project_id is not None and e.project != project_id
            label = self.store.share_label(e.id, project_id) if shared else e.label
            values = {"ID": e.id, "project": project_id if shared else e.project,
                      "date": e.date, "xsiType": e.xsi_type, "label": label,
                      "insert_date": e.insert_date, "insert_user": e.insert_user,
                      "last_modified": e.last_modified}
            if e.session_id:
                if e.session_id not in sessions:
                    sessions[e.session_id] = self.store.get_experiment(e.session_id)
                session = sessions[e.session_id]
                values.update({"xnat:imageassessordata/id": e.id, "session_ID": e.session_id,
                               "session_label": session.label if session else "",
                               "session_project": session.project if session else ""})
            else:
                values["xnat:subjectassessordata/id"] = e.id
            if e.subject_id:
                if e.subject_id not in subjects:
                    subjects[e.subject_id] = self.store.get_subject(e.subject_id)
                subject = subjects[e.subject_id]
                values.update({"subject_ID": e.subject_id,
                               "subject_label": subject.label if subject else "",
                               "subject_project": subject.project if subject else ""})
            rows.append(Row(values, e.xml, e.xsi_type, f"/data/experiments/{e.id}"))
        return rows

    def scan_rows(self, scans: list[Scan]) -> list[Row]:
        rows = []
        for s in scans:
            row = Row({"xnat_imagescandata_id": str(s.pk), "ID": s.scan_id,
                       "xsiType": s.xsi_type, "insert_date": s.insert_date,
                       "insert_user": s.insert_user, "last_modified": s.last_modified},
                      s.xml, s.xsi_type, f"/data/experiments/{s.session_id}/scans/{s.scan_id}")
            rows.append(row)
        return rows

    # -- the table ----------------------------------------------------------------------------

    def table(self, level: str, rows: list[Row], params: dict[str, str]) -> Table:
        root = self._root_type(level, params)
        if root:
            rows = [r for r in rows if self.docs.is_a(r.xsi_type, root)]
        columns = self._columns(level, params.get("columns"), root)
        for key, value in params.items():
            if key in NOT_FILTERS or key in ("xsiType",):
                continue
            column = self._column(level, key, root)
            if column is not None:
                rows = [r for r in rows if _matches(column.read(r), value)]
        rows = _sorted(rows, params, lambda name: self._column(level, name, root))
        rows = _paged(rows, params)
        table_rows = [[c.read(r) for c in columns] + [r.uri] for r in rows]
        return Table([c.header for c in columns] + ["URI"], table_rows)

    def _root_type(self, level: str, params: dict[str, str]) -> str | None:
        """A single ``xsiType`` narrows the rows; a comma list is ignored (§3.2)."""
        requested = params.get("xsiType", "")
        if not requested or "," in requested or level in ("project", "subject"):
            return None
        return self.docs.canonical_type(requested)

    def _columns(self, level: str, spec: str | None, root: str | None) -> list[Column]:
        names = DEFAULTS[level] if not spec or spec == "DEFAULT" else spec.split(",")
        columns, seen = [], set()
        for name in names:
            column = self._column(level, name.strip(), root)
            if column and column.header not in seen and column.header != "URI":
                seen.add(column.header)
                columns.append(column)
        return columns

    def _column(self, level: str, name: str, root: str | None) -> Column | None:
        shortcuts = BY_LEVEL[level]
        if name == "xsiType" and level in ("project", "subject"):
            return None  # not a shortcut there: dropped (xnat-rest.md §3.2, §12.2)
        if "/" not in name:
            if name in READ_ONLY or name in ("ID", "project", "label", "date", "subject_ID",
                                             "session_ID", "secondary_ID", "name",
                                             "description"):
                return Column(name, _value_or_path(self.docs, level, name, shortcuts.get(name)))
            path = shortcuts.get(name)
            if path is None:
                return None
            return Column(name, _value_or_path(self.docs, level, name, path))
        lowered = name.lower()
        if lowered in ("xnat:subjectassessordata/id", "xnat:imageassessordata/id"):
            return Column(lowered, lambda r: r.values.get(lowered, r.values.get("ID", "")))
        header = shortcut_for_xpath(level, name)
        if header is not None:
            return self._column(level, header, root)
        return Column(lowered, _value_or_path(self.docs, level, lowered, name))

    # -- resources and files ------------------------------------------------------------------

    def resources(self, owner_type: str, owner_id: str, cat_id: str, cat_desc: str = "",
                  io: str | None = None) -> Table:
        category = {"scan": "scans", "assessor": "assessors",
                    "reconstruction": "reconstructions"}.get(owner_type, "resources")
        rows = []
        for res in self.store.list_resources(owner_type, owner_id, io):
            count, size = self.store.resource_stats(res.id)
            rows.append([res.id, res.label, res.element_name, category, cat_id, cat_desc,
                         count, size, res.tags, res.content, res.format])
        return Table(list(RESOURCE_COLUMNS), rows, title="Resources")

    def files(self, entries: list[tuple], params: dict[str, str], checksums: bool) -> Table:
        """``entries``: (resource, base_uri, FileEntry) in listing order."""
        wanted_format = params.get("file_format")
        wanted_content = params.get("file_content")
        rows = []
        for res, base_uri, f in entries:
            if wanted_format is not None and not _null_match(f.format, wanted_format):
                continue
            if wanted_content is not None and not _null_match(f.content, wanted_content):
                continue
            rows.append([f.path.rsplit("/", 1)[-1], f.size,
                         f"{base_uri}/resources/{res.id}/files/{f.path}", res.label,
                         f.tags, f.format, f.content, res.id, f.md5 if checksums else ""])
        return Table(list(FILE_COLUMNS), rows, title="Files", total=False, uri_column_meta=True)


def _value_or_path(docs: Documents, level: str, name: str, path: str | None):
    def read(row: Row) -> str:
        if name in row.values:
            return row.values[name]
        if path is None:
            return ""
        value = docs.get_field(row.document(), row.xsi_type, path)
        if value is None and level == "scan" and name == "quality":
            return "unknown"
        return value or ""
    return read


def _matches(value: str, wanted: str) -> bool:
    for option in wanted.split(","):
        pattern = option.replace("%", "*")
        if ("*" in pattern and fnmatch.fnmatchcase(value, pattern)) or value == option:
            return True
    return False


def _null_match(value: str, wanted: str) -> bool:
    return (wanted == "NULL" and not value) or value == wanted


def _sorted(rows: list[Row], params: dict[str, str], column_for) -> list[Row]:
    sort_by = params.get("sortBy")
    if not sort_by:
        return rows
    reverse = params.get("sortOrder", "").upper() == "DESC"
    for name in reversed(sort_by.split(",")):
        column = column_for(name)
        if column is not None:
            rows = sorted(rows, key=column.read, reverse=reverse)
    return rows


def _paged(rows: list, params: dict[str, str]) -> list:
    offset = params.get("offset", "*")
    limit = params.get("limit", "*")
    start = int(offset) if offset.isdigit() else 0
    end = start + int(limit) if limit.isdigit() else None
    return rows[start:end]
