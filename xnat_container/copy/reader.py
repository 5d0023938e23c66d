"""Read an XNAT project into a ``tree.Project`` with few requests.

One subject document carries the subject, its experiments, their scans, assessors and the
resources of all of them (with file counts). File listings are then asked per level only
where a resource has files: ``scans/ALL/files`` gives every scan file of a session in one
request. So a session costs about two requests on each side, whatever its size.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lxml import etree

from .. import tree
from ..xnat.client import XnatClient
from ..xnat.errors import NotFound
from . import metadata
from .metadata import XSI_NS, local

XSI_TYPE = f"{{{XSI_NS}}}type"
FILE_URI = re.compile(
    r"/(?:scans/(?P<scan>[^/]+)/|assessors/(?P<assessor>[^/]+)/(?:(?P<io>in|out)/)?)?"
    r"resources/(?P<res>[^/]+)/files/(?P<path>.+)$")


@dataclass
class Scope:
    """What part of the project to read: all of it, or some subjects and sessions."""

    subjects: set[str] = field(default_factory=set)      # labels
    sessions: set[str] = field(default_factory=set)      # labels or accession IDs
    include_shared: bool = False

    def wants_subject(self, label: str) -> bool:
        return not self.subjects or label in self.subjects

    def wants_session(self, label: str, accession: str) -> bool:
        return not self.sessions or label in self.sessions or accession in self.sessions


class ProjectReader:
    def __init__(self, client: XnatClient, project_id: str, scope: Scope | None = None,
                 workers: int = 4):
        self.client = client
        self.project_id = project_id
        self.scope = scope or Scope()
        self.workers = workers

    def read(self) -> tree.Project | None:
        """The project as the server has it, or None when it does not exist (or is hidden)."""
        try:
            doc = metadata.parse(self.client.get_bytes(f"/data/projects/{self.project_id}",
                                                       {"format": "xml"}))
        except NotFound:
            return None
        project = tree.Project(xsi_type="xnat:projectData", id=doc.get("ID", self.project_id),
                               xml=metadata.to_bytes(doc))
        project.resources = self._resources(doc, "resources")
        if _has_files(project.resources.values()):
            self._attach_files(f"/data/projects/{self.project_id}/files",
                               {"": project.resources})
        rows = self.client.get_rows(f"/data/projects/{self.project_id}/subjects",
                                    {"columns": "ID,label"})
        wanted = [r for r in rows if self.scope.wants_subject(r["label"])]
        with ThreadPoolExecutor(max(1, self.workers)) as pool:
            for subject, shared in pool.map(self._read_subject, wanted):
                project.shared.extend(shared)
                if subject is not None:
                    project.subjects[subject.label] = subject
        return project

    # -- subjects and below -------------------------------------------------------------------

    def _read_subject(self, row: dict) -> tuple[tree.Subject | None, list[tree.Shared]]:
        """The subject as owned here (None if nothing of it is), and what was shared in."""
        doc = metadata.parse(self.client.get_bytes(
            f"/data/projects/{self.project_id}/subjects/{row['ID']}", {"format": "xml"}))
        owner = doc.get("project")
        label = row["label"]
        subject = tree.Subject(xsi_type=_type_of(doc, "xnat:subjectData"), label=label,
                               source_id=doc.get("ID", row["ID"]), xml=_own_xml(doc))
        shared: list[tree.Shared] = []
        subject_shared = owner != self.project_id
        for exp_el in _children(doc, "experiments"):
            exp_label = self._label_here(exp_el)
            if not self.scope.wants_session(exp_label, exp_el.get("ID", "")):
                continue
            if exp_el.get("project") != self.project_id:
                if exp_label is not None and not self.scope.include_shared:
                    shared.append(tree.Shared("experiment", exp_label, exp_el.get("project")))
                    continue
                if exp_label is None:
                    continue  # neither owned by nor shared into this project
            subject.experiments[exp_label] = self._read_experiment(exp_el, exp_label)
        if self.scope.sessions and not subject.experiments:
            return None, shared
        if subject_shared and not self.scope.include_shared and not subject.experiments:
            return None, shared + [tree.Shared("subject", label, owner)]
        subject.resources = self._resources(doc, "resources")
        if _has_files(subject.resources.values()):
            self._attach_files(f"/data/projects/{self.project_id}/subjects/{subject.source_id}"
                               "/files", {"": subject.resources})
        return subject, shared

    def _label_here(self, el) -> str | None:
        """The label in this project: its own, or the one it is shared under."""
        if el.get("project") == self.project_id:
            return el.get("label")
        for share in el.iter(f"{{{el.nsmap.get('xnat', '')}}}share"):
            if share.get("project") == self.project_id:
                return share.get("label") or el.get("label")
        return None

    def _read_experiment(self, el, label: str) -> tree.Experiment:
        exp = tree.Experiment(xsi_type=_type_of(el, ""), label=label,
                              source_id=el.get("ID", ""), xml=_own_xml(el))
        exp.resources = self._resources(el, "resources")
        for scan_el in _children(el, "scans"):
            scan = tree.Scan(xsi_type=_type_of(scan_el, ""), id=scan_el.get("ID"),
                             source_id=scan_el.get("ID"), xml=metadata.to_bytes(scan_el))
            scan.resources = self._catalogs(scan_el.findall(_q(scan_el, "file")))
            exp.scans[scan.id] = scan
        for a_el in _children(el, "assessors"):
            assessor = tree.Assessor(xsi_type=_type_of(a_el, ""), label=a_el.get("label"),
                                     source_id=a_el.get("ID", ""), xml=metadata.to_bytes(a_el))
            assessor.resources = self._resources(a_el, "resources")
            for io in ("in", "out"):
                for wrapper in a_el.findall(_q(a_el, io)):
                    assessor.resources.update(self._catalogs(wrapper, io=io))
            exp.assessors[assessor.label] = assessor
        base = f"/data/experiments/{exp.source_id}"
        scan_resources = {s.id: s.resources for s in exp.scans.values()}
        if any(_has_files(r.values()) for r in scan_resources.values()):
            self._attach_files(f"{base}/scans/ALL/files", scan_resources, key="scan")
        if _has_files(exp.resources.values()):
            self._attach_files(f"{base}/files", {"": exp.resources})
        for a in exp.assessors.values():
            # ``assessors/A/files`` lists only plain resources; "in" and "out" ones are
            # listed under ``assessors/A/in/files`` and ``assessors/A/out/files``.
            for io in sorted({r.io for r in a.resources.values()}):
                group = {k: r for k, r in a.resources.items() if r.io == io}
                if _has_files(group.values()):
                    self._attach_files(f"{base}/assessors/{a.source_id}"
                                       f"{'/' + io if io else ''}/files", {"": group},
                                       key="assessor", io=io)
        return exp

    # -- resources and files ------------------------------------------------------------------

    def _resources(self, el, wrapper: str) -> dict[str, tree.Resource]:
        found = {}
        for wrap in el.findall(_q(el, wrapper)):
            found.update(self._catalogs(wrap))
        return found

    def _catalogs(self, elements, io: str = "") -> dict[str, tree.Resource]:
        found = {}
        for res_el in elements:
            if not isinstance(res_el.tag, str):
                continue
            tags = [t.text or "" for t in res_el.iter() if local(t) == "tag"]
            res = tree.Resource(
                label=res_el.get("label") or "", format=res_el.get("format", ""),
                content=res_el.get("content", ""), description=res_el.get("description", ""),
                tags=",".join(tags), io=io, expected_files=_count(res_el.get("file_count")))
            found[res.key] = res
        return found

    def _attach_files(self, listing: str, groups: dict[str, dict[str, tree.Resource]],
                      key: str = "", io: str = "") -> None:
        """Fill resources' files from one listing; ``groups`` maps scan ID (or "") to resources."""
        for row in self.client.get_rows(listing):
            uri = row["URI"]
            match = FILE_URI.search(uri)
            if match is None:
                continue
            group = groups.get(match.group("scan") or "") if key == "scan" else groups.get("")
            if group is None:
                continue
            res_io = match.group("io") or io
            res = group.get(tree.resource_key(row["collection"], res_io)) or group.get(
                row["collection"])
            if res is None:
                continue
            res.uri = uri[: uri.index("/files/")]
            res.files[match.group("path")] = tree.File(
                path=match.group("path"), size=int(row.get("Size") or 0),
                md5=row.get("digest") or "", uri=uri)


NESTED_OBJECTS = {"experiments", "scans", "assessors"}


def _own_xml(el) -> bytes:
    """The object's document without the objects nested in it (each is kept on its own;
    their wrappers stay, empty, to mark where they go): a subject's document would otherwise
    hold all its sessions and scans again, and the tree grow twice as fast as the project."""
    held = []
    for wrap in el:
        if isinstance(wrap.tag, str) and local(wrap) in NESTED_OBJECTS:
            children = list(wrap)
            held.append((wrap, children))
            for child in children:
                wrap.remove(child)
    try:
        return metadata.to_bytes(el)
    finally:
        for wrap, children in held:
            wrap.extend(children)


def _count(text: str | None) -> int | None:
    return int(text) if text else None


def _has_files(resources) -> bool:
    """A listing is worth a request unless every resource says it has no files."""
    return any(r.expected_files != 0 for r in resources)


def _q(el, name: str) -> str:
    return f"{{{etree.QName(el).namespace}}}{name}"


def _children(el, wrapper: str) -> list:
    out = []
    for wrap in el.findall(_q(el, wrapper)):
        out.extend(c for c in wrap if isinstance(c.tag, str))
    return out


def _type_of(el, default: str) -> str:
    """``xsi:type`` when nested, else the root element's type name as the server wrote it."""
    xsi_type = el.get(XSI_TYPE)
    if xsi_type:
        return xsi_type
    return ELEMENT_TYPES.get(local(el), default)


# Root element names of exported documents -> types (xnat.xsd global elements).
ELEMENT_TYPES = {
    "Project": "xnat:projectData", "Subject": "xnat:subjectData",
    "MRSession": "xnat:mrSessionData", "PETSession": "xnat:petSessionData",
    "CTSession": "xnat:ctSessionData",
}
