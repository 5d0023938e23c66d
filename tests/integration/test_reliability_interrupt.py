"""SIGTERM (how the Container Service and ``docker stop`` end a job) and SIGINT (Ctrl-C) stop
``copy`` and ``import-nifti`` cleanly: nothing new is started, the process exits within a few
seconds with 143 / 130, writes its report (status ``interrupted``, what was done so far, the
interruption listed as a failure), prints no traceback, leaves the uploads it started recorded
as in flight in its journal, and the same command run again completes and verifies."""

from __future__ import annotations

import io
import signal
import threading
import time

import pytest
from copyhelpers import SECRET, assert_same_project, documents, run_copy, sample_sites
from reliability import JobProcess, files_on, inflight, read_report, set_faults

from nifti_data import build_bids
from xnat_container import interrupt
from xnat_container.xnat.client import XnatClient

CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}
STOP_SECONDS = interrupt.GRACE + 5     # signal -> exit, at most


TARGET_LATENCY = {"latency_min": 0.005, "latency_max": 0.02}


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Source with the sample project (3 subjects, 127 files); target answering each request
    after 5-20 ms (a copy then takes a few seconds); a BIDS tree to import."""
    with sample_sites(tmp_path_factory, subjects=3) as (src, dst):
        set_faults(dst, **TARGET_LATENCY)
        base = tmp_path_factory.mktemp("bids")
        (base / "cache").mkdir()
        bids = build_bids(base / "bids", base / "cache")
        yield src, dst, bids, documents(src, "SRC")


def _stopped(run: JobProcess, sig: int, report_dir) -> dict:
    """Send ``sig`` and check the clean stop; the report."""
    assert run.running(), "the job ended before it could be interrupted"
    sent = time.monotonic()
    run.signal(sig)
    code = run.wait(STOP_SECONDS + 30)
    took = time.monotonic() - sent
    assert code == CODES[sig], run.stderr[-3000:]
    assert took < STOP_SECONDS, f"took {took:.1f} s to stop"
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    assert f"received {signal.Signals(sig).name}: stopping" in run.stderr
    report = read_report(report_dir)
    assert report is not None, "no report written"
    assert report["status"] == "interrupted"
    assert "# xnat-container" in run.stdout and ": interrupted" in run.stdout
    runs = [f for f in report["failures"] if f["what"] == "run"]
    assert len(runs) == 1 and f"interrupted by {signal.Signals(sig).name}" in runs[0]["reason"]
    assert report["verification"] == {}          # nothing claimed verified
    assert (report_dir / "report.md").read_text().startswith(
        f"# xnat-container {report['job']}: interrupted")
    return report


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_copy_interrupted_during_uploads_then_rerun(sites, tmp_path, sig):
    """A copy stopped while files are moving: exit 143/130 within seconds, report
    ``interrupted`` with the files done so far (fewer than planned), the journal holding the
    uploads it started as in flight; the re-run finishes, verifies every file and empties the
    journal; the target equals the source, nothing twice."""
    src, dst, _, expected = sites
    project = f"INT_{signal.Signals(sig).name}"
    before = files_on(dst)
    run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC", "--target-project",
                          project, "--create-target-project")
    assert run.wait_until(lambda: files_on(dst) - before >= 10), run.stderr[-3000:]
    report = _stopped(run, sig, tmp_path)
    planned = report["plan"]["files_to_transfer"]
    assert planned == 127
    assert 0 < report["done"]["files_uploaded"] < planned
    assert inflight(tmp_path) >= report["done"]["files_uploaded"]   # started, not verified
    assert files_on(dst) - before < 127

    proc, again = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                           "--target-project", project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert again["status"] == "ok" and again["verification"]["failed"] == 0
    assert again["plan"]["files_present"] + again["plan"]["files_to_transfer"] == 127
    assert inflight(tmp_path) == 0
    assert_same_project(src, "SRC", dst, project, expected)


def test_copy_interrupted_while_listing(sites, tmp_path):
    """SIGTERM before the plan (while both sides are being listed): the report says
    ``interrupted`` with nothing done, exit 143; the re-run copies everything."""
    src, dst, _, expected = sites
    set_faults(dst, latency_min=0.05, latency_max=0.1)
    try:
        run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC",
                              "--target-project", "INT_LISTING", "--create-target-project")
        # the target is listed after the source: its first request is the data-type check
        assert run.wait_until(lambda: dst.http().get("/xapi/emulator/faults").json()
                              ["injected"]["delayed"] > 0, interval=0.005)
        report = _stopped(run, signal.SIGTERM, tmp_path)
        assert report["plan"] == {} and report["done"] == {}
    finally:
        set_faults(dst, **TARGET_LATENCY)
    proc, again = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                           "--target-project", "INT_LISTING", "--create-target-project")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_project(src, "SRC", dst, "INT_LISTING", expected)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_import_interrupted_then_rerun(sites, tmp_path, sig):
    """import-nifti stopped while uploading: exit 143/130, report ``interrupted``, journal
    with the uploads in flight; the re-run completes and verifies, and the project equals
    one imported without interruption (metadata, files, nothing twice)."""
    _, dst, bids, _ = sites
    project = f"NII_{signal.Signals(sig).name}"
    reference = f"NII_REF_{signal.Signals(sig).name}"
    http = dst.http()
    for p in (project, reference):
        http.put(f"/data/projects/{p}").raise_for_status()
    set_faults(dst, latency_min=0.05, latency_max=0.1)
    try:
        before = files_on(dst)
        run = JobProcess.import_nifti(dst, bids, project, tmp_path, "--workers", "2")
        assert run.wait_until(lambda: files_on(dst) - before >= 3), run.stderr[-3000:]
        report = _stopped(run, sig, tmp_path)
        assert 0 < report["done"]["files_uploaded"] < report["plan"]["files_to_transfer"]
        assert inflight(tmp_path) >= report["done"]["files_uploaded"]
    finally:
        set_faults(dst, **TARGET_LATENCY)
    again = JobProcess.import_nifti(dst, bids, project, tmp_path)
    assert again.wait(120) == 0, again.stderr[-3000:]
    report = read_report(tmp_path)
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    assert inflight(tmp_path) == 0
    ref = JobProcess.import_nifti(dst, bids, reference, tmp_path / "ref")
    assert ref.wait(120) == 0, ref.stderr[-3000:]
    ref_docs = documents(dst, reference)
    got = documents(dst, project)
    assert {k: v for k, v in got[0].items() if k != "project"} == \
        {k: v for k, v in ref_docs[0].items() if k != "project"}
    assert got[1] == ref_docs[1]


class _SlowBody(io.RawIOBase):
    """An endless local file that hands out 64 KiB every 20 ms."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        time.sleep(0.02)
        return b"x" * min(size if size and size > 0 else 65536, 65536)


def test_transfer_in_flight_is_abandoned_after_the_grace_period(sites, monkeypatch):
    """In the client: after a stop request, an upload still streaming is cut once its grace
    period is over (nothing is stored), a retry pause ends at once, and no new request is
    sent."""
    _, dst, _, _ = sites
    monkeypatch.setattr(interrupt, "GRACE", 0.5)
    client = XnatClient(dst.url, "admin", SECRET, backoff=2.0)
    client.login()
    path = "/data/projects/ABANDON/resources/R/files/big.bin"
    dst.http().put("/data/projects/ABANDON").raise_for_status()
    dst.http().put("/data/projects/ABANDON/resources/R").raise_for_status()
    try:
        threading.Timer(0.3, interrupt.request_stop, (signal.SIGTERM,)).start()
        started = time.monotonic()
        with pytest.raises(interrupt.Interrupted, match="abandoned after 0.5 s"):
            client.upload(path, _SlowBody, 1 << 30)
        assert time.monotonic() - started < 3
        with pytest.raises(interrupt.Interrupted):
            client.get_json("/data/projects")
        listed = dst.http().get("/data/projects/ABANDON/resources/R/files",
                                params={"format": "json"}).json()["ResultSet"]["Result"]
        assert listed == []

        interrupt.reset()
        set_faults(dst, error_rate=1.0)
        failing = XnatClient(dst.url, "admin", SECRET, backoff=4.0, retries=5)
        threading.Timer(0.3, interrupt.request_stop, (signal.SIGINT,)).start()
        started = time.monotonic()
        with pytest.raises(interrupt.Interrupted, match="SIGINT"):
            failing.login()       # 500/503: retried after 2-4 s pauses, cut by the stop
        assert time.monotonic() - started < 1.5
        assert failing.stats.retries == 1
        failing.close()
    finally:
        set_faults(dst, **TARGET_LATENCY)
        interrupt.reset()
        client.close()
