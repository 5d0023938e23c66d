"""End to end on a real XNAT: docker/docker-compose.yml (XNAT + Container Service plugin,
PostgreSQL, nginx, and a second XNAT to copy into), our image built with `docker build`, its
commands registered from the image's org.nrg.commands label, jobs run by the Container Service
on the host's Docker engine. The same scenarios as tests/integration/test_container_launch.py
runs on the emulator. Skipped (see conftest.py) where `docker compose version` does not answer.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests

from xnat_container import __version__

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = json.loads((ROOT / "command.json").read_text())
IMAGE = f"xnat-container:{__version__}"
ACTION = "org.nrg.containers.services.CommandActionProvider:"
FINAL = ("Complete", "Failed", "Killed")

pytestmark = pytest.mark.docker


class Xnat(requests.Session):
    def __init__(self, url: str, user: str = "admin", password: str = "admin"):
        super().__init__()
        self.url = url.rstrip("/")
        self.auth = (user, password)

    def request(self, method, path, *args, **kwargs):
        kwargs.setdefault("timeout", 300)
        return super().request(method, self.url + path, *args, **kwargs)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/data/projects?format=json", auth=("admin", "admin"),
                            timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _host_gateway() -> str:
    """The address at which job containers (on Docker's default bridge) reach the host's
    published ports: XNAT_HOST of the jobs and the remote XNAT's URL."""
    proc = subprocess.run(["docker", "network", "inspect", "bridge", "-f",
                           "{{(index .IPAM.Config 0).Gateway}}"],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() or "host.docker.internal"


@pytest.fixture(scope="session")
def image():
    """Our image, built from the repository's Dockerfile."""
    proc = subprocess.run(["docker", "build", "-t", IMAGE, str(ROOT)], capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return IMAGE


@pytest.fixture(scope="session")
def sites(docker_services, docker_ip, xnat_data_dir, image):
    """(local, remote) XNAT sessions; the local site configured for the Container Service."""
    local_port = docker_services.port_for("xnat-nginx", 80)
    remote_port = docker_services.port_for("xnat-nginx", 81)
    local = Xnat(f"http://{docker_ip}:{local_port}")
    remote = Xnat(f"http://{docker_ip}:{remote_port}")
    for site in (local, remote):
        docker_services.wait_until_responsive(lambda s=site: _answers(s.url), timeout=900,
                                              pause=5)
    gateway = _host_gateway()
    r = local.post("/xapi/siteConfig", json={"processingUrl": f"http://{gateway}:{local_port}"})
    assert r.ok, r.text
    # CS >= 3.7 on XNAT >= 1.9.2: a site admin also needs the Container Manager role
    local.put("/xapi/users/admin/roles/ContainerManager")
    r = local.post("/xapi/docker/server", json={
        "name": "Local socket", "host": "unix:///var/run/docker.sock", "cert-path": "",
        "swarm-mode": False, "path-translation-xnat-prefix": "/data/xnat",
        "path-translation-docker-prefix": str(xnat_data_dir / "local"),
        "pull-images-on-xnat-init": False, "container-user": "", "auto-cleanup": True,
        "swarm-constraints": [], "ping": True})
    assert r.ok, r.text
    assert local.post("/xapi/events/prefs", json={"enabled": True}).ok
    remote.remote_url = f"http://{gateway}:{remote_port}"
    return local, remote


@pytest.fixture(scope="session")
def wrappers(sites):
    """Commands read from the image label (POST /xapi/docker/images/save), every wrapper
    enabled on the site and in project SRC; {wrapper name: (command id, wrapper id)}."""
    local, _ = sites
    r = local.post(f"/xapi/docker/images/save?image={IMAGE}")
    assert r.ok, r.text
    saved = r.json()
    assert sorted(c["name"] for c in saved) == sorted(c["name"] for c in COMMANDS), \
        "a command of the label was not saved (CommandServiceImpl drops invalid ones silently)"
    assert local.put("/data/projects/SRC").status_code in (200, 201)
    ids = {}
    for command in saved:
        for w in command["xnat"]:
            assert local.put(f"/xapi/commands/{command['id']}/wrappers/{w['name']}/enabled").ok
            assert local.put(f"/xapi/projects/SRC/commands/{command['id']}/wrappers/"
                             f"{w['name']}/enabled").ok
            ids[w["name"]] = (command["id"], w["id"])
    return ids


def put_session(http, project, subject, label):
    """A subject and an MR session with scan 1 holding one real DICOM file (pydicom's)."""
    from pydicom.data import get_testdata_file

    base = f"/data/projects/{project}/subjects/{subject}"
    assert http.put(base).status_code in (200, 201)
    r = http.put(f"{base}/experiments/{label}?xsiType=xnat:mrSessionData")
    assert r.status_code in (200, 201), r.text
    session_id = r.text.strip()
    scan = f"{base}/experiments/{label}/scans/1"
    assert http.put(f"{scan}?xsiType=xnat:mrScanData&type=T1").status_code in (200, 201)
    assert http.put(f"{scan}/resources/DICOM?format=DICOM").status_code in (200, 201)
    data = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    r = http.put(f"{scan}/resources/DICOM/files/MR_small.dcm?inbody=true", data=data)
    assert r.status_code in (200, 201), r.text
    return session_id


def launch(http, wrappers, name, root, params, project="SRC"):
    cid, _ = wrappers[name]
    r = http.post(f"/xapi/projects/{project}/commands/{cid}/wrappers/{name}/root/{root}/launch",
                  json=params)
    return r


def wait_container(http, workflow_id, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in http.get("/xapi/containers").json():
            if str(c.get("workflow-id")) == str(workflow_id) and c["status"].startswith(FINAL):
                return c
        time.sleep(5)
    raise AssertionError(f"no finished container for workflow {workflow_id}")


def logs(http, container):
    return "\n".join(http.get(f"/xapi/containers/{container['id']}/logs/{kind}").text
                     for kind in ("stdout", "stderr"))


def files(http, path):
    r = http.get(f"{path}/files?format=json")
    assert r.status_code == 200, r.text
    return sorted(f["Name"] for f in r.json()["ResultSet"]["Result"])


def test_label_commands_are_registered_and_offered(sites, wrappers):
    """The image's label registers every command of command.json, and the project and session
    wrappers are offered in the Actions menu of SRC."""
    local, _ = sites
    rows = local.get("/xapi/commands/available?project=SRC&xsiType=xnat:mrSessionData").json()
    assert {"xnat-copy-session", "xnat-dicom-to-nifti-session"} <= \
        {r["wrapper-name"] for r in rows if r["enabled"]}
    rows = local.get("/xapi/commands/available?project=SRC&xsiType=xnat:projectData").json()
    assert {"xnat-copy-project", "xnat-import-nifti-upload-project"} <= \
        {r["wrapper-name"] for r in rows if r["enabled"]}


def test_copy_project(sites, wrappers):
    """"Copy project" copies SRC into the remote project DEST (credentials from the secrets)
    and leaves report.json/report.md in a COPY_REPORT resource of SRC."""
    local, remote = sites
    put_session(local, "SRC", "SUBJ1", "SESS1")
    assert remote.put("/data/projects/DEST").status_code in (200, 201)
    r = launch(local, wrappers, "xnat-copy-project", "project",
               {"project": "/archive/projects/SRC", "remote_url": remote.remote_url,
                "remote_project": "DEST"})
    assert r.status_code == 200, r.text
    c = wait_container(local, r.json()["workflow-id"])
    assert c["status"] == "Complete", logs(local, c)
    assert files(remote, "/data/projects/DEST/subjects/SUBJ1/experiments/SESS1/scans/1/"
                 "resources/DICOM") == ["MR_small.dcm"]
    assert {"report.json", "report.md"} <= set(
        files(local, "/data/projects/SRC/resources/COPY_REPORT"))


def test_copy_session_on_session_created(sites, wrappers):
    """An Event Service subscription (Session created in SRC -> "copy session") copies a new
    session to the remote XNAT without anybody pressing a button."""
    local, remote = sites
    assert remote.put("/data/projects/DEST2").status_code in (200, 201)
    _, wid = wrappers["xnat-copy-session"]
    body = {"name": "copy-new-sessions", "active": True, "act-as-event-user": False,
            "action-key": ACTION + str(wid),
            "event-filter": {"event-type": "org.nrg.xnat.eventservice.events.SessionEvent",
                             "status": "CREATED", "project-ids": ["SRC"]},
            "attributes": {"remote_url": remote.remote_url, "remote_project": "DEST2"}}
    r = local.post("/xapi/projects/SRC/events/subscription", json=body)
    assert r.status_code in (200, 201), r.text
    before = {c["id"] for c in local.get("/xapi/containers").json()}
    session_id = put_session(local, "SRC", "SUBJ2", "NEW1")
    deadline, new = time.monotonic() + 300, []
    while not new and time.monotonic() < deadline:
        new = [c for c in local.get("/xapi/containers").json() if c["id"] not in before]
        time.sleep(5)
    assert new, "the subscription launched nothing"
    c = wait_container(local, new[0]["workflow-id"])
    assert c["status"] == "Complete", logs(local, c)
    assert remote.get("/data/projects/DEST2/subjects/SUBJ2/experiments/NEW1?format=json").ok
    assert files(local, f"/data/experiments/{session_id}/resources/COPY_REPORT")


def _nifti_zip() -> bytes:
    from nibabel.testing import data_path

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(Path(data_path) / "anatomical.nii", "T1w.nii")
        zf.writestr("T1w.json", json.dumps({"Modality": "MR", "SeriesDescription": "T1w"}))
    return buf.getvalue()


def test_import_nifti_upload(sites, wrappers):
    """"Import NIFTI (upload a zip)": the zip uploaded to the user cache as the launch UI does
    (commandUiLauncher.js) becomes a session with a NIFTI scan, and the report is left on the
    project."""
    local, _ = sites
    stamp = str(int(time.time() * 1000))
    r = local.put(f"/data/user/cache/resources/{stamp}/files/nifti.zip", data=_nifti_zip())
    assert r.status_code in (200, 201), r.text
    r = launch(local, wrappers, "xnat-import-nifti-upload-project", "project",
               {"project": "/archive/projects/SRC",
                "archive": f"/user/cache/resources/{stamp}/files/nifti.zip",
                "subject": "NIFTISUBJ", "session": "NIFTISESS", "layout": "flat"})
    assert r.status_code == 200, r.text
    c = wait_container(local, r.json()["workflow-id"])
    assert c["status"] == "Complete", logs(local, c)
    base = "/data/projects/SRC/subjects/NIFTISUBJ/experiments/NIFTISESS"
    scans = local.get(f"{base}/scans?format=json").json()["ResultSet"]["Result"]
    assert len(scans) == 1
    assert any(f.endswith((".nii", ".nii.gz"))
               for f in files(local, f"{base}/scans/{scans[0]['ID']}/resources/NIFTI"))
    assert files(local, f"{base}/scans/{scans[0]['ID']}/resources/SNAPSHOTS")
    assert files(local, "/data/projects/SRC/resources/NIFTI_IMPORT_REPORT")


def test_dicom_to_nifti_session(sites, wrappers):
    """"Convert DICOM to NIFTI" on a session reads its DICOM scans from the read-only archive
    mount and adds NIFTI and SNAPSHOTS resources to the session's scans."""
    local, _ = sites
    session_id = put_session(local, "SRC", "SUBJ3", "DCM1")
    r = launch(local, wrappers, "xnat-dicom-to-nifti-session", "session",
               {"session": f"/archive/experiments/{session_id}"})
    assert r.status_code == 200, r.text
    c = wait_container(local, r.json()["workflow-id"])
    assert c["status"] == "Complete", logs(local, c)
    scans = local.get(f"/data/experiments/{session_id}/scans?format=json").json()
    resources = {res["label"] for s in scans["ResultSet"]["Result"]
                 for res in local.get(f"/data/experiments/{session_id}/scans/{s['ID']}/"
                                      "resources?format=json").json()["ResultSet"]["Result"]}
    assert {"NIFTI", "SNAPSHOTS"} <= resources
    assert files(local, f"/data/experiments/{session_id}/resources/DICOM_TO_NIFTI_REPORT")


def test_forbidden_character_fails_the_launch(sites, wrappers):
    """A launch whose input holds ';' is refused by XNAT's command resolution; no job runs."""
    local, remote = sites
    before = len(local.get("/xapi/containers").json())
    r = launch(local, wrappers, "xnat-copy-project", "project",
               {"project": "/archive/projects/SRC", "remote_url": remote.remote_url,
                "remote_project": "DEST; rm -rf /"})
    if r.status_code == 200:        # queued: the workflow fails at resolution
        wf_id = r.json()["workflow-id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            wf = local.get(f"/xapi/workflows/{wf_id}").json()
            if wf.get("status", "").startswith("Failed"):
                break
            time.sleep(2)
        assert wf["status"].startswith("Failed")
        assert "illegal string" in json.dumps(wf)
    else:
        assert "illegal string" in r.text
    assert len(local.get("/xapi/containers").json()) == before
