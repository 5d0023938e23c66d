"""A copy killed at any moment and run again ends with exactly the target an uninterrupted
copy gives: every object and file as on the source, nothing missing, nothing twice."""

from __future__ import annotations

import os
import signal
import time

import pytest
from copyhelpers import (SECRET, assert_same_project, documents,
                         run_copy)

from reliability import JobProcess, set_faults

from xnat_container.credentials import normalize_url
from xnat_container.journal import Journal
from xnat_emulator.config import User
from xnat_emulator.sample import SampleSpec, build_sample_project
from xnat_emulator.testing import InProcessEmulator

BIG = 96 << 20    # a file whose upload takes long enough to be killed in the middle

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Source: the sample project (3 subjects, 127 files) and BIG (one session whose scan
    has a 96 MiB file). Target: empty, answering each request after 5-20 ms, so that a
    copy of SRC takes a couple of seconds and can be killed at chosen moments."""
    users = (User("admin", SECRET, admin=True),)
    src = InProcessEmulator(tmp_path_factory.mktemp("src"), users=users)
    dst = InProcessEmulator(tmp_path_factory.mktemp("dst"), users=users, site_id="TARGET")
    build_sample_project(src.url, ("admin", SECRET), "SRC", SampleSpec(subjects=3))
    http = src.http()
    for path in ("/data/projects/BIG", "/data/projects/BIG/subjects/B1",
                 "/data/projects/BIG/subjects/B1/experiments/B1_MR?xsiType=xnat:mrSessionData",
                 ("/data/projects/BIG/subjects/B1/experiments/B1_MR/scans/1"
                  "?xsiType=xnat:mrScanData&type=T1"),
                 "/data/projects/BIG/subjects/B1/experiments/B1_MR/scans/1/resources/RAW"):
        http.put(path).raise_for_status()
    res = "/data/projects/BIG/subjects/B1/experiments/B1_MR/scans/1/resources/RAW/files"
    http.put(f"{res}/big.bin", params={"inbody": "true"},
             data=os.urandom(1 << 20) * (BIG >> 20)).raise_for_status()
    http.put(f"{res}/small.txt", params={"inbody": "true"}, data=b"small\n").raise_for_status()
    set_faults(dst, latency_min=0.005, latency_max=0.02)
    yield src, dst
    src.stop()
    dst.stop()


@pytest.fixture(scope="module")
def source_documents(pair):
    return documents(pair[0], "SRC")


def _finish(src, dst, report_dir, project):
    proc, report = run_copy(src, dst, report_dir, "--source-project", "SRC",
                            "--target-project", project, "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert "Traceback" not in proc.stderr
    return report


# (what to wait for on stderr, how many such lines, then seconds before SIGKILL)
KILL_POINTS = {
    "objects-being-created": ("plan:", 1, 0.0),
    "objects-then-first-files": ("plan:", 1, 0.4),
    "first-session-done": ("session SUB", 1, 0.0),
    "uploads-half-done": ("session SUB", 4, 0.0),
    "all-uploaded-verifying": ("session SUB", 9, 0.0),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_then_rerun_equals_uninterrupted_copy(pair, source_documents, tmp_path, point):
    """SIGKILL at one of five moments (while objects are created, while the first files move,
    after the first session, half-way, during verification), then run again: the second run
    ends verified and the target equals the source, as an uninterrupted copy does (metadata
    of every object, every file's size and MD5, no object, resource or file twice)."""
    src, dst = pair
    project = f"KILL_{point.replace('-', '_')}"
    marker, count, delay = KILL_POINTS[point]
    run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC", "--target-project",
                      project, "--create-target-project")
    assert run.wait_for(marker, count), "".join(run.lines)
    time.sleep(delay)
    assert run.kill() == -signal.SIGKILL, "the copy ended before it could be killed"
    report = _finish(src, dst, tmp_path, project)
    assert report["plan"]["files_present"] + report["plan"]["files_to_transfer"] == 127
    assert_same_project(src, "SRC", dst, project, source_documents)


def test_killed_repeatedly_then_completed(pair, tmp_path):
    """Five kills in a row on the same target, each after the run made some progress, then a
    run to completion: the target equals the source, nothing twice."""
    src, dst = pair
    kills = 0
    for delay in (0.0, 0.2, 0.4, 0.6, 0.8):
        run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC", "--target-project",
                          "KILL_MANY", "--create-target-project")
        if not run.wait_for("plan:"):
            break
        time.sleep(delay)
        kills += run.kill() == -signal.SIGKILL
    assert kills >= 3
    _finish(src, dst, tmp_path, "KILL_MANY")
    assert_same_project(src, "SRC", dst, "KILL_MANY")
    again = _finish(src, dst, tmp_path, "KILL_MANY")
    assert again["plan"]["files_to_transfer"] == 0 and again["plan"]["objects_to_create"] == {}


def test_killed_during_a_file_upload(pair, tmp_path):
    """A kill while a 96 MiB file is streaming to the target leaves no cut file behind that
    a re-run would take as present: the re-run uploads it whole and verifies it."""
    src, dst = pair
    staging = dst.data_dir / "tmp"
    before = set(staging.glob("upload-*.part"))
    run = JobProcess.copy(src, dst, tmp_path, "--source-project", "BIG", "--target-project",
                      "KILL_UPLOAD", "--create-target-project", "--workers", "1")
    deadline = time.monotonic() + 60
    caught = False
    while time.monotonic() < deadline and run.proc.poll() is None:
        parts = [p for p in set(staging.glob("upload-*.part")) - before
                 if p.exists() and 0 < p.stat().st_size < BIG]
        if parts:
            caught = True
            break
        time.sleep(0.002)
    assert caught, "the upload was not seen in progress"
    assert run.kill() == -signal.SIGKILL
    listed = dst.http().get("/data/projects/KILL_UPLOAD/subjects/B1/experiments/B1_MR/scans/1/"
                            "resources/RAW/files", params={"format": "json"})
    names = [r["Name"] for r in listed.json()["ResultSet"]["Result"]] if listed.ok else []
    assert "big.bin" not in names
    proc, report = run_copy(src, dst, tmp_path, "--source-project", "BIG",
                            "--target-project", "KILL_UPLOAD")
    assert proc.returncode == 0, proc.stderr
    assert report["verification"]["failed"] == 0
    assert_same_project(src, "BIG", dst, "KILL_UPLOAD")


def test_journal_lets_our_interrupted_upload_be_replaced(pair, tmp_path):
    """A target file that differs from the source because an earlier run of ours was cut off
    while writing it (the journal still holds it as in flight) is replaced on the next run
    without --overwrite; the same difference without a journal entry would be left alone."""
    src, dst = pair
    session = ["--session", "SUB002_MR1"]
    proc, _ = run_copy(src, dst, tmp_path, *session, "--target-project", "JOURNAL",
                       "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    where = ("subject", "SUB002", "experiment", "SUB002_MR1", "scan", "1")
    res = "/data/projects/JOURNAL/subjects/SUB002/experiments/SUB002_MR1/scans/1/resources/NIFTI"
    dst.http().put(f"{res}/files/example4d.nii.gz",
                   params={"inbody": "true", "overwrite": "true"},
                   data=b"half of an upload").raise_for_status()
    journal = Journal(tmp_path / "journal.sqlite",
                      {"source": normalize_url(src.url), "source_project": "SRC",
                       "target": normalize_url(dst.url), "target_project": "JOURNAL"})
    journal.started(where, "NIFTI", ["example4d.nii.gz"])
    journal.close()
    proc, report = run_copy(src, dst, tmp_path, *session, "--target-project", "JOURNAL")
    assert proc.returncode == 0, proc.stderr
    assert report["skipped"]["differing_files"] == []
    assert report["done"]["files_uploaded"] == 1
    _, src_files = documents(src, "SRC")
    _, dst_files = documents(dst, "JOURNAL")
    key = ("SUB002/SUB002_MR1/scan/1", "NIFTI", "example4d.nii.gz")
    assert dst_files[key] == src_files[key]
    journal = Journal(tmp_path / "journal.sqlite",
                      {"source": normalize_url(src.url), "source_project": "SRC",
                       "target": normalize_url(dst.url), "target_project": "JOURNAL"})
    assert journal.interrupted() == set()
    journal.close()
