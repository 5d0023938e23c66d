"""Bad input for ``copy`` and ``import-nifti`` (issue 6, "Bad input"): every mistake a user can
make gives one clear line on stderr, a non-zero exit, no traceback, and nothing unreported (a
run that got far enough to write a report lists the problem in it).

Cases covered elsewhere with the same checks (one line, exit code, no traceback, report):
``test_copy_behaviour.py``: ``test_connection_errors`` (unreachable host, URL path that is
not XNAT, URL without scheme, https:// to plain HTTP), ``test_bad_credentials`` (wrong
password, either side), ``test_projects_missing_or_not_readable`` (source project missing or
not readable, target project missing), ``test_target_project_not_writable`` (collaborator on
the target: exit 1, report), ``test_empty_project``, ``test_missing_data_types...``.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest
from copyhelpers import SECRET, copy_command, copy_env, documents

from nifti_data import NIBABEL
from xnat_emulator.config import User
from xnat_emulator.testing import InProcessEmulator

BOB = "b0b-Pa55-bad-input"
USERS = (User("admin", SECRET, admin=True), User("bob", BOB))
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
_numbers = itertools.count(1)


# -- helpers ------------------------------------------------------------------------------------

def _put(http, path, **params):
    r = http.put(path, params=params or None)
    assert r.status_code in (200, 201), (path, r.status_code, r.text[:200])


def _zip_upload(http, resource, entries: dict[str, bytes]):
    """Files through a zip extracted by XNAT: the one way XNAT stores 0-byte files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    r = http.put(f"{resource}/files/upload.zip", params={"extract": "true"},
                 data=buf.getvalue(), headers={"Content-Type": "application/zip"})
    assert r.status_code == 200, r.text


def errors_of(proc) -> list[str]:
    """The error lines: the CLI's own (``xnat-container: error:``) and ERROR log lines."""
    return [line for line in proc.stderr.splitlines()
            if "xnat-container: error:" in line or " ERROR " in line]


def one_error(proc, *needles, code: int = 2) -> str:
    """Exit ``code``, no traceback, exactly one error line, holding every needle, and no
    password of the tests anywhere in the output."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = errors_of(proc)
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    for secret in (SECRET, BOB):
        assert secret not in proc.stderr + proc.stdout
    return lines[0]


def rejected(proc, report, path: str, needle: str) -> dict:
    """A file refused (not the whole run): exit 1, a WARNING line naming it, listed with its
    reason in report.json and report.md."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert report is not None
    reasons = {r["path"]: r["reason"] for r in report["rejected"]}
    assert path in reasons and needle in reasons[path], reasons
    assert any(path in line and needle in line for line in proc.stderr.splitlines()), \
        proc.stderr[-3000:]
    return reasons


def copy_run(src_url, dst_url, report_dir, *args, env_extra=None, timeout=120, **popen):
    report = Path(report_dir) / "report.json"
    if report.exists():
        report.unlink()
    proc = subprocess.run(copy_command(src_url, dst_url, report_dir, *args),
                          env=copy_env(env_extra), capture_output=True, text=True,
                          timeout=timeout, check=False, **popen)
    return proc, json.loads(report.read_text()) if report.exists() else None


def import_env(env_extra=None) -> dict:
    env = dict(os.environ, XNAT_USER="admin", XNAT_PASS=SECRET)
    env.pop("XNAT_HOST", None)
    env.update(env_extra or {})
    return env


def import_run(url, source, project, report_dir, *args, env_extra=None, prefix=(), **popen):
    report = Path(report_dir) / "report.json"
    if report.exists():
        report.unlink()
    cmd = [*prefix, sys.executable, "-m", "xnat_container", "import-nifti", str(source), "--project",
           project, "--url", url, "--report-dir", str(report_dir), "--no-snapshots", *args]
    proc = subprocess.run(cmd, env=import_env(env_extra), capture_output=True, text=True,
                          timeout=120, check=False, **popen)
    return proc, json.loads(report.read_text()) if report.exists() else None


def _rows(http, path):
    r = http.get(path, params={"format": "json"})
    r.raise_for_status()
    return r.json()["ResultSet"]["Result"]


class TlsProxy:
    """HTTPS in front of a plain-HTTP emulator: TLS terminated here with a self-signed
    certificate, bytes pumped both ways. A plain-HTTP client gets what an OpenSSL server
    gives it: the connection closed during the handshake."""

    def __init__(self, upstream: str, cert: Path, key: Path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.upstream = int(upstream.rsplit(":", 1)[1])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        up = socket.create_connection(("127.0.0.1", self.upstream))

        def pump(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(up, tls), daemon=True).start()
        pump(tls, up)

    def stop(self):
        self.sock.close()


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Source: SRC (one MR session, a few files, 0-byte files at the resource root, in a
    folder, and inside a resource moved as one zip), BIG (a resource of 10 x 150 kB files,
    moved through a local temporary zip), EMPTY. Target: DST (bob is a collaborator: read
    only), OPEN (bob is a member), HIDDEN (bob has no role). Both sites know admin and bob."""
    src = InProcessEmulator(tmp_path_factory.mktemp("src"), users=USERS)
    dst = InProcessEmulator(tmp_path_factory.mktemp("dst"), users=USERS, site_id="TARGET")
    http = src.http()
    e = "/data/projects/SRC/subjects/S1/experiments/S1_MR"
    for path in ("/data/projects/SRC", "/data/projects/SRC/subjects/S1",
                 "/data/projects/EMPTY", "/data/projects/BIG", "/data/projects/BIG/subjects/B1"):
        _put(http, path)
    _put(http, e, xsiType="xnat:mrSessionData")
    _put(http, f"{e}/scans/1", xsiType="xnat:mrScanData", type="T1")
    r = http.put(f"{e}/scans/1/resources/NIFTI/files/t1.nii", params={"inbody": "true"},
                 data=(NIBABEL / "anatomical.nii").read_bytes())
    assert r.status_code == 200
    _zip_upload(http, f"{e}/resources/NOTES", {"empty.txt": b"", "sub/empty.log": b"",
                                               "notes.txt": b"some notes\n"})
    _zip_upload(http, f"{e}/resources/MANY",
                {f"f{i:02d}.txt": b"" if i % 3 == 0 else b"x" * i for i in range(10)})
    b = "/data/projects/BIG/subjects/B1/experiments/B1_MR"
    _put(http, b, xsiType="xnat:mrSessionData")
    _zip_upload(http, f"{b}/resources/MANY", {f"f{i}.bin": os.urandom(150_000)
                                              for i in range(10)})
    dhttp = dst.http()
    for project, role in (("DST", "Collaborators"), ("OPEN", "Members"), ("HIDDEN", None)):
        _put(dhttp, f"/data/projects/{project}")
        if role:
            _put(dhttp, f"/data/projects/{project}/users/{role}/bob")
    yield src, dst
    src.stop()
    dst.stop()


@pytest.fixture(scope="module")
def tls(sites, tmp_path_factory):
    """An HTTPS proxy (self-signed certificate for 127.0.0.1) in front of the target."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    proxy = TlsProxy(sites[1].url, folder / "cert.pem", folder / "key.pem")
    yield proxy
    proxy.stop()


@pytest.fixture
def flat(tmp_path) -> Path:
    """A flat folder with one good image and its sidecar."""
    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(NIBABEL / "anatomical.nii", folder / "good.nii")
    (folder / "good.json").write_text(json.dumps({"SeriesDescription": "t1"}))
    return folder


def _bids(root: Path) -> Path:
    """sub-01/ses-1/anat T1w with sidecar, func bold with sidecar."""
    for d in ("anat", "func"):
        (root / "sub-01" / "ses-1" / d).mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.8.0"}')
    anat = root / "sub-01" / "ses-1" / "anat"
    shutil.copy(NIBABEL / "anatomical.nii", anat / "sub-01_ses-1_T1w.nii")
    (anat / "sub-01_ses-1_T1w.json").write_text('{"RepetitionTime": 2.3}')
    func = root / "sub-01" / "ses-1" / "func"
    shutil.copy(NIBABEL / "functional.nii", func / "sub-01_ses-1_task-rest_bold.nii")
    (func / "sub-01_ses-1_task-rest_bold.json").write_text('{"RepetitionTime": 2.0}')
    return root


def _new_project(sites, name):
    _put(sites[1].http(), f"/data/projects/{name}")
    return name


# -- URLs, TLS, credentials ---------------------------------------------------------------------

@pytest.mark.parametrize("job", ["copy", "import-nifti"])
@pytest.mark.parametrize("case", ["no-scheme", "not-xnat-path", "password-in-url",
                                  "https-to-http", "unreachable"])
def test_url_mistakes(sites, flat, tmp_path, job, case):
    """URL without scheme; URL with a path that is not XNAT's; URL with user:password@;
    https:// to the plain-HTTP emulator; nothing listening: one line, exit 2, no report."""
    src, dst = sites
    port = dst.url.rsplit(":", 1)[1]
    url, needle = {
        "no-scheme": (f"127.0.0.1:{port}", "must start with https:// or http://"),
        "not-xnat-path": (dst.url + "/not-xnat", "no XNAT REST API"),
        "password-in-url": (f"http://admin:{SECRET}@127.0.0.1:{port}",
                            "must not contain a user name or password"),
        "https-to-http": (f"https://127.0.0.1:{port}", "does that port speak plain http://"),
        "unreachable": ("http://127.0.0.1:9", "cannot connect"),
    }[case]
    if job == "copy":
        proc, report = copy_run(src.url, url, tmp_path, "--source-project", "SRC",
                                "--target-project", "DST")
    else:
        proc, report = import_run(url, flat, "OPEN", tmp_path, "--subject", "U")
    one_error(proc, needle)
    assert report is None


def test_browser_url_with_a_path_is_accepted(sites, tmp_path):
    """URL with a path pasted from the browser (``.../app/template/Index.vm``): the XNAT part
    is dropped and the run works (not an error)."""
    src, dst = sites
    proc, report = copy_run(src.url + "/data/projects/SRC", dst.url + "/app/template/Index.vm",
                            tmp_path, "--source-project", "SRC", "--target-project", "DST",
                            "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "planned" and report["target"]["url"] == dst.url


@pytest.mark.parametrize("job", ["copy", "import-nifti"])
def test_http_to_an_https_server(sites, tls, flat, tmp_path, job):
    """http:// to a port that speaks only HTTPS: at once (no retries), one line naming the
    https:// URL to use, exit 2."""
    src, _ = sites
    url = f"http://127.0.0.1:{tls.port}"
    if job == "copy":
        proc, _ = copy_run(src.url, url, tmp_path, "--source-project", "SRC",
                           "--target-project", "DST")
    else:
        proc, _ = import_run(url, flat, "OPEN", tmp_path, "--subject", "U")
    one_error(proc, "answers only HTTPS", f"https://127.0.0.1:{tls.port}")
    assert "retrying" not in proc.stderr


def test_self_signed_certificate_fails_unless_insecure(sites, tls, flat, tmp_path):
    """A self-signed certificate fails the run (one line, exit 2) for both jobs; with
    --insecure the same run works: the copy arrives and verifies, the import too."""
    src, dst = sites
    url = f"https://127.0.0.1:{tls.port}"
    proc, _ = copy_run(src.url, url, tmp_path / "c1", "--source-project", "SRC",
                       "--target-project", "TLSCOPY", "--create-target-project")
    one_error(proc, "TLS/SSL failure", "self-signed certificate")
    proc, _ = import_run(url, flat, "OPEN", tmp_path / "i1", "--subject", "TLS")
    one_error(proc, "TLS/SSL failure", "self-signed certificate")

    proc, report = copy_run(src.url, url, tmp_path / "c2", "--source-project", "SRC",
                            "--target-project", "TLSCOPY", "--create-target-project",
                            "--insecure")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    assert "TLS certificate verification is off" in proc.stderr
    proc, report = import_run(url, flat, "OPEN", tmp_path / "i2", "--subject", "TLS",
                              "--insecure")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert [r["label"] for r in _rows(dst.http(), "/data/projects/OPEN/subjects")
            if r["label"] == "TLS"] == ["TLS"]


@pytest.mark.parametrize("job", ["copy", "import-nifti"])
def test_wrong_password(sites, flat, tmp_path, job):
    """Wrong password (copy: see also test_copy_behaviour.test_bad_credentials for both
    sides): one line naming site and user, exit 2, the password shown nowhere."""
    src, dst = sites
    env = {"XNAT_PASS": "wrong-password-42"}
    if job == "copy":
        proc, _ = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                           "--target-project", "DST", env_extra=env)
    else:
        proc, _ = import_run(dst.url, flat, "OPEN", tmp_path, "--subject", "U", env_extra=env)
    one_error(proc, "rejected the credentials", "'admin'")
    assert "wrong-password-42" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("job", ["copy", "import-nifti"])
def test_expired_alias_token(sites, flat, tmp_path, job):
    """An alias token (what the Container Service gives a job) that was invalidated: one
    line saying the token may have expired, exit 2, the token's secret shown nowhere."""
    src, dst = sites
    site = src if job == "copy" else dst
    http = site.http()
    token = http.get("/data/services/tokens/issue").json()
    r = http.get(f"/data/services/tokens/invalidate/{token['alias']}/{token['secret']}")
    assert r.status_code == 200
    env = {"XNAT_USER": token["alias"], "XNAT_PASS": token["secret"]}
    if job == "copy":
        proc, _ = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                           "--target-project", "DST", env_extra=env)
    else:
        proc, _ = import_run(dst.url, flat, "OPEN", tmp_path, "--subject", "U", env_extra=env)
    one_error(proc, "rejected the credentials", "alias token", "expired")
    assert token["secret"] not in proc.stderr + proc.stdout


def test_no_credentials_at_all(sites, flat, tmp_path):
    """No XNAT_USER/XNAT_PASS, no ~/.netrc, no terminal: one line naming the variables and
    the netrc file to use, exit 2."""
    _, dst = sites
    env = {"XNAT_USER": "", "XNAT_PASS": "", "HOME": str(tmp_path), "NETRC": ""}
    proc, _ = import_run(dst.url, flat, "OPEN", tmp_path / "r", "--subject", "U",
                         env_extra=env)
    one_error(proc, "no credentials for 127.0.0.1", "XNAT_USER", ".netrc")


def test_import_without_url(sites, flat, tmp_path):
    """import-nifti with neither --url nor XNAT_HOST: one line, exit 2."""
    cmd = [sys.executable, "-m", "xnat_container", "import-nifti", str(flat), "--project",
           "OPEN", "--subject", "U", "--report-dir", str(tmp_path)]
    proc = subprocess.run(cmd, env=import_env(), capture_output=True, text=True, timeout=60)
    one_error(proc, "no XNAT URL")


# -- projects and permissions -------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "not-readable"])
def test_import_project_missing_or_not_readable(sites, flat, tmp_path, case):
    """import-nifti into a project that does not exist, or that bob has no role in (XNAT
    answers 404 for both): one line, exit 2, nothing written. (copy: test_copy_behaviour.
    test_projects_missing_or_not_readable.)"""
    _, dst = sites
    project = "NOPE" if case == "missing" else "HIDDEN"
    proc, _ = import_run(dst.url, flat, project, tmp_path, "--subject", "U",
                         env_extra={"XNAT_USER": "bob", "XNAT_PASS": BOB})
    one_error(proc, f"project {project} does not exist", "cannot write to it")


def test_import_project_not_writable(sites, flat, tmp_path):
    """import-nifti as a collaborator (read-only): the first write is refused, the run stops
    with one line, exit 1, and the report lists the failure. (copy: test_copy_behaviour.
    test_target_project_not_writable.)"""
    _, dst = sites
    proc, report = import_run(dst.url, flat, "DST", tmp_path, "--subject", "RO",
                              env_extra={"XNAT_USER": "bob", "XNAT_PASS": BOB})
    one_error(proc, "no permission to write", "403", code=1)
    assert report["status"] == "failed"
    assert any("no permission to write" in f["reason"] for f in report["failures"])
    assert "no permission to write" in (tmp_path / "report.md").read_text()
    assert _rows(dst.http(), "/data/projects/DST/subjects") == []


def test_copy_target_writable_by_a_member(sites, tmp_path):
    """The control for the not-writable case: bob as a member of the target project can
    copy into it (exit 0, verified)."""
    src, dst = sites
    proc, report = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                            "--target-project", "OPEN",
                            env_extra={"REMOTE_XNAT_USER": "bob", "REMOTE_XNAT_PASS": BOB})
    assert proc.returncode == 0, proc.stderr
    assert report["verification"]["failed"] == 0


# -- labels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [
    ("--target-project", "with space"), ("--target-project", "Bjørn"),
    ("--target-project", "a/b"), ("--source-project", "../SRC"), ("--session", "S1 MR"),
    ("--session", "S1/MR"), ("--subject", "Zoë")])
def test_copy_labels_outside_xnat_charset(sites, tmp_path, option, value):
    """Project IDs and labels with spaces, unicode or slashes: refused before connecting,
    one line naming the option and the value, exit 2."""
    src, dst = sites
    args = {"--target-project": "DST", "--source-project": "SRC", option: value}
    proc, report = copy_run(src.url, dst.url, tmp_path, *[x for kv in args.items() for x in kv])
    one_error(proc, option, repr(value), "letters, digits")
    assert report is None


@pytest.mark.parametrize("option,value", [("--subject", "with space"), ("--session", "x/y"),
                                          ("--subject", "Bjørn"), ("--project", "O PEN")])
def test_import_labels_outside_xnat_charset(sites, flat, tmp_path, option, value):
    """import-nifti --subject/--session/--project with spaces, slashes or unicode: one
    line, exit 2."""
    _, dst = sites
    args = {"--subject": "U", "--project": "OPEN"}
    args[option] = value
    cmd_project = args.pop("--project")
    extra = [x for kv in args.items() for x in kv]
    proc, _ = import_run(dst.url, flat, cmd_project, tmp_path, *extra)
    one_error(proc, option, "letters, digits")


# -- empty things and 0-byte files --------------------------------------------------------------

def test_import_of_an_empty_folder(sites, tmp_path):
    """An empty source folder (or one with no NIFTI at all): one line, exit 2. (An empty
    source *project* copies fine: test_copy_behaviour.test_empty_project.)"""
    _, dst = sites
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, _ = import_run(dst.url, empty, "OPEN", tmp_path / "r", "--subject", "U")
    one_error(proc, "no NIFTI images")
    (empty / "notes.txt").write_text("no images here")
    proc, _ = import_run(dst.url, empty, "OPEN", tmp_path / "r", "--subject", "U")
    one_error(proc, "no NIFTI images", "1 other file")


def test_copy_of_zero_byte_files(sites, tmp_path):
    """0-byte files (XNAT refuses a 0-byte raw upload): the copier sends each inside a zip
    that XNAT extracts; they arrive with their paths, size 0 and MD5 of nothing, and the run
    verifies (exit 0); a re-run finds them present."""
    src, dst = sites
    proc, report = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                            "--target-project", "ZERO", "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok" and report["verification"]["failed"] == 0
    _, files = documents(dst, "ZERO")
    empty = {k for k, v in files.items() if v == (0, EMPTY_MD5)}
    assert {("S1/S1_MR", "NOTES", "empty.txt"), ("S1/S1_MR", "NOTES", "sub/empty.log"),
            ("S1/S1_MR", "MANY", "f00.txt"), ("S1/S1_MR", "MANY", "f09.txt")} <= empty
    assert documents(src, "SRC")[1] == files
    proc, again = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                           "--target-project", "ZERO")
    assert proc.returncode == 0 and again["plan"]["files_to_transfer"] == 0


def test_import_of_zero_byte_files(sites, tmp_path):
    """0-byte companion and dataset files (an empty events.tsv, an empty README) are
    imported and verify; a 0-byte .nii is rejected ("empty (0-byte) file"), exit 1."""
    _, dst = sites
    root = _bids(tmp_path / "bids")
    (root / "README").write_bytes(b"")
    func = root / "sub-01" / "ses-1" / "func"
    (func / "sub-01_ses-1_task-rest_events.tsv").write_bytes(b"")
    (root / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_T2w.nii").write_bytes(b"")
    project = _new_project(sites, "ZEROIMP")
    proc, report = import_run(dst.url, root, project, tmp_path / "r")
    rejected(proc, report, "sub-01/ses-1/anat/sub-01_ses-1_T2w.nii", "empty (0-byte) file")
    assert report["verification"]["failed"] == 0 and not report["failures"]
    http = dst.http()
    base = f"/data/projects/{project}/subjects/01/experiments/01_1"
    events = {r["Name"]: (r["Size"], r["digest"]) for r in _rows(
        http, f"{base}/scans/task-rest_bold/resources/BIDS/files")}
    assert events["sub-01_ses-1_task-rest_events.tsv"] == ("0", EMPTY_MD5)
    session = {r["Name"]: r["Size"] for r in _rows(http, f"{base}/resources/BIDS/files")}
    assert session["README"] == "0"


# -- files that are not what they say -----------------------------------------------------------

def test_file_named_like_a_directory(sites, tmp_path):
    """A file named like a subject folder (``sub-02`` as a plain file next to ``sub-01/``)
    is rejected, not imported into every session; a folder named like a file (``x.nii/``)
    is walked as a folder. Exit 1, both in the report."""
    _, dst = sites
    root = _bids(tmp_path / "bids")
    shutil.copy(NIBABEL / "anatomical.nii", root / "sub-02")
    odd = root / "sub-01" / "ses-1" / "anat" / "extra.nii"
    odd.mkdir()
    (odd / "readme.txt").write_text("a folder named like an image")
    project = _new_project(sites, "DIRLIKE")
    proc, report = import_run(dst.url, root, project, tmp_path / "r")
    rejected(proc, report, "sub-02", "named like a subject folder")
    assert report["done"]["created"]["scan"] == 2
    session = {r["Name"] for r in _rows(
        dst.http(), f"/data/projects/{project}/subjects/01/experiments/01_1/resources/BIDS/files")}
    assert "sub-02" not in session


@pytest.mark.parametrize("name,source,needle", [
    ("scan.img", "anatomical.nii", "without the .nii or .nii.gz extension"),
    ("scan", "example4d.nii.gz", "without the .nii or .nii.gz extension"),
    ("scan.nii", "example4d.nii.gz", "gzip-compressed but named .nii"),
    ("scan.nii.gz", "anatomical.nii", "named .nii.gz but not gzip-compressed"),
    ("scan.nii", None, "not a readable NIFTI file")])
def test_nifti_with_a_wrong_extension(sites, flat, tmp_path, name, source, needle):
    """A NIFTI called .img or nothing, a gzip called .nii, a plain file called .nii.gz, text
    called .nii: rejected with the fix in the reason, exit 1; the good image is imported."""
    _, dst = sites
    if source is None:
        (flat / name).write_text("not an image at all\n" * 30)
    else:
        shutil.copy(NIBABEL / source, flat / name)
    subject = f"EXT{next(_numbers)}"
    proc, report = import_run(dst.url, flat, "OPEN", tmp_path / "r", "--subject", subject)
    rejected(proc, report, name, needle)
    assert report["done"]["created"]["scan"] == 1


def test_truncated_nii_gz(sites, flat, tmp_path):
    """A .nii.gz cut short (see also test_import_nifti.test_corrupt_and_truncated_files...):
    rejected as a truncated gzip stream, exit 1; with --strict nothing is imported."""
    _, dst = sites
    data = (NIBABEL / "example4d.nii.gz").read_bytes()
    (flat / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    proc, report = import_run(dst.url, flat, "OPEN", tmp_path / "r", "--subject", "TRUNC")
    rejected(proc, report, "cut.nii.gz", "truncated")
    proc, report = import_run(dst.url, flat, "OPEN", tmp_path / "s", "--subject", "TRUNC2",
                              "--strict")
    rejected(proc, report, "cut.nii.gz", "truncated")
    assert report["status"] == "rejected"
    assert "TRUNC2" not in {r["label"] for r in _rows(dst.http(), "/data/projects/OPEN/subjects")}


def _zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("entry,mode,needle", [
    ("../../escape.nii", None, "unsafe entry"), ("/tmp/abs-escape.nii", None, "unsafe entry"),
    ("ds/../../escape.nii", None, "unsafe entry"), ("C:/escape.nii", None, "unsafe entry"),
    ("link.nii", 0o120777, "symbolic link")])
def test_zip_slip(sites, tmp_path, entry, mode, needle):
    """A zip with a ``../`` entry, an absolute path, a drive letter or a symbolic link:
    refused as a whole before anything is extracted, one line, exit 2, nothing written."""
    _, dst = sites
    good = (NIBABEL / "anatomical.nii").read_bytes()
    archive = _zip(tmp_path / "evil.zip", [("good.nii", good, None),
                                           (entry, b"/etc/passwd" if mode else good, mode)])
    proc, _ = import_run(dst.url, archive, "OPEN", tmp_path / "r", "--subject", "SLIP")
    one_error(proc, needle, "nothing imported")
    assert not (tmp_path.parent / "escape.nii").exists()
    assert not Path("/tmp/abs-escape.nii").exists()


def test_tar_slip_and_broken_archives(sites, tmp_path):
    """A tar.gz with a ``../`` entry, a tar.gz cut short, a .zip that is no zip: one line
    each, exit 2."""
    _, dst = sites
    tar = tmp_path / "evil.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        data = (NIBABEL / "anatomical.nii").read_bytes()
        info = tarfile.TarInfo("../escape.nii")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    proc, _ = import_run(dst.url, tar, "OPEN", tmp_path / "r", "--subject", "SLIP")
    one_error(proc, "unsafe entry")
    cut = tmp_path / "cut.tar.gz"
    with tarfile.open(cut, "w:gz") as tf:
        tf.add(NIBABEL / "anatomical.nii", "anatomical.nii")
    cut.write_bytes(cut.read_bytes()[:3000])
    proc, _ = import_run(dst.url, cut, "OPEN", tmp_path / "r", "--subject", "SLIP")
    one_error(proc, "not a readable tar archive")
    fake = tmp_path / "fake.zip"
    fake.write_text("this is not a zip")
    proc, _ = import_run(dst.url, fake, "OPEN", tmp_path / "r", "--subject", "SLIP")
    one_error(proc, "not a readable zip")


def test_symlink_pointing_outside_the_source(sites, flat, tmp_path):
    """A symbolic link in the source folder to a file outside it: rejected (never read or
    uploaded), exit 1, listed in the report; a link inside the folder is followed."""
    _, dst = sites
    outside = tmp_path / "outside.nii"
    shutil.copy(NIBABEL / "anatomical.nii", outside)
    (flat / "escape.nii").symlink_to(outside)
    (flat / "inside.nii").symlink_to(flat / "good.nii")
    proc, report = import_run(dst.url, flat, "OPEN", tmp_path / "r", "--subject", "LINK")
    rejected(proc, report, "escape.nii", "symbolic link pointing outside")
    scans = {r["ID"] for r in _rows(
        dst.http(), "/data/projects/OPEN/subjects/LINK/experiments/LINK/scans")}
    assert scans == {"good", "inside"}


# -- BIDS ---------------------------------------------------------------------------------------

def test_bids_missing_sidecar(sites, tmp_path):
    """A BIDS image without its JSON sidecar is not an error (BIDS makes many optional): it
    is imported with fields from the NIFTI header, and the report lists it under
    skipped.no_sidecar with a WARNING line; exit 0."""
    _, dst = sites
    root = _bids(tmp_path / "bids")
    (root / "sub-01" / "ses-1" / "func" / "sub-01_ses-1_task-rest_bold.json").unlink()
    project = _new_project(sites, "NOSIDE")
    proc, report = import_run(dst.url, root, project, tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert report["skipped"]["no_sidecar"] == ["sub-01/ses-1/func/sub-01_ses-1_task-rest_bold.nii"]
    assert "without a JSON sidecar" in proc.stderr
    assert "no_sidecar 1" in (tmp_path / "r" / "report.md").read_text()


def test_bids_sidecar_with_invalid_json(sites, tmp_path):
    """A sidecar that is not valid JSON: rejected (and not uploaded), its image imported
    without those fields; exit 1, the sidecar and the JSON error in the report."""
    _, dst = sites
    root = _bids(tmp_path / "bids")
    bad = root / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_T1w.json"
    bad.write_text('{"RepetitionTime": 2.3,')
    project = _new_project(sites, "BADJSON")
    proc, report = import_run(dst.url, root, project, tmp_path / "r")
    rejected(proc, report, "sub-01/ses-1/anat/sub-01_ses-1_T1w.json", "invalid JSON sidecar")
    base = f"/data/projects/{project}/subjects/01/experiments/01_1/scans"
    assert {r["ID"] for r in _rows(dst.http(), base)} == {"T1w", "task-rest_bold"}
    assert _rows(dst.http(), f"{base}/T1w/resources/NIFTI/files")
    r = dst.http().get(f"{base}/T1w/resources/BIDS/files", params={"format": "json"})
    assert r.status_code == 404 or r.json()["ResultSet"]["Result"] == []


@pytest.mark.parametrize("layout", ["flat", "bids"])
def test_duplicate_scan_ids(sites, tmp_path, layout):
    """Two images that give the same scan ID (``a.nii`` and ``a.nii.gz``; a BIDS T1w as
    .nii and .nii.gz): the second is rejected naming the first, exit 1, the first imported.
    (A copy cannot meet duplicate scan IDs: XNAT keeps one scan per ID in a session.)"""
    _, dst = sites
    if layout == "flat":
        root = tmp_path / "flat"
        root.mkdir()
        shutil.copy(NIBABEL / "anatomical.nii", root / "a.nii")
        shutil.copy(NIBABEL / "example4d.nii.gz", root / "a.nii.gz")
        second, extra = "a.nii.gz", ["--subject", "DUP"]
    else:
        root = _bids(tmp_path / "bids")
        shutil.copy(NIBABEL / "example4d.nii.gz",
                    root / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_T1w.nii.gz")
        second, extra = "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz", []
    project = _new_project(sites, f"DUP{layout.upper()}")
    proc, report = import_run(dst.url, root, project, tmp_path / "r", *extra)
    rejected(proc, report, second, "already taken by")


def test_bids_subject_option_with_many_subjects(sites, tmp_path):
    """--subject on a BIDS tree of two subjects; a flat folder without --subject: one line
    each, exit 2."""
    _, dst = sites
    root = _bids(tmp_path / "bids")
    shutil.copytree(root / "sub-01", root / "sub-02")
    proc, _ = import_run(dst.url, root, "OPEN", tmp_path / "r", "--subject", "ONE")
    one_error(proc, "--subject names one subject", "2")
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(NIBABEL / "anatomical.nii", flat / "a.nii")
    proc, _ = import_run(dst.url, flat, "OPEN", tmp_path / "r")
    one_error(proc, "needs --subject")


# -- the local machine --------------------------------------------------------------------------

def _tiny_tmp(tmp_path: Path):
    """(environment, preexec_fn) for a run whose temporary folder is full at 1 MiB: a 1 MiB
    tmpfs where this user may mount one (ENOSPC, "No space left on device"), else a 1 MiB
    limit on the size of any file the process writes (EFBIG, "File too large")."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tiny)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    if mounted:
        return {"TMPDIR": str(tiny)}, None, tiny, "No space left on device"

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    return {"TMPDIR": str(tiny)}, limit, None, "File too large"


def test_disk_full_in_the_temporary_folder(sites, tmp_path):
    """The local temporary folder fills up: copy (a resource of 10 x 150 kB files moves
    through a local zip) fails those files with the OS's reason, lists each in the report,
    exit 1; import-nifti of a 2 MB zip cannot extract it: one line, exit 2."""
    src, dst = sites
    env, preexec, mounted, reason = _tiny_tmp(tmp_path)
    try:
        proc, report = copy_run(src.url, dst.url, tmp_path / "c", "--source-project", "BIG",
                                "--target-project", "BIGT", "--create-target-project",
                                env_extra=env, preexec_fn=preexec)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        files = [f for f in report["failures"] if f["what"] == "file"]
        assert len(files) == 10 and all(reason in f["reason"] for f in files), files
        assert all(reason in line for line in errors_of(proc))
        assert f"{reason}" in (tmp_path / "c" / "report.md").read_text()

        archive = tmp_path / "big.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for i in range(2):
                zf.write(NIBABEL / "anatomical.nii", f"a{i}.nii")
            zf.writestr("filler.bin", os.urandom(2_000_000))
        proc, _ = import_run(dst.url, archive, "OPEN", tmp_path / "i", "--subject", "FULL",
                             env_extra=env, preexec_fn=preexec)
        one_error(proc, "cannot extract it into the temporary folder", reason)
    finally:
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], check=False)


def test_report_dir_not_writable(sites, flat, tmp_path):
    """--report-dir that cannot be created (under a file): one line before anything is
    done, exit 2, for both jobs."""
    src, dst = sites
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc, _ = copy_run(src.url, dst.url, blocker / "report", "--source-project", "SRC",
                       "--target-project", "DST")
    one_error(proc, "cannot write the report to", "Not a directory")
    proc, _ = import_run(dst.url, flat, "OPEN", blocker / "report", "--subject", "RD")
    one_error(proc, "cannot write the report to", "Not a directory")


def test_unreadable_source_folder(sites, flat, tmp_path):
    """A source folder the user cannot read, and a subfolder of it: the first is one line
    (exit 2); the second is listed as rejected (exit 1), never silently left out. Run as
    without the capabilities that let root read everything (setpriv) when the tests run as
    root."""
    _, dst = sites
    base = Path(tempfile.mkdtemp(prefix="xnat-unreadable-"))
    try:
        base.chmod(0o755)
        src = base / "src"
        shutil.copytree(flat, src)
        sub = src / "locked"
        sub.mkdir()
        shutil.copy(NIBABEL / "anatomical.nii", sub / "hidden.nii")
        reports = base / "reports"
        reports.mkdir()
        reports.chmod(0o777)
        popen = {}
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("root reads every folder, and setpriv is missing to drop that")
            caps = "-dac_override,-dac_read_search"
            popen["prefix"] = ("setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}")
        env = {"HOME": str(base), "PYTHONDONTWRITEBYTECODE": "1"}
        sub.chmod(0o000)
        proc, report = import_run(dst.url, src, "OPEN", reports / "a", "--subject", "LOCK",
                                  env_extra=env, **popen)
        rejected(proc, report, "locked", "cannot read the folder")
        src.chmod(0o000)
        proc, _ = import_run(dst.url, src, "OPEN", reports / "b", "--subject", "LOCK",
                             env_extra=env, **popen)
        one_error(proc, "is not readable")
    finally:
        for p in (base / "src", base / "src" / "locked"):
            if p.exists() or p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("job,args,needle", [
    ("import-nifti", ["--layout", "weird"], "Invalid value for '--layout'"),
    ("import-nifti", ["--workers", "0"], "Invalid value for '--workers'"),
    ("import-nifti", ["--modality", "XR"], "Invalid value for '--modality'"),
    ("copy", ["--workers", "0"], "Invalid value for '--workers'"),
    ("copy", ["--workers", "many"], "Invalid value for '--workers'"),
    ("copy", ["--bogus"], "--bogus"),
])
def test_usage_mistakes(sites, flat, tmp_path, job, args, needle):
    """Unknown --layout, --workers 0 or not a number, an unknown option: one line (not
    click's usage block), exit 2."""
    src, dst = sites
    if job == "copy":
        proc, _ = copy_run(src.url, dst.url, tmp_path, "--source-project", "SRC",
                           "--target-project", "DST", *args)
    else:
        proc, _ = import_run(dst.url, flat, "OPEN", tmp_path, "--subject", "U", *args)
    line = one_error(proc, needle)
    assert f"xnat-container {job} --help" in line
    assert "Usage:" not in proc.stderr


@pytest.mark.parametrize("what", ["missing", "a-file"])
def test_source_that_is_not_a_folder_or_archive(sites, tmp_path, what):
    """A source path that does not exist, or a single .nii instead of a folder or archive:
    one line, exit 2."""
    _, dst = sites
    if what == "missing":
        source, needle = tmp_path / "nope", "does not exist"
    else:
        source = tmp_path / "one.nii"
        shutil.copy(NIBABEL / "anatomical.nii", source)
        needle = "not a folder, a .zip or a .tar.gz"
    proc, _ = import_run(dst.url, source, "OPEN", tmp_path / "r", "--subject", "U")
    one_error(proc, needle)


def test_check_command_on_a_broken_file(tmp_path):
    """check-command on a file that is not JSON: one line, exit 2."""
    junk = tmp_path / "command.json"
    junk.write_text("{not json")
    proc = subprocess.run([sys.executable, "-m", "xnat_container", "check-command", str(junk)],
                          capture_output=True, text=True, timeout=60)
    one_error(proc, str(junk))
