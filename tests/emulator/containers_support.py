"""Shared by the Container Service tests: a test command, an emulator with secrets, waits."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

from xnat_emulator.config import EmulatorConfig, User
from xnat_emulator.server import EmulatorServer
from xnat_emulator.testing import RunningEmulator

JOB = Path(__file__).with_name("containers_job.py")
FINAL = ("Complete", "Failed", "Failed (Upload)", "Killed")
USERS = (User("admin", "admin", admin=True), User("owner", "owner"), User("member", "member"),
         User("stranger", "stranger"))

_ECHO = {
    "name": "env-echo",
    "label": "Echo the environment",
    "description": "Prints its environment; a test job",
    "version": "1.0",
    "schema-version": "1.0",
    "image": "xnat/test-echo:1.0",
    "type": "docker",
    "override-entrypoint": True,
    "command-line": f"python {JOB} --out /output --input /input #FLAG# #MESSAGE# --exit #EXIT#",
    "environment-variables": {"MY_PROJECT": "#PROJECT_ID#", "MY_SENSITIVE": "#TOKEN#"},
    "mounts": [{"name": "in", "writable": False, "path": "/input"},
               {"name": "out", "writable": True, "path": "/output"}],
    "inputs": [
        {"name": "flag", "type": "boolean", "default-value": "false",
         "command-line-flag": "--flag", "true-value": "yes", "false-value": "no",
         "replacement-key": "#FLAG#"},
        {"name": "message", "type": "string", "command-line-flag": "--message",
         "replacement-key": "#MESSAGE#"},
        {"name": "exit", "type": "number", "default-value": "0", "replacement-key": "#EXIT#"},
        {"name": "project-id", "type": "string", "replacement-key": "#PROJECT_ID#"},
        {"name": "token", "type": "string", "sensitive": True, "replacement-key": "#TOKEN#"},
    ],
    "outputs": [{"name": "report", "mount": "out", "path": "report", "required": True}],
    "secrets": [{"source": {"type": "system-property", "identifier": "test.secret"},
                 "destination": {"type": "environment-variable",
                                 "identifier": "MY_SECRET"}}],
    "xnat": [
        {"name": "echo-session", "label": "Echo (session)", "description": "Echo on a session",
         "contexts": ["xnat:imageSessionData"],
         "external-inputs": [{"name": "session", "type": "Session", "required": True,
                              "provides-files-for-command-mount": "in"}],
         "derived-inputs": [
             {"name": "project", "type": "Project", "derived-from-wrapper-input": "session"},
             {"name": "session-project", "type": "string", "derived-from-wrapper-input":
              "session", "derived-from-xnat-object-property": "project-id",
              "provides-value-for-command-input": "project-id", "user-settable": False}],
         "output-handlers": [{"name": "report-resource", "accepts-command-output": "report",
                              "as-a-child-of": "session", "type": "Resource",
                              "label": "ECHO_REPORT"}]},
        {"name": "echo-project", "label": "Echo (project)", "description": "Echo on a project",
         "contexts": ["xnat:projectData"],
         "external-inputs": [{"name": "project", "type": "Project", "required": True,
                              "load-children": False,
                              "provides-files-for-command-mount": "in"}],
         "derived-inputs": [
             {"name": "project-label", "type": "string", "derived-from-wrapper-input":
              "project", "derived-from-xnat-object-property": "id",
              "provides-value-for-command-input": "project-id"}],
         "output-handlers": [{"name": "report-resource", "accepts-command-output": "report",
                              "as-a-child-of": "project", "type": "Resource",
                              "label": "ECHO_REPORT"}]},
    ],
}


def echo_command(**changes) -> dict:
    cmd = copy.deepcopy(_ECHO)
    cmd.update(changes)
    return cmd


class SecretEmulator(RunningEmulator):
    """An in-process emulator with Container Service secrets and several users."""

    def __init__(self, data_dir: Path, secrets=(("test.secret", "s3cret-value"),),
                 users=USERS):
        config = EmulatorConfig(data_dir=Path(data_dir), users=users,
                                system_properties=tuple(secrets))
        self.server = EmulatorServer(config).start()
        super().__init__(self.server.url, Path(data_dir), "admin", "admin")

    @property
    def service(self):
        return self.server.app.extensions["xnat"].containers

    def stop(self) -> None:
        self.service.wait_idle(30)
        self.service.shutdown()
        self.server.stop()


def wait_workflow(http, workflow_id: str, timeout: float = 60) -> dict:
    """Poll the workflow until it reaches a final status; return it."""
    deadline = time.monotonic() + timeout
    while True:
        wf = http.get(f"/xapi/workflows/{workflow_id}").json()
        if wf["status"] in FINAL or wf["status"].startswith("Failed"):
            return wf
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} still {wf['status']}")
        time.sleep(0.05)


def container_of(http, workflow_id: str) -> dict:
    for c in http.get("/xapi/containers").json():
        if c["workflow-id"] == str(workflow_id):
            return c
    raise AssertionError(f"no container for workflow {workflow_id}")


def python() -> str:
    return sys.executable
