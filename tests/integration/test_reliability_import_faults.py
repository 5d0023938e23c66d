"""import-nifti under the faults copy is tested under (5% of requests answered 500/503, 2%
reset in the middle of the answer, 50-500 ms latency; every HTTP session ended every few
requests and all of them once mid-run): it ends verified and equal to a fault-free import,
nothing twice."""

from __future__ import annotations

import pytest
from copyhelpers import SECRET, documents
from reliability import JobProcess, files_on, read_report, set_faults

from nifti_data import build_bids
from xnat_emulator.config import User
from xnat_emulator.testing import InProcessEmulator


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An emulator, a BIDS tree (2 subjects, 5 scans) and that tree imported without faults
    into project NII_REF (the expected result)."""
    emu = InProcessEmulator(tmp_path_factory.mktemp("xnat"),
                            users=(User("admin", SECRET, admin=True),))
    base = tmp_path_factory.mktemp("bids")
    (base / "cache").mkdir()
    bids = build_bids(base / "bids", base / "cache")
    emu.http().put("/data/projects/NII_REF").raise_for_status()
    ref = JobProcess.import_nifti(emu, bids, "NII_REF", base / "ref")
    assert ref.wait(120) == 0, ref.stderr[-3000:]
    yield emu, bids, documents(emu, "NII_REF")
    emu.stop()


def _import_verified(emu, bids, project, report_dir, expected, run=None):
    run = run or JobProcess.import_nifti(emu, bids, project, report_dir)
    assert run.wait(240) == 0, (read_report(report_dir) or {}).get("failures") or \
        run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = read_report(report_dir)
    assert report["status"] == "ok" and report["failures"] == []
    assert report["verification"]["failed"] == 0
    assert report["verification"]["verified_files"] == len(expected[1])
    set_faults(emu)
    got = documents(emu, project)
    assert {k: v for k, v in got[0].items() if k != "project"} == \
        {k: v for k, v in expected[0].items() if k != "project"}
    assert got[1] == expected[1]
    return run


def test_import_under_errors_resets_and_latency(site, tmp_path):
    """5% 500/503, 2% resets mid-answer, 50-500 ms per answer: the import retries and exits
    0, verified, equal to the fault-free import."""
    emu, bids, expected = site
    emu.http().put("/data/projects/NII_FAULTS").raise_for_status()
    try:
        set_faults(emu, error_rate=0.05, reset_rate=0.02, latency_min=0.05, latency_max=0.5,
                   seed=4)
        run = _import_verified(emu, bids, "NII_FAULTS", tmp_path, expected)
    finally:
        set_faults(emu)
    assert "retrying" in run.stderr


def test_import_with_sessions_ended(site, tmp_path):
    """Every HTTP session ended every 7 requests, and all of them once more in the middle of
    the uploads: the import logs in again each time and ends verified, equal to the
    fault-free import."""
    emu, bids, expected = site
    emu.http().put("/data/projects/NII_EXPIRE").raise_for_status()
    try:
        set_faults(emu, expire_sessions_every=7, latency_min=0.01, latency_max=0.03)
        base = files_on(emu)
        run = JobProcess.import_nifti(emu, bids, "NII_EXPIRE", tmp_path, "--workers", "2")
        assert run.wait_until(lambda: files_on(emu) - base >= 3), run.stderr[-3000:]
        emu.http().post("/xapi/emulator/sessions/expire").raise_for_status()
        run = _import_verified(emu, bids, "NII_EXPIRE", tmp_path, expected, run)
    finally:
        set_faults(emu)
    assert "logging in again" in run.stderr
