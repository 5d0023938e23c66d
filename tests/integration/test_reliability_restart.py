"""The target XNAT restarted in the middle of a job (its HTTP sessions lost, connections reset
and refused while it is down, same port): ``copy`` and ``import-nifti`` retry, log in again
and end verified, with nothing missing and nothing twice."""

from __future__ import annotations

import pytest
from copyhelpers import SECRET, assert_same_project, documents
from reliability import JobProcess, files_on, read_report

from nifti_data import build_bids
from xnat_emulator.config import User
from xnat_emulator.sample import SampleSpec, build_sample_project
from xnat_emulator.testing import EmulatorProcess, InProcessEmulator


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Source: the sample project (3 subjects, 127 files). Target: ``xnat-emulator`` as a
    child process (so it can be restarted) answering after 5-20 ms."""
    src = InProcessEmulator(tmp_path_factory.mktemp("src"),
                            users=(User("admin", SECRET, admin=True),))
    build_sample_project(src.url, ("admin", SECRET), "SRC", SampleSpec(subjects=3))
    dst = EmulatorProcess(tmp_path_factory.mktemp("dst"), "--user", f"admin:{SECRET}:admin",
                          "--site-id", "TARGET", "--fault-latency", "0.005-0.02")
    dst.password = SECRET
    yield src, dst, documents(src, "SRC")
    src.stop()
    dst.stop()


def _restart_when(run: JobProcess, dst: EmulatorProcess, reached) -> None:
    assert run.wait_until(reached), f"the job ended first: {run.stderr[-3000:]}"
    url = dst.url
    dst.restart()
    assert dst.url == url


def test_copy_survives_a_target_restart(sites, tmp_path):
    """The target restarts after 30 files of a copy: the copy ends with exit 0, every file
    verified, the target equal to the source; it had to retry and log in again."""
    src, dst, expected = sites
    base = files_on(dst)
    run = JobProcess.copy(src, dst, tmp_path, "--source-project", "SRC", "--target-project",
                          "RESTART", "--create-target-project")
    _restart_when(run, dst, lambda: files_on(dst) - base >= 30)
    assert run.wait(180) == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = read_report(tmp_path)
    assert report["status"] == "ok" and report["failures"] == []
    assert report["verification"]["verified_files"] == 127
    assert "retrying" in run.stderr and "logging in again" in run.stderr
    assert_same_project(src, "SRC", dst, "RESTART", expected)


def test_import_survives_a_target_restart(sites, tmp_path):
    """The target restarts while import-nifti uploads: the import ends with exit 0 and
    verified, and the project equals one imported without a restart."""
    _, dst, _ = sites
    (tmp_path / "cache").mkdir()
    bids = build_bids(tmp_path / "bids", tmp_path / "cache")
    http = dst.http()
    for p in ("NII_RESTART", "NII_REF"):
        http.put(f"/data/projects/{p}").raise_for_status()
    ref = JobProcess.import_nifti(dst, bids, "NII_REF", tmp_path / "ref")
    assert ref.wait(120) == 0, ref.stderr[-3000:]
    base = files_on(dst)
    run = JobProcess.import_nifti(dst, bids, "NII_RESTART", tmp_path / "r", "--workers", "2")
    _restart_when(run, dst, lambda: files_on(dst) - base >= 4)
    assert run.wait(180) == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = read_report(tmp_path / "r")
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    assert "logging in again" in run.stderr
    reference, got = documents(dst, "NII_REF"), documents(dst, "NII_RESTART")
    assert {k: v for k, v in got[0].items() if k != "project"} == \
        {k: v for k, v in reference[0].items() if k != "project"}
    assert got[1] == reference[1]
