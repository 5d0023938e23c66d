"""Plan: the difference between a source tree and what the target already has.

Pure functions over ``tree`` objects, no HTTP (rclone's march): an object missing on the
target is created; a file missing is uploaded; a file with the same relative path, size and
MD5 is already present; a file that differs is reported and replaced only with
``overwrite`` (or when the journal says an interrupted run of ours left it half-written).
Metadata that differs is reported and rewritten only with ``update_metadata``. Nothing on
the target is ever deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import tree
from .copy import metadata

Where = tuple[str, ...]


@dataclass
class ObjectAction:
    kind: str                 # project | subject | experiment | scan | assessor
    where: Where              # ("subject", S, "experiment", E, "scan", ID) ...
    item: tree.Item           # the source object (its XML is cleaned at send time)
    create: bool              # False: metadata update of an existing object


@dataclass
class ResourceAction:
    where: Where
    resource: tree.Resource   # the source resource
    create: bool              # the resource does not exist on the target yet
    upload: list[tree.File] = field(default_factory=list)
    replace: list[tree.File] = field(default_factory=list)   # differing files overwritten

    @property
    def files(self) -> list[tree.File]:
        return self.upload + self.replace

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Difference:
    where: Where
    resource: str
    path: str
    source: tree.File
    target: tree.File


@dataclass
class Plan:
    objects: list[ObjectAction] = field(default_factory=list)
    resources: list[ResourceAction] = field(default_factory=list)
    present_files: int = 0
    present_bytes: int = 0
    differing: list[Difference] = field(default_factory=list)     # left alone
    metadata_differs: list[Where] = field(default_factory=list)   # left alone
    shared: list[tree.Shared] = field(default_factory=list)

    @property
    def files_to_transfer(self) -> int:
        return sum(len(r.files) for r in self.resources)

    @property
    def bytes_to_transfer(self) -> int:
        return sum(r.bytes for r in self.resources)

    def objects_to_create(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for action in self.objects:
            if action.create:
                counts[action.kind] = counts.get(action.kind, 0) + 1
        return counts

    @property
    def is_empty(self) -> bool:
        return not self.objects and not any(r.create or r.files for r in self.resources)


def make_plan(source: tree.Project, target: tree.Project | None, *, overwrite: bool = False,
              update_metadata: bool = False,
              interrupted: set[tuple[Where, str, str]] | None = None) -> Plan:
    """Diff ``source`` against ``target`` (None: the target project does not exist yet).

    ``interrupted``: (where, resource key, path) of uploads a killed run of ours had started;
    such a file on the target is ours and may be replaced without ``overwrite``.
    """
    planner = _Planner(overwrite, update_metadata, interrupted or set())
    plan = planner.plan
    plan.shared = list(source.shared)
    planner.item("project", (), source, target)
    for s_label, subject in source.subjects.items():
        t_subject = target.subjects.get(s_label) if target else None
        s_where = ("subject", s_label)
        planner.item("subject", s_where, subject, t_subject)
        for e_label, exp in subject.experiments.items():
            t_exp = t_subject.experiments.get(e_label) if t_subject else None
            e_where = s_where + ("experiment", e_label)
            planner.item("experiment", e_where, exp, t_exp)
            for scan_id, scan in exp.scans.items():
                t_scan = t_exp.scans.get(scan_id) if t_exp else None
                planner.item("scan", e_where + ("scan", scan_id), scan, t_scan)
            for a_label, assessor in exp.assessors.items():
                t_assessor = t_exp.assessors.get(a_label) if t_exp else None
                planner.item("assessor", e_where + ("assessor", a_label), assessor, t_assessor)
    return plan


class _Planner:
    def __init__(self, overwrite: bool, update_metadata: bool, interrupted: set):
        self.plan = Plan()
        self.overwrite = overwrite
        self.update_metadata = update_metadata
        self.interrupted = interrupted

    def item(self, kind: str, where: Where, source: tree.Item, target: tree.Item | None) -> None:
        if target is None:
            self.plan.objects.append(ObjectAction(kind, where, source, create=True))
        elif _metadata_differs(kind, source, target):
            if self.update_metadata or (kind == "project" and _blank_project(target)):
                self.plan.objects.append(ObjectAction(kind, where, source, create=False))
            else:
                self.plan.metadata_differs.append(where)
        for key, resource in source.resources.items():
            self.resource(where, key, resource, target.resources.get(key) if target else None)

    def resource(self, where: Where, key: str, source: tree.Resource,
                 target: tree.Resource | None) -> None:
        action = ResourceAction(where, source, create=target is None)
        for path, f in source.files.items():
            existing = target.files.get(path) if target else None
            if existing is None:
                action.upload.append(f)
            elif _same_file(f, existing):
                self.plan.present_files += 1
                self.plan.present_bytes += f.size
            elif self.overwrite or (where, key, path) in self.interrupted:
                action.replace.append(f)
            else:
                self.plan.differing.append(Difference(where, key, path, f, existing))
        if action.create or action.files:
            self.plan.resources.append(action)


def _same_file(a: tree.File, b: tree.File) -> bool:
    """Same size and MD5; without a digest on either side the size must do for planning
    (verification then hashes the bytes)."""
    if a.size != b.size:
        return False
    return not (a.md5 and b.md5) or a.md5 == b.md5


def _blank_project(target: tree.Item) -> bool:
    """A target project with no metadata of its own (as an admin creates it for a copy) is
    filled from the source: that overwrites nothing."""
    doc = metadata.clean(metadata.parse(target.xml), project_level=True)
    return len(doc) == 0


def _metadata_differs(kind: str, source: tree.Item, target: tree.Item) -> bool:
    if not source.xml or not target.xml:
        return False
    project = kind == "project"
    return (metadata.comparable(source.xml, project_level=project)
            != metadata.comparable(target.xml, project_level=project))
