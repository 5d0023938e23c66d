"""What ``xnat-container copy`` does with shared objects, plugin types, differences, extra
data on the target, sites without checksums, odd labels, empty projects, worker counts, and
every error a user can meet: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from copyhelpers import (SECRET, FaultyProxy, assert_same_project, copy_command, copy_env,
                         documents, run_copy)

from xnat_emulator.config import User
from xnat_emulator.sample import SampleSpec, build_sample_project
from xnat_emulator.testing import InProcessEmulator

BOB = "b0b-Pa55-for-tests"
USERS = (User("admin", SECRET, admin=True), User("bob", BOB))
FS_XML = (b'<?xml version="1.0" encoding="UTF-8"?>'
          b'<fs:fsData xmlns:fs="http://nrg.wustl.edu/fs" xmlns:xnat="http://nrg.wustl.edu/xnat"'
          b' label="P1_MR_FS"><xnat:date>2024-01-01</xnat:date><fs:measures><fs:volumetric>'
          b'<fs:ICV>1500000</fs:ICV></fs:volumetric></fs:measures></fs:fsData>')


def _put(http, path, **params):
    r = http.put(path, params=params or None)
    assert r.status_code in (200, 201), (path, r.status_code, r.text[:200])
    return r


def _upload(http, resource, name, data: bytes, **params):
    r = http.put(f"{resource}/files/{name}", params={"inbody": "true", **params}, data=data)
    assert r.status_code in (200, 201), (resource, name, r.status_code, r.text[:200])


def _rows(http, path):
    r = http.get(path, params={"format": "json"})
    r.raise_for_status()
    return r.json()["ResultSet"]["Result"]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Source: SRC (the one-subject sample), SHARE (its own subject plus a subject and a
    session shared in from OTHER), PLUGIN (a session with an fs:fsData assessor: the source
    has the FreeSurfer plugin installed), EMPTY. Target: empty, no plugins. Both know admin
    and bob (no roles)."""
    src = InProcessEmulator(tmp_path_factory.mktemp("src"), users=USERS,
                            data_types=("fs:fsData=xnat:imageAssessorData",))
    dst = InProcessEmulator(tmp_path_factory.mktemp("dst"), users=USERS, site_id="TARGET")
    build_sample_project(src.url, ("admin", SECRET), "SRC", SampleSpec(subjects=1))
    http = src.http()
    for path in ("/data/projects/SHARE", "/data/projects/SHARE/subjects/OWN1",
                 "/data/projects/OTHER", "/data/projects/OTHER/subjects/SHS",
                 "/data/projects/OTHER/subjects/OTH2"):
        _put(http, path)
    for subject, label in (("SHARE/subjects/OWN1", "OWN1_MR"), ("OTHER/subjects/SHS", "SHS_MR"),
                           ("OTHER/subjects/OTH2", "OTH2_MR")):
        e = f"/data/projects/{subject}/experiments/{label}"
        _put(http, e, xsiType="xnat:mrSessionData")
        _put(http, f"{e}/scans/1", xsiType="xnat:mrScanData", type="T1")
        _put(http, f"{e}/scans/1/resources/DICOM")
        _upload(http, f"{e}/scans/1/resources/DICOM", "1.dcm", f"{label}\n".encode())
    _put(http, "/data/projects/OTHER/subjects/SHS/projects/SHARE", label="SHS")
    _put(http, "/data/projects/OTHER/subjects/SHS/experiments/SHS_MR/projects/SHARE",
         label="SHS_MR")
    for path in ("/data/projects/PLUGIN", "/data/projects/PLUGIN/subjects/P1"):
        _put(http, path)
    _put(http, "/data/projects/PLUGIN/subjects/P1/experiments/P1_MR", xsiType="xnat:mrSessionData")
    r = http.put("/data/projects/PLUGIN/subjects/P1/experiments/P1_MR/assessors/P1_MR_FS",
                 params={"inbody": "true"}, data=FS_XML, headers={"Content-Type": "text/xml"})
    assert r.status_code in (200, 201), r.text
    _put(http, "/data/projects/EMPTY")
    yield src, dst, documents(src, "SRC")
    src.stop()
    dst.stop()


def _copy(src, dst, tmp_path, target, *args, source="SRC", **kwargs):
    return run_copy(src, dst, tmp_path, "--source-project", source, "--target-project",
                    target, *args, **kwargs)


def _one_clear_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert SECRET not in proc.stderr and BOB not in proc.stderr
    return errors[0]


# -- what is copied -----------------------------------------------------------------------------

def test_shared_objects_skipped_unless_include_shared(sites, tmp_path):
    """A subject and a session shared into the source project from another project are left
    out and listed in report["skipped"]["shared"]; with --include-shared they are copied (as
    objects of the target project, with their scans and files). A session shared without its
    subject would need the subject: here both are shared, as XNAT's UI does."""
    src, dst, _ = sites
    proc, report = _copy(src, dst, tmp_path, "SHARED_NO", "--create-target-project",
                         source="SHARE")
    assert proc.returncode == 0, proc.stderr
    skipped = {(s["kind"], s["label"], s["owner_project"]) for s in report["skipped"]["shared"]}
    assert ("subject", "SHS", "OTHER") in skipped
    assert ("experiment", "SHS_MR", "OTHER") in skipped
    assert [r["label"] for r in _rows(dst.http(), "/data/projects/SHARED_NO/subjects")] == ["OWN1"]
    assert [r["label"] for r in _rows(dst.http(), "/data/projects/SHARED_NO/experiments")] == \
        ["OWN1_MR"]

    proc, report = _copy(src, dst, tmp_path, "SHARED_YES", "--create-target-project",
                         "--include-shared", source="SHARE")
    assert proc.returncode == 0, proc.stderr
    assert report["skipped"]["shared"] == []
    http = dst.http()
    assert sorted(r["label"] for r in _rows(http, "/data/projects/SHARED_YES/subjects")) == \
        ["OWN1", "SHS"]
    assert sorted(r["label"] for r in _rows(http, "/data/projects/SHARED_YES/experiments")) == \
        ["OWN1_MR", "SHS_MR"]
    _, files = documents(dst, "SHARED_YES")
    assert files[("SHS/SHS_MR/scan/1", "DICOM", "1.dcm")][0] == len(b"SHS_MR\n")


def test_missing_data_types_stop_before_anything_is_written(sites, tmp_path):
    """A plugin type the source uses (fs:fsData) and the target lacks stops the run before
    it writes anything, with a list of the missing types; exit 2, no traceback."""
    src, dst, _ = sites
    _put(dst.http(), "/data/projects/PLUGIN_T")
    proc, _ = _copy(src, dst, tmp_path, "PLUGIN_T", source="PLUGIN")
    line = _one_clear_error(proc, "fs:fsData", "lacks data types")
    assert proc.returncode == 2, line
    assert _rows(dst.http(), "/data/projects/PLUGIN_T/subjects") == []
    proc, _ = _copy(src, dst, tmp_path, "PLUGIN_NEW", "--create-target-project", source="PLUGIN")
    _one_clear_error(proc, "fs:fsData")
    assert dst.http().get("/data/projects/PLUGIN_NEW", params={"format": "json"}).status_code \
        == 404


def test_differing_files_reported_then_replaced_with_overwrite(sites, tmp_path):
    """A target file with the source's path but other bytes is reported in
    skipped.differing_files (exit 3) and left alone; --overwrite replaces it (exit 0)."""
    src, dst, expected = sites
    proc, _ = _copy(src, dst, tmp_path, "DIFF", "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    res = "/data/projects/DIFF/subjects/SUB001/experiments/SUB001_MR1/resources/NOTES"
    _upload(dst.http(), res, "notes/session.txt", b"edited on the target\n", overwrite="true")
    proc, report = _copy(src, dst, tmp_path, "DIFF")
    assert proc.returncode == 3, proc.stderr
    assert report["status"] == "differences"
    [diff] = report["skipped"]["differing_files"]
    assert (diff["where"], diff["resource"], diff["path"]) == (
        "subject/SUB001/experiment/SUB001_MR1", "NOTES", "notes/session.txt")
    key = ("SUB001/SUB001_MR1", "NOTES", "notes/session.txt")
    assert documents(dst, "DIFF")[1][key][0] == len(b"edited on the target\n")
    proc, report = _copy(src, dst, tmp_path, "DIFF", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert report["done"]["files_uploaded"] == 1
    assert_same_project(src, "SRC", dst, "DIFF", expected)


def test_differing_metadata_reported_then_rewritten_with_update_metadata(sites, tmp_path):
    """Metadata edited on the target is reported in skipped.metadata_differs (exit 3) and
    kept; --update-metadata rewrites it from the source (exit 0, equal again)."""
    src, dst, expected = sites
    proc, _ = _copy(src, dst, tmp_path, "META", "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    http = dst.http()
    _put(http, "/data/projects/META/subjects/SUB001", gender="male", handedness="left")
    _put(http, "/data/projects/META/subjects/SUB001/experiments/SUB001_MR1/scans/1",
         xsiType="xnat:mrScanData", quality="unusable")
    proc, report = _copy(src, dst, tmp_path, "META")
    assert proc.returncode == 3, proc.stderr
    assert sorted(report["skipped"]["metadata_differs"]) == [
        "subject/SUB001", "subject/SUB001/experiment/SUB001_MR1/scan/1"]
    assert documents(dst, "META")[0]["SUB001"] != expected[0]["SUB001"]
    proc, report = _copy(src, dst, tmp_path, "META", "--update-metadata")
    assert proc.returncode == 0, proc.stderr
    assert report["done"]["metadata_updated"] == 2
    assert_same_project(src, "SRC", dst, "META", expected)


def test_nothing_on_the_target_is_deleted(sites, tmp_path):
    """Subjects, sessions, resources and files the target has and the source lacks survive
    a copy into the same project."""
    src, dst, expected = sites
    http = dst.http()
    _put(http, "/data/projects/KEEP")
    _put(http, "/data/projects/KEEP/subjects/EXTRA")
    _put(http, "/data/projects/KEEP/subjects/SUB001")
    e = "/data/projects/KEEP/subjects/SUB001/experiments/SUB001_MR1"
    _put(http, e, xsiType="xnat:mrSessionData", date="2024-02-11", scanner="Scanner A",
         operator="RA", **{"xnat:mrSessionData/fields/field[name=visit]/field": "baseline"})
    _put(http, f"{e}/resources/EXTRA_RES")
    _upload(http, f"{e}/resources/EXTRA_RES", "mine.txt", b"target only\n")
    _put(http, f"{e}/resources/NOTES", format="TXT")
    _upload(http, f"{e}/resources/NOTES", "extra.txt", b"target only\n")
    proc, _ = _copy(src, dst, tmp_path, "KEEP", "--update-metadata")
    assert proc.returncode == 0, proc.stderr
    docs, files = documents(dst, "KEEP")
    assert "EXTRA" in docs
    assert files[("SUB001/SUB001_MR1", "EXTRA_RES", "mine.txt")][0] == 12
    assert files[("SUB001/SUB001_MR1", "NOTES", "extra.txt")][0] == 12
    src_files = expected[1]
    assert {k: v for k, v in files.items() if k in src_files} == src_files


def test_target_without_checksums_still_verifies(sites, make_emulator, tmp_path):
    """A target site that keeps no MD5s lists no digests: the copier reads each file back
    and hashes it, and the run ends verified (exit 0)."""
    src, _, expected = sites
    dst = make_emulator(users=USERS, checksums=False, site_id="NOSUM")
    proc, report = _copy(src, dst, tmp_path, "NOSUM", "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    assert report["verification"]["failed"] == 0
    assert report["verification"]["verified_files"] == len(expected[1])
    assert report["verification"]["hashed_on_target"] == len(expected[1])
    _, files = documents(dst, "NOSUM")
    assert {k: v[0] for k, v in files.items()} == {k: v[0] for k, v in expected[1].items()}


def test_labels_outside_xnat_charset(sites, tmp_path):
    """XNAT allows only [A-Za-z0-9_-] in IDs and labels: the emulator refuses others (417),
    so no source holds them; asking the copier for such names gives one clear line."""
    src, dst, _ = sites
    http = src.http()
    for label in ("Bjørn", "with space", "a.b"):
        assert http.put(f"/data/projects/SRC/subjects/{label}").status_code == 417
    proc, _ = _copy(src, dst, tmp_path, "Bad Project", "--create-target-project")
    _one_clear_error(proc, "Bad Project")
    proc, _ = _copy(src, dst, tmp_path, "LABELS", "--create-target-project",
                    "--session", "SUB001 MR1")
    _one_clear_error(proc, "SUB001 MR1")
    proc, _ = _copy(src, dst, tmp_path, "LABELS", "--create-target-project", "--subject", "Bjørn")
    _one_clear_error(proc, "Bjørn")


def test_empty_project(sites, tmp_path):
    """An empty source project copies to an empty target project: exit 0, status ok."""
    src, dst, _ = sites
    proc, report = _copy(src, dst, tmp_path, "EMPTY_T", "--create-target-project",
                         source="EMPTY")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert _rows(dst.http(), "/data/projects/EMPTY_T/subjects") == []


def test_one_worker_and_eight_workers_give_the_same_target(sites, tmp_path):
    """--workers 1 and --workers 8 give the same target, equal to the source."""
    src, dst, expected = sites
    for workers in ("1", "8"):
        proc, _ = _copy(src, dst, tmp_path, f"W{workers}", "--create-target-project",
                        "--workers", workers)
        assert proc.returncode == 0, proc.stderr
        assert_same_project(src, "SRC", dst, f"W{workers}", expected)


# -- errors ---------------------------------------------------------------------------------------

def test_connection_errors(sites, tmp_path):
    """Unreachable host, wrong URL path, URL without scheme, TLS against a plain-HTTP port:
    one line naming the problem, exit 2, no traceback."""
    src, dst, _ = sites
    port = dst.url.rsplit(":", 1)[1]
    cases = [
        ("http://127.0.0.1:9", "cannot connect"),
        (dst.url + "/not-xnat", "no XNAT REST API"),
        (f"127.0.0.1:{port}", "must start with https:// or http://"),
        (f"https://127.0.0.1:{port}", "TLS"),
    ]
    for url, needle in cases:
        proc, report = run_copy(src.url, url, tmp_path, "--source-project", "SRC",
                                "--target-project", "X")
        line = _one_clear_error(proc, needle)
        assert proc.returncode == 2, line
        assert report is None


@pytest.mark.parametrize("side", ["source", "target"])
def test_bad_credentials(sites, tmp_path, side):
    """A wrong password on either side: one line naming that site, exit 2, no password."""
    src, dst, _ = sites
    var = "XNAT_PASS" if side == "source" else "REMOTE_XNAT_PASS"
    proc, _ = _copy(src, dst, tmp_path, "X", env_extra={var: "wrong-password-42"})
    url = (src if side == "source" else dst).url
    _one_clear_error(proc, "rejected the credentials", url)
    assert proc.returncode == 2
    assert "wrong-password-42" not in proc.stderr


def test_projects_missing_or_not_readable(sites, tmp_path):
    """Source project missing, or not readable by the user (XNAT answers 404 for both);
    target project missing: one line each, exit 2."""
    src, dst, _ = sites
    bob = {"XNAT_USER": "bob", "XNAT_PASS": BOB}
    for args, env, needle in (
            (("NOPE", "X"), None, "project NOPE does not exist"),
            (("SRC", "X"), bob, "project SRC does not exist"),
            (("SRC", "MISSING"), None, "target project MISSING does not exist")):
        proc, _ = _copy(src, dst, tmp_path, args[1], source=args[0], env_extra=env)
        _one_clear_error(proc, needle)
        assert proc.returncode == 2


def test_target_project_not_writable(sites, tmp_path):
    """A collaborator (read-only) on the target project: the first write is refused, the run
    stops with one line, exit 1, and the report lists the failure."""
    src, dst, _ = sites
    http = dst.http()
    _put(http, "/data/projects/RO")
    _put(http, "/data/projects/RO/users/Collaborators/bob")
    proc, report = _copy(src, dst, tmp_path, "RO",
                         env_extra={"REMOTE_XNAT_USER": "bob", "REMOTE_XNAT_PASS": BOB})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no permission to write" in proc.stderr
    assert report is not None and report["status"] == "failed"
    assert any("no permission to write" in f["reason"] for f in report["failures"])
    assert _rows(http, "/data/projects/RO/subjects") == []


def test_target_failing_for_one_resource(sites, tmp_path):
    """A target answering 500 to every write of one resource (here each DICOM resource),
    everything else working: the rest is copied and verified, the run exits 1 and the
    report lists each file of those resources with the reason."""
    src, dst, expected = sites
    proxy = FaultyProxy(dst.url, "PUT", r"/resources/DICOM")
    try:
        proc, report = run_copy(src.url, proxy.url, tmp_path, "--source-project", "SRC",
                                "--target-project", "FIVE", "--create-target-project",
                                "--workers", "8")
    finally:
        proxy.stop()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert report["status"] == "failed"
    dicom = {k for k in expected[1] if k[1] == "DICOM"}
    failed = {f["where"] for f in report["failures"]}
    assert all("/resources/DICOM" in w for w in failed), failed
    resources = [f for f in report["failures"] if f["what"] == "resource"]
    assert len(resources) == len(dicom) and all("500" in f["reason"] for f in resources)
    unverified = {f["where"].split("/resources/")[0] for f in report["failures"]
                  if f["what"] == "verify" and f["reason"] == "missing on the target"}
    assert unverified == {f["where"].split("/resources/")[0] for f in resources}
    _, files = documents(dst, "FIVE")
    assert {k: v for k, v in expected[1].items() if k not in dicom} == files


def test_session_refused_by_the_target(sites, tmp_path):
    """The target refuses one session's document (422, not retried): nothing below it is
    attempted (its resources are reported "parent object not written", no request sent for
    them), its sibling sessions and everything else are copied and verified; exit 1."""
    src, dst, expected = sites
    proxy = FaultyProxy(dst.url, "PUT", r"/experiments/SUB001_MR1\?", status=422)
    try:
        proc, report = run_copy(src.url, proxy.url, tmp_path, "--source-project", "SRC",
                                "--target-project", "REFUSED", "--create-target-project")
    finally:
        proxy.stop()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proxy.failed == 1
    objects = {f["where"]: f["reason"] for f in report["failures"] if f["what"] == "object"}
    session = "subject/SUB001/experiment/SUB001_MR1"
    assert "422" in objects.pop(session)
    assert objects and all(w.startswith(session + "/") and r == "parent object not written"
                           for w, r in objects.items())
    refused = {k for k in expected[1] if k[0].startswith("SUB001/SUB001_MR1")}
    resources = [f for f in report["failures"] if f["what"] == "resource"]
    assert resources and all(f["reason"] == "parent object not written"
                             and "/experiments/SUB001_MR1/" in f["where"] for f in resources)
    assert len(resources) == len({(k[0], k[1]) for k in refused})
    assert not [f for f in report["failures"] if f["what"] == "file"]
    _, files = documents(dst, "REFUSED")
    assert files == {k: v for k, v in expected[1].items() if k not in refused}


def test_network_interrupted(sites, make_emulator, tmp_path):
    """The target goes away in the middle of the run: each request fails after its retries
    (or at once, once the circuit breaker opened), the run ends (no endless retries) with
    exit 1, no traceback, and a report listing what failed, verification included."""
    src = sites[0]
    dst = make_emulator(users=USERS, site_id="GONE")
    http = dst.http()
    http.put("/xapi/emulator/faults", json={"latency_min": 0.02, "latency_max": 0.05})
    _put(http, "/data/projects/GONE")
    proc = subprocess.Popen(copy_command(src.url, dst.url, tmp_path, "--source-project", "SRC",
                                         "--target-project", "GONE", "--workers", "16"),
                            env=copy_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _rows(http, "/data/projects/GONE/subjects"):
        time.sleep(0.05)
    dst.stop()
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    report = tmp_path / "report.json"
    assert report.exists(), err
    data = json.loads(report.read_text())
    assert data["status"] == "failed" and data["failures"]
    # Requests in flight when the target went away see their connection reset or time out;
    # later ones cannot connect, or find the breaker open; children of an object that could
    # not be written are reported as such. Every failure must be one of these.
    network_loss = ("cannot connect", "consecutive failures", "broke", "reset", "timed out",
                    "stopped sending", "parent object not written")
    assert all(any(k in f["reason"] for k in network_loss) for f in data["failures"]), \
        data["failures"]
