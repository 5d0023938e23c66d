"""Carry out a plan: create objects, then stream files from source to target in a pool.

Objects go first, parents before children, each subject's chain in order (subjects run in
parallel); a subject's files move as soon as its chain is written, in the same bounded pool.
A large file streams straight from the source response into the target request (no disk,
constant memory, MD5 computed on the way); a resource of many small files moves as one zip
(download, re-root the entries, upload with ``extract=true``), two requests instead of two
per file. Every upload is recorded in the journal before it starts and cleared once verified.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import threading
import zipfile
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from . import interrupt, tree
from .copy import metadata
from .copy.targets import ElementNames, object_path, resource_path
from .interrupt import Interrupted
from .journal import Journal
from .plan import ObjectAction, Plan, ResourceAction
from .progress import Progress
from .xnat.client import XnatClient
from .xnat.errors import BodyInterrupted, Forbidden, XnatError

log = logging.getLogger(__name__)
# Tags of objects exported inside their parent's document; sent alone they need their type's
# global element name (documents we generate, e.g. for import, are rooted right already).
NESTED_TAGS = {"subject", "experiment", "scan", "assessor", "reconstructedImage"}
CHUNK = 1 << 20
ZIP_MIN_FILES = 8            # a resource with at least this many files to move...
ZIP_MAX_AVERAGE = 4 << 20    # ...averaging under 4 MiB moves as one zip
UNIT_ATTEMPTS = 3            # a file or zip whose stream broke is started again


@dataclass
class Failure:
    what: str                 # "object" | "resource" | "file" | "verify"
    where: str
    reason: str


@dataclass
class TransferResult:
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: int = 0
    resources_created: int = 0
    files_uploaded: int = 0
    bytes_uploaded: int = 0
    streamed_md5: dict[tuple, str] = field(default_factory=dict)   # (where, key, path) -> md5
    failures: list[Failure] = field(default_factory=list)
    created_objects: list[tuple] = field(default_factory=list)


class Fatal(XnatError):
    """A failure no other object can avoid (e.g. no permission to write the project)."""


class Transferer:
    def __init__(self, source: XnatClient | None, target: XnatClient, target_project: str,
                 journal: Journal | None, progress: Progress, workers: int = 4,
                 temp_dir: Path | None = None):
        self.source = source
        self.target = target
        self.project = target_project
        self.journal = journal
        self.progress = progress
        self.workers = max(1, workers)
        self.temp_dir = temp_dir
        self.id_map: dict[str, str] = {}
        self.result = TransferResult()
        self._lock = threading.Lock()
        self._names = ElementNames(target)   # reads the target's schemas as needed

    # -- entry point --------------------------------------------------------------------------

    def run(self, plan: Plan, known_ids: dict[str, str]) -> TransferResult:
        """``known_ids``: source accession ID -> target ID of objects already on the target.

        One pool does it all. At most ``workers`` subjects' chains of objects are queued at a
        time; as a chain is written, its resources (created first where an upload cannot
        create them) and their files are queued ahead of the next chain, so files start
        early and never wait for every subject's objects. Resources of objects that could
        not be created are failed without a request."""
        self.id_map.update(known_ids)
        chains: dict[tuple, list[ObjectAction]] = defaultdict(list)
        for action in plan.objects:
            if action.kind == "project":
                self._put_object(action)
            else:
                chains[action.where[:2]].append(action)
        waiting: dict[tuple, list[ResourceAction]] = defaultdict(list)
        for action in sorted(plan.resources, key=lambda a: a.where):
            self.progress.expect(action)
            waiting[action.where[:2] if action.where[:2] in chains else ()].append(action)
        queued_chains = list(chains.items())
        with interrupt.pool(self.workers) as pool:
            pending: dict[Future, Callable[[object], None]] = {}

            def submit(then: Callable[[object], None], call: Callable, *args) -> None:
                pending[pool.submit(call, *args)] = then

            def next_chain() -> None:
                if queued_chains:
                    key, chain = queued_chains.pop(0)
                    submit(partial(chain_written, key), self._create_chain, chain)

            def chain_written(key: tuple, unwritten: list[tuple]) -> None:
                resources_of(key, unwritten)
                next_chain()

            def resources_of(key: tuple, unwritten: list[tuple] = ()) -> None:
                for action in waiting.pop(key, []):
                    if any(action.where[:len(w)] == w for w in unwritten):
                        self._no_parent(action)
                    elif action.create and not self._created_by_upload(action):
                        submit(partial(created, action), self._ensure_resource, action)
                    else:
                        files_of(action)

            def created(action: ResourceAction, ok: object) -> None:
                if ok:
                    files_of(action)

            def files_of(action: ResourceAction) -> None:
                if not action.files:
                    self.progress.resource_done(action)
                elif self._zip_worthy(action):
                    submit(_ignore, self._guard, action, None)
                elif _own_attributes(action):
                    submit(_ignore, self._guard_in_order, action)
                else:
                    for f in action.files:
                        submit(_ignore, self._guard, action, f)

            resources_of(())
            for _ in range(self.workers):
                next_chain()
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        pending.pop(future)(future.result())
            except BaseException:
                for future in pending:      # a Fatal stop: what has not started never will
                    future.cancel()
                raise
        return self.result

    # -- objects ------------------------------------------------------------------------------

    def _create_chain(self, chain: list[ObjectAction]) -> list[tuple]:
        """Write a subject's objects in order. Returns where the new objects that could not
        be written are: nothing below them can be written (their children fail here, their
        resources in ``run``); their siblings still are."""
        done: set[int] = set()       # scans written nested in their new session
        unwritten: list[tuple] = []
        for action in chain:
            if id(action) in done:
                continue
            if any(action.where[:len(w)] == w for w in unwritten):
                self._fail("object", "/".join(action.where), "parent object not written")
                continue
            try:
                interrupt.check()
                nested = []
                if action.kind == "experiment" and action.create:
                    depth = len(action.where)
                    nested = [a for a in chain if a.kind == "scan" and a.create
                              and a.where[:depth] == action.where]
                if self._put_object(action, nested):
                    done.update(id(a) for a in nested)
            except (Fatal, Interrupted):
                raise
            except XnatError as exc:
                self._fail("object", "/".join(action.where), str(exc))
                if action.create:
                    unwritten.append(action.where)
        return unwritten

    def _put_object(self, action: ObjectAction, scans: list[ObjectAction] = ()) -> bool:
        """Write one object; a new session with the ``scans`` to create nested in it (one
        request instead of one per scan). True when the scans went with it."""
        source = metadata.parse(action.item.xml)
        doc = metadata.clean(source, project_level=action.kind == "project")
        nested = bool(scans) and metadata.nest_scans(
            source, doc, [(a.item.id, a.item.xml) for a in scans])
        metadata.remap_ids(doc, self.id_map)
        if action.kind != "project" and metadata.local(doc) in NESTED_TAGS:
            doc = self._names.as_root(doc, action.item.xsi_type)
        path = object_path(self.project, action.where)
        params = {"inbody": "true", "allowDataDeletion": "false" if action.create else "true"}
        try:
            response = self.target.request(
                "PUT", path, params=params, data=metadata.to_bytes(doc),
                headers={"Content-Type": "text/xml"})
        except Forbidden as exc:
            raise Fatal(f"no permission to write {path} on {self.target.url}: {exc}") from exc
        new_id = response.text.strip()
        if action.item.source_id and new_id and action.kind in ("subject", "experiment",
                                                                  "assessor"):
            with self._lock:
                self.id_map[action.item.source_id] = new_id
        written = [action] + (list(scans) if nested else [])
        with self._lock:
            for a in written:
                if a.create:
                    self.result.created[a.kind] += 1
                    self.result.created_objects.append(a.where)
                else:
                    self.result.updated += 1
        for a in written:
            self.progress.object_done(a)
        return nested

    # -- files --------------------------------------------------------------------------------

    def _no_parent(self, action: ResourceAction) -> None:
        """A resource of an object that could not be created: failed, no request sent."""
        self._fail("resource", resource_path(self.project, action.where, action.resource),
                   "parent object not written")
        for f in action.files:
            self.progress.file_done(action, f, failed=True)

    def _ensure_resource(self, action: ResourceAction) -> bool:
        """Create the resource by PUT; False if that failed (recorded; its files will not be
        sent)."""
        path = resource_path(self.project, action.where, action.resource)
        try:
            self._put_resource(action)
        except Forbidden as exc:
            raise Fatal(f"no permission to write {path} on {self.target.url}: {exc}") from exc
        except Interrupted:
            raise
        except XnatError as exc:
            self._fail("resource", path, str(exc))
            for f in action.files:
                self.progress.file_done(action, f, failed=True)
            return False
        with self._lock:
            self.result.resources_created += 1
        return True

    def _put_resource(self, action: ResourceAction) -> None:
        """PUT the resource with its format, content, tags and description (409: it exists)."""
        res = action.resource
        params = {k: v for k, v in (("format", res.format), ("content", res.content),
                                    ("tags", res.tags), ("description", res.description)) if v}
        self.target.request("PUT", resource_path(self.project, action.where, res),
                            params=params, ok=(200, 201, 409))

    def _created_by_upload(self, action: ResourceAction) -> bool:
        """A new resource whose one file goes up alone is created by that upload (XNAT
        creates a missing resource with the upload's format, content and tags, reference
        §5.1): one request less per resource. Not with a description (an explicit PUT sets
        it), nor when several uploads could race to create it. See ``_upload_creating``
        for tags."""
        res, files = action.resource, action.files
        return (action.create and len(files) == 1 and files[0].size > 0
                and not res.description
                and not self._zip_worthy(action)
                and files[0].format in ("", res.format)
                and files[0].content in ("", res.content))

    @staticmethod
    def _zip_worthy(action: ResourceAction) -> bool:
        files = action.files
        return (len(files) >= ZIP_MIN_FILES and bool(action.resource.uri)
                and all(f.open is None for f in files)
                and len(files) == len(action.resource.files) and not action.replace
                and action.bytes / len(files) < ZIP_MAX_AVERAGE)

    def _guard(self, action: ResourceAction, f: tree.File | None) -> None:
        """One unit of work; its failure is recorded, the others go on."""
        files = [f] if f else action.files
        key = action.resource.key
        paths = [x.path for x in files]
        interrupt.check()           # after SIGTERM/SIGINT no unit starts
        self.progress.unit_started(action)
        if self.journal:
            self.journal.started(action.where, key, paths)
        where = resource_path(self.project, action.where, action.resource)
        for attempt in range(1, UNIT_ATTEMPTS + 1):
            try:
                if f is None:
                    self._copy_zip(action)
                else:
                    self._copy_file(action, f)
                break
            except (Fatal, Interrupted):
                raise
            except (XnatError, OSError, zipfile.BadZipFile) as exc:
                # A download cut in its body cannot be retried by the client (the bytes were
                # already being consumed): start this unit again.
                if attempt < UNIT_ATTEMPTS and isinstance(exc, (BodyInterrupted,
                                                                 zipfile.BadZipFile)):
                    log.info("starting %s again (attempt %d of %d): %s", where,
                             attempt + 1, UNIT_ATTEMPTS, exc)
                    continue
                creating = self._created_by_upload(action)    # its upload was to create it
                if creating:
                    self._fail("resource", where, str(exc))
                for x in files:
                    if not creating:
                        self._fail("file", f"{where}/files/{x.path}", str(exc))
                    self.progress.file_done(action, x, failed=True)
                return
        for x in files:
            self.progress.file_done(action, x)

    def _guard_in_order(self, action: ResourceAction) -> None:
        """XNAT applies an upload's format and content to the resource too (CatalogUtils):
        files with their own go one after the other in path order, so the resource ends the
        same (the last file's) whatever the timing, the workers or an interrupted run."""
        for f in sorted(action.files, key=lambda x: x.path):
            self._guard(action, f)

    def _copy_file(self, action: ResourceAction, f: tree.File) -> None:
        """Stream one file: source response body -> target request body, MD5 on the way."""
        streams = ExitStack()
        digest_holder: list = []

        def open_body():
            streams.close()
            if f.open is not None:      # a local file (import): read it from disk
                reader = _HashingReader(streams.enter_context(f.open()))
            else:                       # a file on the source XNAT: stream its response
                response = streams.enter_context(self.source.download(f.uri))
                reader = _HashingReader(response.raw)
            digest_holder[:] = [reader]
            return reader

        target = resource_path(self.project, action.where, action.resource)
        params = {"inbody": "true"}
        if f in action.replace:
            params["overwrite"] = "true"
        if f.format or action.resource.format:
            params["format"] = f.format or action.resource.format
        if f.content or action.resource.content:
            params["content"] = f.content or action.resource.content
        if f.size == 0:
            self._copy_empty_file(target, f, params)
            with self._lock:
                self.result.files_uploaded += 1
                self.result.streamed_md5[(action.where, action.resource.key, f.path)] = \
                    hashlib.md5(b"").hexdigest()
            return
        creates = self._created_by_upload(action)
        try:
            if creates and action.resource.tags:
                response = self._upload_creating(action, f"{target}/files/{f.path}",
                                                 open_body, f.size, params)
            else:
                response = self.target.upload(f"{target}/files/{f.path}", open_body, f.size,
                                              params)
        except Forbidden as exc:
            if creates:     # as the resource's own PUT would have: the project is read-only
                raise Fatal(f"no permission to write {target} on {self.target.url}: "
                            f"{exc}") from exc
            raise
        finally:
            streams.close()
        _check_duplicates(response, f.path)
        md5 = digest_holder[0].hexdigest() if digest_holder else ""
        if f.md5 and md5 and md5 != f.md5:
            raise XnatError(f"source bytes of {f.path} do not match the source's MD5")
        with self._lock:
            self.result.files_uploaded += 1
            self.result.bytes_uploaded += f.size
            self.result.resources_created += creates
            self.result.streamed_md5[(action.where, action.resource.key, f.path)] = md5

    def _upload_creating(self, action: ResourceAction, path: str, open_body, size: int,
                         params: dict):
        """The upload that creates a tagged resource, tags included, sent once: XNAT appends
        an upload's tags to the resource at every upload (CatalogUtils.configureEntry), so a
        retry of an attempt that got as far as creating it would tag it twice. After a
        failure that a retry would cover, the resource is PUT (409 when the broken attempt
        created it, tags and all) and the file goes again without tags. Left: an attempt
        that timed out while the server was still at it may finish after that PUT."""
        try:
            return self.target.upload(path, open_body, size,
                                      {**params, "tags": action.resource.tags}, retry=False)
        except XnatError as exc:
            if not exc.retryable:
                raise
            log.info("creating upload of %s failed (%s): creating the resource first", path, exc)
        self._put_resource(action)
        return self.target.upload(path, open_body, size, params)

    def _copy_empty_file(self, target: str, f: tree.File, params: dict) -> None:
        """XNAT refuses a 0-byte raw upload, but keeps the 0-byte entries of a zip it
        extracts: an empty file goes up as a zip of that one entry (path kept)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(zipfile.ZipInfo(f.path, (2000, 1, 1, 0, 0, 0)), b"")
        data = buffer.getvalue()
        name = f"empty-{hashlib.md5(f.path.encode()).hexdigest()[:12]}.zip"
        response = self.target.upload(f"{target}/files/{name}", lambda: io.BytesIO(data),
                                      len(data), {**params, "extract": "true"})
        _check_duplicates(response, f.path)

    def _copy_zip(self, action: ResourceAction) -> None:
        """A resource of small files: one zip down, entries re-rooted, one zip up."""
        res = action.resource
        wanted = {f.path: f for f in action.files}
        with tempfile.TemporaryDirectory(dir=self.temp_dir, prefix="xnat-copy-") as tmp:
            downloaded = Path(tmp) / "source.zip"
            with self.source.download(f"{res.uri}/files", {"format": "zip"}) as response, \
                    open(downloaded, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    interrupt.check_overdue()
                    out.write(chunk)
            upload = Path(tmp) / f"{res.label}.zip"
            found = _reroot_zip(downloaded, upload, wanted)
            missing = set(wanted) - set(found)
            if missing:
                raise XnatError(f"the source zip lacks {len(missing)} file(s) of {res.label}, "
                                f"e.g. {sorted(missing)[0]}")
            target = resource_path(self.project, action.where, res)
            size = upload.stat().st_size
            response = self.target.upload(
                f"{target}/files/{res.label}.zip", lambda: open(upload, "rb"), size,
                {"extract": "true"})
        _check_duplicates(response, res.label)
        with self._lock:
            self.result.files_uploaded += len(found)
            self.result.bytes_uploaded += sum(wanted[p].size for p in found)
            for path, md5 in found.items():
                self.result.streamed_md5[(action.where, res.key, path)] = md5

    def _fail(self, what: str, where: str, reason: str) -> None:
        log.error("failed: %s %s: %s", what, where, reason)
        with self._lock:
            self.result.failures.append(Failure(what, where, reason))


def _ignore(_result: object) -> None:
    """What follows a unit of work: nothing (its outcome is already recorded)."""


class _HashingReader:
    """File-like view of a response body that hashes what it hands out."""

    def __init__(self, raw):
        self.raw = raw
        self.md5 = hashlib.md5()

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else CHUNK
        if hasattr(self.raw, "stream"):            # urllib3 response: undo any encoding
            data = self.raw.read(size, decode_content=True)
        else:
            data = self.raw.read(size)
        self.md5.update(data)
        return data

    def hexdigest(self) -> str:
        return self.md5.hexdigest()


def _reroot_zip(source: Path, dest: Path, wanted: dict[str, tree.File]) -> dict[str, str]:
    """Copy the wanted entries of an XNAT zip (``.../resources/R/files/<path>``) into a new
    stored zip named by ``<path>``; returns path -> MD5 of the copied bytes."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED,
                                                         allowZip64=True) as zout:
        for info in zin.infolist():
            if info.is_dir() or "/files/" not in info.filename:
                continue
            path = info.filename.split("/files/", 1)[1]
            if path not in wanted or path in found:
                continue
            md5 = hashlib.md5()
            with zin.open(info) as src, zout.open(zipfile.ZipInfo(path, info.date_time),
                                                  "w", force_zip64=True) as dst:
                while chunk := src.read(CHUNK):
                    md5.update(chunk)
                    dst.write(chunk)
            found[path] = md5.hexdigest()
    return found


def _own_attributes(action: ResourceAction) -> bool:
    """Files of the resource carry a format or content of their own."""
    res = action.resource
    return any((f.format and f.format != res.format) or (f.content and f.content != res.content)
               for f in action.files)


def _check_duplicates(response, what: str) -> None:
    """XNAT answers 200 ``{"duplicates": [...]}`` when it kept files it already had (another
    run got there first): not an error here; verification compares those files' bytes."""
    text = response.text.strip() if response is not None else ""
    if text.startswith("{") and "duplicates" in text:
        log.info("target already had %s: %s", what, text[:200])
