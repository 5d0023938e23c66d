"""The Container Service stand-in over HTTP: register, enable, launch, run, upload, logs,
Event Service subscriptions (container-service.md §2.3, §3.2, §4, §5)."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile

import pytest
import requests

from containers_support import SecretEmulator, container_of, echo_command, wait_workflow

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SESSION_XML = ('<xnat:MRSession xmlns:xnat="http://nrg.wustl.edu/xnat" label="{label}">'
               '<xnat:scans><xnat:scan xsi:type="xnat:mrScanData" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="1" type="T1"/>'
               '</xnat:scans></xnat:MRSession>')


@pytest.fixture(scope="module")
def cs(tmp_path_factory):
    emu = SecretEmulator(tmp_path_factory.mktemp("cs"))
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def admin(cs):
    with cs.http() as s:
        yield s


@pytest.fixture(scope="module")
def owner(cs):
    with cs.http("owner", "owner") as s:
        yield s


@pytest.fixture(scope="module")
def command_id(admin):
    r = admin.post("/xapi/commands", json=echo_command())
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def wrappers(admin, command_id):
    cmd = admin.get(f"/xapi/commands/{command_id}").json()
    return {w["name"]: w["id"] for w in cmd["xnat"]}


_n = iter(range(1, 10_000))


@pytest.fixture
def project(admin, owner, wrappers, command_id):
    """A project owned by 'owner' with a session E1 (scan 1 with a DICOM file); both wrappers
    enabled on the site and in the project."""
    pid = f"CS{next(_n)}"
    assert owner.put(f"/data/projects/{pid}").status_code == 200
    r = owner.put(f"/data/projects/{pid}/subjects/S1/experiments/E1",
                  data=SESSION_XML.format(label="E1"), headers={"Content-Type": "text/xml"})
    assert r.status_code in (200, 201), r.text
    r = owner.put(f"/data/projects/{pid}/subjects/S1/experiments/E1/scans/1/resources/DICOM/"
                  "files/a.dcm?inbody=true", data=b"DICM")
    assert r.status_code in (200, 201), r.text
    for name in ("echo-session", "echo-project"):
        assert admin.put(f"/xapi/commands/{command_id}/wrappers/{name}/enabled").ok
        assert owner.put(f"/xapi/projects/{pid}/commands/{command_id}/wrappers/{name}/"
                         "enabled").ok
    return pid


def session_id(http, pid, label="E1"):
    return http.get(f"/data/projects/{pid}/experiments/{label}?format=json").json()[
        "items"][0]["data_fields"]["ID"]


def launch(http, pid, wid, root, value, **params):
    return http.post(f"/xapi/projects/{pid}/wrappers/{wid}/root/{root}/launch",
                     json={root: value, **params})


def run(http, pid, wid, root, value, **params):
    r = launch(http, pid, wid, root, value, **params)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["status"] == "success"
    wf = wait_workflow(http, report["workflow-id"])
    return report, wf


# -- registration -------------------------------------------------------------------------------

def test_register_returns_201_and_id_and_lists(admin, command_id):
    cmd = admin.get(f"/xapi/commands/{command_id}").json()
    assert cmd["id"] == command_id and cmd["name"] == "env-echo"
    assert all(isinstance(w["id"], int) for w in cmd["xnat"])
    assert [c["id"] for c in admin.get("/xapi/commands?name=env-echo").json()] == [command_id]


def test_duplicate_and_invalid_commands_are_400(admin, command_id):
    r = admin.post("/xapi/commands", json=echo_command())
    assert r.status_code == 400 and "duplicates a command" in r.text
    bad = echo_command(name="bad", outputs=[{"name": "o", "mount": "nope", "required": True}])
    r = admin.post("/xapi/commands", json=bad)
    assert r.status_code == 400
    assert 'output "o" references unknown mount "nope"' in r.text
    assert r.text.startswith("Invalid command:")


def test_array_body_is_refused_like_xnat(admin):
    r = admin.post("/xapi/commands", json=[echo_command(name="in-array")])
    assert r.status_code == 400


def test_untagged_image_gets_latest_and_image_param_overrides(admin):
    r = admin.post("/xapi/commands", json=echo_command(name="untagged", image="xnat/echo"))
    assert admin.get(f"/xapi/commands/{r.json()}").json()["image"] == "xnat/echo:latest"
    r = admin.post("/xapi/commands?image=other/img:2", json=echo_command(name="img"))
    assert admin.get(f"/xapi/commands/{r.json()}").json()["image"] == "other/img:2"
    assert admin.delete(f"/xapi/commands/{r.json()}").status_code == 204
    assert admin.get(f"/xapi/commands/{r.json()}").status_code == 404


def test_only_container_managers_register(owner):
    assert owner.post("/xapi/commands", json=echo_command(name="x")).status_code == 403


# -- enablement and availability ------------------------------------------------------------------

def test_enablement_site_and_project(admin, owner, cs, command_id, wrappers):
    wid = wrappers["echo-session"]
    assert owner.put("/data/projects/ENPROJ").status_code == 200
    url = f"/xapi/projects/ENPROJ/commands/{command_id}/wrappers/echo-session/enabled"
    assert owner.get(url).json() == {"enabled-for-site": admin.get(
        f"/xapi/wrappers/{wid}/enabled").json(), "enabled-for-project": False,
        "project": "ENPROJ"}
    assert admin.put(f"/xapi/wrappers/{wid}/disabled").ok
    assert owner.put(url).ok
    assert owner.get(url).json()["enabled-for-project"] is False  # site switch wins
    assert admin.put(f"/xapi/wrappers/{wid}/enabled").ok
    assert owner.get(url).json() == {"enabled-for-site": True, "enabled-for-project": True,
                                     "project": "ENPROJ"}
    # a member is not an owner; a site switch needs a Container Manager
    with cs.http("member", "member") as member:
        assert owner.put("/data/projects/ENPROJ/users/Members/member").status_code in (200, 201)
        assert member.put(url.replace("enabled", "disabled")).status_code == 403
    assert owner.put(f"/xapi/wrappers/{wid}/disabled").status_code == 403


def test_available_lists_wrappers_for_the_type(owner, project, wrappers, command_id):
    rows = [r for r in owner.get(f"/xapi/commands/available?project={project}"
                                 "&xsiType=xnat:mrSessionData").json()
            if r["command-id"] == command_id]
    assert [r["wrapper-name"] for r in rows] == ["echo-session"]
    row = rows[0]
    assert row["enabled"] is True and row["root-element-name"] == "session"
    assert row["wrapper-id"] == wrappers["echo-session"]
    assert {"command-id", "image-name", "wrapper-label"} <= set(row)
    rows = [r for r in owner.get(f"/xapi/commands/available?project={project}"
                                 "&xsiType=xnat:projectData").json()
            if r["command-id"] == command_id]
    assert [r["wrapper-name"] for r in rows] == ["echo-project"]


# -- launching ------------------------------------------------------------------------------------

def test_launch_runs_job_with_env_token_secret_mounts_and_uploads(cs, owner, project, wrappers):
    sid = session_id(owner, project)
    report, wf = run(owner, project, wrappers["echo-session"], "session",
                     f"/archive/experiments/{sid}", flag="true", message="hi there",
                     token="tok-123")
    assert set(report) >= {"status", "params", "workflow-id", "wrapper-id", "command-id"}
    assert wf["status"] == "Complete", wf
    c = container_of(owner, report["workflow-id"])
    assert c["status"] == "Complete" and c["exit-code"] == "0"
    assert [h["status"] for h in c["history"]][-1] == "Complete"
    job = json.loads(owner.get(f"/xapi/containers/{c['id']}/logs/stdout").text)
    env = job["env"]
    assert env["XNAT_HOST"] == cs.url
    assert UUID.match(env["XNAT_USER"]) and len(env["XNAT_PASS"]) == 64
    assert job["auth"] == [200, "User 'owner' is logged in"]  # valid during the run
    r = requests.get(cs.url + "/data/auth", auth=(env["XNAT_USER"], env["XNAT_PASS"]))
    assert r.status_code == 401  # invalidated when the job ended
    assert env["MY_SECRET"] == "s3cret-value"
    assert env["MY_PROJECT"] == project and env["MY_SENSITIVE"] == "tok-123"
    assert env["XNAT_WORKFLOW_ID"] == report["workflow-id"] and env["XNAT_EVENT_ID"]
    assert job["flag"] == "yes" and job["message"] == "hi"  # not quoted: split at the space
    assert job["inputs"] == ["SCANS/1/DICOM/a.dcm"]
    # read-only by file modes (0444/0555), which root ignores
    assert job["input_writable"] is (os.geteuid() == 0)
    assert [m["writable"] for m in c["mounts"]] == [False, True]
    # the output handler put the report folder on the session as ECHO_REPORT
    files = owner.get(f"/data/experiments/{sid}/resources/ECHO_REPORT/files?format=json")
    assert [f["Name"] for f in files.json()["ResultSet"]["Result"]] == ["job.json"]
    # the container record: command line with container paths, sensitive input masked
    assert "--out /output --input /input --flag yes --message hi there --exit 0" in \
        c["command-line"]
    token = next(i for i in c["inputs"] if i["name"] == "token")
    assert token["value"] == "*****" and token["sensitive"] is True
    assert "MY_SECRET" not in c["environment-variables"]
    assert stderr_of(owner, c["id"]) == "job stderr line\n"


def stderr_of(http, cid):
    return http.get(f"/xapi/containers/{cid}/logs/stderr").text


def test_logs_zip_and_container_lookup(owner, project, wrappers):
    report, wf = run(owner, project, wrappers["echo-project"], "project",
                     f"/archive/projects/{project}")
    c = container_of(owner, report["workflow-id"])
    r = owner.get(f"/xapi/containers/{c['id']}/logs")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(names) == ["stderr.log", "stdout.log"]
    assert owner.get(f"/xapi/containers/{c['container-id']}").json()["id"] == c["id"]
    job = json.loads(owner.get(f"/xapi/containers/{c['id']}/logs/stdout").text)
    assert "arc001/E1/SCANS/1/DICOM/a.dcm" in job["inputs"]
    assert job["env"]["MY_PROJECT"] == project
    files = owner.get(f"/data/projects/{project}/resources/ECHO_REPORT/files?format=json")
    assert files.json()["ResultSet"]["Result"][0]["Name"] == "job.json"
    assert owner.get(f"/xapi/projects/{project}/containers").json()


def test_nonzero_exit_is_failed_and_nothing_uploaded(owner, project, wrappers):
    report, wf = run(owner, project, wrappers["echo-project"], "project", project, exit="3")
    assert wf["status"] == "Failed"
    c = container_of(owner, report["workflow-id"])
    assert c["status"] == "Failed" and c["exit-code"] == "3"
    r = owner.get(f"/data/projects/{project}/resources/ECHO_REPORT/files?format=json")
    assert r.status_code == 404


def test_illegal_character_fails_the_workflow_not_the_request(owner, project, wrappers):
    before = len(owner.get("/xapi/containers").json())
    report, wf = run(owner, project, wrappers["echo-project"], "project", project,
                     message="a; rm -rf /")
    assert wf["status"] == "Failed (Command resolution)"
    assert wf["details"] == 'Input "message" has a value containing illegal string ";".'
    assert len(owner.get("/xapi/containers").json()) == before  # no container was made


def test_unknown_root_object_and_wrapper(owner, project, wrappers):
    report, wf = run(owner, project, wrappers["echo-session"], "session",
                     "/archive/experiments/NOPE")
    assert wf["status"] == "Failed (Command resolution)"
    r = launch(owner, project, 999999, "session", "x")
    assert r.status_code == 500 and r.json()["status"] == "failure"


def test_disabled_for_project_fails(admin, owner, project, command_id, wrappers):
    owner.put(f"/xapi/projects/{project}/wrappers/{wrappers['echo-project']}/disabled")
    report, wf = run(owner, project, wrappers["echo-project"], "project", project)
    assert wf["status"] == "Failed (Command resolution)" and "not enabled" in wf["details"]


def test_other_launch_paths_and_form_params(owner, project, command_id, wrappers):
    sid = session_id(owner, project)
    r = owner.post(f"/xapi/projects/{project}/commands/{command_id}/wrappers/echo-session/"
                   f"root/session/launch", data={"session": sid, "message": "form"})
    assert r.status_code == 200, r.text
    wf = wait_workflow(owner, r.json()["workflow-id"])
    assert wf["status"] == "Complete"
    c = container_of(owner, r.json()["workflow-id"])
    assert "--message form" in c["command-line"]
    r = owner.post(f"/xapi/projects/{project}/wrapper/{wrappers['echo-project']}/root/"
                   f"project/launch?project={project}")
    assert wait_workflow(owner, r.json()["workflow-id"])["status"] == "Complete"


def test_bulk_launch(owner, project, wrappers):
    sid = session_id(owner, project)
    r = owner.post(f"/xapi/projects/{project}/wrappers/{wrappers['echo-session']}/root/"
                   "session/bulklaunch", json={"session": json.dumps([sid, sid])})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["successes"]) == 2 and body["failures"] == []
    assert body["pipeline-name"] == "echo-session"
    for s in body["successes"]:
        assert wait_workflow(owner, s["workflow-id"])["status"] == "Complete"


def test_missing_secret_fails_resolution(tmp_path, command_id):
    emu = SecretEmulator(tmp_path, secrets=())
    try:
        with emu.http() as http:
            cid = http.post("/xapi/commands", json=echo_command()).json()
            http.put(f"/xapi/commands/{cid}/wrappers/echo-project/enabled")
            http.put("/data/projects/PX")
            http.put(f"/xapi/projects/PX/commands/{cid}/wrappers/echo-project/enabled")
            report, wf = run(http, "PX", http.get(f"/xapi/commands/{cid}").json()["xnat"][1]
                             ["id"], "project", "PX")
            assert wf["status"] == "Failed (Command resolution)"
            assert "test.secret" in wf["details"]
    finally:
        emu.stop()


def test_stranger_cannot_launch_on_a_private_project(cs, project, wrappers):
    with cs.http("stranger", "stranger") as stranger:
        r = launch(stranger, project, wrappers["echo-project"], "project", project)
        assert r.status_code == 500 and "Unable to identify project" in r.json()["message"]


def test_launch_ui(owner, project, wrappers):
    sid = session_id(owner, project)
    ui = owner.get(f"/xapi/projects/{project}/wrappers/{wrappers['echo-session']}/launch"
                   f"?session={sid}").json()
    assert ui["root-element-name"] == "session"
    assert ui["inputs"]["session"]["value"] == sid
    assert "message" in ui["inputs"] and "project-id" not in ui["inputs"]


def test_file_input_from_user_cache(admin, tmp_path):
    cmd = echo_command(name="file-echo", **{
        "command-line": echo_command()["command-line"] + " --upload #UPLOAD#"})
    cmd["inputs"].append({"name": "upload", "type": "file", "replacement-key": "#UPLOAD#"})
    # the first writable mount gets the file: make "out" first
    cmd["mounts"] = list(reversed(cmd["mounts"]))
    cid = admin.post("/xapi/commands", json=cmd).json()
    wrapper = admin.get(f"/xapi/commands/{cid}").json()["xnat"][1]
    admin.put(f"/xapi/wrappers/{wrapper['id']}/enabled")
    admin.put("/data/projects/FILEP")
    admin.put(f"/xapi/projects/FILEP/wrappers/{wrapper['id']}/enabled")
    assert admin.put("/data/user/cache/resources/123/files/data.txt", data=b"payload").ok
    report, wf = run(admin, "FILEP", wrapper["id"], "project", "FILEP",
                     upload="/user/cache/resources/123/files/data.txt")
    assert wf["status"] == "Complete", wf
    c = container_of(admin, report["workflow-id"])
    assert "--upload /output/123/data.txt" in c["command-line"]
    job = json.loads(admin.get(f"/xapi/containers/{c['id']}/logs/stdout").text)
    assert job["upload_bytes"] == "payload"


# -- Event Service -------------------------------------------------------------------------------

def test_subscription_launches_on_session_created(owner, project, wrappers):
    body = {"name": f"echo-{project}", "active": True, "act-as-event-user": False,
            "action-key": "org.nrg.containers.services.CommandActionProvider:"
                          f"{wrappers['echo-session']}",
            "event-filter": {"event-type": "org.nrg.xnat.eventservice.events.SessionEvent",
                             "status": "CREATED", "project-ids": [project]},
            "attributes": {"message": "from-event"}}
    r = owner.post(f"/xapi/projects/{project}/events/subscription", json=body)
    assert r.status_code == 201, r.text
    name, _, sub_id = r.text.partition(":")
    assert name == body["name"] and sub_id.isdigit()
    before = {c["id"] for c in owner.get("/xapi/containers").json()}
    r = owner.put(f"/data/projects/{project}/subjects/S2/experiments/E2",
                  data=SESSION_XML.format(label="E2"), headers={"Content-Type": "text/xml"})
    assert r.status_code == 201
    sid = r.text.strip()
    new = wait_new_container(owner, before)
    assert new["parent-source-object-name"] == f"/archive/experiments/{sid}"
    assert wait_workflow(owner, new["workflow-id"])["status"] == "Complete"
    job = json.loads(owner.get(f"/xapi/containers/{new['id']}/logs/stdout").text)
    assert job["message"] == "from-event" and job["env"]["MY_PROJECT"] == project
    # deactivated: no launch
    assert owner.post(f"/xapi/events/subscription/{sub_id}/deactivate").ok
    before = {c["id"] for c in owner.get("/xapi/containers").json()}
    owner.put(f"/data/projects/{project}/subjects/S2/experiments/E3",
              data=SESSION_XML.format(label="E3"), headers={"Content-Type": "text/xml"})
    owner.put(f"/data/projects/{project}/subjects/S2/experiments/E3/assessors/A1?"
              "xsiType=xnat:qcAssessmentData")
    import time
    time.sleep(0.3)
    assert {c["id"] for c in owner.get("/xapi/containers").json()} == before


def wait_new_container(http, before, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [c for c in http.get("/xapi/containers").json() if c["id"] not in before]
        if new:
            return new[0]
        time.sleep(0.05)
    raise AssertionError("no container was launched")


def test_subscription_needs_enabled_wrapper_and_owner(cs, admin, owner, wrappers):
    owner.put("/data/projects/SUBX")
    body = {"name": "x", "action-key": "org.nrg.containers.services.CommandActionProvider:"
            f"{wrappers['echo-session']}",
            "event-filter": {"event-type": "org.nrg.xnat.eventservice.events.SessionEvent",
                             "status": "CREATED", "project-ids": ["SUBX"]}}
    r = owner.post("/xapi/projects/SUBX/events/subscription", json=body)
    assert r.status_code == 400 and "not enabled" in r.text
    assert owner.post("/xapi/events/subscription", json=body).status_code == 403
    with cs.http("member", "member") as member:
        assert member.post("/xapi/projects/SUBX/events/subscription",
                           json=body).status_code == 404


def test_legacy_command_automation(owner, admin, project, command_id):
    r = owner.post("/xapi/commandeventmapping", json={
        "event-type": "SessionArchived", "command-id": command_id,
        "xnat-command-wrapper": "echo-session", "project": project})
    assert r.status_code == 201, r.text
    before = {c["id"] for c in owner.get("/xapi/containers").json()}
    r = owner.put(f"/data/projects/{project}/subjects/S9/experiments/E9",
                  data=SESSION_XML.format(label="E9"), headers={"Content-Type": "text/xml"})
    new = wait_new_container(owner, before)
    assert new["parent-source-object-name"] == f"/archive/experiments/{r.text.strip()}"
    assert wait_workflow(owner, new["workflow-id"])["status"] == "Complete"
    assert owner.post(f"/xapi/commandeventmapping/{json.loads(r.text) if False else 0}"
                      "/disable").status_code in (403, 404)
