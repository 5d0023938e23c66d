"""The import-nifti job: open the source, find scans, validate, render snapshots, build a tree,
then the same plan -> transfer -> verify -> report pipeline as ``copy``.

Nothing is uploaded before every image was checked. Errors a user can cause (unsafe archive,
missing project, flat layout without ``--subject``) raise ``JobError`` with one clear line.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import interrupt, tree
from ..interrupt import Interrupted
from ..pipeline import (JobError, check_datatypes, mark_interrupted, plan_summary,
                        skipped_summary, transfer_and_verify)
from ..copy.reader import ProjectReader, Scope
from ..journal import Journal
from ..plan import Plan, make_plan
from ..report import Report, now_iso
from ..xnat.client import XnatClient
from . import fields, snapshots, validate
from .dicom import ConversionError, convert
from .layout import Discovery, ScanSpec, discover
from .source import Source, SourceError

log = logging.getLogger("xnat_container")
LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
XNAT_NS = fields.XNAT_NS
CHUNK = 1 << 20


@dataclass
class ImportOptions:
    project: str
    subject: str | None = None
    session: str | None = None
    layout: str = "auto"
    modality: str | None = None
    from_dicom: bool = False
    snapshots: bool = True
    overwrite: bool = False
    dry_run: bool = False
    strict: bool = False
    workers: int = 4
    report_dir: Path = Path("xnat-import-report")
    # what the shared pipeline reads from its options
    target_project: str = field(init=False, default="")

    def __post_init__(self):
        self.target_project = self.project


@dataclass
class Prepared:
    """A scan ready to go: checked image, its header fields, its snapshot files."""

    spec: ScanSpec
    checked: validate.Checked
    snapshot_files: tuple[Path, Path] | None = None
    volume: int = 0
    bvals: list[float] | None = None


def run_import(client: XnatClient, source: Path, opts: ImportOptions) -> tuple[Report, list[str]]:
    """The report and, for ``--dry-run``, the plan as lines to print."""
    started = time.monotonic()
    for what, value in (("--subject", opts.subject), ("--session", opts.session)):
        if value is not None and not LABEL.match(value):
            raise JobError(f"{what} {value!r}: XNAT labels may hold only letters, digits, "
                           "'_' and '-'")
    report = Report("import-nifti", {"url": str(source), "project": ""},
                    {"url": client.url, "project": opts.project},
                    {k: str(v) for k, v in asdict(opts).items() if k != "target_project"},
                    dry_run=opts.dry_run)
    lines: list[str] = []
    try:
        _import(client, source, opts, report, lines)
    except Interrupted as exc:      # SIGTERM/SIGINT before the transfer (checks, listing)
        mark_interrupted(report, opts.project, exc)
    if report.status == "ok" and report.rejected:
        report.status = "incomplete"
    return _finish(report, client, started), lines


def _import(client: XnatClient, source: Path, opts: ImportOptions, report: Report,
            lines: list[str]) -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xnat-import-")))
        try:
            root = stack.enter_context(Source(source)).root
        except SourceError as exc:
            raise JobError(str(exc)) from exc
        layout = opts.layout
        if opts.from_dicom:
            try:
                convert(root, tmp / "nifti")
            except ConversionError as exc:
                raise JobError(str(exc)) from exc
            root, layout = tmp / "nifti", "flat"
        found = discover(root, layout, opts.subject, opts.session)
        if not found.sessions and not found.rejected:
            others = f" ({len(found.skipped)} other file(s))" if found.skipped else ""
            raise JobError(f"no NIFTI images (.nii, .nii.gz) found in {source}{others}")
        _apply_labels(found, opts)
        report.source["layout"] = found.layout
        prepared = _prepare(found, opts, tmp / "snapshots")
        report.rejected = [{"path": p, "reason": r} for p, r in found.rejected]
        report.skipped["not_imported"] = [{"path": p, "reason": r} for p, r in found.skipped]
        for r in report.rejected:
            log.warning("rejected %s: %s", r["path"], r["reason"])
        if found.no_sidecar:
            # Imported all the same (BIDS makes some sidecars optional): fields from the header.
            report.skipped["no_sidecar"] = found.no_sidecar
            log.warning("%d BIDS image(s) without a JSON sidecar (scan fields from the NIFTI "
                        "header only), e.g. %s", len(found.no_sidecar), found.no_sidecar[0])
        if opts.strict and report.rejected:
            report.status = "rejected"
            lines.append(f"--strict: {len(report.rejected)} file(s) rejected, nothing imported")
            return
        src_tree = build_tree(opts.project, found, prepared, opts)
        target = ProjectReader(client, opts.project, Scope(subjects=set(src_tree.subjects)),
                               opts.workers).read()
        if target is None:
            raise JobError(f"project {opts.project} does not exist on {client.url} or you "
                           "cannot write to it; create it first")
        src_tree.xml = target.xml          # the project itself is the user's, never rewritten
        check_datatypes(src_tree, client)
        _hash_where_present(src_tree, target, opts.workers)
        journal = None if opts.dry_run else Journal(
            opts.report_dir / "journal.sqlite",
            {"source": str(source), "target": client.url, "target_project": opts.project})
        try:
            plan = make_plan(src_tree, target, overwrite=opts.overwrite,
                             update_metadata=opts.overwrite,
                             interrupted=journal.interrupted() if journal else set())
            report.plan = plan_summary(plan, opts.workers)
            report.plan["sessions"] = _plan_sessions(found)
            report.skipped.update(skipped_summary(plan))
            lines += plan_lines(found, plan)
            if opts.dry_run:
                report.status = "planned"
            else:
                transfer_and_verify(None, client, opts, plan, src_tree, target, journal,
                                     Scope(subjects=set(src_tree.subjects)), report)
                report.done["created_objects"] = _created(plan, report)
        finally:
            if journal:
                journal.close()


def _finish(report: Report, client: XnatClient, started: float) -> Report:
    report.requests = {"target": client.stats.requests}
    report.finished = now_iso()
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _apply_labels(found: Discovery, opts: ImportOptions) -> None:
    """``--subject`` / ``--session`` name the one subject / session of the source."""
    if found.layout == "flat":
        if found.sessions and not opts.subject:
            raise JobError("a flat folder needs --subject (and optionally --session)")
        return
    subjects = sorted({s.subject for s in found.sessions})
    if opts.subject:
        if len(subjects) > 1:
            raise JobError(f"--subject names one subject, the source has {len(subjects)}: "
                           f"{', '.join(subjects)}")
        for s in found.sessions:
            s.subject = opts.subject
            if not opts.session and "_" not in s.label:
                s.label = opts.subject
            elif not opts.session:
                s.label = f"{opts.subject}_{s.label.split('_', 1)[1]}"
    if opts.session and len(found.sessions) > 1:
        raise JobError(f"--session names one session, the source has {len(found.sessions)}")
    for s in found.sessions:
        for scan in s.scans.values():
            scan.subject, scan.session = s.subject, s.label


def _representative_volume(img, bvals: list[float] | None) -> int:
    if len(img.shape) < 4 or img.shape[3] < 2:
        return 0
    if bvals and len(bvals) == img.shape[3]:
        return min(range(len(bvals)), key=lambda i: (bvals[i], i))     # first b=0
    return img.shape[3] // 2


def _prepare(found: Discovery, opts: ImportOptions, snap_dir: Path) -> dict[tuple, Prepared]:
    """Check every image (in parallel) and render its snapshots; rejected scans leave the
    discovery and join ``found.rejected``."""
    def one(spec: ScanSpec) -> Prepared:
        interrupt.check()
        checked = validate.check(spec.image)
        item = Prepared(spec, checked)
        bval = next((p for p in spec.companions if p.name.endswith(".bval")), None)
        if bval is not None:
            item.bvals = fields.read_bvals(bval.read_text(errors="replace"))
        if not checked.ok:
            return item
        item.volume = _representative_volume(checked.image, item.bvals)
        if opts.snapshots:
            try:
                item.snapshot_files = snapshots.write(
                    checked.image, snap_dir / spec.session / spec.scan_id,
                    f"{spec.session}_{spec.scan_id}", item.volume)
            except Exception as exc:  # noqa: BLE001 - a snapshot never stops an import
                log.warning("no snapshot for %s: %s", spec.rel, exc)
        return item

    specs = list(found.scans())
    with ThreadPoolExecutor(max(2, opts.workers)) as pool:
        results = list(pool.map(one, specs))
    prepared = {}
    for item in results:
        spec = item.spec
        if item.checked.ok:
            prepared[(spec.session, spec.scan_id)] = item
            continue
        found.rejected.append((spec.rel, item.checked.reason))
        for session in found.sessions:
            if session.label == spec.session:
                session.scans.pop(spec.scan_id, None)
    found.sessions = [s for s in found.sessions if s.scans or s.files]
    return prepared


def _local(path: Path, name: str, fmt: str = "", content: str = "") -> tree.File:
    return tree.File(path=name, size=path.stat().st_size,
                     open=lambda p=path: open(p, "rb"), format=fmt, content=content)


def build_tree(project: str, found: Discovery, prepared: dict[tuple, Prepared],
               opts: ImportOptions) -> tree.Project:
    out = tree.Project(xsi_type="xnat:projectData", id=project)
    for session in found.sessions:
        subject = out.subjects.get(session.subject)
        if subject is None:
            subject = tree.Subject(xsi_type="xnat:subjectData", label=session.subject,
                                   xml=_subject_xml(session.subject))
            out.subjects[session.subject] = subject
        items = [prepared[(session.label, i)] for i in sorted(session.scans)]
        metas = [(p.spec.meta, p.spec.datatype) for p in items]
        modality = fields.session_modality(metas, opts.modality)
        exp = tree.Experiment(xsi_type=fields.MODALITIES[modality][0], label=session.label,
                              xml=fields.session_document(session.label, modality,
                                                          [m for m, _ in metas]))
        if session.files:
            exp.resources["BIDS"] = tree.Resource(
                "BIDS", format="BIDS", content="BIDS", tags="BIDS",
                files={name: _local(path, name) for name, path in sorted(session.files.items())})
        for item in items:
            exp.scans[item.spec.scan_id] = _scan(item, modality, opts)
        subject.experiments[session.label] = exp
    return out


def _scan(item: Prepared, session_modality: str, opts: ImportOptions) -> tree.Scan:
    spec = item.spec
    modality = fields.scan_modality(spec.meta, spec.datatype, opts.modality, session_modality)
    header = fields.header_fields(item.checked.image)
    scan = tree.Scan(xsi_type=fields.MODALITIES[modality][1], id=spec.scan_id,
                     xml=fields.scan_document(spec.scan_id, spec.type, spec.series_description,
                                              modality, spec.meta, header, item.bvals))
    scan.resources["NIFTI"] = tree.Resource(
        "NIFTI", format="NIFTI", content="NIFTI_RAW", tags="BIDS",
        files={spec.image.name: _local(spec.image, spec.image.name)})
    if spec.companions:
        scan.resources["BIDS"] = tree.Resource(
            "BIDS", format="BIDS", content="BIDS", tags="BIDS",
            files={p.name: _local(p, p.name) for p in spec.companions})
    if item.snapshot_files:
        original, thumb = item.snapshot_files
        fmt = original.suffix[1:].upper()
        scan.resources["SNAPSHOTS"] = tree.Resource(
            "SNAPSHOTS", format=fmt, content="SNAPSHOTS",
            files={original.name: _local(original, original.name, fmt, "ORIGINAL"),
                   thumb.name: _local(thumb, thumb.name, fmt, "THUMBNAIL")})
    return scan


def _subject_xml(label: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<xnat:Subject xmlns:xnat="{XNAT_NS}" '
            f'label="{label}"/>').encode()


def _hash_where_present(src: tree.Project, dst: tree.Project, workers: int) -> None:
    """MD5 of local files that the target already has at the same path with the same size:
    only those need one before planning (new files are hashed while they stream)."""
    todo = []
    for where, res in src.walk_resources():
        item = dst.find(where)
        t_res = item.resources.get(res.key) if item is not None else None
        if t_res is None:
            continue
        for path, f in res.files.items():
            t_file = t_res.files.get(path)
            if t_file is not None and t_file.size == f.size:
                todo.append(f)

    def md5(f: tree.File) -> None:
        interrupt.check()
        digest = hashlib.md5()
        with f.open() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        f.md5 = digest.hexdigest()

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(md5, todo))


def _plan_sessions(found: Discovery) -> list[dict]:
    return [{"subject": s.subject, "session": s.label,
             "scans": {i: spec.type for i, spec in sorted(s.scans.items())}}
            for s in found.sessions]


def _created(plan: Plan, report: Report) -> list[str]:
    failed = {f["where"] for f in report.failures if f["what"] == "object"}
    return ["/".join(a.where) for a in plan.objects
            if a.create and a.kind != "project" and "/".join(a.where) not in failed]


def plan_lines(found: Discovery, plan: Plan) -> list[str]:
    """The plan for people: per session its scans and what would be sent."""
    sending: dict[tuple, list] = {}
    for action in plan.resources:
        sending.setdefault(action.where[:4], []).append(action)
    creating = {a.where for a in plan.objects if a.create}
    out = [f"layout {found.layout}: {len({s.subject for s in found.sessions})} subject(s), "
           f"{len(found.sessions)} session(s), {sum(len(s.scans) for s in found.sessions)} "
           f"scan(s); to send {plan.files_to_transfer} file(s), {plan.bytes_to_transfer} bytes; "
           f"{plan.present_files} file(s) already there"]
    for s in found.sessions:
        e_where = ("subject", s.subject, "experiment", s.label)
        new = " (new)" if e_where in creating else ""
        files = sum(len(a.files) for a in sending.get(e_where, []))
        size = sum(a.bytes for a in sending.get(e_where, []))
        out.append(f"  subject {s.subject} session {s.label}{new}: {len(s.scans)} scan(s), "
                   f"{files} file(s) {size} bytes to send")
        for scan_id, spec in sorted(s.scans.items()):
            out.append(f"    scan {scan_id}  type {spec.type}  <- {spec.rel}")
    return out
