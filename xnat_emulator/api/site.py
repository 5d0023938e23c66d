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


# XNAT 1.8's ``GET /xapi/schemas`` (SchemaApi) lists every installed schema as
# ``[namespace/]name``; xnatpy knows the same list as DEFAULT_SCHEMAS (xnat/constants.py).
# Only ``xnat`` is our real data model; the others are served as valid but empty schemas of
# their target namespace, because xnatpy fetches and parses every listed schema at connect
# time and NrgXnat/xnat-rest-tests TestXapiSchema checks each is an ``<xs:schema``.
# They declare no namespace prefixes, so they cannot remap xnatpy's prefixes for xnat.xsd.
EXTRA_SCHEMAS = {
    "security": "http://nrg.wustl.edu/security",
    "xdat": "http://nrg.wustl.edu/security",
    "xdat/display": "http://nrg.wustl.edu/display",
    "xdat/instance": "http://nrg.wustl.edu/xdat",
    "xdat/PlexiViewer": "http://nrg.wustl.edu/PlexiViewer",
    "assessments": "http://nrg.wustl.edu/xnat_assessments",
    "screening/screeningAssessment": "http://nrg.wustl.edu/scr",
    "pipeline/build": "http://nrg.wustl.edu/pipeline",
    "pipeline/repository": "http://nrg.wustl.edu/pipeline",
    "pipeline/workflow": "http://nrg.wustl.edu/workflow",
    "birn/birnprov": "http://www.nbirn.net/prov",
    "catalog": "http://nrg.wustl.edu/catalog",
    "project": "http://nrg.wustl.edu/arc",
    "validation/protocolValidation": "http://nrg.wustl.edu/val",
}


@bp.route("/xapi/schemas")
def schemas():
    return jsonify(["xnat", *EXTRA_SCHEMAS])


@bp.route("/xapi/schemas/xnat")
@bp.route("/xapi/schemas/xnat/xnat")
def xnat_schema():
    return Response(schema_text(), mimetype="application/xml")


@bp.route("/xapi/schemas/<path:name>")
def other_schema(name: str):
    namespace = EXTRA_SCHEMAS.get(name)
    if namespace is None:  # ``namespace/name`` also answers as ``name/name`` (SchemaApi)
        head, _, tail = name.partition("/")
        namespace = EXTRA_SCHEMAS.get(tail) if head == tail else None
    if namespace is None:
        raise NotFound(f"No schema {name}")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{namespace}" '
            'elementFormDefault="qualified">\n'
            f"  <xs:annotation><xs:documentation>{name}: not modelled by xnat_emulator"
            "</xs:documentation></xs:annotation>\n</xs:schema>\n")
    return Response(body, mimetype="application/xml")


@bp.route("/data/search/elements")
def search_elements():
    """Searchable data types (XNAT SearchElementListResource): ELEMENT_NAME, SINGULAR,
    PLURAL (the display names of ``xnat:mrSessionData`` are "MR Session"/"MR Sessions"),
    SECURED (only ``xnat:investigatorData`` is unsecured by default) and COUNT; our XSD's
    data types plus the installed plugins' (``--data-type``), which is where clients such as
    xnat_container look for a target's types; no ``xdat:`` types.
    (NrgXnat/xnat-rest-tests TestSearch.testElements.)"""
    emu = current()
    names = sorted(n for n in set(emu.docs.schema.data_types()) | set(emu.docs.custom_types)
                   if not n.startswith("xdat:"))
    counts = _type_counts(emu)
    rows = []
    for name in names:
        singular = display_name(name)
        rows.append([name, singular, singular + "s",
                     "false" if name == "xnat:investigatorData" else "true",
                     str(counts.get(name, 0)), "true", "true"])
    table = Table(["ELEMENT_NAME", "SINGULAR", "PLURAL", "SECURED", "COUNT", "SEARCHABLE",
                   "BROWSEABLE"], rows)
    body, mimetype = render_table(table, request.args.get("format", "json"))
    return Response(body, mimetype=mimetype)


_ACRONYMS = {"mr", "pet", "ct", "qc", "eeg", "meg", "us", "xa", "cr", "dx", "mg", "io", "op",
             "opt", "rf", "rt", "sr", "nm", "es", "gm", "hd", "ecg", "eps", "xc", "sm", "mrs",
             "ot", "seg", "petmr", "ecat"}


def display_name(xsi_type: str) -> str:
    """``xnat:mrSessionData`` -> ``MR Session``, ``xnat:qcManualAssessorData`` -> ``QC Manual
    Assessor`` (camel case split, the leading modality acronym upper-cased, ``Data`` dropped)."""
    import re

    local = xsi_type.split(":")[-1]
    local = local[:-4] if local.endswith("Data") and len(local) > 4 else local
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", local)
    if not words:
        return local
    first = words[0]
    words[0] = first.upper() if first.lower() in _ACRONYMS else first[:1].upper() + first[1:]
    return " ".join(words)


def _type_counts(emu) -> dict[str, int]:
    counts = {"xnat:projectData": len(emu.store.list_projects())}
    for row in emu.store._all("SELECT xsi_type, COUNT(*) AS n FROM experiments GROUP BY xsi_type"):
        counts[row["xsi_type"]] = row["n"]
    for row in emu.store._all("SELECT xsi_type, COUNT(*) AS n FROM scans GROUP BY xsi_type"):
        counts[row["xsi_type"]] = row["n"]
    counts["xnat:subjectData"] = emu.store._one("SELECT COUNT(*) AS n FROM subjects")["n"]
    return counts


@bp.route("/data/search/elements/<element>")
def search_fields(element: str):
    """A type's search fields (FIELD_ID upper-case, as XNAT's display fields are).

    Derived from the type's own attributes and simple child elements; real XNAT takes them
    from each type's display document, which has more (computed) fields. A plugin type shows
    its base's, the part of it our XSD knows.
    """
    emu = current()
    schema = emu.docs.schema
    xsi_type = emu.docs.canonical_type(element)
    if xsi_type is None:
        raise NotFound(f"Unknown data type {element}")
    xsi_type = emu.docs.custom_types.get(xsi_type, xsi_type)
    fields = [(a.name, a.type) for a in schema.attributes(xsi_type)]
    fields += [(c.name, c.type) for c in schema.children(xsi_type)
               if c.type.startswith("xs:") and not c.multiple]
    rows = [[name.upper(), name, name, kind.removeprefix("xs:"), "false", name]
            for name, kind in fields]
    table = Table(["FIELD_ID", "HEADER", "SUMMARY", "TYPE", "REQUIRES_VALUE", "DESC"], rows)
    body, mimetype = render_table(table, request.args.get("format", "json"))
    return Response(body, mimetype=mimetype)


# -- searches (xnat_emulator/search.py) ---------------------------------------------------------

def _search_engine():
    from flask import current_app

    from ..search import SearchEngine

    emu = current()
    engine = current_app.extensions.get("xnat_search")
    if engine is None:
        engine = current_app.extensions["xnat_search"] = SearchEngine(emu.store, emu.docs,
                                                                      emu.auth)
    return engine


def _search_table(table: Table, search_id: str | None = None) -> Response:
    from .common import query_params, table_response

    params = query_params()
    if params.get("sortBy"):
        table = _sorted_table(table, params["sortBy"], params.get("sortOrder", ""))
    if search_id:
        table.meta["ID"] = search_id
    return table_response(table, params)


def _sorted_table(table: Table, sort_by: str, order: str) -> Table:
    columns = [c.lower() for c in table.columns]
    rows = list(table.rows)
    for name in reversed(sort_by.split(",")):
        if name.lower() in columns:
            i = columns.index(name.lower())
            rows.sort(key=lambda row: "" if row[i] is None else str(row[i]),
                      reverse=order.upper() == "DESC")
    return Table(table.columns, rows, meta=table.meta)


@bp.route("/data/search", methods=["POST", "PUT"])
@bp.route("/REST/search", methods=["POST", "PUT"])
def search():
    """Run an ``xdat:bundle``; with ``cache=true`` keep it and give its ``ResultSet.ID``
    for ``GET /data/search/{ID}`` (SearchResource.handlePost, xnat-rest.md §8)."""
    from ..app import principal

    engine, who = _search_engine(), principal()
    document = request.get_data()
    table = engine.run(who, document)
    cache = request.args.get("cache", "").lower() not in ("", "false", "0")
    search_id = engine.cache(who, document) if cache else None
    return _search_table(table, search_id)


@bp.route("/data/search/saved/<path:search_id>", methods=["GET"])
@bp.route("/REST/search/saved/<path:search_id>", methods=["GET"])
def saved_search(search_id: str):
    """``@{type}`` is the type's default search document (SavedSearchResource)."""
    if not search_id.startswith("@"):
        raise NotFound(f"No saved search {search_id}")
    return Response(_search_engine().default_search(search_id[1:]), mimetype="text/xml")


@bp.route("/data/search/<search_id>", methods=["GET"])
@bp.route("/REST/search/<search_id>", methods=["GET"])
def cached_search(search_id: str):
    """The rows of a cached search, re-run now (CachedSearchResource)."""
    from ..app import principal

    engine, who = _search_engine(), principal()
    document = engine.cached(who, search_id)
    if document is None:
        raise NotFound(f"No cached search {search_id}")
    return _search_table(engine.run(who, document), search_id)
