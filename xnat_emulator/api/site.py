"""Site endpoints clients probe: build info, site config, schemas, search elements, root."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import __version__
from ..app import current
from ..errors import NotFound
from ..formats import Table, render_table
from ..schema import schema_text

bp = Blueprint("site", __name__)
XNAT_VERSION = "1.8.10"


@bp.route("/")
def root():
    """XNAT's front page; anonymous browsers are sent to the login page (xnatpy follows)."""
    if request.authorization is None and not request.cookies.get("JSESSIONID"):
        return Response("", 302, headers={"Location": "/app/template/Login.vm"})
    return Response("<html><head><title>XNAT</title></head><body>XNAT</body></html>",
                    mimetype="text/html")


@bp.route("/app/template/Login.vm")
def login_page():
    return Response("<html><head><title>XNAT Login</title></head><body><form></form></body>"
                    "</html>", mimetype="text/html")


@bp.route("/data/version")
@bp.route("/REST/version")
def version():
    """No such route since XNAT 1.7: clients read a 404 as "1.7 or later" (§1)."""
    raise NotFound("The server has not found anything matching the request URI")


@bp.route("/xapi/siteConfig/buildInfo")
def build_info():
    return jsonify({"version": XNAT_VERSION, "buildNumber": "emulator",
                    "buildDate": "", "sha": "", "isDirty": "false", "commit": "",
                    "tag": XNAT_VERSION, "branch": "emulator", "emulator": __version__})


@bp.route("/xapi/siteConfig")
def site_config():
    emu = current()
    return jsonify({"siteId": emu.config.site_id,
                    "siteUrl": current_site_url(),
                    "processingUrl": "", "requireLogin": True, "checksums": emu.checksums,
                    "enableCsrfToken": True, "sessionTimeout": "15 minutes"})


@bp.route("/xapi/siteConfig/<key>")
def site_config_value(key: str):
    values = site_config().get_json()
    if key not in values:
        raise NotFound(f"No site setting {key}")
    return jsonify(values[key])


def current_site_url() -> str:
    from flask import current_app
    return current_app.config.get("XNAT_SITE_URL") or request.host_url.rstrip("/")


@bp.route("/xapi/schemas")
def schemas():
    return jsonify(["xnat"])


@bp.route("/xapi/schemas/xnat")
@bp.route("/xapi/schemas/xnat/xnat")
def xnat_schema():
    return Response(schema_text(), mimetype="application/xml")


@bp.route("/data/search/elements")
def search_elements():
    """Installed data types: our XSD's plus plugin types the archive has accepted."""
    emu = current()
    names = sorted(set(emu.docs.schema.data_types()) | set(emu.docs.custom_types))
    rows = [[name, "true", "true", "true", name.split(":")[-1], name.split(":")[-1] + "s"]
            for name in names]
    table = Table(["ELEMENT_NAME", "SECURED", "SEARCHABLE", "BROWSEABLE", "SINGULAR", "PLURAL"],
                  rows)
    body, mimetype = render_table(table, request.args.get("format", "json"))
    return Response(body, mimetype=mimetype)


@bp.route("/data/search/elements/<element>")
def search_fields(element: str):
    """A type's search fields (FIELD_ID upper-case, as XNAT's display fields are).

    Derived from the type's own attributes and simple child elements; real XNAT takes them
    from each type's display document, which has more (computed) fields.
    """
    emu = current()
    schema = emu.docs.schema
    xsi_type = schema.canonical_type(element)
    if xsi_type is None:
        raise NotFound(f"Unknown data type {element}")
    fields = [(a.name, a.type) for a in schema.attributes(xsi_type)]
    fields += [(c.name, c.type) for c in schema.children(xsi_type)
               if c.type.startswith("xs:") and not c.multiple]
    rows = [[name.upper(), name, name, kind.removeprefix("xs:"), "false", name]
            for name, kind in fields]
    table = Table(["FIELD_ID", "HEADER", "SUMMARY", "TYPE", "REQUIRES_VALUE", "DESC"], rows)
    body, mimetype = render_table(table, request.args.get("format", "json"))
    return Response(body, mimetype=mimetype)
