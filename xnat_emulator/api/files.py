"""Resources and files at every level (xnat-rest.md §5): listings, upload, download, zip.

The owner of a resource is a project, subject, experiment, scan or assessor; its URL part
also decides the ``URI`` column of file listings and the entry names of zip downloads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import formatdate

from flask import Response, request

from .. import files as storage
from ..app import current, principal
from ..errors import BadRequest, NotAcceptable, NotFound, XnatError
from ..formats import render_table
from ..store import Resource
from .common import is_true, query_params, requested_format, text
from .paths import Context, DataPath, Resolver

NON_WORD = re.compile(r"\W")
# RequestUtil.supported_upload_types: bodies taken as the file itself.
RAW_UPLOAD_TYPES = {
    "application/octet-stream", "text/plain", "text/xml", "application/xml", "text/csv",
    "application/zip", "application/dicom", "application/gzip", "application/x-gzip",
    "application/x-tar", "application/x-tar-gz", "application/pdf", "application/json",
}
SINGLE_FILE_TYPES = {"txt": "text/plain", "xml": "text/xml", "html": "text/html",
                     "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                     "gif": "image/gif", "bmp": "image/bmp", "pdf": "application/pdf",
                     "svg": "image/svg+xml", "tiff": "image/tiff"}


@dataclass
class Owner:
    """A resource owner as the URL reached it."""

    type: str            # project | subject | experiment | scan | assessor
    id: str              # project ID, accession ID, or scan pk as text
    base_uri: str        # prefix of file URIs in listings
    zip_root: str        # archive dir name of the owner (label; project ID)
    zip_prefix: str      # path from the zip root to this owner's "resources"
    cat_id: str
    cat_desc: str = ""
    project_id: str = ""
    io: str | None = None


def dispatch(path: DataPath) -> Response:
    emu, who = current(), principal()
    resolver = Resolver(emu.store, emu.auth, who)
    kinds = path.kinds
    res_index = kinds.index("resources") if "resources" in kinds else None
    owner_path = DataPath(path.pairs[:res_index] if res_index is not None else path.pairs,
                          path.io, path.files)
    ctx = resolver.walk(owner_path, stop_before_last=False)
    params = query_params()
    owners = owners_for(ctx, path)
    if res_index is None:                      # {level}/files, scans/ALL/files
        return files_of(owners, None, path.files or "", params)
    ref = path.pairs[res_index][1]
    if path.files is None:
        if len(owners) != 1:
            raise NotFound("Unable to find the requested resource.")
        return resource_item(owners[0], ref, params)
    return files_of(owners, ref, path.files, params)


def owners_for(ctx: Context, path: DataPath) -> list[Owner]:
    prefix = "/data"
    if ctx.via_project and ctx.via_subject and ctx.subject is not None:
        prefix += f"/projects/{ctx.project.id}/subjects/{ctx.subject.id}"
    if ctx.scans or ctx.scan is not None:
        session = ctx.experiment
        out = []
        for scan in ctx.scans or [ctx.scan]:
            scan_type = _scan_type(scan)
            folder = f"{scan.scan_id}-{NON_WORD.sub('_', scan_type)}" if scan_type else scan.scan_id
            out.append(Owner("scan", str(scan.pk),
                             f"{prefix}/experiments/{session.id}/scans/{scan.scan_id}",
                             session.label, f"scans/{folder}/", scan.scan_id, scan_type,
                             session.project))
        return out
    if ctx.recon is not None:
        session, r = ctx.experiment, ctx.recon
        return [Owner("reconstruction", f"{session.id}:{r}",
                      f"{prefix}/experiments/{session.id}/reconstructions/{r}",
                      session.label, f"reconstructions/{r}/", r, "", session.project)]
    if ctx.assessor is not None:
        session, a = ctx.experiment, ctx.assessor
        io = f"/{path.io}" if path.io else ""
        return [Owner("assessor", a.id, f"{prefix}/experiments/{session.id}/assessors/{a.id}{io}",
                      session.label, f"assessors/{a.id}{io}/", a.id, "", a.project,
                      io=path.io or "")]
    if ctx.experiment is not None:
        e = ctx.experiment
        return [Owner("experiment", e.id, f"{prefix}/experiments/{e.id}", e.label, "", e.id,
                      "", e.project)]
    if ctx.subject is not None:
        s = ctx.subject
        base = prefix if ctx.via_project else f"/data/subjects/{s.id}"
        if ctx.via_project and not prefix.endswith(s.id):
            base = f"/data/projects/{ctx.project.id}/subjects/{s.id}"
        return [Owner("subject", s.id, base, s.label, "", s.id, "", s.project)]
    if ctx.project is not None:
        p = ctx.project
        return [Owner("project", p.id, f"/data/projects/{p.id}", p.id, "", p.id, "", p.id)]
    raise NotFound("Unable to find the requested resource.")


def _scan_type(scan) -> str:
    from .. import items
    return items.load(scan.xml).get("type") or ""


def _resources(owner: Owner, ref: str | None) -> list[Resource]:
    store = current().store
    if ref is None:
        return store.list_resources(owner.type, owner.id, owner.io)
    found = []
    for label in ref.split(","):
        res = store.find_resource(owner.type, owner.id, label)
        if res is not None and (owner.io is None or res.io == owner.io):
            found.append(res)
    return found


# -- resource collection and items ------------------------------------------------------------

def resource_item(owner: Owner, ref: str | None, params: dict[str, str]) -> Response:
    emu, who = current(), principal()
    project = emu.store.get_project(owner.project_id)
    if ref is None:
        if request.method != "GET":
            raise BadRequest("Unsupported method.")
        table = emu.listings.resources(owner.type, owner.id, owner.cat_id, owner.cat_desc,
                                       owner.io)
        body, mimetype = render_table(table, requested_format(params))
        return Response(body, 200, mimetype=mimetype)
    if request.method in ("PUT", "POST"):
        emu.auth.require_edit(who, project, "resources")
        emu.archive.put_resource(owner.type, owner.id, ref, params, owner.io or "")
        return text("")
    found = _resources(owner, ref)
    if not found:
        raise NotFound("Unable to find the specified catalog.")
    if request.method == "DELETE":
        emu.auth.require_edit(who, project, "resources")
        for res in found:
            emu.archive.delete_resource(res, not params.get("removeFiles", "").lower() == "false")
        return text("")
    return Response(emu.views.resource_catalog(found[0]), 200, mimetype="text/xml")


# -- files ------------------------------------------------------------------------------------

def files_of(owners: list[Owner], ref: str | None, relpath: str,
             params: dict[str, str]) -> Response:
    if request.method in ("PUT", "POST"):
        if ref is None or len(owners) != 1:
            raise BadRequest("Files are uploaded into a resource.")
        return upload(owners[0], ref, relpath, params)
    if request.method == "DELETE":
        return delete(owners, ref, relpath, params)
    if relpath and not relpath.endswith("/"):
        return single_file(owners, ref, relpath, params)
    return listing(owners, ref, relpath, params)


def _entries(owners: list[Owner], ref: str | None, folder: str = "", recursive: bool = True):
    """Files of the owners' resources under ``folder``; ``recursive=False`` keeps only the
    folder's own files, not those of its sub-folders (FileList ``recursive=false``)."""
    store = current().store
    for owner in owners:
        for res in _resources(owner, ref):
            for entry in store.list_files(res.id):
                if entry.path.startswith(folder) and (
                        recursive or "/" not in entry.path[len(folder):]):
                    yield owner, res, entry


def listing(owners, ref, folder: str, params: dict[str, str]) -> Response:
    emu = current()
    if ref is not None and not any(_resources(o, ref) for o in owners):
        raise NotFound("Unable to find the specified catalog.")
    fmt = requested_format(params)
    if fmt in ("zip", "tar.gz", "tar"):
        return archive_download(owners, ref, folder, params, fmt)
    recursive = params.get("recursive", "").lower() not in ("false", "0")
    entries = [(res, owner.base_uri, entry)
               for owner, res, entry in _entries(owners, ref, folder, recursive)]
    if "index" in params:
        return _nth_file(entries, params)
    table = emu.listings.files(entries, params, emu.checksums)
    body, mimetype = render_table(table, fmt)
    return Response(body, 200, mimetype=mimetype)


def _nth_file(entries, params: dict[str, str]) -> Response:
    """``?index=N``: the N-th (from 0) of the files the listing filters leave, served as the
    file itself; 404 when there is no such file (FileList; RT TestFileFiltering)."""
    from ..listings import _null_match

    wanted_format, wanted_content = params.get("file_format"), params.get("file_content")
    kept = [(res, entry) for res, _, entry in entries
            if (wanted_format is None or _null_match(entry.format, wanted_format))
            and (wanted_content is None or _null_match(entry.content, wanted_content))]
    index = params["index"]
    if not index.isdigit() or int(index) >= len(kept):
        raise NotFound("Unable to find catalog entry for given index.")
    res, entry = kept[int(index)]
    path = storage.file_path(current().store, res, entry.path)
    ext = entry.path.rsplit(".", 1)[-1].lower() if "." in entry.path else ""
    return Response(storage.iter_file(path), 200, direct_passthrough=True,
                    mimetype=SINGLE_FILE_TYPES.get(ext, "application/octet-stream"),
                    headers={"Content-Length": str(entry.size),
                             "Last-Modified": formatdate(entry.mtime, usegmt=True)})


def archive_download(owners, ref, folder, params, fmt: str) -> Response:
    """Zip/tar with XNAT's entry layout: ``{label}/scans/{id}-{type}/resources/{res}/files/...``."""
    store = current().store
    members = []
    for owner, res, entry in _entries(owners, ref, folder):
        name = f"{owner.zip_root}/{owner.zip_prefix}resources/{res.label}/files/{entry.path}"
        members.append((name, storage.file_path(store, res, entry.path)))
    if not members:
        raise NotFound("No files found.")
    root = owners[0].zip_root
    compression = params.get("compression")
    level = int(compression) if compression and compression.isdigit() else None
    if fmt == "zip":
        stream, mimetype, ext = storage.zip_stream(members, level), "application/zip", "zip"
    else:
        gz = fmt == "tar.gz"
        stream = storage.tar_stream(members, gzip=gz)
        mimetype, ext = ("application/x-tar-gz", "tar.gz") if gz else ("application/x-tar", "tar")
    return Response(stream, 200, mimetype=mimetype, direct_passthrough=True, headers={
        "Content-Disposition": f'attachment; filename="{root}.{ext}"'})


def single_file(owners, ref, relpath: str, params: dict[str, str]) -> Response:
    store = current().store
    for owner in owners:
        for res in _resources(owner, ref):
            entry = store.get_file(res.id, relpath)
            if entry is None:
                continue
            path = storage.file_path(store, res, relpath)
            if params.get("format", "").lower() == "zip":
                return Response(storage.zip_stream([(relpath, path)]), 200,
                                mimetype="application/zip", direct_passthrough=True)
            ext = relpath.rsplit(".", 1)[-1].lower() if "." in relpath else ""
            mimetype = SINGLE_FILE_TYPES.get(ext, "application/octet-stream")
            headers = {"Last-Modified": formatdate(entry.mtime, usegmt=True),
                       "Cache-Control": "must-revalidate",
                       "Content-Length": str(entry.size)}
            if mimetype.startswith("application/"):
                name = relpath.rsplit("/", 1)[-1]
                headers["Content-Disposition"] = f'attachment; filename="{name}"'
            body = storage.iter_file(path) if request.method != "HEAD" else []
            return Response(body, 200, mimetype=mimetype, headers=headers,
                            direct_passthrough=True)
    if params.get("accept-not-found", "").lower() == "true":
        return Response("", 204)
    raise NotFound("Unable to find catalog entry for given uri.")


def upload(owner: Owner, ref: str, relpath: str, params: dict[str, str]) -> Response:
    emu, who = current(), principal()
    emu.auth.require_edit(who, emu.store.get_project(owner.project_id), "resources")
    mimetype = request.mimetype
    inbody = is_true(params, "inbody")
    if mimetype == "multipart/form-data" and inbody:
        raise NotAcceptable("In-body File posts must include the file directly as the body of "
                            "the message.")
    raw = inbody or mimetype in RAW_UPLOAD_TYPES or mimetype.startswith("image/")
    if raw:
        if not relpath:
            raise BadRequest("In-body uploads need a file name in the URL.")
        size = request.content_length
        if not size or size < 1:
            if mimetype != "application/zip":
                raise XnatError("FileUploadException: the request body is empty or its size "
                                "is unknown.", 500)
        parts = [(relpath, request.stream, size)]
    elif mimetype == "multipart/form-data":
        parts = [(relpath or _part_filename(f), f.stream, None)
                 for f in request.files.values() if f.filename]
        params = {**{k: v for k, v in request.form.items()}, **params}
    else:
        parts = []
    if not parts:
        size = request.content_length or 0
        detail = f" (found request entity size of {size})" if not size else ""
        raise BadRequest(
            f"You tried to {request.method} a payload of {mimetype or 'unknown type'} to this "
            f"service, but didn't provide any data{detail}. If you think you sent data to "
            "upload, you can try to PUT with the query-string parameter inbody=true or use "
            "multipart/form-data encoding.")
    resource = _resources(owner, ref)
    resource = resource[0] if resource else emu.archive.put_resource(
        owner.type, owner.id, ref, {}, owner.io or "")
    emu.archive.configure_resource(resource, params)
    duplicates: list[str] = []
    for name, stream, size in parts:
        outcome = storage.receive_upload(
            emu.store, resource, name, stream, overwrite=is_true(params, "overwrite"),
            extract=is_true(params, "extract"), format=params.get("format", ""),
            content=params.get("content", ""), tags=params.get("tags", ""),
            expected_size=size)
        duplicates += outcome.duplicates
    if duplicates:

        return Response(json.dumps({"duplicates": duplicates}, separators=(",", ":")), 200,
                        mimetype="text/html")  # literal body: xnat-rest.md §12.4
    return text("")


def _part_filename(part) -> str:
    """The part's file name without client folders (FileList: "backslash paths stripped").

    Read from the raw header: werkzeug unquotes ``\\d`` to ``d``, so ``C:\\dir\\a.dcm`` sent by
    a Windows client would otherwise become ``C:dira.dcm``.
    """
    header = part.headers.get("Content-Disposition", "")
    match = re.search(r'filename="([^"]*)"', header)
    name = match.group(1) if match else (part.filename or "")
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def delete(owners, ref, relpath: str, params: dict[str, str]) -> Response:
    emu, who = current(), principal()
    if ref is None or len(owners) != 1:
        raise BadRequest("Files are deleted from a resource.")
    owner = owners[0]
    emu.auth.require_edit(who, emu.store.get_project(owner.project_id), "resources")
    found = _resources(owner, ref)
    if not found:
        raise NotFound("Unable to find the specified catalog.")
    remove = params.get("removeFiles", "").lower() != "false"
    # FileList.handleDelete (1.8): prefix match, trailing '*' a regex; nothing matched -> 404.
    removed = sum(storage.delete_files(emu.store, res, relpath, remove_files=remove)
                  for res in found)
    if removed == 0:
        if params.get("accept-not-found", "").lower() == "true":
            return Response("", 204)
        raise NotFound("No matched files")
    return text("")

