"""``/data/...`` object routes: projects, subjects, experiments, scans, assessors, sharing.

One catch-all route parses the URL (``paths.parse``) and dispatches on its shape; anything
with ``resources`` or ``files`` goes to ``api/files.py``.
"""

from __future__ import annotations


from flask import Blueprint, Response, request

from ..app import current, principal
from ..auth import ROLE_GROUPS, Principal, group_role
from ..errors import BadRequest, Conflict, NotFound, Unprocessable
from ..formats import Table
from ..store import Experiment
from . import files
from .common import (document_response, incoming, is_true, query_params, table_response,
                     text)
from .paths import Context, DataPath, Resolver, parse

bp = Blueprint("data", __name__)
METHODS = ["GET", "PUT", "POST", "DELETE"]


@bp.route("/data", methods=METHODS)
@bp.route("/data/<path:_rest>", methods=METHODS)
@bp.route("/REST/<path:_rest>", methods=METHODS)
def dispatch(_rest: str = ""):
    path = parse(request.path)
    if path.files is not None or "resources" in path.kinds:
        return files.dispatch(path)
    if not path.pairs:
        raise NotFound("Unable to find the requested resource.")
    if path.kinds[:2] == ["projects", "users"]:
        return project_users(path, path.pairs[1][1])
    name, ref = path.last
    handler = HANDLERS.get(name)
    if handler is None:
        raise NotFound("Unable to find the requested resource.")
    return handler(path, ref)


# -- projects ---------------------------------------------------------------------------------

def projects(path: DataPath, ref: str | None) -> Response:
    emu, who, params = current(), principal(), query_params()
    if len(path.pairs) > 1:
        return share(path, ref)
    if ref is None:
        if request.method == "GET":
            visible = [p for p in emu.store.list_projects() if emu.auth.can_see(who, p)]
            table = emu.listings.table("project", emu.listings.project_rows(visible), params)
            return table_response(table, params)
        if request.method == "POST":
            data = incoming()
            pid = (data.document.get("ID") if data.document is not None else None) or \
                data.fields.get("ID")
            if not pid:
                raise BadRequest("Missing project ID.")
            if emu.store.get_project(pid):
                raise Conflict("Project already exists.")
            emu.archive.put_project(who, pid, data)
            return created_from_list(pid)
        raise BadRequest("Unsupported method.")
    if request.method == "PUT":
        emu.archive.put_project(who, ref, incoming())
        return text("")
    # a protected project is visible: deleting it without rights is 403, not 404
    project = Resolver(emu.store, emu.auth, who,
                       write=request.method == "DELETE").project(ref)
    if request.method == "DELETE":
        emu.archive.delete_project(who, project, is_true(params, "removeFiles"))
        return text("")
    return document_response(emu.views.project(project), "xnat:projectData", params)


def project_settings(path: DataPath, ref: str | None) -> Response:
    """``/projects/P/{prearchive_code|quarantine_code|current_arc}[/value]`` and accessibility."""
    emu, who = current(), principal()
    # settings of a visible (protected) project read as 200 and refuse writes with 403
    # (RT TestInvalidUserAccess.testProtectedXMLCRUD)
    project = Resolver(emu.store, emu.auth, who, write=True).project(path.pairs[0][1])
    name = path.last[0]
    if name == "accessibility":
        if request.method == "PUT" and ref:
            emu.archive.set_accessibility(who, project, ref)
            return text("")
        return text(project.accessibility)
    defaults = {"prearchive_code": "4", "quarantine_code": "0", "current_arc": "arc001"}
    if request.method == "PUT":
        emu.auth.require_owner(who, project)
    return text(ref if request.method == "PUT" and ref else defaults[name])


def project_users(path: DataPath, ref: str | None) -> Response:
    """``/projects/P/users`` listing; ``PUT|DELETE /projects/P/users/{Owners|...}/{login}``."""
    emu, who, params = current(), principal(), query_params()
    project = Resolver(emu.store, emu.auth, who).project(path.pairs[0][1])
    if ref is None:
        # ProjectMemberResource.getRepresentation: SELECT g.id AS "GROUP_ID", displayname
        # (the group's: Owners|Members|Collaborators, which pyxnat's owners() filters on),
        # login, firstname, lastname, email ... ORDER BY g.id DESC; title "Projects"
        groups = {v: k for k, v in ROLE_GROUPS.items()}
        rows = sorted(([f"{project.id}_{role}", groups[role], login, login, "", ""]
                       for login, role in emu.store.project_users(project.id)),
                      key=lambda row: row[0], reverse=True)
        return table_response(Table(["GROUP_ID", "displayname", "login", "firstname",
                                     "lastname", "email"], rows, title="Projects"), params)
    segments = request.path.rstrip("/").split("/")
    group, login = segments[-2], segments[-1]
    role = group_role(project.id, group)
    if role is None:
        raise NotFound(f"Unknown group {group}")
    emu.auth.require_owner(who, project)
    if login not in emu.auth.users:
        raise NotFound(f"Unknown user {login}")
    emu.store.set_project_role(project.id, login, role if request.method == "PUT" else None)
    # ProjectUserResource answers a change with the project's user table
    return project_users(DataPath(path.pairs[:1] + [("users", None)]), None)


# -- subjects ---------------------------------------------------------------------------------

def subjects(path: DataPath, ref: str | None) -> Response:
    emu, who, params = current(), principal(), query_params()
    if path.kinds[:2] != ["projects", "subjects"] and path.kinds[0] != "subjects":
        raise NotFound("Unable to find the requested resource.")
    resolver = Resolver(emu.store, emu.auth, who, write=request.method in ("PUT", "POST"))
    if (request.method == "PUT" and ref is not None and path.kinds == ["projects", "subjects"]
            and emu.store.get_project(path.pairs[0][1]) is None):
        # SubjectResource.handlePut: no such project -> 422 (xnat-rest.md §4 table)
        raise Unprocessable("Submitted subject record must include the project attribute.")
    ctx = resolver.walk(path, stop_before_last=True)
    if ref is None:
        if request.method == "POST" and ctx.project is not None:
            data = incoming()
            label = _new_label(data, "subject")
            if emu.store.find_subject(ctx.project.id, label) is not None:
                raise Conflict(f"Subject {label} already exists in project {ctx.project.id}.")
            saved = emu.archive.put_subject(who, ctx.project.id, label, data)
            return created_from_list(saved.id)
        if request.method != "GET":
            raise BadRequest("Unsupported method.")
        project_id = ctx.project.id if ctx.project else None
        if project_id is None:
            visible = [s for s in emu.store.list_subjects(None)
                       if resolver._readable(s.id, s.project)]
        else:
            visible = emu.store.list_subjects(project_id)
        rows = emu.listings.subject_rows(visible, project_id)
        return table_response(emu.listings.table("subject", rows, params), params)
    if request.method == "PUT":
        if ctx.project is None:
            raise BadRequest("Subjects are created inside a project.")
        saved = emu.archive.put_subject(who, ctx.project.id, ref, incoming())
        return text(saved.id, 201 if saved.created else 200)
    subject = resolver.subject(ctx, ref)
    if request.method == "DELETE":
        emu.archive.delete_subject(who, ctx.project if ctx.via_project else None, subject,
                                   is_true(params, "removeFiles"))
        return text("")
    return document_response(emu.views.subject(subject), "xnat:subjectData", params)


# -- experiments and assessors ----------------------------------------------------------------

def experiments(path: DataPath, ref: str | None) -> Response:
    emu, who, params = current(), principal(), query_params()
    resolver = Resolver(emu.store, emu.auth, who, write=request.method in ("PUT", "POST"))
    lenient = request.method == "PUT" and ref is not None
    ctx = resolver.walk(path, stop_before_last=True, lenient_subject=lenient)
    if ref is None:
        if request.method == "POST" and ctx.project is not None:
            # ProjSubExptList.handlePost: the subject of the URL must exist (404 otherwise,
            # raised by the walk above); an existing label is 409
            data = incoming()
            label = _new_label(data, "experiment")
            if emu.store.find_experiment(ctx.project.id, label) is not None:
                raise Conflict(f"Experiment {label} already exists in project "
                               f"{ctx.project.id}.")
            saved = emu.archive.put_experiment(who, ctx.project.id,
                                               ctx.subject.id if ctx.subject else None,
                                               label, data)
            return created_from_list(saved.id)
        if request.method != "GET":
            raise BadRequest("Unsupported method.")
        return experiment_listing(ctx, resolver, params)
    if path.kinds == ["experiments"] and request.method in ("GET", "DELETE"):
        assessor = emu.store.get_experiment(ref)
        if assessor is not None and assessor.session_id and resolver._readable(
                assessor.id, assessor.project):
            # /data/experiments/{ID} serves any experiment, image assessors included
            # (RT TestContextlessExperiments.testContextlessExptDelete)
            if request.method == "DELETE":
                emu.archive.delete_experiment(who, None, assessor,
                                              is_true(params, "removeFiles"))
                return text("")
            return document_response(emu.views.experiment(assessor), assessor.xsi_type,
                                     params)
    if request.method == "PUT":
        if ctx.project is None:
            raise NotFound("Experiments are created inside a project.")
        subject_ref = path.pairs[-2][1] if ctx.via_subject else None
        saved = emu.archive.put_experiment(who, ctx.project.id, subject_ref, ref, incoming())
        return text(saved.id, 201 if saved.created else 200)
    exp = resolver.experiment(ctx, ref)
    if request.method == "DELETE":
        emu.archive.delete_experiment(who, ctx.project if ctx.via_project else None, exp,
                                      is_true(params, "removeFiles"))
        return text("")
    return document_response(emu.views.experiment(exp), exp.xsi_type, params)


def experiment_listing(ctx: Context, resolver: Resolver, params: dict[str, str]) -> Response:
    emu = current()
    project_id = ctx.project.id if ctx.project else None
    root = params.get("xsiType", "")
    want_assessors = "," not in root and root and emu.docs.is_a(
        emu.docs.canonical_type(root) or root, "xnat:imageAssessorData")
    found = emu.store.list_experiments(project_id, ctx.subject.id if ctx.subject else None,
                                       assessors=bool(want_assessors))
    if project_id is None:
        found = [e for e in found if resolver._readable(e.id, e.project)]
    rows = emu.listings.experiment_rows(found, project_id)
    level = "assessor" if want_assessors else "experiment"
    if project_id is None and not params.get("columns"):
        params = dict(params, columns=",".join(
            ["ID", "project", "date", "xsiType", "label", "insert_date"] +
            (["session_ID", "session_label"] if want_assessors else
             ["subject_ID", "subject_label"] if root else [])))
    return table_response(emu.listings.table(level, rows, params), params)


def assessors(path: DataPath, ref: str | None) -> Response:
    emu, who, params = current(), principal(), query_params()
    resolver, ctx, session = _parent_session(path, who, "Unable to find the specified experiment.")
    # an assessor is created in the project of the URL, which may be one the session is
    # shared into (RT TestSharing.testImageAssessorCreation: the "aggregator" project)
    project_id = ctx.project.id if ctx.via_project and ctx.project else session.project
    if ref is None:
        if request.method == "POST":
            data = incoming()
            label = _new_label(data, "assessor")
            if emu.store.find_experiment(project_id, label) is not None:
                raise Conflict(f"Experiment {label} already exists in project {project_id}.")
            saved = emu.archive.put_experiment(who, project_id, None, label, data,
                                               session=session)
            return created_from_list(saved.id)
        found = emu.store.list_experiments(session_id=session.id, assessors=True)
        rows = emu.listings.experiment_rows(found, ctx.project.id if ctx.via_project else None)
        return table_response(emu.listings.table("assessor", rows, params), params)
    if request.method == "PUT":
        saved = emu.archive.put_experiment(who, project_id, None, ref, incoming(),
                                           session=session)
        return text(saved.id, 201 if saved.created else 200)
    assessor = resolver.assessor(ctx, ref)
    if request.method == "DELETE":
        emu.archive.delete_experiment(who, None, assessor, is_true(params, "removeFiles"))
        return text("")
    return document_response(emu.views.experiment(assessor), assessor.xsi_type, params)


# -- scans ------------------------------------------------------------------------------------

def scans(path: DataPath, ref: str | None) -> Response:
    emu, who, params = current(), principal(), query_params()
    resolver, ctx, session = _parent_session(path, who, "Specified image session doesn't exist.")
    if ref is None:
        rows = emu.listings.scan_rows(emu.store.list_scans(session.id))
        return table_response(emu.listings.table("scan", rows, params), params)
    if request.method == "PUT":
        emu.archive.put_scan(who, session, ref, incoming())
        return text("")
    scan = resolver.scan(ctx, ref)
    if request.method == "DELETE":
        emu.archive.delete_scan(who, session, scan, is_true(params, "removeFiles"))
        return text("")
    return document_response(emu.views.scan(scan), scan.xsi_type, params)


# -- sharing ----------------------------------------------------------------------------------

def share(path: DataPath, target: str | None) -> Response:
    """``PUT|DELETE .../subjects/S/projects/P2`` and ``.../experiments/E/projects/P2``."""
    emu, who, params = current(), principal(), query_params()
    resolver = Resolver(emu.store, emu.auth, who)
    ctx = resolver.walk(path, stop_before_last=True)
    item = ctx.assessor or ctx.experiment or ctx.subject
    if item is None:
        raise NotFound("Unable to find the requested resource.")
    if target is None:
        projects_ = [(item.project, item.label)] + emu.store.shares(item.id)
        rows = []
        for pid, label in projects_:
            p = emu.store.get_project(pid)
            rows.append([label, pid, p.secondary_id if p else "", p.name if p else ""])
        return table_response(Table(["label", "ID", "Secondary_ID", "Name"], rows), params)
    if request.method == "PUT":
        emu.archive.share(who, item, target, params.get("label"), is_true(params, "primary"))
        return text("")
    if request.method == "DELETE":
        project = resolver.project(target)
        emu.auth.require_edit(who, project)
        emu.store.remove_share(item.id, project.id)
        return text("")
    raise BadRequest("Unsupported method.")


# -- reconstructions --------------------------------------------------------------------------

def reconstructions(path: DataPath, ref: str | None) -> Response:
    """``.../experiments/{E}/reconstructions[/{R}]`` (ReconList, ReconResource)."""
    emu, who, params = current(), principal(), query_params()
    _, _, session = _parent_session(path, who, "Specified image session doesn't exist.",
                                    write=request.method in ("PUT", "POST"))
    if ref is None:
        if request.method != "GET":
            raise BadRequest("Unsupported method.")
        from .. import items
        rows = [[r.get("ID", ""), r.get("type", ""), r.get("baseScanType", ""),
                 "xnat:reconstructedImageData",
                 f"/data/experiments/{session.id}/reconstructions/{r.get('ID', '')}"]
                for r in items.recons(items.load(session.xml))]
        return table_response(Table(["ID", "type", "baseScanType", "xsiType", "URI"], rows),
                              params)
    if request.method in ("PUT", "POST"):
        emu.archive.put_recon(who, session, ref, incoming())
        return text("")
    if request.method == "DELETE":
        emu.archive.delete_recon(who, session, ref, is_true(params, "removeFiles"))
        return text("")
    from .. import items
    recon = items.find_recon(items.load(session.xml), ref)
    if recon is None:
        raise NotFound("Unable to find the specified reconstruction.")
    recon.tag = items.qname("xnat:ReconstructedImage")  # its own document's root element
    return document_response(recon, "xnat:reconstructedImageData", params)


# -- helpers ----------------------------------------------------------------------------------

def _parent_session(path: DataPath, who: Principal, missing: str,
                    write: bool = False) -> tuple[Resolver, Context, Experiment]:
    """The image session a scan, assessor or reconstruction URL hangs off (every pair but the
    last resolved), so those routes answer the same 404 ``missing`` when it names none."""
    emu = current()
    resolver = Resolver(emu.store, emu.auth, who, write=write)
    ctx = resolver.walk(path, stop_before_last=True)
    if ctx.experiment is None:
        raise NotFound(missing)
    return resolver, ctx, ctx.experiment


def _new_label(data, what: str) -> str:
    """The label of an object POSTed to its listing: the document's, else ``label=``."""
    label = (data.document.get("label") if data.document is not None else None) or \
        data.fields.get("label")
    if not label:
        raise BadRequest(f"The submitted {what} has no label.")
    return label


def created_from_list(new_id: str) -> Response:
    """SecureResource.returnSuccessfulCreateFromList: 200, body and ``Location`` = the
    listing URL plus the new ID."""
    url = f"{request.host_url.rstrip('/')}{request.path.rstrip('/')}/{new_id}"
    return Response(url, 200, mimetype="text/plain", headers={"Location": url})


HANDLERS = {
    "projects": projects, "subjects": subjects, "experiments": experiments,
    "assessors": assessors, "scans": scans, "users": project_users,
    "reconstructions": reconstructions,
    "accessibility": project_settings, "prearchive_code": project_settings,
    "quarantine_code": project_settings, "current_arc": project_settings,
}
