"""Archive rules for creating, updating, sharing and deleting objects (xnat-rest.md §4, §7).

No HTTP here: handlers pass parsed input (``items.Incoming``) and get back plain results or
typed errors with XNAT's status codes and messages.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

from lxml import etree

from . import items
from .auth import Auth, Principal
from .errors import (BadRequest, Conflict, ExpectationFailed, Forbidden, NotFound,
                     Unprocessable)
from .items import XSI_TYPE, Documents, Incoming
from .shortcuts import READ_ONLY, xpath_for
from .store import Experiment, Project, Resource, Scan, Store, Subject, now_timestamp

VALID_ID = re.compile(r"^[A-Za-z0-9_-]+$")
PROJECT_TYPE = "xnat:projectData"
SUBJECT_TYPE = "xnat:subjectData"
SUBJECT_ASSESSOR = "xnat:subjectAssessorData"
IMAGE_SESSION = "xnat:imageSessionData"
IMAGE_ASSESSOR = "xnat:imageAssessorData"
SCAN_TYPE = "xnat:imageScanData"
RECON_TYPE = "xnat:reconstructedImageData"
# Query keys that steer a request and are never fields.
CONTROL_KEYS = {
    "xsiType", "ELEMENT_0", "format", "req_format", "inbody", "columns", "event_reason",
    "event_type", "event_action", "event_comment", "event_id", "allowDataDeletion",
    "removeFiles", "triggerPipelines", "fixScanTypes", "pullDataFromHeaders", "activate",
    "quarantine", "_lock", "_unlock", "_obsolete", "primary", "overwrite", "extract",
    "content", "tags", "description", "XNAT_CSRF", "accessibility", "alias",
}


@dataclass
class Saved:
    """Outcome of a PUT: the accession ID and whether the object is new."""

    id: str
    created: bool


class Archive:
    def __init__(self, store: Store, docs: Documents, auth: Auth):
        self.store = store
        self.docs = docs
        self.auth = auth

    def install_data_types(self, specs: tuple[str, ...]) -> None:
        """Install the site's plugin types (a start-up setting, as plugins are). Stored objects
        of a type not installed stop the start: their plugin is missing, so the site must be
        started with the types it was run with."""
        for spec in specs:
            self.docs.install_plugin_type(spec)
        stored = {row["xsi_type"] for table in ("experiments", "scans")
                  for row in self.store._all(f"SELECT DISTINCT xsi_type FROM {table}")}
        missing = sorted(t for t in stored
                         if not self.docs.schema.has_type(t) and not self.docs.is_custom(t))
        if missing:
            raise ValueError("the archive holds objects of data types not installed: "
                             f"{', '.join(missing)} (give them with --data-type)")

    # -- helpers ------------------------------------------------------------------------------

    def requested_type(self, incoming: Incoming) -> str | None:
        """The document's type, overridden by ``xsiType`` (SecureResource.loadItem parses the
        body, then the query string). A type the site lacks is refused: in a document with
        422 (items.invalid_element), as ``xsiType`` with 400 (ElementNotFoundException)."""
        doc_type = None
        if incoming.document is not None:
            doc_type = self.docs.known_type(incoming.document)
        if incoming.xsi_type:
            canonical = self.docs.canonical_type(incoming.xsi_type)
            if canonical is None:
                raise BadRequest(f"Unable to identify the data type {incoming.xsi_type}.")
            return canonical
        return doc_type

    def _apply_fields(self, el, xsi_type: str, level: str, fields: dict[str, str]) -> None:
        for key, value in fields.items():
            if key in CONTROL_KEYS or key in READ_ONLY or key in ("label", "ID", "project"):
                continue
            if "/" in key and not self._same_type_path(xsi_type, key):
                continue
            path = xpath_for(level, key)
            if path is None:
                continue
            self.docs.set_field(el, xsi_type, path, value)

    def _same_type_path(self, xsi_type: str, key: str) -> bool:
        """An xpath rooted at another data type (``xnat:ctScanData/note`` sent for an MR scan)
        is silently ignored, as XNAT does (RT TestScans.testImplicitScanTypeChangeValidation,
        XNAT-7176): only xpaths of the object's type or one of its ancestors apply."""
        root = key.split("/", 1)[0]
        if ":" not in root:
            return True
        canonical = self.docs.canonical_type(root)
        if canonical is None or not self.docs.schema.has_type(canonical):
            return True  # not a type name: let the field setter judge the path
        return self.docs.is_a(xsi_type, canonical)

    def _merged_element(self, stored: str | None, incoming: Incoming, xsi_type: str, kind: str):
        """The new document. Sent XML is checked (400 on bad values) and, on an update,
        merged into the stored document unless ``allowDataDeletion=true``, which replaces it
        (XNAT loads the stored item as the template: SecureResource.loadItem); then query
        fields apply."""
        if incoming.document is not None:
            el = copy_element(incoming.document)
            collections = self.docs.strip_collections(el, kind)
            if not self.docs.is_custom(xsi_type) and self.docs.schema.has_type(xsi_type):
                items.check_values(self.docs.schema, el, xsi_type)
            allow_deletion = incoming.fields.get("allowDataDeletion", "").lower() == "true"
            if stored and not allow_deletion and not self.docs.is_custom(xsi_type):
                base = items.load(stored)
                items.merge_into(self.docs.schema, base, el, xsi_type)
                el = base
        else:
            el = items.load(stored) if stored else self.docs.new_element(xsi_type)
            collections = {}
        if el.get(XSI_TYPE) and self.docs.schema.has_type(xsi_type):
            del el.attrib[XSI_TYPE]
        level = "assessor" if kind == "assessor" else kind
        self._apply_fields(el, xsi_type, level, incoming.fields)
        return el, collections

    # -- projects -----------------------------------------------------------------------------

    def put_project(self, who: Principal, project_id: str, incoming: Incoming) -> bool:
        """Create or update a project; True when it is new (200 either way, empty body)."""
        existing = self.store.get_project(project_id)
        doc_id = incoming.document.get("ID") if incoming.document is not None else None
        if existing is not None and existing.id != project_id:
            # the URL names another project's alias: a new project whose ID clashes
            raise Conflict(f"Requested new project conflicts with existing projects: "
                           f"{existing.id}")
        if existing is None:
            if not VALID_ID.match(project_id) or (doc_id and doc_id != project_id):
                raise ExpectationFailed("Invalid project ID.")
            if self.store.was_deleted_project(project_id):
                # ProjectResource.handlePut: IDs live on in the project history table
                raise Forbidden(f"The project ID {project_id} was used by a deleted project "
                                "and cannot be reused.")
        elif self.auth.role(who, existing) != "owner":
            # ProjectResource.handlePut: 403 whether or not the user can see the project
            # (RT TestProjectValidation.testDuplicateId, TestInvalidUserAccess)
            raise Forbidden("User account doesn't have permission to edit this project.")
        xsi_type = self.requested_type(incoming) or PROJECT_TYPE
        if xsi_type != PROJECT_TYPE:
            raise BadRequest(f"Invalid data type {xsi_type} for a project.")
        el, _ = self._merged_element(existing.xml if existing else None, incoming, xsi_type,
                                     "project")
        pid = existing.id if existing else project_id
        el.set("ID", pid)
        fields = incoming.fields
        secondary = fields.get("secondary_ID") or el.get("secondary_ID") or (
            existing.secondary_id if existing else pid)
        if fields.get("description") is not None:  # a control key for resources, a field here
            self.docs.set_field(el, xsi_type, "description", fields["description"])
        name = self.docs.get_field(el, xsi_type, "name") or (existing.name if existing else pid)
        el.set("secondary_ID", secondary)
        self.docs.set_field(el, xsi_type, "name", name)
        description = self.docs.get_field(el, xsi_type, "description") or ""
        aliases = [a.text for a in el.iter(items.qname("xnat:alias")) if a.text]
        for alias in fields.get("alias", "").split(","):
            if alias and alias not in aliases:
                aliases.append(alias)
                _append_alias(el, alias)
        accessibility = fields.get("accessibility") or (
            existing.accessibility if existing else "private")
        project = Project(pid, secondary, name, description, accessibility, items.store_form(el),
                          existing.insert_date if existing else now_timestamp(),
                          existing.insert_user if existing else who.login)
        if existing is None:
            self._check_project_unique(project, aliases)
            self.store.create_project(project, aliases, who.login)
            return True
        self.store.update_project(project, aliases)
        return False

    def _check_project_unique(self, project: Project, aliases: list[str]) -> None:
        """A new project's ID, name, secondary ID and aliases must not equal, ignoring case,
        any identifier of an existing project (ProjectResource.handlePut; RT
        TestProjectValidation: an ID used as another's title, a title as an alias...)."""
        mine = {v.lower() for v in [project.id, project.secondary_id, project.name, *aliases] if v}
        clashes = []
        for other in self.store.list_projects():
            theirs = {v.lower() for v in [other.id, other.secondary_id, other.name,
                                          *self.store.project_aliases(other.id)] if v}
            if mine & theirs:
                clashes.append(other.id)
        if clashes:
            raise Conflict("Requested new project conflicts with existing projects: "
                           + ", ".join(clashes))

    def delete_project(self, who: Principal, project: Project, remove_files: bool) -> None:
        self.auth.require_delete(who, project, "projects")
        removed = self._recon_resources(self.store.list_experiments(project.id))
        self._remove_dirs(self.store.delete_project(project.id) + removed, remove_files)

    def set_accessibility(self, who: Principal, project: Project, level: str) -> None:
        if level not in ("public", "protected", "private"):
            raise BadRequest(f"Invalid accessibility {level}.")
        self.auth.require_owner(who, project)
        project.accessibility = level
        self.store.update_project(project)

    # -- subjects -----------------------------------------------------------------------------

    def put_subject(self, who: Principal, project_id: str, ref: str, incoming: Incoming) -> Saved:
        project = self.store.get_project(project_id)
        if project is None:
            raise Unprocessable("Submitted subject record must include the project attribute.")
        self.auth.require_edit(who, project, "subjects")
        existing = self.store.find_subject(project.id, ref)
        if existing and existing.project != project.id:
            return Saved(existing.id, False)  # shared in: edits go through the owner
        new_label = incoming.fields.get("label")
        if existing and new_label and new_label != existing.label and incoming.document is None:
            self._check_label(new_label, "subject")
            existing.label = new_label
            el = items.load(existing.xml)
            el.set("label", new_label)
            existing.xml = items.store_form(el)
            self.store.update_subject(existing)
            return Saved("", False)
        xsi_type = self.requested_type(incoming) or SUBJECT_TYPE
        if not self.docs.is_a(xsi_type, SUBJECT_TYPE):
            raise BadRequest(f"Invalid data type {xsi_type} for a subject.")
        el, _ = self._merged_element(existing.xml if existing else None, incoming, xsi_type,
                                     "subject")
        if existing:
            el.set("ID", existing.id)
            el.set("project", project.id)
            el.set("label", existing.label)
            existing.xml = items.store_form(el)
            self.store.update_subject(existing)
            return Saved(existing.id, False)
        label = new_label or ref
        self._check_label(label, "subject")
        el.set("project", project.id)
        el.set("label", label)
        subject = self.store.create_subject(project.id, label, items.store_form(el), who.login)
        el.set("ID", subject.id)
        subject.xml = items.store_form(_ordered_attrs(el))
        self.store.update_subject(subject)
        return Saved(subject.id, True)

    def delete_subject(self, who: Principal, project: Project | None, subject: Subject,
                       remove_files: bool) -> None:
        owner = self.store.get_project(subject.project)
        if project is not None and project.id != subject.project:
            self.auth.require_edit(who, project, "subjects")
            self.store.remove_share(subject.id, project.id)
            # unsharing a subject also unshares its experiments from that project (RT
            # TestSharing.testUnShared: re-sharing the session afterwards answers 200, not 409)
            for exp in self.store.list_experiments(project.id, subject.id):
                if exp.project != project.id:
                    self.store.remove_share(exp.id, project.id)
            return
        self.auth.require_delete(who, owner, "subjects")
        removed = self._recon_resources(self.store.list_experiments(subject_id=subject.id))
        self._remove_dirs(self.store.delete_subject(subject.id) + removed, remove_files)

    def _check_label(self, label: str, what: str) -> None:
        if not VALID_ID.match(label):
            raise ExpectationFailed(f"Invalid character in {what} label.")

    # -- experiments and assessors ------------------------------------------------------------

    def put_experiment(self, who: Principal, project_id: str, subject_ref: str | None, ref: str,
                       incoming: Incoming, session: Experiment | None = None) -> Saved:
        """A subject assessor, or with ``session`` an image assessor of that session."""
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(f"Unable to identify project {project_id}")
        kind = "assessor" if session else "experiment"
        self.auth.require_edit(who, project, "experiments")
        existing = self.store.find_experiment(project.id, ref)
        if existing and session and existing.session_id != session.id:
            existing = None if existing.label != ref else existing
        if existing and existing.project != project.id:
            return Saved(existing.id, False)
        new_label = incoming.fields.get("label")
        if existing and new_label and new_label != existing.label and incoming.document is None:
            self._check_label(new_label, "experiment")
            el = items.load(existing.xml)
            el.set("label", new_label)
            existing.label, existing.xml = new_label, items.store_form(el)
            self.store.update_experiment(existing)
            return Saved(existing.id, False)
        base = IMAGE_ASSESSOR if session else SUBJECT_ASSESSOR
        xsi_type = self.requested_type(incoming)
        if existing is None and xsi_type is None:
            raise ExpectationFailed("Need PUT Contents")
        xsi_type = xsi_type or existing.xsi_type
        if not self.docs.is_a(xsi_type, base):
            raise BadRequest(f"Invalid data type {xsi_type} here.")
        if existing and xsi_type != existing.xsi_type:
            raise Conflict("Specified xsiType differs from existing xsiType")
        if incoming.document is not None:
            doc_label = incoming.document.get("label")
            if existing and doc_label and doc_label != existing.label:
                raise BadRequest("Label must be modified through separate URI.")
        el, collections = self._merged_element(existing.xml if existing else None, incoming,
                                               xsi_type, kind)
        subject_id = self._experiment_subject(who, project, subject_ref, el, xsi_type, existing,
                                              session)
        label = existing.label if existing else (new_label or incoming.document.get("label")
                                                 if incoming.document is not None and
                                                 incoming.document.get("label") else ref)
        if existing is None:
            self._check_label(label, "experiment")
        el.set("project", project.id)
        el.set("label", label)
        if session is not None:
            self.docs.set_field(el, xsi_type, "imageSession_ID", session.id) \
                if not self.docs.is_custom(xsi_type) else None
        date = (self.docs.get_field(el, xsi_type, "date") or "") if not self.docs.is_custom(
            xsi_type) else ""
        record = Experiment(existing.id if existing else "", project.id, label, xsi_type,
                            subject_id, session.id if session else None, date, "",
                            "", who.login, "")
        if existing:
            el.set("ID", existing.id)
            record.xml = items.store_form(_ordered_attrs(el))
            self.store.update_experiment(record)
            saved = Saved(existing.id, False)
        else:
            record.xml = items.store_form(el)
            created = self.store.create_experiment(record)
            el.set("ID", created.id)
            created.xml = items.store_form(_ordered_attrs(el))
            self.store.update_experiment(created)
            saved = Saved(created.id, True)
        for scan_el in (s for wrapper in collections.get("scans", []) for s in wrapper):
            self._put_scan_element(who, saved.id, scan_el)
        fix = incoming.fields.get("fixScanTypes")
        if session is None and fix is not None and fix.lower() not in ("false", "0"):
            self.fix_scan_types(self.store.get_experiment(saved.id))
        return saved

    def _experiment_subject(self, who, project, subject_ref, el, xsi_type, existing, session):
        if session is not None:
            return session.subject_id
        custom = self.docs.is_custom(xsi_type)
        ref = subject_ref or (None if custom else self.docs.get_field(el, xsi_type, "subject_ID"))
        if not ref:
            if existing:
                ref = existing.subject_id
            else:
                raise Unprocessable("Submitted experiment record must include the subject.")
        subject = self.store.find_subject(project.id, ref) or self.store.get_subject(ref)
        if subject is None:  # SubjAssessmentResource.createNewSubject
            saved = self.put_subject(who, project.id, ref, Incoming(None, {}, SUBJECT_TYPE))
            subject = self.store.get_subject(saved.id)
        if not custom:
            self.docs.set_field(el, xsi_type, "subject_ID", subject.id)
        return subject.id

    def delete_experiment(self, who: Principal, project: Project | None, exp: Experiment,
                          remove_files: bool) -> None:
        if project is not None and project.id != exp.project:
            self.auth.require_edit(who, project, "experiments")
            self.store.remove_share(exp.id, project.id)
            return
        self.auth.require_delete(who, self.store.get_project(exp.project), "experiments")
        removed = self._recon_resources([exp])
        self._remove_dirs(self.store.delete_experiment(exp.id) + removed, remove_files)

    def fix_scan_types(self, session: Experiment) -> None:
        """``PUT {session}?fixScanTypes=true`` (XNAT FixScanTypes): each scan without a type
        takes the type of a scan with the same series description elsewhere in the project
        (RT TestArchive.testFixScanTypes)."""
        known: dict[str, str] = {}
        for other in self.store.list_experiments(session.project):
            if other.id == session.id or other.project != session.project:
                continue
            for scan in self.store.list_scans(other.id):
                el = items.load(scan.xml)
                desc = self.docs.get_field(el, scan.xsi_type, "series_description") \
                    if not self.docs.is_custom(scan.xsi_type) else None
                if desc and el.get("type"):
                    known.setdefault(desc.lower(), el.get("type"))
        for scan in self.store.list_scans(session.id):
            if self.docs.is_custom(scan.xsi_type):
                continue
            el = items.load(scan.xml)
            desc = self.docs.get_field(el, scan.xsi_type, "series_description")
            if el.get("type") or not desc or desc.lower() not in known:
                continue
            el.set("type", known[desc.lower()])
            scan.xml = items.store_form(el)
            self.store.update_scan(scan)

    # -- reconstructions ----------------------------------------------------------------------

    def put_recon(self, who: Principal, session: Experiment, recon_id: str,
                  incoming: Incoming) -> None:
        """``PUT {session}/reconstructions/{R}`` (ReconResource): 200 new or updated; kept in
        the session document as ``xnat:reconstructions/xnat:reconstructedImage``. ``xsiType``
        may be the type or its element name (``xnat:ReconstructedImage``)."""
        project = self.store.get_project(session.project)
        self.auth.require_edit(who, project, "reconstructions")
        xsi_type = self.requested_type(incoming) or RECON_TYPE
        if not self.docs.is_a(xsi_type, RECON_TYPE):
            raise BadRequest(f"Invalid data type {xsi_type} for a reconstruction.")
        if not VALID_ID.match(recon_id):
            raise ExpectationFailed("Invalid character in reconstruction ID.")
        doc = items.load(session.xml)
        recon = items.find_recon(doc, recon_id)
        if recon is None:
            wrapper = next((w for w in doc if isinstance(w.tag, str)
                            and items.local(w) == "reconstructions"), None)
            if wrapper is None:
                wrapper = etree.Element(items.qname("xnat:reconstructions"))
                items._insert_in_order(doc, wrapper, items.children_of(self.docs.schema,
                                                                       session.xsi_type))
            recon = etree.SubElement(wrapper, items.qname("xnat:reconstructedImage"))
            recon.set("ID", recon_id)
        if incoming.document is not None:
            for key, value in incoming.document.attrib.items():
                if not key.startswith("{") and key != "ID":
                    recon.set(key, value)
        for key in ("type", "baseScanType"):
            if incoming.fields.get(key) is not None:
                recon.set(key, incoming.fields[key])
        fields = {k: v for k, v in incoming.fields.items() if "/" in k}
        self._apply_fields(recon, RECON_TYPE, "recon", fields)
        self.docs.set_field(recon, RECON_TYPE, "image_session_ID", session.id)
        session.xml = items.store_form(doc)
        self.store.update_experiment(session)

    def delete_recon(self, who: Principal, session: Experiment, recon_id: str,
                     remove_files: bool) -> None:
        self.auth.require_delete(who, self.store.get_project(session.project),
                                 "reconstructions")
        doc = items.load(session.xml)
        recon = items.find_recon(doc, recon_id)
        if recon is None:
            raise NotFound("Unable to find the specified reconstruction.")
        recon.getparent().remove(recon)
        session.xml = items.store_form(doc)
        self.store.update_experiment(session)
        removed = []
        for res in self.store.list_resources("reconstruction", f"{session.id}:{recon_id}"):
            self.store.delete_resource(res.id)
            removed.append(res.id)
        self._remove_dirs(removed, remove_files)

    def _recon_resources(self, experiments: list[Experiment]) -> list[int]:
        """Drop the resource rows of the reconstructions of sessions about to be deleted."""
        removed = []
        for exp in experiments:
            if "reconstructedImage" not in exp.xml:
                continue
            for recon in items.recons(items.load(exp.xml)):
                owner = f"{exp.id}:{recon.get('ID')}"
                for res in self.store.list_resources("reconstruction", owner):
                    self.store.delete_resource(res.id)
                    removed.append(res.id)
        return removed

    # -- sharing ------------------------------------------------------------------------------

    def share(self, who: Principal, item: Subject | Experiment, target_id: str, label: str | None,
              primary: bool) -> None:
        target = self.store.get_project(target_id)
        if target is None or not self.auth.can_read(who, target):
            raise NotFound(f"Unable to identify project {target_id}")
        self.auth.require_edit(who, target)
        if item.project == target.id or self.store.share_label(item.id, target.id):
            raise Conflict(f"Already assigned to project {target.id}")
        self.store.add_share(item.id, target.id, label or item.label)

    # -- scans --------------------------------------------------------------------------------

    def put_scan(self, who: Principal, session: Experiment, scan_id: str,
                 incoming: Incoming) -> bool:
        project = self.store.get_project(session.project)
        self.auth.require_edit(who, project, "scans")
        if not self.docs.is_a(session.xsi_type, IMAGE_SESSION):
            raise NotFound("Specified image session doesn't exist.")
        existing = self.store.get_scan(session.id, scan_id)
        xsi_type = self.requested_type(incoming)
        if xsi_type == SCAN_TYPE:
            raise BadRequest("Multiple scan modalities are not supported. Please specify a "
                             "specific scan type (e.g. xnat:mrScanData).")
        if existing is None and xsi_type is None:
            raise ExpectationFailed("Need PUT Contents")
        xsi_type = xsi_type or existing.xsi_type
        if not self.docs.is_a(xsi_type, SCAN_TYPE):
            raise BadRequest(f"Invalid data type {xsi_type} for a scan.")
        if existing and xsi_type != existing.xsi_type:
            raise Conflict("Specified xsiType differs from existing xsiType")
        el, _ = self._merged_element(existing.xml if existing else None, incoming, xsi_type, "scan")
        self._save_scan(who, session, scan_id, xsi_type, el, existing)
        return existing is None

    def _put_scan_element(self, who: Principal, session_id: str, scan_el) -> None:
        """A scan nested in a session document (``xnat:scans/xnat:scan``)."""
        scan_id = scan_el.get("ID")
        xsi_type = self.docs.canonical_type(scan_el.get(XSI_TYPE))  # known: requested_type
        if not scan_id or not xsi_type:
            return
        el = self.docs.new_element(xsi_type)
        for key, value in scan_el.attrib.items():
            if key != XSI_TYPE:
                el.set(key, value)
        for child in scan_el:
            if isinstance(child.tag, str) and items.local(child) != "file":
                el.append(copy_element(child))
        session = self.store.get_experiment(session_id)
        self._save_scan(who, session, scan_id, xsi_type, el,
                        self.store.get_scan(session_id, scan_id))

    def _save_scan(self, who, session, scan_id, xsi_type, el, existing) -> None:
        el.set("ID", scan_id)
        el.set("project", session.project)
        if not self.docs.is_custom(xsi_type):
            self.docs.set_field(el, xsi_type, "image_session_ID", session.id)
        xml = items.store_form(_ordered_attrs(el))
        if existing:
            existing.xml = xml
            self.store.update_scan(existing)
        else:
            self.store.create_scan(session.id, scan_id, xsi_type, xml, who.login)

    def delete_scan(self, who: Principal, session: Experiment, scan: Scan,
                    remove_files: bool) -> None:
        self.auth.require_delete(who, self.store.get_project(session.project), "scans")
        self._remove_dirs(self.store.delete_scan(scan), remove_files)

    # -- resources ----------------------------------------------------------------------------

    def put_resource(self, owner_type: str, owner_id: str, label: str, params: dict[str, str],
                     io: str = "") -> Resource:
        if not label or "/" in label:
            raise BadRequest("Invalid resource label.")
        return self.store.create_resource(
            owner_type, owner_id, label, io=io, format=params.get("format", ""),
            content=params.get("content", ""), description=params.get("description", ""),
            tags=params.get("tags", ""))

    def configure_resource(self, resource: Resource, params: dict[str, str]) -> None:
        """Upload parameters also apply to the resource. Tags are appended at every upload,
        repeats included: CatalogUtils.configureEntry(XnatResource, ...) adds one tag row per
        tag given (``setTags_tag``) without looking at those the resource has."""
        changed = False
        for key in ("format", "content", "description"):
            value = params.get(key)
            if value is not None and value.strip() and value != getattr(resource, key):
                setattr(resource, key, value)
                changed = True
        tags = [t for t in (params.get("tags") or "").split(",") if t.strip()]
        if tags:
            resource.tags = ",".join([t for t in resource.tags.split(",") if t] + tags)
            changed = True
        if changed:
            self.store.update_resource(resource)

    def delete_resource(self, resource: Resource, remove_files: bool = True) -> None:
        self.store.delete_resource(resource.id)
        self._remove_dirs([resource.id], remove_files)

    def _remove_dirs(self, resource_ids: list[int], remove_files: bool) -> None:
        if not remove_files:
            return
        for rid in resource_ids:
            shutil.rmtree(self.store.resource_dir(rid), ignore_errors=True)


def copy_element(el):
    return etree.fromstring(etree.tostring(el))


def _append_alias(el, alias: str) -> None:
    """Aliases are a repeated element the field setter cannot add to; append one."""
    wrapper = el.find(items.qname("xnat:aliases"))
    if wrapper is None:
        wrapper = etree.SubElement(el, items.qname("xnat:aliases"))
    child = etree.SubElement(wrapper, items.qname("xnat:alias"))
    child.text = alias


def _ordered_attrs(el):
    """XNAT writes ``ID``, ``project``, ``label`` first; keep exports stable and readable."""
    attrs = dict(el.attrib)
    el.attrib.clear()
    for key in ("ID", "project", "label"):
        if key in attrs:
            el.set(key, attrs.pop(key))
    for key, value in attrs.items():
        el.set(key, value)
    return el
