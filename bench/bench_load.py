"""Load benchmarks (issue 6, "Load"): a project of 1,000 subjects, 2,000 sessions and 8,000
scans of small files copied in full (time, MB/s, requests per session) and again as a no-op
re-run; four copies launched at once into one target project (disjoint subjects), all of
which must finish and verify; and the peak RSS of the copy and import-nifti processes at
100, 1,000 and 2,000 sessions (flat = the largest within a small factor of the smallest).

The source archive is written directly through the emulator's archive rules (no HTTP, as
bench_copy.py's re-run seeding does): each session has 4 scans with one 4-64 KiB DICOM file
each and a session resource with one small file. The emulators then run as child processes
on loopback and the copier / importer runs as a child process (credentials in the
environment), its RSS sampled every 20 ms with psutil. Everything shares the machine's cores.

import-nifti is measured with ``--no-snapshots`` (snapshot rendering is per image work whose
memory does not depend on the tree's size; ``--snapshots`` measures with them on).

Run: ``.venv/bin/python bench/bench_load.py [--quick] [--only copy|concurrent|memory|import]``
(full: about 10-15 minutes on 2 cores and ~1 GB of disk; ``--quick``: 200 sessions, memory at
50/100/200). Writes ``bench/results/load.json`` (``load-quick.json``) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from common import (PASSWORD, USER, Child, add_file, add_scans, add_session,  # noqa: E402
                    copy_cmd, write_results)

from xnat_emulator.testing import EmulatorProcess  # noqa: E402

KiB = 1 << 10
SCANS = 4
SESSIONS_PER_SUBJECT = 2


# -- seeding ----------------------------------------------------------------------------------

def seed_source(data_dir: Path, projects: dict[str, int], seed: int = 6) -> dict[str, dict]:
    """Projects of ``sessions`` sessions (2 per subject, 4 scans each, one 4-64 KiB file per
    scan resource, one session resource of one file), written through the archive rules."""
    from xnat_emulator.app import Emulator
    from xnat_emulator.archive import Incoming
    from xnat_emulator.config import EmulatorConfig

    rng = random.Random(seed)
    emu = Emulator(EmulatorConfig(data_dir=data_dir))
    admin = emu.auth.principal("admin")
    store, archive = emu.store, emu.archive
    out = {}
    for project, sessions in projects.items():
        total = files = 0
        with store.transaction():
            archive.put_project(admin, project, Incoming(None, {}, None))
            for i in range(sessions):
                subject = f"S{i // SESSIONS_PER_SUBJECT:05d}"
                label = f"{project}_E{i:05d}"
                row = add_session(emu, admin, project, subject, label)
                notes = archive.put_resource("experiment", row.id, "NOTES", {"format": "TXT"})
                data = f"{label} notes\n".encode()
                add_file(store, notes, "notes.txt", data)
                sizes = add_scans(emu, admin, row, SCANS,
                                  lambda k: rng.randbytes(rng.randint(4, 64) * KiB))
                total += len(data) + sum(sizes)
                files += 1 + len(sizes)
        out[project] = {"sessions": sessions,
                        "subjects": (sessions + SESSIONS_PER_SUBJECT - 1) // SESSIONS_PER_SUBJECT,
                        "scans": sessions * SCANS, "files": files, "bytes": total}
    store.close()
    return out


def seed_projects(data_dir: Path, projects: list[str]) -> None:
    """Empty projects (copy and import targets), through the archive rules."""
    from xnat_emulator.app import Emulator
    from xnat_emulator.archive import Incoming
    from xnat_emulator.config import EmulatorConfig

    emu = Emulator(EmulatorConfig(data_dir=data_dir))
    admin = emu.auth.principal("admin")
    for project in projects:
        emu.archive.put_project(admin, project, Incoming(None, {}, None))
    emu.store.close()


def build_bids(root: Path, sessions: int) -> dict:
    """A BIDS tree of tiny valid NIFTI: 2 sessions per subject, one T1w (8x8x8 int16,
    gzipped) and its sidecar per session."""
    import nibabel as nib
    import numpy as np

    base = np.arange(512, dtype=np.int16).reshape(8, 8, 8)
    total = 0
    for i in range(sessions):
        sub, ses = f"sub-{i // SESSIONS_PER_SUBJECT:05d}", f"ses-{i % SESSIONS_PER_SUBJECT + 1}"
        anat = root / sub / ses / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        stem = f"{sub}_{ses}_T1w"
        data = base.copy()
        data[0, 0, 0] = i % 30000
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(anat / f"{stem}.nii.gz"))
        (anat / f"{stem}.json").write_text(json.dumps(
            {"RepetitionTime": 2.3, "EchoTime": 0.003, "FlipAngle": 9,
             "MagneticFieldStrength": 3, "SeriesDescription": "MPRAGE", "Modality": "MR"}))
    (root / "dataset_description.json").write_text('{"Name": "load", "BIDSVersion": "1.8.0"}')
    for p in root.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return {"sessions": sessions, "files": 2 * sessions + 1, "bytes": total}


# -- running the CLI --------------------------------------------------------------------------

class ReportingChild(Child):
    """A CLI child process that writes a report: the concurrent copies need the report, exit
    code and retries of each, not only its time and peak RSS."""

    def __init__(self, cmd: list[str], report_dir: Path):
        super().__init__(cmd)
        self.report_dir = report_dir

    def wait(self, check: bool = True) -> dict:
        done = self.finish()
        if check and done.exit != 0:
            raise RuntimeError(f"exited {done.exit}:\n{done.out[-3000:]}\n{done.err[-3000:]}")
        path = self.report_dir / "report.json"
        report = json.loads(path.read_text()) if path.exists() else {}
        retries = sum("retrying" in line for line in done.err.splitlines())
        shutil.rmtree(self.report_dir, ignore_errors=True)
        return {"seconds": done.seconds, "peak_rss_mb": done.peak_rss_mb, "report": report,
                "exit": done.exit, "retries": retries}


def run(cmd: list[str], report_dir: Path) -> dict:
    return ReportingChild(cmd, report_dir).wait()


def requests_per_session(report: dict, sessions: int) -> dict:
    reqs = report["requests"]
    return {"requests": reqs,
            "requests_per_session": round((reqs["source"] + reqs["target"]) / sessions, 2)}


# -- the benchmarks ---------------------------------------------------------------------------

def bench_copy(src, dst, work: Path, project: str, info: dict) -> dict:
    """Full copy into an empty project, then the no-op re-run."""
    first = run(copy_cmd(src, dst, project, "T_FULL", work / "r-full"), work / "r-full")
    rep = first["report"]
    assert rep["status"] == "ok", rep["status"]
    assert rep["done"]["files_uploaded"] == info["files"], rep["done"]
    assert rep["verification"]["verified_files"] == info["files"], rep["verification"]
    again = run(copy_cmd(src, dst, project, "T_FULL", work / "r-again"), work / "r-again")
    rep2 = again["report"]
    assert rep2["status"] == "ok" and rep2["plan"]["files_to_transfer"] == 0, rep2["plan"]
    mb = info["bytes"] / 1e6
    return {
        **info, "mb": round(mb, 1),
        "full": {"seconds": round(first["seconds"], 1),
                 "mb_per_s": round(mb / first["seconds"], 2),
                 "sessions_per_s": round(info["sessions"] / first["seconds"], 1),
                 "phase_seconds": phases(rep),
                 "peak_rss_mb": round(first["peak_rss_mb"], 1), "retries": first["retries"],
                 **requests_per_session(rep, info["sessions"])},
        "noop_rerun": {"seconds": round(again["seconds"], 1),
                       "peak_rss_mb": round(again["peak_rss_mb"], 1),
                       **requests_per_session(rep2, info["sessions"])},
    }


def phases(report: dict) -> dict:
    return {"job": report.get("seconds")}


def bench_concurrent(src, dst, work: Path, project: str, info: dict, copies: int = 4) -> dict:
    """``copies`` copies at once into one target project, each of a disjoint quarter of the
    subjects; then the target must equal the source (a plan of nothing to do)."""
    subjects = [f"S{i:05d}" for i in range(info["subjects"])]
    parts = [subjects[k::copies] for k in range(copies)]
    children = []
    for k, part in enumerate(parts):
        extra = [a for s in part for a in ("--subject", s)]
        rd = work / f"r-conc{k}"
        children.append(ReportingChild(copy_cmd(src, dst, project, "T_CONC", rd, *extra), rd))
    results = [c.wait(check=False) for c in children]
    outcome = []
    for part, r in zip(parts, results):
        rep = r["report"]
        outcome.append({"subjects": len(part), "exit": r["exit"],
                        "status": rep.get("status"), "seconds": round(r["seconds"], 1),
                        "files_uploaded": rep.get("done", {}).get("files_uploaded"),
                        "verified_files": rep.get("verification", {}).get("verified_files"),
                        "failures": len(rep.get("failures", [])),
                        "peak_rss_mb": round(r["peak_rss_mb"], 1), "retries": r["retries"]})
    check = compare(src, dst, project, "T_CONC")
    return {"copies": copies, "runs": outcome,
            "all_exit_0": all(o["exit"] == 0 for o in outcome),
            "wall_seconds": round(max(r["seconds"] for r in results), 1),
            "final_check": check}


def compare(src, dst, project: str, target: str) -> dict:
    """The target against the source: every object and file (path, size, MD5) and the
    objects' metadata, with the copier's own planner (nothing to do = equal)."""
    from xnat_container.copy.reader import ProjectReader
    from xnat_container.plan import make_plan
    from xnat_container.xnat.client import XnatClient

    with XnatClient(src.url, USER, PASSWORD) as a, XnatClient(dst.url, USER, PASSWORD) as b:
        a.login()
        b.login()
        s_tree = ProjectReader(a, project).read()
        t_tree = ProjectReader(b, target).read()
    plan = make_plan(s_tree, t_tree)
    files = sum(len(r.files) for _, r in s_tree.walk_resources())
    sessions = sum(len(s.experiments) for s in s_tree.subjects.values())
    t_sessions = sum(len(s.experiments) for s in t_tree.subjects.values())
    equal = (not plan.objects and plan.files_to_transfer == 0 and not plan.differing
             and not plan.metadata_differs and sessions == t_sessions)
    return {"equal": equal, "source_sessions": sessions, "target_sessions": t_sessions,
            "files_checked": files, "objects_missing": len(plan.objects),
            "files_missing": plan.files_to_transfer, "files_differing": len(plan.differing),
            "metadata_differing": len(plan.metadata_differs)}


def bench_copy_memory(src, dst, work: Path, infos: dict[str, dict]) -> list[dict]:
    out = []
    for project, info in infos.items():
        target = f"T_{project}"
        r = run(copy_cmd(src, dst, project, target, work / f"r-{target}"),
                work / f"r-{target}")
        assert r["report"]["status"] == "ok", r["report"]["status"]
        out.append({"sessions": info["sessions"], "peak_rss_mb": round(r["peak_rss_mb"], 1),
                    "seconds": round(r["seconds"], 1)})
    return out


def bench_import_memory(dst, work: Path, sizes: list[int], snapshots: bool) -> list[dict]:
    out = []
    for n in sizes:
        root = work / f"bids{n}"
        tree = build_bids(root, n)
        rd = work / f"r-imp{n}"
        cmd = [sys.executable, "-m", "xnat_container", "import-nifti", str(root),
               "--project", f"IMP{n}", "--url", dst.url, "--report-dir", str(rd)]
        if not snapshots:
            cmd.append("--no-snapshots")
        r = run(cmd, rd)
        rep = r["report"]
        assert rep["status"] == "ok", (rep["status"], rep.get("failures", [])[:3])
        out.append({"sessions": n, "files": tree["files"],
                    "peak_rss_mb": round(r["peak_rss_mb"], 1), "seconds": round(r["seconds"], 1),
                    "files_uploaded": rep["done"]["files_uploaded"],
                    **requests_per_session({"requests": {"source": 0,
                                                         "target": rep["requests"]["target"]}},
                                           n)})
        shutil.rmtree(root, ignore_errors=True)
    return out


def flatness(points: list[dict]) -> dict:
    lo, hi = points[0], points[-1]
    per_session = (hi["peak_rss_mb"] - lo["peak_rss_mb"]) * 1000 / max(
        1, hi["sessions"] - lo["sessions"])
    return {"ratio_largest_to_smallest": round(hi["peak_rss_mb"] / lo["peak_rss_mb"], 2),
            "kb_per_session": round(per_session, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 sessions; memory at 50/100/200")
    parser.add_argument("--only", choices=("copy", "concurrent", "memory", "import"),
                        action="append")
    parser.add_argument("--snapshots", action="store_true",
                        help="import-nifti with snapshots on (default off)")
    args = parser.parse_args()
    only = set(args.only or ("copy", "concurrent", "memory", "import"))
    main_n = 200 if args.quick else 2000
    scale = [50, 100, 200] if args.quick else [100, 1000, 2000]
    results: dict = {"quick": args.quick, "cpus": os.cpu_count(),
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="xnat-bench-load-") as tmp:
        work = Path(tmp)
        (work / "src").mkdir()
        (work / "dst").mkdir()
        projects = {"LOAD": main_n}
        if "memory" in only:
            projects.update({f"M{n}": n for n in scale if n != main_n})
        t0 = time.perf_counter()
        infos = seed_source(work / "src", projects)
        names = {n: "LOAD" if n == main_n else f"M{n}" for n in scale}
        targets = (["T_FULL", "T_CONC"] + [f"T_{names[n]}" for n in scale]
                   + [f"IMP{n}" for n in scale])
        seed_projects(work / "dst", targets)
        results["seed_seconds"] = round(time.perf_counter() - t0, 1)
        os.sync()
        src, dst = EmulatorProcess(work / "src"), EmulatorProcess(work / "dst")
        try:
            if "copy" in only:
                results["copy"] = bench_copy(src, dst, work, "LOAD", infos["LOAD"])
                print(json.dumps(results["copy"]), file=sys.stderr)
            if "concurrent" in only:
                results["concurrent"] = bench_concurrent(src, dst, work, "LOAD", infos["LOAD"])
                print(json.dumps(results["concurrent"]), file=sys.stderr)
            if "memory" in only:
                points = bench_copy_memory(src, dst, work,
                                           {names[n]: infos[names[n]] for n in scale})
                results["copy_memory"] = {"points": points, **flatness(points)}
                print(json.dumps(results["copy_memory"]), file=sys.stderr)
            if "import" in only:
                points = bench_import_memory(dst, work, scale, args.snapshots)
                results["import_memory"] = {"snapshots": args.snapshots, "points": points,
                                            **flatness(points)}
                print(json.dumps(results["import_memory"]), file=sys.stderr)
            results["emulator_rss_mb"] = {
                "source": round(psutil.Process(src.pid).memory_info().rss / 1e6, 1),
                "target": round(psutil.Process(dst.pid).memory_info().rss / 1e6, 1)}
        finally:
            src.stop()
            dst.stop()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(results, "load", args.quick, bool(args.only))
    print(summary(results))


def summary(r: dict) -> str:
    lines = ["", "| what | measured |", "|---|---|"]
    if "copy" in r:
        c = r["copy"]
        lines.append(f"| full copy, {c['subjects']} subjects / {c['sessions']} sessions / "
                     f"{c['scans']} scans / {c['files']} files ({c['mb']} MB) | "
                     f"{c['full']['seconds']} s, {c['full']['mb_per_s']} MB/s, "
                     f"{c['full']['sessions_per_s']} sessions/s, "
                     f"{c['full']['requests_per_session']} requests/session, "
                     f"peak RSS {c['full']['peak_rss_mb']} MB |")
        lines.append(f"| no-op re-run | {c['noop_rerun']['seconds']} s, "
                     f"{c['noop_rerun']['requests_per_session']} requests/session |")
    if "concurrent" in r:
        c = r["concurrent"]
        runs = ", ".join(f"{o['seconds']} s ({o['status']}, exit {o['exit']})" for o in c["runs"])
        lines.append(f"| {c['copies']} copies at once into one project | {runs}; final check: "
                     f"{'target equals source' if c['final_check']['equal'] else 'DIFFERS'} "
                     f"({c['final_check']['files_checked']} files) |")
    for key, what in (("copy_memory", "copy peak RSS"), ("import_memory", "import peak RSS")):
        if key in r:
            m = r[key]
            pts = " / ".join(f"{p['peak_rss_mb']} MB" for p in m["points"])
            at = "/".join(str(p["sessions"]) for p in m["points"])
            extra = f" (snapshots {'on' if m.get('snapshots') else 'off'})" \
                if key == "import_memory" else ""
            lines.append(f"| {what} at {at} sessions{extra} | {pts}: x{m['ratio_largest_to_smallest']}"
                         f", {m['kb_per_session']} kB per session |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
