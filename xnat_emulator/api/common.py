"""Request parsing and response helpers shared by the data and file routes."""

from __future__ import annotations

import json

from flask import Response, request

from .. import items
from ..app import current
from ..archive import Incoming
from ..formats import Table, render_table


def query_params() -> dict[str, str]:
    """Query string as one value per key (repeated ``tags`` joined by commas)."""
    params = {k: v for k, v in request.args.items()}
    if len(request.args.getlist("tags")) > 1:
        params["tags"] = ",".join(request.args.getlist("tags"))
    return params


def is_true(params: dict[str, str], key: str) -> bool:
    """XNAT's isQueryVariableTrue: present and not ``false``/``0`` (xnat-rest.md §1)."""
    return key in params and params[key].lower() not in ("false", "0")


def requested_format(params: dict[str, str], default: str = "json") -> str:
    return (params.get("format") or default).lower()


def incoming() -> Incoming:
    """SecureResource.loadItem: XML part or body, form fields, then the query string."""
    params = query_params()
    document = None
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        for part in request.files.values():
            if (part.filename or part.name or "").lower().endswith(".xml"):
                document = current().docs.parse(part.read())
                break
        for key, value in request.form.items():
            params.setdefault(key, value)
    elif (mimetype in ("text/xml", "application/xml") or params.get("req_format") == "xml"
          or is_true(params, "inbody")):
        body = request.get_data()
        if body.strip():
            document = current().docs.parse(body)
    elif mimetype == "application/x-www-form-urlencoded" or params.get("req_format") == "form":
        for key, value in request.form.items():
            params.setdefault(key, value)
    return Incoming(document, params, params.get("xsiType") or params.get("ELEMENT_0"))


def text(body: str, status: int = 200) -> Response:
    return Response(body, status, mimetype="text/plain")


def table_response(table: Table, params: dict[str, str]) -> Response:
    body, mimetype = render_table(table, requested_format(params))
    return Response(body, 200, mimetype=mimetype)


def document_response(element, xsi_type: str, params: dict[str, str]) -> Response:
    """Single objects: XML (``format=xml``), JSON items, or XNAT's HTML default."""
    fmt = requested_format(params, "html")
    if fmt == "json":

        body = {"items": [current().docs.to_json(element, xsi_type)]}
        return Response(json.dumps(body), 200, mimetype="application/json")
    if fmt == "xml":
        return Response(items.serialize(element), 200, mimetype="text/xml")
    label = element.get("label") or element.get("ID") or ""
    return Response(f"<html><head><title>{label}</title></head><body><h2>{xsi_type} {label}"
                    "</h2></body></html>", 200, mimetype="text/html")
