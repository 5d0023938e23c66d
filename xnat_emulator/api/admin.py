"""Emulator control endpoints (not XNAT's): fault injection and session expiry, admin only."""

from __future__ import annotations

from dataclasses import fields

from flask import Blueprint, jsonify, request

from ..app import current, principal
from ..config import FaultSettings
from ..errors import BadRequest, Forbidden

bp = Blueprint("emulator_admin", __name__, url_prefix="/xapi/emulator")
FAULT_FIELDS = {f.name for f in fields(FaultSettings)}


def _require_admin() -> None:
    if not principal().admin:
        raise Forbidden("Only site administrators can control the emulator.")


@bp.route("/faults", methods=["GET", "PUT", "POST"])
def faults():
    """GET the settings and counts; PUT/POST a JSON object of FaultSettings fields."""
    _require_admin()
    injector = current().faults
    if request.method != "GET":
        changes = request.get_json(silent=True) or {}
        unknown = set(changes) - FAULT_FIELDS
        if unknown:
            raise BadRequest(f"Unknown fault settings: {', '.join(sorted(unknown))}")
        injector.update(**changes)
    return jsonify(injector.describe())


@bp.route("/sessions/expire", methods=["POST"])
def expire_sessions():
    """End every HTTP session now: the next cookie-only request gets 401."""
    _require_admin()
    return jsonify({"expired": current().auth.expire_all_sessions()})
