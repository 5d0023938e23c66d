"""Login endpoints: JSESSION, /data/auth, /data/services/auth, alias tokens (xnat-rest.md §2)."""

from __future__ import annotations

from urllib.parse import parse_qs

from flask import Blueprint, Response, g, jsonify, request

from ..app import current, principal
from ..errors import BadRequest, Forbidden, NotFound

bp = Blueprint("session", __name__)


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status, mimetype="text/plain")


@bp.route("/data/JSESSION", methods=["GET", "POST", "DELETE"])
@bp.route("/REST/JSESSION", methods=["GET", "POST", "DELETE"])
def jsession():
    """The HTTP session id as text; DELETE ends the session (pyxnat's disconnect)."""
    sid = g.new_session or request.cookies.get("JSESSIONID")
    if request.method == "DELETE":
        if sid:
            current().auth.close_session(sid)
        g.new_session = None
        return _text("")
    return _text(sid)


@bp.route("/data/auth", methods=["GET"])
def whoami():
    return _text(f"User '{principal().login}' is logged in")


@bp.route("/data/services/auth", methods=["PUT", "POST"])
def services_auth():
    """Form body ``username=..&password=..``: 200 with the session id, and the cookie."""
    form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
    login = form.get("username") or form.get("j_username") or ""
    password = form.get("password") or form.get("j_password") or ""
    who = current().auth.check_basic(login, password)
    if who is None:
        return _text("Authentication failed.", 401)
    g.principal = who
    g.new_session = current().auth.open_session(who)
    return _text(g.new_session)


@bp.route("/data/services/tokens/<op>", methods=["GET", "POST", "PUT", "DELETE"])
@bp.route("/data/services/tokens/<op>/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def tokens(op: str, rest: str = ""):
    auth, who = current().auth, principal()
    parts = [p for p in rest.split("/") if p]
    if op == "issue":
        login = who.login
        if parts[:1] == ["user"] and len(parts) == 2:
            if not who.admin:
                raise Forbidden("Only admins can create proxy tokens.")
            login = parts[1]
            if login not in auth.users:
                raise NotFound(f"Unknown user {login}")
        return jsonify(auth.issue_token(login))
    if op == "validate" and len(parts) == 2:
        login = auth.validate_token(parts[0], parts[1])
        if login is None:
            return jsonify({})
        return jsonify({"valid": login})
    if op == "invalidate" and parts:
        token = current().store.get_token(parts[0])
        if token is None or (len(parts) > 1 and token["secret"] != parts[1]):
            raise NotFound("Unable to find the specified token.")
        if token["login"] != who.login and not who.admin:
            raise Forbidden("Only admins can invalidate other users' tokens.")
        auth.invalidate_token(parts[0])
        return jsonify({"result": "OK"})
    raise BadRequest(f"Unknown token operation {op}.")
