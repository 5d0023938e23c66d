"""Full object documents as XNAT exports them: the stored element plus child collections."""

from __future__ import annotations

from lxml import etree

from . import items
from .items import XSI_TYPE, Documents, qname
from .store import Experiment, Project, Resource, Scan, Store, Subject


class Views:
    def __init__(self, store: Store, docs: Documents):
        self.store = store
        self.docs = docs

    # -- resources as they appear inside object documents -----------------------------------

    def resource_elements(self, owner_type: str, owner_id: str, tag: str = "xnat:resource",
                          io: str | None = None) -> list:
        out = []
        for res in self.store.list_resources(owner_type, owner_id, io):
            count, size = self.store.resource_stats(res.id)
            el = etree.Element(qname(tag))
            el.set("label", res.label)
            el.set("URI", f"{self.store.resource_dir(res.id)}/{res.label}_catalog.xml")
            for key in ("format", "content", "description"):
                if getattr(res, key):
                    el.set(key, getattr(res, key))
            el.set("file_count", str(count))
            el.set("file_size", str(size))
            el.set(XSI_TYPE, res.element_name)
            if res.tags:
                tags = etree.SubElement(el, qname("xnat:tags"))
                for tag_text in res.tags.split(","):
                    etree.SubElement(tags, qname("xnat:tag")).text = tag_text
            out.append(el)
        return out

    def _sharing(self, item_id: str) -> list:
        out = []
        for project, label in self.store.shares(item_id):
            el = etree.Element(qname("xnat:share"), label=label, project=project)
            el.text = project
            out.append(el)
        return out

    # -- documents ----------------------------------------------------------------------------

    def project(self, p: Project):
        return self.docs.render(items.load(p.xml), "xnat:projectData",
                                {"resources": self.resource_elements("project", p.id)})

    def subject(self, s: Subject, nested: bool = True):
        inserts = {"resources": self.resource_elements("subject", s.id),
                   "sharing": self._sharing(s.id)}
        if nested:
            inserts["experiments"] = [
                self.experiment(e, tag=qname("xnat:experiment"))
                for e in self.store.list_experiments(subject_id=s.id)]
        return self.docs.render(items.load(s.xml), "xnat:subjectData", inserts)

    def experiment(self, e: Experiment, tag: str | None = None):
        stored = items.load(e.xml)
        if self.docs.is_custom(e.xsi_type):
            return self._typed(stored, e.xsi_type, tag)
        kind = "assessor" if e.session_id else "experiment"
        owner = "assessor" if e.session_id else "experiment"
        inserts = {"sharing": self._sharing(e.id),
                   "resources": self.resource_elements(owner, e.id, io="" if e.session_id else None)}
        if kind == "assessor":
            inserts["in"] = self._io_files(e.id, "in")
            inserts["out"] = self._io_files(e.id, "out")
        else:
            inserts["scans"] = [self.scan(s, tag=qname("xnat:scan"))
                                for s in self.store.list_scans(e.id)]
            inserts["assessors"] = [
                self.experiment(a, tag=qname("xnat:assessor"))
                for a in self.store.list_experiments(session_id=e.id, assessors=True)]
        el = self.docs.render(stored, e.xsi_type, inserts)
        return self._typed(el, e.xsi_type, tag)

    def _io_files(self, assessor_id: str, io: str) -> list:
        files = self.resource_elements("assessor", assessor_id, tag="xnat:file", io=io)
        if not files:
            return []
        wrapper = etree.Element(qname(f"xnat:{io}"))
        wrapper.extend(files)
        return [wrapper]

    def scan(self, s: Scan, tag: str | None = None):
        stored = items.load(s.xml)
        if self.docs.is_custom(s.xsi_type):
            return self._typed(stored, s.xsi_type, tag)
        el = self.docs.render(stored, s.xsi_type,
                              {"file": self.resource_elements("scan", str(s.pk), tag="xnat:file")})
        return self._typed(el, s.xsi_type, tag)

    def _typed(self, el, xsi_type: str, tag: str | None):
        """Nested items are named by their collection and typed with ``xsi:type``."""
        if tag is None:
            return el
        el.tag = tag
        el.set(XSI_TYPE, xsi_type)
        return el

    def resource_catalog(self, res: Resource) -> bytes:
        """``GET {level}/resources/{R}``: the catalog document, always XML (xnat-rest.md §6)."""
        cat = "http://nrg.wustl.edu/catalog"
        root = etree.Element(f"{{{cat}}}Catalog", nsmap={"cat": cat, "xsi": items.XSI_NS})
        root.set("ID", str(res.id))
        root.set("label", res.label)
        entries = etree.SubElement(root, f"{{{cat}}}entries")
        for f in self.store.list_files(res.id):
            entry = etree.SubElement(entries, f"{{{cat}}}entry")
            entry.set("URI", f.path)
            entry.set("name", f.path.rsplit("/", 1)[-1])
            entry.set("ID", f.path)
            entry.set("digest", f.md5)
            entry.set(items.XSI_TYPE, "cat:entry")
        return items.serialize(root)
