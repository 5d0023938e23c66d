"""Copies under injected faults (5xx answers, connections reset mid-answer, latency, ended
HTTP sessions) on either side end verified: the client's retries and re-logins absorb them."""

from __future__ import annotations

import pytest
from copyhelpers import assert_same_project, documents, run_copy, sample_sites
from reliability import set_faults


def injected(emu) -> dict:
    """What the emulator's fault injector did since it was last configured."""
    return emu.http().get("/xapi/emulator/faults").json()["injected"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Source with a one-subject sample project (3 sessions, 47 files), empty target."""
    with sample_sites(tmp_path_factory, subjects=1) as (src, dst):
        yield src, dst, documents(src, "SRC")


@pytest.fixture
def faults_off(pair):
    yield
    set_faults(pair[0])
    set_faults(pair[1])


def _copy_verified(src, dst, tmp_path, project, expected):
    proc, report = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                            "--target-project", project, "--create-target-project",
                            "--workers", "8")
    assert proc.returncode == 0, (report or {}).get("failures") or proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert report["status"] == "ok"
    assert report["failures"] == []
    assert report["verification"]["failed"] == 0
    assert report["verification"]["verified_files"] == len(expected[1])
    faults = injected(src), injected(dst)     # read before set_faults clears the counts
    set_faults(src)
    set_faults(dst)
    assert_same_project(src, "SRC", dst, project, expected)
    return proc, faults


def test_target_errors_resets_and_latency(pair, faults_off, tmp_path):
    """Target answering 5% of requests with 500/503, resetting 2% mid-answer and delaying
    every answer by 50-500 ms: the copy retries, exits 0 verified, target equals source."""
    src, dst, expected = pair
    set_faults(dst, error_rate=0.05, reset_rate=0.02, latency_min=0.05, latency_max=0.5,
               seed=3)
    proc, (_, on_target) = _copy_verified(src, dst, tmp_path, "FAULTS_TARGET", expected)
    assert "retrying" in proc.stderr
    assert on_target["errors"] > 0 and on_target["resets"] > 0 and on_target["delayed"] > 0


def test_target_sessions_expire(pair, faults_off, tmp_path):
    """Target ending every HTTP session every 7 requests: the client logs in again (401 ->
    new JSESSION) and the copy ends verified."""
    src, dst, expected = pair
    set_faults(dst, expire_sessions_every=7)
    proc, (_, on_target) = _copy_verified(src, dst, tmp_path, "EXPIRE_TARGET", expected)
    assert "logging in again" in proc.stderr
    assert on_target["expiries"] > 0


def test_faults_on_both_sides(pair, faults_off, tmp_path):
    """Source and target both failing (5xx, resets) and ending sessions: still verified."""
    src, dst, expected = pair
    set_faults(src, error_rate=0.05, reset_rate=0.03, expire_sessions_every=13, seed=5)
    set_faults(dst, error_rate=0.05, reset_rate=0.03, expire_sessions_every=17,
               latency_min=0.0, latency_max=0.05, seed=7)
    _, (on_source, on_target) = _copy_verified(src, dst, tmp_path, "FAULTS_BOTH", expected)
    for side in (on_source, on_target):
        assert side["errors"] > 0 and side["expiries"] > 0


def test_faults_during_a_rerun_change_nothing(pair, faults_off, tmp_path):
    """A re-run under faults after a clean copy lists both sides and writes nothing."""
    src, dst, expected = pair
    _copy_verified(src, dst, tmp_path, "FAULTS_RERUN", expected)
    set_faults(src, error_rate=0.1, reset_rate=0.05, seed=11)
    set_faults(dst, error_rate=0.1, reset_rate=0.05, expire_sessions_every=5, seed=13)
    proc, report = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                            "--target-project", "FAULTS_RERUN")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report["plan"]["files_to_transfer"] == 0
    assert report["plan"]["objects_to_create"] == {}
    assert report["done"]["files_uploaded"] == 0
