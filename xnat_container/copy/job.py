"""The copy job: list both sides, plan, transfer, verify, report.

Errors a user can cause (missing project, missing data types, unknown session) raise
``JobError`` with one clear line; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import tree
from ..interrupt import Interrupted
from ..journal import Journal
from ..pipeline import (JobError, check_datatypes, mark_interrupted, plan_summary,
                        skipped_summary, transfer_and_verify)
from ..plan import make_plan
from ..report import Report, now_iso
from ..xnat.client import XnatClient
from .reader import ProjectReader, Scope

log = logging.getLogger("xnat_container")


@dataclass
class CopyOptions:
    target_project: str
    source_project: str | None = None
    sessions: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    dry_run: bool = False
    workers: int = 4
    report_dir: Path = Path("xnat-copy-report")
    include_shared: bool = False
    update_metadata: bool = False
    overwrite: bool = False
    create_target_project: bool = False


def run_copy(source: XnatClient, target: XnatClient, opts: CopyOptions) -> Report:
    started = time.monotonic()
    report = Report("copy", {"url": source.url, "project": opts.source_project or ""},
                    {"url": target.url, "project": opts.target_project},
                    {k: str(v) for k, v in asdict(opts).items()}, dry_run=opts.dry_run)
    try:
        _copy(source, target, opts, report)
    except Interrupted as exc:      # SIGTERM/SIGINT before the transfer (listing, planning)
        mark_interrupted(report, opts.target_project, exc)
    report.requests = {"source": source.stats.requests, "target": target.stats.requests}
    report.finished = now_iso()
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _copy(source: XnatClient, target: XnatClient, opts: CopyOptions, report: Report) -> None:
    project_id = opts.source_project or find_project_of_sessions(source, opts.sessions)
    report.source["project"] = project_id
    scope = Scope(set(opts.subjects), set(opts.sessions), opts.include_shared)
    src_tree = ProjectReader(source, project_id, scope, opts.workers).read()
    if src_tree is None:
        raise JobError(f"project {project_id} does not exist on {source.url} or you cannot "
                       "read it")
    if opts.sessions:
        _check_sessions_found(src_tree, opts.sessions)
    missing = sorted(set(opts.subjects) - set(src_tree.subjects)
                     - {s.label for s in src_tree.shared if s.kind == "subject"})
    if missing and not opts.sessions:   # with --session, subjects without them are left out
        raise JobError(f"subject(s) not found in project {project_id}: {', '.join(missing)}")
    check_datatypes(src_tree, target)
    dst_tree = ProjectReader(target, opts.target_project, scope, opts.workers).read()
    if dst_tree is None and not opts.create_target_project:
        raise JobError(f"target project {opts.target_project} does not exist on {target.url} "
                       "(or you cannot read it); create it or pass --create-target-project")
    journal = None if opts.dry_run else Journal(
        opts.report_dir / "journal.sqlite",
        {"source": source.url, "source_project": project_id, "target": target.url,
         "target_project": opts.target_project})
    try:
        plan = make_plan(src_tree, dst_tree, overwrite=opts.overwrite,
                         update_metadata=opts.update_metadata,
                         interrupted=journal.interrupted() if journal else set())
        report.plan = plan_summary(plan, opts.workers)
        report.skipped = skipped_summary(plan)
        log.info("plan: %s", ", ".join(f"{k} {v}" for k, v in report.plan.items()))
        if opts.dry_run:
            report.status = "planned"
        else:
            transfer_and_verify(source, target, opts, plan, src_tree, dst_tree, journal,
                                 scope, report)
    finally:
        if journal:
            journal.close()


def find_project_of_sessions(client: XnatClient, sessions: list[str]) -> str:
    """``--source-project`` defaults to the project of the sessions given."""
    if not sessions:
        raise JobError("give --source-project or at least one --session")
    projects = set()
    for ref in sessions:
        rows = client.get_rows("/data/experiments", {"ID": ref, "columns": "ID,label,project"})
        rows = rows or client.get_rows("/data/experiments",
                                       {"label": ref, "columns": "ID,label,project"})
        if not rows:
            raise JobError(f"session {ref} not found on {client.url}")
        projects.update(r["project"] for r in rows)
    if len(projects) != 1:
        raise JobError(f"the sessions given belong to several projects ({', '.join(sorted(projects))}); "
                       "pass --source-project")
    return projects.pop()


def _check_sessions_found(src: tree.Project, sessions: list[str]) -> None:
    found = set()
    for s in src.subjects.values():
        for e in s.experiments.values():
            found.update({e.label, e.source_id})
    missing = [ref for ref in sessions if ref not in found]
    if missing:
        raise JobError(f"session(s) not found in project {src.id}: {', '.join(missing)}")


