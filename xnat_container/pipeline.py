"""The steps every job shares once its source tree is built: check the target, plan,
transfer, verify and summarise into the report (``copy`` and ``import-nifti`` both run them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from . import tree
from .copy.reader import ProjectReader
from .copy.targets import resource_path
from .estimate import estimate_seconds
from .interrupt import Interrupted
from .plan import Plan
from .progress import Progress, session_of
from .report import Report
from .transfer import Fatal, Transferer
from .verify import verify
from .xnat.client import XnatClient
from .xnat.errors import CircuitOpen, XnatError

log = logging.getLogger("xnat_container")


class JobError(XnatError):
    """A condition the user must fix; its text is the one line they see."""


def transfer_and_verify(source, target, opts, plan: Plan, src_tree, dst_tree, journal,
                         scope, report: Report) -> None:
    progress = Progress(plan.bytes_to_transfer)
    _log_up_to_date(src_tree, plan)
    transferer = Transferer(source, target, opts.target_project, journal, progress,
                            opts.workers)
    t0 = time.monotonic()
    stopped: XnatError | None = None
    try:
        transferer.run(plan, known_ids(src_tree, dst_tree))
    except Interrupted as exc:
        # SIGTERM/SIGINT: units in flight ended or were abandoned; what they started stays
        # in the journal as in flight, so the next run replaces anything they cut.
        stopped = exc
    except (Fatal, CircuitOpen) as exc:
        # No permission to write, or a site that only fails: stop, and report what was done.
        stopped = exc
        log.error("stopped: %s", exc)
    finally:
        progress.close()
    result = transferer.result
    seconds = max(time.monotonic() - t0, 1e-6)
    report.done = {"created": dict(result.created), "metadata_updated": result.updated,
                   "resources_created": result.resources_created,
                   "files_uploaded": result.files_uploaded,
                   "bytes_uploaded": result.bytes_uploaded,
                   "mb_per_s": round(result.bytes_uploaded / 1e6 / seconds, 1)}
    report.failures = [asdict(f) for f in result.failures]
    if isinstance(stopped, Interrupted):
        mark_interrupted(report, opts.target_project, stopped)
        return
    if stopped is not None:
        report.failures.append({"what": "run", "where": opts.target_project,
                                "reason": str(stopped)})
        report.status = "failed"
        return
    # Nothing written (a re-run after success): the target is as it was just listed, so
    # verify against that listing instead of listing the whole project again.
    try:
        after = dst_tree if plan.is_empty else ProjectReader(
            target, opts.target_project, scope, opts.workers).read()
        written = [a.where for a in plan.objects]
        check = verify(src_tree, after, target, opts.target_project, result.streamed_md5,
                       written, {(d.where, d.resource, d.path) for d in plan.differing})
    except Interrupted as exc:
        mark_interrupted(report, opts.target_project, exc)
        return
    except XnatError as exc:
        log.error("could not verify: %s", exc)
        report.failures.append({"what": "verify", "where": opts.target_project,
                                "reason": f"could not list the target: {exc}"})
        report.status = "failed"
        return
    report.verification = {"verified_files": check.verified_files,
                           "verified_bytes": check.verified_bytes,
                           "hashed_on_target": check.hashed_on_target,
                           "failed": len(check.failures)}
    report.failures += [{"what": "verify", "where": w, "reason": r} for w, r in check.failures]
    if journal:
        # Files that failed stay in the journal: what a cut upload of ours left on the
        # target is then replaced by the next run, not reported as a difference.
        failed = {f["where"] for f in report.failures}
        for action in plan.resources:
            base = resource_path(opts.target_project, action.where, action.resource)
            journal.finished(action.where, action.resource.key,
                             [f.path for f in action.files
                              if f"{base}/files/{f.path}" not in failed])
        # Uploads an interrupted run had finished are found present by this one: verified
        # now, they are no longer in flight. Left in the journal, a later change of such a
        # file on the target would be taken for our cut upload and overwritten.
        resources = {(where, res.key): res for where, res in src_tree.walk_resources()}
        for where, key, path in journal.interrupted():
            res = resources.get((where, key))
            if res is not None and path in res.files and (
                    f"{resource_path(opts.target_project, where, res)}/files/{path}"
                    not in failed):
                journal.finished(where, key, [path])
    if report.failures:
        report.status = "failed"
    elif plan.differing or plan.metadata_differs:
        report.status = "differences"
    else:
        report.status = "ok"

def mark_interrupted(report: Report, where: str, exc: Interrupted) -> None:
    """The run was stopped by SIGTERM/SIGINT: the report says so and keeps what was done."""
    log.warning("%s", exc)
    report.failures.append({"what": "run", "where": where, "reason": str(exc)})
    report.status = "interrupted"


def check_datatypes(src: tree.Project, target: XnatClient) -> None:
    """Stop before writing anything when the target lacks a data type the source uses."""
    used = {src.xsi_type}
    for s in src.subjects.values():
        used.add(s.xsi_type)
        for e in s.experiments.values():
            used.add(e.xsi_type)
            used.update(x.xsi_type for x in e.scans.values())
            used.update(a.xsi_type for a in e.assessors.values())
    rows = target.get_rows("/data/search/elements")
    installed = {r.get("ELEMENT_NAME", "").lower() for r in rows}
    missing = sorted(t for t in used if t and t.lower() not in installed)
    if missing:
        raise JobError(f"the target XNAT {target.url} lacks data types used by the source: "
                       f"{', '.join(missing)}")

def known_ids(src: tree.Project, dst: tree.Project | None) -> dict[str, str]:
    """Source accession ID -> target ID for objects both sides have (matched by label)."""
    ids: dict[str, str] = {}
    if dst is None:
        return ids
    for label, s in src.subjects.items():
        t = dst.subjects.get(label)
        if t is None:
            continue
        ids[s.source_id] = t.source_id
        for e_label, e in s.experiments.items():
            te = t.experiments.get(e_label)
            if te is None:
                continue
            ids[e.source_id] = te.source_id
            for a_label, a in e.assessors.items():
                ta = te.assessors.get(a_label)
                if ta is not None:
                    ids[a.source_id] = ta.source_id
    return ids


def plan_summary(plan: Plan, workers: int) -> dict:
    return {"objects_to_create": plan.objects_to_create(),
            "metadata_updates": sum(1 for a in plan.objects if not a.create),
            "files_to_transfer": plan.files_to_transfer,
            "bytes_to_transfer": plan.bytes_to_transfer,
            "files_present": plan.present_files, "bytes_present": plan.present_bytes,
            "estimated_seconds": round(estimate_seconds(plan, workers), 1)}


def skipped_summary(plan: Plan) -> dict:
    return {"files_present": plan.present_files,
            "shared": [asdict(s) for s in plan.shared],
            "differing_files": [{"where": "/".join(d.where), "resource": d.resource,
                                 "path": d.path, "source_size": d.source.size,
                                 "target_size": d.target.size, "source_md5": d.source.md5,
                                 "target_md5": d.target.md5} for d in plan.differing],
            "metadata_differs": ["/".join(w) for w in plan.metadata_differs]}

def _log_up_to_date(src: tree.Project, plan: Plan) -> None:
    busy = {session_of(a.where) for a in plan.resources} | {
        session_of(a.where) for a in plan.objects}
    total = sum(len(s.experiments) for s in src.subjects.values())
    idle = sum(1 for s in src.subjects.values() for e in s.experiments
               if ("subject", s.label, "experiment", e) not in busy)
    log.info("%d of %d sessions already up to date on the target", idle, total)
