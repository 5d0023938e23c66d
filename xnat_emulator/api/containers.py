"""Container Service and Event Service routes under ``/xapi`` (container-service.md §2.3, §3,
§4.4, §5), plus the user cache ``file`` inputs upload to (``/data/user/cache/resources``).

Thin: every rule is in ``container_service.py`` / ``containers.py``. XAPI errors are plain
text (Spring), not Restlet's HTML pages.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile

from flask import Blueprint, Response, current_app, jsonify, request

from .. import files as archive_files
from ..app import current, principal
from ..containers import CommandValidationError
from ..errors import BadRequest, NotFound, XnatError

bp = Blueprint("containers", __name__)


def svc():
    return current().containers


@bp.before_app_request
def _remember_host() -> None:
    """``XNAT_HOST`` for jobs: the site URL (no processing URL is configured)."""
    service = current().containers
    if not service.host_url:
        service.host_url = (current_app.config.get("XNAT_SITE_URL")
                            or request.host_url.rstrip("/"))


@bp.errorhandler(XnatError)
def _xapi_error(exc: XnatError):
    if isinstance(exc, CommandValidationError):
        body = "Invalid command:\n\t" + "\n\t".join(exc.errors)
    else:
        body = exc.message
    return Response(body, exc.status, mimetype="text/plain")


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _params() -> dict[str, str]:
    """Launch parameters: a JSON object body, else form fields and the query string."""
    params = {k: v for k, v in request.args.items()}
    if request.is_json or (request.mimetype or "").endswith("json"):
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            raise BadRequest("JSON parse error: the body is not a JSON object.")
        if body is not None and not isinstance(body, dict):
            raise BadRequest("JSON parse error: the body is not a JSON object.")
        for key, value in (body or {}).items():
            params[key] = value if isinstance(value, str) else (
                "" if value is None else json.dumps(value) if isinstance(value, (list, dict))
                else str(value).lower() if isinstance(value, bool) else str(value))
    else:
        params.update(request.form.items())
    return params


# -- commands -------------------------------------------------------------------------------------

@bp.route("/xapi/commands", methods=["GET", "POST"])
def commands():
    if request.method == "POST":
        raw = request.get_json(silent=True, force=True)
        if raw is None:
            raise BadRequest("JSON parse error: the body is not JSON.")
        cid = svc().create_command(principal(), raw, request.args.get("image"))
        return Response(json.dumps(cid), 201, mimetype="application/json")
    a = request.args
    return jsonify(svc().list_commands(a.get("name"), a.get("version"), a.get("image")))


@bp.route("/xapi/commands/<int:cid>", methods=["GET", "DELETE"])
def command(cid: int):
    if request.method == "DELETE":
        svc().delete_command(principal(), cid)
        return Response("", 204)
    return jsonify(svc().command(cid))


@bp.route("/xapi/wrappers/<int:wid>")
def wrapper(wid: int):
    return jsonify(svc().wrapper(wid)[1])


@bp.route("/xapi/commands/available")
def available():
    xsi = request.args.get("xsiType")
    if not xsi:
        raise BadRequest("Required request parameter 'xsiType' is not present")
    return jsonify(svc().available(principal(), request.args.get("project"), xsi))


@bp.route("/xapi/commands/available/site")
def available_site():
    return jsonify(svc().available(principal(), None, request.args.get("xsiType") or "site"))


@bp.route("/xapi/projects/<project>/commands/available")
def available_project(project: str):
    xsi = request.args.get("xsiType")
    if not xsi:
        raise BadRequest("Required request parameter 'xsiType' is not present")
    return jsonify(svc().available(principal(), project, xsi))


# -- enable / disable ---------------------------------------------------------------------------

def _wid(cid=None, wname=None, wid=None) -> int:
    return svc().wrapper(wid, cid, wname)[1]["id"]


def _site_toggle(wid: int, state: str):
    if request.method == "GET":
        if state != "enabled":
            raise NotFound("Not found")
        return jsonify(svc().site_enabled(wid))
    svc().set_site_enabled(principal(), wid, state == "enabled")
    return Response("", 200)


def _project_toggle(project: str, wid: int, state: str):
    if request.method == "GET":
        if state != "enabled":
            raise NotFound("Not found")
        svc()._project(principal(), project)
        return jsonify({"enabled-for-site": svc().site_enabled(wid),
                        "enabled-for-project": svc().project_enabled(project, wid),
                        "project": project})
    svc().set_project_enabled(principal(), project, wid, state == "enabled")
    return Response("", 200)


@bp.route("/xapi/commands/<int:cid>/wrappers/<wname>/<any(enabled, disabled):state>",
          methods=["GET", "PUT"])
def site_toggle_by_name(cid: int, wname: str, state: str):
    return _site_toggle(_wid(cid, wname), state)


@bp.route("/xapi/wrappers/<int:wid>/<any(enabled, disabled):state>", methods=["GET", "PUT"])
def site_toggle(wid: int, state: str):
    return _site_toggle(_wid(wid=wid), state)


@bp.route("/xapi/projects/<project>/commands/<int:cid>/wrappers/<wname>/"
          "<any(enabled, disabled):state>", methods=["GET", "PUT"])
def project_toggle_by_name(project: str, cid: int, wname: str, state: str):
    return _project_toggle(project, _wid(cid, wname), state)


@bp.route("/xapi/projects/<project>/wrappers/<int:wid>/<any(enabled, disabled):state>",
          methods=["GET", "PUT"])
def project_toggle(project: str, wid: int, state: str):
    return _project_toggle(project, _wid(wid=wid), state)


# -- launch ---------------------------------------------------------------------------------------

def _launch(project=None, wid=None, cid=None, wname=None, root=None):
    status, report = svc().launch(principal(), _params(), project=project, wrapper_id=wid,
                                  command_id=cid, wrapper_name=wname, root_element=root)
    return Response(json.dumps(report), status, mimetype="application/json")


@bp.route("/xapi/wrappers/<int:wid>/root/<root>/launch", methods=["POST"])
def launch_site(wid: int, root: str):
    return _launch(wid=wid, root=root)


@bp.route("/xapi/commands/<int:cid>/wrappers/<wname>/root/<root>/launch", methods=["POST"])
def launch_site_by_name(cid: int, wname: str, root: str):
    return _launch(cid=cid, wname=wname, root=root)


@bp.route("/xapi/projects/<project>/wrappers/<int:wid>/root/<root>/launch", methods=["POST"])
@bp.route("/xapi/projects/<project>/wrapper/<int:wid>/root/<root>/launch", methods=["POST"])
def launch_project(project: str, wid: int, root: str):
    return _launch(project=project, wid=wid, root=root)


@bp.route("/xapi/projects/<project>/commands/<int:cid>/wrappers/<wname>/root/<root>/launch",
          methods=["POST"])
def launch_project_by_name(project: str, cid: int, wname: str, root: str):
    return _launch(project=project, cid=cid, wname=wname, root=root)


@bp.route("/xapi/wrappers/<int:wid>/root/<root>/bulklaunch", methods=["POST"])
@bp.route("/xapi/projects/<project>/wrappers/<int:wid>/root/<root>/bulklaunch", methods=["POST"])
@bp.route("/xapi/commands/<int:cid>/wrappers/<wname>/root/<root>/bulklaunch", methods=["POST"])
@bp.route("/xapi/projects/<project>/commands/<int:cid>/wrappers/<wname>/root/<root>/bulklaunch",
          methods=["POST"])
def bulk_launch(root: str, project=None, wid=None, cid=None, wname=None):
    report = svc().bulk_launch(principal(), _params(), root, project=project, wrapper_id=wid,
                               command_id=cid, wrapper_name=wname)
    return jsonify(report)


@bp.route("/xapi/wrappers/<int:wid>/launch")
@bp.route("/xapi/projects/<project>/wrappers/<int:wid>/launch")
@bp.route("/xapi/commands/<int:cid>/wrappers/<wname>/launch")
@bp.route("/xapi/projects/<project>/commands/<int:cid>/wrappers/<wname>/launch")
def launch_ui(project=None, wid=None, cid=None, wname=None):
    """A reduced ``LaunchUi``: the wrapper, and each input with its current value."""
    if project:
        svc()._project(principal(), project)
    cmd, w = svc().wrapper(wid, cid, wname)
    params = dict(request.args.items())
    inputs = {}
    for kind in ("external-inputs", "derived-inputs"):
        for inp in w.get(kind, []):
            inputs[inp["name"]] = {
                "label": inp.get("label") or inp["name"], "description": inp.get("description"),
                "type": inp.get("type", "string"), "required": inp.get("required", True),
                "user-settable": inp.get("user-settable", True),
                "advanced": bool(inp.get("advanced")),
                "parent": inp.get("derived-from-wrapper-input"),
                "value": params.get(inp["name"], inp.get("default-value"))}
    provided = {i.get("provides-value-for-command-input") for kind in
                ("external-inputs", "derived-inputs") for i in w.get(kind, [])}
    for inp in cmd.get("inputs", []):
        if inp["name"] in provided:
            continue
        inputs[inp["name"]] = {
            "label": inp.get("label") or inp["name"], "description": inp.get("description"),
            "type": inp.get("type", "string"), "required": bool(inp.get("required")),
            "user-settable": True, "advanced": False, "parent": None,
            "select-values": inp.get("select-values") or [],
            "sensitive": bool(inp.get("sensitive")),
            "value": params.get(inp["name"], inp.get("default-value"))}
    external = w.get("external-inputs") or []
    return jsonify({"command-id": cmd["id"], "command-name": cmd["name"],
                    "command-description": cmd.get("description"), "wrapper-id": w["id"],
                    "wrapper-name": w["name"], "wrapper-description": w.get("description"),
                    "image-name": cmd["image"], "image-type": cmd["type"],
                    "root-element-name": external[0]["name"] if external else None,
                    "inputs": inputs})


# -- containers and their logs --------------------------------------------------------------------

@bp.route("/xapi/containers")
def list_containers():
    nonfinalized = request.args.get("nonfinalized", "").lower() == "true"
    return jsonify([_public(c) for c in svc().list_containers(
        principal(), request.args.get("project"), nonfinalized)])


@bp.route("/xapi/projects/<project>/containers")
def list_project_containers(project: str):
    svc()._project(principal(), project)
    return jsonify([_public(c) for c in svc().list_containers(principal(), project)])


@bp.route("/xapi/containers/<cid>")
def container(cid: str):
    return jsonify(_public(svc().container(principal(), cid)))


@bp.route("/xapi/containers/<cid>/kill", methods=["POST"])
def kill(cid: str):
    return Response(svc().kill(principal(), cid), 200, mimetype="text/plain")


@bp.route("/xapi/containers/<cid>/logs")
def logs_zip(cid: str):
    """Both log files as a zip, as ContainerRestApi serves them."""
    rec = svc().container(principal(), cid)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("stdout", "stderr"):
            path = svc().log_path(principal(), cid, name)
            if path.exists():
                zf.write(path, f"{name}.log")
    return Response(buf.getvalue(), 200, mimetype="application/zip",
                    headers={"Content-Disposition":
                             f'attachment; filename="{rec["id"]}-logs.zip"'})


@bp.route("/xapi/containers/<cid>/logs/<any(stdout, stderr):name>")
def log_file(cid: str, name: str):
    path = svc().log_path(principal(), cid, name)
    if not path.exists():
        raise NotFound(f"No {name} log for container {cid}.")
    return Response(path.read_bytes(), 200, mimetype="text/plain")


@bp.route("/xapi/containers/<cid>/logSince/<any(stdout, stderr):name>")
def log_since(cid: str, name: str):
    path = svc().log_path(principal(), cid, name)
    since = int(request.args.get("bytesRead", request.args.get("timestamp", "0")) or 0)
    data = path.read_bytes() if path.exists() else b""
    return jsonify({"content": data[since:].decode("utf-8", "replace"),
                    "timestamp": str(int(time.time() * 1000)), "bytesRead": len(data),
                    "fromFile": True})


@bp.route("/xapi/workflows/<wf_id>")
def workflow(wf_id: str):
    wf = svc().workflow(wf_id)
    if not principal().admin and wf["createUser"] != principal().login and wf["externalId"]:
        svc()._project(principal(), wf["externalId"])
    return jsonify(wf)


# -- Event Service ----------------------------------------------------------------------------------

@bp.route("/xapi/events/prefs", methods=["GET", "PUT", "POST"])
def event_prefs():
    if request.method == "GET":
        return jsonify(svc().state["prefs"])
    return jsonify(svc().set_prefs(principal(), request.get_json(silent=True, force=True) or {}))


def _subscription_created(sub: dict) -> Response:
    return Response(f"{sub['name']}:{sub['id']}", 201, mimetype="text/plain")


@bp.route("/xapi/events/subscription", methods=["POST"])
def create_subscription():
    body = request.get_json(silent=True, force=True)
    return _subscription_created(svc().create_subscription(principal(), body))


@bp.route("/xapi/projects/<project>/events/subscription", methods=["POST"])
def create_project_subscription(project: str):
    body = request.get_json(silent=True, force=True)
    return _subscription_created(svc().create_subscription(principal(), body, project))


@bp.route("/xapi/events/subscriptions")
def subscriptions():
    return jsonify(svc().subscriptions(request.args.get("project")))


@bp.route("/xapi/projects/<project>/events/subscriptions")
def project_subscriptions(project: str):
    svc()._project(principal(), project)
    return jsonify(svc().subscriptions(project))


@bp.route("/xapi/events/subscription/<int:sid>", methods=["GET", "DELETE"])
def subscription(sid: int):
    if request.method == "DELETE":
        svc().delete_subscription(principal(), sid)
        return Response("", 200)
    return jsonify(svc().subscription(sid))


@bp.route("/xapi/events/subscription/<int:sid>/<any(activate, deactivate):action>",
          methods=["POST"])
def subscription_active(sid: int, action: str):
    return jsonify(svc().set_subscription_active(principal(), sid, action == "activate"))


@bp.route("/xapi/commandeventmapping", methods=["GET", "POST"])
def mappings():
    if request.method == "POST":
        mapping = svc().create_mapping(principal(), request.get_json(silent=True, force=True))
        return Response(json.dumps(mapping["id"]), 201, mimetype="application/json")
    return jsonify(svc().all_mappings())


@bp.route("/xapi/commandeventmapping/<int:mid>/<any(enable, disable):action>",
          methods=["POST", "PUT"])
def mapping_toggle(mid: int, action: str):
    svc().set_mapping_enabled(principal(), mid, action == "enable")
    return Response("", 200)


# -- user cache (the launch UI's uploads for ``file`` inputs) ---------------------------------------

@bp.route("/data/user/cache/resources/<resource>/files/<path:name>",
          methods=["GET", "PUT", "POST", "DELETE"])
def user_cache(resource: str, name: str):
    root = svc().user_cache(principal().login) / archive_files.clean_relpath(resource)
    rel = archive_files.clean_relpath(name)
    path = root / rel
    if request.method == "GET":
        if not path.is_file():
            raise NotFound("The requested file was not found in the user cache.")
        return Response(path.read_bytes(), 200, mimetype="application/octet-stream")
    if request.method == "DELETE":
        path.unlink(missing_ok=True)
        return Response("", 200)
    path.parent.mkdir(parents=True, exist_ok=True)
    upload = next(iter(request.files.values()), None)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.stream if upload is not None else request.stream, out)
    return Response("", 200)
