"""SIGKILL at many points of one job, restarted each time: the job that finally completes leaves
exactly what an uninterrupted one does, verified file by file, nothing twice."""

from __future__ import annotations

import signal
import time

import pytest
from copyhelpers import SECRET, assert_same_project, documents, run_copy, sample_sites
from reliability import JobProcess, files_on, inflight, parts_on, read_report, set_faults

from nifti_data import build_bids

BIG = 64 << 20
BIG_RES = "/data/projects/SRC/subjects/SUB001/experiments/SUB001_MR1/scans/9/resources/RAW"


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Source: the sample project (6 subjects, 253 files) plus a 64 MiB file in a scan of
    the first subject; target answering after 5-20 ms."""
    with sample_sites(tmp_path_factory, subjects=6) as (src, dst):
        http = src.http("admin", SECRET)
        http.put("/data/projects/SRC/subjects/SUB001/experiments/SUB001_MR1/scans/9",
                 params={"xsiType": "xnat:mrScanData", "type": "BIG"}).raise_for_status()
        http.put(BIG_RES).raise_for_status()
        http.put(f"{BIG_RES}/files/big.bin", params={"inbody": "true"},
                 data=bytes(range(256)) * (BIG // 256)).raise_for_status()
        set_faults(dst, latency_min=0.005, latency_max=0.02)
        yield src, dst


def test_copy_killed_at_ten_points_then_completed(sites, tmp_path):
    """One copy of 254 files, SIGKILLed ten times and restarted each time, at points chosen
    by its progress: while listing, while creating objects, at its first file, in the middle
    of the 64 MiB upload, five times after 2 more files, and once everything is on the
    target (while verifying). The eleventh run ends verified (MD5 and size of every
    file), the target equals the source in metadata, resources and files, nothing twice;
    the journal is empty and a further run has nothing to do."""
    src, dst = sites
    expected = documents(src, "SRC")
    total = len(expected[1])
    assert total == 254
    base = files_on(dst)

    def more(n):
        """``n`` more files on the target than when this run started."""
        return lambda run: files_on(dst) - run.files_before >= n

    points = [
        ("listing", lambda run: time.monotonic() - run.started >= 0.8),
        ("creating objects", lambda run: "plan:" in run.stderr),
        ("first file", more(1)),
        ("mid 64 MiB upload", lambda run: any(n > 4 << 20 for n in parts_on(dst))),
        # Small steps: a resource of small files lands as one zip (10 files at once), and
        # with fast uploads bigger steps can leave too little for the last points.
        ("2 more files", more(2)),
        ("2 more files again", more(2)),
        ("2 more files, third time", more(2)),
        ("2 more files, fourth time", more(2)),
        ("2 more files, fifth time", more(2)),
        ("verifying", lambda run: files_on(dst) - base >= total),
    ]
    killed = []
    for name, reached in points:
        before = files_on(dst)
        run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC",
                              "--target-project", "KILLS", "--create-target-project")
        run.files_before = before
        assert run.wait_until(lambda: reached(run), interval=0.003), \
            f"the run ended before {name}: {run.stderr[-3000:]}"
        assert run.kill() == -signal.SIGKILL, f"not killed at {name}"
        assert "Traceback" not in run.stderr
        killed.append((name, files_on(dst) - base))
    assert len(killed) == 10
    counts = [n for _, n in killed]
    assert counts == sorted(counts) and counts[-1] == total, killed
    assert len(set(counts[2:])) == 8, killed       # each kill after more progress

    proc, report = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                            "--target-project", "KILLS")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report["status"] == "ok" and report["failures"] == []
    assert report["verification"]["verified_files"] == total
    assert report["verification"]["failed"] == 0
    assert inflight(tmp_path) == 0
    assert_same_project(src, "SRC", dst, "KILLS", expected)
    proc, again = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                           "--target-project", "KILLS")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert again["plan"]["files_to_transfer"] == 0 and again["plan"]["objects_to_create"] == {}


def test_import_killed_at_four_points_then_completed(sites, tmp_path_factory):
    """import-nifti of a BIDS tree SIGKILLed four times (while checking and listing, while
    creating objects, after its first file, half-way) and restarted each time: the final run
    ends verified, and the project equals one imported without interruption (metadata,
    resources, files, nothing twice)."""
    _, dst = sites
    base_dir = tmp_path_factory.mktemp("bids")
    (base_dir / "cache").mkdir()
    bids = build_bids(base_dir / "bids", base_dir / "cache")
    report_dir = base_dir / "report"
    http = dst.http("admin", SECRET)
    for p in ("NII_KILLS", "NII_REF"):
        http.put(f"/data/projects/{p}").raise_for_status()
    ref = JobProcess.import_nifti(dst, bids, "NII_REF", base_dir / "ref")
    assert ref.wait(120) == 0, ref.stderr[-3000:]
    reference = documents(dst, "NII_REF")
    total = len(reference[1])

    set_faults(dst, latency_min=0.03, latency_max=0.06)
    try:
        base = files_on(dst)
        points = [
            ("checking and listing", lambda run: time.monotonic() - run.started >= 1.0),
            ("creating objects", lambda run: "sessions already up to date" in run.stderr),
            ("first file", lambda run: files_on(dst) - base >= 1),
            ("half of the files", lambda run: files_on(dst) - base >= total // 2),
        ]
        for name, reached in points:
            run = JobProcess.import_nifti(dst, bids, "NII_KILLS", report_dir, "--workers", "2")
            assert run.wait_until(lambda: reached(run), interval=0.003), \
                f"the import ended before {name}: {run.stderr[-3000:]}"
            assert run.kill() == -signal.SIGKILL, f"not killed at {name}"
        assert files_on(dst) - base < total
    finally:
        set_faults(dst, latency_min=0.005, latency_max=0.02)
    final = JobProcess.import_nifti(dst, bids, "NII_KILLS", report_dir)
    assert final.wait(120) == 0, final.stderr[-3000:]
    report = read_report(report_dir)
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    assert inflight(report_dir) == 0
    got = documents(dst, "NII_KILLS")
    assert {k: v for k, v in got[0].items() if k != "project"} == \
        {k: v for k, v in reference[0].items() if k != "project"}
    assert got[1] == reference[1]
