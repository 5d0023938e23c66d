"""Secrets (issue 6): every job runs with recognisable passwords and alias tokens, and none of
them appears in stdout, stderr, reports (JSON and Markdown), the journal (SQLite bytes), the
Container Service stand-in's logs and records, or any process's command line (sampled all
along with psutil), nor in the environment of the dcm2niix child.

What the platform itself stores is left to it, as XNAT does: the Container Service keeps the
alias token it issued for a job (``XNAT_PASS`` in the container record's
``environment-variables``) and invalidates it when the job ends; that one field is the only
place the token may be.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import psutil
import pytest
import requests

from nifti_data import NIBABEL
from xnat_emulator.config import User
from xnat_emulator.testing import InProcessEmulator

SOURCE_PASS = "PASSWORD-canary-7f3a"
TARGET_PASS = "REMOTE-canary-91c2"
WRONG_PASS = "WRONG-canary-5d1e"
SECRETS: list[str] = [SOURCE_PASS, TARGET_PASS, WRONG_PASS]   # + alias token secrets issued
ROOT = Path(__file__).resolve().parents[2]


class CommandLines:
    """Every command line of this test process's descendants (the jobs, their children, the
    Container Service's jobs) seen while the tests run, sampled every few ms; and the
    environment of every dcm2niix process caught."""

    def __init__(self):
        self.seen: set[str] = set()
        self.converter_env: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                family = me.children(recursive=True)
            except psutil.Error:
                family = []
            for p in family:
                try:
                    line = " ".join(p.cmdline())
                except (psutil.Error, OSError):
                    continue
                if line in self.seen:
                    continue
                self.seen.add(line)
                if "dcm2niix" in line:
                    try:
                        self.converter_env.append(p.environ())
                    except (psutil.Error, OSError):
                        pass
            time.sleep(0.003)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def cmdlines():
    sampler = CommandLines()
    yield sampler
    sampler.stop()


def assert_clean(what: str, data: str | bytes, extra: tuple[str, ...] = ()) -> None:
    blob = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    for secret in [*SECRETS, *extra]:
        assert secret.encode() not in blob, f"{secret!r} found in {what}"


def assert_folder_clean(folder: Path) -> int:
    """Every file under ``folder`` (reports, journal.sqlite and its -wal/-journal)."""
    count = 0
    for path in folder.rglob("*"):
        if path.is_file():
            assert_clean(str(path), path.read_bytes())
            count += 1
    return count


def run(args, env_extra, timeout=180):
    env = dict(os.environ)
    for key in ("XNAT_HOST", "XNAT_USER", "XNAT_PASS", "REMOTE_XNAT_USER", "REMOTE_XNAT_PASS"):
        env.pop(key, None)
    env.update(env_extra)
    proc = subprocess.run([sys.executable, "-m", "xnat_container", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert_clean(f"output of {args[0]}", proc.stdout + proc.stderr)
    return proc


def issue_token(site) -> dict:
    token = site.http().get("/data/services/tokens/issue").json()
    SECRETS.append(token["secret"])
    return token


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    src = InProcessEmulator(tmp_path_factory.mktemp("src"),
                            users=(User("admin", SOURCE_PASS, admin=True),))
    dst = InProcessEmulator(tmp_path_factory.mktemp("dst"),
                            users=(User("admin", TARGET_PASS, admin=True),))
    http = src.http()
    e = "/data/projects/SRC/subjects/S1/experiments/S1_MR"
    for path in ("/data/projects/SRC", "/data/projects/SRC/subjects/S1"):
        assert http.put(path).status_code in (200, 201)
    assert http.put(e, params={"xsiType": "xnat:mrSessionData"}).status_code in (200, 201)
    assert http.put(f"{e}/scans/1", params={"xsiType": "xnat:mrScanData"}).status_code in (200, 201)
    for i in range(3):
        r = http.put(f"{e}/scans/1/resources/NIFTI/files/f{i}.nii", params={"inbody": "true"},
                     data=(NIBABEL / "anatomical.nii").read_bytes())
        assert r.status_code == 200
    assert dst.http().put("/data/projects/IMP").status_code == 200
    yield src, dst
    src.stop()
    dst.stop()


def test_copy(sites, cmdlines, tmp_path):
    """copy with the source login an alias token and the target's a password: a full copy,
    a no-op re-run, a dry run, then a wrong target password and an invalidated token."""
    src, dst = sites
    token = issue_token(src)
    env = {"XNAT_USER": token["alias"], "XNAT_PASS": token["secret"],
           "REMOTE_XNAT_USER": "admin", "REMOTE_XNAT_PASS": TARGET_PASS}
    base = ["copy", "--source-url", src.url, "--target-url", dst.url, "--source-project",
            "SRC", "--target-project", "DST", "--report-dir", str(tmp_path / "r")]
    proc = run([*base, "--create-target-project", "--workers", "2"], env)
    assert proc.returncode == 0, proc.stderr
    assert run(base, env).returncode == 0
    assert run([*base, "--dry-run"], env).returncode == 0
    assert (tmp_path / "r" / "journal.sqlite").exists()
    assert assert_folder_clean(tmp_path / "r") >= 3
    proc = run(base, {**env, "REMOTE_XNAT_PASS": WRONG_PASS})
    assert proc.returncode == 2 and "rejected the credentials" in proc.stderr
    src.http().get(f"/data/services/tokens/invalidate/{token['alias']}/{token['secret']}")
    proc = run(base, env)
    assert proc.returncode == 2 and "alias token" in proc.stderr
    assert_folder_clean(tmp_path / "r")
    assert any("xnat_container copy" in c for c in cmdlines.seen)
    for line in cmdlines.seen:
        assert_clean("a command line", line)


def test_import_nifti_and_dicom_conversion(sites, cmdlines, tmp_path):
    """import-nifti of a flat folder, and --from-dicom (dcm2niix as a child process: its
    command line and its environment hold no credentials), then a wrong password."""
    from pydicom.data import get_testdata_file

    _, dst = sites
    token = issue_token(dst)
    env = {"XNAT_USER": token["alias"], "XNAT_PASS": token["secret"]}
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(NIBABEL / "anatomical.nii", flat / "t1.nii")
    report = tmp_path / "r"
    proc = run(["import-nifti", str(flat), "--project", "IMP", "--url", dst.url, "--subject",
                "S1", "--report-dir", str(report)], env)
    assert proc.returncode == 0, proc.stderr
    dicom = tmp_path / "dicom"
    dicom.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), dicom / "MR_small.dcm")
    proc = run(["import-nifti", str(dicom), "--from-dicom", "--project", "IMP", "--url",
                dst.url, "--subject", "S2", "--report-dir", str(report)],
               {"XNAT_USER": "admin", "XNAT_PASS": TARGET_PASS})
    assert proc.returncode == 0, proc.stderr
    proc = run(["import-nifti", str(flat), "--project", "IMP", "--url", dst.url, "--subject",
                "S3", "--report-dir", str(report)], {"XNAT_USER": "admin",
                                                     "XNAT_PASS": WRONG_PASS})
    assert proc.returncode == 2
    assert_folder_clean(report)
    assert any("import-nifti" in c for c in cmdlines.seen)
    for line in cmdlines.seen:
        assert_clean("a command line", line)
    for env_seen in cmdlines.converter_env:
        assert not {k for k in env_seen if k.startswith(("XNAT_", "REMOTE_XNAT_"))}
        assert_clean("the environment of dcm2niix", json.dumps(env_seen))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("password,status", [(SOURCE_PASS, 200), (WRONG_PASS, 503)])
def test_serve_readyz(sites, cmdlines, password, status):
    """serve: /readyz logs in with XNAT_USER/XNAT_PASS; neither the answer (ready or not,
    with its reason) nor the server's output (access log included) shows the password."""
    src, _ = sites
    port = _free_port()
    env = dict(os.environ, XNAT_HOST=src.url, XNAT_USER="admin", XNAT_PASS=password)
    proc = subprocess.Popen([sys.executable, "-m", "xnat_container", "serve", "--bind",
                             f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        assert r.status_code == status, r.text
        assert_clean("/readyz", r.text)
        assert_clean("/version", requests.get(f"http://127.0.0.1:{port}/version").text)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert_clean("serve's output", out + err)
    for line in cmdlines.seen:
        assert_clean("a command line", line)


def test_check_command(cmdlines):
    """check-command (no login at all) run with credentials in its environment."""
    proc = run(["check-command", str(ROOT / "command.json"), "--dockerfile",
                str(ROOT / "Dockerfile")], {"XNAT_USER": "admin", "XNAT_PASS": SOURCE_PASS,
                                            "REMOTE_XNAT_PASS": TARGET_PASS})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_container_service_launches(tmp_path_factory, cmdlines):
    """The copy-project and import-nifti-upload wrappers launched through the Container
    Service stand-in: the remote password is a CS secret (JVM system property), the source
    login the alias token the CS issues. Neither shows in the jobs' logs, the container
    records (but the token's own XNAT_PASS field), the uploaded reports, the emulator's state
    or any command line; the token no longer works after the job."""
    from test_container_launch import (Site, container, explain, launch, put_session,
                                       register_commands, wait_workflow)

    target = InProcessEmulator(tmp_path_factory.mktemp("cs-target"),
                               users=(User("admin", TARGET_PASS, admin=True),))
    source = Site(tmp_path_factory.mktemp("cs-source"),
                  secrets=(("remote.xnat.user", "admin"), ("remote.xnat.password", TARGET_PASS)))
    try:
        admin = source.http()
        ids = register_commands(admin, admin)
        put_session(admin, "SRC", "SUBJ1", "SESS1", files=("a.dcm", "b.dcm"))
        assert target.http().put("/data/projects/DEST").status_code == 200

        workflows = [launch(admin, "SRC", ids["xnat-copy-project"], "project",
                            {"project": "/archive/projects/SRC", "remote_url": target.url,
                             "remote_project": "DEST", "workers": "2"})]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.write(NIBABEL / "anatomical.nii", "T1w.nii")
        stamp = str(int(time.time() * 1000))
        assert admin.put(f"/data/user/cache/resources/{stamp}/files/nifti.zip",
                         data=buf.getvalue()).status_code == 200
        workflows.append(launch(admin, "SRC", ids["xnat-import-nifti-upload-project"],
                                "project", {"project": "/archive/projects/SRC",
                                            "archive": f"/user/cache/resources/{stamp}/files/"
                                                       "nifti.zip",
                                            "subject": "NSUBJ", "layout": "flat",
                                            "snapshots": "false"}))
        for wf_id in workflows:
            wf = wait_workflow(admin, wf_id)
            assert wf["status"] == "Complete", explain(admin, wf)
            c = container(admin, wf_id)
            token = c["environment-variables"]["XNAT_PASS"]
            alias = c["environment-variables"]["XNAT_USER"]
            SECRETS.append(token)
            extra = ()
            record = dict(c, **{"environment-variables": {
                k: v for k, v in c["environment-variables"].items() if k != "XNAT_PASS"}})
            assert_clean("the container record", json.dumps(record), extra)
            for name in ("stdout", "stderr"):
                log = admin.get(f"/xapi/containers/{c['id']}/logs/{name}")
                assert log.status_code == 200
                assert_clean(f"the job's {name}", log.content, extra)
            assert requests.post(f"{source.url}/data/JSESSION", auth=(alias, token),
                                 timeout=30).status_code == 401
        for label in ("COPY_REPORT", "NIFTI_IMPORT_REPORT"):
            rows = admin.get(f"/data/projects/SRC/resources/{label}/files",
                             params={"format": "json"}).json()["ResultSet"]["Result"]
            assert rows
            for row in rows:
                assert_clean(f"{label}/{row['Name']}", admin.get(row["URI"]).content)
        for path in (source.data_dir / "containers").rglob("*.log"):
            assert_clean(str(path), path.read_bytes())
        state = json.loads((source.data_dir / "containers" / "state.json").read_text())
        for rec in state["containers"].values():
            rec = dict(rec, **{"environment-variables": {
                k: v for k, v in rec["environment-variables"].items() if k != "XNAT_PASS"}})
            assert_clean("the stored container record", json.dumps(rec))
        assert any("import-nifti" in c and "/upload/" in c for c in cmdlines.seen)
        for line in cmdlines.seen:
            assert_clean("a command line", line)
    finally:
        source.stop()
        target.stop()
