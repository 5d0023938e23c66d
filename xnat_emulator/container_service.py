"""The Container Service stand-in: commands, enablement, launches, jobs, Event Service.

No HTTP here (``api/containers.py`` maps routes onto these methods); the rules live in
``containers.py``. State (commands, settings, subscriptions, workflows, container records)
is kept in ``<data-dir>/containers/state.json`` and survives a restart; running jobs do not.

A launch (CS ``LaunchRestApi.launchContainer`` + ``consumeResolveCommandAndLaunchContainer``):
a workflow is created on the root object (``Queued``); the command is resolved; a failure
there leaves the workflow ``Failed (Command resolution)`` with CS's message and no container,
while the REST answer was already ``success``. Otherwise a fresh alias token is issued for the
launching user, the resolved command line runs as a local process (the stand-in for the
container) with ``XNAT_HOST``/``XNAT_USER``/``XNAT_PASS``/``XNAT_WORKFLOW_ID``/``XNAT_EVENT_ID``
and the command's secrets, and when it exits the outputs are uploaded by the output handlers,
the token is invalidated and the status becomes ``Complete``, ``Failed`` or
``Failed (Upload)``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from . import containers as rules
from . import files as archive_files
from .api.paths import Resolver
from .auth import Principal
from .errors import BadRequest, Forbidden, NotFound, XnatError
from .store import now_timestamp

log = logging.getLogger("xnat_emulator.containers")
ACTION_PREFIX = "org.nrg.containers.services.CommandActionProvider:"
SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
EVENT_TYPES = (SESSION_EVENT, "org.nrg.xnat.eventservice.events.ScanEvent",
               "org.nrg.xnat.eventservice.events.ProjectEvent",
               "org.nrg.xnat.eventservice.events.SubjectEvent",
               "org.nrg.xnat.eventservice.events.ImageAssessorEvent",
               "org.nrg.xnat.eventservice.events.ScheduledEvent")
LEGACY_EVENTS = ("SessionArchived", "Merged", "ScanArchived")


def _ms() -> int:
    return int(time.time() * 1000)


class ContainerService:
    def __init__(self, emulator):
        self.emu = emulator
        self.store = emulator.store
        self.root = Path(emulator.config.data_dir) / "containers"
        self.root.mkdir(parents=True, exist_ok=True)
        self.system_properties = dict(getattr(emulator.config, "system_properties", ()) or ())
        entry = tuple(getattr(emulator.config, "container_entrypoint", ()) or ())
        self.entrypoint = list(entry) or None  # None: the project image's entrypoint
        self.host_url = emulator.config.site_url or ""
        self._lock = threading.RLock()
        self._procs: dict[int, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self.state = self._load()
        self._attach(emulator.archive)

    # -- state --------------------------------------------------------------------------------

    def _load(self) -> dict:
        path = self.root / "state.json"
        state = {"next": 1, "commands": {}, "site": {}, "projects": {}, "subscriptions": {},
                 "mappings": {}, "workflows": {}, "containers": {},
                 "prefs": {"enabled": True}}
        if path.exists():
            state.update(json.loads(path.read_text()))
            for c in state["containers"].values():  # jobs do not survive a restart
                if c["status"] in ("Created", "Running", "Finalizing"):
                    self._set_status(c, "Failed", "The emulator restarted while the job ran.",
                                     save=False)
        return state

    def _save(self) -> None:
        with self._lock:
            tmp = self.root / "state.json.tmp"
            tmp.write_text(json.dumps(self.state))
            os.replace(tmp, self.root / "state.json")

    def _next_id(self) -> int:
        with self._lock:
            n = self.state["next"]
            self.state["next"] = n + 1
            return n

    def _stored(self, table: str, key, missing: str) -> dict:
        """A record of ``table`` by id (JSON keeps ids as string keys); 404 ``missing`` if
        there is none, which is how every by-id xapi lookup answers."""
        record = self.state[table].get(str(key))
        if record is None:
            raise NotFound(missing)
        return record

    # -- commands -----------------------------------------------------------------------------

    @staticmethod
    def require_manager(who: Principal) -> None:
        if not who.admin:
            raise Forbidden(f"User {who.login} is not a Container Manager.")

    def create_command(self, who: Principal, raw, image: str | None = None) -> int:
        self.require_manager(who)
        if not isinstance(raw, dict):
            raise BadRequest("JSON parse error: Cannot deserialize value of type "
                             "`org.nrg.containers.model.command.auto.Command$CommandCreation` "
                             "from Array value (token `JsonToken.START_ARRAY`)")
        cmd = rules.normalize_command(raw, image)
        errors = rules.validate_command(cmd)
        if errors:
            raise rules.CommandValidationError(errors)
        with self._lock:
            for other in self.state["commands"].values():
                if (other["name"], other["image"], other.get("version")) == (
                        cmd["name"], cmd["image"], cmd.get("version")):
                    raise BadRequest("This command duplicates a command already in the "
                                     "database.")
            cmd["id"] = self._next_id()
            for wrapper in cmd["xnat"]:
                wrapper["id"] = self._next_id()
                self.state["site"][str(wrapper["id"])] = False
            self.state["commands"][str(cmd["id"])] = cmd
            self._save()
        return cmd["id"]

    def list_commands(self, name=None, version=None, image=None) -> list[dict]:
        out = []
        for cmd in self.state["commands"].values():
            if (name and cmd["name"] != name) or (version and cmd.get("version") != version) \
                    or (image and cmd["image"] != image):
                continue
            out.append(cmd)
        return out

    def command(self, command_id) -> dict:
        return self._stored("commands", command_id, f"No command with id {command_id}.")

    def delete_command(self, who: Principal, command_id) -> None:
        self.require_manager(who)
        with self._lock:
            cmd = self.command(command_id)
            del self.state["commands"][str(cmd["id"])]
            self._save()

    def wrapper(self, wrapper_id=None, command_id=None, wrapper_name=None) -> tuple[dict, dict]:
        if wrapper_id not in (None, 0, "0"):
            for cmd in self.state["commands"].values():
                for w in cmd["xnat"]:
                    if str(w["id"]) == str(wrapper_id):
                        return cmd, w
            raise NotFound(f"No command wrapper with id {wrapper_id}.")
        cmd = self.command(command_id)
        for w in cmd["xnat"]:
            if w["name"] == wrapper_name:
                return cmd, w
        raise NotFound(f"Command {command_id} has no wrapper \"{wrapper_name}\".")

    # -- enablement ---------------------------------------------------------------------------

    def set_site_enabled(self, who: Principal, wrapper_id, enabled: bool) -> None:
        self.require_manager(who)
        _, w = self.wrapper(wrapper_id)
        with self._lock:
            self.state["site"][str(w["id"])] = enabled
            self._save()

    def site_enabled(self, wrapper_id) -> bool:
        return bool(self.state["site"].get(str(wrapper_id)))

    def set_project_enabled(self, who: Principal, project_id: str, wrapper_id,
                            enabled: bool) -> None:
        project = self._project(who, project_id)
        self.emu.auth.require_delete(who, project, "projects")
        _, w = self.wrapper(wrapper_id)
        with self._lock:
            self.state["projects"].setdefault(project.id, {})[str(w["id"])] = enabled
            self._save()

    def project_enabled(self, project_id: str, wrapper_id) -> bool:
        """``isEnabledForProject = isEnabledForSite && project == true``."""
        return self.site_enabled(wrapper_id) and bool(
            self.state["projects"].get(project_id, {}).get(str(wrapper_id)))

    def _project(self, who: Principal, project_id: str):
        project = self.store.get_project(project_id)
        if project is None or not self.emu.auth.can_read(who, project):
            raise NotFound(f"Unable to identify project {project_id}")
        return project

    def available(self, who: Principal, project_id: str | None, xsi_type: str) -> list[dict]:
        """``CommandSummaryForContext`` rows: wrappers whose contexts match ``xsi_type``."""
        if project_id:
            self._project(who, project_id)
        rows = []
        for cmd in self.state["commands"].values():
            for w in cmd["xnat"]:
                if xsi_type == "site":
                    ok = "site" in w["contexts"]
                else:
                    ok = rules.xsi_matches_contexts(self.emu.docs, xsi_type, w["contexts"])
                if not ok:
                    continue
                enabled = (self.project_enabled(project_id, w["id"]) if project_id
                           else self.site_enabled(w["id"]))
                external = w.get("external-inputs") or []
                rows.append({
                    "command-id": cmd["id"], "command-name": cmd["name"],
                    "command-description": cmd.get("description", ""),
                    "wrapper-id": w["id"], "wrapper-name": w["name"],
                    "wrapper-label": w.get("label") or w.get("description") or w["name"],
                    "wrapper-description": w.get("description", ""),
                    "image-name": cmd["image"], "image-type": cmd["type"],
                    "enabled": enabled,
                    "root-element-name": external[0]["name"] if external else ""})
        return rows

    # -- workflows ----------------------------------------------------------------------------

    def _create_workflow(self, who: Principal, wrapper: dict, project: str | None,
                         root_value: str | None) -> dict:
        wf_id = self._next_id()
        wf = {"id": str(wf_id), "workflowId": wf_id, "pipelineName": wrapper["name"],
              "externalId": project or "", "dataType": "", "itemId": root_value or "",
              "status": "Queued", "details": "", "comments": "", "justification": "",
              "createUser": who.login, "launchTime": _ms(), "eventId": wf_id,
              "percentageComplete": "", "type": "PROCESS", "category": "DATA"}
        with self._lock:
            self.state["workflows"][str(wf_id)] = wf
        return wf

    def workflow(self, wf_id) -> dict:
        return self._stored("workflows", wf_id, f"No workflow with ID {wf_id}")

    # -- launching ----------------------------------------------------------------------------

    def launch(self, who: Principal, params: dict[str, str], *, project: str | None = None,
               wrapper_id=None, command_id=None, wrapper_name=None,
               root_element: str | None = None, wait: bool = False) -> tuple[int, dict]:
        """A ``LaunchReport`` and its status: 200 ``success`` (queued; resolution failures
        show in the workflow) or 500 ``failure`` when not even the workflow can be made."""
        params = {k: "" if v is None else str(v) for k, v in (params or {}).items()}
        cid = int(command_id) if command_id not in (None, "") else 0
        wid = int(wrapper_id) if wrapper_id not in (None, "") else 0
        try:
            if project:
                self._project(who, project)
            cmd, wrapper = self.wrapper(wrapper_id, command_id, wrapper_name)
            root_value = params.get(root_element) if root_element else None
            wf = self._create_workflow(who, wrapper, project, root_value)
        except XnatError as exc:
            return 500, {"status": "failure", "params": params, "id": 0,
                         "command-id": cid or None, "wrapper-id": wid or None,
                         "message": exc.message}
        self._save()
        job = threading.Thread(target=self._stage, args=(who, cmd, wrapper, project, params, wf),
                               daemon=True)
        self._threads.append(job)
        job.start()
        if wait:
            job.join()
        return 200, {"status": "success", "params": params, "id": None, "command-id": cid,
                     "wrapper-id": wid, "workflow-id": wf["id"]}

    def bulk_launch(self, who: Principal, params: dict[str, str], root_element: str,
                    **where) -> dict:
        try:
            targets = json.loads(params.get(root_element) or "[]")
            if not isinstance(targets, list):
                raise ValueError
        except ValueError:
            raise BadRequest(f"Value of {root_element} must be a JSON array of targets.") \
                from None
        _, wrapper = self.wrapper(where.get("wrapper_id"), where.get("command_id"),
                                  where.get("wrapper_name"))
        report = {"bulk-launch-id": f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}",
                  "pipeline-name": wrapper["name"], "successes": [], "failures": []}
        for target in targets:
            status, one = self.launch(who, {**params, root_element: str(target)},
                                      root_element=root_element, **where)
            report["successes" if status == 200 else "failures"].append(one)
        return report

    def _stage(self, who, cmd, wrapper, project, params, wf) -> None:
        """``consumeResolveCommandAndLaunchContainer``: resolve, then start the process."""
        self._update_workflow(wf, "Staging", "Command resolution")
        build = self.root / "build" / uuid.uuid4().hex
        try:
            if project and not self.project_enabled(project, wrapper["id"]):
                raise rules.ResolutionError(
                    f'Command wrapper "{wrapper["name"]}" is not enabled for project '
                    f'"{project}".')
            if not project and not self.site_enabled(wrapper["id"]):
                raise rules.ResolutionError(
                    f'Command wrapper "{wrapper["name"]}" is not enabled on this site.')
            resolver = Resolver(self.store, self.emu.auth, who)
            catalog = rules.Catalog(self.store, self.emu.docs, resolver)
            resolved = rules.resolve(cmd, wrapper, params, catalog, project=project,
                                     build_dir=build, system_properties=self.system_properties,
                                     user_cache=self.user_cache(who.login))
        except (rules.ResolutionError, XnatError) as exc:
            message = exc.message if isinstance(exc, XnatError) else str(exc)
            self._remove_build(build)
            self._update_workflow(wf, "Failed (Command resolution)", message)
            return
        except Exception as exc:  # a bug here must not look like success
            log.exception("command resolution failed")
            self._remove_build(build)
            self._update_workflow(wf, "Failed (Command resolution)", repr(exc))
            return
        if resolved.root is not None:
            wf["dataType"], wf["itemId"] = resolved.root.xsi_type, resolved.root.id
            wf["externalId"] = wf["externalId"] or resolved.root.project
        self._start(who, resolved, wf, build)

    def _start(self, who: Principal, resolved: rules.ResolvedCommand, wf: dict,
               build: Path) -> None:
        token = self.emu.auth.issue_token(who.login)
        container_id = self._next_id()
        workdir = build / "work"
        workdir.mkdir(parents=True, exist_ok=True)
        if resolved.working_directory:
            translated = Path(rules.translate_paths(resolved.working_directory, resolved.mounts))
            if translated.is_absolute() and translated.exists():
                workdir = translated
        env = rules.build_environment(
            resolved, host=self.host_url, user=token["alias"], password=token["secret"],
            workflow_id=wf["id"], event_id=str(wf["eventId"]),
            bin_dir=os.path.dirname(sys.executable))
        argv = rules.build_argv(resolved, self.entrypoint, env.get("PATH"))
        logs = self.root / str(container_id) / "LOGS"
        logs.mkdir(parents=True, exist_ok=True)
        record = self._record(container_id, who, resolved, wf, token, argv)
        with self._lock:
            self.state["containers"][str(container_id)] = record
        wf["comments"] = str(container_id)
        self._update_workflow(wf, "Created", "")
        try:
            with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
                proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=err,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            (logs / "stderr.log").write_text(f"{exc}\n")
            self.emu.auth.invalidate_token(token["alias"])
            self._set_status(record, "Failed", f"Container launch failed: {exc}")
            self._update_workflow(wf, "Failed (Container launch)", str(exc))
            self._remove_build(build)
            return
        self._procs[container_id] = proc
        self._set_status(record, "Running", "")
        self._update_workflow(wf, "Running", "")
        self._wait(proc, record, resolved, wf, token, build, who)

    def _record(self, container_id, who, resolved, wf, token, argv) -> dict:
        cmd, wrapper = resolved.command, resolved.wrapper
        env = {k: v for k, v in rules.build_environment(
            resolved, host=self.host_url, user=token["alias"], password=token["secret"],
            workflow_id=wf["id"], event_id=str(wf["eventId"]), base={}).items()
            if k not in resolved.secrets}
        return {
            "id": container_id, "command-id": cmd["id"], "wrapper-id": wrapper["id"],
            "container-id": uuid.uuid4().hex + uuid.uuid4().hex, "workflow-id": wf["id"],
            "user-id": who.login, "project": resolved.project or (
                resolved.root.project if resolved.root else None),
            "backend": "docker", "swarm": False, "service-id": None, "task-id": None,
            "node-id": None, "docker-image": cmd["image"], "status": "Created",
            "status-time": _ms(), "container-name": cmd.get("container-name"),
            "command-line": resolved.command_line,
            "override-entrypoint": bool(cmd.get("override-entrypoint")),
            "working-directory": resolved.working_directory, "subtype": None,
            "parent-source-object-name": resolved.root.uri if resolved.root else None,
            "environment-variables": env, "ports": cmd.get("ports") or {},
            "mounts": [{"name": m.name, "writable": m.writable,
                        "xnat-host-path": str(m.host_path),
                        "container-host-path": str(m.host_path),
                        "container-path": m.container_path, "input-files": m.files}
                       for m in resolved.mounts],
            "inputs": [{"type": i.kind, "name": i.name,
                        "value": "*****" if i.sensitive and i.value else (i.value or ""),
                        "sensitive": i.sensitive} for i in resolved.inputs],
            "outputs": [{"name": f"{o.name}:{o.handler}", "from-command-output": o.name,
                         "from-output-handler": o.handler, "type": o.handler_type,
                         "required": o.required, "mount": o.mount, "path": o.path,
                         "label": o.label, "created": None, "handled-by": o.handler}
                        for o in resolved.outputs],
            "history": [], "log-paths": [], "exit-code": None,
            "emulator-argv": argv,
        }

    def _wait(self, proc, record, resolved, wf, token, build, who) -> None:
        def watch() -> None:
            code = proc.wait()
            try:
                self._finalize(code, record, resolved, wf, token, build, who)
            except Exception as exc:  # never leave a job "Running"
                log.exception("finalize failed")
                self._set_status(record, "Failed", f"Finalizing failed: {exc!r}")
                self._update_workflow(wf, "Failed", repr(exc))
            finally:
                self._procs.pop(record["id"], None)
        thread = threading.Thread(target=watch, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _finalize(self, code, record, resolved, wf, token, build, who) -> None:
        record["exit-code"] = str(code)
        killed = record.get("_killed")
        self._set_status(record, "Finalizing", "", exit_code=str(code))
        self._update_workflow(wf, "Finalizing", "")
        status, details = ("Complete", "") if code == 0 else ("Failed", f"exit code {code}")
        if killed:
            status, details = "Killed", "Killed through the API"
        if code == 0:
            problem = self._upload_outputs(record, resolved, who)
            if problem:
                status, details = "Failed (Upload)", problem
        self.emu.auth.invalidate_token(token["alias"])
        logs = self.root / str(record["id"]) / "LOGS"
        record["log-paths"] = [str(logs / "stdout.log"), str(logs / "stderr.log")]
        self._remove_build(build)
        self._set_status(record, status, details, exit_code=str(code))
        self._update_workflow(wf, status, details)

    def _upload_outputs(self, record, resolved: rules.ResolvedCommand, who) -> str:
        """Output handlers (CFS ``uploadOutputs``): Resource handlers add the output's files as
        a resource on the object the handler names; a required output that fails fails the
        job with ``Failed (Upload)``, an optional one is only logged."""
        mounts = {m.name: m for m in resolved.mounts}
        created: dict[str, str] = {}
        for out in resolved.outputs:
            entry = next(o for o in record["outputs"] if o["from-output-handler"] == out.handler)
            try:
                uri = self._upload_one(out, mounts, resolved, who)
                entry["created"] = uri
                created[out.handler] = uri
            except (XnatError, OSError, rules.ResolutionError) as exc:
                message = exc.message if isinstance(exc, XnatError) else str(exc)
                if out.required:
                    return f"Output \"{out.name}\" (handler {out.handler}): {message}"
                log.info("optional output %s not uploaded: %s", out.name, message)
        return ""

    def _upload_one(self, out: rules.ResolvedOutput, mounts, resolved, who) -> str | None:
        mount = mounts.get(out.mount)
        if mount is None:
            raise rules.ResolutionError(f"unknown mount {out.mount}")
        src = mount.host_path / out.path if out.path else mount.host_path
        if not src.exists() or (src.is_dir() and not any(src.rglob("*"))):
            raise rules.ResolutionError(f"nothing at {out.path or '/'} in mount {out.mount}")
        if out.handler_type != "Resource":
            raise rules.ResolutionError(f"{out.handler_type} output handlers are not "
                                        "emulated (only Resource).")
        if out.parent_input is None:
            raise rules.ResolutionError("a Resource cannot be the child of another output")
        parent = resolved.input(out.parent_input)
        if parent is None or parent.obj is None:
            raise rules.ResolutionError(f'"as-a-child-of" input "{out.parent_input}" has no '
                                        "XNAT object")
        obj = parent.obj
        project = self.store.get_project(obj.project)
        try:
            self.emu.auth.require_edit(who, project, "resources")
        except XnatError:
            raise rules.ResolutionError(f"User does not have permission to add resources to "
                                        f"item with URI {obj.uri}") from None
        resolver = Resolver(self.store, self.emu.auth, who)
        owner_type, owner_id = rules.Catalog(self.store, self.emu.docs, resolver).owner_of(obj)
        resource = self.store.find_resource(owner_type, owner_id, out.label)
        if resource is None:
            resource = self.emu.archive.put_resource(
                owner_type, owner_id, out.label,
                {"format": out.format, "content": out.content, "description": out.description,
                 "tags": ",".join(out.tags)})
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for path in files:
            rel = path.name if src.is_file() else path.relative_to(src).as_posix()
            with open(path, "rb") as stream:
                archive_files.receive_upload(self.store, resource, rel, stream, overwrite=True,
                                             extract=False, format=out.format,
                                             content=out.content)
        return f"{obj.uri}/resources/{resource.id}"

    def _remove_build(self, build: Path) -> None:
        if build.exists():
            rules.make_writable(build)
            shutil.rmtree(build, ignore_errors=True)

    def _set_status(self, record: dict, status: str, message: str, exit_code=None,
                    save: bool = True) -> None:
        with self._lock:
            record["status"] = status
            record["status-time"] = _ms()
            record.setdefault("history", []).append({
                "status": status, "entity-type": "system", "entity-id": None,
                "time-recorded": _ms(), "external-timestamp": str(_ms()),
                "message": message or None, "exitCode": exit_code})
        if save:
            self._save()

    def _update_workflow(self, wf: dict, status: str, details: str) -> None:
        with self._lock:
            wf["status"] = status
            wf["details"] = details
            wf["statusTime"] = _ms()
        self._save()

    # -- containers ---------------------------------------------------------------------------

    def container(self, who: Principal, container_id) -> dict:
        with self._lock:
            rec = self.state["containers"].get(str(container_id))
            if rec is None:
                rec = next((c for c in self.state["containers"].values()
                            if c["container-id"] == str(container_id)), None)
        if rec is None or not self._can_see(who, rec):
            raise NotFound(f"Could not find container {container_id}.")
        return rec

    def _can_see(self, who: Principal, rec: dict) -> bool:
        if who.admin or rec["user-id"] == who.login:
            return True
        project = self.store.get_project(rec.get("project") or "")
        return project is not None and self.emu.auth.can_read(who, project)

    def list_containers(self, who: Principal, project: str | None = None,
                        nonfinalized: bool = False) -> list[dict]:
        out = []
        with self._lock:    # launches add records from other threads
            records = list(self.state["containers"].values())
        for rec in records:
            if project and rec.get("project") != project:
                continue
            if nonfinalized and rec["status"] in ("Complete", "Failed", "Killed",
                                                  "Failed (Upload)"):
                continue
            if self._can_see(who, rec):
                out.append(rec)
        return out

    def log_path(self, who: Principal, container_id, name: str) -> Path:
        rec = self.container(who, container_id)
        return self.root / str(rec["id"]) / "LOGS" / f"{name}.log"

    def kill(self, who: Principal, container_id) -> str:
        rec = self.container(who, container_id)
        if not who.admin and rec["user-id"] != who.login:
            raise Forbidden("Only the launching user or an admin can kill this container.")
        proc = self._procs.get(rec["id"])
        if proc is not None and proc.poll() is None:
            rec["_killed"] = True
            try:
                os.killpg(proc.pid, 15)
            except OSError:
                proc.terminate()
        return rec["container-id"]

    def wait_idle(self, timeout: float = 60) -> bool:
        """Test helper: wait until every staged or running job has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [t for t in list(self._threads) if t.is_alive()]
            if not alive:
                return True
            alive[0].join(timeout=0.1)
        return False

    def shutdown(self) -> None:
        for proc in list(self._procs.values()):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass

    # -- user cache (file inputs) -------------------------------------------------------------

    def user_cache(self, login: str) -> Path:
        return self.root / "usercache" / login

    # -- Event Service --------------------------------------------------------------------------

    def _attach(self, archive) -> None:
        """Fire events after the archive creates an experiment.

        The archive has no event bus; wrapping its ``put_experiment`` on this instance keeps
        ``archive.py`` untouched. Only new image sessions (not assessors) fire.
        """
        original = archive.put_experiment

        def put_experiment(who, project_id, subject_ref, ref, incoming, session=None):
            saved = original(who, project_id, subject_ref, ref, incoming, session=session)
            if saved.created and session is None:
                try:
                    self.session_created(who, saved.id)
                except Exception:  # an event must never break the PUT
                    log.exception("event delivery failed")
            return saved

        archive.put_experiment = put_experiment

    def set_prefs(self, who: Principal, prefs: dict) -> dict:
        if not who.admin:
            raise Forbidden("Only site administrators can change Event Service settings.")
        with self._lock:
            if "enabled" in prefs:
                self.state["prefs"]["enabled"] = bool(rules._coerce(prefs["enabled"]))
            self._save()
        return self.state["prefs"]

    def create_subscription(self, who: Principal, body, project: str | None = None) -> dict:
        if not self.state["prefs"].get("enabled", True):
            raise BadRequest("Event Service disabled.")
        if not isinstance(body, dict):
            raise BadRequest("A subscription must be a JSON object.")
        if project:
            p = self._project(who, project)
            self.emu.auth.require_delete(who, p, "projects")
        elif not who.admin:
            raise Forbidden("Only site administrators can create site-wide subscriptions.")
        name = body.get("name")
        flt = body.get("event-filter") or {}
        key = body.get("action-key") or ""
        if not name:
            raise BadRequest("Subscription name cannot be blank.")
        if flt.get("event-type") not in EVENT_TYPES:
            raise BadRequest(f"Unknown event type {flt.get('event-type')!r}.")
        if not key.startswith(ACTION_PREFIX):
            raise BadRequest(f"Unknown action key {key!r}.")
        _, wrapper = self.wrapper(key[len(ACTION_PREFIX):])
        projects = list(flt.get("project-ids") or [])
        if project:
            projects = [project]
        for pid in projects:
            self._project(who, pid)
            if not self.project_enabled(pid, wrapper["id"]):
                raise BadRequest(f'Action "{key}" is not available for project {pid}: the '
                                 "wrapper is not enabled there.")
        if not projects and not self.site_enabled(wrapper["id"]):
            raise BadRequest(f'Action "{key}" is not enabled on this site.')
        with self._lock:
            if any(s["name"] == name for s in self.state["subscriptions"].values()):
                raise BadRequest(f"A subscription named {name} already exists.")
            sid = self._next_id()
            sub = {"id": sid, "name": name, "active": bool(rules._coerce(body.get("active",
                                                                                 True))),
                   "registration-key": None, "action-key": key,
                   "attributes": dict(body.get("attributes") or {}),
                   "event-filter": {"id": sid, "name": None,
                                    "event-type": flt["event-type"],
                                    "project-ids": projects,
                                    "status": flt.get("status") or "CREATED",
                                    "payload-filter": flt.get("payload-filter") or ""},
                   "act-as-event-user": bool(rules._coerce(body.get("act-as-event-user",
                                                                    False))),
                   "subscription-owner": who.login, "valid": True, "created": _ms()}
            self.state["subscriptions"][str(sid)] = sub
            self._save()
        return sub

    def subscription(self, sid) -> dict:
        return self._stored("subscriptions", sid, f"No subscription with id {sid}.")

    def set_subscription_active(self, who: Principal, sid, active: bool) -> dict:
        sub = self.subscription(sid)
        if not who.admin and sub["subscription-owner"] != who.login:
            raise Forbidden("Only the owner or an admin can change this subscription.")
        with self._lock:
            sub["active"] = active
            self._save()
        return sub

    def delete_subscription(self, who: Principal, sid) -> None:
        sub = self.subscription(sid)
        if not who.admin and sub["subscription-owner"] != who.login:
            raise Forbidden("Only the owner or an admin can delete this subscription.")
        with self._lock:
            del self.state["subscriptions"][str(sid)]
            self._save()

    def create_mapping(self, who: Principal, body: dict) -> dict:
        """Legacy Command Automation (deprecated in CS 3.3): the session goes to the input
        named ``session`` (``scan`` for ScanArchived), hard-coded."""
        if not isinstance(body, dict) or body.get("event-type") not in LEGACY_EVENTS:
            raise BadRequest("event-type must be one of " + ", ".join(LEGACY_EVENTS))
        project = body.get("project")
        if project:
            self.emu.auth.require_delete(who, self._project(who, project), "projects")
        elif not who.admin:
            raise Forbidden("Only site administrators can create site-wide mappings.")
        self.wrapper(None, body.get("command-id"), body.get("xnat-command-wrapper"))
        with self._lock:
            mid = self._next_id()
            mapping = {"id": mid, "event-type": body["event-type"],
                       "command-id": int(body["command-id"]),
                       "xnat-command-wrapper": body["xnat-command-wrapper"],
                       "project": project, "subscription-user-name": who.login,
                       "enabled": True, "timestamp": _ms()}
            self.state["mappings"][str(mid)] = mapping
            self._save()
        return mapping

    def session_created(self, who: Principal, experiment_id: str) -> None:
        exp = self.store.get_experiment(experiment_id)
        if exp is None or not self.emu.docs.is_a(exp.xsi_type, "xnat:imageSessionData"):
            return
        uri = f"/archive/experiments/{exp.id}"
        launches = []
        for sub in list(self.state["subscriptions"].values()):
            flt = sub["event-filter"]
            if not sub["active"] or flt["event-type"] != SESSION_EVENT or \
                    flt.get("status", "CREATED") != "CREATED":
                continue
            if flt["project-ids"] and exp.project not in flt["project-ids"]:
                continue
            if flt.get("payload-filter"):
                owner = self.emu.auth.principal(sub["subscription-owner"])
                catalog = rules.Catalog(self.store, self.emu.docs,
                                        Resolver(self.store, self.emu.auth, owner or who))
                if not rules.matches(flt["payload-filter"], catalog.experiment(exp).data):
                    continue
            try:
                _, wrapper = self.wrapper(sub["action-key"][len(ACTION_PREFIX):])
            except XnatError:
                continue
            external = wrapper.get("external-inputs") or []
            if not external:
                continue
            user = who if sub["act-as-event-user"] else (
                self.emu.auth.principal(sub["subscription-owner"]) or who)
            params = {**sub["attributes"], external[0]["name"]: uri}
            launches.append((user, params, wrapper["id"], external[0]["name"]))
        for mapping in list(self.state["mappings"].values()):
            if not mapping["enabled"] or mapping["event-type"] != "SessionArchived":
                continue
            if mapping["project"] and mapping["project"] != exp.project:
                continue
            try:
                _, wrapper = self.wrapper(None, mapping["command-id"],
                                          mapping["xnat-command-wrapper"])
            except XnatError:
                continue
            user = self.emu.auth.principal(mapping["subscription-user-name"]) or who
            launches.append((user, {"session": uri}, wrapper["id"], "session"))
        for user, params, wid, root in launches:
            self.launch(user, params, project=exp.project, wrapper_id=wid, root_element=root)

    def subscriptions(self, project: str | None = None) -> list[dict]:
        subs = list(self.state["subscriptions"].values())
        if project:
            subs = [s for s in subs if project in s["event-filter"]["project-ids"]]
        return subs

    def all_mappings(self) -> list[dict]:
        return list(self.state["mappings"].values())

    def set_mapping_enabled(self, who: Principal, mid, enabled: bool) -> None:
        mapping = self._stored("mappings", mid, f"No command event mapping with id {mid}.")
        if not who.admin and mapping["subscription-user-name"] != who.login:
            raise Forbidden("Only the owner or an admin can change this mapping.")
        mapping["enabled"] = enabled
        self._save()

    def timestamp(self) -> str:
        return now_timestamp()
