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
@bp.route("/data/JSESSION/<path:_rest>", methods=["GET", "POST", "DELETE"])
@bp.route("/REST/JSESSION/<path:_rest>", methods=["GET", "POST", "DELETE"])
def jsession(_rest: str = ""):
    """The HTTP session id as text; DELETE ends the session (pyxnat's disconnect).

    Routes match by prefix (xnat-rest.md §1), so ``DELETE /data/JSESSION/{id}`` (grxnat's
    logout) reaches UserSession too and ends the *current* session, whatever the tail says.
    """
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
        if login is None:  # AliasTokenRestlet: no such valid token -> 404 (grxnat reads 404 as invalid)
            raise NotFound("Unable to find the specified token.")
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


@bp.route("/data/users", methods=["GET"])
@bp.route("/REST/users", methods=["GET"])
def site_users():
    """The site's users (XNAT UserListResource): admins only, as the site setting
    ``restrictUserListAccessToAdmins`` (default true) makes it; 403 for everybody else."""
    from ..formats import Table
    from .common import query_params, table_response

    who = principal()
    if not who.admin:
        raise Forbidden("Only administrators can list the site's users.")
    users = sorted(current().auth.users.values(), key=lambda u: u.login)
    rows = [[str(n), u.login, u.login, "", ""] for n, u in enumerate(users, start=1)]
    table = Table(["xdat_user_id", "login", "firstname", "lastname", "email"], rows)
    return table_response(table, query_params())
