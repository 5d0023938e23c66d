"""End to end on two emulators: the project's command.json in the Container Service stand-in.

A site admin registers command.json (``POST /xapi/commands``, one command at a time: the
endpoint takes one command object, not the label's array) and enables the wrappers; a
project owner enables them for the project; the launches run ``xnat-container`` as a local
process with the environment the Container Service gives a container (container-service.md
§3-§5). The remote credentials are the source site's secrets (JVM system properties
``remote.xnat.user``/``remote.xnat.password``, emulator ``--secret``).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from xnat_emulator.config import EmulatorConfig, User
from xnat_emulator.server import EmulatorServer
from xnat_emulator.testing import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
COMMAND_JSON = ROOT / "command.json"
ACTION = "org.nrg.containers.services.CommandActionProvider:"
SESSION_XML = ('<xnat:MRSession xmlns:xnat="http://nrg.wustl.edu/xnat" label="{label}">'
               '<xnat:scans><xnat:scan xsi:type="xnat:mrScanData" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="1" type="T1"/>'
               '</xnat:scans></xnat:MRSession>')
USERS = (User("admin", "admin", admin=True), User("owner", "owner-pw"))
FINAL = ("Complete", "Failed", "Failed (Upload)", "Killed")

pytestmark = pytest.mark.skipif(not COMMAND_JSON.exists(), reason="no command.json yet")


class Site(RunningEmulator):
    def __init__(self, data_dir: Path, secrets=()):
        config = EmulatorConfig(data_dir=data_dir, users=USERS, system_properties=secrets)
        self.server = EmulatorServer(config).start()
        super().__init__(self.server.url, data_dir, "admin", "admin")

    def stop(self):
        service = self.server.app.extensions["xnat"].containers
        service.wait_idle(60)
        service.shutdown()
        self.server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("target"))
    yield site
    site.stop()


@pytest.fixture(scope="module")
def source(tmp_path_factory, target):
    site = Site(tmp_path_factory.mktemp("source"),
                secrets=(("remote.xnat.user", "admin"), ("remote.xnat.password", "admin")))
    yield site
    site.stop()


@pytest.fixture(scope="module")
def admin(source):
    with source.http() as s:
        yield s


@pytest.fixture(scope="module")
def owner(source):
    with source.http("owner", "owner-pw") as s:
        yield s


def register_commands(admin, owner) -> dict:
    """Register every command of command.json, enable every wrapper on the site (admin) and
    in a new project SRC (``owner``); {wrapper name: id}. test_secrets sets up its own site
    the same way."""
    ids = {}
    for command in json.loads(COMMAND_JSON.read_text()):
        r = admin.post("/xapi/commands", json=command)
        assert r.status_code == 201, r.text
        cmd = admin.get(f"/xapi/commands/{r.json()}").json()
        for w in cmd["xnat"]:
            assert admin.put(f"/xapi/commands/{cmd['id']}/wrappers/{w['name']}/enabled").ok
            ids[w["name"]] = w["id"]
    assert owner.put("/data/projects/SRC").status_code == 200
    for wid in ids.values():
        assert owner.put(f"/xapi/projects/SRC/wrappers/{wid}/enabled").ok
    return ids


@pytest.fixture(scope="module")
def wrappers(admin, owner):
    """command.json registered, its wrappers enabled on the site and in SRC (its owner)."""
    return register_commands(admin, owner)


def put_session(http, project, subject, label, files=("a.dcm",)):
    r = http.put(f"/data/projects/{project}/subjects/{subject}/experiments/{label}",
                 data=SESSION_XML.format(label=label), headers={"Content-Type": "text/xml"})
    assert r.status_code in (200, 201), r.text
    for name in files:
        r = http.put(f"/data/projects/{project}/subjects/{subject}/experiments/{label}/scans/1/"
                     f"resources/DICOM/files/{name}?inbody=true", data=b"DICM" + name.encode())
        assert r.status_code in (200, 201), r.text
    return r


def launch(http, project, wid, root, params):
    r = http.post(f"/xapi/projects/{project}/wrappers/{wid}/root/{root}/launch", json=params)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    return r.json()["workflow-id"]


def wait_workflow(http, wf_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wf = http.get(f"/xapi/workflows/{wf_id}").json()
        if wf["status"] in FINAL or wf["status"].startswith("Failed"):
            return wf
        time.sleep(0.1)
    raise AssertionError(f"workflow {wf_id} did not finish")


def container(http, wf_id):
    return next(c for c in http.get("/xapi/containers").json() if c["workflow-id"] == wf_id)


def explain(http, wf):
    c = next((c for c in http.get("/xapi/containers").json()
              if c["workflow-id"] == wf["id"]), None)
    if c is None:
        return json.dumps(wf)
    return (json.dumps(wf) + "\n" + http.get(f"/xapi/containers/{c['id']}/logs/stdout").text
            + "\n" + http.get(f"/xapi/containers/{c['id']}/logs/stderr").text)


def resource_files(http, path):
    r = http.get(f"{path}/files?format=json")
    assert r.status_code == 200, r.text
    return sorted(f["Name"] for f in r.json()["ResultSet"]["Result"])


def test_command_json_registers_and_shows_in_the_actions_menu(owner, wrappers):
    rows = owner.get("/xapi/commands/available?project=SRC&xsiType=xnat:mrSessionData").json()
    names = {r["wrapper-name"] for r in rows if r["enabled"]}
    assert {"xnat-copy-session", "xnat-dicom-to-nifti-session"} <= names
    rows = owner.get("/xapi/commands/available?project=SRC&xsiType=xnat:projectData").json()
    names = {r["wrapper-name"] for r in rows if r["enabled"]}
    assert {"xnat-copy-project", "xnat-import-nifti-upload-project"} <= names
    assert all(r["root-element-name"] in ("project", "session") for r in rows)


def test_copy_project_copies_and_leaves_the_report_on_the_source(target, owner, wrappers):
    put_session(owner, "SRC", "SUBJ1", "SESS1", files=("a.dcm", "b.dcm"))
    with target.http() as remote:
        assert remote.put("/data/projects/DEST").status_code == 200
        wf_id = launch(owner, "SRC", wrappers["xnat-copy-project"], "project",
                       {"project": "/archive/projects/SRC", "remote_url": target.url,
                        "remote_project": "DEST", "workers": "2"})
        wf = wait_workflow(owner, wf_id)
        assert wf["status"] == "Complete", explain(owner, wf)
        assert resource_files(remote, "/data/projects/DEST/subjects/SUBJ1/experiments/SESS1/"
                              "scans/1/resources/DICOM") == ["a.dcm", "b.dcm"]
    c = container(owner, wf_id)
    assert "--target-project DEST --source-project SRC" in c["command-line"]
    assert "REMOTE_XNAT_PASS" not in json.dumps(c["environment-variables"])  # secrets unseen
    assert "admin" not in c["command-line"]
    # the whole output mount is uploaded (the job's journal.sqlite too, if it writes one there)
    assert {"report.json", "report.md"} <= set(
        resource_files(owner, "/data/projects/SRC/resources/COPY_REPORT"))


def test_session_created_in_a_subscribed_project_is_copied(target, owner, wrappers):
    with target.http() as remote:
        assert remote.put("/data/projects/DEST2").status_code == 200
        body = {"name": "copy-new-sessions", "active": True,
                "action-key": ACTION + str(wrappers["xnat-copy-session"]),
                "event-filter": {"event-type": "org.nrg.xnat.eventservice.events.SessionEvent",
                                 "status": "CREATED", "project-ids": ["SRC"]},
                "attributes": {"remote_url": target.url, "remote_project": "DEST2"}}
        r = owner.post("/xapi/projects/SRC/events/subscription", json=body)
        assert r.status_code == 201, r.text
        before = {c["id"] for c in owner.get("/xapi/containers").json()}
        r = owner.put("/data/projects/SRC/subjects/SUBJ2/experiments/NEW1",
                      data=SESSION_XML.format(label="NEW1"),
                      headers={"Content-Type": "text/xml"})
        assert r.status_code == 201
        session_id = r.text.strip()
        deadline = time.monotonic() + 30
        new = []
        while not new and time.monotonic() < deadline:
            new = [c for c in owner.get("/xapi/containers").json() if c["id"] not in before]
            time.sleep(0.05)
        assert new, "the subscription launched nothing"
        assert new[0]["parent-source-object-name"] == f"/archive/experiments/{session_id}"
        wf = wait_workflow(owner, new[0]["workflow-id"])
        assert wf["status"] == "Complete", explain(owner, wf)
        doc = remote.get("/data/projects/DEST2/subjects/SUBJ2/experiments/NEW1?format=json")
        assert doc.status_code == 200
        scans = remote.get("/data/projects/DEST2/subjects/SUBJ2/experiments/NEW1/scans"
                           "?format=json").json()["ResultSet"]["Result"]
        assert [s["ID"] for s in scans] == ["1"]
        assert resource_files(owner, f"/data/experiments/{session_id}/resources/COPY_REPORT")


def _nifti_zip() -> bytes:
    from nibabel.testing import data_path
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(Path(data_path) / "anatomical.nii", "T1w.nii")
        zf.writestr("T1w.json", json.dumps({"Modality": "MR", "SeriesDescription": "T1w"}))
    return buf.getvalue()


def test_import_nifti_from_an_uploaded_zip_creates_the_scans(owner, wrappers):
    stamp = str(int(time.time() * 1000))
    r = owner.put(f"/data/user/cache/resources/{stamp}/files/nifti.zip", data=_nifti_zip())
    assert r.status_code == 200
    wf_id = launch(owner, "SRC", wrappers["xnat-import-nifti-upload-project"], "project",
                   {"project": "/archive/projects/SRC",
                    "archive": f"/user/cache/resources/{stamp}/files/nifti.zip",
                    "subject": "NIFTISUBJ", "session": "NIFTISESS", "layout": "flat",
                    "snapshots": "false"})
    wf = wait_workflow(owner, wf_id)
    assert wf["status"] == "Complete", explain(owner, wf)
    c = container(owner, wf_id)
    assert f"import-nifti /upload/{stamp}/nifti.zip --project SRC" in c["command-line"]
    scans = owner.get("/data/projects/SRC/subjects/NIFTISUBJ/experiments/NIFTISESS/scans"
                      "?format=json").json()["ResultSet"]["Result"]
    assert len(scans) == 1
    scan = scans[0]["ID"]
    assert "T1w.nii" in " ".join(resource_files(
        owner, f"/data/projects/SRC/subjects/NIFTISUBJ/experiments/NIFTISESS/scans/{scan}"
        "/resources/NIFTI"))
    assert resource_files(owner, "/data/projects/SRC/resources/NIFTI_IMPORT_REPORT")


def test_forbidden_character_fails_the_launch_like_xnat(target, owner, wrappers):
    """XNAT accepts the launch (200, queued) and then fails the workflow at command
    resolution with CommandResolutionServiceImpl's message; no container is created."""
    before = len(owner.get("/xapi/containers").json())
    wf_id = launch(owner, "SRC", wrappers["xnat-copy-project"], "project",
                   {"project": "SRC", "remote_url": target.url,
                    "remote_project": "DEST; rm -rf /"})
    wf = wait_workflow(owner, wf_id)
    assert wf["status"] == "Failed (Command resolution)"
    assert wf["details"] == 'Input "remote_project" has a value containing illegal string ";".'
    assert len(owner.get("/xapi/containers").json()) == before


def test_sensitive_login_inputs_reach_the_job_as_environment_only(target, owner, wrappers):
    with target.http() as remote:
        assert remote.put("/data/projects/DEST3").status_code == 200
    wf_id = launch(owner, "SRC", wrappers["xnat-copy-login-project"], "project",
                   {"project": "SRC", "remote_url": target.url, "remote_project": "DEST3",
                    "remote_user": "admin", "remote_password": "admin", "dry_run": "true"})
    wf = wait_workflow(owner, wf_id)
    assert wf["status"] == "Complete", explain(owner, wf)
    c = container(owner, wf_id)
    assert "--dry-run" in c["command-line"] and "admin" not in c["command-line"]
    values = {i["name"]: i["value"] for i in c["inputs"] if i["type"] == "command"}
    assert values["remote_password"] == "*****"
