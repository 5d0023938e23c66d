"""Parse ``/data[/archive]/...`` URLs and resolve them to archive objects (xnat-rest.md §1, §7).

XNAT attaches every data route twice (``/X`` and ``/archive/X``) and addresses objects by
label or accession ID inside a project. A URL becomes (collection, id) pairs plus an optional
file path after ``files``; resolution walks the pairs, checking read access on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..auth import Auth, Principal
from ..errors import NotFound
from ..store import Experiment, Project, Scan, Store, Subject

SUBJECT_MISSING = ("Unable to find the specified subject. The project {p} does not contain a "
                   "subject identifiable by the ID or label {s}.")


@dataclass
class DataPath:
    pairs: list[tuple[str, str | None]]
    io: str | None = None          # assessor "in"/"out" resources
    files: str | None = None       # text after ".../files/" ('' for the listing itself)

    @property
    def kinds(self) -> list[str]:
        return [name for name, _ in self.pairs]

    @property
    def last(self) -> tuple[str, str | None]:
        return self.pairs[-1] if self.pairs else ("", None)


def parse(path: str) -> DataPath:
    """``/data/archive/projects/P/subjects/S/files/a/b`` -> pairs and file path."""
    for prefix in ("/data/archive/", "/REST/archive/", "/data/", "/REST/"):
        if path.startswith(prefix) or path + "/" == prefix:
            path = path[len(prefix):]
            break
    segments = path.split("/") if path else []
    result = DataPath([])
    i = 0
    while i < len(segments):
        name = segments[i]
        if name == "files":
            result.files = "/".join(segments[i + 1:])
            break
        if name in ("in", "out") and result.pairs and result.pairs[-1][0] == "assessors":
            result.io = name
            i += 1
            continue
        if name == "" and i == len(segments) - 1:
            break
        ident = segments[i + 1] if i + 1 < len(segments) and segments[i + 1] != "" else None
        result.pairs.append((name, ident))
        i += 2
    return result


@dataclass
class Context:
    """The objects a URL names, resolved up to (not including) the final pair."""

    project: Project | None = None
    subject: Subject | None = None
    experiment: Experiment | None = None
    assessor: Experiment | None = None
    scan: Scan | None = None
    recon: str | None = None     # reconstruction ID (kept in the session document)
    scans: list[Scan] = field(default_factory=list)  # scans/ALL or scans/1,2 before /files
    via_project: bool = False
    via_subject: bool = False


class Resolver:
    """``write``: the request creates or changes something, so a project the user can see but
    not read into (protected, no role) resolves, and the archive rules answer 403 instead of
    404 (NrgXnat/xnat-rest-tests TestInvalidUserAccess.testProtectedXMLCRUD)."""

    def __init__(self, store: Store, auth: Auth, who: Principal, write: bool = False):
        self.store = store
        self.auth = auth
        self.who = who
        self.write = write

    def project(self, ref: str) -> Project:
        project = self.store.get_project(ref)
        allowed = self.auth.can_see if self.write else self.auth.can_read
        if project is None or not allowed(self.who, project):
            raise NotFound(f"Unable to identify project {ref}")
        return project

    def recon(self, ctx: Context, ref: str) -> str:
        from .. import items
        session = items.load(ctx.experiment.xml)
        if items.find_recon(session, ref) is None:
            raise NotFound("Unable to find the specified reconstruction.")
        return ref

    def subject(self, ctx: Context, ref: str) -> Subject:
        if ctx.project is not None:
            subject = self.store.find_subject(ctx.project.id, ref)
            if subject is None:
                raise NotFound(SUBJECT_MISSING.format(p=ctx.project.id, s=ref))
            return subject
        subject = self.store.get_subject(ref)
        if subject is None or not self._readable(subject.id, subject.project):
            raise NotFound("Unable to find the specified subject. Subjects must be identified "
                           "by their accession ID when no project is given.")
        return subject

    def experiment(self, ctx: Context, ref: str) -> Experiment:
        exp = None
        if ctx.project is not None:
            exp = self.store.find_experiment(ctx.project.id, ref)
            if exp is not None and ctx.subject is not None and exp.subject_id != ctx.subject.id:
                exp = None
        else:
            exp = self.store.get_experiment(ref)
            if exp is not None and not self._readable(exp.id, exp.project):
                exp = None
        if exp is None or exp.session_id:
            raise NotFound("Unable to find the specified experiment.")
        return exp

    def assessor(self, ctx: Context, ref: str) -> Experiment:
        session = ctx.experiment
        found = None
        if ctx.project is not None:
            found = self.store.find_experiment(ctx.project.id, ref)
        if found is None:
            found = self.store.get_experiment(ref)
        if found is None:
            candidates = [a for a in self.store.list_experiments(session_id=session.id,
                                                                 assessors=True)
                          if a.label == ref]
            found = candidates[0] if candidates else None
        if found is None or found.session_id != session.id:
            raise NotFound("Unable to find the specified experiment.")
        return found

    def scan(self, ctx: Context, ref: str) -> Scan:
        scan = self.store.get_scan(ctx.experiment.id, ref)
        if scan is None:
            raise NotFound("Unable to find the specified scan.")
        return scan

    def scans(self, ctx: Context, spec: str) -> list[Scan]:
        """``ALL``, ``1,2`` or scan types in place of IDs (file downloads only)."""
        all_scans = self.store.list_scans(ctx.experiment.id)
        if spec == "ALL":
            return all_scans
        wanted = spec.split(",")
        picked = [s for s in all_scans if s.scan_id in wanted]
        if not picked:
            from .. import items
            picked = [s for s in all_scans if items.load(s.xml).get("type") in wanted]
        return picked

    def _readable(self, item_id: str, owner_project: str) -> bool:
        projects = [owner_project] + [p for p, _ in self.store.shares(item_id)]
        for pid in projects:
            project = self.store.get_project(pid)
            if project and self.auth.can_read(self.who, project):
                return True
        return False

    def walk(self, path: DataPath, stop_before_last: bool, lenient_subject: bool = False) -> Context:
        """Resolve every pair (all but the last when ``stop_before_last``).

        ``lenient_subject``: a PUT of an experiment may name a subject that does not exist yet
        (XNAT creates it), so that pair is skipped instead of answering 404.
        """
        ctx = Context()
        pairs = path.pairs[:-1] if stop_before_last else path.pairs
        for index, (name, ref) in enumerate(pairs):
            if ref is None:
                raise NotFound("Unable to find the requested resource.")
            if name == "projects" and index == 0:
                ctx.project, ctx.via_project = self.project(ref), True
            elif name == "subjects" and ctx.experiment is None:
                if lenient_subject and index == len(pairs) - 1:
                    ctx.via_subject = True
                    continue
                ctx.subject, ctx.via_subject = self.subject(ctx, ref), True
            elif name == "experiments" and ctx.experiment is None:
                ctx.experiment = self.experiment(ctx, ref)
                if ctx.project is None:
                    ctx.project = self.store.get_project(ctx.experiment.project)
            elif name == "assessors" and ctx.experiment is not None:
                ctx.assessor = self.assessor(ctx, ref)
            elif name == "scans" and ctx.experiment is not None:
                if path.files is not None and index == len(pairs) - 1 and (
                        ref == "ALL" or "," in ref or self.store.get_scan(
                            ctx.experiment.id, ref) is None):
                    ctx.scans = self.scans(ctx, ref)
                else:
                    ctx.scan = self.scan(ctx, ref)
            elif name == "reconstructions" and ctx.experiment is not None:
                ctx.recon = self.recon(ctx, ref)
            elif name == "resources":
                continue  # resolved by the file handlers
            else:
                raise NotFound("Unable to find the requested resource.")
            if name == "subjects" and ctx.project is None and ctx.subject is not None:
                ctx.project = self.store.get_project(ctx.subject.project)
        return ctx
